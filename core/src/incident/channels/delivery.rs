//! Judging a destination's answer: delivered, worth retrying, or refused. Sending is I/O and
//! lives in the controller crate (`rollgate::delivery`).

use std::time::Duration;

use jiff::Timestamp;

/// What became of one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted; with the destination's id for it when it returned one.
    Delivered { external_id: Option<String> },
    /// Not accepted this time: throttled, timed out, unreachable, or the destination failed.
    /// `after` is the destination's own Retry-After, when it gave one.
    Retry {
        after: Option<Duration>,
        error: String,
    },
    /// Refused; sending the same request again will not help.
    Permanent { error: String },
}

/// The longest Retry-After honoured; a destination asking for more is asked again sooner.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);
/// The longest error text kept (one line in status and Events).
pub const ERROR_MAX: usize = 200;
/// How much of an answer is read: enough for any id or error message.
pub const BODY_MAX: usize = 64 * 1024;

/// Judges an answer. `retry_after` is the Retry-After header (seconds or an HTTP-date; a
/// date is measured against the clock: see [`classify_at`] for the pure form).
pub fn classify(status: u16, retry_after: Option<&str>, body: &[u8]) -> Outcome {
    classify_at(status, retry_after, body, Timestamp::now())
}

/// [`classify`] with the current time given. 2xx: delivered, with the id the destination
/// returned (PagerDuty `dedup_key`, Opsgenie/JSM `requestId`, else `id`). 408, 429 and 5xx:
/// retry. Any other status: permanent. Error texts are one short line, with anything that
/// looks like a key or a URL cut out, since destinations sometimes echo what they were sent.
pub fn classify_at(status: u16, retry_after: Option<&str>, body: &[u8], now: Timestamp) -> Outcome {
    match status {
        200..=299 => Outcome::Delivered {
            external_id: external_id(body),
        },
        408 | 429 | 500..=599 => Outcome::Retry {
            after: retry_after.and_then(|v| parse_retry_after(v, now)),
            error: error_text(status, body),
        },
        _ => Outcome::Permanent {
            error: error_text(status, body),
        },
    }
}

fn external_id(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    ["dedup_key", "requestId", "id"]
        .iter()
        .find_map(|k| value.get(k)?.as_str())
        .filter(|id| !id.is_empty())
        .map(|id| super::content::truncate(id, 255))
}

/// Seconds, or an HTTP-date (IMF-fixdate, e.g. `Wed, 21 Oct 2015 07:28:00 GMT`), capped at
/// [`RETRY_AFTER_MAX`]; a date in the past means now.
fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = jiff::fmt::rfc2822::parse(value).ok()?.timestamp();
            let ahead = at.duration_since(now);
            Duration::try_from(ahead).unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(RETRY_AFTER_MAX))
}

/// `HTTP 400: Event object is invalid`.
fn error_text(status: u16, body: &[u8]) -> String {
    let reason = match status {
        401 | 403 => Some("the destination refused the credentials".to_owned()),
        _ => body_message(body),
    };
    let text = match reason {
        Some(reason) => format!("HTTP {status}: {reason}"),
        None => format!("HTTP {status}"),
    };
    super::content::truncate(&scrub(&text), ERROR_MAX)
}

/// The message of a JSON error (`message`, `error`, `errors`, `result`), else the text.
fn body_message(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return Some(text.to_owned());
    };
    let pick = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Array(items) => Some(
            items
                .iter()
                .filter_map(|i| i.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        ),
        serde_json::Value::Object(o) => {
            o.get("message").and_then(|m| m.as_str()).map(str::to_owned)
        }
        _ => None,
    };
    let parts: Vec<String> = ["message", "error", "errors", "result"]
        .iter()
        .filter_map(|k| value.get(k).and_then(pick))
        .filter(|s| !s.is_empty())
        .collect();
    Some(if parts.is_empty() {
        text.to_owned()
    } else {
        parts.join(": ")
    })
}

/// One line; runs that look like keys, tokens or URLs become `<redacted>`.
pub fn scrub(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::with_capacity(line.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let secretish = run.contains("://")
            || (run.chars().count() >= 20 && run.chars().any(|c| c.is_ascii_digit()));
        out.push_str(if secretish { "<redacted>" } else { run });
        run.clear();
    };
    for c in line.chars() {
        if c.is_ascii_alphanumeric() || "-_+/=.:%?&~".contains(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// The wait before the next attempt, after `attempt` failed ones (`Delivery.attempts`; 0
/// counts as 1): 1 s, 2 s, 4 s … up to 5 min, each scaled into [½, 1] by `jitter` ∈ [0, 1)
/// ("equal jitter": never less than half, so retries still back off, and spread so many
/// incidents do not retry in step).
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let doublings = attempt.saturating_sub(1).min(16);
    let full = BACKOFF_BASE.saturating_mul(1 << doublings).min(BACKOFF_MAX);
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    full.mul_f64(1.0 - jitter / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::incident::channels::fixture::{self, SECRETS};

    fn assert_no_secret(text: &str) {
        for secret in SECRETS {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
    }

    #[test]
    fn classify_table() {
        let now = fixture::now();
        let retry = |after: Option<u64>, error: &str| Outcome::Retry {
            after: after.map(Duration::from_secs),
            error: error.to_owned(),
        };
        let permanent = |error: &str| Outcome::Permanent {
            error: error.to_owned(),
        };
        let delivered = |id: Option<&str>| Outcome::Delivered {
            external_id: id.map(str::to_owned),
        };
        let cases: Vec<(u16, Option<&str>, &str, Outcome)> = vec![
            (
                202,
                None,
                r#"{"status":"success","message":"Event processed","dedup_key":"rollgate/shop/checkout/91be02"}"#,
                delivered(Some("rollgate/shop/checkout/91be02")),
            ),
            (
                202,
                None,
                r#"{"result":"Request will be processed","took":0.302,"requestId":"43a29c5c-3dbf-4fa4-9c26-f4f71023e120"}"#,
                delivered(Some("43a29c5c-3dbf-4fa4-9c26-f4f71023e120")),
            ),
            (200, None, "ok", delivered(None)),
            (200, None, "", delivered(None)),
            (204, None, "", delivered(None)),
            (429, Some("30"), "", retry(Some(30), "HTTP 429")),
            (
                429,
                Some("Sun, 01 Mar 2026 10:31:00 GMT"),
                "",
                retry(Some(60), "HTTP 429"),
            ),
            (
                429,
                Some("Sun, 01 Mar 2026 10:00:00 GMT"),
                "",
                retry(Some(0), "HTTP 429"),
            ),
            (429, Some("soon"), "", retry(None, "HTTP 429")),
            (429, Some("999999"), "", retry(Some(3600), "HTTP 429")),
            (
                503,
                None,
                "upstream unavailable",
                retry(None, "HTTP 503: upstream unavailable"),
            ),
            (500, None, "", retry(None, "HTTP 500")),
            (408, None, "", retry(None, "HTTP 408")),
            (
                400,
                None,
                r#"{"status":"invalid event","message":"Event object is invalid","errors":["Length of 'routing_key' is incorrect (should be 32 characters)"]}"#,
                permanent(
                    "HTTP 400: Event object is invalid: Length of 'routing_key' is incorrect (should be 32 characters)",
                ),
            ),
            (
                400,
                None,
                "invalid_payload",
                permanent("HTTP 400: invalid_payload"),
            ),
            (404, None, "no_service", permanent("HTTP 404: no_service")),
            (
                410,
                None,
                "channel_is_archived",
                permanent("HTTP 410: channel_is_archived"),
            ),
            (
                401,
                None,
                r#"{"message":"Key R0UT1NGKEYsecretsecret0123456789 is invalid"}"#,
                permanent("HTTP 401: the destination refused the credentials"),
            ),
            (
                403,
                None,
                "",
                permanent("HTTP 403: the destination refused the credentials"),
            ),
            (
                422,
                None,
                r#"{"message":"Request body is not processable","errors":{"message":"should not be empty"}}"#,
                permanent("HTTP 422: Request body is not processable: should not be empty"),
            ),
            (302, None, "", permanent("HTTP 302")),
        ];
        for (status, retry_after, body, expected) in cases {
            assert_eq!(
                classify_at(status, retry_after, body.as_bytes(), now),
                expected,
                "{status} {body}"
            );
        }
    }

    #[test]
    fn errors_from_answers_never_echo_keys_or_urls() {
        let echoes = [
            format!("invalid routing key {}", fixture::ROUTING_KEY),
            format!(r#"{{"message":"bad key {}"}}"#, fixture::API_KEY),
            format!("webhook {} is disabled", fixture::SLACK_URL),
            format!("{}\n{}", "line one", fixture::TEAMS_URL),
        ];
        for body in &echoes {
            for status in [400, 404, 500] {
                let text = match classify_at(status, None, body.as_bytes(), fixture::now()) {
                    Outcome::Retry { error, .. } | Outcome::Permanent { error } => error,
                    Outcome::Delivered { .. } => unreachable!(),
                };
                assert_no_secret(&text);
                assert!(!text.contains('\n'));
                assert!(text.chars().count() <= 200);
            }
        }
        assert_eq!(scrub("channel_not_found"), "channel_not_found");
        assert_eq!(
            scrub("see https://x.example/a?b=1 now"),
            "see <redacted> now"
        );
        let long = "e".repeat(5000);
        match classify_at(500, None, long.as_bytes(), fixture::now()) {
            Outcome::Retry { error, .. } => assert!(error.chars().count() <= 200),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = fixture::now();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 01 Mar 2026 10:35:00 GMT", now),
            Some(Duration::from_secs(300))
        );
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(parse_retry_after("", now), None);
    }

    #[test]
    fn backoff_doubles_from_one_second_to_five_minutes_with_jitter_in_the_upper_half() {
        assert_eq!(backoff(1, 0.0), Duration::from_secs(1));
        assert_eq!(backoff(0, 0.0), Duration::from_secs(1));
        assert_eq!(backoff(2, 0.0), Duration::from_secs(2));
        assert_eq!(backoff(3, 0.0), Duration::from_secs(4));
        assert_eq!(backoff(9, 0.0), Duration::from_secs(256));
        assert_eq!(backoff(10, 0.0), Duration::from_secs(300));
        assert_eq!(backoff(u32::MAX, 0.0), Duration::from_secs(300));
        assert_eq!(backoff(3, 0.5), Duration::from_secs(3));
        for attempt in 0..100 {
            let full = backoff(attempt, 0.0);
            let mut previous = None;
            for step in 0..100 {
                let jitter = f64::from(step) / 100.0;
                let wait = backoff(attempt, jitter);
                assert!(
                    wait <= full && wait > full / 2,
                    "{attempt} {jitter}: {wait:?}"
                );
                assert!(wait >= Duration::from_millis(500) && wait <= Duration::from_secs(300));
                assert!(
                    previous.is_none_or(|p| wait <= p),
                    "more jitter, never longer"
                );
                previous = Some(wait);
                assert!(
                    backoff(attempt + 1, jitter) >= wait,
                    "never shorter than the last"
                );
            }
        }
        for odd in [f64::NAN, f64::INFINITY, -1.0, 7.0] {
            let wait = backoff(4, odd);
            assert!(
                wait >= Duration::from_secs(4) && wait <= Duration::from_secs(8),
                "{odd}"
            );
        }
    }
}

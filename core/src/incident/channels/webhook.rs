//! A generic webhook per the Standard Webhooks spec: a JSON event `{type, timestamp, data}`
//! with `webhook-id` (stable per incident, channel and message, so receivers dedup retries),
//! `webhook-timestamp` and, with a `signingSecret`, `webhook-signature`
//! `v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>` where the key is the base64
//! after `whsec_`. Without a secret the event goes unsigned. Every message kind is sent.
//!
//! The body (its `timestamp` is when the message was queued) is the same on every attempt;
//! `webhook-timestamp` is the attempt's time, because receivers reject stale timestamps as
//! replays, so the signature is computed afresh per attempt over the unchanged body.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use serde_json::{Value, json};
use sha2::Sha256;

use super::content;
use super::{ChannelError, Destination, Message, Outgoing, endpoint};
use crate::api::MessageKind;

const SECRET_PREFIX: &str = "whsec_";

pub(super) fn build(
    dest: &Destination,
    m: &Message<'_>,
    id: &str,
    sent_at: Timestamp,
) -> Result<Outgoing, ChannelError> {
    let url = endpoint(dest, None)?;
    let key = match &dest.credentials.signing_secret {
        Some(secret) => {
            Some(
                signing_key(secret).ok_or_else(|| ChannelError::InvalidSigningSecret {
                    channel: dest.name.clone(),
                })?,
            )
        }
        None => None,
    };
    let event = json!({
        "type": event_type(m.kind),
        "timestamp": m.facts.queued_at.to_string(),
        "data": data(m),
    });
    let timestamp = sent_at.as_second().to_string();
    let mut out = Outgoing::post_json(url.into(), &event)
        .with_header("webhook-id", id.to_owned())
        .with_header("webhook-timestamp", timestamp.clone());
    if let Some(key) = key {
        let signature = sign(&key, id, &timestamp, &out.body);
        out = out.with_header("webhook-signature", format!("v1,{signature}"));
    }
    Ok(out)
}

fn event_type(message: MessageKind) -> &'static str {
    match message {
        MessageKind::Trigger => "incident.triggered",
        MessageKind::Escalate => "incident.escalated",
        MessageKind::Acknowledge => "incident.acknowledged",
        MessageKind::Resolve => "incident.resolved",
    }
}

/// The incident's spec as the API has it (who acknowledged and resolved as of the message),
/// its name and namespace, and a summary of its status when the message was queued (the
/// timeline and outbox stay in the cluster).
fn data(m: &Message<'_>) -> Value {
    let facts = m.facts;
    let mut data = serde_json::to_value(m.spec).expect("IncidentSpec always serializes");
    if let Some(spec) = data.as_object_mut() {
        for (key, by) in [
            ("acknowledgedBy", &facts.acknowledged_by),
            ("resolvedBy", &facts.resolved_by),
        ] {
            match by {
                Some(who) => spec.insert(key.to_owned(), json!(who)),
                None => spec.remove(key),
            };
        }
    }
    data["name"] = json!(m.name);
    data["namespace"] = json!(m.namespace);
    data["status"] = json!({
        "state": facts.state,
        "severity": content::current_severity(m),
        "stableHealthy": facts.stable_healthy,
        "rollbackStartedAt": facts.rollback_started_at,
        "rollbackCompletedAt": facts.rollback_completed_at,
        "occurrences": facts.occurrences.max(1),
    });
    data
}

/// The HMAC key of a `whsec_<base64>` secret (the prefix is optional).
fn signing_key(secret: &str) -> Option<Vec<u8>> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
    STANDARD.decode(encoded).ok().filter(|k| !k.is_empty())
}

fn mac(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

fn sign(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    STANDARD.encode(mac(key, id, timestamp, body).finalize().into_bytes())
}

/// Whether `signature_header` (space-separated `v1,<base64>` entries, as sent) holds a valid
/// signature of this delivery under `secret` (`whsec_<base64>`). Compares in constant time.
/// Checking that `timestamp` is recent (the spec suggests 5 minutes) is the caller's part.
pub fn verify_standard_webhook(
    secret: &str,
    id: &str,
    timestamp: &str,
    body: &[u8],
    signature_header: &str,
) -> bool {
    let Some(key) = signing_key(secret) else {
        return false;
    };
    signature_header
        .split_whitespace()
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|sig| STANDARD.decode(sig).ok())
        .any(|sig| mac(&key, id, timestamp, body).verify_slice(&sig).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ChannelType;
    use crate::incident::channels::fixture::{self, SIGNING_SECRET, destination};

    fn sent(message: MessageKind) -> Outgoing {
        fixture::render(
            &destination(ChannelType::Webhook),
            &fixture::incident(),
            message,
            "msg_91be02-0",
        )
        .unwrap()
        .unwrap()
    }

    #[test]
    fn signature_matches_the_spec_example() {
        // The worked example of the Standard Webhooks spec.
        let body = br#"{"test": 2432232314}"#;
        let key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body),
            "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    #[test]
    fn event_has_the_standard_headers_and_a_verifiable_signature() {
        let out = sent(MessageKind::Trigger);
        assert_eq!(out.url, "https://hooks.example/rollgate");
        assert_eq!(out.header("content-type"), Some("application/json"));
        assert_eq!(out.header("webhook-id"), Some("msg_91be02-0"));
        assert_eq!(out.header("webhook-timestamp"), Some("1772361000"));
        let signature = out.header("webhook-signature").unwrap();
        assert!(signature.starts_with("v1,"));
        assert!(verify_standard_webhook(
            SIGNING_SECRET,
            "msg_91be02-0",
            "1772361000",
            &out.body,
            signature
        ));
    }

    #[test]
    fn signature_fails_on_any_change() {
        let out = sent(MessageKind::Trigger);
        let signature = out.header("webhook-signature").unwrap();
        let mut body = out.body.clone();
        body[10] ^= 1;
        assert!(!verify_standard_webhook(
            SIGNING_SECRET,
            "msg_91be02-0",
            "1772361000",
            &body,
            signature
        ));
        assert!(!verify_standard_webhook(
            SIGNING_SECRET,
            "msg_other",
            "1772361000",
            &out.body,
            signature
        ));
        assert!(!verify_standard_webhook(
            SIGNING_SECRET,
            "msg_91be02-0",
            "1772361001",
            &out.body,
            signature
        ));
        assert!(!verify_standard_webhook(
            "whsec_c2Vjb25kLXNlY3JldC1rZXk=",
            "msg_91be02-0",
            "1772361000",
            &out.body,
            signature
        ));
        assert!(!verify_standard_webhook(
            SIGNING_SECRET,
            "msg_91be02-0",
            "1772361000",
            &out.body,
            "v1,bm9wZQ=="
        ));
    }

    #[test]
    fn any_of_several_signatures_may_match() {
        let out = sent(MessageKind::Trigger);
        let signature = out.header("webhook-signature").unwrap();
        let header = format!("v1,bm9wZQ== v2,whatever {signature}");
        assert!(verify_standard_webhook(
            SIGNING_SECRET,
            "msg_91be02-0",
            "1772361000",
            &out.body,
            &header
        ));
    }

    #[test]
    fn event_types_and_payload() {
        for (message, type_) in [
            (MessageKind::Trigger, "incident.triggered"),
            (MessageKind::Escalate, "incident.escalated"),
            (MessageKind::Acknowledge, "incident.acknowledged"),
            (MessageKind::Resolve, "incident.resolved"),
        ] {
            let event = sent(message).json();
            assert_eq!(event["type"], type_);
            assert_eq!(event["timestamp"], "2026-03-01T10:30:00Z");
            let data = &event["data"];
            assert_eq!(data["dedupKey"], "rollgate/shop/checkout/91be02");
            assert_eq!(data["name"], "checkout-91be02");
            assert_eq!(data["namespace"], "shop");
            assert_eq!(data["failedGates"][1]["name"], "latency-vs-stable");
            assert_eq!(data["status"]["state"], "Mitigated");
            assert_eq!(data["status"]["severity"], "sev2");
            assert!(data["status"].get("timeline").is_none());
        }
    }

    #[test]
    fn without_a_secret_the_event_goes_unsigned() {
        let mut dest = destination(ChannelType::Webhook);
        dest.credentials.signing_secret = None;
        let out = fixture::render(&dest, &fixture::incident(), MessageKind::Trigger, "id")
            .unwrap()
            .unwrap();
        assert!(out.header("webhook-signature").is_none());
        assert_eq!(out.header("webhook-id"), Some("id"));
    }

    #[test]
    fn a_malformed_secret_is_an_error_that_does_not_quote_it() {
        let mut dest = destination(ChannelType::Webhook);
        dest.credentials.signing_secret = Some("whsec_not base64!!".into());
        let err =
            fixture::render(&dest, &fixture::incident(), MessageKind::Trigger, "id").unwrap_err();
        assert_eq!(err.category(), "invalid_signing_secret");
        assert!(!err.to_string().contains("not base64!!"));
    }
}

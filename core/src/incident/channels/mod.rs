//! Incident channels: what each destination is told about an Incident, as plain request values
//! ([`build`], [`change_event`]), kept apart from sending them ([`send`]) and from judging the
//! answer ([`classify`], [`backoff`]). Building is pure: no clock (`now` is passed in), no
//! network, no randomness, so every payload is a table-testable value.
//!
//! Destinations and the messages they act on (all of them answer every [`MessageKind`], so
//! [`build`] returns `Ok(None)` for none of today's kinds; `None` stays in the contract for a
//! destination that has nothing to say, and callers mark such a delivery Skipped):
//!
//! | type | Trigger / Escalate | Acknowledge | Resolve |
//! |---|---|---|---|
//! | pagerduty | `trigger` (Escalate: raised severity) | `acknowledge` | `resolve` |
//! | opsgenie, jsm | create alert, alias = dedup key | `…/{alias}/acknowledge` | `…/{alias}/close` |
//! | slack, teams | full message | short follow-up | short follow-up |
//! | alertmanager | firing alert | still firing, annotated | `endsAt = now` |
//! | webhook | `incident.triggered` / `.escalated` | `incident.acknowledged` | `incident.resolved` |
//!
//! A message is rendered from the incident's spec (written once) and the [`MessageFacts`]
//! recorded when it was queued, never from the incident's status as it is at the attempt: every
//! attempt of one delivery sends the same body, byte for byte, time fields included. Only a
//! webhook's `webhook-timestamp` header (and the signature over it) is the attempt's time, as
//! Standard Webhooks requires; its `webhook-id` is the delivery's, the same on every attempt.
//!
//! Alertmanager keeps no state: a firing alert lives until its `endsAt` unless it is posted
//! again. Every firing message carries `endsAt = queuedAt + ALERTMANAGER_HOLD` (5 min), and the
//! caller re-posts the alert as it stands every [`ALERTMANAGER_RESEND`] (1 min): a refresh is a
//! new message (facts of the refresh time, so `endsAt` moves on and the severity label is the
//! current one) with `startsAt` fixed at detection, so four refreshes can be lost before
//! Alertmanager resolves the alert on its own.
//!
//! Credentials never leave [`Credentials`] except into the request itself: errors name the
//! missing key, never a value, and every `Debug` here redacts.

mod alertmanager;
mod content;
mod delivery;
/// Test data shared with the controller crate's delivery tests (feature `fixture`).
#[cfg(any(test, feature = "fixture"))]
pub mod fixture;
mod jsm;
mod opsgenie;
mod pagerduty;
mod slack;
mod teams;
mod webhook;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use crate::api::{ChannelType, Incident, IncidentSpec, MessageFacts, MessageKind};

pub use content::truncate;
pub use delivery::{BODY_MAX, ERROR_MAX, Outcome, backoff, classify, classify_at, scrub};
pub use webhook::verify_standard_webhook;

/// How often the caller re-posts a firing alert to Alertmanager.
pub const ALERTMANAGER_RESEND: Duration = Duration::from_secs(60);
/// How far ahead of `now` a firing alert's `endsAt` is set: Alertmanager resolves the alert by
/// itself if rollgate stops re-posting it (controller gone) for this long.
pub const ALERTMANAGER_HOLD: Duration = Duration::from_secs(300);

/// One IncidentChannel with its Secret, as plain values.
#[derive(Clone, PartialEq)]
pub struct Destination {
    pub name: String,
    pub type_: ChannelType,
    pub url: Option<String>,
    pub credentials: Credentials,
    pub severity_map: BTreeMap<String, String>,
}

impl fmt::Debug for Destination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Destination")
            .field("name", &self.name)
            .field("type_", &self.type_)
            .field("url", &self.url.as_deref().map(redact_url))
            .field("credentials", &self.credentials)
            .field("severity_map", &self.severity_map)
            .finish()
    }
}

/// The Secret's values. Which ones a type needs: see `IncidentChannelSpec::secret_ref`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `routingKey`: PagerDuty integration key.
    pub routing_key: Option<String>,
    /// `apiKey`: Opsgenie / JSM API integration key.
    pub api_key: Option<String>,
    /// `url`: Slack or Teams webhook URL (it is the credential).
    pub webhook_url: Option<String>,
    /// `signingSecret`: Standard Webhooks secret, `whsec_<base64>`.
    pub signing_secret: Option<String>,
    /// `token`: bearer token for Alertmanager.
    pub token: Option<String>,
}

impl Credentials {
    /// Reads the known keys of a Secret's `data`. Values are trimmed (a Secret made with
    /// `echo` ends in a newline); empty or non-UTF-8 values count as absent.
    pub fn from_secret_data(data: &BTreeMap<String, Vec<u8>>) -> Self {
        let get = |key: &str| {
            data.get(key)
                .and_then(|v| std::str::from_utf8(v).ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        Self {
            routing_key: get("routingKey"),
            api_key: get("apiKey"),
            webhook_url: get("url"),
            signing_secret: get("signingSecret"),
            token: get("token"),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |v: &Option<String>| v.as_ref().map(|_| "<redacted>");
        f.debug_struct("Credentials")
            .field("routing_key", &shown(&self.routing_key))
            .field("api_key", &shown(&self.api_key))
            .field("webhook_url", &shown(&self.webhook_url))
            .field("signing_secret", &shown(&self.signing_secret))
            .field("token", &shown(&self.token))
            .finish()
    }
}

/// One HTTP request, ready to send.
#[derive(Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Outgoing {
    fn post_json(url: String, body: &serde_json::Value) -> Self {
        Self {
            method: "POST",
            url,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: serde_json::to_vec(body).expect("a JSON value always serializes"),
        }
    }

    fn with_header(mut self, name: &str, value: String) -> Self {
        self.headers.push((name.to_owned(), value));
        self
    }

    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }
}

impl fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| {
                let secret = is_secret_header(n);
                (n.as_str(), if secret { "<redacted>" } else { v.as_str() })
            })
            .collect();
        // Bodies may carry a routing key; Debug shows their size only.
        f.debug_struct("Outgoing")
            .field("method", &self.method)
            .field("url", &redact_url(&self.url))
            .field("headers", &headers)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

fn is_secret_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "authorization",
        "token",
        "key",
        "secret",
        "signature",
        "cookie",
    ]
    .iter()
    .any(|s| n.contains(s))
}

/// Paths of the public APIs rollgate posts to; any other path (a Slack or Teams webhook, a
/// webhook with a token in it) is a secret and shown as `/<redacted>`.
const PUBLIC_PATHS: &[&str] = &[
    "/v2/enqueue",
    "/v2/change/enqueue",
    "/v2/alerts",
    "/jsm/ops/integration/v2/alerts",
    "/api/v2/alerts",
];

/// A URL fit for logs: no user info, and no path or query unless the path is a public API's.
pub(crate) fn redact_url(url: &str) -> String {
    let Ok(parsed) = url::Url::parse(url) else {
        return "<unparseable URL>".to_owned();
    };
    let mut shown = format!("{}://{}", parsed.scheme(), parsed.host_str().unwrap_or(""));
    if let Some(port) = parsed.port() {
        shown.push_str(&format!(":{port}"));
    }
    let path = parsed.path();
    let public = PUBLIC_PATHS
        .iter()
        .any(|p| path.starts_with(p) || path.ends_with(p));
    if public {
        shown.push_str(path);
        match parsed.query() {
            Some(query @ "identifierType=alias") => shown.push_str(&format!("?{query}")),
            Some(_) => shown.push_str("?<redacted>"),
            None => {}
        }
    } else if path != "/" || parsed.query().is_some() {
        shown.push_str("/<redacted>");
    }
    shown
}

/// Why a request could not be built. Messages name keys and channels, never values.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    #[error("channel {channel}: the Secret has no `{key}`")]
    MissingCredential { channel: String, key: &'static str },
    #[error("channel {channel}: spec.url is required for this type")]
    MissingUrl { channel: String },
    #[error("channel {channel}: the endpoint URL is not usable ({reason})")]
    InvalidUrl { channel: String, reason: String },
    #[error("channel {channel}: severityMap gives {value:?}, expected one of {expected}")]
    InvalidSeverity {
        channel: String,
        value: String,
        expected: String,
    },
    #[error("channel {channel}: `signingSecret` is not `whsec_` followed by base64")]
    InvalidSigningSecret { channel: String },
}

impl ChannelError {
    pub fn category(&self) -> &'static str {
        match self {
            Self::MissingCredential { .. } => "missing_credential",
            Self::MissingUrl { .. } => "missing_url",
            Self::InvalidUrl { .. } => "invalid_url",
            Self::InvalidSeverity { .. } => "invalid_severity",
            Self::InvalidSigningSecret { .. } => "invalid_signing_secret",
        }
    }
}

/// One message about an incident, as destinations are told it: the incident's record (its
/// spec, name and namespace) and the facts fixed when the message was queued. The incident's
/// status is out of reach on purpose: it moves on between attempts, the facts do not.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub spec: &'a IncidentSpec,
    pub kind: MessageKind,
    pub facts: &'a MessageFacts,
}

impl<'a> Message<'a> {
    pub fn new(incident: &'a Incident, kind: MessageKind, facts: &'a MessageFacts) -> Self {
        Self {
            name: incident.metadata.name.as_deref().unwrap_or(""),
            namespace: incident.metadata.namespace.as_deref().unwrap_or(""),
            spec: &incident.spec,
            kind,
            facts,
        }
    }
}

/// The request that tells `dest` about `message`, or `None` when the destination has nothing
/// to do for it (no destination today: see the module table). `id` is stable for this
/// (incident, channel, message): the Standard Webhooks `webhook-id` that receivers dedup on.
/// Other destinations dedup on the incident's dedup key (PagerDuty `dedup_key`, Opsgenie/JSM
/// `alias`, Alertmanager labels) or not at all (Slack, Teams: a repeated send posts twice).
/// `sent_at` is the attempt's time; it goes only into a webhook's `webhook-timestamp` header
/// (and its signature), never into a body.
pub fn build(
    dest: &Destination,
    message: &Message<'_>,
    id: &str,
    sent_at: jiff::Timestamp,
) -> Result<Option<Outgoing>, ChannelError> {
    let out = match dest.type_ {
        ChannelType::Pagerduty => pagerduty::build(dest, message)?,
        ChannelType::Opsgenie => opsgenie::build(dest, message)?,
        ChannelType::Jsm => jsm::build(dest, message)?,
        ChannelType::Slack => slack::build(dest, message)?,
        ChannelType::Teams => teams::build(dest, message)?,
        ChannelType::Alertmanager => alertmanager::build(dest, message)?,
        ChannelType::Webhook => webhook::build(dest, message, id, sent_at)?,
    };
    Ok(Some(out))
}

/// The request for delivery `index` of the incident's outbox, as every attempt of it is sent:
/// rendered from the facts recorded when it was queued, under the delivery's own id. `None`
/// when there is no such delivery or the destination has nothing to say.
pub fn build_delivery(
    dest: &Destination,
    incident: &Incident,
    index: usize,
    sent_at: jiff::Timestamp,
) -> Result<Option<Outgoing>, ChannelError> {
    let Some(status) = incident.status.as_ref() else {
        return Ok(None);
    };
    let Some(d) = status.deliveries.get(index) else {
        return Ok(None);
    };
    // The lifecycle records facts for every delivery it queues; only one queued by an older
    // version could lack them, and it is rendered as the incident stands.
    let facts = d
        .facts
        .clone()
        .unwrap_or_else(|| crate::incident::lifecycle::facts(&incident.spec, status, sent_at));
    let message = Message::new(incident, d.message, &facts);
    build(dest, &message, &delivery_id(incident, index), sent_at)
}

/// The Standard Webhooks `webhook-id` of delivery `index`: the same on every attempt (the
/// outbox only appends), distinct across incidents, channels and messages.
pub fn delivery_id(incident: &Incident, index: usize) -> String {
    use kube::ResourceExt;
    format!("{}-{index}", incident.uid().unwrap_or_default())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    RolloutStarted,
    RolledBack,
}

/// A deploy-side change worth correlating with alerts on the same service.
#[derive(Clone, Debug, PartialEq)]
pub struct Change<'a> {
    pub kind: ChangeKind,
    pub namespace: &'a str,
    pub rollout: &'a str,
    pub revision: &'a str,
    pub summary: &'a str,
    pub at: jiff::Timestamp,
}

/// A PagerDuty Change Event for `change`; `None` for every other type, and for a PagerDuty
/// channel without a routing key (its incidents report that as an error already).
pub fn change_event(dest: &Destination, change: &Change<'_>) -> Option<Outgoing> {
    match dest.type_ {
        ChannelType::Pagerduty => pagerduty::change_event(dest, change),
        _ => None,
    }
}

/// The destination's URL: `dest.url`, else `default`, else [`ChannelError::MissingUrl`];
/// checked to be http(s).
fn endpoint(dest: &Destination, default: Option<&str>) -> Result<url::Url, ChannelError> {
    let url = dest
        .url
        .as_deref()
        .or(default)
        .ok_or_else(|| ChannelError::MissingUrl {
            channel: dest.name.clone(),
        })?;
    parse_url(dest, url)
}

/// Parses a URL without ever quoting it in the error (a webhook URL is a credential).
fn parse_url(dest: &Destination, url: &str) -> Result<url::Url, ChannelError> {
    let invalid = |reason: String| ChannelError::InvalidUrl {
        channel: dest.name.clone(),
        reason,
    };
    let parsed = url::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
    match parsed.scheme() {
        "http" | "https" if parsed.host_str().is_some() => Ok(parsed),
        "http" | "https" => Err(invalid("no host".into())),
        other => Err(invalid(format!("scheme {other} is not http or https"))),
    }
}

fn credential<'a>(
    dest: &Destination,
    value: &'a Option<String>,
    key: &'static str,
) -> Result<&'a str, ChannelError> {
    value
        .as_deref()
        .ok_or_else(|| ChannelError::MissingCredential {
            channel: dest.name.clone(),
            key,
        })
}

#[cfg(test)]
mod tests;

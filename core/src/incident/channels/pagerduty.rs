//! PagerDuty Events API v2 (alert events and change events). The routing key travels in the
//! body; PagerDuty dedups on `dedup_key`, so a repeated send never opens a second alert.
//! Every message kind maps to an event action: nothing is skipped.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::content::{self, SOURCE};
use super::{
    Change, ChangeKind, ChannelError, Destination, Message, Outgoing, credential, endpoint,
};
use crate::api::{MessageKind, Severity};

pub(super) const EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";
const CHANGE_PATH: &str = "/v2/change/enqueue";
const SUMMARY_MAX: usize = 1024;
const DEDUP_KEY_MAX: usize = 255;
pub(super) const SEVERITIES: &[&str] = &["critical", "error", "warning", "info"];

fn default_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Sev1 => "critical",
        Severity::Sev2 => "error",
        Severity::Sev3 => "warning",
        Severity::Sev4 => "info",
    }
}

pub(super) fn build(dest: &Destination, m: &Message<'_>) -> Result<Outgoing, ChannelError> {
    let url = endpoint(dest, Some(EVENTS_URL))?;
    let routing_key = credential(dest, &dest.credentials.routing_key, "routingKey")?;
    let dedup_key = dedup_key(&m.spec.dedup_key);
    let body = match m.kind {
        MessageKind::Trigger | MessageKind::Escalate => {
            let severity = content::mapped_severity(
                dest,
                content::severity_for(m),
                default_severity,
                Some(SEVERITIES),
            )?;
            trigger(m, routing_key, &dedup_key, &severity)
        }
        MessageKind::Acknowledge => action(routing_key, &dedup_key, "acknowledge"),
        MessageKind::Resolve => action(routing_key, &dedup_key, "resolve"),
    };
    Ok(Outgoing::post_json(url.into(), &body))
}

fn trigger(m: &Message<'_>, routing_key: &str, dedup_key: &str, severity: &str) -> Value {
    let spec = m.spec;
    let mut summary = content::headline(m);
    if m.kind == MessageKind::Escalate {
        summary = format!("{summary}. {}", content::ESCALATION_NOTE);
    }
    let mut details = content::details(m);
    details["summary"] = json!(spec.summary);
    let links: Vec<Value> = content::links(m)
        .into_iter()
        .map(|(text, href)| json!({"href": href, "text": text}))
        .collect();
    json!({
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "client": SOURCE,
        "payload": {
            "summary": content::truncate(&summary, SUMMARY_MAX),
            "source": content::target(m),
            "severity": severity,
            "timestamp": spec.detected_at.to_string(),
            "component": content::rollout(m),
            "group": content::namespace(m),
            "class": spec.reason,
            "custom_details": details,
        },
        "links": links,
    })
}

fn action(routing_key: &str, dedup_key: &str, action: &str) -> Value {
    json!({"routing_key": routing_key, "event_action": action, "dedup_key": dedup_key})
}

/// The incident's dedup key within PagerDuty's 255 characters: long keys keep a readable
/// prefix and end in a hash of the whole, so they stay unique and stable.
fn dedup_key(key: &str) -> String {
    if key.chars().count() <= DEDUP_KEY_MAX {
        return key.to_owned();
    }
    let hash = hex::encode(Sha256::digest(key.as_bytes()));
    let prefix: String = key.chars().take(DEDUP_KEY_MAX - 33).collect();
    format!("{prefix}#{}", &hash[..32])
}

pub(super) fn change_event(dest: &Destination, change: &Change<'_>) -> Option<Outgoing> {
    let routing_key = dest.credentials.routing_key.as_deref()?;
    let mut url = endpoint(dest, Some(EVENTS_URL)).ok()?;
    url.set_path(CHANGE_PATH);
    url.set_query(None);
    let what = match change.kind {
        ChangeKind::RolloutStarted => "rollout_started",
        ChangeKind::RolledBack => "rolled_back",
    };
    let body = json!({
        "routing_key": routing_key,
        "payload": {
            "summary": content::truncate(change.summary, SUMMARY_MAX),
            "timestamp": change.at.to_string(),
            "source": SOURCE,
            "custom_details": {
                "change": what,
                "namespace": change.namespace,
                "rollout": change.rollout,
                "revision": change.revision,
            },
        },
    });
    Some(Outgoing::post_json(url.into(), &body))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ChannelType;
    use crate::api::Incident;
    use crate::api::Severity;
    use crate::incident::channels::fixture::{self, destination};
    use crate::incident::channels::{ChangeKind, change_event};

    fn sent(incident: &Incident, message: MessageKind) -> Value {
        let dest = destination(ChannelType::Pagerduty);
        let out = fixture::render(&dest, incident, message, "id-1")
            .unwrap()
            .unwrap();
        assert_eq!(out.method, "POST");
        assert_eq!(out.url, EVENTS_URL);
        assert_eq!(out.header("content-type"), Some("application/json"));
        out.json()
    }

    #[test]
    fn trigger_carries_every_required_field_of_an_alert_event() {
        let body = sent(&fixture::incident(), MessageKind::Trigger);
        assert_eq!(body["routing_key"], fixture::ROUTING_KEY);
        assert_eq!(body["event_action"], "trigger");
        assert_eq!(body["dedup_key"], "rollgate/shop/checkout/91be02");
        let payload = &body["payload"];
        for field in ["summary", "source", "severity"] {
            assert!(
                payload[field].as_str().is_some_and(|s| !s.is_empty()),
                "{field}"
            );
        }
        assert_eq!(payload["severity"], "error", "sev2 is error");
        assert_eq!(payload["source"], "shop/checkout");
        assert_eq!(payload["component"], "checkout");
        assert_eq!(payload["group"], "shop");
        assert_eq!(payload["class"], "GateFailed");
        assert_eq!(payload["timestamp"], "2026-03-01T10:04:00Z");
        let details = &payload["custom_details"];
        assert_eq!(details["gates"][0]["name"], "error-ratio");
        assert_eq!(details["revisions"]["rolledBack"], "91be02");
        assert_eq!(details["exposure"]["weight"], 50);
        assert_eq!(details["stage"]["index"], 1);
        assert_eq!(details["owner"], "team-payments");
        assert_eq!(body["client"], "rollgate");
        let links = body["links"].as_array().unwrap();
        assert_eq!(links[0]["href"], "https://runbooks.example/checkout");
        assert!(
            links
                .iter()
                .all(|l| l["href"].is_string() && l["text"].is_string())
        );
        assert_eq!(links.len(), 3, "runbook and one graph per gate");
    }

    #[test]
    fn summary_is_cut_to_1024_characters() {
        let mut incident = fixture::incident();
        incident.spec.title = "é".repeat(3000);
        let body = sent(&incident, MessageKind::Trigger);
        let summary = body["payload"]["summary"].as_str().unwrap();
        assert_eq!(summary.chars().count(), 1024);
        assert!(summary.ends_with('…'));
    }

    #[test]
    fn severities_map_to_the_four_pagerduty_levels() {
        for (sev, expected) in [
            (Severity::Sev1, "critical"),
            (Severity::Sev2, "error"),
            (Severity::Sev3, "warning"),
            (Severity::Sev4, "info"),
        ] {
            let mut incident = fixture::incident();
            incident.spec.severity = sev;
            let body = sent(&incident, MessageKind::Trigger);
            assert_eq!(body["payload"]["severity"], expected);
        }
    }

    #[test]
    fn escalation_triggers_again_with_the_raised_severity() {
        let mut incident = fixture::incident();
        incident.status.as_mut().unwrap().severity = Some(Severity::Sev1);
        let trigger = sent(&incident, MessageKind::Trigger);
        let escalate = sent(&incident, MessageKind::Escalate);
        assert_eq!(trigger["payload"]["severity"], "error");
        assert_eq!(escalate["event_action"], "trigger");
        assert_eq!(escalate["payload"]["severity"], "critical");
        assert_eq!(escalate["dedup_key"], trigger["dedup_key"]);
        assert!(
            escalate["payload"]["summary"]
                .as_str()
                .unwrap()
                .starts_with("Escalated")
        );
    }

    #[test]
    fn severity_map_overrides_and_is_checked() {
        let mut dest = destination(ChannelType::Pagerduty);
        dest.severity_map.insert("sev2".into(), "critical".into());
        let out = fixture::render(&dest, &fixture::incident(), MessageKind::Trigger, "i")
            .unwrap()
            .unwrap();
        assert_eq!(out.json()["payload"]["severity"], "critical");

        dest.severity_map.insert("SEV2".into(), "page-me".into());
        dest.severity_map.remove("sev2");
        let err =
            fixture::render(&dest, &fixture::incident(), MessageKind::Trigger, "i").unwrap_err();
        assert_eq!(err.category(), "invalid_severity");
        assert!(err.to_string().contains("critical, error, warning, info"));
    }

    #[test]
    fn acknowledge_and_resolve_name_the_same_alert() {
        for (message, action) in [
            (MessageKind::Acknowledge, "acknowledge"),
            (MessageKind::Resolve, "resolve"),
        ] {
            let body = sent(&fixture::incident(), message);
            assert_eq!(
                body,
                json!({
                    "routing_key": fixture::ROUTING_KEY,
                    "event_action": action,
                    "dedup_key": "rollgate/shop/checkout/91be02",
                })
            );
        }
    }

    #[test]
    fn long_dedup_keys_stay_within_255_characters_and_distinct() {
        let a = dedup_key(&format!("rollgate/shop/{}/a", "x".repeat(300)));
        let b = dedup_key(&format!("rollgate/shop/{}/b", "x".repeat(300)));
        assert!(a.chars().count() <= 255);
        assert_ne!(a, b);
        assert_eq!(
            a,
            dedup_key(&format!("rollgate/shop/{}/a", "x".repeat(300)))
        );
    }

    #[test]
    fn url_overrides_the_events_endpoint() {
        let mut dest = destination(ChannelType::Pagerduty);
        dest.url = Some("http://127.0.0.1:9999/v2/enqueue".into());
        let out = fixture::render(&dest, &fixture::incident(), MessageKind::Trigger, "i")
            .unwrap()
            .unwrap();
        assert_eq!(out.url, "http://127.0.0.1:9999/v2/enqueue");
    }

    #[test]
    fn missing_routing_key_is_named_not_shown() {
        let mut dest = destination(ChannelType::Pagerduty);
        dest.credentials.routing_key = None;
        let err =
            fixture::render(&dest, &fixture::incident(), MessageKind::Trigger, "i").unwrap_err();
        assert_eq!(err.category(), "missing_credential");
        assert!(err.to_string().contains("routingKey"));
    }

    fn change(kind: ChangeKind) -> Change<'static> {
        Change {
            kind,
            namespace: "shop",
            rollout: "checkout",
            revision: "91be02",
            summary: "Rollout shop/checkout started revision 91be02",
            at: fixture::now(),
        }
    }

    #[test]
    fn change_events_go_to_the_change_endpoint_with_their_fields() {
        let dest = destination(ChannelType::Pagerduty);
        let out = change_event(&dest, &change(ChangeKind::RolloutStarted)).unwrap();
        assert_eq!(out.url, "https://events.pagerduty.com/v2/change/enqueue");
        let body = out.json();
        assert_eq!(body["routing_key"], fixture::ROUTING_KEY);
        assert!(body.get("event_action").is_none());
        assert_eq!(
            body["payload"]["summary"],
            "Rollout shop/checkout started revision 91be02"
        );
        assert_eq!(body["payload"]["timestamp"], "2026-03-01T10:30:00Z");
        assert_eq!(body["payload"]["source"], "rollgate");
        assert_eq!(
            body["payload"]["custom_details"]["change"],
            "rollout_started"
        );
        assert_eq!(body["payload"]["custom_details"]["revision"], "91be02");
    }

    #[test]
    fn change_endpoint_follows_an_overridden_host() {
        let mut dest = destination(ChannelType::Pagerduty);
        dest.url = Some("http://127.0.0.1:9999/v2/enqueue?x=1".into());
        let out = change_event(&dest, &change(ChangeKind::RolledBack)).unwrap();
        assert_eq!(out.url, "http://127.0.0.1:9999/v2/change/enqueue");
        assert_eq!(
            out.json()["payload"]["custom_details"]["change"],
            "rolled_back"
        );
    }

    #[test]
    fn change_events_only_for_pagerduty_with_a_routing_key() {
        let change = change(ChangeKind::RolledBack);
        for type_ in [
            ChannelType::Opsgenie,
            ChannelType::Jsm,
            ChannelType::Slack,
            ChannelType::Teams,
            ChannelType::Alertmanager,
            ChannelType::Webhook,
        ] {
            assert!(change_event(&destination(type_), &change).is_none());
        }
        let mut dest = destination(ChannelType::Pagerduty);
        dest.credentials.routing_key = None;
        assert!(change_event(&dest, &change).is_none());
    }
}

//! Alertmanager API v2 (`POST {url}/api/v2/alerts`). Alertmanager identifies an alert by its
//! labels and keeps no state of ours: every firing message is the whole alert with
//! `startsAt` = detection and `endsAt = queuedAt + ALERTMANAGER_HOLD`, re-posted by the caller
//! every `ALERTMANAGER_RESEND` as a fresh message (facts of the refresh time); a resolution
//! posts it with `endsAt = queuedAt`. Acknowledgement has no Alertmanager
//! counterpart (silences mute, they do not acknowledge), so it keeps the alert firing with an
//! `acknowledged_by` annotation, which makes "re-post the latest message" right for every
//! kind. Nothing is skipped.
//!
//! The severity label is the incident's current one for every kind (a refresh of the trigger
//! after an escalation must not revive the old label set); when an escalation changed it, the
//! alert under the old label set is ended in the same post.

use jiff::{SignedDuration, Timestamp};
use serde_json::{Map, Value, json};

use super::content;
use super::{ALERTMANAGER_HOLD, ChannelError, Destination, Message, Outgoing, endpoint};
use crate::api::{MessageKind, Severity};

pub(super) const ALERTNAME: &str = "RollgateRollback";
const DESCRIPTION_MAX: usize = 4000;

fn default_severity(severity: Severity) -> &'static str {
    match severity {
        Severity::Sev1 | Severity::Sev2 => "critical",
        Severity::Sev3 => "warning",
        Severity::Sev4 => "info",
    }
}

pub(super) fn build(dest: &Destination, m: &Message<'_>) -> Result<Outgoing, ChannelError> {
    let mut url = endpoint(dest, None)?;
    let path = format!("{}/api/v2/alerts", url.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_query(None);
    let severity = |s| content::mapped_severity(dest, s, default_severity, None);
    let current = severity(content::current_severity(m))?;
    let original = severity(m.spec.severity)?;
    let started = m.spec.detected_at;
    let queued = m.facts.queued_at;
    let ends = match m.kind {
        MessageKind::Resolve => queued,
        _ => queued + SignedDuration::try_from(ALERTMANAGER_HOLD).unwrap_or_default(),
    };
    let mut alerts = vec![alert(m, &current, started, ends.max(started))];
    if original != current {
        alerts.push(alert(m, &original, started, queued.max(started)));
    }
    let mut out = Outgoing::post_json(url.into(), &Value::Array(alerts));
    if let Some(token) = &dest.credentials.token {
        out = out.with_header("Authorization", format!("Bearer {token}"));
    }
    Ok(out)
}

fn alert(m: &Message<'_>, severity: &str, starts: Timestamp, ends: Timestamp) -> Value {
    let spec = m.spec;
    let labels = json!({
        "alertname": ALERTNAME,
        "namespace": content::namespace(m),
        "rollout": content::rollout(m),
        "revision": spec.from_revision,
        "severity": severity,
        "dedup_key": spec.dedup_key,
    });
    let mut description = vec![spec.summary.clone()];
    if m.facts.escalated {
        description.push(content::ESCALATION_NOTE.to_owned());
    }
    description.extend(spec.failed_gates.iter().map(content::gate_line));
    let mut annotations = Map::new();
    annotations.insert("summary".into(), json!(spec.title));
    annotations.insert(
        "description".into(),
        json!(content::truncate(&description.join("\n"), DESCRIPTION_MAX)),
    );
    if let Some(runbook) = &spec.runbook {
        annotations.insert("runbook_url".into(), json!(runbook));
    }
    if let Some(who) = &m.facts.acknowledged_by {
        annotations.insert("acknowledged_by".into(), json!(who));
    }
    let mut alert = json!({
        "labels": labels,
        "annotations": annotations,
        "startsAt": starts.to_string(),
        "endsAt": ends.to_string(),
    });
    if let Some(url) = spec.failed_gates.iter().find_map(|g| g.graph_url.as_ref()) {
        alert["generatorURL"] = json!(url);
    }
    alert
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ChannelType;
    use crate::api::Incident;
    use crate::incident::channels::fixture::{self, destination};

    fn sent(incident: &Incident, message: MessageKind) -> Outgoing {
        fixture::render(
            &destination(ChannelType::Alertmanager),
            incident,
            message,
            "i",
        )
        .unwrap()
        .unwrap()
    }

    /// The `postableAlerts` schema: an array of objects with string-to-string labels (with
    /// `alertname`) and annotations, RFC 3339 times.
    fn alerts(out: &Outgoing) -> Vec<Value> {
        let body = out.json();
        let alerts = body.as_array().unwrap().clone();
        for alert in &alerts {
            let labels = alert["labels"].as_object().unwrap();
            assert!(labels.values().all(Value::is_string));
            assert_eq!(labels["alertname"], ALERTNAME);
            assert!(
                alert["annotations"]
                    .as_object()
                    .unwrap()
                    .values()
                    .all(Value::is_string)
            );
            for t in ["startsAt", "endsAt"] {
                alert[t].as_str().unwrap().parse::<Timestamp>().unwrap();
            }
        }
        alerts
    }

    #[test]
    fn trigger_posts_one_firing_alert_that_outlives_the_resend_interval() {
        let out = sent(&fixture::incident(), MessageKind::Trigger);
        assert_eq!(out.url, "http://alertmanager.monitoring:9093/api/v2/alerts");
        assert_eq!(
            out.header("Authorization"),
            Some(format!("Bearer {}", fixture::TOKEN).as_str())
        );
        let alerts = alerts(&out);
        assert_eq!(alerts.len(), 1);
        let alert = &alerts[0];
        assert_eq!(
            alert["labels"],
            json!({
                "alertname": "RollgateRollback",
                "namespace": "shop",
                "rollout": "checkout",
                "revision": "91be02",
                "severity": "critical",
                "dedup_key": "rollgate/shop/checkout/91be02",
            })
        );
        assert_eq!(alert["startsAt"], "2026-03-01T10:04:00Z");
        assert_eq!(alert["endsAt"], "2026-03-01T10:35:00Z");
        assert!(ALERTMANAGER_HOLD > crate::incident::channels::ALERTMANAGER_RESEND * 2);
        assert_eq!(
            alert["annotations"]["summary"],
            fixture::incident().spec.title
        );
        assert_eq!(
            alert["annotations"]["runbook_url"],
            "https://runbooks.example/checkout"
        );
        assert!(
            alert["annotations"]["description"]
                .as_str()
                .unwrap()
                .contains("error-ratio = 0.05")
        );
        assert_eq!(
            alert["generatorURL"],
            "http://prometheus.example/graph?g0.expr=error"
        );
    }

    #[test]
    fn acknowledge_keeps_it_firing_and_says_who() {
        let alerts = alerts(&sent(&fixture::incident(), MessageKind::Acknowledge));
        assert_eq!(alerts[0]["endsAt"], "2026-03-01T10:35:00Z");
        assert_eq!(alerts[0]["annotations"]["acknowledged_by"], "alice");
    }

    #[test]
    fn resolve_ends_the_alert_now_with_the_same_labels() {
        let firing = alerts(&sent(&fixture::incident(), MessageKind::Trigger));
        let resolved = alerts(&sent(&fixture::incident(), MessageKind::Resolve));
        assert_eq!(resolved[0]["labels"], firing[0]["labels"]);
        assert_eq!(resolved[0]["endsAt"], "2026-03-01T10:30:00Z");
    }

    #[test]
    fn escalation_fires_the_raised_severity_and_ends_the_old_label_set() {
        let mut incident = fixture::incident();
        incident.spec.severity = Severity::Sev3;
        incident.status.as_mut().unwrap().severity = Some(Severity::Sev1);
        for message in [MessageKind::Escalate, MessageKind::Trigger] {
            let alerts = alerts(&sent(&incident, message));
            assert_eq!(alerts.len(), 2);
            assert_eq!(alerts[0]["labels"]["severity"], "critical");
            assert_eq!(alerts[0]["endsAt"], "2026-03-01T10:35:00Z");
            assert_eq!(alerts[1]["labels"]["severity"], "warning");
            assert_eq!(alerts[1]["endsAt"], "2026-03-01T10:30:00Z");
        }
    }

    /// The lifecycle sets status.severity from the first step on: only an escalation, not a
    /// recorded severity, adds the note.
    #[test]
    fn the_escalation_note_only_once_escalated() {
        let mut incident = fixture::incident();
        incident.status.as_mut().unwrap().severity = Some(incident.spec.severity);
        let mut facts = fixture::facts_of(&incident);
        let dest = destination(ChannelType::Alertmanager);
        let description = |facts: &crate::api::MessageFacts| {
            let m = Message::new(&incident, MessageKind::Trigger, facts);
            let out = build(&dest, &m).unwrap();
            alerts(&out)[0]["annotations"]["description"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        assert!(!description(&facts).contains(content::ESCALATION_NOTE));
        facts.escalated = true;
        assert!(description(&facts).contains(content::ESCALATION_NOTE));
    }

    #[test]
    fn url_is_required_and_a_path_prefix_is_kept() {
        let mut dest = destination(ChannelType::Alertmanager);
        dest.url = Some("https://monitoring.example/alertmanager/".into());
        dest.credentials.token = None;
        let out = fixture::render(&dest, &fixture::incident(), MessageKind::Trigger, "i")
            .unwrap()
            .unwrap();
        assert_eq!(
            out.url,
            "https://monitoring.example/alertmanager/api/v2/alerts"
        );
        assert!(out.header("Authorization").is_none());
        dest.url = None;
        let err =
            fixture::render(&dest, &fixture::incident(), MessageKind::Trigger, "i").unwrap_err();
        assert_eq!(err.category(), "missing_url");
    }
}

//! Opsgenie Alert API v2 (and, at another base URL, Jira Service Management ops alerts, its
//! successor: same shapes). Opsgenie dedups on `alias` (the incident's dedup key): an
//! escalation is a create with the raised priority, which Opsgenie folds into the open alert
//! (count and log) or opens anew if it was closed. Every message kind is sent: nothing is
//! skipped.

use serde_json::{Value, json};

use super::content::{self, SOURCE};
use super::{ChannelError, Destination, Message, Outgoing, credential};
use crate::api::{MessageKind, Severity};

pub(super) const ALERTS_URL: &str = "https://api.opsgenie.com/v2/alerts";
const MESSAGE_MAX: usize = 130;
const DESCRIPTION_MAX: usize = 15_000;
const TAGS_MAX: usize = 20;
const TAG_MAX: usize = 50;
const USER_MAX: usize = 100;
const DETAIL_MAX: usize = 8_000;
pub(super) const PRIORITIES: &[&str] = &["P1", "P2", "P3", "P4", "P5"];

fn default_priority(severity: Severity) -> &'static str {
    match severity {
        Severity::Sev1 => "P1",
        Severity::Sev2 => "P2",
        Severity::Sev3 => "P3",
        Severity::Sev4 => "P4",
    }
}

pub(super) fn build(dest: &Destination, m: &Message<'_>) -> Result<Outgoing, ChannelError> {
    build_at(dest, m, Some(ALERTS_URL))
}

/// The request against the alerts base `dest.url` (else `default`).
pub(super) fn build_at(
    dest: &Destination,
    m: &Message<'_>,
    default: Option<&str>,
) -> Result<Outgoing, ChannelError> {
    let mut url = super::endpoint(dest, default)?;
    let api_key = credential(dest, &dest.credentials.api_key, "apiKey")?;
    let alias = &m.spec.dedup_key;
    let body = match m.kind {
        MessageKind::Trigger | MessageKind::Escalate => {
            let priority = content::mapped_severity(
                dest,
                content::severity_for(m),
                default_priority,
                Some(PRIORITIES),
            )?;
            create(m, &priority)
        }
        MessageKind::Acknowledge | MessageKind::Resolve => {
            let action = match m.kind {
                MessageKind::Acknowledge => "acknowledge",
                _ => "close",
            };
            url.set_query(None);
            url.path_segments_mut()
                .map_err(|()| ChannelError::InvalidUrl {
                    channel: dest.name.clone(),
                    reason: "not a base URL".into(),
                })?
                .pop_if_empty()
                .push(alias)
                .push(action);
            url.set_query(Some("identifierType=alias"));
            let who = content::truncate(content::who(content::by(m)), USER_MAX);
            json!({
                "user": who,
                "source": SOURCE,
                "note": content::headline(m),
            })
        }
    };
    Ok(Outgoing::post_json(url.into(), &body)
        .with_header("Authorization", format!("GenieKey {api_key}")))
}

fn create(m: &Message<'_>, priority: &str) -> Value {
    let spec = m.spec;
    let mut description = vec![spec.summary.clone()];
    if m.kind == MessageKind::Escalate {
        description.push(content::ESCALATION_NOTE.to_owned());
    }
    if !spec.failed_gates.is_empty() {
        description.push("Failed gates:".to_owned());
        description.extend(
            spec.failed_gates
                .iter()
                .map(|g| format!("- {}", content::gate_line(g))),
        );
    }
    description.extend(
        content::links(m)
            .into_iter()
            .map(|(text, url)| format!("{text}: {url}")),
    );
    json!({
        "message": content::truncate(&content::headline(m), MESSAGE_MAX),
        "alias": spec.dedup_key,
        "description": content::truncate(&description.join("\n"), DESCRIPTION_MAX),
        "priority": priority,
        "entity": content::target(m),
        "source": SOURCE,
        "tags": tags(m),
        "details": details(m),
    })
}

fn tags(m: &Message<'_>) -> Vec<String> {
    let mut tags = vec![
        "rollgate".to_owned(),
        "rollback".to_owned(),
        format!("namespace:{}", content::namespace(m)),
        format!("rollout:{}", content::rollout(m)),
        format!("reason:{}", m.spec.reason),
        content::severity_key(content::current_severity(m)).to_owned(),
    ];
    if let Some(owner) = &m.spec.owner {
        tags.push(format!("owner:{owner}"));
    }
    tags.extend(
        m.spec
            .failed_gates
            .iter()
            .map(|g| format!("gate:{}", g.name)),
    );
    tags.truncate(TAGS_MAX);
    tags.iter().map(|t| content::truncate(t, TAG_MAX)).collect()
}

/// Opsgenie details are a flat map of strings.
fn details(m: &Message<'_>) -> Value {
    let spec = m.spec;
    let mut map = serde_json::Map::new();
    let mut put = |k: &str, v: String| {
        map.insert(
            k.to_owned(),
            Value::String(content::truncate(&v, DETAIL_MAX)),
        );
    };
    put("rollout", content::target(m));
    put("reason", spec.reason.clone());
    put("rolledBackRevision", spec.from_revision.clone());
    put("restoredRevision", spec.to_revision.clone());
    put(
        "stage",
        format!("{} ({}%)", spec.stage.index + 1, spec.stage.weight),
    );
    put(
        "exposure",
        format!(
            "{}% ({} canary pods) for {}",
            spec.exposure.weight,
            spec.exposure.canary_pods,
            content::duration(spec.exposure.seconds)
        ),
    );
    put(
        "gates",
        spec.failed_gates
            .iter()
            .map(content::gate_line)
            .collect::<Vec<_>>()
            .join("; "),
    );
    put("stable", content::stable_health(m).to_owned());
    put("dedupKey", spec.dedup_key.clone());
    if let Some(owner) = &spec.owner {
        put("owner", owner.clone());
    }
    if let Some(runbook) = &spec.runbook {
        put("runbook", runbook.clone());
    }
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ChannelType;
    use crate::api::Incident;
    use crate::incident::channels::fixture::{self, destination};

    pub(crate) fn sent(type_: ChannelType, incident: &Incident, message: MessageKind) -> Outgoing {
        fixture::render(&destination(type_), incident, message, "i")
            .unwrap()
            .unwrap()
    }

    #[test]
    fn create_alert_follows_the_alert_api_schema() {
        let out = sent(
            ChannelType::Opsgenie,
            &fixture::incident(),
            MessageKind::Trigger,
        );
        assert_eq!(out.method, "POST");
        assert_eq!(out.url, "https://api.opsgenie.com/v2/alerts");
        assert_eq!(
            out.header("Authorization"),
            Some(format!("GenieKey {}", fixture::API_KEY).as_str())
        );
        let body = out.json();
        let message = body["message"].as_str().unwrap();
        assert!(!message.is_empty() && message.chars().count() <= 130);
        assert_eq!(body["alias"], "rollgate/shop/checkout/91be02");
        assert_eq!(body["priority"], "P2");
        assert_eq!(body["source"], "rollgate");
        assert_eq!(body["entity"], "shop/checkout");
        let description = body["description"].as_str().unwrap();
        assert!(
            description
                .contains("error-ratio = 0.05 (threshold: max 0.01; 2 consecutive failures)")
        );
        assert!(description.contains("Runbook: https://runbooks.example/checkout"));
        let tags = body["tags"].as_array().unwrap();
        assert!(tags.len() <= 20);
        assert!(
            tags.iter()
                .all(|t| t.as_str().is_some_and(|t| t.chars().count() <= 50))
        );
        assert!(tags.contains(&json!("rollout:checkout")));
        let details = body["details"].as_object().unwrap();
        assert!(
            details.values().all(Value::is_string),
            "details are string to string"
        );
        assert_eq!(details["restoredRevision"], "7f3c9a");
    }

    #[test]
    fn message_is_cut_to_130_characters() {
        let mut incident = fixture::incident();
        incident.spec.title = "x".repeat(400);
        let body = sent(ChannelType::Opsgenie, &incident, MessageKind::Trigger).json();
        assert_eq!(body["message"].as_str().unwrap().chars().count(), 130);
    }

    #[test]
    fn priorities_follow_severity_and_escalation_raises_it() {
        for (sev, p) in [
            (Severity::Sev1, "P1"),
            (Severity::Sev2, "P2"),
            (Severity::Sev3, "P3"),
            (Severity::Sev4, "P4"),
        ] {
            let mut incident = fixture::incident();
            incident.spec.severity = sev;
            assert_eq!(
                sent(ChannelType::Opsgenie, &incident, MessageKind::Trigger).json()["priority"],
                p
            );
        }
        let mut incident = fixture::incident();
        incident.status.as_mut().unwrap().severity = Some(Severity::Sev1);
        let body = sent(ChannelType::Opsgenie, &incident, MessageKind::Escalate).json();
        assert_eq!(body["priority"], "P1");
        assert_eq!(body["alias"], "rollgate/shop/checkout/91be02");
    }

    #[test]
    fn priority_map_must_name_an_opsgenie_priority() {
        let mut dest = destination(ChannelType::Opsgenie);
        dest.severity_map.insert("sev2".into(), "P5".into());
        let out = fixture::render(&dest, &fixture::incident(), MessageKind::Trigger, "i")
            .unwrap()
            .unwrap();
        assert_eq!(out.json()["priority"], "P5");
        dest.severity_map.insert("sev2".into(), "urgent".into());
        let err =
            fixture::render(&dest, &fixture::incident(), MessageKind::Trigger, "i").unwrap_err();
        assert_eq!(err.category(), "invalid_severity");
    }

    #[test]
    fn acknowledge_and_close_address_the_alert_by_its_alias() {
        let out = sent(
            ChannelType::Opsgenie,
            &fixture::incident(),
            MessageKind::Acknowledge,
        );
        assert_eq!(
            out.url,
            "https://api.opsgenie.com/v2/alerts/rollgate%2Fshop%2Fcheckout%2F91be02/acknowledge?identifierType=alias"
        );
        let body = out.json();
        assert_eq!(body["user"], "alice");
        assert_eq!(body["source"], "rollgate");
        assert!(
            body["note"]
                .as_str()
                .unwrap()
                .starts_with("Acknowledged by alice")
        );

        let out = sent(
            ChannelType::Opsgenie,
            &fixture::incident(),
            MessageKind::Resolve,
        );
        assert_eq!(
            out.url,
            "https://api.opsgenie.com/v2/alerts/rollgate%2Fshop%2Fcheckout%2F91be02/close?identifierType=alias"
        );
        assert_eq!(out.json()["user"], "bob");
        assert_eq!(
            out.header("authorization"),
            Some(format!("GenieKey {}", fixture::API_KEY).as_str())
        );
    }

    #[test]
    fn regional_base_url_is_kept() {
        let mut dest = destination(ChannelType::Opsgenie);
        dest.url = Some("https://api.eu.opsgenie.com/v2/alerts/".into());
        let out = fixture::render(&dest, &fixture::incident(), MessageKind::Resolve, "i")
            .unwrap()
            .unwrap();
        assert_eq!(
            out.url,
            "https://api.eu.opsgenie.com/v2/alerts/rollgate%2Fshop%2Fcheckout%2F91be02/close?identifierType=alias"
        );
    }

    #[test]
    fn missing_api_key_is_named() {
        let mut dest = destination(ChannelType::Opsgenie);
        dest.credentials.api_key = None;
        let err =
            fixture::render(&dest, &fixture::incident(), MessageKind::Trigger, "i").unwrap_err();
        assert_eq!(
            err,
            ChannelError::MissingCredential {
                channel: "opsgenie".into(),
                key: "apiKey"
            }
        );
    }
}

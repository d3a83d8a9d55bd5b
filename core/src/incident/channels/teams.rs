//! Microsoft Teams workflow webhook (the "When a Teams webhook request is received" flow; the
//! older connector webhooks are retired) with an Adaptive Card. The workflow URL (the Secret's
//! `url`) carries its signature, so it is the credential. Every message kind posts: a trigger
//! or escalation the full card, an acknowledgement or resolution a short one. Like Slack,
//! Teams does not dedup.

use serde_json::{Value, json};

use super::content;
use super::{ChannelError, Destination, Message, Outgoing, credential, parse_url};
use crate::api::{MessageKind, Severity};

const CARD_SCHEMA: &str = "http://adaptivecards.io/schemas/adaptive-card.json";
/// 1.4 renders on every Teams client (desktop, web, mobile).
const CARD_VERSION: &str = "1.4";
const TITLE_MAX: usize = 200;
const TEXT_MAX: usize = 2000;
const LINE_MAX: usize = 500;
const GATES_MAX: usize = 10;
const ACTIONS_MAX: usize = 6;

fn default_label(severity: Severity) -> &'static str {
    match severity {
        Severity::Sev1 => "SEV1",
        Severity::Sev2 => "SEV2",
        Severity::Sev3 => "SEV3",
        Severity::Sev4 => "SEV4",
    }
}

pub(super) fn build(dest: &Destination, m: &Message<'_>) -> Result<Outgoing, ChannelError> {
    let url = parse_url(
        dest,
        credential(dest, &dest.credentials.webhook_url, "url")?,
    )?;
    let label = content::mapped_severity(dest, content::severity_for(m), default_label, None)?;
    let (body, actions) = match m.kind {
        MessageKind::Trigger | MessageKind::Escalate => alert(m, &label),
        MessageKind::Acknowledge | MessageKind::Resolve => (follow_up(m), vec![]),
    };
    let card = json!({
        "$schema": CARD_SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "body": body,
        "actions": actions,
        "msteams": {"width": "Full"},
    });
    let message = json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    });
    Ok(Outgoing::post_json(url.into(), &message))
}

fn text(s: &str, max: usize) -> Value {
    json!({"type": "TextBlock", "text": content::truncate(s, max), "wrap": true})
}

fn alert(m: &Message<'_>, label: &str) -> (Vec<Value>, Vec<Value>) {
    let spec = m.spec;
    let mut title = text(&format!("{label}: {}", content::headline(m)), TITLE_MAX);
    title["size"] = json!("Large");
    title["weight"] = json!("Bolder");
    title["color"] = json!("Attention");
    let mut body = vec![title];
    if m.kind == MessageKind::Escalate {
        let mut note = text(content::ESCALATION_NOTE, TEXT_MAX);
        note["weight"] = json!("Bolder");
        note["color"] = json!("Warning");
        body.push(note);
    }
    body.push(text(&spec.summary, TEXT_MAX));
    let mut facts = vec![
        ("Rollout", content::target(m)),
        ("Severity", label.to_owned()),
        ("Reason", spec.reason.clone()),
        (
            "Revisions",
            format!("{} → {}", spec.from_revision, spec.to_revision),
        ),
        (
            "Stage",
            format!("{} ({}%)", spec.stage.index + 1, spec.stage.weight),
        ),
        (
            "Exposure",
            format!(
                "{}% · {} canary pods · {}",
                spec.exposure.weight,
                spec.exposure.canary_pods,
                content::duration(spec.exposure.seconds)
            ),
        ),
        ("Stable", content::stable_health(m).to_owned()),
    ];
    if let Some(owner) = &spec.owner {
        facts.push(("Owner", owner.clone()));
    }
    let facts: Vec<Value> = facts
        .into_iter()
        .map(|(title, value)| json!({"title": title, "value": content::truncate(&value, LINE_MAX)}))
        .collect();
    body.push(json!({"type": "FactSet", "facts": facts}));
    if !spec.failed_gates.is_empty() {
        let mut heading = text("Failed gates", TEXT_MAX);
        heading["weight"] = json!("Bolder");
        body.push(heading);
        for g in spec.failed_gates.iter().take(GATES_MAX) {
            let mut line = text(&format!("- {}", content::gate_line(g)), LINE_MAX);
            line["spacing"] = json!("None");
            body.push(line);
        }
    }
    body.push(small_print(m));
    let actions = content::links(m)
        .into_iter()
        .take(ACTIONS_MAX)
        .map(|(title, url)| json!({"type": "Action.OpenUrl", "title": title, "url": url}))
        .collect();
    (body, actions)
}

fn follow_up(m: &Message<'_>) -> Vec<Value> {
    let mut line = text(&content::headline(m), TITLE_MAX);
    line["weight"] = json!("Bolder");
    line["color"] = json!(match m.kind {
        MessageKind::Resolve => "Good",
        _ => "Accent",
    });
    vec![line, small_print(m)]
}

fn small_print(m: &Message<'_>) -> Value {
    let mut line = text(
        &format!(
            "Detected {} · {}",
            content::when(m.spec.detected_at),
            m.spec.dedup_key
        ),
        LINE_MAX,
    );
    line["isSubtle"] = json!(true);
    line["size"] = json!("Small");
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ChannelType;
    use crate::api::Incident;
    use crate::incident::channels::fixture::{self, destination};

    fn sent(incident: &Incident, message: MessageKind) -> Outgoing {
        fixture::render(&destination(ChannelType::Teams), incident, message, "i")
            .unwrap()
            .unwrap()
    }

    /// The envelope a workflow webhook takes and the card elements we use, as the schema has them.
    fn card_of(body: &Value) -> &Value {
        assert_eq!(body["type"], "message");
        let attachments = body["attachments"].as_array().unwrap();
        assert_eq!(attachments.len(), 1);
        assert_eq!(
            attachments[0]["contentType"],
            "application/vnd.microsoft.card.adaptive"
        );
        let card = &attachments[0]["content"];
        assert_eq!(card["type"], "AdaptiveCard");
        assert_eq!(card["$schema"], CARD_SCHEMA);
        assert!(["1.4", "1.5"].contains(&card["version"].as_str().unwrap()));
        for element in card["body"].as_array().unwrap() {
            match element["type"].as_str().unwrap() {
                "TextBlock" => assert!(element["text"].as_str().is_some_and(|t| !t.is_empty())),
                "FactSet" => assert!(
                    element["facts"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|f| { f["title"].is_string() && f["value"].is_string() })
                ),
                other => panic!("unexpected element {other}"),
            }
        }
        for action in card["actions"].as_array().unwrap() {
            assert_eq!(action["type"], "Action.OpenUrl");
            assert!(action["title"].is_string());
            assert!(action["url"].as_str().unwrap().starts_with("http"));
        }
        card
    }

    #[test]
    fn trigger_posts_a_card_with_facts_gates_and_link_actions() {
        let out = sent(&fixture::incident(), MessageKind::Trigger);
        assert_eq!(out.url, fixture::TEAMS_URL);
        let body = out.json();
        let card = card_of(&body);
        let elements = card["body"].as_array().unwrap();
        assert!(
            elements[0]["text"]
                .as_str()
                .unwrap()
                .starts_with("SEV2: Rolled back shop/checkout")
        );
        let facts = elements.iter().find(|e| e["type"] == "FactSet").unwrap();
        assert!(
            facts["facts"]
                .as_array()
                .unwrap()
                .contains(&json!({"title": "Revisions", "value": "91be02 → 7f3c9a"}))
        );
        let text = body.to_string();
        assert!(text.contains("latency-vs-stable = 0.42 (threshold: maxIncrease 20%; stable 0.2; 1 consecutive failure)"));
        let actions = card["actions"].as_array().unwrap();
        assert_eq!(actions[0]["title"], "Runbook");
        assert_eq!(actions[0]["url"], "https://runbooks.example/checkout");
        assert_eq!(actions.len(), 3);
    }

    #[test]
    fn escalation_shows_the_raised_severity_and_why() {
        let mut incident = fixture::incident();
        incident.status.as_mut().unwrap().severity = Some(Severity::Sev1);
        let body = sent(&incident, MessageKind::Escalate).json();
        let card = card_of(&body);
        assert!(
            card["body"][0]["text"]
                .as_str()
                .unwrap()
                .starts_with("SEV1: Escalated")
        );
        assert!(body.to_string().contains("stable revision is unhealthy"));
    }

    #[test]
    fn acknowledge_and_resolve_are_short_cards() {
        for (message, start) in [
            (MessageKind::Acknowledge, "Acknowledged by alice"),
            (MessageKind::Resolve, "Resolved by bob"),
        ] {
            let body = sent(&fixture::incident(), message).json();
            let card = card_of(&body);
            assert_eq!(card["body"].as_array().unwrap().len(), 2);
            assert!(card["body"][0]["text"].as_str().unwrap().starts_with(start));
        }
    }

    #[test]
    fn missing_url_is_named() {
        let mut dest = destination(ChannelType::Teams);
        dest.credentials.webhook_url = None;
        let err =
            fixture::render(&dest, &fixture::incident(), MessageKind::Trigger, "i").unwrap_err();
        assert_eq!(err.category(), "missing_credential");
    }
}

//! Slack incoming webhook with Block Kit. The webhook URL (the Secret's `url`) is the
//! credential. Every message kind posts: a trigger or escalation the full picture, an
//! acknowledgement or resolution a short follow-up. Slack does not dedup: a repeated send
//! posts twice, which the outbox avoids by sending a delivered message only once.

use serde_json::{Value, json};

use super::content;
use super::{ChannelError, Destination, Message, Outgoing, credential, parse_url};
use crate::api::{MessageKind, Severity};

const HEADER_MAX: usize = 150;
const SECTION_MAX: usize = 3000;
const FIELD_MAX: usize = 2000;
const FIELDS_MAX: usize = 10;
const CONTEXT_MAX: usize = 10;
const FALLBACK_MAX: usize = 4000;

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
    let blocks = match m.kind {
        MessageKind::Trigger | MessageKind::Escalate => alert(m, &label),
        MessageKind::Acknowledge | MessageKind::Resolve => follow_up(m),
    };
    let body = json!({
        "text": content::truncate(&content::headline(m), FALLBACK_MAX),
        "blocks": blocks,
    });
    Ok(Outgoing::post_json(url.into(), &body))
}

fn alert(m: &Message<'_>, label: &str) -> Vec<Value> {
    let spec = m.spec;
    let header = format!("{label}: {}", content::headline(m));
    let mut summary = escape(&spec.summary);
    if m.kind == MessageKind::Escalate {
        summary = format!("*{}*\n{summary}", escape(content::ESCALATION_NOTE));
    }
    let mut fields = vec![
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
        fields.push(("Owner", owner.clone()));
    }
    let fields: Vec<Value> = fields
        .into_iter()
        .take(FIELDS_MAX)
        .map(|(name, value)| mrkdwn(&format!("*{name}*\n{}", escape(&value)), FIELD_MAX))
        .collect();
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": content::truncate(&header, HEADER_MAX), "emoji": true}}),
        json!({"type": "section", "text": mrkdwn(&summary, SECTION_MAX)}),
        json!({"type": "section", "fields": fields}),
    ];
    if !spec.failed_gates.is_empty() {
        let lines: Vec<String> = spec
            .failed_gates
            .iter()
            .map(|g| format!("• {}", escape(&content::gate_line(g))))
            .collect();
        let text = format!("*Failed gates*\n{}", lines.join("\n"));
        blocks.push(json!({"type": "section", "text": mrkdwn(&text, SECTION_MAX)}));
    }
    blocks.push(context(m));
    blocks
}

fn follow_up(m: &Message<'_>) -> Vec<Value> {
    let (mark, verb) = match m.kind {
        MessageKind::Acknowledge => (":eyes:", "Acknowledged"),
        _ => (":white_check_mark:", "Resolved"),
    };
    let text = format!(
        "{mark} *{verb}* by {}: {}",
        escape(content::who(content::by(m))),
        escape(&m.spec.title)
    );
    vec![
        json!({"type": "section", "text": mrkdwn(&text, SECTION_MAX)}),
        context(m),
    ]
}

/// Links, dedup key and detection time, in small print.
fn context(m: &Message<'_>) -> Value {
    let mut elements: Vec<Value> = vec![];
    let links: Vec<String> = content::links(m)
        .iter()
        .map(|(text, url)| format!("<{}|{}>", escape_url(url), escape(text)))
        .collect();
    if !links.is_empty() {
        elements.push(mrkdwn(&links.join(" · "), SECTION_MAX));
    }
    elements.push(mrkdwn(
        &format!(
            "Detected {} · `{}`",
            content::when(m.spec.detected_at),
            escape(&m.spec.dedup_key)
        ),
        SECTION_MAX,
    ));
    elements.truncate(CONTEXT_MAX);
    json!({"type": "context", "elements": elements})
}

fn mrkdwn(text: &str, max: usize) -> Value {
    json!({"type": "mrkdwn", "text": content::truncate(text, max)})
}

/// Slack's three control characters in message text.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A URL inside `<url|text>`: the delimiters percent-encoded, `&` escaped.
fn escape_url(url: &str) -> String {
    url.replace('&', "&amp;")
        .replace('<', "%3C")
        .replace('>', "%3E")
        .replace('|', "%7C")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ChannelType;
    use crate::api::Incident;
    use crate::incident::channels::fixture::{self, destination};

    fn sent(incident: &Incident, message: MessageKind) -> Outgoing {
        fixture::render(&destination(ChannelType::Slack), incident, message, "i")
            .unwrap()
            .unwrap()
    }

    fn blocks_of<'a>(body: &'a Value, type_: &str) -> Vec<&'a Value> {
        body["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == type_)
            .collect()
    }

    /// Limits of Block Kit that Slack rejects a message for.
    fn assert_valid_block_kit(body: &Value) {
        assert!(
            body["text"].as_str().is_some_and(|t| !t.is_empty()),
            "fallback text"
        );
        let blocks = body["blocks"].as_array().unwrap();
        assert!(!blocks.is_empty() && blocks.len() <= 50);
        for block in blocks {
            match block["type"].as_str().unwrap() {
                "header" => {
                    assert_eq!(block["text"]["type"], "plain_text");
                    assert!(block["text"]["text"].as_str().unwrap().chars().count() <= 150);
                }
                "section" => {
                    if let Some(text) = block.get("text") {
                        assert_eq!(text["type"], "mrkdwn");
                        assert!(text["text"].as_str().unwrap().chars().count() <= 3000);
                    }
                    if let Some(fields) = block.get("fields") {
                        let fields = fields.as_array().unwrap();
                        assert!(fields.len() <= 10);
                        assert!(
                            fields
                                .iter()
                                .all(|f| f["text"].as_str().unwrap().chars().count() <= 2000)
                        );
                    }
                    assert!(block.get("text").is_some() || block.get("fields").is_some());
                }
                "context" => {
                    let elements = block["elements"].as_array().unwrap();
                    assert!(!elements.is_empty() && elements.len() <= 10);
                }
                other => panic!("unexpected block {other}"),
            }
        }
    }

    #[test]
    fn trigger_posts_header_fields_gates_and_links_to_the_secret_url() {
        let out = sent(&fixture::incident(), MessageKind::Trigger);
        assert_eq!(out.url, fixture::SLACK_URL);
        assert_eq!(out.method, "POST");
        assert!(
            out.header("Authorization").is_none(),
            "the URL is the credential"
        );
        let body = out.json();
        assert_valid_block_kit(&body);
        let header = blocks_of(&body, "header")[0]["text"]["text"]
            .as_str()
            .unwrap();
        assert!(header.starts_with("SEV2: Rolled back shop/checkout"));
        let fields = blocks_of(&body, "section")[1]["fields"].as_array().unwrap();
        assert!(
            fields
                .iter()
                .any(|f| f["text"] == "*Revisions*\n91be02 → 7f3c9a")
        );
        let text = body.to_string();
        assert!(text.contains("error-ratio = 0.05"));
        assert!(text.contains("<https://runbooks.example/checkout|Runbook>"));
        assert!(text.contains("rollgate/shop/checkout/91be02"));
    }

    #[test]
    fn escalation_says_so_with_the_raised_severity() {
        let mut incident = fixture::incident();
        incident.status.as_mut().unwrap().severity = Some(Severity::Sev1);
        let body = sent(&incident, MessageKind::Escalate).json();
        assert_valid_block_kit(&body);
        let header = blocks_of(&body, "header")[0]["text"]["text"]
            .as_str()
            .unwrap();
        assert!(header.starts_with("SEV1: Escalated"));
        assert!(body.to_string().contains("stable revision is unhealthy"));
    }

    #[test]
    fn acknowledge_and_resolve_are_short_follow_ups() {
        for (message, word, who) in [
            (MessageKind::Acknowledge, "Acknowledged", "alice"),
            (MessageKind::Resolve, "Resolved", "bob"),
        ] {
            let body = sent(&fixture::incident(), message).json();
            assert_valid_block_kit(&body);
            assert!(blocks_of(&body, "header").is_empty());
            let text = blocks_of(&body, "section")[0]["text"]["text"]
                .as_str()
                .unwrap();
            assert!(text.contains(&format!("*{word}* by {who}")), "{text}");
            assert!(body["text"].as_str().unwrap().starts_with(word));
        }
    }

    #[test]
    fn control_characters_are_escaped_and_long_text_cut() {
        let mut incident = fixture::incident();
        incident.spec.summary = format!("<!channel> a & b > c {}", "x".repeat(5000));
        incident.spec.title = "t".repeat(500);
        let body = sent(&incident, MessageKind::Trigger).json();
        assert_valid_block_kit(&body);
        let text = body.to_string();
        assert!(text.contains("&lt;!channel&gt; a &amp; b &gt; c"));
        assert!(!text.contains("<!channel>"));
    }

    #[test]
    fn severity_label_comes_from_the_map() {
        let mut dest = destination(ChannelType::Slack);
        dest.severity_map
            .insert("sev2".into(), ":red_circle: High".into());
        let body = fixture::render(&dest, &fixture::incident(), MessageKind::Trigger, "i")
            .unwrap()
            .unwrap()
            .json();
        let header = blocks_of(&body, "header")[0]["text"]["text"]
            .as_str()
            .unwrap();
        assert!(header.starts_with(":red_circle: High: "));
    }

    #[test]
    fn url_comes_from_the_secret_only() {
        let mut dest = destination(ChannelType::Slack);
        dest.credentials.webhook_url = None;
        dest.url = Some("https://hooks.slack.com/services/in-spec".into());
        let err =
            fixture::render(&dest, &fixture::incident(), MessageKind::Trigger, "i").unwrap_err();
        assert_eq!(
            err,
            ChannelError::MissingCredential {
                channel: "slack".into(),
                key: "url"
            }
        );
    }

    #[test]
    fn a_bad_secret_url_is_reported_without_quoting_it() {
        let mut dest = destination(ChannelType::Slack);
        dest.credentials.webhook_url = Some("ftp://hooks.slack.com/services/T000SECRET".into());
        let err =
            fixture::render(&dest, &fixture::incident(), MessageKind::Trigger, "i").unwrap_err();
        assert_eq!(err.category(), "invalid_url");
        assert!(!err.to_string().contains("T000SECRET"));
    }
}

//! What every destination says about an incident, in plain words and values; each destination
//! file only arranges these into its own schema.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{ChannelError, Destination, Message};
use crate::api::{FailedGate, MessageKind, Severity};

pub(super) const SOURCE: &str = "rollgate";

pub(super) fn namespace<'a>(m: &Message<'a>) -> &'a str {
    m.namespace
}

pub(super) fn rollout<'a>(m: &Message<'a>) -> &'a str {
    &m.spec.rollout_ref.name
}

/// `namespace/rollout`: where it happened.
pub(super) fn target(m: &Message<'_>) -> String {
    match namespace(m) {
        "" => rollout(m).to_owned(),
        ns => format!("{ns}/{}", rollout(m)),
    }
}

/// The incident's severity when the message was queued (the spec's, or the raised one).
pub(super) fn current_severity(m: &Message<'_>) -> Severity {
    m.facts.severity
}

/// The severity a message announces: a trigger the original, an escalation the raised one.
pub(super) fn severity_for(m: &Message<'_>) -> Severity {
    match m.kind {
        MessageKind::Trigger => m.spec.severity,
        _ => current_severity(m),
    }
}

pub(super) fn severity_key(severity: Severity) -> &'static str {
    match severity {
        Severity::Sev1 => "sev1",
        Severity::Sev2 => "sev2",
        Severity::Sev3 => "sev3",
        Severity::Sev4 => "sev4",
    }
}

/// The destination's word for `severity`: the channel's severityMap (keys `sev1`..`sev4`, any
/// case), else `default`. With `allowed`, the result must be one of them.
pub(super) fn mapped_severity(
    dest: &Destination,
    severity: Severity,
    default: fn(Severity) -> &'static str,
    allowed: Option<&'static [&'static str]>,
) -> Result<String, ChannelError> {
    let key = severity_key(severity);
    let Some(value) = dest
        .severity_map
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.trim())
    else {
        return Ok(default(severity).to_owned());
    };
    match allowed {
        Some(allowed) if !allowed.contains(&value) => Err(ChannelError::InvalidSeverity {
            channel: dest.name.clone(),
            value: value.to_owned(),
            expected: allowed.join(", "),
        }),
        _ => Ok(value.to_owned()),
    }
}

/// At most `max` characters, ending in `…` when cut. Destinations count characters, not bytes.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A gate value for people: up to six decimals, no trailing zeros.
pub(super) fn number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// `error-ratio = 0.05 (threshold: max 0.01; stable 0.001; 2 consecutive failures)`.
pub(super) fn gate_line(g: &FailedGate) -> String {
    let mut facts = vec![];
    if let Some(t) = &g.threshold {
        facts.push(format!("threshold: {t}"));
    }
    if let Some(s) = g.stable_value {
        facts.push(format!("stable {}", number(s)));
    }
    facts.push(format!(
        "{} consecutive failure{}",
        g.consecutive_failures,
        if g.consecutive_failures == 1 { "" } else { "s" }
    ));
    let value = g.value.map_or_else(|| g.verdict.clone(), number);
    match &g.evidence {
        Some(e) => format!("{} = {value} ({}): {e}", g.name, facts.join("; ")),
        None => format!("{} = {value} ({})", g.name, facts.join("; ")),
    }
}

/// `seconds` as `1h 2m 3s`.
pub(super) fn duration(seconds: i64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(seconds.max(0) as u64)).to_string()
}

/// Runbook then graph links, as (text, URL).
pub(super) fn links(m: &Message<'_>) -> Vec<(String, String)> {
    let mut links = vec![];
    if let Some(runbook) = &m.spec.runbook {
        links.push(("Runbook".to_owned(), runbook.clone()));
    }
    for g in &m.spec.failed_gates {
        if let Some(url) = &g.graph_url {
            links.push((format!("Graph: {}", g.name), url.clone()));
        }
    }
    links
}

pub(super) fn who(by: &Option<String>) -> &str {
    by.as_deref().unwrap_or(SOURCE)
}

/// Who acknowledged (an Acknowledge) or resolved (a Resolve), when the message was queued.
pub(super) fn by<'a>(m: &Message<'a>) -> &'a Option<String> {
    match m.kind {
        MessageKind::Resolve => &m.facts.resolved_by,
        _ => &m.facts.acknowledged_by,
    }
}

/// One line per message kind, for titles and fallbacks.
pub(super) fn headline(m: &Message<'_>) -> String {
    let title = &m.spec.title;
    match m.kind {
        MessageKind::Trigger => title.clone(),
        MessageKind::Escalate => format!("Escalated: {title}"),
        MessageKind::Acknowledge => format!("Acknowledged by {}: {title}", who(by(m))),
        MessageKind::Resolve => format!("Resolved by {}: {title}", who(by(m))),
    }
}

/// Why an escalation was raised, in words (the rollback did not bring health back).
pub(super) const ESCALATION_NOTE: &str =
    "The stable revision is unhealthy after the rollback; severity raised.";

/// `true`/`false`/`null` as words.
pub(super) fn stable_health(m: &Message<'_>) -> &'static str {
    match m.facts.stable_healthy {
        Some(true) => "healthy",
        Some(false) => "unhealthy",
        None => "not verified yet",
    }
}

/// The structured facts every alerting destination carries (PagerDuty custom_details, the
/// webhook's status summary). Timestamps in RFC 3339.
pub(super) fn details(m: &Message<'_>) -> Value {
    let (spec, facts) = (m.spec, m.facts);
    let gates: Vec<Value> = spec
        .failed_gates
        .iter()
        .map(|g| {
            json!({
                "name": g.name,
                "query": g.query,
                "value": g.value,
                "stableValue": g.stable_value,
                "threshold": g.threshold,
                "verdict": g.verdict,
                "consecutiveFailures": g.consecutive_failures,
                "graphURL": g.graph_url,
            })
        })
        .collect();
    json!({
        "rollout": target(m),
        "reason": spec.reason,
        "owner": spec.owner,
        "runbook": spec.runbook,
        "gates": gates,
        "revisions": {"rolledBack": spec.from_revision, "restored": spec.to_revision},
        "images": spec.images,
        "configChanges": spec.config_changes,
        "stage": {"index": spec.stage.index, "weight": spec.stage.weight},
        "exposure": {
            "weight": spec.exposure.weight,
            "canaryPods": spec.exposure.canary_pods,
            "since": spec.exposure.since.to_string(),
            "seconds": spec.exposure.seconds,
        },
        "detectedAt": spec.detected_at.to_string(),
        "state": facts.state,
        "severity": severity_key(current_severity(m)),
        "stableHealthy": facts.stable_healthy,
        "rollbackStartedAt": facts.rollback_started_at.map(|t| t.to_string()),
        "rollbackCompletedAt": facts.rollback_completed_at.map(|t| t.to_string()),
        "occurrences": facts.occurrences.max(1),
        "dedupKey": spec.dedup_key,
    })
}

/// `2026-01-01 00:01:00 UTC`.
pub(super) fn when(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

//! What every destination says about an incident, in plain words and values; each destination
//! file only arranges these into its own schema.

use jiff::Timestamp;
use serde_json::{Value, json};

use super::{ChannelError, Destination};
use crate::api::{FailedGate, Incident, MessageKind, Severity};

pub(super) const SOURCE: &str = "rollgate";

pub(super) fn namespace(incident: &Incident) -> &str {
    incident.metadata.namespace.as_deref().unwrap_or("")
}

pub(super) fn rollout(incident: &Incident) -> &str {
    &incident.spec.rollout_ref.name
}

/// `namespace/rollout`: where it happened.
pub(super) fn target(incident: &Incident) -> String {
    match namespace(incident) {
        "" => rollout(incident).to_owned(),
        ns => format!("{ns}/{}", rollout(incident)),
    }
}

/// The incident's severity now (the spec's, or the raised one in status).
pub(super) fn current_severity(incident: &Incident) -> Severity {
    incident
        .status
        .as_ref()
        .and_then(|s| s.severity)
        .unwrap_or(incident.spec.severity)
}

/// The severity a message announces: a trigger the original, an escalation the raised one.
pub(super) fn severity_for(incident: &Incident, message: MessageKind) -> Severity {
    match message {
        MessageKind::Trigger => incident.spec.severity,
        _ => current_severity(incident),
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
pub(super) fn truncate(s: &str, max: usize) -> String {
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
    format!("{} = {value} ({})", g.name, facts.join("; "))
}

/// `seconds` as `1h 2m 3s`.
pub(super) fn duration(seconds: i64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(seconds.max(0) as u64)).to_string()
}

/// Runbook then graph links, as (text, URL).
pub(super) fn links(incident: &Incident) -> Vec<(String, String)> {
    let mut links = vec![];
    if let Some(runbook) = &incident.spec.runbook {
        links.push(("Runbook".to_owned(), runbook.clone()));
    }
    for g in &incident.spec.failed_gates {
        if let Some(url) = &g.graph_url {
            links.push((format!("Graph: {}", g.name), url.clone()));
        }
    }
    links
}

pub(super) fn who(by: &Option<String>) -> &str {
    by.as_deref().unwrap_or(SOURCE)
}

/// One line per message kind, for titles and fallbacks.
pub(super) fn headline(incident: &Incident, message: MessageKind) -> String {
    let spec = &incident.spec;
    match message {
        MessageKind::Trigger => spec.title.clone(),
        MessageKind::Escalate => format!("Escalated: {}", spec.title),
        MessageKind::Acknowledge => format!(
            "Acknowledged by {}: {}",
            who(&spec.acknowledged_by),
            spec.title
        ),
        MessageKind::Resolve => format!("Resolved by {}: {}", who(&spec.resolved_by), spec.title),
    }
}

/// Why an escalation was raised, in words (the rollback did not bring health back).
pub(super) const ESCALATION_NOTE: &str =
    "The stable revision is unhealthy after the rollback; severity raised.";

/// `true`/`false`/`null` as words.
pub(super) fn stable_health(incident: &Incident) -> &'static str {
    match incident.status.as_ref().and_then(|s| s.stable_healthy) {
        Some(true) => "healthy",
        Some(false) => "unhealthy",
        None => "not verified yet",
    }
}

/// The structured facts every alerting destination carries (PagerDuty custom_details, the
/// webhook's status summary). Timestamps in RFC 3339.
pub(super) fn details(incident: &Incident) -> Value {
    let spec = &incident.spec;
    let status = incident.status.clone().unwrap_or_default();
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
        "rollout": target(incident),
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
        "state": status.state,
        "severity": severity_key(current_severity(incident)),
        "stableHealthy": status.stable_healthy,
        "rollbackStartedAt": status.rollback_started_at.map(|t| t.to_string()),
        "rollbackCompletedAt": status.rollback_completed_at.map(|t| t.to_string()),
        "occurrences": status.occurrences.len().max(1),
        "dedupKey": spec.dedup_key,
    })
}

/// `2026-01-01 00:01:00 UTC`.
pub(super) fn when(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

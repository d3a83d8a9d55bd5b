//! Drafting an Incident from a rollback: the evidence an on-call needs, from plain values.

use jiff::Timestamp;

use crate::api::{
    ExposureRecord, FailedGate, ImageChange, IncidentSpec, LocalObjectRef, RollbackRecord,
    Severity, StageAtFailure,
};
use crate::plan::truncate;

/// Everything the draft is made from.
pub struct Facts<'a> {
    pub namespace: &'a str,
    pub rollout: &'a str,
    pub rollback: &'a RollbackRecord,
    pub stable_revision: &'a str,
    pub exposure_since: Option<Timestamp>,
    pub canary_pods: i32,
    pub images: Vec<ImageChange>,
    pub severity: Severity,
    pub owner: Option<String>,
    pub runbook: Option<String>,
    pub channels: Vec<String>,
    /// Base URL of the Prometheus the gates asked, for graph links.
    pub prometheus_url: Option<&'a str>,
}

/// The Incident's name: one per (rollout, canary revision).
pub fn name(rollout: &str, revision: &str) -> String {
    let mut n = format!("{rollout}-{revision}");
    n.truncate(253);
    n
}

pub fn dedup_key(namespace: &str, rollout: &str, revision: &str) -> String {
    format!("rollgate/{namespace}/{rollout}/{revision}")
}

pub fn draft(f: &Facts<'_>) -> IncidentSpec {
    let rb = f.rollback;
    let failed_gates: Vec<FailedGate> = rb
        .gates
        .iter()
        .map(|g| FailedGate {
            name: g.name.clone(),
            query: g.query.clone().unwrap_or_default(),
            value: g.value.filter(|v| v.is_finite()),
            stable_value: g.stable_value.filter(|v| v.is_finite()),
            threshold: g.threshold.clone(),
            verdict: g.verdict.as_str().to_string(),
            evidence: g.evidence.as_ref().map(|e| e.summary.clone()),
            consecutive_failures: g.consecutive_failures,
            graph_url: f
                .prometheus_url
                .zip(g.query.as_deref())
                .map(|(base, q)| graph_url(base, q)),
        })
        .collect();
    let cause = match failed_gates.first() {
        Some(FailedGate {
            name,
            evidence: Some(e),
            ..
        }) => format!("gate {name} failed: {e}"),
        Some(g) => format!(
            "gate {} failed ({}, threshold {})",
            g.name,
            g.value
                .map_or_else(|| g.verdict.clone(), crate::gates::number),
            g.threshold.as_deref().unwrap_or("")
        ),
        None => human_reason(&rb.reason).to_string(),
    };
    let title = truncate(
        &format!(
            "Rolled back {}/{}: {}",
            f.namespace,
            f.rollout,
            cause.trim_end()
        ),
        120,
    );
    let since = f.exposure_since.unwrap_or(rb.at);
    let summary = format!(
        "Released revision {} of Rollout {}/{}; at stage {} ({}% of pods) rollgate rolled back to revision {}. {}",
        rb.revision,
        f.namespace,
        f.rollout,
        rb.stage_index + 1,
        rb.weight,
        f.stable_revision,
        rb.message
    );
    IncidentSpec {
        rollout_ref: LocalObjectRef {
            name: f.rollout.to_string(),
        },
        dedup_key: dedup_key(f.namespace, f.rollout, &rb.revision),
        title,
        summary,
        severity: f.severity,
        owner: f.owner.clone(),
        runbook: f.runbook.clone(),
        reason: rb.reason.clone(),
        from_revision: rb.revision.clone(),
        to_revision: f.stable_revision.to_string(),
        images: f.images.clone(),
        config_changes: vec![],
        stage: StageAtFailure {
            index: rb.stage_index,
            weight: rb.weight,
        },
        exposure: ExposureRecord {
            weight: rb.weight,
            canary_pods: f.canary_pods,
            since,
            seconds: rb.at.duration_since(since).as_secs().max(0),
        },
        failed_gates,
        channels: f.channels.clone(),
        detected_at: rb.at,
        release: None,
        acknowledged_by: None,
        resolved_by: None,
    }
}

fn human_reason(reason: &str) -> &str {
    match reason {
        "Aborted" => "aborted by request",
        "ProgressDeadlineExceeded" => "progress deadline exceeded",
        "GateError" => "Prometheus could not evaluate a gate",
        other => other,
    }
}

/// A link to the Prometheus graph of `query` over the last hour.
pub fn graph_url(base: &str, query: &str) -> String {
    let expr: String = url::form_urlencoded::byte_serialize(query.as_bytes()).collect();
    format!(
        "{}/graph?g0.expr={expr}&g0.tab=0&g0.range_input=1h",
        base.trim_end_matches('/')
    )
}

/// One step more severe (sev1 stays sev1): the rollback did not restore health.
pub fn raised(s: Severity) -> Severity {
    match s {
        Severity::Sev1 | Severity::Sev2 => Severity::Sev1,
        Severity::Sev3 => Severity::Sev2,
        Severity::Sev4 => Severity::Sev3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{GateStatus, Verdict};

    fn rollback() -> RollbackRecord {
        RollbackRecord {
            revision: "91be02".into(),
            reason: "GateFailed".into(),
            message: "gate error-ratio failed 2/2 times".into(),
            at: "2026-01-01T00:10:00Z".parse().unwrap(),
            stage_index: 1,
            weight: 50,
            gates: vec![GateStatus {
                name: "error-ratio".into(),
                revision: Some("91be02".into()),
                verdict: Verdict::Fail,
                value: Some(0.2),
                stable_value: None,
                threshold: Some("<= 0.01".into()),
                query: Some("sum(rate(x{a=\"b\"}[1m]))".into()),
                message: None,
                evidence: None,
                dry_run: false,
                consecutive_failures: 2,
                consecutive_errors: 0,
                recovered_at: None,
                evaluated_at: "2026-01-01T00:10:00Z".parse().unwrap(),
            }],
        }
    }

    #[test]
    fn the_draft_carries_the_evidence() {
        let rb = rollback();
        let spec = draft(&Facts {
            namespace: "shop",
            rollout: "checkout",
            rollback: &rb,
            stable_revision: "7f3c9a",
            exposure_since: Some("2026-01-01T00:05:00Z".parse().unwrap()),
            canary_pods: 5,
            images: vec![],
            severity: Severity::Sev2,
            owner: Some("team-payments".into()),
            runbook: Some("https://runbooks.example/checkout".into()),
            channels: vec!["pd".into()],
            prometheus_url: Some("http://prom:9090/"),
        });
        assert_eq!(spec.dedup_key, "rollgate/shop/checkout/91be02");
        assert!(spec.title.len() <= 120);
        assert!(spec.title.contains("error-ratio"), "{}", spec.title);
        assert_eq!(spec.exposure.seconds, 300);
        assert_eq!(spec.exposure.weight, 50);
        let g = &spec.failed_gates[0];
        assert_eq!(g.threshold.as_deref(), Some("<= 0.01"));
        assert_eq!(
            g.graph_url.as_deref(),
            Some(
                "http://prom:9090/graph?g0.expr=sum%28rate%28x%7Ba%3D%22b%22%7D%5B1m%5D%29%29&g0.tab=0&g0.range_input=1h"
            )
        );
        assert!(spec.summary.contains("7f3c9a") && spec.summary.contains("50%"));
    }

    #[test]
    fn titles_are_cut_to_120_characters() {
        let mut rb = rollback();
        rb.gates[0].name = "g".repeat(200);
        let spec = draft(&Facts {
            namespace: "shop",
            rollout: &"r".repeat(60),
            rollback: &rb,
            stable_revision: "s",
            exposure_since: None,
            canary_pods: 1,
            images: vec![],
            severity: Severity::Sev3,
            owner: None,
            runbook: None,
            channels: vec![],
            prometheus_url: None,
        });
        assert!(spec.title.len() <= 120);
    }

    #[test]
    fn severity_rises_one_step() {
        assert_eq!(raised(Severity::Sev3), Severity::Sev2);
        assert_eq!(raised(Severity::Sev1), Severity::Sev1);
    }
}

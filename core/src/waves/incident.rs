//! The hub Incident of a failed wave: one per release and wave, linking the member Incidents
//! behind it, delivered through the same channels as a Rollout's.

use jiff::Timestamp;

use crate::api::{
    ExposureRecord, IncidentSpec, LocalObjectRef, MemberIncident, MemberState, Release,
    ReleaseIncident, ReleaseStatus, StageAtFailure,
};
use crate::plan::truncate;

/// The hub Incident of wave `wave` (its index in status), from the decided status.
pub fn draft(
    release: &Release,
    status: &ReleaseStatus,
    wave: usize,
    channels: Vec<String>,
    now: Timestamp,
) -> IncidentSpec {
    let name = kube::ResourceExt::name_any(release);
    let spec = &release.spec;
    let w = &status.waves[wave];
    let failed: Vec<MemberIncident> = w
        .members
        .iter()
        .filter(|m| m.state == MemberState::Failed || m.incident.is_some())
        .map(|m| MemberIncident {
            cluster: m.cluster.clone(),
            namespace: spec.rollout.namespace.clone(),
            name: m.incident.clone(),
            message: m.message.clone().unwrap_or_default(),
        })
        .collect();
    let clusters: Vec<&str> = failed.iter().map(|m| m.cluster.as_str()).collect();
    let why = w.message.clone().unwrap_or_default();
    let images: Vec<String> = spec
        .template
        .containers
        .iter()
        .map(|c| format!("{}={}", c.name, c.image))
        .collect();
    let settings = spec.incident.clone().unwrap_or_default();
    let revision = w
        .members
        .iter()
        .find_map(|m| m.revision.clone())
        .unwrap_or_default();
    let detected = w.finished_at.unwrap_or(now);
    IncidentSpec {
        rollout_ref: LocalObjectRef {
            name: spec.rollout.name.clone(),
        },
        dedup_key: format!(
            "rollgate/release/{}/{name}/{}",
            release.metadata.namespace.clone().unwrap_or_default(),
            w.name
        ),
        title: truncate(
            &format!(
                "Release {name} stopped at wave {}: {}",
                w.name,
                clusters.join(", ")
            ),
            120,
        ),
        summary: format!(
            "Release {name} ({}) of Rollout {}/{} failed in wave {} ({why}); later waves never receive it; on failure: {}.",
            images.join(", "),
            spec.rollout.namespace,
            spec.rollout.name,
            w.name,
            spec.waves[wave].on_failure.as_str(),
        ),
        severity: settings.severity.unwrap_or_default(),
        owner: settings.owner,
        runbook: settings.runbook,
        reason: "WaveFailed".into(),
        from_revision: revision,
        to_revision: "previous".into(),
        images: vec![],
        config_changes: vec![],
        stage: StageAtFailure {
            index: wave as i32,
            weight: 0,
        },
        exposure: ExposureRecord {
            weight: 0,
            canary_pods: 0,
            since: w.started_at.unwrap_or(detected),
            seconds: w
                .started_at
                .map_or(0, |s| detected.duration_since(s).as_secs().max(0)),
        },
        failed_gates: vec![],
        channels,
        detected_at: detected,
        release: Some(ReleaseIncident {
            name,
            wave: w.name.clone(),
            members: failed,
        }),
        acknowledged_by: None,
        resolved_by: None,
    }
}

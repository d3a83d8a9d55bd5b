//! The two tracks, whatever the workload kind: their names, the template a revision is
//! computed from, and which of them serve.

use k8s_openapi::api::core::v1::PodTemplateSpec;

/// Field manager for every server-side apply rollgate makes.
pub const FIELD_MANAGER: &str = "rollgate";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    Stable,
    Canary,
}

impl TrackKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TrackKind::Stable => "stable",
            TrackKind::Canary => "canary",
        }
    }
}

/// `<target>-stable` or `<target>-canary`.
pub fn track_name(target: &str, kind: TrackKind) -> String {
    format!("{target}-{}", kind.as_str())
}

/// A pod template without rollgate's own labels: what the revision is computed from.
pub fn clean_template(t: &PodTemplateSpec) -> PodTemplateSpec {
    let mut t = t.clone();
    if let Some(labels) = t.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(crate::api::keys::TRACK);
        labels.remove(crate::api::keys::REVISION);
    }
    t
}

/// The tracks serving `target` now, as status tells it: stable once adopted, the canary while
/// it holds a share. Empty while adopting (the target still serves by itself). One reading for
/// the target's `rollgate.dev/served-by` annotation and `rollgate status`.
pub fn serving(target: &str, status: &crate::api::RolloutStatus) -> Vec<String> {
    use crate::api::Phase;
    let mut tracks = Vec::new();
    if status.stable_revision.is_none() || status.phase == Phase::Pending {
        return tracks;
    }
    tracks.push(track_name(target, TrackKind::Stable));
    let canary_serves = matches!(status.phase, Phase::Progressing | Phase::Paused)
        && status.exposure.as_ref().is_some_and(|e| e.canary_pods > 0);
    if canary_serves {
        tracks.push(track_name(target, TrackKind::Canary));
    }
    tracks
}

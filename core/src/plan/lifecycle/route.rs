//! Which way a pass goes, from plain values. The walk follows it, and so does [`super::due`]:
//! the gates asked of Prometheus before a decision are the gates that decision reads.

use crate::api::{FrozenBy, Phase, RolloutStatus};
use crate::plan::{Observed, Request, Spec, Verb};
use crate::traffic::Share;

/// Where a serving rollout goes this pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Way {
    RollingBack,
    /// The rolled-back revision is still the target's: hold, watch stable.
    RolledBack,
    /// No canary is wanted: stable serves the desired revision.
    Settle,
    /// Preflight stopped this revision, and neither the spec nor a retry has changed that.
    Stopped,
    /// The canary in flight goes on.
    Progress {
        canary: String,
    },
    /// A new revision waits for a pause or freeze to end.
    Paused,
    /// A new revision waits for a canary slot.
    Queued,
    /// A new revision's canary starts now.
    Start,
}

pub(super) struct Route {
    /// Preflight stopped this revision, and the spec changed or a retry came: it starts over.
    pub again: bool,
    pub way: Way,
}

/// `st` is the status as the pass found it after requests, freezes and adoption.
pub(super) fn route(
    st: &RolloutStatus,
    stable: &str,
    desired: &str,
    retry: bool,
    paused: bool,
    admitted: bool,
    generation: i64,
) -> Route {
    let way = |way| Route { again: false, way };
    if st.phase == Phase::RollingBack {
        return way(Way::RollingBack);
    }
    if st.phase == Phase::RolledBack
        && desired != stable
        && st.canary_revision.as_deref() == Some(desired)
        && !retry
    {
        return way(Way::RolledBack);
    }
    if desired == stable {
        return way(Way::Settle);
    }
    let stopped = st.phase == Phase::Invalid
        && st
            .preflight
            .as_ref()
            .is_some_and(|p| p.revision == desired && !p.errors.is_empty());
    if stopped && st.observed_generation == Some(generation) && !retry {
        return way(Way::Stopped);
    }
    // Starting over, the rollout is progressing again.
    let phase = if stopped {
        Phase::Progressing
    } else {
        st.phase
    };
    // Invalid keeps the canary in flight: a spec fixed (or a cache caught up) resumes where it
    // was instead of starting over.
    let in_flight = st.canary_revision.as_deref().filter(|c| {
        matches!(phase, Phase::Progressing | Phase::Paused | Phase::Invalid) && *c != stable
    });
    let next = match in_flight {
        Some(c) if c == desired || paused => Way::Progress {
            canary: c.to_string(),
        },
        _ if paused => Way::Paused,
        _ if !admitted => Way::Queued,
        _ => Way::Start,
    };
    Route {
        again: stopped,
        way: next,
    }
}

/// The request, unless it was handled before.
pub(super) fn new_request<'a>(st: &RolloutStatus, r: Option<&'a Request>) -> Option<&'a Request> {
    r.filter(|r| st.last_request_id.as_deref() != Some(r.id.as_str()))
}

/// Whether a pause request holds the rollout after `request`.
pub(super) fn paused_by_request(st: &RolloutStatus, request: Option<Verb>) -> bool {
    match request {
        Some(Verb::Pause) => true,
        Some(Verb::Resume) => false,
        _ => st.paused_by_request,
    }
}

/// Transitions are held: `spec.paused`, a pause request, or a freeze.
pub(super) fn held(spec: &Spec, st: &RolloutStatus, freeze: Option<&FrozenBy>) -> bool {
    spec.paused || st.paused_by_request || freeze.is_some()
}

/// Why the stable track is not the recorded revision as rollgate wrote it, if so.
pub(super) fn drift_of(st: &RolloutStatus, obs: &Observed, recorded: &str) -> Option<String> {
    // Right after a promotion the track switches to the promoted revision: expected.
    let promoting = st.canary_revision.as_deref() == Some(recorded)
        && matches!(st.phase, Phase::Progressing | Phase::Paused);
    match &obs.stable {
        Some(t) if t.revision == recorded => t.drift.clone(),
        Some(_) if promoting => None,
        Some(t) => Some(format!(
            "the stable track runs revision {} instead of the verified {recorded}",
            t.revision
        )),
        None => Some("the stable track was deleted".to_string()),
    }
}

/// Whether rollgate keeps a copy of `recorded`'s template to restore a track from.
pub(super) fn restorable(obs: &Observed, recorded: &str) -> bool {
    obs.kept.iter().any(|k| k == recorded)
}

/// Every gate answered against stable for `canary`, before any exposure.
pub(super) fn preflight_complete(st: &RolloutStatus, canary: &str) -> bool {
    st.preflight
        .as_ref()
        .is_some_and(|p| p.revision == canary && p.errors.is_empty() && p.waiting_since.is_none())
}

/// The share a stage asks the router for.
pub(super) fn stage_share(spec: &Spec, stage: usize) -> Share {
    let s = &spec.stages[stage];
    Share {
        weight: s.weight,
        header: s.header.clone(),
    }
}

/// A stage's canary as observed: the pods its weight needs, how many of them are ready, and
/// whether the router carries the weight. One reading for the walk and for `due`.
pub(super) struct StagePods {
    pub target: i32,
    pub ready: i32,
    pub routed: bool,
}

impl StagePods {
    pub fn of(spec: &Spec, share: &Share, canary: &str, obs: &Observed) -> Self {
        let target = spec.router.canary_pods(spec.replicas, share.weight);
        let ready = obs
            .canary
            .as_ref()
            .filter(|c| c.revision == canary)
            .map_or(0, |c| c.ready.min(target));
        StagePods {
            target,
            ready,
            routed: spec.router.carries(share, obs.routed.as_ref()),
        }
    }

    /// Every pod is ready: the router may send the stage's share.
    pub fn ready(&self) -> bool {
        self.ready >= self.target
    }

    /// The stage's share reaches the canary: gates may judge it.
    pub fn exposed(&self) -> bool {
        self.ready() && self.routed
    }
}

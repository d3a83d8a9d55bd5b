//! Which gate evaluations a decision will read, asked before it is made: the controller
//! evaluates exactly these, then [`decide`](super::decide) runs once with the readings.
//!
//! It follows the walk's own route ([`super::route`]) and gate timing ([`tally::is_due`]), so
//! it names the evaluations the walk would ask for. Should it ever miss one, the decision
//! holds rather than guesses (a missing reading is never a pass), lists it in
//! [`Decision::wants`](crate::plan::Decision::wants), and looks again at once.

use super::route::{
    StagePods, Way, drift_of, held, new_request, paused_by_request, preflight_complete, restorable,
    route, stage_share,
};
use super::tally::{self, Due, Purpose};
use super::{Input, Spec, Verb};
use crate::api::{GateStatus, Phase, RolloutStatus};

/// The gate evaluations the decision for `input` will read (its readings are ignored).
pub fn due(input: &Input<'_>) -> Vec<Due> {
    let Ok(spec) = input.spec else {
        return vec![];
    };
    if spec.gates.is_empty() {
        return vec![];
    }
    let mut st = input.status.clone();
    let request = new_request(&st, input.request).map(|r| r.action);
    st.paused_by_request = paused_by_request(&st, request);
    let paused = held(spec, &st, input.freeze);
    let obs = input.observed;
    let stable = match st.stable_revision.clone() {
        Some(recorded) => {
            if drift_of(&st, obs, &recorded).is_some() && !restorable(obs, &recorded) {
                // Nothing verified to restore: the walk changes nothing and reads no gate.
                return vec![];
            }
            recorded
        }
        // Adoption: the running release becomes stable once its pods are ready.
        None => match &obs.stable {
            Some(s) if s.ready >= spec.replicas => {
                st.phase = Phase::Healthy;
                s.revision.clone()
            }
            _ => return vec![],
        },
    };
    let desired = obs.desired_revision.as_str();
    let retry = request == Some(Verb::Retry);
    let route = route(
        &st,
        &stable,
        desired,
        retry,
        paused,
        input.admitted,
        input.generation,
    );
    if route.again {
        st.preflight = None;
    }
    let canary = match route.way {
        Way::RollingBack | Way::RolledBack | Way::Settle => {
            return verification(spec, &st, &stable, input);
        }
        Way::Stopped | Way::Paused | Way::Queued => return vec![],
        Way::Progress { canary } => canary,
        Way::Start => {
            // A new canary starts with no stage and no gate history.
            if st
                .preflight
                .as_ref()
                .is_some_and(|p| p.revision != desired || retry)
            {
                st.preflight = None;
            }
            st.stage = None;
            st.gates.clear();
            desired.to_string()
        }
    };
    let aborting = request == Some(Verb::Abort) || input.freeze.is_some_and(|f| f.abort);
    if aborting {
        return vec![];
    }
    // A preflight that passes with these readings goes on into the first stage in the same
    // pass, so the stage's gates are asked too when its pods are already ready.
    let mut due: Vec<Due> = if preflight_complete(&st, &canary) {
        vec![]
    } else {
        (0..spec.gates.len())
            .map(|gate| Due {
                gate,
                purpose: Purpose::Preflight,
                revision: stable.clone(),
            })
            .collect()
    };
    if let Some(stage) = watching(spec, &st, &canary, request, paused, input) {
        due.extend(timely(
            spec.stage_gates(stage),
            &st.gates,
            Purpose::Stage,
            &canary,
            input,
        ));
    }
    due
}

/// The stage the walk reaches, if it watches the canary: its pods for the stage are ready.
fn watching(
    spec: &Spec,
    st: &RolloutStatus,
    canary: &str,
    request: Option<Verb>,
    paused: bool,
    input: &Input<'_>,
) -> Option<usize> {
    let last = spec.stages.len() - 1;
    let (index, ready_at) = match &st.stage {
        Some(s) => (s.index as usize, s.ready_at),
        None if paused => return None,
        None => (0, None),
    };
    let index = match request {
        Some(Verb::PromoteFull) if index < last && !paused => last,
        _ => index,
    };
    let already = ready_at.is_some() && index == st.stage.as_ref().map_or(0, |s| s.index as usize);
    (already || ready_now(spec, index, canary, input)).then_some(index)
}

fn ready_now(spec: &Spec, stage: usize, canary: &str, input: &Input<'_>) -> bool {
    StagePods::of(spec, &stage_share(spec, stage), canary, input.observed).exposed()
}

/// After a rollback, stable's absolute gates until the verification window ends.
fn verification(spec: &Spec, st: &RolloutStatus, stable: &str, input: &Input<'_>) -> Vec<Due> {
    let Some(v) = &st.verification else {
        return vec![];
    };
    if input.now >= v.until || v.revision != stable {
        return vec![];
    }
    let absolute = spec
        .gates
        .iter()
        .enumerate()
        .filter(|(_, g)| !g.is_comparison());
    timely(absolute, &st.gates, Purpose::Verification, stable, input)
}

/// The gates whose interval has run out for `revision`.
fn timely<'g>(
    specs: impl Iterator<Item = (usize, &'g crate::plan::GateSpec)>,
    statuses: &[GateStatus],
    purpose: Purpose,
    revision: &str,
    input: &Input<'_>,
) -> Vec<Due> {
    specs
        .filter(|(_, g)| {
            let prev = statuses.iter().find(|s| s.name == g.name());
            tally::is_due(g, prev, revision, input.now)
        })
        .map(|(gate, _)| Due {
            gate,
            purpose,
            revision: revision.to_string(),
        })
        .collect()
}

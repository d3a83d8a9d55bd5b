//! What `rollgate status` shows, computed from a Rollout and the current time alone (no
//! client, no clock), so every line of it is a plain table test.

mod render;
mod rows;
#[cfg(test)]
mod tests;

use jiff::Timestamp;
use kube::ResourceExt;
use serde::Serialize;

use crate::api::{
    ConfigChange, FrozenBy, Gate, Phase, Rollout, RolloutStatus, StageStatus, Verdict,
};
use crate::plan::spec::{DEFAULT_ERROR_LIMIT, DEFAULT_FAILURE_LIMIT};

pub use render::render;
pub use rows::{IncidentRow, RolloutRow, incident_rows, rollout_rows};

/// How many phase transitions the view keeps (the newest).
pub const HISTORY_SHOWN: usize = 5;

/// One rollout as a person (or a script, with `-o json`) wants to see it.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutView {
    pub name: String,
    pub namespace: String,
    pub phase: Phase,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// `spec.paused` or a pause request.
    pub paused: bool,
    /// The Freeze holding this rollout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frozen: Option<FrozenBy>,
    /// How long this rollout has waited for a canary slot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queued_seconds: Option<i64>,
    /// ConfigMaps and Secrets whose content differs between stable and canary (key names).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub config_changes: Vec<ConfigChange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_revision: Option<String>,
    /// The canary revision as the CANARY column shows it: none once it is stable.
    #[serde(skip)]
    pub canary_shown: Option<String>,
    /// Share of the workload on the canary now, in percent.
    pub weight: i32,
    /// Canary pods counted in that share now (after a rollback: 0; the rollback keeps the
    /// count at failure).
    pub canary_pods: i32,
    pub replicas: i32,
    /// The user's Deployment (held at 0 replicas once the tracks serve).
    pub target: String,
    /// The Deployments serving the target now (`app-stable`, `app-canary`); empty while
    /// adopting.
    pub served_by: Vec<String>,
    pub stages: Vec<StageView>,
    pub gates: Vec<GateView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
    /// Why the last rollback happened (while rolling back or rolled back).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackView>,
    /// After a rollback: whether stable, watched by the gates, is healthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerificationView>,
    /// The newest transitions, oldest first.
    pub history: Vec<HistoryView>,
    /// False while the controller has not yet seen the latest spec.
    pub observed: bool,
}

#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageState {
    Done,
    Current,
    Failed,
    Pending,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StageView {
    /// 1-based, as people count.
    pub number: usize,
    pub weight: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bake: Option<String>,
    pub manual: bool,
    pub state: StageState,
    /// For the current stage: what it waits for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bake_left_seconds: Option<i64>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GateView {
    pub name: String,
    /// None until the gate was first evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_value: Option<f64>,
    /// The bound as last judged, or as the spec states it before any evaluation.
    pub threshold: String,
    pub consecutive_failures: i32,
    pub failure_limit: u32,
    pub consecutive_errors: i32,
    pub error_limit: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluated_seconds_ago: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The last evaluation measured stable after a rollback: its failures count toward no
    /// limit (they say whether stable is healthy).
    pub measures_stable: bool,
    /// Recorded and shown, never acting.
    pub dry_run: bool,
    /// A statistical judge's evidence, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RollbackView {
    pub revision: String,
    pub reason: String,
    pub message: String,
    pub seconds_ago: i64,
    /// 1-based stage, of how many, and the weight and canary pods when the decision was made.
    pub stage: usize,
    pub stages: usize,
    pub weight: i32,
    pub canary_pods: i32,
    /// How long the canary had a share when the decision was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exposed_seconds: Option<i64>,
    /// The failing gates as they stood at the decision.
    pub gates: Vec<GateView>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VerificationView {
    pub revision: String,
    /// None until a verdict on stable is in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stable_healthy: Option<bool>,
    pub seconds_left: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HistoryView {
    pub at: Timestamp,
    pub seconds_ago: i64,
    pub from: Phase,
    pub to: Phase,
    pub reason: String,
    pub message: String,
}

/// Phases a rollout stays in until something new happens.
pub fn is_settled(phase: Phase) -> bool {
    matches!(phase, Phase::Healthy | Phase::RolledBack | Phase::Invalid)
}

impl RolloutView {
    pub fn new(rollout: &Rollout, now: Timestamp) -> RolloutView {
        let empty = RolloutStatus::default();
        let status = rollout.status.as_ref().unwrap_or(&empty);
        let spec = &rollout.spec;
        let exposure = status.exposure.as_ref();
        let paused = spec.paused || status.paused_by_request;
        let stages = stage_views(rollout, status, paused, now);
        let gates = spec
            .gates
            .iter()
            .map(|g| gate_view(g, status, now))
            .collect();
        let rollback = rollback_view(rollout, status, now);
        let skip = status.history.len().saturating_sub(HISTORY_SHOWN);
        let history = status.history[skip..]
            .iter()
            .map(|t| HistoryView {
                at: t.at,
                seconds_ago: seconds_between(t.at, now),
                from: t.from,
                to: t.to,
                reason: t.reason.clone(),
                message: t.message.clone(),
            })
            .collect();
        RolloutView {
            name: rollout.name_any(),
            namespace: rollout.namespace().unwrap_or_default(),
            phase: status.phase,
            message: status.message.clone(),
            paused,
            frozen: status.frozen.clone(),
            queued_seconds: status
                .queued_since
                .filter(|_| status.phase == Phase::Queued)
                .map(|t| seconds_between(t, now)),
            config_changes: status.config_changes.clone(),
            stable_revision: status.stable_revision.clone(),
            canary_revision: status.canary_revision.clone(),
            canary_shown: Some(status.columns_for(spec.stages.len()).canary).filter(|c| c != "-"),
            weight: exposure.map_or(0, |e| e.weight),
            // After a rollback the recorded count is the exposure at failure, not now.
            canary_pods: exposure
                .filter(|_| rollback.is_none())
                .map_or(0, |e| e.canary_pods),
            replicas: spec.replicas,
            target: spec.target_ref.name.clone(),
            served_by: crate::workload::serving(&spec.target_ref.name, status),
            stages,
            gates,
            incident: status.incident_ref.as_ref().map(|r| r.name.clone()),
            rollback,
            verification: status.verification.as_ref().map(|v| VerificationView {
                revision: v.revision.clone(),
                stable_healthy: v.stable_healthy,
                seconds_left: seconds_between(now, v.until).max(0),
                message: v.message.clone(),
            }),
            history,
            observed: status.observed_generation.is_some()
                && status.observed_generation == rollout.metadata.generation,
        }
    }
}

fn rollback_view(
    rollout: &Rollout,
    status: &RolloutStatus,
    now: Timestamp,
) -> Option<RollbackView> {
    if !matches!(status.phase, Phase::RollingBack | Phase::RolledBack) {
        return None;
    }
    let r = status.rollback.as_ref()?;
    let at_decision = RolloutStatus {
        gates: r.gates.clone(),
        ..RolloutStatus::default()
    };
    Some(RollbackView {
        revision: r.revision.clone(),
        reason: r.reason.clone(),
        message: r.message.clone(),
        seconds_ago: seconds_between(r.at, now),
        stage: r.stage_index as usize + 1,
        stages: rollout.spec.stages.len(),
        weight: r.weight,
        canary_pods: status.exposure.as_ref().map_or(0, |e| e.canary_pods),
        exposed_seconds: status
            .exposure
            .as_ref()
            .map(|e| seconds_between(e.since, r.at)),
        gates: rollout
            .spec
            .gates
            .iter()
            .filter(|g| r.gates.iter().any(|f| f.name == g.name))
            .map(|g| gate_view(g, &at_decision, now))
            .collect(),
    })
}

fn seconds_between(then: Timestamp, now: Timestamp) -> i64 {
    now.as_second() - then.as_second()
}

fn stage_views(
    rollout: &Rollout,
    status: &RolloutStatus,
    paused: bool,
    now: Timestamp,
) -> Vec<StageView> {
    let current = match status.phase {
        Phase::Progressing | Phase::Paused => status.stage.as_ref(),
        _ => None,
    };
    let failed = match status.phase {
        Phase::RollingBack | Phase::RolledBack => {
            status.rollback.as_ref().map(|r| r.stage_index as usize)
        }
        _ => None,
    };
    rollout
        .spec
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let manual = s.approval.is_some();
            let mut view = StageView {
                number: i + 1,
                weight: s.weight,
                bake: s.bake.clone(),
                manual,
                state: StageState::Pending,
                waiting: None,
                bake_left_seconds: None,
            };
            // Healthy after a promotion; a rollout that only adopted its target has no stages
            // behind it yet.
            if status.phase == Phase::Healthy && status.canary_revision.is_some() {
                view.state = StageState::Done;
            } else if let Some(f) = failed {
                view.state = match i.cmp(&f) {
                    std::cmp::Ordering::Less => StageState::Done,
                    std::cmp::Ordering::Equal => StageState::Failed,
                    std::cmp::Ordering::Greater => StageState::Pending,
                };
            } else if let Some(stage) = current {
                let index = stage.index as usize;
                if i < index {
                    view.state = StageState::Done;
                } else if i == index {
                    view.state = StageState::Current;
                    let left = stage.bake_until.map(|b| seconds_between(now, b).max(0));
                    view.bake_left_seconds = left;
                    // The gates the stage waits for, named (their reasons are in the message and
                    // the gate table).
                    let holding: Vec<&str> = rollout
                        .spec
                        .gates
                        .iter()
                        .filter(|g| {
                            status.gates.iter().all(|s| {
                                s.name != g.name
                                    || s.verdict != Verdict::Pass
                                    || stage.ready_at.is_some_and(|r| s.evaluated_at < r)
                            })
                        })
                        .map(|g| g.name.as_str())
                        .collect();
                    let held = Held {
                        paused,
                        frozen: status.frozen.as_ref().map(|f| f.name.as_str()),
                        gates: &holding,
                    };
                    view.waiting = Some(waiting(stage, manual, held, left, &rollout.name_any()));
                }
            }
            view
        })
        .collect()
}

/// What holds every transition: a pause, a Freeze.
#[derive(Clone, Copy)]
struct Held<'a> {
    paused: bool,
    frozen: Option<&'a str>,
    /// Gates not passing since the stage's pods were ready.
    gates: &'a [&'a str],
}

/// What the current stage waits for, in the order the controller checks it.
fn waiting(
    stage: &StageStatus,
    manual: bool,
    held: Held<'_>,
    bake_left: Option<i64>,
    name: &str,
) -> String {
    if let Some(freeze) = held.frozen {
        return format!("frozen (Freeze {freeze})");
    }
    if held.paused {
        return format!("paused (rollgate resume {name})");
    }
    if stage.ready_at.is_none() {
        return "waiting for canary pods".into();
    }
    if let Some(left) = bake_left.filter(|l| *l > 0) {
        return format!("baking, {} left", super::table::countdown(left));
    }
    if manual && !stage.approved {
        return format!("waiting for approval (rollgate promote {name})");
    }
    if held.gates.is_empty() {
        return "waiting for every gate to pass".into();
    }
    format!("waiting for gates: {}", held.gates.join(", "))
}

fn gate_view(gate: &Gate, status: &RolloutStatus, now: Timestamp) -> GateView {
    let last = status.gates.iter().find(|s| s.name == gate.name);
    GateView {
        name: gate.name.clone(),
        verdict: last.map(|s| s.verdict),
        value: last.and_then(|s| s.value),
        stable_value: last.and_then(|s| s.stable_value),
        threshold: last
            .and_then(|s| s.threshold.clone())
            .unwrap_or_else(|| spec_threshold(gate)),
        consecutive_failures: last.map_or(0, |s| s.consecutive_failures),
        failure_limit: gate
            .failure_limit
            .map_or(DEFAULT_FAILURE_LIMIT, |n| n.max(1) as u32),
        consecutive_errors: last.map_or(0, |s| s.consecutive_errors),
        error_limit: gate
            .error_limit
            .map_or(DEFAULT_ERROR_LIMIT, |n| n.max(1) as u32),
        evaluated_seconds_ago: last.map(|s| seconds_between(s.evaluated_at, now)),
        message: last.and_then(|s| s.message.clone()),
        measures_stable: last.is_some_and(|s| {
            s.revision.is_some()
                && s.revision == status.verification.as_ref().map(|v| v.revision.clone())
        }),
        dry_run: gate.dry_run,
        evidence: last.and_then(|s| s.evidence.as_ref().map(|e| e.summary.clone())),
    }
}

/// The bounds as the spec states them: `>= 0.9, <= 1`, `<= stable + 20%`.
pub fn spec_threshold(gate: &Gate) -> String {
    let mut parts = Vec::new();
    if let Some(min) = gate.min {
        parts.push(format!(">= {}", number(min)));
    }
    if let Some(max) = gate.max {
        parts.push(format!("<= {}", number(max)));
    }
    if let Some(c) = &gate.compare {
        parts.push(format!("<= stable + {}", c.max_increase));
    }
    if let Some(s) = &gate.sequential {
        parts.push(format!(
            "canary errors at most {} stable (α {})",
            s.tolerance
                .as_deref()
                .map_or("1×".into(), |t| format!("+{t}")),
            number(s.alpha.unwrap_or(crate::gates::DEFAULT_ALPHA))
        ));
    }
    if gate.alert.is_some() {
        parts.push("no firing alert".into());
    }
    parts.join(", ")
}

/// A measured value as every message writes it (one rounding across the CLI, Events and
/// incidents; status keeps the exact value).
pub use crate::gates::number;

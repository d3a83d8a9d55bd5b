//! The hub's pure planner for a [`Release`]: from the spec, the member clusters, what is seen
//! of each member now, the status on record and the time, the next status and the side effects
//! (applies, restores, the hub incident). No I/O and no clock, like [`crate::plan`].
//!
//! Durability is the status: the controller writes the decided status *before* it acts, and
//! folds each action's outcome back in with [`applied`], [`restored`] and [`incident_opened`]. An
//! action is asked for only while its outcome is not on record, so a hub killed between a
//! write and its record repeats at most that one idempotent write (a server-side apply of the
//! same images, a create that finds the Incident), never a wave.

/// Test data shared with the controller crate's tests (feature `fixture`).
#[cfg(any(test, feature = "fixture"))]
pub mod fixture;
pub mod incident;
mod member;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;

use crate::api::{
    ContainerImage, FrozenBy, LocalObjectRef, MemberState, MemberStatus, ObservedTarget, OnFailure,
    Phase, Release, ReleaseColumns, ReleasePhase, ReleaseSpec, ReleaseStatus, WaveApproval,
    WavePhase, WaveStatus,
};
use crate::plan::{Request, SpecError, Verb};

/// A wave's timeout when the spec names none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(3600);

/// A member cluster: its Secret's name and labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    pub name: String,
    pub labels: BTreeMap<String, String>,
}

/// What the hub sees of a member now.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// Its API server did not answer (or refused the hub's credential): why.
    Unreachable(String),
    Seen(Member),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    /// The target's container images now.
    pub images: Vec<ContainerImage>,
    /// The Rollout there; `None` when it does not exist.
    pub rollout: Option<MemberRollout>,
}

/// A member's Rollout status, in plain values.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberRollout {
    pub phase: Phase,
    /// The target generation (and its revision) the member's controller last observed.
    pub target: Option<ObservedTarget>,
    pub stable_revision: Option<String>,
    /// The revision of the last rollback there.
    pub rolled_back_revision: Option<String>,
    /// Its Incident of that rollback.
    pub incident: Option<String>,
    pub stage: Option<String>,
    pub gates: Option<String>,
}

pub struct Input<'a> {
    pub release: &'a Release,
    pub clusters: &'a [Cluster],
    /// By cluster name; a cluster missing here was not looked at.
    pub observations: &'a BTreeMap<String, Observation>,
    pub request: Option<&'a Request>,
    pub freeze: Option<&'a FrozenBy>,
    pub now: Timestamp,
}

/// A side effect the controller carries out after writing the decided status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Server-side apply of the release's images to the member's target.
    Apply {
        cluster: String,
        images: Vec<ContainerImage>,
    },
    /// Server-side apply of the images the member ran before the release.
    Restore {
        cluster: String,
        images: Vec<ContainerImage>,
    },
    /// Create the hub Incident named in `status.incidentRef` (once per release and wave).
    OpenIncident { wave: usize },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub status: ReleaseStatus,
    pub actions: Vec<Action>,
    /// For people: a wave started, passed or failed, the release's end.
    pub events: Vec<crate::plan::Event>,
    /// When a timer (a bake, a timeout) is due; members are looked at again anyway.
    pub wake_at: Option<Timestamp>,
}

/// A wave's parsed durations and limits.
struct WaveSpec {
    bake: Duration,
    timeout: Duration,
    max_concurrent: usize,
    failures_allowed: usize,
}

/// What the API server cannot check, with the field at fault.
pub fn validate(spec: &ReleaseSpec) -> Result<(), SpecError> {
    for (i, w) in spec.waves.iter().enumerate() {
        wave_spec(spec, i)?;
        if let Some(problem) = crate::workload::selector::problem(&w.selector) {
            return Err(SpecError::new(format!("spec.waves[{i}].selector"), problem));
        }
    }
    crate::api::names::dns_subdomain(&spec.rollout.name)
        .map_err(|e| SpecError::new("spec.rollout.name", e))
}

fn wave_spec(spec: &ReleaseSpec, i: usize) -> Result<WaveSpec, SpecError> {
    let w = &spec.waves[i];
    let duration = |field: &str, v: &Option<String>, default: Duration| match v {
        Some(v) => crate::duration::parse(&format!("spec.waves[{i}].{field}"), v),
        None => Ok(default),
    };
    Ok(WaveSpec {
        bake: duration("bake", &w.bake, Duration::ZERO)?,
        timeout: duration("timeout", &w.timeout, DEFAULT_TIMEOUT)?,
        max_concurrent: w.max_concurrent.map_or(usize::MAX, |n| n.max(1) as usize),
        failures_allowed: w.failures_allowed.unwrap_or(0).max(0) as usize,
    })
}

/// The members of wave `i`: clusters its selector matches that no earlier wave took, by name.
pub fn members_of(spec: &ReleaseSpec, clusters: &[Cluster], i: usize) -> Vec<String> {
    let matches = |w: usize, c: &Cluster| {
        crate::workload::selector::matches(&spec.waves[w].selector, &c.labels)
    };
    let mut names: Vec<String> = clusters
        .iter()
        .filter(|c| matches(i, c) && !(0..i).any(|earlier| matches(earlier, c)))
        .map(|c| c.name.clone())
        .collect();
    names.sort();
    names
}

/// The hub Incident's name: one per release and wave.
pub fn incident_name(release: &str, wave: &str) -> String {
    crate::incident::record::name(release, wave)
}

pub fn decide(input: Input<'_>) -> Decision {
    let release = input.release;
    let spec = &release.spec;
    let generation = release.metadata.generation.unwrap_or(0);
    let mut st = release.status.clone().unwrap_or_default();
    st.observed_generation = Some(generation);
    let mut actions = Vec::new();
    let mut wake_at = None;
    if let Err(e) = validate(spec) {
        st.phase = ReleasePhase::Invalid;
        st.message = Some(format!("{}: {}", e.field, e.message));
        finish(&mut st, spec, generation, input.now);
        let events = told(release.status.as_ref(), &st);
        return Decision {
            status: st,
            actions,
            events,
            wake_at,
        };
    }
    let request = input
        .request
        .filter(|r| st.last_request_id.as_deref() != Some(r.id.as_str()));
    if let Some(r) = request {
        st.last_request_id = Some(r.id.clone());
    }
    let approve = request.is_some_and(|r| matches!(r.action, Verb::Promote | Verb::PromoteFull));
    if request.is_some_and(|r| r.action == Verb::Abort) || input.freeze.is_some_and(|f| f.abort) {
        st.aborted = true;
    }
    let frozen = input.freeze.is_some();
    let now = input.now;
    let release_images = &spec.template.containers;

    // Every member that received the release is followed, whatever its wave: a failure is
    // noticed (and a restore carried out) in every phase, frozen or not.
    for w in &mut st.waves {
        for m in &mut w.members {
            let o = input.observations.get(&m.cluster);
            actions.extend(member::follow(m, o, release_images, now));
        }
    }

    let rolling_back = st.aborted || failed_policy(spec, &st).is_some_and(|p| p != OnFailure::Halt);
    if !rolling_back && failed_policy(spec, &st).is_none() {
        // A wave that passes lets the next start in the same decision.
        while advance(&input, &mut st, frozen, approve, &mut actions, &mut wake_at) {}
    }
    // A wave that failed just now (or an abort) may call for restores.
    if let Some(policy) = if st.aborted {
        Some(OnFailure::RollbackAll)
    } else {
        failed_policy(spec, &st)
    } {
        if st.aborted
            && let Some(w) = st
                .waves
                .iter_mut()
                .find(|w| w.phase != WavePhase::Passed && w.phase != WavePhase::Failed)
        {
            w.phase = WavePhase::Failed;
            w.finished_at = Some(now);
            w.message = Some("aborted: every member is returned".into());
        }
        let failed = st.waves.iter().position(|w| w.phase == WavePhase::Failed);
        for (i, w) in st.waves.iter_mut().enumerate() {
            let restore = match policy {
                OnFailure::Halt => false,
                OnFailure::RollbackWave => Some(i) == failed,
                OnFailure::RollbackAll => true,
            };
            for m in w.members.iter_mut().filter(|_| restore) {
                let undo = m.received()
                    && !matches!(m.state, MemberState::Restoring | MemberState::Restored);
                if undo {
                    m.state = MemberState::Restoring;
                    m.message = Some("returning to the images it ran before the release".into());
                    actions.push(Action::Restore {
                        cluster: m.cluster.clone(),
                        images: m.previous.clone(),
                    });
                }
            }
        }
        if !st.aborted
            && let Some(i) = failed
            && st.incident_ref.is_none()
        {
            st.incident_ref = Some(LocalObjectRef {
                name: incident_name(&kube::ResourceExt::name_any(release), &st.waves[i].name),
            });
        }
    }
    if let Some(i) = st.waves.iter().position(|w| w.phase == WavePhase::Failed)
        && st.incident_ref.is_some()
        && !st.incident_opened
    {
        actions.push(Action::OpenIncident { wave: i });
    }
    st.phase = phase_of(spec, &st, frozen);
    st.message = Some(message_of(spec, &st, input.freeze));
    finish(&mut st, spec, generation, now);
    let events = told(release.status.as_ref(), &st);
    Decision {
        status: st,
        actions,
        events,
        wake_at,
    }
}

/// Events for the transitions between the written status and the decided one: each wave
/// that started, passed or failed, and a new phase of the release.
fn told(written: Option<&ReleaseStatus>, st: &ReleaseStatus) -> Vec<crate::plan::Event> {
    use crate::plan::{Event, EventType};
    let before = |i: usize| written.and_then(|w| w.waves.get(i)).map(|w| w.phase);
    let mut events = Vec::new();
    for (i, w) in st.waves.iter().enumerate() {
        if before(i) == Some(w.phase) {
            continue;
        }
        let (type_, reason) = match w.phase {
            WavePhase::AwaitingApproval => (EventType::Normal, "WaveAwaitingApproval"),
            WavePhase::Progressing if before(i) == Some(WavePhase::Baking) => continue,
            WavePhase::Progressing => (EventType::Normal, "WaveStarted"),
            WavePhase::Baking => (EventType::Normal, "WaveBaking"),
            WavePhase::Passed => (EventType::Normal, "WavePassed"),
            WavePhase::Failed => (EventType::Warning, "WaveFailed"),
        };
        let note = format!("wave {} {}", w.name, w.message.clone().unwrap_or_default());
        events.push(Event {
            type_,
            reason: reason.into(),
            note: note.trim_end().to_string(),
        });
    }
    if written.map(|w| w.phase) != Some(st.phase) {
        let warning = matches!(
            st.phase,
            ReleasePhase::Failed | ReleasePhase::RollingBack | ReleasePhase::Invalid
        );
        events.push(Event {
            type_: if warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: format!("Release{}", st.phase.as_str()),
            note: st.message.clone().unwrap_or_default(),
        });
    }
    events
}

/// The policy of the failed wave, if one failed.
fn failed_policy(spec: &ReleaseSpec, st: &ReleaseStatus) -> Option<OnFailure> {
    st.waves
        .iter()
        .position(|w| w.phase == WavePhase::Failed)
        .map(|i| spec.waves[i].on_failure)
}

/// Moves the current wave (the first not passed) forward, or starts the next one; true when
/// it passed just now.
fn advance(
    input: &Input<'_>,
    st: &mut ReleaseStatus,
    frozen: bool,
    approve: bool,
    actions: &mut Vec<Action>,
    wake_at: &mut Option<Timestamp>,
) -> bool {
    let spec = &input.release.spec;
    let now = input.now;
    let Some(i) = (0..spec.waves.len())
        .find(|&i| st.waves.get(i).is_none_or(|w| w.phase != WavePhase::Passed))
    else {
        return false;
    };
    let ws = wave_spec(spec, i).expect("validated");
    if st.waves.len() == i {
        if frozen {
            return false;
        }
        let members = members_of(spec, input.clusters, i)
            .iter()
            .map(|c| MemberStatus::waiting(c))
            .collect();
        st.waves.push(WaveStatus {
            name: spec.waves[i].name.clone(),
            phase: WavePhase::AwaitingApproval,
            started_at: None,
            bake_until: None,
            finished_at: None,
            message: None,
            members,
        });
    }
    let w = &mut st.waves[i];
    if w.phase == WavePhase::AwaitingApproval {
        let manual = spec.waves[i].approval == WaveApproval::Manual;
        if frozen || (manual && !approve) {
            w.message = Some(if frozen {
                "frozen: the wave starts once the Freeze is lifted".into()
            } else {
                "waiting for approval (`rollgate release promote`)".into()
            });
            return false;
        }
        w.phase = WavePhase::Progressing;
        w.started_at = Some(now);
        w.message = None;
    }
    let started = w.started_at.unwrap_or(now);
    let deadline = started + ws.timeout;
    let failures = w
        .members
        .iter()
        .filter(|m| m.state == MemberState::Failed)
        .count();
    if failures > ws.failures_allowed {
        fail(
            w,
            now,
            format!(
                "{failures} member(s) failed (allowed: {})",
                ws.failures_allowed
            ),
        );
        return false;
    }
    let settled = |m: &MemberStatus| matches!(m.state, MemberState::Healthy | MemberState::Failed);
    if w.phase == WavePhase::Progressing && !w.members.is_empty() && w.members.iter().all(settled) {
        w.phase = WavePhase::Baking;
        w.bake_until = Some(now + ws.bake);
    }
    match w.phase {
        WavePhase::Progressing if now >= deadline => {
            let late: Vec<String> = w
                .members
                .iter_mut()
                .filter(|m| !settled(m))
                .map(|m| {
                    if m.received() {
                        m.state = MemberState::Failed;
                    }
                    m.message =
                        Some("not Healthy on this release within the wave's timeout".into());
                    m.cluster.clone()
                })
                .collect();
            let why = if w.members.is_empty() {
                format!("spec.waves[{i}].selector matches no member cluster")
            } else {
                format!("timed out: {} not Healthy on this release", late.join(", "))
            };
            fail(w, now, why);
        }
        WavePhase::Progressing => {
            if !frozen {
                let mut free = ws
                    .max_concurrent
                    .saturating_sub(w.members.iter().filter(|m| m.in_flight()).count());
                for m in w
                    .members
                    .iter_mut()
                    .filter(|m| m.state == MemberState::Waiting)
                {
                    if free == 0 {
                        break;
                    }
                    let o = input.observations.get(&m.cluster);
                    if member::start(m, o, &input.release.spec.template.containers, now).is_some()
                        && m.state == MemberState::Applying
                    {
                        free -= 1;
                        actions.push(Action::Apply {
                            cluster: m.cluster.clone(),
                            images: input.release.spec.template.containers.clone(),
                        });
                    }
                }
            }
            if w.members.is_empty() {
                w.message = Some(format!(
                    "spec.waves[{i}].selector matches no member cluster"
                ));
            }
            *wake_at = Some(deadline);
        }
        WavePhase::Baking => {
            let until = w.bake_until.unwrap_or(now);
            if now >= until && !frozen {
                w.phase = WavePhase::Passed;
                w.finished_at = Some(now);
                w.message = Some("every member Healthy through the bake".into());
                return true;
            }
            *wake_at = Some(until);
        }
        _ => {}
    }
    false
}

fn fail(w: &mut WaveStatus, now: Timestamp, why: String) {
    w.phase = WavePhase::Failed;
    w.finished_at = Some(now);
    w.message = Some(why);
}

fn phase_of(spec: &ReleaseSpec, st: &ReleaseStatus, frozen: bool) -> ReleasePhase {
    let members = || st.waves.iter().flat_map(|w| &w.members);
    let restoring = members().any(|m| m.state == MemberState::Restoring);
    let restored = members().any(|m| m.state == MemberState::Restored);
    let failed = st.waves.iter().any(|w| w.phase == WavePhase::Failed);
    if restoring {
        ReleasePhase::RollingBack
    } else if restored || (st.aborted && failed) {
        ReleasePhase::RolledBack
    } else if failed {
        ReleasePhase::Failed
    } else if st.waves.len() == spec.waves.len()
        && st.waves.iter().all(|w| w.phase == WavePhase::Passed)
    {
        ReleasePhase::Healthy
    } else if frozen {
        ReleasePhase::Frozen
    } else if st
        .waves
        .last()
        .is_some_and(|w| w.phase == WavePhase::AwaitingApproval)
    {
        ReleasePhase::AwaitingApproval
    } else if st.waves.is_empty() {
        ReleasePhase::Pending
    } else {
        ReleasePhase::Progressing
    }
}

fn message_of(spec: &ReleaseSpec, st: &ReleaseStatus, freeze: Option<&FrozenBy>) -> String {
    let current = st
        .waves
        .iter()
        .rposition(|w| w.phase != WavePhase::Passed)
        .or(st.waves.len().checked_sub(1));
    let wave = |i: usize| format!("wave {}/{} {}", i + 1, spec.waves.len(), st.waves[i].name);
    match st.phase {
        ReleasePhase::Healthy => format!("every wave passed ({})", spec.waves.len()),
        ReleasePhase::Frozen => match freeze {
            Some(f) => format!("frozen by Freeze {}: no wave moves", f.name),
            None => "frozen".into(),
        },
        ReleasePhase::RollingBack => "returning members to the images they ran before".into(),
        ReleasePhase::RolledBack if st.aborted => "aborted: every member returned".into(),
        _ => match current {
            Some(i) => format!(
                "{}: {}",
                wave(i),
                st.waves[i]
                    .message
                    .clone()
                    .unwrap_or_else(|| st.waves[i].phase.as_str().into())
            ),
            None => "starting".into(),
        },
    }
}

/// Conditions and columns: derived from the decided status.
fn finish(st: &mut ReleaseStatus, spec: &ReleaseSpec, generation: i64, now: Timestamp) {
    let reason = st.phase.as_str().to_string();
    let message = st.message.clone().unwrap_or_default();
    let ready = st.phase == ReleasePhase::Healthy;
    let stalled = matches!(
        st.phase,
        ReleasePhase::Failed | ReleasePhase::RolledBack | ReleasePhase::Invalid
    );
    st.conditions = crate::plan::conditions(
        &st.conditions,
        vec![
            ("Ready", ready, reason.clone(), message.clone()),
            (
                "Reconciling",
                !ready && !stalled,
                reason.clone(),
                message.clone(),
            ),
            ("Stalled", stalled, reason, message),
        ],
        generation,
        now,
    );
    let members = || st.waves.iter().flat_map(|w| &w.members);
    let started = members().filter(|m| m.received()).count();
    let healthy = members()
        .filter(|m| m.state == MemberState::Healthy)
        .count();
    let current = st
        .waves
        .iter()
        .position(|w| !matches!(w.phase, WavePhase::Passed));
    st.columns = Some(ReleaseColumns {
        wave: current.filter(|_| !st.phase.is_final()).map_or_else(
            || "-".into(),
            |i| format!("{}/{} {}", i + 1, spec.waves.len(), st.waves[i].name),
        ),
        clusters: format!("{healthy}/{started}"),
    });
}

/// The outcome of [`Action::Apply`]: the generation the member's target reached.
pub fn applied(st: &mut ReleaseStatus, cluster: &str, generation: i64) {
    if let Some(m) = member_mut(st, cluster).filter(|m| m.state == MemberState::Applying) {
        m.applied_generation = Some(generation);
        m.state = MemberState::Progressing;
        m.message = Some(format!("applied at generation {generation}"));
    }
}

/// The outcome of [`Action::Restore`].
pub fn restored(st: &mut ReleaseStatus, cluster: &str, generation: i64) {
    if let Some(m) = member_mut(st, cluster).filter(|m| m.state == MemberState::Restoring) {
        m.restored_generation = Some(generation);
    }
}

/// The outcome of [`Action::OpenIncident`]: the Incident exists.
pub fn incident_opened(st: &mut ReleaseStatus) {
    st.incident_opened = st.incident_ref.is_some();
}

fn member_mut<'a>(st: &'a mut ReleaseStatus, cluster: &str) -> Option<&'a mut MemberStatus> {
    st.waves
        .iter_mut()
        .flat_map(|w| w.members.iter_mut())
        .find(|m| m.cluster == cluster)
}

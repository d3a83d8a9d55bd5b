//! The pure decision core: (spec, previous status, observations, gate readings, request, now)
//! → (new status, desired workloads, events, when to look again).
//!
//! No kube client, no I/O, no clock: the controller observes, calls [`due`] to learn which
//! gates to evaluate, evaluates them, then calls [`decide`] once with the readings and acts on
//! the decision's typed [`Effect`]s. The status is the memory that matters: a controller
//! killed at any instant continues from it. (The controller also keeps in-memory aids that
//! only save work: unwritten passing evaluations, see [`evaluations`], and which incident
//! a rollback opened.)

pub mod admission;
mod capacity;
mod conditions;
pub mod evaluations;
mod lifecycle;
pub mod request;
pub mod spec;
mod tally;

use std::time::Duration;

use jiff::Timestamp;

use crate::api::{Evidence, FrozenBy, RolloutStatus, Verdict};
pub use capacity::{canary_pods, retiring_pods, stable_pods};
pub use conditions::{build as conditions, truncate};
pub use lifecycle::{MIN_REQUEUE, due};
pub use request::{Request, Verb};
pub use spec::{GateSpec, Spec, SpecError, StageSpec};
pub use tally::{Due, Purpose};

/// Longest history kept in status.
pub const HISTORY_LIMIT: usize = 20;

/// One workload track as observed in the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Track {
    pub revision: String,
    /// Desired pods (spec.replicas).
    pub replicas: i32,
    /// Ready pods of `revision` (pods of an older template are not counted).
    pub ready: i32,
    /// Why the track is not what rollgate wrote (its template was edited by hand), if so.
    /// A drifted track counts no ready pods and is repaired from rollgate's record.
    pub drift: Option<String>,
}

/// What the controller saw in the cluster this time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    /// Revision of the target Deployment's pod template (the desired release).
    pub desired_revision: String,
    pub stable: Option<Track>,
    pub canary: Option<Track>,
    /// Revisions whose pod template rollgate keeps a copy of (outliving the tracks), so a
    /// deleted or edited track can be restored to exactly what was verified.
    pub kept: Vec<String>,
    /// The canary's share of requests the router reports in effect; `None` when the router
    /// reports none (pods carry the share: see [`crate::traffic::Router`]).
    pub routed: Option<crate::traffic::Share>,
    /// The target's pod selector as a label selector string (it selects both tracks' pods);
    /// `None` when the target was not read. Copied into status for the `scale` subresource.
    pub selector: Option<String>,
}

/// A gate evaluated by the controller for this decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub gate: String,
    pub purpose: Purpose,
    /// Revision the query measured.
    pub revision: String,
    /// The judge's verdict; the planner applies the gate's `onNoData` policy.
    pub verdict: Verdict,
    pub value: Option<f64>,
    pub stable_value: Option<f64>,
    pub threshold: Option<String>,
    pub query: String,
    pub message: String,
    /// A statistical judge's evidence.
    pub evidence: Option<Evidence>,
    /// The query itself is wrong (bad PromQL), as opposed to Prometheus being unreachable.
    pub bad_query: bool,
}

pub struct Input<'a> {
    /// The validated spec, or why it is invalid.
    pub spec: Result<&'a Spec, &'a SpecError>,
    pub generation: i64,
    pub status: &'a RolloutStatus,
    pub observed: &'a Observed,
    pub readings: &'a [Reading],
    pub request: Option<&'a Request>,
    /// The Freeze covering this rollout's namespace, if any.
    pub freeze: Option<&'a FrozenBy>,
    /// Whether a new canary may start now (the controller's concurrency cap, first come first
    /// served). Only consulted when a canary would start.
    pub admitted: bool,
    /// What keeps an incident of this Rollout from reaching a named channel (a channel or its
    /// Secret missing), found when the Rollout or the channel is written, not at 3 a.m.
    pub channel_problems: &'a [String],
    pub now: Timestamp,
}

/// Desired replicas for one track at a given revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackPlan {
    pub revision: String,
    pub replicas: i32,
}

/// What the workloads should look like. `None` leaves a workload as it is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Workloads {
    pub stable: Option<TrackPlan>,
    pub canary: Option<TrackPlan>,
    /// Replicas for the user's Deployment: held at 0 once the tracks serve.
    pub target_replicas: Option<i32>,
    /// The canary's share of requests for the router to set; `None` leaves it as it is (a new
    /// stage's share waits for its canary pods to be ready).
    pub share: Option<crate::traffic::Share>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Normal,
    Warning,
}

/// A Kubernetes Event to record: emitted on transitions only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub type_: EventType,
    /// PascalCase.
    pub reason: String,
    pub note: String,
}

/// What a decision did that the I/O layer acts on, as values: an Event's reason is for people
/// and is never parsed back by code (a renamed reason must not stop the concurrency cap or
/// garbage collection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// A canary started: it holds a canary slot; its config changes are recorded; change-event
    /// destinations hear of it.
    CanaryStarted,
    /// A rollback was decided now: counted, and change-event destinations hear of it.
    RollbackStarted,
    /// A release settled (adopted, promoted, up to date, rolled back): snapshots and template
    /// records no longer in use can go.
    Settled,
    /// A rollback is in flight (decided now, or found on record by a restarted controller):
    /// its incident, named in status, must exist — opened, or joined if it does.
    OpenIncident,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub status: RolloutStatus,
    pub workloads: Workloads,
    pub events: Vec<Event>,
    pub effects: Vec<Effect>,
    pub requeue_after: Duration,
    /// Gate evaluations this decision needed and was not given ([`due`] names them in
    /// advance, so this is empty in practice). It held without them — a missing reading is
    /// never a pass — and asks to be looked at again at once.
    pub wants: Vec<Due>,
}

/// An instant in prose (messages, Events): RFC 3339 to the second. Status fields keep the exact
/// time.
pub fn instant(t: jiff::Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Decides what should be, from plain values.
pub fn decide(input: Input<'_>) -> Decision {
    lifecycle::decide(input)
}

#[cfg(test)]
mod tests;

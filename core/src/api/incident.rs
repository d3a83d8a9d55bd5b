use jiff::Timestamp;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{LocalObjectRef, Severity};

/// The durable record of an automatic rollback: one per (Rollout, canary revision). Created
/// by the controller; people acknowledge and resolve it.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "rollgate.dev",
    version = "v1alpha1",
    kind = "Incident",
    derive = "PartialEq",
    namespaced,
    status = "IncidentStatus",
    shortname = "rginc",
    category = "rollgate",
    printcolumn(name = "State", type_ = "string", json_path = ".status.state"),
    printcolumn(name = "Severity", type_ = "string", json_path = ".status.severity"),
    printcolumn(
        name = "Rollout",
        type_ = "string",
        json_path = ".spec.rolloutRef.name"
    ),
    printcolumn(name = "Reason", type_ = "string", json_path = ".spec.reason"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct IncidentSpec {
    pub rollout_ref: LocalObjectRef,
    /// Stable across retries and restarts: `rollgate/<namespace>/<rollout>/<revision>`.
    pub dedup_key: String,
    /// At most 120 characters.
    #[schemars(length(max = 120))]
    pub title: String,
    pub summary: String,
    /// Severity from the Rollout's incident settings (status.severity may be raised).
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
    /// Why the canary was rolled back: GateFailed, GateError, ProgressDeadlineExceeded, Aborted.
    pub reason: String,
    /// The revision rolled back (the canary).
    pub from_revision: String,
    /// The revision restored (stable).
    pub to_revision: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageChange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_changes: Vec<ConfigChange>,
    pub stage: StageAtFailure,
    pub exposure: ExposureRecord,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_gates: Vec<FailedGate>,
    /// IncidentChannels it is delivered to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    pub detected_at: Timestamp,
    /// On a hub Incident: the Release and wave that failed, and the member Incidents behind it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseIncident>,
    /// Set (to who) to acknowledge; propagated to destinations that support it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    /// Set (to who) to resolve; propagated to destinations that support it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
}

/// A failed wave of a Release (one hub Incident per release and wave).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseIncident {
    /// The Release, in the Incident's namespace.
    pub name: String,
    pub wave: String,
    /// The failed members and, where their Rollout opened one, their own Incident.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberIncident>,
}

/// A member's Incident, located in its cluster.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MemberIncident {
    /// The member's cluster Secret.
    pub cluster: String,
    pub namespace: String,
    /// The member Incident's name; absent when the member failed without one (a timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Why the member failed.
    pub message: String,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageChange {
    pub container: String,
    /// The image released (the canary's), which was rolled back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The image the rollback restored (stable's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

/// A ConfigMap or Secret whose content differs between the revisions. Key names only for
/// Secrets, never values.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ConfigChange {
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StageAtFailure {
    pub index: i32,
    pub weight: i32,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExposureRecord {
    /// Share of pods on the canary when it failed, in percent.
    pub weight: i32,
    pub canary_pods: i32,
    pub since: Timestamp,
    /// How long the canary served before the rollback decision.
    pub seconds: i64,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FailedGate {
    pub name: String,
    pub query: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<String>,
    pub verdict: String,
    pub consecutive_failures: i32,
    /// A statistical judge's evidence in words, e.g. "canary errors 3.1× stable, 99.9%
    /// confidence it is worse than the tolerated 1×, after 1,240 requests (…)".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// Link to the Prometheus graph of the query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph_url: Option<String>,
}

#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, Hash,
)]
pub enum IncidentState {
    #[default]
    Triggered,
    Mitigating,
    Mitigated,
    Escalated,
    Acknowledged,
    Resolved,
}

#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct IncidentStatus {
    #[serde(default)]
    pub state: IncidentState,
    /// Current severity: the spec's, raised when the rollback did not restore health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_completed_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_healthy: Option<bool>,
    /// Rollback decisions recorded (a retried revision failing again adds one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub occurrences: Vec<Timestamp>,
    /// Append-only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<TimelineEntry>,
    /// The outbox: every message to every channel, in order, with its delivery state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deliveries: Vec<Delivery>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    pub at: Timestamp,
    /// `rollgate`, a person, or a channel.
    pub actor: String,
    #[serde(rename = "type")]
    pub type_: TimelineType,
    pub message: String,
}

#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimelineType {
    Detected,
    RollbackStarted,
    RollbackDone,
    StableHealthy,
    StableUnhealthy,
    Escalated,
    /// An escalation withdrawn: what caused it (stable unhealthy) was disproved.
    Deescalated,
    Delivered,
    DeliveryFailed,
    Acknowledged,
    Resolved,
}

/// What a message tells a destination.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    Trigger,
    /// Re-sent with raised severity when stable is unhealthy too.
    Escalate,
    Acknowledge,
    Resolve,
}

#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    Pending,
    Delivered,
    /// Permanently refused (a 4xx other than 429), or not supported by the destination.
    Failed,
    Skipped,
}

#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    pub channel: String,
    pub message: MessageKind,
    pub state: DeliveryState,
    #[serde(default)]
    pub attempts: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_attempt_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<Timestamp>,
    /// The destination's id for it, when it returns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// What the message states, fixed when it was queued: every attempt sends these facts,
    /// however the incident moves on in between.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facts: Option<MessageFacts>,
}

/// The incident as a message states it, captured when the message is queued. Every attempt
/// renders the message from these (and the spec, the controller's write-once record), so a
/// retry resends the same body byte for byte. No credentials: those are read at each attempt.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MessageFacts {
    /// When the message was queued: the time it states (a webhook event's `timestamp`, an
    /// Alertmanager alert's `endsAt`).
    pub queued_at: Timestamp,
    pub state: IncidentState,
    /// The severity then (the spec's, or the raised one).
    pub severity: Severity,
    /// Whether the incident had escalated then.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub escalated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_healthy: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_completed_at: Option<Timestamp>,
    /// Rollback decisions recorded then (at least 1).
    pub occurrences: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_by: Option<String>,
}

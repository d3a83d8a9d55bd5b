use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where a Rollout is in its lifecycle.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub enum Phase {
    /// Not yet serving from its own workloads (adopting the target).
    #[default]
    Pending,
    Progressing,
    Paused,
    /// Waiting for a canary slot (the controller's concurrency cap).
    Queued,
    RollingBack,
    RolledBack,
    Healthy,
    Invalid,
}

impl Phase {
    /// The phase as status spells it (its serialized name), for metric labels and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Progressing => "Progressing",
            Phase::Paused => "Paused",
            Phase::Queued => "Queued",
            Phase::RollingBack => "RollingBack",
            Phase::RolledBack => "RolledBack",
            Phase::Healthy => "Healthy",
            Phase::Invalid => "Invalid",
        }
    }
}

/// What the controller observed and decided; the controller continues from it after a restart.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    #[serde(default)]
    pub phase: Phase,
    /// Human-readable reason for the phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Revision serving today (hash of pod template and referenced config content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_revision: Option<String>,
    /// Revision being tried, or the one last rolled back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<StageStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exposure: Option<Exposure>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<GateStatus>,
    /// Result of the preflight of every gate against the stable revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preflight: Option<Preflight>,
    /// After a rollback: the stable revision is watched by the gates until `until`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// Set by a `pause` request, cleared by `resume`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused_by_request: bool,
    /// The Freeze holding this rollout, and who set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frozen: Option<FrozenBy>,
    /// Since when this rollout waits for a canary slot (first come, first served).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queued_since: Option<Timestamp>,
    /// Id of the last manual request handled (see `rollgate.dev/request`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_request_id: Option<String>,
    /// A track found deleted or edited by hand, being restored to the recorded revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
    /// Why the last rollback happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<RollbackRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_ref: Option<super::LocalObjectRef>,
    /// ConfigMaps and Secrets whose content differs between stable and canary (key names only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config_changes: Vec<super::ConfigChange>,
    /// kstatus conditions: Ready, Reconciling, Stalled (plus GatesHaveData).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Bounded list of phase transitions, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Transition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Pods of both tracks (their desired replicas): the `scale` subresource's status, read by
    /// an HPA that targets the Rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// The target's pod selector, which selects the pods of both tracks, as a label selector
    /// string (`app=web`): the `scale` subresource's selector, which an HPA needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// The target's generation this controller last observed, and the revision its template
    /// (and config) makes: a hub that applied a release counts this Rollout only once it has
    /// observed the generation the apply returned (`docs/WAVES.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<ObservedTarget>,
    /// The stage, weight and canary in the words `rollgate list` prints, for `kubectl get` (printer
    /// columns cannot compute "2/3" or "50%"); the numbers are in `stage` and `exposure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Columns>,
}

/// The target as the controller last read it.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ObservedTarget {
    pub generation: i64,
    /// The revision of its template and config: what the Rollout releases next, or serves.
    pub revision: String,
}

/// What `kubectl get rollouts` and `rollgate list` show in their STAGE and WEIGHT columns.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Columns {
    /// `2/3` while a stage is under way (1-based, of all stages), `-` otherwise.
    pub stage: String,
    /// The canary's share now, e.g. `50%`.
    pub weight: String,
    /// The canary revision while it is tried or after it was rolled back; `-` once it is
    /// stable (a Healthy rollout shows one revision).
    pub canary: String,
}

impl RolloutStatus {
    /// The columns for a Rollout of `stages` stages: one wording for kubectl and the CLI.
    pub fn columns_for(&self, stages: usize) -> Columns {
        let under_way = matches!(self.phase, Phase::Progressing | Phase::Paused);
        Columns {
            stage: self
                .stage
                .as_ref()
                .filter(|_| under_way)
                .map_or_else(|| "-".into(), |s| format!("{}/{stages}", s.index + 1)),
            weight: format!("{}%", self.exposure.as_ref().map_or(0, |e| e.weight)),
            canary: self
                .canary_revision
                .clone()
                .filter(|c| {
                    !matches!(self.phase, Phase::Healthy | Phase::Pending)
                        && Some(c) != self.stable_revision.as_ref()
                })
                .unwrap_or_else(|| "-".into()),
        }
    }
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StageStatus {
    pub index: i32,
    pub weight: i32,
    pub started_at: Timestamp,
    /// When the canary pods of this stage were all ready (the bake starts then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake_until: Option<Timestamp>,
    /// Manual approval received for this stage.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approved: bool,
}

/// How much of the workload is on the canary, and since when.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Exposure {
    pub weight: i32,
    pub canary_pods: i32,
    /// The canary's share of requests (percent) the router reports in effect, beside the
    /// stage's `weight`; absent without a router (the share is the pods).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routed: Option<i32>,
    pub since: Timestamp,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    Pass,
    Fail,
    NoData,
    Error,
    /// A statistical judge has not seen enough yet to say pass or fail.
    Inconclusive,
}

impl Verdict {
    /// The verdict as status, metric labels and messages spell it (its serialized name).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "Pass",
            Verdict::Fail => "Fail",
            Verdict::NoData => "NoData",
            Verdict::Error => "Error",
            Verdict::Inconclusive => "Inconclusive",
        }
    }
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GateStatus {
    pub name: String,
    /// The revision this evaluation measured (the canary's, or stable's after a rollback).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    pub verdict: Verdict,
    /// The canary's value (or the worst series).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// The stable value in a comparison gate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_value: Option<f64>,
    /// The bound the value was held to, e.g. `<= 0.01`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<String>,
    /// The query as sent, after templating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A statistical judge's evidence: sample size, statistic, interval, α, tolerance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<Evidence>,
    /// A dry-run gate: recorded and shown, never acting.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    #[serde(default)]
    pub consecutive_failures: i32,
    #[serde(default)]
    pub consecutive_errors: i32,
    /// When Prometheus answered again after errors: no data is inconclusive for a grace after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered_at: Option<Timestamp>,
    pub evaluated_at: Timestamp,
}

/// What a statistical verdict rests on, in numbers and in words.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    /// The test: `sequential` (beta-binomial mixture over error counts), `msprt` (normal
    /// mixture over per-interval log-ratios of a continuous metric) or `kayenta` (Mann-Whitney
    /// per metric, scored).
    pub test: String,
    /// Requests seen on both tracks since the test started (count tests; 0 otherwise).
    pub requests: f64,
    /// Errors seen on both tracks, and on the canary (count tests; 0 otherwise).
    pub events: f64,
    pub canary_events: f64,
    /// The canary's share of requests (the chance an error lands on it when nothing regressed).
    pub canary_share: f64,
    /// The canary over stable (the estimate): the error rate ratio (`sequential`), the
    /// geometric mean ratio of the metric (`msprt`), the worst metric's effect size (`kayenta`).
    pub ratio: f64,
    /// Its confidence sequence at 1 - α: the ratio lies within it, whenever it is looked at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_high: Option<f64>,
    /// The statistic: the evidence (Bayes factor) that the canary is worse by more than the
    /// tolerance, failing at 1/α (`sequential`); the mixture likelihood ratio against no
    /// difference (`msprt`); the score, 0 to 100 (`kayenta`).
    pub statistic: f64,
    pub alpha: f64,
    /// The largest ratio that is not a regression (1 + tolerance).
    pub tolerated_ratio: f64,
    /// Intervals judged (`msprt`: canary and stable paired by timestamp; `kayenta`: the
    /// fewest points of any metric and track).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intervals: Option<u32>,
    /// Pairs left out because a value was not a positive number (`msprt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u32>,
    /// The always-valid p-value against no difference at all (`msprt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    /// Each metric's class (`kayenta`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricEvidence>,
    /// The verdict in words, e.g. "canary errors 3.1× stable, 99.9% confidence, after 1,240
    /// requests".
    pub summary: String,
}

/// One metric of a Kayenta gate as the Mann-Whitney classifier saw it.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MetricEvidence {
    pub name: String,
    /// Kayenta's class: `Pass`, `High`, `Low`, `Nodata`, `NodataFailMetric` or `Error`.
    pub class: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub critical: bool,
    /// The Hodges-Lehmann shift of canary over stable and its 98% interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift_low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shift_high: Option<f64>,
    /// The effect size, when the test ran and it is defined, measured as `measure` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<f64>,
    /// `meanRatio` or `cles`.
    pub measure: String,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Preflight {
    /// Canary revision this preflight was run for.
    pub revision: String,
    pub at: Timestamp,
    /// Gates that returned no data against the stable revision.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub no_data: Vec<String>,
    /// Gates whose query Prometheus rejected, with its message.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// Since when the release waits before exposure (gates without data, or Prometheus
    /// unreachable); the progress deadline counts from here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_since: Option<Timestamp>,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Verification {
    pub revision: String,
    pub until: Timestamp,
    /// None until a verdict on the stable revision is in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_healthy: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RollbackRecord {
    pub revision: String,
    pub reason: String,
    pub message: String,
    pub at: Timestamp,
    pub stage_index: i32,
    pub weight: i32,
    /// The failing gates as they stood when the decision was made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gates: Vec<GateStatus>,
}

/// A track that is not what rollgate wrote: deleted, pointed at another revision, or edited.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    pub at: Timestamp,
    pub message: String,
    /// Whether rollgate holds the recorded revision's template and is restoring it; when false
    /// nothing is changed (the target's template is never used in its place).
    pub restorable: bool,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    pub at: Timestamp,
    pub from: Phase,
    pub to: Phase,
    pub reason: String,
    pub message: String,
}

#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct FrozenBy {
    /// The Freeze object.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default)]
    pub abort: bool,
}

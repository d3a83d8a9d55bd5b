use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::RolloutStatus;

/// A Rollout stages every new revision of a plain Deployment through weighted stages,
/// checking Prometheus gates between them, and rolls back by itself when a gate fails.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "rollgate.dev",
    version = "v1alpha1",
    kind = "Rollout",
    derive = "PartialEq",
    namespaced,
    status = "RolloutStatus",
    shortname = "rgr",
    category = "rollgate",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Stage", type_ = "string", json_path = ".status.columns.stage"),
    printcolumn(
        name = "Weight",
        type_ = "string",
        json_path = ".status.columns.weight"
    ),
    printcolumn(
        name = "Stable",
        type_ = "string",
        json_path = ".status.stableRevision"
    ),
    printcolumn(
        name = "Canary",
        type_ = "string",
        json_path = ".status.columns.canary"
    ),
    printcolumn(
        name = "Frozen",
        type_ = "string",
        json_path = ".status.frozen.name",
        priority = 1
    ),
    printcolumn(
        name = "Message",
        type_ = "string",
        json_path = ".status.message",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    /// The Deployment whose pod template is the desired release.
    pub target_ref: TargetRef,
    /// Total serving capacity, split between the stable and canary tracks.
    #[schemars(range(min = 1, max = 10000))]
    pub replicas: i32,
    /// Ordered stages; weights never decrease and the last one is 100 (promotion).
    #[schemars(length(min = 1, max = 20))]
    #[x_kube(
        validation = Rule::new("self[size(self) - 1].weight == 100").message("the last stage must have weight 100 (promotion)"),
        validation = Rule::new("self.map(s, s.weight).isSorted()").message("stage weights must not decrease")
    )]
    pub stages: Vec<Stage>,
    /// Health gates evaluated while a canary exists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20))]
    #[x_kube(validation = Rule::new("self.all(g, self.exists_one(h, h.name == g.name))").message("gate names must be unique"))]
    pub gates: Vec<Gate>,
    /// Prometheus to ask; defaults to the controller's `--prometheus-url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<PrometheusRef>,
    /// Who hears of an automatic rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<IncidentSettings>,
    /// Longest a stage may wait for its canary pods to become ready before the rollout rolls back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]+(ms|s|m|h))+$"))]
    pub progress_deadline: Option<String>,
    /// How long gates keep watching the stable revision after a rollback (default 2m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]+(ms|s|m|h))+$"))]
    pub verify_after_rollback: Option<String>,
    /// Hold every transition (gates keep being watched; a failing gate still rolls back).
    #[serde(default)]
    pub paused: bool,
}

/// The workload a Rollout drives.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetRef {
    /// Only `Deployment` is supported.
    #[serde(default = "deployment_kind")]
    #[x_kube(validation = Rule::new("self == 'Deployment'").message("only kind Deployment is supported"))]
    pub kind: String,
    /// Name of the Deployment, in the Rollout's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

fn deployment_kind() -> String {
    "Deployment".into()
}

/// One step of exposure.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    /// Share of the workload on the canary, in percent.
    #[schemars(range(min = 1, max = 100))]
    pub weight: i32,
    /// Minimum time held at this weight with every gate passing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]+(ms|s|m|h))+$"))]
    pub bake: Option<String>,
    /// `Manual` waits for a promote request after the bake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Approval>,
}

#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Approval {
    Manual,
}

/// A Prometheus health check. `{{namespace}}`, `{{rollout}}`, `{{target}}`, `{{track}}`,
/// `{{revision}}`, `{{stableRevision}}` and `{{canaryRevision}}` are replaced, escaped, inside
/// double-quoted label values.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("has(self.min) || has(self.max) || has(self.compare) || has(self.sequential) || has(self.alert)").message("a gate needs min, max, compare, sequential or alert"),
    validation = Rule::new("!has(self.min) || !has(self.max) || self.min <= self.max").message("min must not exceed max"),
    validation = Rule::new("!has(self.sequential) && !has(self.alert) ? has(self.query) : !has(self.query) && !has(self.min) && !has(self.max) && !has(self.compare)").message("a sequential or alert gate has no query, min, max or compare; every other gate needs a query"),
    validation = Rule::new("!has(self.sequential) || !has(self.alert)").message("a gate is either sequential or alert, not both")
)]
pub struct Gate {
    #[schemars(length(min = 1, max = 63), pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub name: String,
    /// PromQL; must return one number (a scalar or a vector). Not used by `sequential` and
    /// `alert` gates, which build their own queries.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 4096))]
    pub query: String,
    /// The value must be at least this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// The value must be at most this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Compare the canary with the stable revision measured at the same instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<Compare>,
    /// A sequential test of the canary's error count against stable's since the stage's pods
    /// became ready: anytime-valid, so it may be checked every interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequential: Option<Sequential>,
    /// Fails while Prometheus alerts matching these labels fire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<AlertGate>,
    /// Evaluated, recorded and shown, never acting: no hold, no rollback. To try a gate on
    /// real releases before enforcing it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// How often the gate is evaluated (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]+(ms|s|m|h))+$"))]
    pub interval: Option<String>,
    /// Consecutive failing evaluations before rollback (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub failure_limit: Option<i32>,
    /// What an empty result or NaN means (default `Fail`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_no_data: Option<NoDataPolicy>,
    /// Consecutive evaluations that Prometheus cannot answer before the gate counts as failed
    /// (default 10). Until then an error holds the stage; it never passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub error_limit: Option<i32>,
}

#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum NoDataPolicy {
    #[default]
    Fail,
    Hold,
    Pass,
}

/// Canary against stable, measured in the same evaluation.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Compare {
    /// Only `Stable`.
    #[serde(default)]
    pub against: CompareAgainst,
    /// Largest allowed increase of the canary over stable: `20%` (relative) or `0.01` (absolute).
    #[schemars(pattern(r"^[0-9]+(\.[0-9]+)?%?$"))]
    pub max_increase: String,
}

/// Counts judged sequentially: under "no regression" each error falls on the canary with
/// probability equal to the canary's share of requests.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Sequential {
    /// Counter of failed requests: a series selector (a metric name and label matchers, e.g.
    /// `http_requests_total{namespace="{{namespace}}",rollgate_track="{{track}}",code=~"5.."}`).
    /// rollgate asks `sum(increase(<errors>[<since the stage's pods were ready>]))`.
    #[schemars(length(min = 1, max = 2048))]
    pub errors: String,
    /// Counter of all requests, a series selector like `errors`.
    #[schemars(length(min = 1, max = 2048))]
    pub requests: String,
    /// The false-alarm rate allowed per stage, over every check (default 0.001).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 0.1").message("alpha must be in (0, 0.1]"))]
    pub alpha: Option<f64>,
    /// How much worse than stable the canary's error rate may be before it counts as a
    /// regression: `20%` allows 1.2× stable (default `0%`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[0-9]+(\.[0-9]+)?%$"))]
    pub tolerance: Option<String>,
    /// What an inconclusive test means for the stage: `Hold` (default) waits, within the
    /// progress deadline, until the evidence rules a regression out; `Pass` lets the stage
    /// go on when its bake is over and no regression was found (for low traffic, where ruling
    /// one out takes hours).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_inconclusive: Option<InconclusivePolicy>,
}

#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum InconclusivePolicy {
    #[default]
    Hold,
    Pass,
}

/// Prometheus alerts that fail the gate while they fire.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AlertGate {
    /// Label values the alert must have, e.g. `{alertname: HighErrorRate, namespace:
    /// "{{namespace}}"}`; values may use the query placeholders and are matched exactly.
    // Label names are checked by the controller and lint (`gates::alert::invalid`): a CEL
    // regex over map keys exceeds the API server's cost budget.
    #[x_kube(
        validation = Rule::new("size(self) >= 1 && size(self) <= 20").message("an alert gate matches 1 to 20 labels")
    )]
    pub labels: std::collections::BTreeMap<String, String>,
}

#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum CompareAgainst {
    #[default]
    Stable,
}

/// Where to find Prometheus, and how to authenticate.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^https?://"))]
    #[x_kube(validation = Rule::new("isURL(self) && url(self).getHostname() != ''").message("address must be an http(s) URL with a host, e.g. http://prometheus.monitoring:9090"))]
    pub address: Option<String>,
    /// Secret in the Rollout's namespace with optional keys `token` (bearer) and `ca.crt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectRef>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct LocalObjectRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// Who hears of an automatic rollback.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct IncidentSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook: Option<String>,
    /// Names of IncidentChannels in the Rollout's namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
}

#[derive(
    schemars::JsonSchema,
    Serialize,
    Deserialize,
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Default,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Sev1,
    #[default]
    Sev2,
    Sev3,
    Sev4,
}

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
    // An HPA scales the Rollout: it writes `spec.replicas` (the capacity both tracks split) and
    // reads the pods of both tracks and their selector from status.
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
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
#[x_kube(validation = Rule::new("has(self.traffic) || !self.stages.exists(s, has(s.header))").message("a header stage needs spec.traffic (a router that matches headers)"))]
pub struct RolloutSpec {
    /// The Deployment whose pod template is the desired release.
    pub target_ref: TargetRef,
    /// Total serving capacity, split between the stable and canary tracks. An HPA may own it
    /// through the Rollout's `scale` subresource.
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
    /// How requests reach the tracks. Without it one Service selects both tracks, and the
    /// canary's share of requests is its share of ready pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic: Option<Traffic>,
}

/// Requests routed by a Gateway API HTTPRoute, at exactly each stage's weight, whatever the
/// pod counts.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Traffic {
    pub http_route: HttpRouteRef,
    /// Canary pods while requests are routed (default: the stage's share of `replicas`, and
    /// at least one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_capacity: Option<CanaryCapacity>,
}

/// The HTTPRoute and the Service whose tracks it sends requests to.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HttpRouteRef {
    /// The HTTPRoute, in the Rollout's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// A Service selecting the target's pods. rollgate creates and owns `<service>-stable` and
    /// `<service>-canary` beside it (its ports, its selector plus the track label); the
    /// route's rules send requests to those two.
    #[schemars(length(min = 1, max = 56), pattern(r"^[a-z]([-a-z0-9]*[a-z0-9])?$"))]
    pub service: String,
    /// rollgate creates and owns the route. Without it the route is yours: rollgate changes
    /// only the weights of the rules that name both tracks' Services, and its own header rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedRoute>,
}

/// What a route rollgate owns attaches to.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManagedRoute {
    /// The Gateways (or their listeners) the route attaches to.
    #[schemars(length(min = 1, max = 32))]
    pub parent_refs: Vec<ParentRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub hostnames: Vec<String>,
    /// The Service port requests go to.
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
}

/// A Gateway, or one of its listeners.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ParentRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Defaults to the Rollout's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section_name: Option<String>,
}

/// How many canary pods run while a router sets the share of requests.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.replicas) && has(self.minReplicas))").message("set replicas or minReplicas, not both").field_path(".minReplicas"))]
pub struct CanaryCapacity {
    /// This many canary pods at every stage, however small its share (never fewer than the
    /// share needs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub replicas: Option<i32>,
    /// The share of `replicas`, and at least this many (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub min_replicas: Option<i32>,
}

/// Requests carrying this header value go to the canary.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct HeaderMatch {
    /// An HTTP header name, e.g. `x-canary`.
    #[schemars(
        length(min = 1, max = 256),
        pattern(r"^[A-Za-z0-9!#$%&'*+\-.^_\x60|~]+$")
    )]
    pub name: String,
    /// Its exact value, e.g. `always`.
    #[schemars(length(min = 1, max = 4096))]
    pub value: String,
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
#[x_kube(
    validation = Rule::new("self.weight > 0 || has(self.header)").message("weight 0 is only for a header stage").field_path(".weight"),
    validation = Rule::new("!has(self.header) || self.weight == 0").message("a header stage has weight 0: only requests with the header reach the canary").field_path(".weight")
)]
pub struct Stage {
    /// Share of requests on the canary, in percent (of pods, without `spec.traffic`).
    #[schemars(range(min = 0, max = 100))]
    pub weight: i32,
    /// Only requests with this header reach the canary (needs `spec.traffic`); the stage's
    /// weight is 0. Header stages come before the weighted ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderMatch>,
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
    validation = Rule::new("has(self.min) || has(self.max) || has(self.compare) || has(self.sequential) || has(self.alert) || has(self.msprt) || has(self.kayenta)").message("a gate needs min, max, compare, sequential, alert, msprt or kayenta"),
    validation = Rule::new("!has(self.min) || !has(self.max) || self.min <= self.max").message("min must not exceed max"),
    validation = Rule::new("!has(self.sequential) && !has(self.alert) && !has(self.kayenta) ? has(self.query) : !has(self.query) && !has(self.min) && !has(self.max) && !has(self.compare)").message("a sequential, alert or kayenta gate has no query, min, max or compare; every other gate needs a query"),
    validation = Rule::new("[has(self.min) || has(self.max) || has(self.compare), has(self.sequential), has(self.alert), has(self.msprt), has(self.kayenta)].filter(k, k).size() <= 1").message("a gate is one kind: min/max/compare, sequential, alert, msprt or kayenta")
)]
pub struct Gate {
    #[schemars(length(min = 1, max = 63), pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub name: String,
    /// PromQL; must return one number (a scalar or a vector), or for `msprt` one series per
    /// track. Not used by `sequential`, `alert` and `kayenta` gates, which have their own.
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
    /// A sequential test (mSPRT) of a continuous metric, the gate's `query` (rendered once
    /// per track, like `compare`), canary against stable, interval by interval since the
    /// stage's pods were ready: anytime-valid, so it may be checked every interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msprt: Option<Msprt>,
    /// Kayenta's Mann-Whitney judge over a canary config's metrics (Spinnaker-compatible).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kayenta: Option<KayentaGate>,
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

/// The normal-mixture sequential test of a continuous metric (latency, say) on the log-ratio
/// scale: per interval, ln(canary / stable).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Msprt {
    /// Which way is worse: `Increase` (default, e.g. latency), `Decrease` (e.g. throughput),
    /// or `Either`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// How far the canary may be from stable before it counts as a regression: `10%`
    /// tolerates 1.1× stable (default `0%`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^[0-9]+(\.[0-9]+)?%$"))]
    pub tolerance: Option<String>,
    /// The false-alarm rate allowed per stage, over every check (default 0.001).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[x_kube(validation = Rule::new("self > 0.0 && self <= 0.1").message("alpha must be in (0, 0.1]"))]
    pub alpha: Option<f64>,
    /// Intervals paired before the first verdict (default 5): the variance is estimated
    /// from them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 3, max = 1000))]
    pub burn_in: Option<i32>,
    /// As for `sequential`: `Hold` (default) or `Pass` once the bake is over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_inconclusive: Option<InconclusivePolicy>,
}

/// Which way a metric gets worse.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum Direction {
    #[default]
    Increase,
    Decrease,
    Either,
}

/// One Kayenta canary config as a gate: each metric's canary and stable series over the
/// stage so far (a range query per track, step = the gate's interval) are classified by the
/// Mann-Whitney U test and scored per group. Before the stage's bake is over a score below
/// `marginal` fails at once; once the bake is over the score must reach `pass`.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KayentaGate {
    #[schemars(length(min = 1, max = 20))]
    #[x_kube(validation = Rule::new("self.all(g, self.exists_one(h, h.name == g.name))").message("metric names must be unique"))]
    pub metrics: Vec<KayentaMetric>,
    /// The weight (percent) of each group's score; groups not named share what is left.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub group_weights: std::collections::BTreeMap<String, f64>,
    pub score_thresholds: ScoreThresholds,
    /// Points per track and metric the test needs (default 10). A stage whose bake gathers
    /// fewer at the gate's interval is an invalid spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 5, max = 10000))]
    pub min_points: Option<i32>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct KayentaMetric {
    #[schemars(length(min = 1, max = 63))]
    pub name: String,
    /// PromQL with `{{track}}` (and the other placeholders), asked once per track.
    #[schemars(length(min = 1, max = 4096))]
    pub query: String,
    /// The scoring group (default: the metric's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Which way is worse (default `Either`, as Kayenta).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// A failing critical metric fails the whole canary (score 0).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub critical: bool,
    /// No data fails the metric (rather than leaving it out of the score).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub must_have_data: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nan_strategy: Option<NanStrategy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect_size: Option<EffectSize>,
}

/// `Remove` (default) drops NaN points; `Replace` makes them 0.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum NanStrategy {
    #[default]
    Remove,
    Replace,
}

/// How large a shift must be to count: one measure and its bounds.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.meanRatio) != has(self.cles)").message("an effect size is meanRatio or cles"))]
pub struct EffectSize {
    /// mean(canary) / mean(stable); bounds default to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_ratio: Option<EffectBounds>,
    /// The common-language effect size; bounds default to 0.5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cles: Option<EffectBounds>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct EffectBounds {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_increase: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_decrease: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical_increase: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical_decrease: Option<f64>,
}

/// Kayenta's score classifier, 0 to 100 (e.g. marginal 75, pass 95).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.marginal <= self.pass").message("marginal must not exceed pass").field_path(".marginal"))]
pub struct ScoreThresholds {
    #[schemars(range(min = 0, max = 100))]
    pub marginal: f64,
    #[schemars(range(min = 0, max = 100))]
    pub pass: f64,
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

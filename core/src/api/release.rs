use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector};
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{IncidentSettings, LocalObjectRef};

/// One release taken across member clusters in waves. The hub applies the release to each
/// member's Rollout target; each member's own rollgate runs the stages and gates; a failure in
/// any member stops every later wave (`docs/WAVES.md`).
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "rollgate.dev",
    version = "v1alpha1",
    kind = "Release",
    derive = "PartialEq",
    namespaced,
    status = "ReleaseStatus",
    shortname = "rgrel",
    category = "rollgate",
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Wave", type_ = "string", json_path = ".status.columns.wave"),
    printcolumn(
        name = "Clusters",
        type_ = "string",
        json_path = ".status.columns.clusters"
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
pub struct ReleaseSpec {
    /// The Rollout each member runs the release through: the same namespace and name in every
    /// member cluster.
    pub rollout: ReleaseRollout,
    /// What is released: applied to each member's Rollout target by server-side apply. Fixed
    /// once created (a Release is one release; the next one is a new Release).
    #[x_kube(validation = Rule::new("self == oldSelf").message("a Release's template is fixed once created: create a new Release for the next release"))]
    pub template: ReleaseTemplate,
    /// Ordered waves; a cluster belongs to the first wave whose selector matches it.
    #[schemars(length(min = 1, max = 20))]
    #[x_kube(validation = Rule::new("self.all(g, self.exists_one(h, h.name == g.name))").message("wave names must be unique"))]
    pub waves: Vec<Wave>,
    /// Who hears of a failed wave (the hub's IncidentChannels, in the Release's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<IncidentSettings>,
}

/// The Rollout a release goes through in every member.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseRollout {
    #[schemars(length(min = 1, max = 63), pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub namespace: String,
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

/// The change to the Rollout target's pod template.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseTemplate {
    /// Container images, by container name (every named container must exist in the target).
    #[schemars(length(min = 1, max = 20))]
    #[x_kube(validation = Rule::new("self.all(g, self.exists_one(h, h.name == g.name))").message("container names must be unique"))]
    pub containers: Vec<ContainerImage>,
}

/// One container's image.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct ContainerImage {
    #[schemars(length(min = 1, max = 63), pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub name: String,
    #[schemars(length(min = 1, max = 1024))]
    pub image: String,
}

/// A group of member clusters that take the release together.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Wave {
    #[schemars(length(min = 1, max = 63), pattern(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub name: String,
    /// Member clusters by the labels of their Secret (`region`, `ring`, …).
    pub selector: LabelSelector,
    /// Clusters taking the release at once (default: all of the wave).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_concurrent: Option<i32>,
    /// Held once every member of the wave is Healthy on this release, before the next wave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]+(ms|s|m|h))+$"))]
    pub bake: Option<String>,
    /// Longest the wave may take from its start to every member Healthy (default 1h); a member
    /// that never got there (unreachable, stuck) fails the wave then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^([0-9]+(ms|s|m|h))+$"))]
    pub timeout: Option<String>,
    /// Members that may fail (roll back) while the wave still passes (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub failures_allowed: Option<i32>,
    /// `Manual` waits for a promote request before the wave starts.
    #[serde(default)]
    pub approval: WaveApproval,
    /// What a failed wave does.
    #[serde(default)]
    pub on_failure: OnFailure,
}

#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum WaveApproval {
    #[default]
    Automatic,
    Manual,
}

/// What a failed wave does beyond stopping later waves.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum OnFailure {
    /// Stop: later waves never receive the release; members stay where they are.
    #[default]
    Halt,
    /// Also return this wave's members to what they ran before.
    RollbackWave,
    /// Also return every member that received the release to what it ran before.
    RollbackAll,
}

impl OnFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            OnFailure::Halt => "Halt",
            OnFailure::RollbackWave => "RollbackWave",
            OnFailure::RollbackAll => "RollbackAll",
        }
    }
}

/// Where a Release is.
#[derive(
    schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default,
)]
pub enum ReleasePhase {
    #[default]
    Pending,
    Progressing,
    /// A wave waits for a promote request.
    AwaitingApproval,
    /// A hub Freeze holds every wave.
    Frozen,
    /// Every wave passed.
    Healthy,
    /// A wave failed; later waves never get the release (Halt).
    Failed,
    /// A wave failed (or an abort); members are being returned to what they ran before.
    RollingBack,
    RolledBack,
    Invalid,
}

impl ReleasePhase {
    pub fn as_str(self) -> &'static str {
        match self {
            ReleasePhase::Pending => "Pending",
            ReleasePhase::Progressing => "Progressing",
            ReleasePhase::AwaitingApproval => "AwaitingApproval",
            ReleasePhase::Frozen => "Frozen",
            ReleasePhase::Healthy => "Healthy",
            ReleasePhase::Failed => "Failed",
            ReleasePhase::RollingBack => "RollingBack",
            ReleasePhase::RolledBack => "RolledBack",
            ReleasePhase::Invalid => "Invalid",
        }
    }

    /// Nothing more happens by itself.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ReleasePhase::Healthy | ReleasePhase::Failed | ReleasePhase::RolledBack
        )
    }
}

/// What the hub decided and did; a hub killed at any instant continues from it.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseStatus {
    #[serde(default)]
    pub phase: ReleasePhase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// One entry per wave, in order, from the moment the wave starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waves: Vec<WaveStatus>,
    /// The hub's Incident of the failed wave (one per release and wave).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_ref: Option<LocalObjectRef>,
    /// Whether that Incident exists (created, or found created): it is opened once.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub incident_opened: bool,
    /// Id of the last request handled (`rollgate.dev/request`: `promote/<id>`, `abort/<id>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_request_id: Option<String>,
    /// Set by an abort request or an aborting Freeze: every member is returned.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub aborted: bool,
    /// kstatus conditions: Ready, Reconciling, Stalled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<ReleaseColumns>,
}

/// What `kubectl get releases` shows in its WAVE and CLUSTERS columns.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseColumns {
    /// `2/3 eu` while a wave is under way, `-` otherwise.
    pub wave: String,
    /// Members Healthy on this release, of the members started: `3/5`.
    pub clusters: String,
}

#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum WavePhase {
    AwaitingApproval,
    Progressing,
    /// Every member Healthy: held for the wave's bake.
    Baking,
    Passed,
    Failed,
}

impl WavePhase {
    pub fn as_str(self) -> &'static str {
        match self {
            WavePhase::AwaitingApproval => "AwaitingApproval",
            WavePhase::Progressing => "Progressing",
            WavePhase::Baking => "Baking",
            WavePhase::Passed => "Passed",
            WavePhase::Failed => "Failed",
        }
    }
}

#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WaveStatus {
    pub name: String,
    pub phase: WavePhase,
    /// When the wave began (approval received, or the previous wave passed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake_until: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The wave's members, fixed when it starts (sorted by cluster name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MemberStatus>,
}

#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberState {
    /// Not yet given the release (waiting for a slot).
    Waiting,
    /// Its previous images are on record; the release is being applied.
    Applying,
    /// Applied; its Rollout has not yet been seen Healthy on this release.
    Progressing,
    Healthy,
    Failed,
    /// Its previous images are being applied back.
    Restoring,
    Restored,
}

impl MemberState {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Waiting => "Waiting",
            MemberState::Applying => "Applying",
            MemberState::Progressing => "Progressing",
            MemberState::Healthy => "Healthy",
            MemberState::Failed => "Failed",
            MemberState::Restoring => "Restoring",
            MemberState::Restored => "Restored",
        }
    }
}

/// One member cluster in a wave, as the hub recorded and last saw it.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MemberStatus {
    /// The member's cluster Secret.
    pub cluster: String,
    pub state: MemberState,
    /// The target's images before the release, recorded before the first apply: what a
    /// rollback applies again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous: Vec<ContainerImage>,
    /// The target's generation the release's apply returned: the member's Rollout counts only
    /// once it has observed at least this generation (freshness).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_generation: Option<i64>,
    /// The target's generation the rollback's apply returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_generation: Option<i64>,
    /// The member's revision of this release, as its Rollout named it once fresh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_at: Option<Timestamp>,
    /// The member's Incident of its rollback, in the Rollout's namespace there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
    /// The member as last seen: its Rollout's phase, stage and gates, or why it was not seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen: Option<MemberSeen>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A member's Rollout in the words `rollgate release status` prints.
#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct MemberSeen {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// `error-ratio=Pass, latency=Fail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gates: Option<String>,
    /// Unreachable, or no Rollout there: why the hub could not read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub at: Timestamp,
}

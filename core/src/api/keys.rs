//! Every label, annotation and finalizer key rollgate writes or reads, defined once.

/// On the target Deployment (annotation: which Rollout serves it), and as a label on what a
/// Rollout owns: config snapshots, template records, incidents.
pub const ROLLOUT: &str = "rollgate.dev/rollout";
/// On the target Deployment: the tracks serving it now (`app-stable`, `app-stable,app-canary`),
/// so a Deployment at 0/0 in `kubectl get deploy` says where its pods are.
pub const SERVED_BY: &str = "rollgate.dev/served-by";
/// A pod template's revision: on tracks and their pods, and on template records.
pub const REVISION: &str = "rollgate.dev/revision";
/// Which track a workload or pod is: `stable` or `canary`.
pub const TRACK: &str = "rollgate.dev/track";
/// A request to the controller on a Rollout (`promote/17`, `abort/3`, …).
pub const REQUEST: &str = "rollgate.dev/request";
/// On a config snapshot: the ConfigMap or Secret it copies.
pub const SNAPSHOT_OF: &str = "rollgate.dev/snapshot-of";
/// The finalizer that hands the target back when a Rollout is deleted.
pub const HAND_BACK: &str = "rollgate.dev/hand-back";
/// The well-known label naming who manages an object.
pub const MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// On a Secret in a hub's namespace: `member` registers it as a member cluster of Releases
/// there (its other labels, e.g. `region`, `ring`, are what waves select).
pub const CLUSTER: &str = "rollgate.dev/cluster";
/// The value of [`CLUSTER`] on a member cluster's Secret.
pub const CLUSTER_MEMBER: &str = "member";
/// The key of a member cluster's Secret holding its kubeconfig.
pub const KUBECONFIG: &str = "kubeconfig";

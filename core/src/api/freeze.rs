use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// The kill switch. While a Freeze covers a namespace, no rollout there advances and no new
/// canary starts; gates keep watching and a failing gate still rolls back. With `abort`, every
/// canary in flight there is rolled back now. Deleting the Freeze resumes.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[kube(
    group = "rollgate.dev",
    version = "v1alpha1",
    kind = "Freeze",
    derive = "PartialEq",
    shortname = "rgfreeze",
    category = "rollgate",
    printcolumn(name = "Namespaces", type_ = "string", json_path = ".spec.namespaces"),
    printcolumn(name = "Abort", type_ = "boolean", json_path = ".spec.abort"),
    printcolumn(name = "By", type_ = "string", json_path = ".spec.by"),
    printcolumn(name = "Reason", type_ = "string", json_path = ".spec.reason"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct FreezeSpec {
    /// Namespaces frozen; empty freezes every namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Also roll back every canary in flight, now.
    #[serde(default)]
    pub abort: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub reason: Option<String>,
    /// Who froze (the CLI fills in the user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 253))]
    pub by: Option<String>,
}

impl Freeze {
    /// Whether this Freeze covers `namespace`.
    pub fn covers(&self, namespace: &str) -> bool {
        self.spec.namespaces.is_empty() || self.spec.namespaces.iter().any(|n| n == namespace)
    }
}

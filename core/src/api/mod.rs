//! CRD types of `rollgate.dev/v1alpha1`: serde + schemars + CEL rules. Installing them on a
//! cluster is I/O, done by the controller crate (`rollgate::controller::crds`).
//!
//! What the API server can judge (ranges, patterns, list shapes) is in the schema and CEL
//! rules here; what it cannot (a query template that is not well placed, a Secret that is
//! missing) is judged by [`crate::plan::spec`] and surfaces as the `Invalid` phase.

// kube-derive takes one `printcolumn(...)` per column: the repetition is the API, not a slip.
#![allow(clippy::duplicated_attributes)]

mod channel;
mod freeze;
mod incident;
pub mod keys;
pub mod names;
mod release;
mod rollout;
mod status;

pub use channel::*;
pub use freeze::*;
pub use incident::*;
pub use release::*;
pub use rollout::*;
pub use status::*;

/// API group of every rollgate resource.
pub const GROUP: &str = "rollgate.dev";
/// Pattern for Go-style durations such as `30s`, `5m`, `1h30m`, `500ms`.
pub const DURATION_PATTERN: &str = r"^([0-9]+(ms|s|m|h))+$";

use kube::CustomResourceExt;

/// Every CRD this controller serves, in the order they are written to `crds/`.
pub fn crds()
-> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    vec![
        Rollout::crd(),
        Incident::crd(),
        IncidentChannel::crd(),
        Freeze::crd(),
        Release::crd(),
    ]
}

/// The CRDs as one multi-document YAML stream (what `crds/` holds and `rollgate crds` prints).
pub fn crds_yaml() -> String {
    crds()
        .iter()
        .map(|crd| serde_norway::to_string(crd).expect("CRD types always serialize"))
        .collect::<Vec<_>>()
        .join("---\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Metric labels and messages spell enums as status and the spec do.
    #[test]
    fn enum_names_are_their_serialized_names() {
        let json = |v: serde_json::Value| v.as_str().unwrap().to_string();
        for p in [
            Phase::Pending,
            Phase::Progressing,
            Phase::Paused,
            Phase::Queued,
            Phase::RollingBack,
            Phase::RolledBack,
            Phase::Healthy,
            Phase::Invalid,
        ] {
            assert_eq!(p.as_str(), json(serde_json::to_value(p).unwrap()));
        }
        for v in [
            Verdict::Pass,
            Verdict::Fail,
            Verdict::NoData,
            Verdict::Error,
        ] {
            assert_eq!(v.as_str(), json(serde_json::to_value(v).unwrap()));
        }
        for t in crate::incident::channels::fixture::TYPES {
            assert_eq!(t.as_str(), json(serde_json::to_value(t).unwrap()));
        }
    }
}

//! How a stage's weight reaches requests: the router seam.
//!
//! The planner decides the canary's share of requests ([`crate::plan::Workloads::weight`]); a
//! router sets it and reports the share in effect ([`crate::plan::Observed::routed`]); the
//! planner counts a stage as exposed, and lets canary pods go on a rollback or promotion, only
//! from what the router says is in effect. [`Router::Pods`] is the case without a router: one
//! Service selects both tracks, so the share is the canary's share of ready pods and is in
//! effect as soon as those pods are ready.
//!
//! A new router is a [`Router`] variant with its capacity rule and its reading of "in effect"
//! here, its I/O in the controller's `traffic` module, and its field in the Rollout spec.

use crate::api::RolloutSpec;
use crate::plan::{SpecError, canary_pods};

/// The router a Rollout uses, decided once at validation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Router {
    /// No router: requests follow ready pods.
    #[default]
    Pods,
}

impl Router {
    /// The router `spec` names, checked once at validation.
    pub fn of(spec: &RolloutSpec) -> Result<Router, SpecError> {
        let _ = spec; // no router field yet: requests follow pods
        Ok(Router::Pods)
    }

    /// Canary pods a stage of `weight` percent needs out of `replicas`.
    pub fn canary_pods(&self, replicas: i32, weight: i32) -> i32 {
        match self {
            Router::Pods => canary_pods(replicas, weight),
        }
    }

    /// Whether the canary's share of requests is `weight` percent now, given the share the
    /// router reports in effect (`None`: it reported nothing).
    pub fn carries(&self, weight: i32, routed: Option<i32>) -> bool {
        match self {
            // The share is the pods themselves, which the planner counts; nothing is routed
            // apart from them, so nothing is reported.
            Router::Pods => routed.is_none_or(|r| r == weight),
        }
    }
}

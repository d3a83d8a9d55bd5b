//! How a stage's weight reaches requests: the router seam.
//!
//! The planner decides the canary's share of requests ([`crate::plan::Workloads::share`]); a
//! router sets it and reports the share in effect ([`crate::plan::Observed::routed`]); the
//! planner counts a stage as exposed, and lets canary pods go on a rollback or promotion, only
//! from what the router says is in effect. [`Router::Pods`] is the case without a router: one
//! Service selects both tracks, so the share is the canary's share of ready pods and is in
//! effect as soon as those pods are ready.
//!
//! A new router is a [`Router`] variant with its capacity rule and its reading of "in effect"
//! here, its I/O in the controller's `traffic` module, and its field in the Rollout spec.

pub mod http_route;
pub mod services;

use crate::api::{CanaryCapacity, HeaderMatch, RolloutSpec};
use crate::plan::{SpecError, canary_pods};

/// The router a Rollout uses, decided once at validation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Router {
    /// No router: requests follow ready pods.
    #[default]
    Pods,
    /// A Gateway API HTTPRoute sets the share exactly; canary pods follow their own rule.
    HttpRoute(Capacity),
}

/// Canary pods under a router: a fixed count, or the share of `replicas` with a floor; never
/// fewer than the share needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    Fixed(i32),
    Share { min: i32 },
}

/// The canary's share of requests: a weight in percent, and (for a header stage) the header
/// whose requests reach it regardless of the weight.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Share {
    pub weight: i32,
    pub header: Option<HeaderMatch>,
}

impl Share {
    /// Nothing reaches the canary.
    pub fn none() -> Share {
        Share::default()
    }
}

impl Router {
    /// The router `spec` names, checked once at validation.
    pub fn of(spec: &RolloutSpec) -> Result<Router, SpecError> {
        let Some(traffic) = &spec.traffic else {
            if let Some(i) = spec.stages.iter().position(|s| s.header.is_some()) {
                return Err(SpecError::new(
                    format!("spec.stages[{i}].header"),
                    "a header stage needs spec.traffic (a router that matches headers)",
                ));
            }
            return Ok(Router::Pods);
        };
        let capacity = match &traffic.canary_capacity {
            None => Capacity::Share { min: 1 },
            Some(CanaryCapacity {
                replicas: Some(_),
                min_replicas: Some(_),
            }) => {
                return Err(SpecError::new(
                    "spec.traffic.canaryCapacity",
                    "set replicas or minReplicas, not both",
                ));
            }
            Some(CanaryCapacity {
                replicas: Some(n), ..
            }) => Capacity::Fixed(*n),
            Some(CanaryCapacity { min_replicas, .. }) => Capacity::Share {
                min: min_replicas.unwrap_or(1),
            },
        };
        for (field, n) in [
            (
                "replicas",
                traffic.canary_capacity.as_ref().and_then(|c| c.replicas),
            ),
            (
                "minReplicas",
                traffic
                    .canary_capacity
                    .as_ref()
                    .and_then(|c| c.min_replicas),
            ),
        ] {
            if n.is_some_and(|n| n < 1) {
                return Err(SpecError::new(
                    format!("spec.traffic.canaryCapacity.{field}"),
                    "must be at least 1",
                ));
            }
        }
        Ok(Router::HttpRoute(capacity))
    }

    /// Canary pods a stage of `weight` percent needs out of `replicas`.
    pub fn canary_pods(&self, replicas: i32, weight: i32) -> i32 {
        let share = canary_pods(replicas, weight);
        match self {
            Router::Pods => share,
            Router::HttpRoute(Capacity::Fixed(n)) => share.max(*n),
            Router::HttpRoute(Capacity::Share { min }) => share.max(*min),
        }
    }

    /// Whether stable keeps all its pods while a canary runs. Under a router the canary's
    /// pods are extra capacity: stable still serves its whole share at any weight.
    pub fn stable_keeps_all(&self) -> bool {
        !matches!(self, Router::Pods)
    }

    /// Whether `share` is in effect now, given the share the router reports (`None`: it
    /// reported nothing, e.g. its Gateway has not accepted the route's current generation).
    pub fn carries(&self, share: &Share, routed: Option<&Share>) -> bool {
        match self {
            // The share is the pods themselves, which the planner counts; nothing is routed
            // apart from them, so nothing is reported.
            Router::Pods => routed.is_none_or(|r| r == share),
            Router::HttpRoute(_) => routed == Some(share),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_router_decouples_canary_pods_from_the_share_but_never_gives_fewer() {
        // (router, replicas, weight) → canary pods
        let cases = [
            (Router::Pods, 10, 1, 1),
            (Router::Pods, 10, 50, 5),
            (Router::HttpRoute(Capacity::Share { min: 1 }), 10, 1, 1),
            (Router::HttpRoute(Capacity::Share { min: 1 }), 10, 0, 1),
            (Router::HttpRoute(Capacity::Share { min: 3 }), 10, 1, 3),
            (Router::HttpRoute(Capacity::Share { min: 3 }), 10, 50, 5),
            (Router::HttpRoute(Capacity::Fixed(2)), 10, 1, 2),
            (Router::HttpRoute(Capacity::Fixed(2)), 10, 50, 5),
            (Router::HttpRoute(Capacity::Fixed(2)), 10, 100, 10),
        ];
        for (router, replicas, weight, want) in cases {
            assert_eq!(
                router.canary_pods(replicas, weight),
                want,
                "{router:?} {replicas} {weight}"
            );
        }
    }

    #[test]
    fn a_routed_share_counts_only_as_reported() {
        let router = Router::HttpRoute(Capacity::Share { min: 1 });
        let five = Share {
            weight: 5,
            header: None,
        };
        assert!(!router.carries(&five, None));
        assert!(!router.carries(&five, Some(&Share::none())));
        assert!(router.carries(&five, Some(&five)));
        let header = Share {
            weight: 0,
            header: Some(HeaderMatch {
                name: "x-canary".into(),
                value: "always".into(),
            }),
        };
        assert!(!router.carries(&header, Some(&Share::none())));
        assert!(Router::Pods.carries(&five, None));
    }
}

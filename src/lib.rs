//! rollgate: staged, Prometheus-gated rollouts of code and configuration for Kubernetes.
//!
//! Data flows one way: watch events -> observe ([`controller`]) -> decide ([`plan`], pure)
//! -> apply ([`workload`]) -> status.

pub mod api;
pub mod cli;
pub mod controller;
pub mod duration;
pub mod gates;
pub mod incident;
pub mod plan;
pub mod workload;

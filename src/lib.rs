//! rollgate: staged, Prometheus-gated rollouts of code and configuration for Kubernetes.
//!
//! Decisions are pure and live in `rollgate-core` (re-exported here as [`api`], [`plan`],
//! [`gates`], [`incident`], [`workload`]); this crate does the I/O around them. Data flows
//! one way: watch → observe ([`controller`]) → due gates ([`plan::due`]) → evaluate
//! ([`prometheus`]) → decide ([`plan::decide`]) → apply ([`controller`]) → status → incident
//! → delivery ([`delivery`]). docs/ARCHITECTURE.md has the file of each hop.

pub use rollgate_core::{api, duration, gates, incident, plan, traffic, waves, workload};

pub mod cli;
pub mod controller;
pub mod delivery;
pub mod prometheus;

//! rollgate's core: everything it decides, as pure functions over plain values.
//!
//! The API types ([`api`]), the planner ([`plan`]), gate templating and judging ([`gates`]),
//! the workload adapter's object building ([`workload`]), the router seam ([`traffic`]), and
//! incidents' record, lifecycle, outbox and channel messages ([`incident`]). Nothing here does I/O, and the manifest keeps
//! it so: no async runtime, HTTP client or Kubernetes client is a dependency. The `rollgate`
//! crate observes, asks Prometheus, writes to the API server and delivers.

pub mod api;
pub mod duration;
pub mod gates;
pub mod incident;
pub mod plan;
pub mod traffic;
pub mod waves;
pub mod workload;

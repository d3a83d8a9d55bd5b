//! The one test kit of rollgate's test crates (e2e, CLI, chart) and the benchmarks: the shared
//! platform, the CRDs installed once, a namespace and a controller process per test, the
//! objects tests start from, and waits that print the cluster when they time out.

mod cli;
mod fixture;
pub mod hub;
mod member;
mod process;
mod specs;

pub use cli::{Run, USER, rollgate, run};
pub use fixture::{Fixture, POD_REVISION, TRACK, both_tracks_have_rates, poll};
pub use member::{Member, install_crds};
pub use process::{ControllerProcess, binary};
pub use specs::{LATENCY_GAUGE, kayenta_gate, latency_query, msprt_gate};
pub use specs::{deployment, error_ratio_gate, rollout, sequential_gate};

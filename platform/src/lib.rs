//! rollgate's test platform: a real Kubernetes control plane (etcd,
//! kube-apiserver, kube-controller-manager, kube-scheduler built from pinned
//! Go modules), KWOK nodes on which pods become Ready, Debian's Prometheus and
//! Alertmanager, and a metrics exporter whose traffic tests steer. Everything
//! runs as local processes on loopback ports; nothing is mocked.
//!
//! ```no_run
//! # async fn example() {
//! use rollgate_platform::{Series, TestNamespace, shared};
//!
//! let env = shared(); // started once per test process, or from ROLLGATE_PLATFORM_ENV
//! let ns = TestNamespace::create(env, "canary-fails").await.unwrap();
//! env.exporter()
//!     .set(&Series::new(&ns.name, "web", "canary", "v2").error_ratio(0.5))
//!     .await
//!     .unwrap();
//! # }
//! ```
//!
//! See `docs/PLATFORM.md` for versions, caching and how to run it by hand.

mod alertmanager;
mod apiserver;
pub mod binaries;
mod certs;
mod control_plane;
mod controller_manager;
pub mod crds;
mod credential;
mod dump;
mod env;
mod error;
mod etcd;
pub mod exporter;
pub mod gateway_api;
mod kubeconfig;
mod kwok;
mod member;
mod metrics_api;
mod namespace;
mod platform;
mod private_ca;
mod processes;
mod prometheus;
mod readiness;
pub mod receiver;
mod registry;
mod scheduler;
mod shared;
mod work_dir;

pub use certs::ADMIN_USER;
pub use credential::{
    ClusterEndpoint, CredentialRequest, ServiceAccountCredential, mint_credential,
};
pub use env::PlatformEnv;
pub use error::PlatformError;
pub use exporter::{ExporterClient, Gauge, Series, SeriesLabels};
pub use kubeconfig::client_from_yaml;
pub use kwok::NODE_LABEL;
pub use member::{MemberCluster, MemberOptions};
pub use metrics_api::external_metric;
pub use namespace::TestNamespace;
pub use platform::{Platform, PlatformOptions};
pub use processes::spawn_bound;
pub use prometheus::PrometheusServer;
pub use receiver::{Receiver, Recorded, Reply};
pub use registry::Registry;
pub use shared::{ENV_FILE_VAR, shared};

/// Installs ring as the process-wide rustls provider (kube and reqwest share
/// it; reqwest is built without one). Idempotent.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is all we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

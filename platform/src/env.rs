//! How to reach a running platform, as plain data: written to a JSON file by
//! `rollgate-platform up`/`exec` and read back by test processes.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::PlatformError;
use crate::exporter::ExporterClient;

/// Addresses and files of a running platform.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct PlatformEnv {
    /// Admin kubeconfig (`system:masters`).
    pub kubeconfig: PathBuf,
    /// `https://127.0.0.1:<port>`.
    pub apiserver_url: String,
    /// `http://127.0.0.1:<port>`, empty when started without Prometheus.
    pub prometheus_url: String,
    /// `http://127.0.0.1:<port>`, empty when started without Alertmanager.
    pub alertmanager_url: String,
    /// The test exporter, `http://127.0.0.1:<port>`.
    pub exporter_url: String,
    /// Holds kubectl, kube-apiserver, etcd, kwok, ...
    pub bin_dir: PathBuf,
    /// The platform's temporary directory (logs are in `logs/`).
    pub work_dir: PathBuf,
}

impl PlatformEnv {
    /// An admin client; panics with the reason if the kubeconfig is unusable.
    pub async fn client(&self) -> kube::Client {
        self.try_client()
            .await
            .unwrap_or_else(|e| panic!("rollgate-platform: no kube client: {e}"))
    }

    /// An admin client.
    pub async fn try_client(&self) -> Result<kube::Client, PlatformError> {
        crate::kubeconfig::client(&self.kubeconfig).await
    }

    /// A client for the test exporter's control API.
    pub fn exporter(&self) -> ExporterClient {
        ExporterClient::new(&self.exporter_url)
    }

    /// The kubectl built with the control plane.
    pub fn kubectl(&self) -> PathBuf {
        self.bin_dir.join("kubectl")
    }

    /// Reads an env file written by [`PlatformEnv::save`].
    pub fn load(path: &Path) -> Result<PlatformEnv, PlatformError> {
        let json = std::fs::read_to_string(path)
            .map_err(|e| PlatformError::io(format!("reading {}", path.display()), e))?;
        serde_json::from_str(&json)
            .map_err(|e| PlatformError::invalid(format!("parsing {}", path.display()), e))
    }

    /// Writes this env as JSON.
    pub fn save(&self, path: &Path) -> Result<(), PlatformError> {
        let json = serde_json::to_string_pretty(self).expect("PlatformEnv serializes");
        std::fs::write(path, json)
            .map_err(|e| PlatformError::io(format!("writing {}", path.display()), e))
    }
}

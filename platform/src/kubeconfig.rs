//! Kubeconfig files for the admin and the control-plane components. They point
//! at the PEM files in the work dir rather than embedding them.

use std::path::{Path, PathBuf};

use crate::PlatformError;
use crate::certs::CertFiles;

/// Writes a kubeconfig for `user` authenticating with a client certificate.
pub(crate) fn write(
    path: &Path,
    server: &str,
    ca_cert: &Path,
    user: &str,
    identity: &CertFiles,
) -> Result<PathBuf, PlatformError> {
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": "rollgate",
            "cluster": { "server": server, "certificate-authority": ca_cert },
        }],
        "users": [{
            "name": user,
            "user": {
                "client-certificate": identity.cert,
                "client-key": identity.key,
            },
        }],
        "contexts": [{
            "name": "rollgate",
            "context": { "cluster": "rollgate", "user": user, "namespace": "default" },
        }],
        "current-context": "rollgate",
    });
    let yaml = serde_norway::to_string(&config)
        .map_err(|e| PlatformError::invalid("rendering a kubeconfig", e))?;
    std::fs::write(path, yaml)
        .map_err(|e| PlatformError::io(format!("writing {}", path.display()), e))?;
    Ok(path.to_path_buf())
}

/// A kube client for the cluster described by the kubeconfig at `path`.
pub(crate) async fn client(path: &Path) -> Result<kube::Client, PlatformError> {
    crate::install_crypto_provider();
    let kubeconfig = kube::config::Kubeconfig::read_from(path)
        .map_err(|e| PlatformError::invalid(format!("reading kubeconfig {}", path.display()), e))?;
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .map_err(|e| PlatformError::invalid(format!("loading kubeconfig {}", path.display()), e))?;
    kube::Client::try_from(config).map_err(|e| PlatformError::kube("building a kube client", e))
}

//! Kubeconfigs. The control-plane components' files point at the PEM files in
//! the work dir; a kubeconfig meant to travel (into a Secret, to another
//! process) embeds its CA and credentials instead.

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

/// How a self-contained kubeconfig authenticates.
pub(crate) enum Credentials<'a> {
    /// A client certificate and key, PEM.
    ClientCert { cert_pem: &'a str, key_pem: &'a str },
    /// A bearer token (a service account's).
    Token(&'a str),
}

/// A kubeconfig with everything embedded (`*-data`, `token`), as YAML: usable
/// from any process, and what a hub reads from a cluster Secret.
pub(crate) fn embedded(
    cluster: &str,
    server: &str,
    ca_pem: &str,
    user: &str,
    credentials: Credentials<'_>,
    namespace: &str,
) -> Result<String, PlatformError> {
    use base64::Engine as _;
    let encode = |pem: &str| base64::engine::general_purpose::STANDARD.encode(pem);
    let user_entry = match credentials {
        Credentials::ClientCert { cert_pem, key_pem } => serde_json::json!({
            "client-certificate-data": encode(cert_pem),
            "client-key-data": encode(key_pem),
        }),
        Credentials::Token(token) => serde_json::json!({ "token": token }),
    };
    let config = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": cluster,
            "cluster": { "server": server, "certificate-authority-data": encode(ca_pem) },
        }],
        "users": [{ "name": user, "user": user_entry }],
        "contexts": [{
            "name": cluster,
            "context": { "cluster": cluster, "user": user, "namespace": namespace },
        }],
        "current-context": cluster,
    });
    serde_norway::to_string(&config)
        .map_err(|e| PlatformError::invalid("rendering a kubeconfig", e))
}

/// A kube client from kubeconfig YAML (its current context), such as a member
/// cluster's admin kubeconfig or a [`crate::ServiceAccountCredential`]'s.
pub async fn client_from_yaml(yaml: &str) -> Result<kube::Client, PlatformError> {
    crate::install_crypto_provider();
    let kubeconfig = kube::config::Kubeconfig::from_yaml(yaml)
        .map_err(|e| PlatformError::invalid("parsing kubeconfig YAML", e))?;
    let config = kube::Config::from_custom_kubeconfig(
        kubeconfig,
        &kube::config::KubeConfigOptions::default(),
    )
    .await
    .map_err(|e| PlatformError::invalid("loading kubeconfig YAML", e))?;
    kube::Client::try_from(config).map_err(|e| PlatformError::kube("building a kube client", e))
}

//! kube-apiserver serving TLS on loopback, with client-certificate
//! authentication, Node+RBAC authorization and service-account token signing.

use std::path::Path;

use crate::PlatformError;
use crate::certs::{ClusterCerts, FRONT_PROXY_CLIENT};
use crate::processes::{Process, args, free_port};
use crate::work_dir::WorkDir;

pub(crate) const NAME: &str = "kube-apiserver";

/// Service IPs; the first one is the `kubernetes` Service.
pub(crate) const SERVICE_CIDR: &str = "10.96.0.0/16";

/// The `iss` of service-account tokens.
const SERVICE_ACCOUNT_ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// Starts the apiserver against etcd; returns the process and its URL.
pub(crate) fn spawn(
    bin_dir: &Path,
    work: &WorkDir,
    certs: &ClusterCerts,
    etcd_url: &str,
) -> Result<(Process, String), PlatformError> {
    let port = free_port()?;
    let url = format!("https://127.0.0.1:{port}");
    let cert_dir = work.dir("apiserver")?;
    let process = Process::spawn(
        NAME,
        &bin_dir.join(NAME),
        args([
            format!("--etcd-servers={etcd_url}"),
            "--bind-address=127.0.0.1".to_string(),
            "--advertise-address=127.0.0.1".to_string(),
            // Endpoints may not be loopback IPs, and no pod runs to use them.
            "--endpoint-reconciler-type=none".to_string(),
            format!("--secure-port={port}"),
            format!("--cert-dir={}", cert_dir.display()),
            format!("--tls-cert-file={}", certs.apiserver.cert.display()),
            format!("--tls-private-key-file={}", certs.apiserver.key.display()),
            format!("--client-ca-file={}", certs.ca.cert.display()),
            "--authorization-mode=Node,RBAC".to_string(),
            // Front-proxy settings, so aggregation and the components that read
            // extension-apiserver-authentication have a request-header CA.
            format!("--requestheader-client-ca-file={}", certs.ca.cert.display()),
            format!("--requestheader-allowed-names={FRONT_PROXY_CLIENT}"),
            "--requestheader-username-headers=X-Remote-User".to_string(),
            "--requestheader-group-headers=X-Remote-Group".to_string(),
            "--requestheader-extra-headers-prefix=X-Remote-Extra-".to_string(),
            format!(
                "--proxy-client-cert-file={}",
                certs.front_proxy_client.cert.display()
            ),
            format!(
                "--proxy-client-key-file={}",
                certs.front_proxy_client.key.display()
            ),
            format!("--service-account-issuer={SERVICE_ACCOUNT_ISSUER}"),
            format!(
                "--service-account-key-file={}",
                certs.service_account_pub.display()
            ),
            format!(
                "--service-account-signing-key-file={}",
                certs.service_account_key.display()
            ),
            format!("--service-cluster-ip-range={SERVICE_CIDR}"),
            "--allow-privileged=true".to_string(),
            // `/debug/pprof` on demand, to profile the API server under a benchmark's load.
            format!(
                "--profiling={}",
                std::env::var_os("ROLLGATE_PLATFORM_PROFILING").is_some()
            ),
        ]),
        work.log(NAME),
    )?;
    Ok((process, url))
}

/// An HTTPS client trusting only the cluster CA (anonymous: `/readyz` is public).
pub(crate) fn https_client(certs: &ClusterCerts) -> Result<reqwest::Client, PlatformError> {
    crate::install_crypto_provider();
    let ca = std::fs::read(&certs.ca.cert)
        .map_err(|e| PlatformError::io("reading the cluster CA", e))?;
    let ca = reqwest::Certificate::from_pem(&ca)
        .map_err(|e| PlatformError::http("parsing the cluster CA", e))?;
    reqwest::Client::builder()
        .add_root_certificate(ca)
        .timeout(std::time::Duration::from_secs(5))
        .no_proxy()
        .build()
        .map_err(|e| PlatformError::http("building the apiserver probe client", e))
}

/// Ready when every `/readyz` check passes (etcd, RBAC bootstrap, ...).
pub(crate) async fn probe(https: &reqwest::Client, url: &str) -> Result<(), String> {
    crate::readiness::get_ok(https, &format!("{url}/readyz"))
        .await
        .map(drop)
}

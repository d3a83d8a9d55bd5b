//! kube-controller-manager: Deployments, ReplicaSets, garbage collection,
//! service accounts, node lifecycle... each controller with its own
//! service-account credentials, as in a real cluster.

use std::path::Path;

use crate::PlatformError;
use crate::apiserver::SERVICE_CIDR;
use crate::certs::ClusterCerts;
use crate::processes::{Process, args, free_port};
use crate::work_dir::WorkDir;

pub(crate) const NAME: &str = "kube-controller-manager";

/// Starts the controller manager running `controllers` (empty: all on by
/// default); returns the process and its health URL.
pub(crate) fn spawn(
    bin_dir: &Path,
    work: &WorkDir,
    certs: &ClusterCerts,
    kubeconfig: &Path,
    controllers: &[&str],
) -> Result<(Process, String), PlatformError> {
    let port = free_port()?;
    let kubeconfig = kubeconfig.display();
    // Empty: the controller manager's own default set.
    let only =
        (!controllers.is_empty()).then(|| format!("--controllers={}", controllers.join(",")));
    let process = Process::spawn(
        NAME,
        &bin_dir.join(NAME),
        args(only.into_iter().chain([
            format!("--kubeconfig={kubeconfig}"),
            format!("--authentication-kubeconfig={kubeconfig}"),
            format!("--authorization-kubeconfig={kubeconfig}"),
            "--bind-address=127.0.0.1".to_string(),
            format!("--secure-port={port}"),
            "--leader-elect=false".to_string(),
            "--use-service-account-credentials=true".to_string(),
            format!("--root-ca-file={}", certs.ca.cert.display()),
            format!(
                "--service-account-private-key-file={}",
                certs.service_account_key.display()
            ),
            format!("--cluster-signing-cert-file={}", certs.ca.cert.display()),
            format!("--cluster-signing-key-file={}", certs.ca.key.display()),
            format!("--service-cluster-ip-range={SERVICE_CIDR}"),
            "--profiling=false".to_string(),
            // The defaults (20 QPS, 5 syncs) make the controller manager, not the controller
            // under test, the bottleneck once a test or benchmark has hundreds of Deployments.
            "--kube-api-qps=1000".to_string(),
            "--kube-api-burst=2000".to_string(),
            "--concurrent-deployment-syncs=20".to_string(),
            "--concurrent-replicaset-syncs=20".to_string(),
            // The HPA controller re-reads metrics every second (default 15 s) so an HPA test
            // sees a scale within seconds; it only works on HPAs, of which only HPA tests have.
            "--horizontal-pod-autoscaler-sync-period=1s".to_string(),
        ])),
        work.log(NAME),
    )?;
    Ok((process, format!("https://127.0.0.1:{port}/healthz")))
}

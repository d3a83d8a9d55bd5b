//! kube-scheduler, placing pods on the KWOK nodes.

use std::path::Path;

use crate::PlatformError;
use crate::processes::{Process, args, free_port};
use crate::work_dir::WorkDir;

pub(crate) const NAME: &str = "kube-scheduler";

/// Starts the scheduler; returns the process and its health URL.
pub(crate) fn spawn(
    bin_dir: &Path,
    work: &WorkDir,
    kubeconfig: &Path,
) -> Result<(Process, String), PlatformError> {
    let port = free_port()?;
    let kubeconfig = kubeconfig.display();
    let process = Process::spawn(
        NAME,
        &bin_dir.join(NAME),
        args([
            format!("--kubeconfig={kubeconfig}"),
            format!("--authentication-kubeconfig={kubeconfig}"),
            format!("--authorization-kubeconfig={kubeconfig}"),
            "--bind-address=127.0.0.1".to_string(),
            format!("--secure-port={port}"),
            "--leader-elect=false".to_string(),
            "--profiling=false".to_string(),
            // Binding thousands of benchmark pods at the default 50 QPS takes minutes.
            "--kube-api-qps=1000".to_string(),
            "--kube-api-burst=2000".to_string(),
        ]),
        work.log(NAME),
    )?;
    Ok((process, format!("https://127.0.0.1:{port}/healthz")))
}

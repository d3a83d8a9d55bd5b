//! A single-member etcd on loopback, without fsync (its data is thrown away).

use std::path::Path;

use crate::PlatformError;
use crate::processes::{Process, args, free_port};
use crate::work_dir::WorkDir;

pub(crate) const NAME: &str = "etcd";

/// Starts etcd; returns the process and its client URL.
pub(crate) fn spawn(bin_dir: &Path, work: &WorkDir) -> Result<(Process, String), PlatformError> {
    let client_url = format!("http://127.0.0.1:{}", free_port()?);
    let peer_url = format!("http://127.0.0.1:{}", free_port()?);
    let data_dir = work.private_dir("etcd")?;
    let process = Process::spawn(
        NAME,
        &bin_dir.join("etcd"),
        args([
            "--name=rollgate".to_string(),
            format!("--data-dir={}", data_dir.display()),
            format!("--listen-client-urls={client_url}"),
            format!("--advertise-client-urls={client_url}"),
            format!("--listen-peer-urls={peer_url}"),
            format!("--initial-advertise-peer-urls={peer_url}"),
            format!("--initial-cluster=rollgate={peer_url}"),
            "--initial-cluster-state=new".to_string(),
            "--unsafe-no-fsync".to_string(),
            "--log-level=warn".to_string(),
        ]),
        work.log(NAME),
    )?;
    Ok((process, client_url))
}

/// Ready when `/health` reports healthy.
pub(crate) async fn probe(http: &reqwest::Client, client_url: &str) -> Result<(), String> {
    let body = crate::readiness::get_ok(http, &format!("{client_url}/health")).await?;
    if body.contains(r#""health":"true""#) {
        Ok(())
    } else {
        Err(format!("etcd /health: {}", body.trim()))
    }
}

//! Debian's Alertmanager, standalone (clustering off), on a loopback port.

use crate::PlatformError;
use crate::binaries;
use crate::processes::{Process, args, free_port};
use crate::work_dir::WorkDir;

pub(crate) const NAME: &str = "alertmanager";

/// A catch-all route to a receiver that sends nothing: tests read alerts
/// through the API.
const CONFIG: &str = "route:\n  receiver: discard\nreceivers:\n- name: discard\n";

/// Starts Alertmanager; returns the process and its URL.
pub(crate) fn spawn(work: &WorkDir) -> Result<(Process, String), PlatformError> {
    let port = free_port()?;
    let dir = work.dir("alertmanager")?;
    let config = dir.join("alertmanager.yml");
    std::fs::write(&config, CONFIG)
        .map_err(|e| PlatformError::io("writing the Alertmanager config", e))?;
    let process = Process::spawn(
        NAME,
        &binaries::alertmanager()?,
        args([
            format!("--config.file={}", config.display()),
            format!("--storage.path={}", dir.join("data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
            "--cluster.listen-address=".to_string(),
            "--log.level=warn".to_string(),
        ]),
        work.log(NAME),
    )?;
    Ok((process, format!("http://127.0.0.1:{port}")))
}

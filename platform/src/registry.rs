//! Debian's OCI registry (`docker-registry`, the CNCF distribution registry) on a loopback
//! port, for tests that push an image and a chart and install from `oci://`. Started only
//! when a test asks for one; storage lives in the test's directory and goes with it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::PlatformError;
use crate::processes::{Process, args, free_port};
use crate::readiness::{get_ok, http_client, wait_until};

const NAME: &str = "registry";
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A registry process serving plain HTTP on `127.0.0.1:<port>`; stops when dropped.
/// Clients need their plain-HTTP switch (`helm --plain-http`, `skopeo --dest-tls-verify=false`):
/// loopback traffic needs no TLS, and a registry certificate would be one more CA to plumb.
#[derive(Debug)]
pub struct Registry {
    process: Process,
    host: String,
    dir: PathBuf,
}

impl Registry {
    /// Starts a registry with its config, blobs and log under `work_dir/registry-<port>/`
    /// and returns once `/v2/` answers.
    pub async fn start(work_dir: &Path) -> Result<Registry, PlatformError> {
        let port = free_port()?;
        let dir = work_dir.join(format!("registry-{port}"));
        let storage = dir.join("storage");
        std::fs::create_dir_all(&storage)
            .map_err(|e| PlatformError::io(format!("creating {}", storage.display()), e))?;
        let host = format!("127.0.0.1:{port}");
        let config = dir.join("config.yml");
        std::fs::write(&config, config_yaml(&storage, &host))
            .map_err(|e| PlatformError::io("writing the registry config", e))?;
        let process = Process::spawn(
            NAME,
            &crate::binaries::registry()?,
            args([std::ffi::OsStr::new("serve"), config.as_os_str()]),
            dir.join("registry.log"),
        )?;
        let mut registry = Registry { process, host, dir };
        let http = http_client();
        let probe = format!("http://{}/v2/", registry.host);
        wait_until(
            std::slice::from_mut(&mut registry.process),
            NAME,
            READY_TIMEOUT,
            || get_ok(&http, &probe),
        )
        .await?;
        Ok(registry)
    }

    /// `127.0.0.1:<port>`, the host part of image references and `oci://` URLs.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Where its config, storage and log live.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The last lines of its log, for failure messages.
    pub fn log_tail(&self) -> String {
        self.process.log_tail()
    }
}

fn config_yaml(storage: &Path, host: &str) -> String {
    format!(
        "version: 0.1\n\
         log:\n  level: warn\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         http:\n  addr: {host}\n",
        storage.display()
    )
}

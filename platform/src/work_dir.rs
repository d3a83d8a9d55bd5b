//! Where a platform keeps its files: one temporary directory holding the PKI,
//! kubeconfigs, data dirs and one log per process. It is removed on teardown;
//! dirs left behind by killed processes are removed by the next platform start.

use std::path::{Path, PathBuf};

use crate::PlatformError;

#[derive(Clone, Debug)]
pub(crate) struct WorkDir {
    root: PathBuf,
}

/// Work dirs are named `<PREFIX><random>` in the temp dir.
pub(crate) const PREFIX: &str = "rollgate-platform-";

/// Holds the pid of the process that owns the work dir.
const OWNER_FILE: &str = "owner.pid";

impl WorkDir {
    pub(crate) fn new(root: &Path) -> Result<WorkDir, PlatformError> {
        let work = WorkDir {
            root: root.to_path_buf(),
        };
        work.dir("logs")?;
        let owner = work.file(OWNER_FILE);
        std::fs::write(&owner, std::process::id().to_string())
            .map_err(|e| PlatformError::io(format!("writing {}", owner.display()), e))?;
        Ok(work)
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/<name>`, created if missing.
    pub(crate) fn dir(&self, name: &str) -> Result<PathBuf, PlatformError> {
        let dir = self.root.join(name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| PlatformError::io(format!("creating {}", dir.display()), e))?;
        Ok(dir)
    }

    /// `<root>/<name>`, created if missing, readable only by us (etcd insists).
    pub(crate) fn private_dir(&self, name: &str) -> Result<PathBuf, PlatformError> {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.dir(name)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| PlatformError::io(format!("restricting {}", dir.display()), e))?;
        Ok(dir)
    }

    /// `<root>/<name>` (not created).
    pub(crate) fn file(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The log file of process `name`.
    pub(crate) fn log(&self, name: &str) -> PathBuf {
        self.root.join("logs").join(format!("{name}.log"))
    }
}

/// Removes work dirs in `parent` whose owning process is gone (it was killed
/// before it could clean up). Best effort.
pub(crate) fn remove_stale(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let is_ours = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(PREFIX));
        if !is_ours {
            continue;
        }
        let path = entry.path();
        let owner = std::fs::read_to_string(path.join(OWNER_FILE))
            .ok()
            .and_then(|pid| pid.trim().parse::<u32>().ok());
        if owner.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_dir_all(&path);
        }
    }
}

//! Where a platform keeps its files: one temporary directory holding the PKI,
//! kubeconfigs, data dirs and one log per process. It is removed on teardown.

use std::path::{Path, PathBuf};

use crate::PlatformError;

#[derive(Clone, Debug)]
pub(crate) struct WorkDir {
    root: PathBuf,
}

impl WorkDir {
    pub(crate) fn new(root: &Path) -> Result<WorkDir, PlatformError> {
        let work = WorkDir {
            root: root.to_path_buf(),
        };
        work.dir("logs")?;
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

//! Where the platform's executables come from: the control plane is built
//! from pinned Go modules by `hack/platform/build.sh` (cached), Prometheus and
//! Alertmanager are Debian packages installed by `hack/setup.sh`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::PlatformError;

/// The repository root, fixed at compile time.
fn repo_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The dir holding etcd, kube-apiserver, kube-controller-manager,
/// kube-scheduler, kubectl and kwok: `$ROLLGATE_BIN_DIR`, or else whatever
/// `hack/platform/build.sh` prints (it builds on the first call, then reuses
/// its cache). Resolved once per process.
pub fn control_plane_bin_dir() -> Result<PathBuf, PlatformError> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| match std::env::var_os("ROLLGATE_BIN_DIR") {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => run_build_script(),
    })
    .clone()
    .map_err(PlatformError::Build)
}

fn run_build_script() -> Result<PathBuf, String> {
    let script = repo_root().join("hack/platform/build.sh");
    // Build progress goes to our stderr; the last stdout line is the bin dir.
    let output = Command::new(&script)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("running {}: {e}", script.display()))?;
    if !output.status.success() {
        return Err(format!("{} failed: {}", script.display(), output.status));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    match stdout.lines().last() {
        Some(dir) if Path::new(dir).is_dir() => Ok(PathBuf::from(dir)),
        _ => Err(format!(
            "{} printed no bin dir: {stdout:?}",
            script.display()
        )),
    }
}

/// `$ROLLGATE_PROMETHEUS` or Debian's `/usr/bin/prometheus`.
pub fn prometheus() -> Result<PathBuf, PlatformError> {
    installed("prometheus", "ROLLGATE_PROMETHEUS", "/usr/bin/prometheus")
}

/// `$ROLLGATE_ALERTMANAGER` or Debian's `/usr/bin/prometheus-alertmanager`.
pub fn alertmanager() -> Result<PathBuf, PlatformError> {
    installed(
        "alertmanager",
        "ROLLGATE_ALERTMANAGER",
        "/usr/bin/prometheus-alertmanager",
    )
}

/// `$ROLLGATE_REGISTRY` or Debian's `/usr/bin/docker-registry` (the CNCF distribution registry).
pub fn registry() -> Result<PathBuf, PlatformError> {
    installed(
        "docker-registry",
        "ROLLGATE_REGISTRY",
        "/usr/bin/docker-registry",
    )
}

fn installed(
    binary: &'static str,
    variable: &str,
    default: &str,
) -> Result<PathBuf, PlatformError> {
    let path = std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    if path.is_file() {
        Ok(path)
    } else {
        Err(PlatformError::MissingBinary {
            binary,
            path,
            hint: "run hack/setup.sh",
        })
    }
}

/// Checks that the control-plane bin dir has everything the platform starts.
pub(crate) fn check_control_plane(dir: &Path) -> Result<(), PlatformError> {
    const NAMES: [&str; 5] = [
        "etcd",
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
    ];
    match NAMES.iter().find(|name| !dir.join(name).is_file()) {
        None => Ok(()),
        Some(name) => Err(PlatformError::MissingBinary {
            binary: name,
            path: dir.join(name),
            hint: "run hack/platform/build.sh (or fix ROLLGATE_BIN_DIR)",
        }),
    }
}

//! Where the platform's executables come from: the control plane and
//! prometheus-adapter are built from pinned Go modules by `hack/platform/*/build.sh`
//! (cached), the Gateway API CRDs fetched from theirs, Prometheus and Alertmanager are
//! Debian packages installed by `hack/setup.sh`.

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
        None => run_build_script("hack/platform/build.sh"),
    })
    .clone()
    .map_err(PlatformError::Build)
}

/// The prometheus-adapter executable: `$ROLLGATE_PROMETHEUS_ADAPTER`, or else the one
/// `hack/platform/prometheus-adapter/build.sh` builds (once, then cached).
pub fn prometheus_adapter() -> Result<PathBuf, PlatformError> {
    static PATH: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    PATH.get_or_init(|| match std::env::var_os("ROLLGATE_PROMETHEUS_ADAPTER") {
        Some(path) => Ok(PathBuf::from(path)),
        None => run_build_script("hack/platform/prometheus-adapter/build.sh")
            .map(|dir| dir.join("prometheus-adapter")),
    })
    .clone()
    .map_err(PlatformError::Build)
}

/// The dir of the Gateway API standard-channel CRD manifests: `$ROLLGATE_GATEWAY_API_CRDS`,
/// or else the one `hack/platform/gateway-api/fetch.sh` fills from the pinned Go module.
pub fn gateway_api_crds() -> Result<PathBuf, PlatformError> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    DIR.get_or_init(|| match std::env::var_os("ROLLGATE_GATEWAY_API_CRDS") {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => run_build_script("hack/platform/gateway-api/fetch.sh"),
    })
    .clone()
    .map_err(PlatformError::Build)
}

/// Runs a build (or fetch) script of `hack/platform/`; its last stdout line is a dir.
fn run_build_script(relative: &str) -> Result<PathBuf, String> {
    let script = repo_root().join(relative);
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

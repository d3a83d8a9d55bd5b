//! Running the pinned helm on the chart.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

pub fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("charts/rollgate")
}

/// `$ROLLGATE_HELM`, or the helm that `hack/platform/helm/build.sh` builds (once, then cached).
pub fn helm() -> &'static Path {
    static HELM: OnceLock<PathBuf> = OnceLock::new();
    HELM.get_or_init(|| {
        if let Some(path) = std::env::var_os("ROLLGATE_HELM") {
            return PathBuf::from(path);
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("hack/platform/helm/build.sh");
        let out = Command::new(&script)
            .stdin(Stdio::null())
            .stderr(Stdio::inherit())
            .output()
            .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
        assert!(out.status.success(), "{} failed", script.display());
        let stdout = String::from_utf8_lossy(&out.stdout);
        let bin = stdout.lines().last().expect("build.sh prints the bin dir");
        Path::new(bin).join("helm")
    })
}

/// Runs helm with `args`; Ok(stdout) or Err(stderr).
pub fn run(args: &[&str]) -> Result<String, String> {
    let out = Command::new(helm())
        .args(args)
        // No repositories, plugins or caches of the person running the tests.
        .env(
            "HELM_CONFIG_HOME",
            std::env::temp_dir().join("rollgate-helm/config"),
        )
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("rollgate-helm/cache"),
        )
        .env(
            "HELM_DATA_HOME",
            std::env::temp_dir().join("rollgate-helm/data"),
        )
        .output()
        .expect("run helm");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(format!("{stdout}{stderr}"))
    }
}

/// `helm lint --strict` with `--set` values.
pub fn lint(sets: &[&str]) -> Result<String, String> {
    let chart = chart_dir();
    let mut args = vec!["lint", "--strict", chart.to_str().unwrap()];
    for s in sets {
        args.extend(["--set", s]);
    }
    run(&args)
}

/// The objects `helm template` renders (CRDs included when asked), or helm's complaint.
pub fn template(
    release: &str,
    namespace: &str,
    include_crds: bool,
    sets: &[&str],
) -> Result<Vec<Value>, String> {
    let chart = chart_dir();
    let mut args = vec![
        "template",
        release,
        chart.to_str().unwrap(),
        "--namespace",
        namespace,
    ];
    if include_crds {
        args.push("--include-crds");
    }
    for s in sets {
        args.extend(["--set", s]);
    }
    let yaml = run(&args)?;
    let mut objects = Vec::new();
    for doc in serde_norway::Deserializer::from_str(&yaml) {
        let v: Value = serde::Deserialize::deserialize(doc).expect("helm renders YAML");
        if !v.is_null() {
            objects.push(v);
        }
    }
    Ok(objects)
}

/// The one rendered object of `kind` (and `name`, when given).
pub fn find<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = objects.iter().filter(|o| o["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "expected one {kind}, got {}", found.len());
    found[0]
}

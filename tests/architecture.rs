//! The house rules the compiler cannot see, checked on the tree itself: the core stays free
//! of I/O, the controller acts on typed effects and decides once, and no package-registry
//! host is named anywhere.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, with its text.
fn sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    out.sort();
    out
}

/// The crates that do I/O. The core may depend on none of them, directly or through another.
const IO_CRATES: [&str; 8] = [
    "tokio",
    "reqwest",
    "hyper",
    "kube-client",
    "kube-runtime",
    "axum",
    "prometheus-http-query",
    "tower",
];

#[test]
fn the_core_builds_with_no_io_crate_in_its_dependencies() {
    let manifest = std::fs::read_to_string(root().join("core/Cargo.toml")).unwrap();
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .unwrap();
    for line in deps.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let name = line.split(['=', ' ', '.']).next().unwrap_or_default();
        assert!(!IO_CRATES.contains(&name), "core/Cargo.toml names {name}");
        if name == "kube" {
            assert!(
                line.contains("default-features = false") && !line.contains("client"),
                "the core takes kube for its derive macros only: {line}"
            );
        }
    }
    // The resolved tree, not just the manifest: nothing may bring an I/O crate in.
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let tree = Command::new(cargo)
        .current_dir(root())
        .args([
            "tree",
            "--locked",
            "--offline",
            "-p",
            "rollgate-core",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .output()
        .unwrap();
    assert!(
        tree.status.success(),
        "{}",
        String::from_utf8_lossy(&tree.stderr)
    );
    let tree = String::from_utf8(tree.stdout).unwrap();
    assert!(tree.starts_with("rollgate-core "), "{tree}");
    for line in tree.lines() {
        let name = line.split(' ').next().unwrap_or_default();
        assert!(
            !IO_CRATES.contains(&name),
            "rollgate-core depends on {name} (through the tree):\n{tree}"
        );
    }
}

/// The planner's Event reasons are for people: the controller crate acts on the decision's
/// typed effects and hands its Events to the recorder without reading them.
#[test]
fn nothing_outside_the_core_reads_an_event_reason() {
    // Every reason the planner emits, as a string literal in the lifecycle.
    let mut reasons = std::collections::BTreeSet::new();
    for (_, text) in sources(&root().join("core/src/plan/lifecycle")) {
        for part in text.split('"').skip(1).step_by(2) {
            let pascal = part.len() > 3
                && part.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && part.chars().all(|c| c.is_ascii_alphanumeric())
                && part.chars().skip(1).any(|c| c.is_ascii_uppercase());
            if pascal {
                reasons.insert(part.to_string());
            }
        }
    }
    assert!(
        reasons.contains("CanaryStarted") && reasons.contains("GateFailed"),
        "{reasons:?}"
    );
    let mut offending = vec![];
    // The benchmarks read status history as any client of the API may; they decide nothing.
    for dir in ["src", "demo/src"] {
        for (path, text) in sources(&root().join(dir)) {
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default();
                let reads_events = code.contains(".events") && !code.contains("apply::events(");
                let compares_reason = code.contains("reason ==")
                    || code.contains("reason !=")
                    || code.contains("== \"")
                        && reasons.iter().any(|r| code.contains(&format!("\"{r}\"")));
                if reads_events || compares_reason {
                    offending.push(format!("{}:{}: {line}", path.display(), n + 1));
                }
            }
        }
    }
    assert!(offending.is_empty(), "{offending:#?}");
}

/// One decision per reconcile: `plan::due` names the gates to evaluate, and `plan::decide` is
/// called at one place, once, in the reconcile's pass (the controller's
/// `rollgate_reconcile_decisions` histogram shows it at run time: see the e2e surface test).
#[test]
fn the_controller_calls_the_planner_at_one_place() {
    let mut calls = vec![];
    for (path, text) in sources(&root().join("src")) {
        for (n, line) in text.lines().enumerate() {
            if line.contains("plan::decide(") || line.contains("plan::due(") {
                calls.push(format!("{}:{}", path.display(), n + 1));
            }
        }
    }
    assert_eq!(calls.len(), 2, "{calls:#?}");
    assert!(
        calls.iter().all(|c| c.contains("controller/reconcile.rs")),
        "{calls:#?}"
    );
}

/// Code lines (not comments) under `dir` that contain `word`, outside `allowed` paths.
fn named_outside(dir: &Path, word: &str, allowed: &[&str]) -> Vec<String> {
    let mut found = vec![];
    for (path, text) in sources(dir) {
        let shown = path.display().to_string();
        // Unit-test modules (`…/tests/…` under a source tree) simulate the I/O side and may
        // name what they simulate.
        if allowed.iter().any(|a| shown.contains(a))
            || shown.contains("/src/") && shown.contains("/tests/")
        {
            continue;
        }
        // Unit tests may use any type as a stand-in; the seam is about what the code does.
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in code.lines().enumerate() {
            let line = line.trim_start();
            if !line.starts_with("//") && line.contains(word) {
                found.push(format!("{shown}:{}: {line}", n + 1));
            }
        }
    }
    found
}

/// A workload kind is named by its adapter only: the rest of the controller works on
/// `workload::Object`, so a new kind is a file in the adapter, not an edit across the loop.
#[test]
fn only_the_workload_adapter_names_a_workload_kind() {
    let controller = root().join("src/controller");
    for kind in ["Deployment", "StatefulSet", "ReplicaSet"] {
        let found = named_outside(&controller, kind, &["src/controller/workload/"]);
        assert!(
            found.is_empty(),
            "{kind} named outside the adapter: {found:#?}"
        );
    }
}

/// A router is named by the traffic seam only: the core's `traffic` (what it means) and the
/// controller's `traffic` (its I/O); the planner asks `Router`'s methods, never its variants.
#[test]
fn only_the_traffic_seam_names_a_router() {
    let seam = ["core/src/traffic", "src/controller/traffic"];
    for dir in ["src", "core/src"] {
        let found: Vec<String> = named_outside(&root().join(dir), "Router::", &seam)
            .into_iter()
            // HTTP servers have routers too (axum's); only ours is the seam's business.
            .filter(|hit| {
                // A variant (`Router::Pods`), not a function (`Router::of`).
                let variant = hit
                    .split("Router::")
                    .skip(1)
                    .any(|rest| rest.chars().next().is_some_and(char::is_uppercase));
                let file = hit.split(':').next().unwrap_or_default();
                let text = std::fs::read_to_string(file).unwrap_or_default();
                variant && (text.contains("traffic::Router") || hit.contains("traffic::Router::"))
            })
            .collect();
        assert!(
            found.is_empty(),
            "a router named outside the seam: {found:#?}"
        );
    }
}

/// Hosts of package and image registries: the project names none (installs go through the
/// machine's configured sources; images are the user's to name).
const REGISTRY_HOSTS: [&str; 14] = [
    "crates.io",
    "static.rust-lang.org",
    "proxy.golang.org",
    "sum.golang.org",
    "pypi.org",
    "files.pythonhosted.org",
    "registry.npmjs.org",
    "repo1.maven.org",
    "repo.maven.apache.org",
    "deb.debian.org",
    "ghcr.io",
    "docker.io",
    "quay.io",
    "gcr.io",
];

#[test]
fn no_package_registry_host_is_named_in_the_repository() {
    let files = Command::new("git")
        .current_dir(root())
        .args(["ls-files", "-z"])
        .output()
        .unwrap();
    assert!(files.status.success());
    let mut named = vec![];
    for file in String::from_utf8(files.stdout).unwrap().split('\0') {
        // Cargo's own lockfile records its index by URL; go.sum lists module paths.
        if file.is_empty() || file.ends_with("Cargo.lock") || file == "tests/architecture.rs" {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(root().join(file)) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            for host in REGISTRY_HOSTS {
                if line.contains(host) {
                    named.push(format!("{file}:{}: {host}", n + 1));
                }
            }
        }
    }
    assert!(named.is_empty(), "{named:#?}");
}

//! Golden output, one state at a time: a Rollout in each state the lifecycle knows is written
//! to the real API server (status as the controller writes it, at a fixed instant), then read
//! back by `rollgate status`, `rollgate list` and `kubectl get rollouts` (the CRD's printer
//! columns). The outputs are compared with `tests/cli/golden/<state>/*.txt`, and every example
//! in README.md and docs/CLI.md marked `<!-- golden: <state>/<file> -->` must be one of them.
//!
//! `ROLLGATE_BLESS=1 hack/test golden` rewrites the files and the marked examples; review the
//! diff like code. Two things are normalized because the API server, not the test, sets them:
//! the namespace (a fresh one per state, shown as `shop`) and AGE (from `creationTimestamp`,
//! shown as `10m`).

mod states;

use std::path::{Path, PathBuf};

use kube::api::{Patch, PatchParams};
use rollgate::api::RolloutStatus;
use serde_json::Value;

use crate::support::Fixture;

/// "Now" for every state: status times are set relative to it and `rollgate status --as-of`
/// reads them from it.
pub const NOW: &str = "2026-01-01T12:00:00Z";
/// AGE as the goldens show it.
const AGE: &str = "10m";

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cli/golden")
}

fn blessing() -> bool {
    std::env::var_os("ROLLGATE_BLESS").is_some()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_state_reads_the_same_in_status_list_and_kubectl() {
    let mut differences = Vec::new();
    for state in states::all() {
        let f = Fixture::new("golden").await;
        let outputs = outputs(&f, &state.rollout, state.status).await;
        for (file, text) in outputs {
            let path = golden_dir().join(state.name).join(format!("{file}.txt"));
            if blessing() {
                std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                std::fs::write(&path, &text).unwrap();
                continue;
            }
            let want = std::fs::read_to_string(&path).unwrap_or_default();
            if want != text {
                differences.push(format!("{}: got\n{text}\nwant\n{want}", path.display()));
            }
        }
        f.cleanup().await;
    }
    assert!(
        differences.is_empty(),
        "output differs from the goldens (ROLLGATE_BLESS=1 rewrites them):\n{}",
        differences.join("\n")
    );
    documented_examples_are_goldens();
}

/// Writes the Rollout and its status, then reads it back the three ways.
async fn outputs(f: &Fixture, rollout: &Value, status: Value) -> Vec<(&'static str, String)> {
    let created = f.create_rollout(rollout.clone()).await;
    let mut status: RolloutStatus = serde_json::from_value(status).expect("a valid status");
    status.observed_generation = created.metadata.generation;
    // The controller writes the columns with the status; so does this test, by the same code.
    status.columns = Some(status.columns_for(created.spec.stages.len()));
    let name = "checkout";
    f.rollouts()
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({ "status": status })),
        )
        .await
        .expect("write the status");
    let ns = f.name();
    let normalize = |text: String, age: bool| {
        let text = text.replace(ns, "shop");
        if !age {
            return text;
        }
        // AGE is the last column of both tables.
        text.lines()
            .map(|l| match l.rsplit_once(' ') {
                Some((head, _)) if !l.ends_with("AGE") => format!("{head} {AGE}\n"),
                _ => format!("{l}\n"),
            })
            .collect()
    };
    let status_out = f.ok(&["status", name, "--as-of", NOW]).await;
    let list = f.ok(&["list"]).await;
    let kubectl = |wide: bool| {
        let mut c = tokio::process::Command::new(f.env.kubectl());
        c.env("KUBECONFIG", &f.env.kubeconfig)
            .args(["get", "rollouts", "-n", ns]);
        if wide {
            c.args(["-o", "wide"]);
        }
        c
    };
    let mut tables = String::new();
    for wide in [false, true] {
        let out = kubectl(wide).output().await.expect("run kubectl");
        assert!(
            out.status.success(),
            "kubectl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let command = if wide {
            "\n$ kubectl get rollouts -n shop -o wide\n"
        } else {
            "$ kubectl get rollouts -n shop\n"
        };
        tables += command;
        tables += &normalize(String::from_utf8_lossy(&out.stdout).into_owned(), true);
    }
    vec![
        (
            "status",
            format!(
                "$ rollgate status checkout -n shop\n{}",
                normalize(status_out, false)
            ),
        ),
        (
            "list",
            format!("$ rollgate list -n shop\n{}", normalize(list, true)),
        ),
        ("kubectl", tables),
    ]
}

/// Every documented example marked `<!-- golden: STATE/FILE -->` is the golden it names,
/// byte for byte (blessing rewrites the example).
fn documented_examples_are_goldens() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stale = Vec::new();
    let mut found = 0;
    for doc in ["README.md", "docs/CLI.md"] {
        let path = root.join(doc);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("<!-- golden: ") {
            let (before, marked) = rest.split_at(at);
            out += before;
            let end = marked.find(" -->").expect("a closed marker");
            let name = &marked["<!-- golden: ".len()..end];
            let after_marker = &marked[end + " -->".len()..];
            let open = after_marker
                .find("```\n")
                .expect("a code block after the marker")
                + 4;
            let close = after_marker[open..].find("```\n").expect("a closed block") + open;
            let shown = &after_marker[open..close];
            let golden = std::fs::read_to_string(golden_dir().join(format!("{name}.txt")))
                .unwrap_or_else(|e| panic!("{doc}: golden {name}: {e}"));
            found += 1;
            if shown != golden {
                stale.push(format!("{doc}: the example {name} is not its golden"));
            }
            out += &marked[..end + " -->".len()];
            out += &after_marker[..open];
            out += &golden;
            rest = &after_marker[close..];
        }
        out += rest;
        if blessing() && out != text {
            std::fs::write(&path, out).unwrap();
        }
    }
    assert!(
        found >= 4,
        "the docs show real output ({found} examples marked)"
    );
    assert!(
        blessing() || stale.is_empty(),
        "{} (ROLLGATE_BLESS=1 rewrites them)",
        stale.join("\n")
    );
}

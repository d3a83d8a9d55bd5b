//! Commands that need no cluster: `crds` and `lint`.

use std::path::Path;

use crate::support::Run;

async fn run(args: &[&str]) -> Run {
    // No kubeconfig at all: these commands must not need one.
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollgate"))
        .args(args)
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .output()
        .await
        .expect("run rollgate");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[tokio::test]
async fn crds_prints_every_custom_resource_definition_as_applicable_yaml() {
    let r = run(&["crds"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, rollgate::api::crds_yaml());
    let mut kinds = Vec::new();
    for doc in r.stdout.split("\n---").filter(|d| !d.trim().is_empty()) {
        let v: serde_json::Value = serde_norway::from_str(doc).expect("each document is YAML");
        assert_eq!(v["apiVersion"], "apiextensions.k8s.io/v1");
        assert_eq!(v["kind"], "CustomResourceDefinition");
        assert_eq!(v["spec"]["group"], "rollgate.dev");
        kinds.push(v["spec"]["names"]["kind"].as_str().unwrap().to_string());
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "Freeze",
            "Incident",
            "IncidentChannel",
            "Release",
            "Rollout"
        ]
    );
}

const GOOD: &str = r#"apiVersion: rollgate.dev/v1alpha1
kind: Rollout
metadata:
  name: checkout
  namespace: shop
spec:
  targetRef: {kind: Deployment, name: checkout}
  replicas: 4
  stages:
    - {weight: 25, bake: 30s}
    - {weight: 100, bake: 1m}
  gates:
    - name: error-ratio
      query: sum(rate(http_requests_total{namespace="{{namespace}}",rollgate_track="{{track}}",code=~"5.."}[1m])) / sum(rate(http_requests_total{namespace="{{namespace}}",rollgate_track="{{track}}"}[1m]))
      max: 0.02
      interval: 10s
      failureLimit: 2
---
apiVersion: v1
kind: ConfigMap
metadata: {name: not-ours}
"#;

/// A typo'd field, a weight above 100 and a broken PromQL query.
const BAD: &str = r#"apiVersion: rollgate.dev/v1alpha1
kind: Rollout
metadata:
  name: checkout
spec:
  targetRef: {kind: Deployment, name: checkout}
  stages:
    - {weight: 250, bake: 30s}
    - {wieght: 100, bake: 1m}
  gates:
    - name: error-ratio
      query: sum(rate(http_requests_total[1m]
      max: 0.02
"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

#[tokio::test]
async fn lint_passes_a_good_file_and_fails_a_bad_one_with_positions() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.yaml", GOOD);
    let bad = write(dir.path(), "bad.yaml", BAD);

    let r = run(&["lint", &good]).await;
    assert_eq!(r.code, 0, "a good file passes: {}{}", r.stdout, r.stderr);
    let r = run(&["lint", &good, "-o", "json"]).await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    let _: serde_json::Value = serde_json::from_str(&r.stdout).expect("lint -o json is JSON");

    let r = run(&["lint", &bad]).await;
    assert_eq!(r.code, 1, "problems exit 1: {}{}", r.stdout, r.stderr);
    let text = r.stdout.clone() + &r.stderr;
    assert!(
        text.contains("bad.yaml:"),
        "problems carry file positions: {text}"
    );
    assert!(text.contains("wieght"), "the typo is named: {text}");
    assert!(
        text.contains("weight"),
        "and the right field suggested: {text}"
    );
    let r = run(&["lint", &bad, "-o", "json"]).await;
    assert_eq!(r.code, 1);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("lint -o json is JSON");
    assert!(v.to_string().contains("wieght"), "{v}");

    // Good and bad together: still a failure.
    assert_eq!(run(&["lint", &good, &bad]).await.code, 1);
    // A file that is not there is an error, not a pass.
    let r = run(&["lint", &format!("{}/missing.yaml", dir.path().display())]).await;
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("missing.yaml"), "{}", r.stderr);
}

//! Every manifest in `examples/` is what it claims to be: `rollgate lint` finds nothing in
//! it, and the real API server (with the rollgate CRDs installed) accepts every document in
//! a server-side dry run.

use std::path::{Path, PathBuf};

use kube::api::{DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::discovery::{Scope, pinned_kind};
use kube::{Api, ResourceExt};
use rollgate_platform::TestNamespace;

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/ exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

fn documents(path: &Path) -> Vec<DynamicObject> {
    let text = std::fs::read_to_string(path).expect("example is readable");
    let (docs, problems) = rollgate::cli::lint::documents(&path.display().to_string(), &text);
    assert!(problems.is_empty(), "{problems:?}");
    docs.into_iter()
        .map(|d| serde_json::from_value(d.value).expect("a Kubernetes object"))
        .collect()
}

#[test]
fn the_promised_examples_exist() {
    let names: Vec<String> = examples()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "basic-canary.yaml",
        "canary-vs-stable.yaml",
        "statistical-judges.yaml",
        "config-rollout.yaml",
        "error-ratio-and-p99-latency.yaml",
        "gateway-api.yaml",
        "header-canary.yaml",
        "hpa.yaml",
        "incident-channels.yaml",
        "manual-approval.yaml",
        "waves.yaml",
    ] {
        assert!(
            names.iter().any(|n| n == want),
            "examples/{want} is missing"
        );
    }
}

#[test]
fn every_example_lints_clean() {
    for path in examples() {
        let text = std::fs::read_to_string(&path).unwrap();
        let problems = rollgate::cli::lint::lint_text(&path.display().to_string(), &text);
        assert!(
            problems.is_empty(),
            "{}",
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
        let rollouts = documents(&path)
            .iter()
            .filter(|d| {
                d.types
                    .as_ref()
                    .is_some_and(|t| t.kind == "Rollout" || t.kind == "Release")
            })
            .count();
        assert!(
            rollouts >= 1,
            "{} has no Rollout or Release",
            path.display()
        );
    }
}

#[tokio::test]
async fn every_example_is_accepted_by_the_api_server() {
    rollgate_platform::install_crypto_provider();
    let env = rollgate_platform::shared();
    let client = env.client().await;
    rollgate::controller::crds::install(&client, "rollgate-examples")
        .await
        .expect("install the CRDs");
    // Routing examples bring their HTTPRoute: the Gateway API's CRDs validate it.
    rollgate_platform::gateway_api::install(&client)
        .await
        .expect("the Gateway API CRDs");
    let ns = TestNamespace::create(env, "examples")
        .await
        .expect("namespace");
    let dry_run = PatchParams::apply("rollgate-examples").dry_run();
    for path in examples() {
        for doc in documents(&path) {
            let types = doc.types.clone().expect("apiVersion and kind");
            let gvk = GroupVersionKind::try_from(&types).expect("apiVersion");
            let (resource, caps) = pinned_kind(&client, &gvk).await.unwrap_or_else(|e| {
                panic!("{}: {} is not served: {e}", path.display(), types.kind)
            });
            let api: Api<DynamicObject> = match caps.scope {
                Scope::Namespaced => Api::namespaced_with(client.clone(), &ns.name, &resource),
                Scope::Cluster => Api::all_with(client.clone(), &resource),
            };
            let name = doc.name_any();
            api.patch(&name, &dry_run, &Patch::Apply(&doc))
                .await
                .unwrap_or_else(|e| {
                    panic!("{}: {} {name} rejected: {e}", path.display(), types.kind)
                });
        }
    }
    ns.cleanup().await;
}

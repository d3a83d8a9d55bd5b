//! Member clusters as a Release hub sees them in tests: cluster Secrets, and a real
//! ServiceAccount token bound by the Role rollgate ships (`deploy/hub-access.yaml`), minted by
//! the platform's credential helper.

use std::path::PathBuf;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::PostParams;
use rollgate_platform::{
    ClusterEndpoint, CredentialRequest, MemberCluster, PlatformEnv, ServiceAccountCredential,
};
use serde_json::json;

use crate::Fixture;

/// The ServiceAccount of `deploy/hub-access.yaml`.
pub const HUB_ACCOUNT: &str = "rollgate-hub";

/// Registers a member cluster for the Releases of `f`'s namespace: a Secret `name` labelled
/// `rollgate.dev/cluster: member` plus `labels`, holding `kubeconfig`.
pub async fn member(f: &Fixture, name: &str, labels: &[(&str, &str)], kubeconfig: &str) {
    let mut all = serde_json::Map::new();
    all.insert("rollgate.dev/cluster".into(), json!("member"));
    for (k, v) in labels {
        all.insert(k.to_string(), json!(v));
    }
    let s: Secret = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": all},
        "stringData": {"kubeconfig": kubeconfig},
    }))
    .unwrap();
    Api::<Secret>::namespaced(f.client.clone(), f.name())
        .create(&PostParams::default(), &s)
        .await
        .unwrap();
}

/// `deploy/hub-access.yaml` with its namespaces as the credential helper's placeholder (the
/// Role and the ServiceAccount side by side in the test's namespace), written once per process.
fn manifest(env: &PlatformEnv) -> PathBuf {
    let shipped =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/hub-access.yaml");
    let text = std::fs::read_to_string(&shipped).expect("deploy/hub-access.yaml");
    let templated = text
        .replace("namespace: shop", "namespace: {{namespace}}")
        .replace("namespace: rollgate-system", "namespace: {{namespace}}");
    let path = env
        .work_dir
        .join(format!("hub-access-{}.yaml", std::process::id()));
    std::fs::write(&path, templated).expect("write the hub-access manifest");
    path
}

/// The hub's credential on the shared platform (the hub as a member of itself), for
/// `f`'s namespace.
pub async fn hub_credential(f: &Fixture) -> ServiceAccountCredential {
    let manifest = manifest(f.env);
    let endpoint = ClusterEndpoint::of_platform(f.env, "hub").expect("the platform's endpoint");
    rollgate_platform::mint_credential(
        &f.client,
        &endpoint,
        &CredentialRequest::new(f.name(), HUB_ACCOUNT, &manifest),
    )
    .await
    .expect("the hub's credential")
}

/// The hub's credential on `member`, for namespace `ns` there.
pub async fn member_credential(
    env: &PlatformEnv,
    member: &MemberCluster,
    ns: &str,
) -> ServiceAccountCredential {
    let manifest = manifest(env);
    member
        .mint_credential(&CredentialRequest::new(ns, HUB_ACCOUNT, &manifest))
        .await
        .expect("the hub's credential on a member")
}

/// A kubeconfig naming a server nothing listens on (a member whose API server is gone).
pub fn unreachable_kubeconfig(f: &Fixture) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let admin = std::fs::read_to_string(&f.env.kubeconfig).expect("the platform's kubeconfig");
    admin.replace(&f.env.apiserver_url, &format!("https://127.0.0.1:{port}"))
}

//! Member clusters as a Release hub sees them in tests: cluster Secrets, and a real
//! ServiceAccount token bound by the Role rollgate ships (`deploy/hub-access.yaml`).

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Patch, PatchParams, PostParams};
use kube::config::Kubeconfig;
use kube::{Api, Client};
use serde_json::{Value, json};

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

/// A kubeconfig for the platform's API server authenticated by `token`.
pub fn token_kubeconfig(f: &Fixture, token: &str) -> String {
    kubeconfig_to(f, None, json!({"token": token}))
}

/// A kubeconfig naming a server nothing listens on (a member whose API server is gone).
pub fn unreachable_kubeconfig(f: &Fixture) -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    kubeconfig_to(
        f,
        Some(format!("https://127.0.0.1:{port}")),
        json!({"token": "unused"}),
    )
}

/// The platform's own kubeconfig (cluster and CA), with `server` and `user` replaced.
fn kubeconfig_to(f: &Fixture, server: Option<String>, user: Value) -> String {
    let admin = Kubeconfig::read_from(&f.env.kubeconfig).expect("the platform's kubeconfig");
    let cluster = admin.clusters[0].cluster.clone().expect("a cluster");
    let server = server.or(cluster.server).expect("a server");
    let mut c = json!({"server": server});
    if let Some(data) = cluster.certificate_authority_data {
        c["certificate-authority-data"] = json!(data);
    }
    if let Some(file) = cluster.certificate_authority {
        c["certificate-authority"] = json!(file);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "member", "cluster": c}],
        "users": [{"name": "hub", "user": user}],
        "contexts": [{"name": "member", "context": {"cluster": "member", "user": "hub"}}],
        "current-context": "member",
    })
    .to_string()
}

/// Applies `deploy/hub-access.yaml` with every namespace set to `f`'s (the ServiceAccount and
/// the Role side by side), mints a token of its ServiceAccount, and returns the kubeconfig a
/// hub would hold for this cluster.
pub async fn hub_credential(f: &Fixture) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/hub-access.yaml");
    let text = std::fs::read_to_string(&path).expect("deploy/hub-access.yaml");
    let apply = PatchParams::apply("rollgate-e2e");
    for doc in text.split("\n---\n") {
        let mut v: Value = serde_norway::from_str(doc).expect("a YAML document");
        v["metadata"]["namespace"] = json!(f.name());
        if let Some(subjects) = v.get_mut("subjects").and_then(Value::as_array_mut) {
            for s in subjects {
                s["namespace"] = json!(f.name());
            }
        }
        let name = v["metadata"]["name"].as_str().unwrap().to_string();
        let c = f.client.clone();
        match v["kind"].as_str() {
            Some("ServiceAccount") => ssa::<ServiceAccount>(&c, f.name(), &name, &v, &apply).await,
            Some("Role") => ssa::<Role>(&c, f.name(), &name, &v, &apply).await,
            Some("RoleBinding") => ssa::<RoleBinding>(&c, f.name(), &name, &v, &apply).await,
            other => panic!("deploy/hub-access.yaml: unexpected kind {other:?}"),
        }
    }
    let request = TokenRequest {
        spec: Some(TokenRequestSpec {
            expiration_seconds: Some(3600),
            ..Default::default()
        }),
        ..Default::default()
    };
    let token = Api::<ServiceAccount>::namespaced(f.client.clone(), f.name())
        .create_token_request(HUB_ACCOUNT, &PostParams::default(), &request)
        .await
        .expect("a token of the hub's ServiceAccount")
        .status
        .and_then(|s| s.token)
        .expect("a minted token");
    token_kubeconfig(f, &token)
}

async fn ssa<K>(client: &Client, ns: &str, name: &str, v: &Value, params: &PatchParams)
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    Api::<K>::namespaced(client.clone(), ns)
        .patch(name, params, &Patch::Apply(v))
        .await
        .unwrap_or_else(|e| panic!("apply {name}: {e}"));
}

/// A client of the platform acting with `kubeconfig` (a hub's credential).
pub async fn client_of(kubeconfig: &str) -> Client {
    let config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::from_yaml(kubeconfig).expect("a kubeconfig"),
        &Default::default(),
    )
    .await
    .expect("a client config");
    Client::try_from(config).expect("a client")
}

//! `rollgate lint --cluster`: the channels a Rollout names, checked against the real cluster
//! before merge, so an incident that would reach nobody is found in review, not at 3 a.m.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::PostParams;
use rollgate::api::IncidentChannel;
use serde_json::json;

use crate::support::{Fixture, run};

async fn create_channel(f: &Fixture, name: &str, spec: serde_json::Value) {
    let c: IncidentChannel = serde_json::from_value(json!({
        "apiVersion": "rollgate.dev/v1alpha1", "kind": "IncidentChannel",
        "metadata": {"name": name}, "spec": spec
    }))
    .unwrap();
    Api::<IncidentChannel>::namespaced(f.client.clone(), f.name())
        .create(&PostParams::default(), &c)
        .await
        .expect("create the channel");
}

#[tokio::test(flavor = "multi_thread")]
async fn lint_with_a_cluster_finds_channels_and_secrets_that_do_not_exist() {
    let f = Fixture::new("cli-lint-refs").await;
    let ns = f.name().to_string();
    create_channel(
        &f,
        "pd",
        json!({"type": "pagerduty", "secretRef": {"name": "pd-key"}}),
    )
    .await;
    let manifest = format!(
        "apiVersion: rollgate.dev/v1alpha1\nkind: Rollout\nmetadata: {{name: app, namespace: {ns}}}\nspec:\n  targetRef: {{kind: Deployment, name: app}}\n  replicas: 2\n  stages: [{{weight: 100}}]\n  incident: {{channels: [pd, here, nowhere]}}\n---\napiVersion: rollgate.dev/v1alpha1\nkind: IncidentChannel\nmetadata: {{name: here, namespace: {ns}}}\nspec: {{type: webhook, url: 'https://hooks.example/x'}}\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.yaml");
    std::fs::write(&path, manifest).unwrap();
    let path = path.display().to_string();

    let offline = run(f.env, &["lint", &path]).await;
    assert_eq!(
        offline.code, 0,
        "offline, references are not judged: {offline:?}"
    );

    let r = run(f.env, &["lint", "--cluster", &path]).await;
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        r.stdout.contains(&format!(
            "app.yaml:8 spec.incident.channels[0]: Secret {ns}/pd-key of IncidentChannel pd does not exist"
        )),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "spec.incident.channels[2]: IncidentChannel {ns}/nowhere does not exist in the cluster"
        )),
        "{}",
        r.stdout
    );
    assert!(
        !r.stdout.contains("channels[1]"),
        "a channel defined in the same files counts: {}",
        r.stdout
    );

    let key: Secret = serde_json::from_value(json!({
        "metadata": {"name": "pd-key"}, "stringData": {"routingKey": "R0UTINGKEY0000000000000000000000"}
    }))
    .unwrap();
    Api::<Secret>::namespaced(f.client.clone(), &ns)
        .create(&PostParams::default(), &key)
        .await
        .unwrap();
    create_channel(
        &f,
        "nowhere",
        json!({"type": "webhook", "url": "https://hooks.example/y"}),
    )
    .await;
    let r = run(f.env, &["lint", "--cluster", &path]).await;
    assert_eq!(r.code, 0, "every reference resolves now: {r:?}");
    f.cleanup().await;
}

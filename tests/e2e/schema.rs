//! The API server itself rejects malformed Rollouts, with messages naming the field.

use kube::api::PostParams;
use rollgate::api::Rollout;
use serde_json::{Value, json};

use crate::support::{Fixture, rollout};

/// What a case changes in the valid base document.
type Mutation = Box<dyn Fn(&mut Value)>;

fn base() -> Value {
    rollout(
        "r",
        "app",
        3,
        &[(10, "5s"), (100, "0s")],
        vec![json!({"name": "g", "query": "up", "max": 1})],
    )
}

/// Creates `doc` through the raw API (so the schema, not serde, judges it) and returns the error.
async fn rejection(f: &Fixture, doc: Value) -> String {
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        f.client.clone(),
        f.name(),
        &kube::api::ApiResource::erase::<Rollout>(&()),
    );
    let obj: kube::api::DynamicObject = serde_json::from_value(doc).unwrap();
    match api.create(&PostParams::default(), &obj).await {
        Ok(_) => String::new(),
        Err(kube::Error::Api(s)) => s.message,
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn api_server_rejects_malformed_rollouts_naming_the_field() {
    let f = Fixture::new("schema").await;
    let cases: Vec<(&str, Mutation, &str)> = vec![
        (
            "replicas as a string",
            Box::new(|v| v["spec"]["replicas"] = json!("three")),
            "spec.replicas",
        ),
        (
            "missing targetRef",
            Box::new(|v| drop(v["spec"].as_object_mut().unwrap().remove("targetRef"))),
            "spec.targetRef",
        ),
        (
            "missing target name",
            Box::new(|v| v["spec"]["targetRef"] = json!({"kind": "Deployment"})),
            "spec.targetRef.name",
        ),
        (
            "target kind not Deployment",
            Box::new(|v| v["spec"]["targetRef"]["kind"] = json!("StatefulSet")),
            "spec.targetRef.kind",
        ),
        (
            "weight 0",
            Box::new(|v| v["spec"]["stages"][0]["weight"] = json!(0)),
            "spec.stages[0].weight",
        ),
        (
            "weight 101",
            Box::new(|v| v["spec"]["stages"][1]["weight"] = json!(101)),
            "spec.stages[1].weight",
        ),
        (
            "weights decreasing",
            Box::new(|v| {
                v["spec"]["stages"] = json!([{"weight": 50}, {"weight": 10}, {"weight": 100}])
            }),
            "stage weights must not decrease",
        ),
        (
            "last stage not 100",
            Box::new(|v| v["spec"]["stages"][1]["weight"] = json!(90)),
            "the last stage must have weight 100",
        ),
        (
            "no stages",
            Box::new(|v| v["spec"]["stages"] = json!([])),
            "spec.stages",
        ),
        (
            "bad bake duration",
            Box::new(|v| v["spec"]["stages"][0]["bake"] = json!("five minutes")),
            "spec.stages[0].bake",
        ),
        (
            "bad progress deadline",
            Box::new(|v| v["spec"]["progressDeadline"] = json!("15")),
            "spec.progressDeadline",
        ),
        (
            "failureLimit 0",
            Box::new(|v| v["spec"]["gates"][0]["failureLimit"] = json!(0)),
            "spec.gates[0].failureLimit",
        ),
        (
            "gate without bounds",
            Box::new(|v| v["spec"]["gates"][0] = json!({"name": "g", "query": "up"})),
            "a gate needs min, max, compare, sequential, alert, msprt or kayenta",
        ),
        (
            "gate of two kinds",
            Box::new(|v| v["spec"]["gates"][0]["msprt"] = json!({"alpha": 0.01})),
            "a gate is one kind: min/max/compare, sequential, alert, msprt or kayenta",
        ),
        (
            "kayenta gate with a query",
            Box::new(|v| {
                v["spec"]["gates"][0] = json!({"name": "k", "query": "up", "kayenta": {
                    "metrics": [{"name": "m", "query": "up"}],
                    "scoreThresholds": {"marginal": 75, "pass": 95}}})
            }),
            "a sequential, alert or kayenta gate has no query",
        ),
        (
            "kayenta marginal above pass",
            Box::new(|v| {
                v["spec"]["gates"][0] = json!({"name": "k", "kayenta": {
                    "metrics": [{"name": "m", "query": "up"}],
                    "scoreThresholds": {"marginal": 96, "pass": 95}}})
            }),
            "marginal must not exceed pass",
        ),
        (
            "kayenta effect size of two measures",
            Box::new(|v| {
                v["spec"]["gates"][0] = json!({"name": "k", "kayenta": {
                    "metrics": [{"name": "m", "query": "up", "effectSize": {"meanRatio": {}, "cles": {}}}],
                    "scoreThresholds": {"marginal": 75, "pass": 95}}})
            }),
            "an effect size is meanRatio or cles",
        ),
        (
            "gate with empty query",
            Box::new(|v| v["spec"]["gates"][0]["query"] = json!("")),
            "spec.gates[0].query",
        ),
        (
            "duplicate gate names",
            Box::new(
                |v| v["spec"]["gates"] = json!([{"name": "g", "query": "up", "max": 1}, {"name": "g", "query": "up", "max": 2}]),
            ),
            "gate names must be unique",
        ),
        (
            "bad onNoData",
            Box::new(|v| v["spec"]["gates"][0]["onNoData"] = json!("Ignore")),
            "spec.gates[0].onNoData",
        ),
        (
            "bad maxIncrease",
            Box::new(|v| v["spec"]["gates"][0]["compare"] = json!({"maxIncrease": "lots"})),
            "spec.gates[0].compare.maxIncrease",
        ),
        (
            "min above max",
            Box::new(|v| v["spec"]["gates"][0]["min"] = json!(5)),
            "min must not exceed max",
        ),
        (
            "bad gate name",
            Box::new(|v| v["spec"]["gates"][0]["name"] = json!("Error Ratio")),
            "spec.gates[0].name",
        ),
        (
            "bad prometheus address",
            Box::new(|v| v["spec"]["prometheus"] = json!({"address": "prom:9090"})),
            "spec.prometheus.address",
        ),
    ];
    assert!(cases.len() >= 8);
    let mut failures = vec![];
    for (what, mutate, expected) in &cases {
        let mut doc = base();
        doc["metadata"]["name"] = json!("r");
        mutate(&mut doc);
        let message = rejection(&f, doc).await;
        if message.is_empty() {
            failures.push(format!("{what}: was accepted"));
        } else if !message.contains(expected) {
            failures.push(format!(
                "{what}: message {message:?} does not contain {expected:?}"
            ));
        }
    }
    // The well-formed base is accepted, so the rejections above are about the mutations.
    assert_eq!(
        rejection(&f, base()).await,
        "",
        "the base document is valid"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    f.cleanup().await;
}

/// Configurations that could never page or never evaluate are refused when written.
#[tokio::test(flavor = "multi_thread")]
async fn api_server_rejects_channels_without_a_destination_and_addresses_without_a_host() {
    let f = Fixture::new("schema-refs").await;
    let mut no_host = base();
    no_host["spec"]["prometheus"] = json!({"address": "http://"});
    let message = rejection(&f, no_host).await;
    assert!(
        message.contains("spec.prometheus.address") && message.contains("with a host"),
        "{message}"
    );
    let channels: kube::Api<kube::api::DynamicObject> = kube::Api::namespaced_with(
        f.client.clone(),
        f.name(),
        &kube::api::ApiResource::erase::<rollgate::api::IncidentChannel>(&()),
    );
    let channel = |spec: Value| -> kube::api::DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "rollgate.dev/v1alpha1", "kind": "IncidentChannel",
            "metadata": {"name": "c"}, "spec": spec
        }))
        .unwrap()
    };
    for (spec, says) in [
        (
            json!({"type": "webhook"}),
            "webhook and alertmanager channels need url",
        ),
        (
            json!({"type": "alertmanager"}),
            "webhook and alertmanager channels need url",
        ),
        (
            json!({"type": "webhook", "url": "https://"}),
            "url must be an http(s) URL with a host",
        ),
    ] {
        let err = channels
            .create(&PostParams::default(), &channel(spec.clone()))
            .await
            .expect_err(&format!("{spec} is refused"));
        let kube::Error::Api(s) = err else {
            panic!("unexpected error: {err}")
        };
        assert!(s.message.contains(says), "{spec}: {}", s.message);
    }
    channels
        .create(
            &PostParams::default(),
            &channel(json!({"type": "webhook", "url": "https://hooks.example/x"})),
        )
        .await
        .expect("a complete webhook channel is accepted");
    f.cleanup().await;
}

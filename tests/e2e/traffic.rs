//! Exact traffic through a Gateway API HTTPRoute (the real CRDs, validated by the API server;
//! a stand-in writes the route status a Gateway would): each stage's weight exactly, counted
//! only once accepted, requests back to stable before canary pods go, a header stage, a
//! concurrent editor never overwritten, and a route rollgate owns.

use std::time::Duration;

use k8s_openapi::api::core::v1::Service;
use kube::api::{PostParams, ResourceExt};
use rollgate::api::Phase;
use rollgate::plan::Verb;
use serde_json::{Value, json};

use crate::gateway::{self, StandIn, header_rule, routes, weights};
use crate::support::{ControllerProcess, Fixture, error_ratio_gate, rollout};

const MINUTE: Duration = Duration::from_secs(60);

/// The Gateway API's CRDs, the app (`replicas` pods) and its Service `app`.
async fn app_behind_a_service(f: &Fixture, replicas: i32) {
    rollgate_platform::gateway_api::install(&f.env.client().await)
        .await
        .expect("Gateway API CRDs");
    f.create_deployment("app", replicas, "app:v1").await;
    let services: kube::Api<Service> = kube::Api::namespaced(f.client.clone(), f.name());
    services
        .create(
            &PostParams::default(),
            &serde_json::from_value(gateway::service()).unwrap(),
        )
        .await
        .expect("the app's Service");
}

/// The app (4 pods), its Service, a user's route unless `managed` is given, and a Rollout
/// routing through it; adopted and Healthy, with the stand-in Gateway accepting.
async fn routed(
    f: &Fixture,
    stages: Value,
    gates: Vec<Value>,
    capacity: Option<Value>,
    managed: Option<Value>,
) -> (ControllerProcess, StandIn) {
    app_behind_a_service(f, 4).await;
    if managed.is_none() {
        routes(f)
            .create(
                &PostParams::default(),
                &serde_json::from_value(gateway::user_route()).unwrap(),
            )
            .await
            .expect("the user's route");
    }
    f.metrics("app", "stable", 50.0, 0.0).await;
    f.metrics("app", "canary", 50.0, 0.0).await;
    let mut spec = rollout("app", "app", 4, &[], gates);
    spec["spec"]["stages"] = stages;
    spec["spec"]["traffic"] = json!({"httpRoute": {"name": "app", "service": "app"}});
    if let Some(c) = capacity {
        spec["spec"]["traffic"]["canaryCapacity"] = c;
    }
    if let Some(m) = managed {
        spec["spec"]["traffic"]["httpRoute"]["managed"] = m;
    }
    f.create_rollout(spec).await;
    let c = f.controller();
    let gw = StandIn::start(f, "app");
    f.wait_phase("app", Phase::Healthy, MINUTE).await;
    (c, gw)
}

async fn route(f: &Fixture) -> Option<Value> {
    let r = routes(f).get_opt("app").await.ok()??;
    serde_json::to_value(r).ok()
}

async fn canary_replicas(f: &Fixture) -> i32 {
    f.deployments()
        .get_opt("app-canary")
        .await
        .ok()
        .flatten()
        .and_then(|d| d.spec?.replicas)
        .unwrap_or(0)
}

/// Distinct consecutive values.
fn runs<T: PartialEq + Clone>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    items.into_iter().fold(vec![], |mut out, x| {
        if out.last() != Some(&x) {
            out.push(x);
        }
        out
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_routed_release_sets_each_stage_weight_exactly_and_counts_it_once_accepted() {
    let f = Fixture::new("route").await;
    let stages = json!([
        {"weight": 1, "bake": "2s"}, {"weight": 5, "bake": "2s"},
        {"weight": 50, "bake": "2s"}, {"weight": 100, "bake": "1s"}
    ]);
    let (_c, gw) = routed(&f, stages, vec![], Some(json!({"minReplicas": 3})), None).await;
    gw.hold(true);
    f.set_image("app", "app:v2").await;
    f.wait("the route carries 1% to the canary", MINUTE, || async {
        (weights(&route(&f).await?) == [(99, 1)]).then_some(())
    })
    .await;
    // Written but not accepted by the Gateway: the stage is not exposed yet.
    for _ in 0..20 {
        let st = f.rollout("app").await.status.unwrap_or_default();
        let stage = st.stage.as_ref();
        assert!(
            stage.is_none_or(|s| s.ready_at.is_none()),
            "a stage counted before its Gateway accepted the route: {stage:?}"
        );
        // The share in effect is still the one before (0), never the stage's 1%.
        let routed = st.exposure.as_ref().and_then(|e| e.routed);
        assert!(
            routed.is_none_or(|r| r == 0),
            "reported {routed:?} before acceptance"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    gw.hold(false);
    // Sampled while the release runs: the canary's pods never fall short of the weight's need,
    // and at 1% and 5% they are the configured floor, not the share.
    let mut samples = vec![];
    let started = std::time::Instant::now();
    loop {
        let r = f.rollout("app").await;
        let weights = route(&f).await.map(|r| weights(&r)).unwrap_or_default();
        samples.push((weights.first().copied(), canary_replicas(&f).await));
        let promoted = r
            .status
            .as_ref()
            .is_some_and(|s| s.phase == Phase::Healthy && s.stable_revision == s.canary_revision);
        if promoted && weights == [(100, 0)] {
            break;
        }
        if started.elapsed() > MINUTE {
            f.fail("the routed release did not finish").await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for (w, replicas) in &samples {
        match w {
            Some((_, 1 | 5)) => assert_eq!(*replicas, 3, "{samples:?}"),
            Some((_, 50)) => assert!(*replicas >= 3, "{samples:?}"),
            Some((_, 100)) => assert_eq!(*replicas, 4, "{samples:?}"),
            _ => {}
        }
    }
    // The Gateway accepted exactly the stages' weights, in order.
    let accepted = runs(
        gw.accepted()
            .iter()
            .filter_map(|a| weights(&a.route).first().copied()),
    );
    assert_eq!(
        accepted,
        [(100, 0), (99, 1), (95, 5), (50, 50), (0, 100), (100, 0)]
    );
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rollback_returns_every_request_to_stable_before_any_canary_pod_goes() {
    let f = Fixture::new("route-back").await;
    let stages = json!([{"weight": 50, "bake": "5m"}, {"weight": 100, "bake": "1s"}]);
    let gates = vec![error_ratio_gate(0.1)];
    let (_c, gw) = routed(&f, stages, gates, None, None).await;
    f.wait_for_rates(&f.env.prometheus_url).await;
    f.set_image("app", "app:v2").await;
    f.wait_rollout("app", "50% routed and accepted", MINUTE, |r| {
        r.status
            .as_ref()
            .and_then(|s| s.exposure.as_ref())
            .is_some_and(|e| e.routed == Some(50))
    })
    .await;
    gw.hold(true);
    f.metrics("app", "canary", 50.0, 0.5).await;
    f.wait("requests back to stable in the route", MINUTE, || async {
        (weights(&route(&f).await?) == [(100, 0)]).then_some(())
    })
    .await;
    // The route is written first, then the decision's status.
    f.wait_phase("app", Phase::RollingBack, MINUTE).await;
    // Until the Gateway accepts the route without the canary, its pods stay.
    for _ in 0..20 {
        assert_eq!(
            canary_replicas(&f).await,
            2,
            "a canary pod went while requests could reach it"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    gw.hold(false);
    f.wait_phase("app", Phase::RolledBack, MINUTE).await;
    assert_eq!(canary_replicas(&f).await, 0);
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_header_stage_routes_only_the_header_to_the_canary_until_promotion_or_rollback() {
    let f = Fixture::new("route-header").await;
    let stages = json!([
        {"weight": 0, "header": {"name": "x-canary", "value": "always"}, "approval": "Manual"},
        {"weight": 100, "bake": "1s"}
    ]);
    let (_c, _gw) = routed(&f, stages, vec![], None, None).await;
    for (image, then) in [("app:v2", Verb::Promote), ("app:v3", Verb::Abort)] {
        f.set_image("app", image).await;
        let rule = f
            .wait("rollgate's header rule in the route", MINUTE, || async {
                header_rule(&route(&f).await?)
            })
            .await;
        let backends = rule["backendRefs"].as_array().unwrap();
        assert_eq!(backends.len(), 1, "{rule}");
        assert_eq!(backends[0]["name"], "app-canary");
        assert_eq!(backends[0]["port"], 80);
        assert_eq!(
            rule["matches"][0]["headers"],
            json!([{"type": "Exact", "name": "x-canary", "value": "always"}])
        );
        // Everything else still goes to stable.
        assert_eq!(weights(&route(&f).await.unwrap()), [(100, 0)]);
        f.wait_rollout("app", "the header stage exposed", MINUTE, |r| {
            r.status
                .as_ref()
                .and_then(|s| s.stage.as_ref())
                .is_some_and(|s| s.ready_at.is_some())
        })
        .await;
        f.request("app", then).await;
        let end = if then == Verb::Promote {
            Phase::Healthy
        } else {
            Phase::RolledBack
        };
        f.wait_phase("app", end, MINUTE).await;
        f.wait("the header rule gone", MINUTE, || async {
            header_rule(&route(&f).await?).is_none().then_some(())
        })
        .await;
    }
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn another_writer_of_the_route_is_never_overwritten() {
    let f = Fixture::new("route-edit").await;
    let stages = json!([{"weight": 10, "bake": "2s"}, {"weight": 100, "bake": "1s"}]);
    let (_c, _gw) = routed(&f, stages, vec![], None, None).await;
    // Another team's controller adds a hostname every 100 ms while the release runs (up to the
    // 16 a route may have), each as a conditional update of the route it just read.
    let api = routes(&f);
    let editor = tokio::spawn(async move {
        let mut written = vec![];
        for i in 0..15 {
            loop {
                let mut r = api.get("app").await.unwrap();
                let host = format!("h{i}.example");
                let mut hosts = r.data["spec"]["hostnames"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                hosts.push(json!(host));
                r.data["spec"]["hostnames"] = json!(hosts);
                let params = PostParams {
                    field_manager: Some("other-team".into()),
                    ..Default::default()
                };
                match api.replace("app", &params, &r).await {
                    Ok(_) => break written.push(host),
                    Err(kube::Error::Api(e)) if e.code == 409 => continue,
                    Err(e) => panic!("{e}"),
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        written
    });
    f.set_image("app", "app:v2").await;
    let written = editor.await.unwrap();
    f.wait_rollout("app", "promoted", MINUTE, |r| {
        r.status
            .as_ref()
            .is_some_and(|s| s.phase == Phase::Healthy && s.stable_revision == s.canary_revision)
    })
    .await;
    let last = f
        .wait("requests back on the new stable", MINUTE, || async {
            let r = route(&f).await?;
            (weights(&r) == [(100, 0)]).then_some(r)
        })
        .await;
    let hosts: Vec<String> = last["spec"]["hostnames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_string())
        .collect();
    assert_eq!(hosts, written, "every edit of the other writer survives");
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_managed_route_is_created_owned_and_carries_the_stages() {
    let f = Fixture::new("route-own").await;
    let stages = json!([{"weight": 50, "bake": "1s"}, {"weight": 100, "bake": "1s"}]);
    let managed = json!({"parentRefs": [{"name": gateway::PARENT}], "hostnames": ["app.example"], "port": 80});
    let (_c, gw) = routed(&f, stages, vec![], None, Some(managed)).await;
    let r = routes(&f).get("app").await.unwrap();
    let owner = f.rollout("app").await.uid();
    assert!(
        r.owner_references()
            .iter()
            .any(|o| Some(&o.uid) == owner.as_ref())
    );
    f.set_image("app", "app:v2").await;
    f.wait_rollout("app", "promoted", MINUTE, |r| {
        r.status
            .as_ref()
            .is_some_and(|s| s.phase == Phase::Healthy && s.stable_revision == s.canary_revision)
    })
    .await;
    f.wait("requests back on the new stable", MINUTE, || async {
        (weights(&route(&f).await?) == [(100, 0)]).then_some(())
    })
    .await;
    let accepted = runs(
        gw.accepted()
            .iter()
            .filter_map(|a| weights(&a.route).first().copied()),
    );
    assert!(accepted.contains(&(50, 50)), "{accepted:?}");
    assert_eq!(
        route(&f).await.unwrap()["spec"]["hostnames"],
        json!(["app.example"])
    );
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_route_is_the_specs_error_named_by_its_field() {
    let f = Fixture::new("route-missing").await;
    app_behind_a_service(&f, 2).await;
    let mut spec = rollout("app", "app", 2, &[(100, "1s")], vec![]);
    spec["spec"]["traffic"] = json!({"httpRoute": {"name": "nowhere", "service": "app"}});
    f.create_rollout(spec).await;
    let _c = f.controller();
    let r = f.wait_phase("app", Phase::Invalid, MINUTE).await;
    let message = r.status.unwrap().message.unwrap_or_default();
    assert!(
        message.contains("spec.traffic.httpRoute.name") && message.contains("nowhere"),
        "{message}"
    );
    f.cleanup().await;
}

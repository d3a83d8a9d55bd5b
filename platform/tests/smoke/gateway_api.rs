//! The Gateway API CRDs are installed, at the pinned release, and the apiserver validates
//! routes with them.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use rollgate_platform::{TestNamespace, shared};

fn http_routes(ns: &TestNamespace) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute");
    Api::namespaced_with(ns.client().clone(), &ns.name, &ApiResource::from_gvk(&gvk))
}

/// An HTTPRoute to the `web` Gateway splitting traffic between two Services.
fn route(backend_refs: serde_json::Value, path: &str) -> DynamicObject {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": { "name": "web" },
        "spec": {
            "parentRefs": [{ "name": "web" }],
            "rules": [{
                "matches": [{ "path": { "type": "PathPrefix", "value": path } }],
                "backendRefs": backend_refs,
            }]
        }
    }))
    .expect("an HTTPRoute")
}

fn weighted(stable: i64, canary: i64) -> serde_json::Value {
    serde_json::json!([
        { "name": "web-stable", "port": 80, "weight": stable },
        { "name": "web-canary", "port": 80, "weight": canary },
    ])
}

async fn refusal(routes: &Api<DynamicObject>, route: &DynamicObject) -> String {
    match routes.create(&PostParams::default(), route).await {
        Err(kube::Error::Api(status)) if status.code == 422 => status.message,
        other => panic!("expected 422 Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn installed_gateway_api_crds_are_the_pinned_release() {
    let client = shared().client().await;
    rollgate_platform::gateway_api::install(&client)
        .await
        .unwrap();
    let pin = include_str!("../../../hack/platform/gateway-api/go.mod")
        .lines()
        .find_map(|l| l.strip_prefix("require sigs.k8s.io/gateway-api "))
        .expect("the pin in go.mod")
        .trim();
    let crds: Api<CustomResourceDefinition> = Api::all(client);
    for name in [
        "httproutes",
        "grpcroutes",
        "gateways",
        "gatewayclasses",
        "referencegrants",
    ] {
        let crd = crds
            .get(&format!("{name}.gateway.networking.k8s.io"))
            .await
            .unwrap();
        let annotations = crd.metadata.annotations.unwrap_or_default();
        let version = annotations.get(rollgate_platform::gateway_api::BUNDLE_VERSION_ANNOTATION);
        assert_eq!(version.map(String::as_str), Some(pin), "{name}");
        let channel = annotations.get("gateway.networking.k8s.io/channel");
        assert_eq!(channel.map(String::as_str), Some("standard"), "{name}");
    }
}

#[tokio::test]
async fn a_weighted_http_route_is_accepted_and_invalid_ones_are_refused_naming_the_field() {
    let ns = TestNamespace::create(shared(), "gateway-api")
        .await
        .unwrap();
    rollgate_platform::gateway_api::install(ns.client())
        .await
        .unwrap();
    let routes = http_routes(&ns);

    let created = routes
        .create(&PostParams::default(), &route(weighted(95, 5), "/"))
        .await
        .unwrap();
    let refs = created.data["spec"]["rules"][0]["backendRefs"]
        .as_array()
        .cloned();
    let weights: Vec<_> = refs
        .unwrap_or_default()
        .iter()
        .map(|r| (r["name"].clone(), r["weight"].clone()))
        .collect();
    assert_eq!(
        weights,
        [
            ("web-stable".into(), 95.into()),
            ("web-canary".into(), 5.into())
        ]
    );
    routes.delete("web", &Default::default()).await.unwrap();

    // The schema: a weight is at most 1,000,000.
    let message = refusal(&routes, &route(weighted(95, 1_000_001), "/")).await;
    assert!(
        message.contains("spec.rules[0].backendRefs[1].weight"),
        "{message}"
    );
    // A CEL rule: a path prefix is absolute.
    let message = refusal(&routes, &route(weighted(95, 5), "api")).await;
    assert!(
        message.contains("spec.rules[0].matches[0].path"),
        "{message}"
    );
}

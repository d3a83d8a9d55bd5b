//! A stand-in for a Gateway implementation, at its wire boundary: it writes an HTTPRoute's
//! parent status (Accepted at the route's current generation) as a Gateway controller does,
//! and remembers the weights it accepted. rollgate never writes that status. A test can hold
//! acceptance to see what rollgate does while a Gateway has not caught up.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Api;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use serde_json::{Value, json};

use crate::support::Fixture;

pub const PARENT: &str = "edge";

pub fn routes(f: &Fixture) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute");
    Api::namespaced_with(
        f.client.clone(),
        f.name(),
        &ApiResource::from_gvk_with_plural(&gvk, "httproutes"),
    )
}

/// The (stable, canary) weights of every rule naming both `app-stable` and `app-canary`, as
/// written in the route.
pub fn weights(route: &Value) -> Vec<(i64, i64)> {
    let rules = route["spec"]["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    rules
        .iter()
        .filter_map(|rule| {
            let refs = rule["backendRefs"].as_array()?;
            let weight = |name: &str| {
                refs.iter()
                    .find(|r| r["name"] == name)
                    .map(|r| r["weight"].as_i64().unwrap_or(1))
            };
            Some((weight("app-stable")?, weight("app-canary")?))
        })
        .collect()
}

/// rollgate's header rule, if the route has one.
pub fn header_rule(route: &Value) -> Option<Value> {
    route["spec"]["rules"]
        .as_array()?
        .iter()
        .find(|r| r["name"] == "rollgate-header-canary")
        .cloned()
}

/// One acceptance: the route as accepted.
#[derive(Clone)]
pub struct Accepted {
    pub route: Value,
}

pub struct StandIn {
    hold: Arc<AtomicBool>,
    accepted: Arc<Mutex<Vec<Accepted>>>,
    task: tokio::task::JoinHandle<()>,
}

impl StandIn {
    /// Accepts route `name` at each new generation, every 100 ms.
    pub fn start(f: &Fixture, name: &str) -> StandIn {
        let hold = Arc::new(AtomicBool::new(false));
        let accepted: Arc<Mutex<Vec<Accepted>>> = Arc::default();
        let (h, a) = (Arc::clone(&hold), Arc::clone(&accepted));
        let (api, name) = (routes(f), name.to_string());
        let task = tokio::spawn(async move {
            loop {
                if !h.load(Ordering::SeqCst)
                    && let Ok(Some(route)) = api.get_opt(&name).await
                {
                    let value = serde_json::to_value(&route).unwrap();
                    let generation = value["metadata"]["generation"].as_i64().unwrap_or(0);
                    let seen = value["status"]["parents"][0]["conditions"][0]["observedGeneration"]
                        .as_i64();
                    if seen != Some(generation) {
                        let status = json!({"status": {"parents": [{
                            "parentRef": {"name": PARENT},
                            "controllerName": "example.com/stand-in-gateway",
                            "conditions": [{
                                "type": "Accepted", "status": "True", "reason": "Accepted",
                                "message": "accepted by the stand-in",
                                "observedGeneration": generation,
                                "lastTransitionTime": jiff::Timestamp::now().to_string(),
                            }],
                        }]}});
                        let patched = api
                            .patch_status(&name, &PatchParams::default(), &Patch::Merge(status))
                            .await;
                        if patched.is_ok() {
                            a.lock().unwrap().push(Accepted { route: value });
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        StandIn {
            hold,
            accepted,
            task,
        }
    }

    /// While held, nothing new is accepted.
    pub fn hold(&self, held: bool) {
        self.hold.store(held, Ordering::SeqCst);
    }

    pub fn accepted(&self) -> Vec<Accepted> {
        self.accepted.lock().unwrap().clone()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A route `app` to the `edge` Gateway whose one rule sends everything to the app's stable
/// track (weights 100 and 0), as a user would write it in Git.
pub fn user_route() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": "app"},
        "spec": {
            "parentRefs": [{"name": PARENT}],
            "rules": [{
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "backendRefs": [
                    {"name": "app-stable", "port": 80, "weight": 100},
                    {"name": "app-canary", "port": 80, "weight": 0},
                ],
            }],
        },
    })
}

/// The Service `app` selecting the app's pods.
pub fn service() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "app"},
        "spec": {"selector": {"app": "app"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
    })
}

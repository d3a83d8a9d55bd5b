//! Releases across clusters in waves (docs/WAVES.md): on one control plane (the hub as its
//! own member) and on three (the hub, also a member, and two member clusters, each with its
//! own rollgate controller).

mod fleet;
mod one_plane;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::PostParams;
use rollgate::api::{Release, ReleasePhase};
use serde_json::{Value, json};

use crate::support::{ControllerProcess, Fixture, error_ratio_gate};

/// Seconds-scale member stages: each release is judged in a few seconds.
pub(super) const STAGES: &[(i32, &str)] = &[(50, "2s"), (100, "2s")];

/// The app adopted under a Rollout with an error-ratio gate, Healthy, with rates in Prometheus.
pub(super) async fn adopted(f: &Fixture) -> ControllerProcess {
    f.adopted(STAGES, vec![error_ratio_gate(0.05)], &f.env.prometheus_url)
        .await
}

pub(super) fn releases(f: &Fixture) -> Api<Release> {
    Api::namespaced(f.client.clone(), f.name())
}

/// A Release of image `image` for the app, through `waves`.
pub(super) async fn release(f: &Fixture, image: &str, waves: Value, channels: &[&str]) {
    let r = json!({
        "apiVersion": "rollgate.dev/v1alpha1", "kind": "Release",
        "metadata": {"name": "app-release"},
        "spec": {
            "rollout": {"namespace": f.name(), "name": "app"},
            "template": {"containers": [{"name": "app", "image": image}]},
            "waves": waves,
            "incident": {"severity": "sev2", "channels": channels},
        }
    });
    releases(f)
        .create(&PostParams::default(), &serde_json::from_value(r).unwrap())
        .await
        .unwrap();
}

pub(super) async fn wait_release(
    f: &Fixture,
    what: &str,
    timeout: Duration,
    check: impl Fn(&Release) -> bool,
) -> Release {
    f.wait(what, timeout, || async {
        releases(f)
            .get("app-release")
            .await
            .ok()
            .filter(|r| check(r))
    })
    .await
}

pub(super) fn phase(r: &Release) -> ReleasePhase {
    r.status.as_ref().map(|s| s.phase).unwrap_or_default()
}

pub(super) async fn image(f: &Fixture) -> String {
    let d: Deployment = f.deployments().get("app").await.unwrap();
    d.spec.unwrap().template.spec.unwrap().containers[0]
        .image
        .clone()
        .unwrap()
}

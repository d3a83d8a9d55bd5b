//! Releases across clusters in waves (docs/WAVES.md): on one control plane (the hub as its
//! own member) and on three (the hub, also a member, and two member clusters, each with its
//! own rollgate controller).

mod fleet;
mod one_plane;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::ListParams;
use kube::api::PostParams;
use rollgate::api::{DeliveryState, Incident, Release, ReleasePhase, ReleaseStatus};
use rollgate_platform::Receiver;
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

/// The hub Incident of a failed wave, once delivered to PagerDuty (`pd`): it is the only hub
/// Incident of the namespace, it pages once, and it links the member Incident of `cluster`.
pub(super) async fn one_hub_page(
    f: &Fixture,
    pagerduty: &Receiver,
    st: &ReleaseStatus,
    cluster: &str,
    member_incident: &str,
) -> Incident {
    let name = st
        .incident_ref
        .clone()
        .expect("the failed wave names its incident")
        .name;
    let incidents: Api<Incident> = Api::namespaced(f.client.clone(), f.name());
    let incident = f
        .wait(
            "the hub incident delivered",
            Duration::from_secs(60),
            || async {
                let i = incidents.get(&name).await.ok()?;
                let delivered = i
                    .status
                    .as_ref()?
                    .deliveries
                    .iter()
                    .any(|d| d.channel == "pd" && d.state == DeliveryState::Delivered);
                delivered.then_some(i)
            },
        )
        .await;
    let linked = incident.spec.release.clone().expect("a hub incident");
    assert_eq!(linked.members.len(), 1, "{linked:?}");
    assert_eq!(linked.members[0].cluster, cluster);
    assert_eq!(linked.members[0].namespace, f.name());
    assert_eq!(linked.members[0].name.as_deref(), Some(member_incident));
    // Give a second page every chance to arrive before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pages = crate::incidents::bodies(pagerduty, "/v2/enqueue")
        .into_iter()
        .filter(|b| b["event_action"] == "trigger" && b["dedup_key"] == incident.spec.dedup_key)
        .count();
    assert_eq!(pages, 1, "one page");
    let hub_incidents = incidents
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter(|i| i.spec.release.is_some())
        .count();
    assert_eq!(hub_incidents, 1);
    incident
}

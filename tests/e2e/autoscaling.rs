//! A real HPA (kube-controller-manager's, on an External metric the test drives through
//! prometheus-adapter) keeps scaling through adoption, a canary, a promotion and hand-back:
//! it moves from the Deployment to the Rollout's `scale` subresource and back, both tracks
//! follow the split of what it asks, and ready capacity never drops below its desired count.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use rollgate::api::Phase;
use rollgate::plan::Verb;
use rollgate_platform::{Gauge, external_metric};
use serde_json::json;

use crate::support::{Fixture, rollout};

const MINUTE: Duration = Duration::from_secs(60);

/// One replica per 10 queued messages, between 2 and 10; scales down without waiting.
fn hpa(target: serde_json::Value) -> HorizontalPodAutoscaler {
    serde_json::from_value(json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "app"},
        "spec": {
            "scaleTargetRef": target,
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [{
                "type": "External",
                "external": {
                    "metric": {"name": "queue_messages", "selector": {"matchLabels": {"queue": "orders"}}},
                    "target": {"type": "AverageValue", "averageValue": "10"}
                }
            }],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}}
        }
    }))
    .expect("a valid HPA")
}

/// What one look at the cluster saw.
#[derive(Debug, Clone, Default)]
struct Sample {
    /// The HPA's desired replicas.
    desired: i32,
    /// The Rollout's spec.replicas (what the HPA wrote through the scale subresource).
    total: i32,
    stable: i32,
    canary: i32,
    /// Ready pods of the app, both tracks.
    ready: usize,
}

/// Samples the HPA, the Rollout, the tracks and the ready pods every 100 ms until stopped.
struct Sampler {
    samples: Arc<Mutex<Vec<Sample>>>,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    fn start(f: &Fixture) -> Sampler {
        let samples = Arc::new(Mutex::new(vec![]));
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let (client, ns, into) = (f.client.clone(), f.name().to_string(), samples.clone());
        let task = tokio::spawn(async move {
            let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), &ns);
            let rollouts: Api<rollgate::api::Rollout> = Api::namespaced(client.clone(), &ns);
            let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
                Api::namespaced(client.clone(), &ns);
            let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client, &ns);
            let replicas = |name: &'static str| {
                let deployments = deployments.clone();
                async move {
                    deployments
                        .get_opt(name)
                        .await
                        .ok()
                        .flatten()
                        .and_then(|d| d.spec?.replicas)
                        .unwrap_or(0)
                }
            };
            while !*stopped.borrow() {
                let desired = hpas
                    .get("app")
                    .await
                    .ok()
                    .and_then(|h| h.status)
                    .map_or(0, |s| s.desired_replicas);
                let total = rollouts.get("app").await.map_or(0, |r| r.spec.replicas);
                let ready = pods
                    .list(&kube::api::ListParams::default().labels("app=app"))
                    .await
                    .map_or(0, |l| {
                        l.items
                            .iter()
                            .filter(|p| {
                                p.metadata.deletion_timestamp.is_none()
                                    && p.status
                                        .as_ref()
                                        .and_then(|s| s.conditions.as_ref())
                                        .is_some_and(|cs| {
                                            cs.iter()
                                                .any(|c| c.type_ == "Ready" && c.status == "True")
                                        })
                            })
                            .count()
                    });
                let sample = Sample {
                    desired,
                    total,
                    stable: replicas("app-stable").await,
                    canary: replicas("app-canary").await,
                    ready,
                };
                into.lock().unwrap().push(sample);
                let _ = tokio::time::timeout(Duration::from_millis(100), stopped.changed()).await;
            }
        });
        Sampler {
            samples,
            stop,
            task,
        }
    }

    async fn finish(self) -> Vec<Sample> {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        self.samples.lock().unwrap().clone()
    }
}

async fn scale_target(hpas: &Api<HorizontalPodAutoscaler>) -> Option<(String, String)> {
    let r = hpas.get("app").await.ok()?.spec.scale_target_ref;
    Some((r.kind, r.name))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_hpa_scales_a_canary_from_4_to_8_with_both_tracks_following_and_hands_back() {
    let f = Fixture::new("hpa").await;
    let queue = |messages: f64| {
        Gauge::new(f.name(), "queue_messages")
            .label("queue", "orders")
            .value(messages)
    };
    f.env.exporter().set_gauge(&queue(40.0)).await.unwrap();
    f.wait(
        "the external metrics API serves the queue",
        MINUTE,
        || async {
            let values = external_metric(&f.client, f.name(), "queue_messages")
                .await
                .ok()?;
            (values == ["40"]).then_some(())
        },
    )
    .await;

    // A running Deployment with its HPA, as a team has it before rollgate.
    f.create_deployment("app", 4, "app:v1").await;
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(f.client.clone(), f.name());
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"});
    hpas.create(&PostParams::default(), &hpa(deployment))
        .await
        .unwrap();
    f.wait("4 ready pods before adoption", MINUTE, || async {
        (f.ready_pods("app").await.len() == 4).then_some(())
    })
    .await;

    // Adoption moves the HPA to the Rollout.
    f.create_rollout(rollout(
        "app",
        "app",
        4,
        &[(50, "10m"), (100, "1s")],
        vec![],
    ))
    .await;
    let _c = f.controller();
    f.wait_phase("app", Phase::Healthy, MINUTE).await;
    f.wait("the HPA re-pointed at the Rollout", MINUTE, || async {
        (scale_target(&hpas).await? == ("Rollout".into(), "app".into())).then_some(())
    })
    .await;
    f.wait_event("app", "AutoscalerAdopted").await;
    // The HPA reads the Rollout's scale subresource: its pods and selector.
    f.wait("the HPA scaling the Rollout at 4", MINUTE, || async {
        let h = hpas.get("app").await.ok()?;
        let status = h.status?;
        let active = status
            .conditions
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "ScalingActive" && c.status == "True");
        (active && status.current_replicas == Some(4) && status.desired_replicas == 4).then_some(())
    })
    .await;
    let r = f.rollout("app").await;
    let st = r.status.unwrap_or_default();
    assert_eq!(st.selector.as_deref(), Some("app=app"));
    assert_eq!(st.replicas, Some(4));

    // A canary at 50%, baking long.
    f.set_image("app", "app:v2").await;
    f.wait_rollout("app", "the 50% stage exposed", MINUTE, |r| {
        r.status
            .as_ref()
            .and_then(|s| s.stage.as_ref())
            .is_some_and(|s| s.weight == 50 && s.ready_at.is_some())
    })
    .await;

    // Both tracks follow the split of what the HPA asks: 2/2 of 4 at 50%. Waited for here,
    // where it is the steady state, rather than sampled once the queue moves: on a loaded
    // machine a 100 ms sampler can miss a split that lasts only until the HPA reacts.
    f.wait("both tracks split 4 at 50%: 2 and 2", MINUTE, || async {
        let deployments = f.deployments();
        let stable = deployments.get("app-stable").await.ok()?.spec?.replicas;
        let canary = deployments.get("app-canary").await.ok()?.spec?.replicas;
        (f.rollout("app").await.spec.replicas == 4 && stable == Some(2) && canary == Some(2))
            .then_some(())
    })
    .await;

    let sampler = Sampler::start(&f);
    // The queue doubles: the HPA wants 8.
    f.env.exporter().set_gauge(&queue(80.0)).await.unwrap();
    f.wait(
        "both tracks split 8 at 50%: canary 4, stable 4, all ready",
        Duration::from_secs(90),
        || async {
            let pods = f.ready_pods("app").await;
            let on = |track: &str| pods.iter().filter(|(_, t, _, _)| t == track).count();
            let st = f.rollout("app").await.status?;
            (f.rollout("app").await.spec.replicas == 8
                && on("canary") == 4
                && on("stable") == 4
                && pods.len() == 8
                && st.replicas == Some(8)
                && st.phase == Phase::Progressing)
                .then_some(())
        },
    )
    .await;
    // Promotion: stable takes all 8 at once, not the HPA's minimum.
    f.request("app", Verb::PromoteFull).await;
    f.wait_rollout("app", "promoted", MINUTE, |r| {
        r.status
            .as_ref()
            .is_some_and(|s| s.phase == Phase::Healthy && s.stable_revision == s.canary_revision)
    })
    .await;
    f.wait("8 stable pods and no canary", MINUTE, || async {
        let pods = f.ready_pods("app").await;
        (pods.len() == 8 && pods.iter().all(|(_, t, _, _)| t == "stable")).then_some(())
    })
    .await;
    let samples = sampler.finish().await;

    // Sampled every 100 ms: both tracks follow the split of what the HPA asked…
    assert!(
        samples
            .iter()
            .any(|s| s.total == 8 && s.canary == 4 && s.stable == 4),
        "never split 4/4: {samples:?}"
    );
    // …and once ready capacity reached the HPA's desired count it never dropped below it.
    let reached = samples
        .iter()
        .position(|s| s.desired == 8 && s.ready >= 8)
        .unwrap_or_else(|| panic!("ready capacity never reached 8: {samples:?}"));
    for s in &samples[reached..] {
        assert!(
            s.ready >= s.desired as usize,
            "ready capacity {} below the HPA's {}: {samples:?}",
            s.ready,
            s.desired
        );
    }

    // Hand-back: the Deployment gets the Rollout's 8 replicas and the HPA again.
    f.rollouts()
        .delete("app", &DeleteParams::default())
        .await
        .unwrap();
    f.wait(
        "the Rollout gone, the HPA on the Deployment, 8 of its own pods",
        Duration::from_secs(90),
        || async {
            let gone = f.rollouts().get_opt("app").await.ok()?.is_none();
            let target = scale_target(&hpas).await?;
            let replicas = f.deployments().get("app").await.ok()?.spec?.replicas;
            let own = f
                .ready_pods("app")
                .await
                .iter()
                .filter(|(_, t, _, _)| t.is_empty())
                .count();
            (gone
                && target == ("Deployment".into(), "app".into())
                && replicas == Some(8)
                && own == 8)
                .then_some(())
        },
    )
    .await;
    // The HPA scales the Deployment it got back.
    f.env.exporter().set_gauge(&queue(40.0)).await.unwrap();
    f.wait(
        "the HPA scales the Deployment down to 4",
        Duration::from_secs(90),
        || async {
            let d = f.deployments().get("app").await.ok()?;
            let replicas = d.spec?.replicas;
            let ready = d.status?.ready_replicas;
            (replicas == Some(4) && ready == Some(4)).then_some(())
        },
    )
    .await;
    f.cleanup().await;
}

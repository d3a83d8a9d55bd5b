//! A real HorizontalPodAutoscaler (kube-controller-manager's controller) scales a
//! Deployment on an external metric the test drives through the exporter's gauges.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::Api;
use kube::api::PostParams;
use rollgate_platform::{Gauge, TestNamespace, external_metric, shared};

use super::{deployment, eventually};

/// Scales `web` to one replica per 10 queued messages, down again without waiting.
fn hpa() -> HorizontalPodAutoscaler {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": { "name": "web" },
        "spec": {
            "scaleTargetRef": { "apiVersion": "apps/v1", "kind": "Deployment", "name": "web" },
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": [{
                "type": "External",
                "external": {
                    "metric": {
                        "name": "queue_messages",
                        "selector": { "matchLabels": { "queue": "orders" } }
                    },
                    "target": { "type": "AverageValue", "averageValue": "10" }
                }
            }],
            "behavior": { "scaleDown": { "stabilizationWindowSeconds": 0 } }
        }
    }))
    .expect("a valid HPA")
}

async fn wait_for_replicas(deployments: &Api<Deployment>, want: i32) {
    eventually(
        &format!("the HPA scales web to {want} ready replicas"),
        Duration::from_secs(90),
        || async {
            let web = deployments.get("web").await.map_err(|e| e.to_string())?;
            let spec = web.spec.and_then(|s| s.replicas);
            let ready = web.status.and_then(|s| s.ready_replicas);
            if spec == Some(want) && ready == Some(want) {
                Ok(())
            } else {
                Err(format!("replicas {spec:?}, ready {ready:?}"))
            }
        },
    )
    .await
}

#[tokio::test]
async fn an_hpa_follows_an_external_metric_the_test_drives_up_and_down() {
    let env = shared();
    let ns = TestNamespace::create(env, "hpa").await.unwrap();
    let client = ns.client().clone();
    let queue = |messages: f64| {
        Gauge::new(&ns.name, "queue_messages")
            .label("queue", "orders")
            .value(messages)
    };
    env.exporter().set_gauge(&queue(40.0)).await.unwrap();
    // Another queue's gauge, which the HPA's selector leaves out.
    let other = Gauge::new(&ns.name, "queue_messages").label("queue", "audit");
    env.exporter()
        .set_gauge(&other.value(1000.0))
        .await
        .unwrap();
    eventually(
        "the external metrics API serves both queues",
        Duration::from_secs(60),
        || async {
            let mut values = external_metric(&client, &ns.name, "queue_messages")
                .await
                .map_err(|e| e.to_string())?;
            values.sort();
            (values == ["1k", "40"])
                .then_some(())
                .ok_or(format!("{values:?}"))
        },
    )
    .await;

    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns.name);
    deployments
        .create(&PostParams::default(), &deployment("web", 4))
        .await
        .unwrap();
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), &ns.name);
    hpas.create(&PostParams::default(), &hpa()).await.unwrap();
    eventually(
        "the HPA reads 40 messages over 4 replicas",
        Duration::from_secs(60),
        || async {
            let status = hpas.get("web").await.map_err(|e| e.to_string())?.status;
            let status = status.ok_or("no status yet")?;
            let average = status
                .current_metrics
                .unwrap_or_default()
                .into_iter()
                .find_map(|m| m.external?.current.average_value);
            match (status.desired_replicas, average) {
                (4, Some(average)) if average.0 == "10" => Ok(()),
                other => Err(format!("desired replicas, average: {other:?}")),
            }
        },
    )
    .await;
    wait_for_replicas(&deployments, 4).await;

    env.exporter().set_gauge(&queue(80.0)).await.unwrap();
    wait_for_replicas(&deployments, 8).await;

    env.exporter().set_gauge(&queue(40.0)).await.unwrap();
    wait_for_replicas(&deployments, 4).await;
}

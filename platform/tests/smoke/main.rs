//! The platform does what rollgate's e2e tests rely on, against real processes.

mod gateway_api;
mod hpa;
mod members;

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use rollgate_platform::{
    Platform, PlatformOptions, PrometheusServer, Series, TestNamespace, shared,
};

/// Polls `check` until it returns `Some`, panicking with `what` after `timeout`.
async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        match check().await {
            Ok(value) => return value,
            Err(last) if started.elapsed() > timeout => {
                panic!("{what}: not within {timeout:?}; last: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": { "name": name },
        "spec": {
            "replicas": replicas,
            "selector": { "matchLabels": { "app": name } },
            "template": {
                "metadata": { "labels": { "app": name } },
                "spec": { "containers": [{ "name": "web", "image": "example.test/web:v1" }] }
            }
        }
    }))
    .expect("a valid Deployment")
}

fn is_ready(pod: &Pod) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test]
async fn deployment_pods_become_ready_on_kwok_nodes() {
    let env = shared();
    let ns = TestNamespace::create(env, "smoke-deployment")
        .await
        .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(ns.client().clone(), &ns.name);
    deployments
        .create(&PostParams::default(), &deployment("web", 3))
        .await
        .unwrap();

    let pods: Api<Pod> = Api::namespaced(ns.client().clone(), &ns.name);
    eventually("3 Ready pods", Duration::from_secs(60), || async {
        let list = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .map_err(|e| e.to_string())?;
        let ready = list.items.iter().filter(|p| is_ready(p)).count();
        if ready == 3 {
            Ok(())
        } else {
            Err(format!("{ready} of {} pods Ready", list.items.len()))
        }
    })
    .await;

    eventually(
        "the Deployment to count 3 available",
        Duration::from_secs(30),
        || async {
            let status = deployments
                .get_status("web")
                .await
                .map_err(|e| e.to_string())?;
            match status.status.and_then(|s| s.available_replicas) {
                Some(3) => Ok(()),
                other => Err(format!("available {other:?}")),
            }
        },
    )
    .await;

    // Scaling down deletes pods; kwok finishes their termination.
    let scale = serde_json::json!({ "spec": { "replicas": 1 } });
    deployments
        .patch("web", &PatchParams::default(), &Patch::Merge(&scale))
        .await
        .unwrap();
    eventually("1 pod left", Duration::from_secs(60), || async {
        let list = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .map_err(|e| e.to_string())?;
        match list.items.len() {
            1 => Ok(()),
            n => Err(format!("{n} pods")),
        }
    })
    .await;
}

async fn error_ratio(
    prometheus: &prometheus_http_query::Client,
    namespace: &str,
) -> Result<f64, String> {
    let query = format!(
        r#"sum(rate(http_requests_total{{namespace="{namespace}",code="500"}}[3s]))
         / sum(rate(http_requests_total{{namespace="{namespace}"}}[3s]))"#
    );
    let result = prometheus
        .query(query)
        .get()
        .await
        .map_err(|e| e.to_string())?;
    let vector = result.data().as_vector().ok_or("not a vector")?;
    match vector.first() {
        Some(sample) if sample.sample().value().is_finite() => Ok(sample.sample().value()),
        _ => Err(format!("no samples yet: {vector:?}")),
    }
}

#[tokio::test]
async fn exporter_traffic_shows_up_in_prometheus_and_follows_changes() {
    rollgate_platform::install_crypto_provider();
    let env = shared();
    let ns = TestNamespace::create(env, "smoke-metrics").await.unwrap();
    let exporter = env.exporter();
    let prometheus =
        prometheus_http_query::Client::from(reqwest::Client::new(), &env.prometheus_url).unwrap();

    let canary = Series::new(&ns.name, "web", "canary", "v2").rps(50.0);
    exporter
        .set(&canary.clone().error_ratio(0.2))
        .await
        .unwrap();
    eventually("a 20% error ratio", Duration::from_secs(20), || async {
        let ratio = error_ratio(&prometheus, &ns.name).await?;
        if (ratio - 0.2).abs() < 0.02 {
            Ok(())
        } else {
            Err(format!("ratio {ratio}"))
        }
    })
    .await;

    exporter.set(&canary.error_ratio(0.0)).await.unwrap();
    let changed = Instant::now();
    eventually(
        "the ratio to drop to 0",
        Duration::from_secs(15),
        || async {
            let ratio = error_ratio(&prometheus, &ns.name).await?;
            if ratio < 0.001 {
                Ok(())
            } else {
                Err(format!("ratio {ratio}"))
            }
        },
    )
    .await;
    eprintln!("error ratio change visible after {:?}", changed.elapsed());

    let listed = exporter.list().await.unwrap();
    assert!(listed.iter().any(|s| s.labels.namespace == ns.name));
    exporter.clear_namespace(&ns.name).await.unwrap();
    let listed = exporter.list().await.unwrap();
    assert!(!listed.iter().any(|s| s.labels.namespace == ns.name));
}

#[tokio::test]
async fn alertmanager_answers_its_status_api() {
    rollgate_platform::install_crypto_provider();
    let env = shared();
    let response = reqwest::get(format!("{}/api/v2/status", env.alertmanager_url))
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let status: serde_json::Value = response.json().await.unwrap();
    assert!(status["versionInfo"]["version"].is_string(), "{status}");
}

#[tokio::test]
async fn a_test_owned_prometheus_survives_an_outage_with_its_data() {
    rollgate_platform::install_crypto_provider();
    let env = shared();
    let exporter_target = env.exporter_url.trim_start_matches("http://").to_string();
    let dir = tempfile::tempdir().unwrap();
    let mut prometheus = PrometheusServer::start(dir.path(), &[exporter_target])
        .await
        .unwrap();
    prometheus
        .wait_for_targets_up(Duration::from_secs(20))
        .await
        .unwrap();
    let url = prometheus.url();
    let http = reqwest::Client::new();

    prometheus.stop().await;
    assert!(prometheus.pid().is_none());
    assert!(http.get(format!("{url}/-/ready")).send().await.is_err());

    prometheus.restart().await.unwrap();
    assert_eq!(prometheus.url(), url);
    let client = prometheus_http_query::Client::from(http, &url).unwrap();
    // Samples scraped before the outage are still there.
    let before = client
        .query("count_over_time(up[10m])")
        .get()
        .await
        .unwrap();
    let vector = before.data().as_vector().unwrap();
    assert!(
        vector.first().is_some_and(|s| s.sample().value() >= 1.0),
        "{vector:?}"
    );
}

#[tokio::test]
async fn a_dropped_platform_leaves_no_process_and_no_files() {
    let platform = Platform::start(PlatformOptions {
        nodes: 1,
        ..PlatformOptions::default()
    })
    .await
    .unwrap();
    let pids = platform.pids();
    let work_dir = platform.env().work_dir.clone();
    assert_eq!(
        pids.len(),
        8,
        "etcd, apiserver, KCM, scheduler, kwok, prometheus-adapter, Prometheus, Alertmanager"
    );
    assert!(work_dir.is_dir());

    drop(platform);

    for pid in pids {
        // SAFETY: signal 0 only checks whether the pid exists.
        let alive = unsafe { libc::kill(pid as libc::pid_t, 0) } == 0;
        assert!(!alive, "process {pid} survived");
    }
    assert!(!work_dir.exists(), "{} survived", work_dir.display());
}

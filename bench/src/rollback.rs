//! Scenarios 1–3, one bad release at a time in one namespace: a good canary reaches its first
//! stage and passes its gate; then the bench turns the canary's error ratio bad and measures
//!
//! 1. rollback decision (`status.rollback.at`) → canary `spec.replicas` 0 seen on a watch, and
//!    → stable serving at full capacity (stable ready = replicas, canary ready 0);
//! 2. metric flip (taken by the bench just before it tells the exporter) → decision, → canary
//!    written to 0, → canary ready pods 0, against interval × failureLimit + scrape + 2 s;
//! 3. `Incident.spec.detectedAt` → first request at a local webhook receiver (and
//!    `status.deliveries[].firstAttemptAt`).

use std::path::Path;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DynamicObject, ListParams, PostParams};
use kube::{Api, ResourceExt};
use rollgate_platform::{Receiver, Series};
use serde::Serialize;
use serde_json::{Value, json};

use crate::accounting::{Counters, Delta};
use crate::cluster::{self, Cluster, incident_resource};
use crate::controller::{Controller, CpuProfile, CpuSnapshot, Usage};
use crate::error::{Error, Result};
use crate::prometheus;
use crate::stats::{Summary, ms_between};
use crate::watch::{DeploymentSeen, Deployments, Rollouts};

const NS: &str = "bench-rollback";
const APP: &str = "app";
const REPLICAS: i32 = 4;
const BAD_ERROR_RATIO: f64 = 0.5;
/// interval 1 s × failureLimit 2 + scrape interval 1 s + 2 s (DESIGN.md §10).
pub const FLIP_BOUND_MS: f64 = 5000.0;
const SIGNING_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// One bad release, as measured.
#[derive(Serialize, Clone, Debug, Default)]
pub struct Release {
    pub image: String,
    pub canary_revision: String,
    pub flip: Option<Timestamp>,
    pub decision: Option<Timestamp>,
    pub reason: String,
    /// Watch receipt of the canary Deployment with `spec.replicas: 0`.
    pub canary_zero_received: Option<Timestamp>,
    /// `managedFields` time of rollgate's write (whole seconds).
    pub canary_zero_managed_fields: Option<Timestamp>,
    /// Watch receipt of the canary Deployment with no ready pod.
    pub canary_unready_received: Option<Timestamp>,
    /// Watch receipt: stable ready = replicas and the canary has no ready pod.
    pub stable_full_received: Option<Timestamp>,
    pub incident: Option<String>,
    pub detected_at: Option<Timestamp>,
    pub first_attempt_at: Option<Timestamp>,
    pub receiver_at: Option<Timestamp>,
}

#[derive(Serialize, Debug, Default)]
pub struct Report {
    pub releases: usize,
    pub gate: Value,
    /// 1a: decision → canary `spec.replicas: 0` received on a watch.
    pub decision_to_canary_zero: Option<Summary>,
    /// 1b: decision → stable at full capacity and canary without ready pods.
    pub decision_to_stable_full: Option<Summary>,
    /// 2: metric flip → decision.
    pub flip_to_decision: Option<Summary>,
    /// 2: metric flip → canary `spec.replicas: 0`.
    pub flip_to_canary_zero: Option<Summary>,
    /// 2: metric flip → no canary pod ready (share 0 of ready pods).
    pub flip_to_canary_unready: Option<Summary>,
    pub flip_bound_ms: f64,
    /// 3: Incident `detectedAt` → the receiver's first request.
    pub detected_to_receiver: Option<Summary>,
    /// 3: rollback decision → the receiver's first request (the DESIGN target).
    pub decision_to_receiver: Option<Summary>,
    /// 3: Incident `detectedAt` → `deliveries[0].firstAttemptAt`.
    pub detected_to_first_attempt: Option<Summary>,
    pub incident_note: Option<String>,
    pub controller: Usage,
    pub controller_requests_per_release: f64,
    pub api: Delta,
    pub cpu: CpuProfile,
    pub warnings: Vec<String>,
    /// Status versions that lost a history entry an earlier version had (stale status writes).
    pub history_regressions: usize,
    pub history_regression_examples: Vec<String>,
    pub samples: Vec<Release>,
}

/// The gate of every release: the canary's 5xx share over 5 s, checked every second.
fn gate() -> Value {
    json!({
        "name": "error-ratio",
        "query": "sum(rate(http_requests_total{namespace=\"{{namespace}}\",rollgate_track=\"{{track}}\",code=~\"5..\"}[5s])) / sum(rate(http_requests_total{namespace=\"{{namespace}}\",rollgate_track=\"{{track}}\"}[5s]))",
        "max": 0.05,
        "interval": "1s",
        "failureLimit": 2
    })
}

pub async fn run(cluster: &Cluster, binary: &Path, releases: usize) -> Result<Report> {
    cluster.namespace(NS).await?;
    let exporter = cluster.exporter();
    let series = |track: &str, error_ratio: f64| {
        Series::new(NS, APP, track, "any")
            .rps(50.0)
            .error_ratio(error_ratio)
            .latency_seconds(0.05)
    };
    exporter.set(&series("stable", 0.0)).await?;
    exporter.set(&series("canary", 0.0)).await?;
    let receiver = Receiver::start()?;
    let incidents_wired = channel(cluster, &receiver).await?;
    let mut rollout = cluster::rollout(APP, REPLICAS, &[(50, "1h"), (100, "1s")], vec![gate()]);
    if incidents_wired {
        rollout["spec"]["incident"] = json!({"severity": "sev2", "channels": ["hook"]});
    }
    cluster
        .create_all(
            vec![
                (NS.into(), cluster::deployment(APP, REPLICAS, "app:v1")),
                (NS.into(), rollout),
            ],
            1,
        )
        .await?;
    let rollouts = Rollouts::watch(&cluster.client, Some(NS));
    let deployments = Deployments::watch(&cluster.client, NS);
    let mut controller = Controller::start(
        binary,
        cluster,
        Some(NS),
        &[],
        "controller-rollback",
        "info,rollgate=debug,kube_runtime=warn",
    )?;
    let key = format!("{NS}/{APP}");
    controller
        .while_running(
            rollouts.wait("the Rollout Healthy", Duration::from_secs(120), |all| {
                all.get(&key).filter(|s| s.phase() == "Healthy").map(drop)
            }),
        )
        .await?;
    prometheus::wait_for_value(
        &cluster.env.prometheus_url,
        &format!("count(sum by (rollgate_track) (rate(http_requests_total{{namespace=\"{NS}\"}}[5s])) > 0)"),
        |v| v == 2.0,
        Duration::from_secs(60),
    )
    .await?;

    let counters = Counters::take(&cluster.client, &cluster.env.prometheus_url).await?;
    let cpu = CpuSnapshot::take(cluster, Some(&controller));
    let mut samples = Vec::new();
    for i in 0..releases {
        let sample = controller
            .while_running(one_release(
                cluster,
                &rollouts,
                &deployments,
                &receiver,
                incidents_wired,
                i,
            ))
            .await?;
        print_release(i, &sample);
        samples.push(sample);
        // Back to good, and wait until Prometheus' 5 s window forgets the bad samples, so the
        // next canary is judged on its own traffic.
        exporter.set(&series("canary", 0.0)).await?;
        prometheus::wait_for_value(
            &cluster.env.prometheus_url,
            &format!("sum(rate(http_requests_total{{namespace=\"{NS}\",rollgate_track=\"canary\",code=~\"5..\"}}[5s]))"),
            |v| v == 0.0,
            Duration::from_secs(60),
        )
        .await?;
    }
    let after = Counters::take(&cluster.client, &cluster.env.prometheus_url).await?;
    let regressions = rollouts.with(crate::watch::regressions);
    let api = after.since(&counters);
    let cpu = CpuSnapshot::take(cluster, Some(&controller)).since(&cpu);
    let _ = exporter.clear_namespace(NS).await;

    let between = |f: fn(&Release) -> (Option<Timestamp>, Option<Timestamp>)| {
        let v: Vec<f64> = samples
            .iter()
            .filter_map(|s| match f(s) {
                (Some(a), Some(b)) => Some(ms_between(a, b)),
                _ => None,
            })
            .collect();
        Summary::of(&v)
    };
    let incident_note = if !incidents_wired {
        Some("skipped: the CRDs have no IncidentChannel".into())
    } else if samples.iter().all(|s| s.incident.is_none()) {
        Some("no Incident was opened within 20 s of any rollback: incidents are not wired into the controller yet".into())
    } else {
        None
    };
    Ok(Report {
        releases,
        gate: gate(),
        decision_to_canary_zero: between(|s| (s.decision, s.canary_zero_received)),
        decision_to_stable_full: between(|s| (s.decision, s.stable_full_received)),
        flip_to_decision: between(|s| (s.flip, s.decision)),
        flip_to_canary_zero: between(|s| (s.flip, s.canary_zero_received)),
        flip_to_canary_unready: between(|s| (s.flip, s.canary_unready_received)),
        flip_bound_ms: FLIP_BOUND_MS,
        detected_to_receiver: between(|s| (s.detected_at, s.receiver_at)),
        decision_to_receiver: between(|s| (s.decision, s.receiver_at)),
        detected_to_first_attempt: between(|s| (s.detected_at, s.first_attempt_at)),
        incident_note,
        controller: controller.usage(),
        controller_requests_per_release: api.controller_requests / releases.max(1) as f64,
        api,
        cpu,
        warnings: controller.log_warnings(20),
        history_regressions: regressions.0,
        history_regression_examples: regressions.1,
        samples,
    })
}

async fn one_release(
    cluster: &Cluster,
    rollouts: &Rollouts,
    deployments: &Deployments,
    receiver: &Receiver,
    incidents_wired: bool,
    i: usize,
) -> Result<Release> {
    let key = format!("{NS}/{APP}");
    let image = format!("app:v{}", i + 2);
    let stable = rollouts
        .get(&key)
        .and_then(|s| s.status.stable_revision)
        .unwrap_or_default();
    cluster::set_image(&cluster.deployments(NS), APP, &image).await?;
    // The canary serves its first stage and its gate passes. Status holds the gate's standing:
    // a later evaluation that changed it (a failure) would have been written, while repeated
    // passes reach status only with a heartbeat, so `evaluatedAt` may predate the stage.
    let canary = rollouts
        .wait(
            &format!("{image}: stage 1 ready with a passing gate"),
            Duration::from_secs(90),
            |all| {
                let st = &all.get(&key)?.status;
                let canary = st.canary_revision.as_ref().filter(|c| **c != stable)?;
                st.stage.as_ref().filter(|s| s.index == 0)?.ready_at?;
                st.gates
                    .iter()
                    .any(|g| g.revision.as_ref() == Some(canary) && g.verdict == "Pass")
                    .then(|| canary.clone())
            },
        )
        .await?;
    let requests_before = receiver.requests().len();
    let flip = Timestamp::now();
    cluster
        .exporter()
        .set(
            &Series::new(NS, APP, "canary", "any")
                .rps(50.0)
                .error_ratio(BAD_ERROR_RATIO)
                .latency_seconds(0.05),
        )
        .await?;
    let (decision, reason) = rollouts
        .wait(
            &format!("{image}: rolled back"),
            Duration::from_secs(60),
            |all| {
                let st = &all.get(&key)?.status;
                let rb = st.rollback.as_ref().filter(|r| r.revision == canary)?;
                (st.phase.as_deref() == Some("RolledBack")).then(|| (rb.at, rb.reason.clone()))
            },
        )
        .await?;
    let stable_full = cluster::poll(
        "stable at full capacity",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async { stable_full_after(&deployments.log(), flip) },
    )
    .await?;
    let log = deployments.log();
    let canary_name = format!("{APP}-canary");
    let canary_zero = log
        .iter()
        .find(|d| d.received >= flip && d.name == canary_name && d.spec_replicas == 0);
    let canary_unready = log
        .iter()
        .find(|d| d.received >= flip && d.name == canary_name && d.ready == 0);
    let mut release = Release {
        image,
        canary_revision: canary.clone(),
        flip: Some(flip),
        decision: Some(decision),
        reason,
        canary_zero_received: canary_zero.map(|d| d.received),
        canary_zero_managed_fields: canary_zero.and_then(|d| d.rollgate_write),
        canary_unready_received: canary_unready.map(|d| d.received),
        stable_full_received: Some(stable_full),
        ..Release::default()
    };
    if incidents_wired {
        incident(cluster, receiver, requests_before, &canary, &mut release).await?;
    }
    Ok(release)
}

/// The first arrival after `since` at which stable is fully ready and the canary has no ready pod.
fn stable_full_after(log: &[DeploymentSeen], since: Timestamp) -> Option<Timestamp> {
    let (stable, canary) = (format!("{APP}-stable"), format!("{APP}-canary"));
    let (mut s_ok, mut c_ok) = (false, true);
    for d in log {
        if d.name == stable {
            s_ok = d.spec_replicas == REPLICAS && d.ready >= REPLICAS;
        } else if d.name == canary {
            c_ok = d.ready == 0;
        } else {
            continue;
        }
        if d.received >= since && s_ok && c_ok {
            return Some(d.received);
        }
    }
    None
}

/// Finds the Incident of the rolled-back `canary` and when its first delivery left and arrived.
async fn incident(
    cluster: &Cluster,
    receiver: &Receiver,
    requests_before: usize,
    canary: &str,
    release: &mut Release,
) -> Result<()> {
    let api: Api<DynamicObject> =
        Api::namespaced_with(cluster.client.clone(), NS, &incident_resource());
    let found = cluster::poll(
        "the Incident with a first delivery attempt",
        Duration::from_secs(20),
        Duration::from_millis(100),
        || async {
            let list = api.list(&ListParams::default()).await.ok()?;
            let i = list
                .items
                .into_iter()
                .find(|i| i.data["spec"]["fromRevision"] == canary)?;
            let first = i.data["status"]["deliveries"]
                .as_array()?
                .iter()
                .filter_map(|d| d["firstAttemptAt"].as_str()?.parse::<Timestamp>().ok())
                .min()?;
            let detected = i.data["spec"]["detectedAt"]
                .as_str()?
                .parse::<Timestamp>()
                .ok()?;
            let arrived = receiver.requests().get(requests_before)?.at;
            Some((i.name_any(), detected, first, arrived))
        },
    )
    .await;
    match found {
        Ok((name, detected, first, arrived)) => {
            release.incident = Some(name);
            release.detected_at = Some(detected);
            release.first_attempt_at = Some(first);
            release.receiver_at = Timestamp::try_from(arrived).ok();
        }
        Err(e) => eprintln!("  incident: {e}"),
    }
    Ok(())
}

/// A webhook IncidentChannel `hook` pointing at the receiver; false when the CRDs have none.
async fn channel(cluster: &Cluster, receiver: &Receiver) -> Result<bool> {
    let has_channels = rollgate::api::crds()
        .iter()
        .any(|c| c.name_any() == "incidentchannels.rollgate.dev");
    if !has_channels {
        return Ok(false);
    }
    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "hook"}, "stringData": {"signingSecret": SIGNING_SECRET}}),
    )
    .map_err(|e| Error::Unexpected(e.to_string()))?;
    Api::<Secret>::namespaced(cluster.client.clone(), NS)
        .create(&PostParams::default(), &secret)
        .await
        .map_err(|e| Error::kube("creating the webhook Secret", e))?;
    let resource = kube::discovery::ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk("rollgate.dev", "v1alpha1", "IncidentChannel"),
        "incidentchannels",
    );
    let api: Api<DynamicObject> = Api::namespaced_with(cluster.client.clone(), NS, &resource);
    let c: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "rollgate.dev/v1alpha1", "kind": "IncidentChannel",
        "metadata": {"name": "hook"},
        "spec": {"type": "webhook", "url": receiver.url(), "secretRef": {"name": "hook"}}
    }))
    .map_err(|e| Error::Unexpected(e.to_string()))?;
    api.create(&PostParams::default(), &c)
        .await
        .map_err(|e| Error::kube("creating the IncidentChannel", e))?;
    Ok(true)
}

fn print_release(i: usize, s: &Release) {
    let ms = |a: Option<Timestamp>, b: Option<Timestamp>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.0} ms", ms_between(a, b)),
        _ => "-".into(),
    };
    eprintln!(
        "  release {:>2} {}: flip→decision {}, decision→canary 0 {}, decision→stable full {}, detected→receiver {}",
        i + 1,
        s.image,
        ms(s.flip, s.decision),
        ms(s.decision, s.canary_zero_received),
        ms(s.decision, s.stable_full_received),
        ms(s.detected_at, s.receiver_at),
    );
}

//! Scenario 5: N Rollouts pre-created (targets at 0 replicas, Rollouts of 1 replica, the shared
//! gate), then one controller started for all namespaces: time until every Rollout is
//! reconciled and Healthy, the controller's memory, and what it costs while nothing happens.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::accounting::{Counters, Delta};
use crate::cluster::{self, Cluster};
use crate::controller::{Controller, CpuProfile, CpuSnapshot, Sample, Sampler, mb};
use crate::error::Result;
use crate::fleet::{self, Created, Fleet};
use crate::watch::Rollouts;

#[derive(Serialize, Debug, Default)]
pub struct Report {
    pub rollouts: usize,
    pub created: Created,
    /// Controller start → every Rollout has `status.observedGeneration` of its generation.
    pub start_to_all_reconciled_seconds: f64,
    /// Controller start → every Rollout reconciled and Healthy.
    pub start_to_all_healthy_seconds: f64,
    pub rss_mb_healthy: f64,
    pub peak_rss_mb: f64,
    pub cpu_seconds_to_healthy: f64,
    pub adoption_requests_per_rollout: f64,
    pub adoption_api: Delta,
    pub idle_seconds: f64,
    pub rss_mb_after_idle: f64,
    pub idle_cpu_cores: f64,
    pub idle_requests_per_second: f64,
    pub idle_prometheus_queries: f64,
    pub cpu_to_healthy: CpuProfile,
    pub rss: Vec<Sample>,
    pub warnings: Vec<String>,
    /// Status versions that lost a history entry an earlier version had (stale status writes).
    pub history_regressions: usize,
    pub history_regression_examples: Vec<String>,
}

pub async fn run(cluster: &Cluster, binary: &Path, n: usize, idle: Duration) -> Result<Report> {
    let fleet = Fleet::new(&format!("bench-idle{n}"), n);
    fleet.traffic(cluster).await?;
    let gate = fleet::shared_gate("30s");
    let created = fleet
        .create(cluster, 0, |name| {
            cluster::rollout(name, 1, &[(10, "5m"), (100, "5m")], vec![gate.clone()])
        })
        .await?;
    let rollouts = Rollouts::watch(&cluster.client, None);
    let before = Counters::take(&cluster.client, &cluster.env.prometheus_url).await?;
    let cpu_before = CpuSnapshot::take(cluster, None);
    let mut controller = Controller::start(
        binary,
        cluster,
        None,
        &[],
        &format!("controller-idle{n}"),
        "info,kube_runtime=warn",
    )?;
    let sampler = Sampler::start(controller.pid(), Duration::from_secs(2));
    let reconciled = controller
        .while_running(fleet::wait_all(
            &rollouts,
            n,
            "reconciled",
            Duration::from_secs(1800 + n as u64 / 2),
            |_, s| s.reconciled(),
        ))
        .await?;
    eprintln!(
        "  all {n} reconciled {:.1} s after start",
        reconciled.as_secs_f64()
    );
    controller
        .while_running(fleet::wait_all(
            &rollouts,
            n,
            "Healthy",
            Duration::from_secs(1800 + n as u64 / 2),
            |_, s| s.reconciled() && s.phase() == "Healthy",
        ))
        .await?;
    let healthy = controller.started.elapsed();
    controller.check_running()?;
    let usage = controller.usage();
    let adopted = Counters::take(&cluster.client, &cluster.env.prometheus_url).await?;
    let cpu_to_healthy = CpuSnapshot::take(cluster, Some(&controller)).since(&cpu_before);
    eprintln!(
        "  all {n} Healthy {:.1} s after start; idling {idle:?}",
        healthy.as_secs_f64()
    );

    tokio::time::sleep(idle).await;
    controller.check_running()?;
    let idled = controller.usage();
    let after = Counters::take(&cluster.client, &cluster.env.prometheus_url).await?;
    let regressions = rollouts.with(crate::watch::regressions);
    let idle_api = after.since(&adopted);
    let adoption_api = adopted.since(&before);
    Ok(Report {
        rollouts: n,
        created,
        start_to_all_reconciled_seconds: reconciled.as_secs_f64(),
        start_to_all_healthy_seconds: healthy.as_secs_f64(),
        rss_mb_healthy: mb(usage.rss_kb),
        peak_rss_mb: mb(idled.peak_rss_kb),
        cpu_seconds_to_healthy: usage.cpu_seconds,
        adoption_requests_per_rollout: adoption_api.controller_requests / n as f64,
        adoption_api,
        idle_seconds: idle.as_secs_f64(),
        rss_mb_after_idle: mb(idled.rss_kb),
        idle_cpu_cores: (idled.cpu_seconds - usage.cpu_seconds) / idle.as_secs_f64(),
        idle_requests_per_second: idle_api.controller_requests / idle.as_secs_f64(),
        idle_prometheus_queries: idle_api.prometheus_queries,
        cpu_to_healthy,
        rss: sampler.samples(60),
        warnings: controller.log_warnings(20),
        history_regressions: regressions.0,
        history_regression_examples: regressions.1,
    })
}

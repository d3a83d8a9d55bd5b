//! Scenario 4: N Rollouts on one controller (all namespaces), each adopting its own 1-replica
//! Deployment, then one release of all of them through 10/50/100 % stages with 2 s bakes and
//! one shared gate. Stage lag is the controller's own record: a stage's `bakeUntil` (seen on
//! the watch) → the next `StageStarted` (or `Promoting`) entry of the history.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use serde::Serialize;

use crate::accounting::{Counters, Delta, GateWork};
use crate::cluster::{self, Cluster};
use crate::controller::{Controller, CpuProfile, CpuSnapshot, Sample, Sampler, mb};
use crate::error::Result;
use crate::fleet::{self, Created, Fleet};
use crate::stats::{Summary, ms_between};
use crate::watch::{Rollouts, Seen};

const STAGES: [(i32, &str); 3] = [(10, "2s"), (50, "2s"), (100, "2s")];
const GATE_INTERVAL: &str = "2s";

#[derive(Serialize, Debug, Default)]
pub struct Report {
    pub rollouts: usize,
    pub stages: String,
    pub gate: serde_json::Value,
    pub created: Created,
    /// Controller start → every Rollout Healthy (adoption).
    pub adoption_seconds: f64,
    pub adoption_requests_per_rollout: f64,
    pub adoption_cpu_seconds: f64,
    /// First image change → every Rollout Healthy on the new revision.
    pub release_seconds: f64,
    /// Bake expiry → next stage (or promotion), every stage of every Rollout.
    pub stage_lag: Option<Summary>,
    pub stage_lag_by_stage: Vec<(String, Summary)>,
    /// By stage: from the start of the reconcile that set the bake timer (`readyAt`) to the
    /// arrival of its status write. The controller requeues only once a reconcile returns, so
    /// this much (and the Events written after the status) is added to the wake-up time.
    pub timer_reconcile_to_status_by_stage: Vec<(String, Summary)>,
    /// By stage: stage lag minus the above.
    pub lag_beyond_timer_reconcile_by_stage: Vec<(String, Summary)>,
    /// Baked stages with no next stage found in the history (at most 10, for diagnosis).
    pub stage_lag_unmatched: Vec<String>,
    pub peak_rss_mb: f64,
    pub rss_mb_end: f64,
    pub release_cpu_seconds: f64,
    /// Requests the controller made during the release, per Rollout.
    pub release_requests_per_rollout: f64,
    pub release_api: Delta,
    /// Gate evaluations during the release (preflights included), the controller's count.
    pub evaluations: f64,
    /// Distinct whole seconds at which gates were evaluated, the controller's count.
    pub evaluation_rounds: f64,
    /// Instant queries Prometheus answered during the release (its own count).
    pub prometheus_queries: f64,
    /// The same, as the controller counted what it sent.
    pub controller_prometheus_queries: f64,
    pub queries_per_evaluation: f64,
    pub queries_per_round: f64,
    pub cpu: CpuProfile,
    pub rss: Vec<Sample>,
    pub warnings: Vec<String>,
    /// Status versions that lost a history entry an earlier version had (stale status writes).
    pub history_regressions: usize,
    pub history_regression_examples: Vec<String>,
}

pub async fn run(cluster: &Cluster, binary: &Path, n: usize) -> Result<Report> {
    let fleet = Fleet::new(&format!("bench-scale{n}"), n);
    fleet.traffic(cluster).await?;
    let gate = fleet::shared_gate(GATE_INTERVAL);
    let created = fleet
        .create(cluster, 1, |name| {
            cluster::rollout(name, 1, &STAGES, vec![gate.clone()])
        })
        .await?;
    let rollouts = Rollouts::watch(&cluster.client, None);
    let before = Counters::take(&cluster.client, &cluster.env.prometheus_url).await?;
    let mut controller = Controller::start(
        binary,
        cluster,
        None,
        // Every Rollout at once: the concurrency cap (50, 10 per namespace by default) would
        // measure the queue, not the controller.
        &[
            "--max-canaries",
            "100000",
            "--max-canaries-per-namespace",
            "100000",
        ],
        &format!("controller-scale{n}"),
        "info,kube_runtime=warn",
    )?;
    let sampler = Sampler::start(controller.pid(), Duration::from_secs(1));
    let prefix = format!("{}-", fleet.prefix);
    let mine = |k: &str| k.starts_with(&prefix);
    let adoption = controller
        .while_running(fleet::wait_all(
            &rollouts,
            n,
            "adopted and Healthy",
            Duration::from_secs(600 + n as u64),
            |k, s| mine(k) && s.reconciled() && s.phase() == "Healthy",
        ))
        .await?;
    controller.check_running()?;
    let adopted = Counters::take(&cluster.client, &cluster.env.prometheus_url).await?;
    let adoption_cpu = controller.usage().cpu_seconds;
    eprintln!("  adopted {n} in {:.1} s", adoption.as_secs_f64());
    let initial: HashMap<String, String> = rollouts.with(|all| {
        all.iter()
            .filter(|(k, _)| mine(k))
            .map(|(k, s)| {
                (
                    k.clone(),
                    s.status.stable_revision.clone().unwrap_or_default(),
                )
            })
            .collect()
    });

    let cpu_before = CpuSnapshot::take(cluster, Some(&controller));
    let gate_work_before = GateWork::take(&controller.metrics_url).await?;
    let released = Timestamp::now();
    futures::stream::iter(fleet.members())
        .map(|(ns, name)| async move {
            cluster::set_image(&cluster.deployments(&ns), &name, "app:v2").await
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    let release = controller
        .while_running(fleet::wait_all(
            &rollouts,
            n,
            "released and Healthy",
            Duration::from_secs(900 + 2 * n as u64),
            |k, s| {
                mine(k)
                    && s.phase() == "Healthy"
                    && s.status.stable_revision.as_ref() != initial.get(k)
            },
        ))
        .await?;
    controller.check_running()?;
    let after = Counters::take(&cluster.client, &cluster.env.prometheus_url).await?;
    let regressions = rollouts.with(crate::watch::regressions);
    let cpu = CpuSnapshot::take(cluster, Some(&controller)).since(&cpu_before);
    let usage = controller.usage();
    eprintln!("  released {n} in {:.1} s", release.as_secs_f64());

    let lags = rollouts.with(|all| stage_lags(all, released));
    let gate_work = GateWork::take(&controller.metrics_url)
        .await?
        .since(&gate_work_before);
    let release_api = after.since(&adopted);
    let adoption_api = adopted.since(&before);
    let queries = release_api.prometheus_queries;
    Ok(Report {
        rollouts: n,
        stages: "10% 2s, 50% 2s, 100% 2s; 1 replica".into(),
        gate,
        created,
        adoption_seconds: adoption.as_secs_f64(),
        adoption_requests_per_rollout: adoption_api.controller_requests / n as f64,
        adoption_cpu_seconds: adoption_cpu,
        release_seconds: release.as_secs_f64(),
        stage_lag: Summary::of(&lags.all),
        stage_lag_by_stage: lags.by_stage,
        timer_reconcile_to_status_by_stage: lags.timer_reconcile,
        lag_beyond_timer_reconcile_by_stage: lags.beyond,
        stage_lag_unmatched: lags.unmatched,
        peak_rss_mb: mb(usage.peak_rss_kb),
        rss_mb_end: mb(usage.rss_kb),
        release_cpu_seconds: usage.cpu_seconds - adoption_cpu,
        release_requests_per_rollout: release_api.controller_requests / n as f64,
        release_api,
        evaluations: gate_work.evaluations,
        evaluation_rounds: gate_work.rounds,
        prometheus_queries: queries,
        controller_prometheus_queries: gate_work.queries,
        queries_per_evaluation: queries / gate_work.evaluations.max(1.0),
        queries_per_round: queries / gate_work.rounds.max(1.0),
        cpu,
        rss: sampler.samples(60),
        warnings: controller.log_warnings(20),
        history_regressions: regressions.0,
        history_regression_examples: regressions.1,
    })
}

/// Stage lags of one release, and what they are made of.
struct Lags {
    all: Vec<f64>,
    by_stage: Vec<(String, Summary)>,
    timer_reconcile: Vec<(String, Summary)>,
    beyond: Vec<(String, Summary)>,
    unmatched: Vec<String>,
}

/// Every stage's lag (ms), overall and by stage ("10%→50%", ...), for stages baked after
/// `since`; and the baked stages whose successor is missing from the history.
fn stage_lags(all: &HashMap<String, Seen>, since: Timestamp) -> Lags {
    let stages = STAGES.len();
    let (mut lag, mut timer, mut beyond) = (
        vec![Vec::new(); stages],
        vec![Vec::new(); stages],
        vec![Vec::new(); stages],
    );
    let mut unmatched = Vec::new();
    for (key, s) in all {
        for (index, bake_until) in &s.bake_until {
            let i = *index as usize;
            if *bake_until < since || i >= stages {
                continue;
            }
            let next = if i + 1 < stages {
                let prefix = format!("stage {}/", i + 2);
                s.status.history.iter().find(|h| {
                    h.reason == "StageStarted" && h.message.starts_with(&prefix) && h.at >= since
                })
            } else {
                s.status
                    .history
                    .iter()
                    .find(|h| h.reason == "Promoting" && h.at >= since)
            };
            match next {
                Some(h) => {
                    let l = ms_between(*bake_until, h.at);
                    lag[i].push(l);
                    if let Some((ready, received)) = s.bake_set.get(index) {
                        let t = ms_between(*ready, *received);
                        timer[i].push(t);
                        beyond[i].push(l - t);
                    }
                }
                None if unmatched.len() < 10 => {
                    let history: Vec<String> = s
                        .status
                        .history
                        .iter()
                        .map(|h| format!("{} {} {}", h.at, h.reason, h.message))
                        .collect();
                    unmatched.push(format!(
                        "{key}: stage index {i} baked until {bake_until}; history: {}",
                        history.join(" | ")
                    ));
                }
                None => {}
            }
        }
    }
    let names = ["10%→50%", "50%→100%", "100%→promoted"];
    let summarize = |v: &[Vec<f64>]| -> Vec<(String, Summary)> {
        v.iter()
            .zip(names)
            .filter_map(|(v, name)| Summary::of(v).map(|s| (name.to_string(), s)))
            .collect()
    };
    Lags {
        all: lag.concat(),
        by_stage: summarize(&lag),
        timer_reconcile: summarize(&timer),
        beyond: summarize(&beyond),
        unmatched,
    }
}

//! Many Rollouts at once: each with its own Deployment, spread over namespaces of 100, all
//! sharing one gate query so the controller's coalescing shows.

use std::time::{Duration, Instant};

use kube::api::ListParams;
use rollgate_platform::Series;
use serde_json::{Value, json};

use crate::cluster::{self, Cluster};
use crate::error::Result;
use crate::prometheus;
use crate::watch::{Rollouts, Seen};

const PER_NAMESPACE: usize = 100;
const CREATE_PARALLELISM: usize = 16;

/// The same query text for every Rollout: the error ratio of everything the exporter serves.
pub const SHARED_QUERY: &str =
    "sum(rate(http_requests_total{code=~\"5..\"}[1m])) / sum(rate(http_requests_total[1m]))";

pub fn shared_gate(interval: &str) -> Value {
    json!({
        "name": "error-ratio",
        "query": SHARED_QUERY,
        "max": 0.05,
        "interval": interval,
        "failureLimit": 2
    })
}

/// `n` Rollouts named `app-<i>` in namespaces `<prefix>-<k>`.
pub struct Fleet {
    pub prefix: String,
    pub n: usize,
}

/// How long creating the fleet took.
#[derive(serde::Serialize, Clone, Debug, Default)]
pub struct Created {
    pub namespaces: usize,
    pub namespaces_seconds: f64,
    pub deployments_seconds: f64,
    pub rollouts_seconds: f64,
    /// Until kube-controller-manager had processed every target (and its pods were ready,
    /// when it has any).
    pub targets_settled_seconds: f64,
}

impl Fleet {
    pub fn new(prefix: &str, n: usize) -> Fleet {
        Fleet {
            prefix: prefix.to_string(),
            n,
        }
    }

    pub fn namespaces(&self) -> Vec<String> {
        (0..self.n.div_ceil(PER_NAMESPACE))
            .map(|k| format!("{}-{k}", self.prefix))
            .collect()
    }

    /// (namespace, name) of every member.
    pub fn members(&self) -> Vec<(String, String)> {
        (0..self.n)
            .map(|i| {
                (
                    format!("{}-{}", self.prefix, i / PER_NAMESPACE),
                    format!("app-{i}"),
                )
            })
            .collect()
    }

    /// Creates namespaces, Deployments (`target_replicas` pods of app:v1) and Rollouts (from
    /// `rollout(name)`), and waits until kube-controller-manager has caught up with the targets.
    pub async fn create(
        &self,
        cluster: &Cluster,
        target_replicas: i32,
        rollout: impl Fn(&str) -> Value,
    ) -> Result<Created> {
        let started = Instant::now();
        let namespaces = self.namespaces();
        let results: Vec<Result<()>> =
            futures::future::join_all(namespaces.iter().map(|ns| cluster.namespace(ns))).await;
        results.into_iter().collect::<Result<Vec<()>>>()?;
        let namespaces_seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "  {} namespaces in {namespaces_seconds:.1} s",
            namespaces.len()
        );
        let deployments = self
            .members()
            .into_iter()
            .map(|(ns, name)| (ns, cluster::deployment(&name, target_replicas, "app:v1")))
            .collect();
        let deployments_seconds = cluster
            .create_all(deployments, CREATE_PARALLELISM)
            .await?
            .as_secs_f64();
        eprintln!("  {} Deployments in {deployments_seconds:.1} s", self.n);
        let rollouts = self
            .members()
            .into_iter()
            .map(|(ns, name)| (ns, rollout(&name)))
            .collect();
        let rollouts_seconds = cluster
            .create_all(rollouts, CREATE_PARALLELISM)
            .await?
            .as_secs_f64();
        eprintln!("  {} Rollouts in {rollouts_seconds:.1} s", self.n);
        let settle = Instant::now();
        self.wait_targets_settled(cluster, target_replicas).await?;
        let targets_settled_seconds = settle.elapsed().as_secs_f64();
        eprintln!(
            "  kube-controller-manager caught up with the targets in {targets_settled_seconds:.1} s"
        );
        Ok(Created {
            namespaces: namespaces.len(),
            namespaces_seconds,
            deployments_seconds,
            rollouts_seconds,
            targets_settled_seconds,
        })
    }

    async fn wait_targets_settled(&self, cluster: &Cluster, replicas: i32) -> Result<()> {
        let timeout = Duration::from_secs(600 + self.n as u64 / 2);
        let started = Instant::now();
        let printed = std::sync::Mutex::new(Instant::now());
        cluster::poll(
            "kube-controller-manager to process every target Deployment",
            timeout,
            Duration::from_secs(3),
            || async {
                let mut settled = 0;
                for ns in self.namespaces() {
                    let list = cluster
                        .deployments(&ns)
                        .list(&ListParams::default())
                        .await
                        .ok()?;
                    settled += list
                        .items
                        .iter()
                        .filter(|d| {
                            let st = d.status.clone().unwrap_or_default();
                            st.observed_generation >= d.metadata.generation
                                && st.ready_replicas.unwrap_or(0) >= replicas
                        })
                        .count();
                }
                let mut printed = printed.lock().unwrap_or_else(|e| e.into_inner());
                if printed.elapsed() > Duration::from_secs(15) {
                    eprintln!(
                        "  [{:>5.0} s] targets processed by kube-controller-manager: {settled}/{}",
                        started.elapsed().as_secs_f64(),
                        self.n
                    );
                    *printed = Instant::now();
                }
                (settled >= self.n).then_some(())
            },
        )
        .await
    }

    /// Traffic for the shared query, and Prometheus answering it (before any window opens).
    pub async fn traffic(&self, cluster: &Cluster) -> Result<()> {
        cluster
            .exporter()
            .set(&Series::new(&self.prefix, "shared", "stable", "any").rps(100.0))
            .await?;
        prometheus::wait_for_value(
            &cluster.env.prometheus_url,
            SHARED_QUERY,
            |v| v < 0.05,
            Duration::from_secs(90),
        )
        .await
    }
}

/// Counts of Rollouts by phase, for progress lines.
pub fn phases(all: &std::collections::HashMap<String, Seen>) -> String {
    let mut by: std::collections::BTreeMap<&str, usize> = Default::default();
    for s in all.values() {
        *by.entry(if s.phase().is_empty() { "-" } else { s.phase() })
            .or_default() += 1;
    }
    by.iter()
        .map(|(p, n)| format!("{p} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Waits until `done` holds for all `n` Rollouts, printing progress every 15 s.
pub async fn wait_all(
    rollouts: &Rollouts,
    n: usize,
    what: &str,
    timeout: Duration,
    done: impl Fn(&str, &Seen) -> bool,
) -> Result<Duration> {
    let started = Instant::now();
    let mut printed = Instant::now();
    loop {
        let (count, summary) =
            rollouts.with(|all| (all.iter().filter(|(k, s)| done(k, s)).count(), phases(all)));
        if count >= n {
            return Ok(started.elapsed());
        }
        if started.elapsed() > timeout {
            return Err(crate::error::Error::Timeout {
                what: format!("{what}: {count}/{n} ({summary})"),
                after: timeout,
            });
        }
        if printed.elapsed() > Duration::from_secs(15) {
            eprintln!(
                "  [{:>5.0} s] {what}: {count}/{n} ({summary})",
                started.elapsed().as_secs_f64()
            );
            printed = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

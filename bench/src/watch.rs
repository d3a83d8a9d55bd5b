//! Watching the cluster from outside with receipt timestamps: Rollouts (only the status fields
//! the benchmarks read, so 10,000 of them parse cheaply) and Deployments (replicas and readiness
//! as each change arrives).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, ResourceExt};
use serde::Deserialize;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};

/// A Rollout with only what the benchmarks read.
#[derive(Deserialize, Clone, Debug)]
pub struct RolloutLite {
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub status: Option<Status>,
}

impl kube::Resource for RolloutLite {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        "Rollout".into()
    }
    fn group(_: &()) -> Cow<'_, str> {
        "rollgate.dev".into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        "v1alpha1".into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        "rollouts".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    #[serde(default)]
    pub phase: Option<String>,
    #[serde(default)]
    pub observed_generation: Option<i64>,
    #[serde(default)]
    pub stable_revision: Option<String>,
    #[serde(default)]
    pub canary_revision: Option<String>,
    #[serde(default)]
    pub stage: Option<Stage>,
    #[serde(default)]
    pub rollback: Option<Rollback>,
    #[serde(default)]
    pub history: Vec<Transition>,
    #[serde(default)]
    pub gates: Vec<Gate>,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Stage {
    pub index: i32,
    #[serde(default)]
    pub ready_at: Option<Timestamp>,
    #[serde(default)]
    pub bake_until: Option<Timestamp>,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Rollback {
    pub revision: String,
    pub reason: String,
    pub at: Timestamp,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    pub at: Timestamp,
    pub reason: String,
    pub message: String,
}

#[derive(Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Gate {
    #[serde(default)]
    pub revision: Option<String>,
    pub verdict: String,
}

/// Everything seen of one Rollout.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    pub generation: Option<i64>,
    pub status: Status,
    /// `stage.bakeUntil` by stage index, as first seen (the history does not keep it).
    pub bake_until: BTreeMap<i32, Timestamp>,
    /// By stage index: the stage's `readyAt` (the start of the reconcile that set the bake
    /// timer) and when the status carrying it reached the benchmark.
    pub bake_set: BTreeMap<i32, (Timestamp, Timestamp)>,
    /// Status versions received.
    pub updates: u64,
    /// Status versions whose history lost an entry an earlier version had: a status written
    /// from a stale copy of the Rollout replaced a newer one. (Entry, then the lost entry.)
    pub history_regressions: Vec<String>,
}

impl Seen {
    pub fn phase(&self) -> &str {
        self.status.phase.as_deref().unwrap_or("")
    }

    /// Reconciled at least once for the current spec.
    pub fn reconciled(&self) -> bool {
        self.generation.is_some() && self.status.observed_generation == self.generation
    }
}

/// The newest entry of `before` if `after` no longer has it (and did not just trim it away).
fn lost_entry(before: &[Transition], after: &[Transition]) -> Option<String> {
    let last = before.last()?;
    let kept = after
        .iter()
        .any(|h| h.at == last.at && h.reason == last.reason);
    let trimmed = after.first().is_some_and(|f| f.at > last.at);
    (!kept && !trimmed).then(|| format!("{} {} {}", last.at, last.reason, last.message))
}

/// How many status versions lost history, with up to 10 examples.
pub fn regressions(all: &HashMap<String, Seen>) -> (usize, Vec<String>) {
    let mut examples = Vec::new();
    let mut count = 0;
    for (key, s) in all {
        count += s.history_regressions.len();
        for r in &s.history_regressions {
            if examples.len() < 10 {
                examples.push(format!("{key}: lost {r}"));
            }
        }
    }
    (count, examples)
}

type Shared<T> = Arc<Mutex<T>>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Rollouts by `namespace/name`, kept current by a watch.
pub struct Rollouts {
    seen: Shared<HashMap<String, Seen>>,
    task: JoinHandle<()>,
}

impl Rollouts {
    /// Watches the Rollouts of `namespace` (all namespaces for `None`).
    pub fn watch(client: &Client, namespace: Option<&str>) -> Rollouts {
        let api: Api<RolloutLite> = match namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        };
        let seen: Shared<HashMap<String, Seen>> = Arc::default();
        let store = seen.clone();
        let task = tokio::spawn(async move {
            let mut stream = watcher::watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(event) = stream.next().await {
                let received = Timestamp::now();
                let r = match event {
                    Ok(Event::Apply(r) | Event::InitApply(r)) => r,
                    _ => continue,
                };
                let key = format!("{}/{}", r.namespace().unwrap_or_default(), r.name_any());
                let mut all = lock(&store);
                let s = all.entry(key).or_default();
                s.generation = r.metadata.generation;
                s.updates += 1;
                if let Some(st) = r.status {
                    if let Some((stage, b, ready)) = st
                        .stage
                        .as_ref()
                        .and_then(|g| Some((g, g.bake_until?, g.ready_at?)))
                    {
                        s.bake_until.entry(stage.index).or_insert(b);
                        s.bake_set.entry(stage.index).or_insert((ready, received));
                    }
                    if let Some(lost) = lost_entry(&s.status.history, &st.history) {
                        s.history_regressions.push(lost);
                    }
                    s.status = st;
                }
            }
        });
        Rollouts { seen, task }
    }

    /// A copy of what is known of one Rollout.
    pub fn get(&self, key: &str) -> Option<Seen> {
        lock(&self.seen).get(key).cloned()
    }

    /// Runs `f` over everything seen.
    pub fn with<T>(&self, f: impl FnOnce(&HashMap<String, Seen>) -> T) -> T {
        f(&lock(&self.seen))
    }

    /// Waits until `check` over everything seen yields a value.
    pub async fn wait<T>(
        &self,
        what: &str,
        timeout: Duration,
        check: impl Fn(&HashMap<String, Seen>) -> Option<T>,
    ) -> Result<T> {
        let start = std::time::Instant::now();
        let every = Duration::from_millis(50);
        loop {
            if let Some(v) = self.with(&check) {
                return Ok(v);
            }
            if start.elapsed() > timeout {
                return Err(Error::Timeout {
                    what: what.to_string(),
                    after: timeout,
                });
            }
            tokio::time::sleep(every).await;
        }
    }
}

impl Drop for Rollouts {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One Deployment as it arrived.
#[derive(Clone, Debug)]
pub struct DeploymentSeen {
    /// When this version reached the benchmark.
    pub received: Timestamp,
    pub name: String,
    pub spec_replicas: i32,
    pub ready: i32,
    /// The latest `managedFields[].time` of the `rollgate` manager (second precision).
    pub rollgate_write: Option<Timestamp>,
}

/// Every version of every Deployment of a namespace, in arrival order.
pub struct Deployments {
    log: Shared<Vec<DeploymentSeen>>,
    task: JoinHandle<()>,
}

impl Deployments {
    pub fn watch(client: &Client, namespace: &str) -> Deployments {
        let api: Api<Deployment> = Api::namespaced(client.clone(), namespace);
        let log: Shared<Vec<DeploymentSeen>> = Arc::default();
        let store = log.clone();
        let task = tokio::spawn(async move {
            let mut stream = watcher::watcher(api, watcher::Config::default())
                .default_backoff()
                .boxed();
            while let Some(event) = stream.next().await {
                let received = Timestamp::now();
                let d = match event {
                    Ok(Event::Apply(d) | Event::InitApply(d)) => d,
                    _ => continue,
                };
                let rollgate_write = d
                    .managed_fields()
                    .iter()
                    .filter(|m| m.manager.as_deref() == Some("rollgate"))
                    .filter_map(|m| m.time.as_ref().map(|t| t.0))
                    .max();
                lock(&store).push(DeploymentSeen {
                    received,
                    name: d.name_any(),
                    spec_replicas: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
                    ready: d
                        .status
                        .as_ref()
                        .and_then(|s| s.ready_replicas)
                        .unwrap_or(0),
                    rollgate_write,
                });
            }
        });
        Deployments { log, task }
    }

    /// Everything received so far.
    pub fn log(&self) -> Vec<DeploymentSeen> {
        lock(&self.log).clone()
    }
}

impl Drop for Deployments {
    fn drop(&mut self) {
        self.task.abort();
    }
}

use futures::channel::mpsc;
use futures::future::{BoxFuture, FutureExt, Shared};
use k8s_openapi::api::apps::v1::ControllerRevision;
use kube::Client;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::reflector::Store;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::core::PartialObjectMeta;

use super::admission::{Caps, Reservations};
use super::snapshots::ConfigCache;
use crate::api::{Freeze, Incident, IncidentChannel, Rollout};
use crate::prometheus::{PoolSettings, PrometheusPool};

/// What the controller is told at start.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Prometheus used by Rollouts that name none.
    pub prometheus_url: Option<String>,
    /// Watch one namespace only (all when `None`).
    pub namespace: Option<String>,
    /// This replica's identity, for Events.
    pub instance: Option<String>,
    /// IncidentChannel (`namespace/name`) every incident also goes to.
    pub default_channel: Option<String>,
    /// Most Rollouts in a canary phase at once.
    pub caps: Caps,
    /// Most reconciles in flight at once (0: unbounded).
    pub concurrency: u16,
}

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub settings: Settings,
    /// Targets and tracks, through the workload adapter.
    pub workloads: super::workload::Stores,
    pub prometheus: PrometheusPool,
    pub recorder: Recorder,
    /// HTTP client for incident destinations (ring rustls provider).
    pub http: reqwest::Client,
    /// Wakes the incident reconcile of an Incident the rollout reconcile opened or touched.
    pub incident_trigger: mpsc::Sender<ObjectRef<Incident>>,
    /// Who uses which ConfigMap/Secret, and their last read content.
    pub config: std::sync::Arc<ConfigCache>,
    /// Metadata of ConfigMaps and Secrets (resourceVersions), from the config watches.
    pub config_maps: Store<PartialObjectMeta<ConfigMap>>,
    pub secrets: Store<PartialObjectMeta<Secret>>,
    /// Secret contents read so far, by version: the one edge for Secrets.
    pub secret_contents: super::secrets::SecretCache,
    pub rollouts: Store<Rollout>,
    pub freezes: Store<Freeze>,
    /// rollgate's records of each revision's pod template (see `workload::record`).
    pub records: Store<ControllerRevision>,
    pub records_ready: CacheReady,
    /// IncidentChannels, to tell a Rollout naming a missing one.
    pub channels: Store<IncidentChannel>,
    /// The caches a channel check reads (channels, Secrets' metadata), filled: before that
    /// every channel would look missing.
    pub channels_ready: CacheReady,
    pub secrets_ready: CacheReady,
    /// Canary slots granted moments ago; held while a slot is being decided.
    pub admission: tokio::sync::Mutex<Reservations>,
    pub metrics: std::sync::Arc<super::metrics::Metrics>,
    /// Status versions this controller wrote past, for reconciles that run ahead of the cache.
    pub own_writes: super::own_writes::OwnWrites,
    /// The error category each failing Rollout was last told of (a Warning Event on each
    /// change, not on each retry); cleared by a reconcile that succeeds.
    pub failing: std::sync::Mutex<std::collections::HashMap<(String, String), &'static str>>,
    /// The rollback (by its decision time) whose Incident this process made sure of, per
    /// Rollout: one create per rollback decision, however many reconciles follow.
    pub opened: std::sync::Mutex<std::collections::HashMap<(String, String), jiff::Timestamp>>,
    /// Passing evaluations kept in memory instead of status, until a change or a heartbeat.
    pub unwritten: super::unwritten::Unwritten,
    /// Clients of Releases' member clusters, by cluster Secret and its version.
    pub members: super::release::members::Clients,
}

/// The caches `run` builds before the context.
pub struct Stores {
    pub rollouts: Store<Rollout>,
    pub freezes: Store<Freeze>,
    pub workloads: super::workload::Stores,
    pub config: std::sync::Arc<ConfigCache>,
    pub config_maps: Store<PartialObjectMeta<ConfigMap>>,
    pub secrets: Store<PartialObjectMeta<Secret>>,
    pub records: Store<ControllerRevision>,
    pub channels: Store<IncidentChannel>,
}

impl Context {
    pub fn new(
        client: Client,
        settings: Settings,
        stores: Stores,
        incident_trigger: mpsc::Sender<ObjectRef<Incident>>,
        metrics: std::sync::Arc<super::metrics::Metrics>,
    ) -> Self {
        let reporter = Reporter {
            controller: "rollgate".into(),
            instance: settings.instance.clone(),
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            http: reqwest::Client::builder()
                .build()
                .expect("an HTTP client with the installed rustls provider"),
            incident_trigger,
            recorder: Recorder::new(client.clone(), reporter),
            client,
            settings,
            workloads: stores.workloads,
            config: stores.config,
            config_maps: stores.config_maps,
            secrets_ready: CacheReady::of(stores.secrets.clone()),
            secrets: stores.secrets,
            secret_contents: Default::default(),
            rollouts: stores.rollouts,
            freezes: stores.freezes,
            records_ready: CacheReady::of(stores.records.clone()),
            records: stores.records,
            channels_ready: CacheReady::of(stores.channels.clone()),
            channels: stores.channels,
            admission: Default::default(),
            own_writes: Default::default(),
            opened: Default::default(),
            failing: Default::default(),
            unwritten: Default::default(),
            members: Default::default(),
            prometheus: PrometheusPool::counted(
                PoolSettings::default(),
                metrics.prometheus.clone(),
            ),
            metrics,
        }
    }
}

/// Resolves (true) once a cache has been filled, for any number of concurrent waiters.
///
/// kube's `Store::wait_until_ready` wakes only the latest of several concurrent waiters: its
/// `DelayedInit` polls one oneshot receiver, which keeps a single waker. The Rollouts a
/// controller finds at start-up all wait at once, inside one `FuturesUnordered`, so all but one
/// would sleep for good, and kube-runtime never starts a second reconcile of a Rollout whose
/// first is still pending. Here one waiter feeds a `Shared` future, which wakes them all.
#[derive(Clone)]
pub struct CacheReady(Shared<BoxFuture<'static, bool>>);

impl CacheReady {
    pub fn of<K>(store: Store<K>) -> Self
    where
        K: kube::Resource + Clone + Send + Sync + 'static,
        K::DynamicType: std::hash::Hash + Eq + Clone + Default + Send + Sync,
    {
        Self(
            async move { store.wait_until_ready().await.is_ok() }
                .boxed()
                .shared(),
        )
    }

    /// False only when the cache's writer went away without filling it.
    pub async fn wait(&self) -> bool {
        self.0.clone().await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;
    use futures::stream::FuturesUnordered;
    use kube::runtime::{reflector, watcher};

    use super::*;

    /// Twenty reconciles waiting together, polled the way kube-runtime's runner polls them
    /// (one `FuturesUnordered`), all go on once the cache is filled.
    #[tokio::test]
    async fn every_concurrent_waiter_wakes_when_the_cache_fills() {
        let (store, mut writer) = reflector::store::<ControllerRevision>();
        let ready = CacheReady::of(store);
        let mut waiters: FuturesUnordered<_> = (0..20)
            .map(|_| {
                let ready = ready.clone();
                async move { ready.wait().await }
            })
            .collect();
        // Everyone is parked before the cache fills.
        assert!(
            tokio::time::timeout(Duration::from_millis(50), waiters.next())
                .await
                .is_err()
        );
        writer.apply_watcher_event(&watcher::Event::Init);
        writer.apply_watcher_event(&watcher::Event::InitDone);
        let woke = tokio::time::timeout(Duration::from_secs(5), waiters.collect::<Vec<bool>>())
            .await
            .expect("every waiter wakes");
        assert_eq!(woke, vec![true; 20]);
    }

    #[tokio::test]
    async fn a_writer_gone_before_filling_reads_as_not_ready() {
        let (store, writer) = reflector::store::<ControllerRevision>();
        let ready = CacheReady::of(store);
        drop(writer);
        assert!(!ready.wait().await);
    }
}

//! kube-runtime wiring: watches, and reconcile = observe → plan → apply → status.
//!
//! One reflector per workload kind (`workload`) serves both as the trigger (owned tracks and
//! annotated targets map to their Rollout) and as the cache that observation reads, so a
//! reconcile makes no GET for workloads. Timers are requeues, not tasks: 1,000 Rollouts cost no threads.

mod admission;
mod apply;
mod autoscaling;
mod channels;
mod context;
pub mod crash;
pub mod crds;
mod error;
mod evaluate;
mod incidents;
pub mod leader;
pub mod metrics;
mod observe;
mod own_writes;
mod reconcile;
mod records;
mod release;
mod secrets;
pub mod serve;
mod snapshots;
mod traffic;
mod unwritten;
mod workload;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher::{self, Config as WatcherConfig};

use crate::workload::config::ConfigKind;
use crate::workload::record;
use kube::runtime::{Controller, WatchStreamExt};
use kube::{Api, Client, ResourceExt};

pub use admission::Caps;
pub use context::{Context, Settings, Stores};
pub use error::Error;

use crate::api::{Freeze, Incident, IncidentChannel, Release, Rollout};

/// Runs the controller until `shutdown` completes (a signal, or a lost leader lease).
pub async fn run(
    client: Client,
    settings: Settings,
    metrics: Arc<metrics::Metrics>,
    health: Arc<serve::Health>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let shutdown = futures::FutureExt::shared(Box::pin(shutdown));
    // Read before `settings` moves into the context.
    let reconcile_config =
        kube::runtime::controller::Config::default().concurrency(settings.concurrency);
    let rollouts: Api<Rollout> = scoped(&client, &settings);
    let filled = Caches::default();
    let (workloads, workload_changes) = workload::watch(&client, &settings, &filled);
    let incidents: Api<Incident> = match &settings.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let (incident_store, incident_writer) = reflector::store::<Incident>();
    let incidents_filled = filled.track("incidents");
    let incident_events = watcher::watcher(incidents, watch_config())
        .default_backoff()
        .reflect(incident_writer)
        .inspect_ok(incidents_filled.marker())
        .applied_objects();
    let (trigger, triggered) = futures::channel::mpsc::channel(1024);
    let config = Arc::new(snapshots::ConfigCache::default());
    let (config_maps, cm_writer) = reflector::store::<PartialObjectMeta<ConfigMap>>();
    let (secrets, secret_writer) = reflector::store::<PartialObjectMeta<Secret>>();
    let cm_events = watcher::watcher(
        scoped::<PartialObjectMeta<ConfigMap>>(&client, &settings),
        watch_config(),
    )
    .default_backoff()
    .reflect(cm_writer)
    .inspect_ok(filled.track("configmaps").marker())
    .touched_objects();
    let secret_events = watcher::watcher(
        scoped::<PartialObjectMeta<Secret>>(&client, &settings),
        watch_config(),
    )
    .default_backoff()
    .reflect(secret_writer)
    .inspect_ok(filled.track("secrets").marker())
    .touched_objects();
    // Freezes are cluster-scoped and few: every change wakes the Rollouts it covers.
    let (freezes, freeze_writer) = reflector::store::<Freeze>();
    let freeze_events = watcher::watcher(Api::<Freeze>::all(client.clone()), watch_config())
        .default_backoff()
        .reflect(freeze_writer)
        .inspect_ok(filled.track("freezes").marker())
        .touched_objects();
    // Managed fields are dropped from the cache here too: on a Rollout they mirror its whole
    // status (history included) a second time.
    let (rollout_store, rollout_writer) = reflector::store::<Rollout>();
    let rollouts_filled = filled.track("rollouts");
    let rollout_events = watcher::watcher(rollouts, watch_config())
        .default_backoff()
        .modify(|r| r.managed_fields_mut().clear())
        .reflect(rollout_writer)
        .inspect_ok(rollouts_filled.marker())
        .applied_objects();
    // IncidentChannels: a Rollout naming a missing one says so as soon as either is written.
    let (channel_store, channel_writer) = reflector::store::<IncidentChannel>();
    let channel_events = watcher::watcher(
        scoped::<IncidentChannel>(&client, &settings),
        watch_config(),
    )
    .default_backoff()
    .modify(|c| c.managed_fields_mut().clear())
    .reflect(channel_writer)
    .inspect_ok(filled.track("incidentchannels").marker())
    .touched_objects();
    // rollgate's records of verified templates: read on every reconcile, never a trigger.
    let (records, record_writer) = reflector::store::<ControllerRevision>();
    let record_events = watcher::watcher(
        scoped::<ControllerRevision>(&client, &settings),
        watch_config().labels(&format!(
            "{}={}",
            record::MANAGED_BY.0,
            record::MANAGED_BY.1
        )),
    )
    .default_backoff()
    .modify(|r| r.managed_fields_mut().clear())
    .reflect(record_writer)
    .inspect_ok(filled.track("controllerrevisions").marker())
    .touched_objects()
    .for_each(|_| futures::future::ready(()));
    tokio::spawn(record_events);
    // Releases (the hub's): few, and each polls its members while under way.
    let (release_store, release_writer) = reflector::store::<Release>();
    let releases_filled = filled.track("releases");
    let release_events = watcher::watcher(scoped::<Release>(&client, &settings), watch_config())
        .default_backoff()
        .modify(|r| r.managed_fields_mut().clear())
        .reflect(release_writer)
        .inspect_ok(releases_filled.marker())
        .applied_objects();
    let controller = Controller::for_stream(rollout_events, rollout_store.clone());
    let stores = Stores {
        rollouts: rollout_store.clone(),
        freezes,
        workloads,
        config: config.clone(),
        config_maps,
        secrets,
        records,
        channels: channel_store,
    };
    let ctx = Arc::new(Context::new(client, settings, stores, trigger, metrics));
    tokio::spawn(watch_readiness(
        ctx.clone(),
        health,
        filled,
        release_store.clone(),
    ));
    let (cm_users, secret_users) = (config.clone(), config);
    let (channel_rollouts, default_channel) =
        (ctx.rollouts.clone(), ctx.settings.default_channel.clone());
    let (secret_rollouts, secret_default, secret_channels) = (
        ctx.rollouts.clone(),
        ctx.settings.default_channel.clone(),
        ctx.channels.clone(),
    );
    let rollout_loop = controller
        .reconcile_on(workload_changes)
        .watches_stream(freeze_events, move |f: Freeze| {
            rollout_store
                .state()
                .iter()
                .filter(|r| f.covers(&r.namespace().unwrap_or_default()))
                .map(|r| ObjectRef::from_obj(r.as_ref()))
                .collect::<Vec<_>>()
        })
        .watches_stream(channel_events, move |c: IncidentChannel| {
            channels::users(default_channel.as_deref(), &channel_rollouts, &c)
        })
        .watches_stream(cm_events, move |m| {
            users(&cm_users, ConfigKind::ConfigMap, &m)
        })
        .watches_stream(secret_events, move |m| {
            let mut woken = users(&secret_users, ConfigKind::Secret, &m);
            // A channel's credentials appearing (or going) changes ChannelsReady too.
            woken.extend(channels::users_of_secret(
                secret_default.as_deref(),
                &secret_rollouts,
                &secret_channels,
                &m,
            ));
            woken
        })
        .with_config(reconcile_config)
        .graceful_shutdown_on(shutdown.clone())
        .run(reconcile::reconcile, reconcile::error_policy, ctx.clone())
        .for_each(log_result);
    let incident_loop = Controller::for_stream(incident_events, incident_store)
        .reconcile_on(triggered)
        .graceful_shutdown_on(shutdown.clone())
        .run(incidents::reconcile, incidents::error_policy, ctx.clone())
        .for_each(log_result);
    let release_loop = Controller::for_stream(release_events, release_store)
        .graceful_shutdown_on(shutdown.clone())
        .run(release::reconcile, release::error_policy, ctx)
        .for_each(log_result);
    futures::join!(
        stoppable(rollout_loop, shutdown.clone(), rollouts_filled),
        stoppable(incident_loop, shutdown.clone(), incidents_filled),
        stoppable(release_loop, shutdown, releases_filled),
    );
}

/// Runs a Controller's loop until it ends, or until `shutdown` if its cache is not filled by
/// then: kube's runner holds its tasks until the cache fills, and a held runner never notices
/// the end of its input, so a graceful shutdown alone would wait for good.
async fn stoppable(
    work: impl Future<Output = ()>,
    shutdown: impl Future<Output = ()>,
    cache: Filled,
) {
    let unfilled_at_shutdown = async {
        shutdown.await;
        if cache.is_filled() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = work => {}
        () = unfilled_at_shutdown => {
            tracing::info!(cache = cache.name, "stopping before the cache was filled");
        }
    }
}

/// Whether each watch has delivered its initial list (its cache is filled), for `/readyz`.
#[derive(Default)]
struct Caches(std::sync::Mutex<Vec<Filled>>);

impl Caches {
    /// A cache to follow; its [`Filled::marker`] goes into its watch stream.
    fn track(&self, name: &'static str) -> Filled {
        let filled = Filled {
            name,
            done: Arc::default(),
        };
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(filled.clone());
        filled
    }

    /// The caches not filled yet.
    fn unfilled(&self) -> Vec<&'static str> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|c| !c.is_filled())
            .map(|c| c.name)
            .collect()
    }
}

/// Set once a watch has sent its first `InitDone`: its cache holds the whole initial list.
#[derive(Clone)]
struct Filled {
    name: &'static str,
    done: Arc<AtomicBool>,
}

impl Filled {
    fn is_filled(&self) -> bool {
        self.done.load(Ordering::Relaxed)
    }

    /// Marks the cache filled when its watch stream passes `InitDone`.
    fn marker<K>(&self) -> impl FnMut(&watcher::Event<K>) + use<K> {
        let done = self.done.clone();
        move |event| {
            if matches!(event, watcher::Event::InitDone) {
                done.store(true, Ordering::Relaxed);
            }
        }
    }
}

/// Every cache fills by a streaming list (the initial objects arrive as watch events, one by
/// one), so neither side holds a whole cluster's Deployments in one response: at 1,000
/// Rollouts the one-shot list was most of the controller's peak memory.
fn watch_config() -> WatcherConfig {
    WatcherConfig::default().streaming_lists()
}

/// Ready once the caches are filled; then keeps the rollouts-by-phase gauge current.
async fn watch_readiness(
    ctx: Arc<Context>,
    health: Arc<serve::Health>,
    caches: Caches,
    releases: reflector::Store<Release>,
) {
    loop {
        let unfilled = caches.unfilled();
        if unfilled.is_empty() {
            break;
        }
        health.set(serve::Readiness::Syncing(unfilled));
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    health.set(serve::Readiness::Running);
    tracing::info!("caches filled: ready");
    loop {
        let mut counts: std::collections::HashMap<&'static str, i64> = Default::default();
        for r in ctx.rollouts.state() {
            let phase = r.status.as_ref().map(|s| s.phase).unwrap_or_default();
            *counts.entry(phase.as_str()).or_default() += 1;
        }
        ctx.metrics.rollouts.clear();
        for (phase, n) in counts {
            ctx.metrics
                .rollouts
                .get_or_create(&metrics::PhaseLabels { phase })
                .set(n);
        }
        release::count_phases(&ctx, &releases);
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    }
}

async fn log_result<T, E: std::fmt::Display>(result: Result<T, E>) {
    if let Err(e) = result {
        tracing::debug!(error = %e, "reconcile failed");
    }
}

/// Rollouts whose target uses an edited ConfigMap or Secret.
fn users<K: kube::Resource>(
    cache: &snapshots::ConfigCache,
    kind: ConfigKind,
    m: &PartialObjectMeta<K>,
) -> Vec<ObjectRef<Rollout>> {
    let ns = m.metadata.namespace.clone().unwrap_or_default();
    let name = m.metadata.name.clone().unwrap_or_default();
    cache
        .users_of(&ns, kind, &name)
        .into_iter()
        .map(|r| ObjectRef::new(&r).within(&ns))
        .collect()
}

fn scoped<K>(client: &Client, settings: &Settings) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match &settings.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn cache(filled: bool) -> Filled {
        let cache = Caches::default().track("rollouts");
        cache.done.store(filled, Ordering::Relaxed);
        cache
    }

    /// A loop held until its cache fills (kube's runner) would never end: a shutdown ends it.
    #[tokio::test]
    async fn a_shutdown_before_the_cache_fills_stops_a_held_loop() {
        let stopped = stoppable(std::future::pending(), std::future::ready(()), cache(false));
        tokio::time::timeout(Duration::from_secs(1), stopped)
            .await
            .expect("stopped at once");
    }

    /// With the cache filled, the loop's own graceful shutdown decides when it ends.
    #[tokio::test]
    async fn a_shutdown_after_the_cache_filled_lets_the_loop_finish() {
        let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
        let work = async move {
            let _ = done_rx.await;
        };
        let mut stopped = Box::pin(stoppable(work, std::future::ready(()), cache(true)));
        assert!(
            tokio::time::timeout(Duration::from_millis(100), &mut stopped)
                .await
                .is_err(),
            "waits for the loop"
        );
        done_tx.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(1), stopped)
            .await
            .expect("ends with the loop");
    }

    #[test]
    fn a_cache_is_filled_at_its_first_init_done() {
        let caches = Caches::default();
        let rollouts = caches.track("rollouts");
        let mut mark = rollouts.marker::<Rollout>();
        caches.track("freezes");
        mark(&watcher::Event::Init);
        assert_eq!(caches.unfilled(), ["rollouts", "freezes"]);
        mark(&watcher::Event::InitDone);
        assert_eq!(caches.unfilled(), ["freezes"]);
    }
}

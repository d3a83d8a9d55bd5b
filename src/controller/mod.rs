//! kube-runtime wiring: watches, and reconcile = observe → plan → apply → status.
//!
//! One reflector of Deployments serves both as the trigger (owned tracks and annotated
//! targets map to their Rollout) and as the cache that observation reads, so a reconcile makes
//! no GET for workloads. Timers are requeues, not tasks: 1,000 Rollouts cost no threads.

mod admission;
mod apply;
mod channels;
mod config;
mod context;
pub mod crash;
mod error;
mod evaluate;
mod incidents;
pub mod leader;
pub mod metrics;
mod observe;
mod own_writes;
mod reconcile;
mod records;
pub mod serve;
mod unwritten;

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, Deployment};
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

use crate::api::{Freeze, Incident, IncidentChannel, Rollout};

/// Annotation on a target Deployment naming the Rollout that drives it.
pub const ROLLOUT_ANNOTATION: &str = "rollgate.dev/rollout";
/// Finalizer that hands the workload back to the target Deployment before the tracks go.
pub const FINALIZER: &str = "rollgate.dev/hand-back";

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
    let (rollouts, deployments): (Api<Rollout>, Api<Deployment>) = match &settings.namespace {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let (store, writer) = reflector::store::<Deployment>();
    let deployment_events = watcher::watcher(deployments, watch_config())
        .default_backoff()
        .modify(|d| {
            // Managed fields are the bulk of a Deployment and never read here.
            d.managed_fields_mut().clear();
        })
        .reflect(writer)
        .touched_objects();
    let incidents: Api<Incident> = match &settings.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let (trigger, triggered) = futures::channel::mpsc::channel(1024);
    let config = Arc::new(config::ConfigCache::default());
    let (config_maps, cm_writer) = reflector::store::<PartialObjectMeta<ConfigMap>>();
    let (secrets, secret_writer) = reflector::store::<PartialObjectMeta<Secret>>();
    let cm_events = watcher::watcher(
        scoped::<PartialObjectMeta<ConfigMap>>(&client, &settings),
        watch_config(),
    )
    .default_backoff()
    .reflect(cm_writer)
    .touched_objects();
    let secret_events = watcher::watcher(
        scoped::<PartialObjectMeta<Secret>>(&client, &settings),
        watch_config(),
    )
    .default_backoff()
    .reflect(secret_writer)
    .touched_objects();
    // Freezes are cluster-scoped and few: every change wakes the Rollouts it covers.
    let (freezes, freeze_writer) = reflector::store::<Freeze>();
    let freeze_events = watcher::watcher(Api::<Freeze>::all(client.clone()), watch_config())
        .default_backoff()
        .reflect(freeze_writer)
        .touched_objects();
    // Managed fields are dropped from the cache here too: on a Rollout they mirror its whole
    // status (history included) a second time.
    let (rollout_store, rollout_writer) = reflector::store::<Rollout>();
    let rollout_events = watcher::watcher(rollouts, watch_config())
        .default_backoff()
        .modify(|r| r.managed_fields_mut().clear())
        .reflect(rollout_writer)
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
    .touched_objects()
    .for_each(|_| futures::future::ready(()));
    tokio::spawn(record_events);
    let controller = Controller::for_stream(rollout_events, rollout_store.clone());
    let stores = Stores {
        rollouts: rollout_store.clone(),
        freezes,
        deployments: store,
        config: config.clone(),
        config_maps,
        secrets,
        records,
        channels: channel_store,
    };
    let ctx = Arc::new(Context::new(client, settings, stores, trigger, metrics));
    tokio::spawn(watch_readiness(ctx.clone(), health));
    let (cm_users, secret_users) = (config.clone(), config);
    let (channel_rollouts, default_channel) =
        (ctx.rollouts.clone(), ctx.settings.default_channel.clone());
    let (secret_rollouts, secret_default, secret_channels) = (
        ctx.rollouts.clone(),
        ctx.settings.default_channel.clone(),
        ctx.channels.clone(),
    );
    let rollout_loop = controller
        .watches_stream(deployment_events, rollout_of)
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
    let incident_loop = Controller::new(incidents, watch_config())
        .reconcile_on(triggered)
        .graceful_shutdown_on(shutdown)
        .run(incidents::reconcile, incidents::error_policy, ctx)
        .for_each(log_result);
    futures::join!(rollout_loop, incident_loop);
}

/// Every cache fills by a streaming list (the initial objects arrive as watch events, one by
/// one), so neither side holds a whole cluster's Deployments in one response: at 1,000
/// Rollouts the one-shot list was most of the controller's peak memory.
fn watch_config() -> WatcherConfig {
    WatcherConfig::default().streaming_lists()
}

/// Ready once the caches are filled; then keeps the rollouts-by-phase gauge current.
async fn watch_readiness(ctx: Arc<Context>, health: Arc<serve::Health>) {
    // The Deployment cache is what observation reads. The Controller's own store is not waited
    // on: kube's runner already waits on it, and its readiness wakes only one waiter (see
    // `CacheReady`).
    ctx.deployments_ready.wait().await;
    health
        .ready
        .store(true, std::sync::atomic::Ordering::Relaxed);
    loop {
        let mut counts: std::collections::HashMap<String, i64> = Default::default();
        for r in ctx.rollouts.state() {
            *counts
                .entry(format!(
                    "{:?}",
                    r.status.as_ref().map(|s| s.phase).unwrap_or_default()
                ))
                .or_default() += 1;
        }
        ctx.metrics.rollouts.clear();
        for (phase, n) in counts {
            ctx.metrics
                .rollouts
                .get_or_create(&metrics::PhaseLabels { phase })
                .set(n);
        }
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
    cache: &config::ConfigCache,
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

/// The Rollout a Deployment event concerns: the owner of a track, or the annotated driver of a target.
fn rollout_of(d: Deployment) -> Option<ObjectRef<Rollout>> {
    let ns = d.namespace()?;
    let owner = d
        .owner_references()
        .iter()
        .find(|o| o.kind == "Rollout" && o.api_version.starts_with(crate::api::GROUP))
        .map(|o| o.name.clone());
    let name = owner.or_else(|| d.annotations().get(ROLLOUT_ANNOTATION).cloned())?;
    Some(ObjectRef::new(&name).within(&ns))
}

//! kube-runtime wiring: watches, and reconcile = observe → plan → apply → status.
//!
//! One reflector of Deployments serves both as the trigger (owned tracks and annotated
//! targets map to their Rollout) and as the cache that observation reads, so a reconcile makes
//! no GET for workloads. Timers are requeues, not tasks: 1,000 Rollouts cost no threads.

mod apply;
mod context;
mod error;
mod evaluate;
mod observe;
mod reconcile;

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher::{self, Config as WatcherConfig};
use kube::runtime::{Controller, WatchStreamExt};
use kube::{Api, Client, ResourceExt};

pub use context::{Context, Settings};
pub use error::Error;

use crate::api::Rollout;

/// Annotation on a target Deployment naming the Rollout that drives it.
pub const ROLLOUT_ANNOTATION: &str = "rollgate.dev/rollout";
/// Finalizer that hands the workload back to the target Deployment before the tracks go.
pub const FINALIZER: &str = "rollgate.dev/hand-back";

/// Runs the controller until the process is asked to stop.
pub async fn run(client: Client, settings: Settings) {
    let (rollouts, deployments): (Api<Rollout>, Api<Deployment>) = match &settings.namespace {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let (store, writer) = reflector::store::<Deployment>();
    let deployment_events = watcher::watcher(deployments, WatcherConfig::default().any_semantic())
        .default_backoff()
        .modify(|d| {
            // Managed fields are the bulk of a Deployment and never read here.
            d.managed_fields_mut().clear();
        })
        .reflect(writer)
        .touched_objects();
    let ctx = Arc::new(Context::new(client, settings, store));
    Controller::new(rollouts, WatcherConfig::default().any_semantic())
        .watches_stream(deployment_events, rollout_of)
        .shutdown_on_signal()
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|result| async move {
            if let Err(e) = result {
                tracing::debug!(error = %e, "reconcile failed");
            }
        })
        .await;
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

//! The Deployment adapter's I/O: its watch, and the writes to track and target Deployments.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::{Stream, StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;

use super::{Object, Raw, TrackSpec};
use crate::api::Rollout;
use crate::controller::{Caches, Context, Error, Settings};
use crate::workload::FIELD_MANAGER;
use crate::workload::deployment::track_deployment;

pub type Store = reflector::Store<Deployment>;

pub fn watch(
    client: &Client,
    settings: &Settings,
    filled: &Caches,
) -> (
    Store,
    impl Stream<Item = ObjectRef<Rollout>> + Send + 'static,
) {
    let api: Api<Deployment> = crate::controller::scoped(client, settings);
    let (store, writer) = reflector::store::<Deployment>();
    let changes = watcher::watcher(api, crate::controller::watch_config())
        .default_backoff()
        .modify(|d| {
            // Managed fields are the bulk of a Deployment and never read here.
            d.managed_fields_mut().clear();
        })
        .reflect(writer)
        .inspect_ok(filled.track("deployments").marker())
        .touched_objects()
        .filter_map(|d| {
            futures::future::ready(match d {
                Ok(d) => rollout_of(d),
                Err(error) => {
                    // The backoff retries; the loop goes on from the cache meanwhile.
                    tracing::warn!(%error, "Deployment watch failed");
                    None
                }
            })
        });
    (store, changes)
}

/// The Rollout a Deployment concerns: the owner of a track, or the annotated driver of a target.
fn rollout_of(d: Deployment) -> Option<ObjectRef<Rollout>> {
    let ns = d.namespace()?;
    let owner = d
        .owner_references()
        .iter()
        .find(|o| o.kind == "Rollout" && o.api_version.starts_with(crate::api::GROUP))
        .map(|o| o.name.clone());
    let name = owner.or_else(|| d.annotations().get(crate::api::keys::ROLLOUT).cloned())?;
    Some(ObjectRef::new(&name).within(&ns))
}

pub async fn write_track(
    ctx: &Context,
    rollout: &Rollout,
    target: &Deployment,
    track: TrackSpec<'_>,
    edited: Option<&Object>,
) -> Result<Object, Error> {
    let owner = rollout
        .controller_owner_ref(&())
        .expect("a stored Rollout has a name and uid");
    let mut d = track_deployment(
        target,
        track.kind,
        track.template,
        track.revision,
        track.replicas,
        owner,
    );
    let name = d.name_any();
    let api: Api<Deployment> =
        Api::namespaced(ctx.client.clone(), &target.namespace().unwrap_or_default());
    let written = match edited {
        Some(edited) => {
            d.metadata.resource_version = edited.resource_version();
            api.replace(&name, &PostParams::default(), &d).await?
        }
        None => {
            let mut value = serde_json::to_value(&d).expect("Deployments serialize");
            value["apiVersion"] = json!("apps/v1");
            value["kind"] = json!("Deployment");
            api.patch(
                &name,
                &PatchParams::apply(FIELD_MANAGER).force(),
                &Patch::Apply(value),
            )
            .await?
        }
    };
    Ok(Object(Raw::Deployment(Arc::new(written))))
}

pub async fn hold(
    ctx: &Context,
    target: &Deployment,
    annotations: &BTreeMap<&str, String>,
    replicas: Option<i32>,
) -> Result<(), Error> {
    let name = target.name_any();
    let mut patch = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "annotations": annotations},
    });
    if let Some(r) = replicas {
        patch["spec"] = json!({"replicas": r});
    }
    api(ctx, target)
        .patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(patch),
        )
        .await?;
    Ok(())
}

pub async fn release(ctx: &Context, target: &Deployment, replicas: i32) -> Result<(), Error> {
    use crate::api::keys::{ROLLOUT, SERVED_BY};
    let patch = json!({
        "metadata": {"annotations": {ROLLOUT: null, SERVED_BY: null}},
        "spec": {"replicas": replicas},
    });
    let params = PatchParams {
        field_manager: Some("rollgate-hand-back".into()),
        ..Default::default()
    };
    api(ctx, target)
        .patch(&target.name_any(), &params, &Patch::Merge(patch))
        .await?;
    Ok(())
}

/// Counts the target's own ready pods rather than trust its status: a ReplicaSet's status can
/// lag behind its pods under load, and letting the tracks go early would drop capacity.
pub async fn own_ready_pods(ctx: &Context, target: &Deployment) -> Result<usize, Error> {
    let selector = target
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default();
    let mut labels: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    labels.push(format!("!{}", crate::api::keys::TRACK));
    let pods: Api<Pod> =
        Api::namespaced(ctx.client.clone(), &target.namespace().unwrap_or_default());
    Ok(pods
        .list(&ListParams::default().labels(&labels.join(",")))
        .await?
        .items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && pod_ready(p))
        .count())
}

fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn api(ctx: &Context, target: &Deployment) -> Api<Deployment> {
    Api::namespaced(ctx.client.clone(), &target.namespace().unwrap_or_default())
}

fn member_api(client: &Client, rollout: &Rollout) -> Api<Deployment> {
    Api::namespaced(client.clone(), &rollout.namespace().unwrap_or_default())
}

pub async fn member_images(
    client: &Client,
    rollout: &Rollout,
) -> Result<Option<Vec<crate::api::ContainerImage>>, kube::Error> {
    let Some(d) = member_api(client, rollout)
        .get_opt(&rollout.spec.target_ref.name)
        .await?
    else {
        return Ok(None);
    };
    let containers = d
        .spec
        .and_then(|s| s.template.spec)
        .map(|p| p.containers)
        .unwrap_or_default();
    Ok(Some(
        containers
            .into_iter()
            .map(|c| crate::api::ContainerImage {
                name: c.name,
                image: c.image.unwrap_or_default(),
            })
            .collect(),
    ))
}

pub async fn apply_member_images(
    client: &Client,
    rollout: &Rollout,
    images: &[crate::api::ContainerImage],
    manager: &str,
) -> Result<i64, kube::Error> {
    let containers: Vec<_> = images
        .iter()
        .map(|c| json!({"name": c.name, "image": c.image}))
        .collect();
    let patch = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": rollout.spec.target_ref.name},
        "spec": {"template": {"spec": {"containers": containers}}},
    });
    // Forced: the hub takes the image fields over from whoever set them (a person, Git); the
    // member's rollgate owns other fields (replicas, annotations) and keeps them.
    let written = member_api(client, rollout)
        .patch(
            &rollout.spec.target_ref.name,
            &PatchParams::apply(manager).force(),
            &Patch::Apply(patch),
        )
        .await?;
    Ok(written.metadata.generation.unwrap_or(0))
}

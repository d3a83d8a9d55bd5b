//! Writing the decision: track Deployments, the target's replicas, status, Events. Every
//! write compares first, so a reconcile that changes nothing writes nothing.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::events::{Event as KubeEvent, EventType as KubeEventType};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::observe::Workloads as Seen;
use super::{Context, Error};
use crate::api::keys::{ROLLOUT, SERVED_BY};
use crate::api::{Rollout, RolloutStatus};
use crate::plan::{Event, EventType, TrackPlan, Workloads, truncate};
use crate::workload::config::rewrite;
use crate::workload::{FIELD_MANAGER, TrackKind, observe_track, track_deployment, track_name};

pub async fn workloads(
    ctx: &Context,
    rollout: &Rollout,
    seen: &Seen,
    want: &Workloads,
    status: &RolloutStatus,
) -> Result<(), Error> {
    let ns = rollout.namespace().unwrap_or_default();
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    let owner = rollout
        .controller_owner_ref(&())
        .expect("a stored Rollout has a name and uid");
    // Canary first: on a rollback its share reaches zero before anything else is written.
    for (kind, plan, current, observed) in [
        (
            TrackKind::Canary,
            &want.canary,
            &seen.canary,
            &seen.observed.canary,
        ),
        (
            TrackKind::Stable,
            &want.stable,
            &seen.stable,
            &seen.observed.stable,
        ),
    ] {
        if let (Some(d), Some(t)) = (current, observed)
            && t.drift.is_none()
        {
            // A track written before its revision was recorded (an upgrade, or a crash
            // between the two writes) is recorded as it runs.
            super::records::keep(ctx, rollout, &seen.records, &t.revision, d).await?;
        }
        let Some(plan) = plan else { continue };
        let as_planned = observed.as_ref().is_some_and(|t| {
            t.revision == plan.revision && t.replicas == plan.replicas && t.drift.is_none()
        });
        if as_planned || (observed.is_none() && plan.replicas == 0) {
            continue; // nothing to change, or no need to create an empty track
        }
        apply_track(ctx, rollout, &api, seen, kind, plan, owner.clone()).await?;
    }
    hold_target(&api, rollout, seen, want.target_replicas, status).await
}

async fn apply_track(
    ctx: &Context,
    rollout: &Rollout,
    api: &Api<Deployment>,
    seen: &Seen,
    kind: TrackKind,
    plan: &TrackPlan,
    owner: OwnerReference,
) -> Result<(), Error> {
    let template_of = |d: &Option<std::sync::Arc<Deployment>>| {
        let intact = |d: &&Deployment| {
            super::records::drift(&seen.records, d, &plan.revision).is_none()
                && observe_track(d).is_some_and(|t| t.revision == plan.revision)
        };
        d.as_deref()
            .filter(intact)
            .and_then(|d| d.spec.as_ref().map(|s| s.template.clone()))
    };
    // A recorded revision is restored exactly as recorded; a track that already runs the
    // revision unedited has its template (snapshots included); only the desired revision may
    // be built from the target's template, pointed at fresh snapshots of its config.
    let existing = seen
        .records
        .get(&plan.revision)
        .cloned()
        .or_else(|| template_of(&seen.stable))
        .or_else(|| template_of(&seen.canary));
    let template = match existing {
        Some(t) => t,
        None if seen.observed.desired_revision == plan.revision => {
            super::config::ensure_snapshots(ctx, rollout, &seen.config).await?;
            let target = seen
                .target
                .spec
                .as_ref()
                .map(|s| s.template.clone())
                .unwrap_or_default();
            rewrite(&target, &super::config::snapshot_names(&seen.config))
        }
        None => return Err(Error::TemplateUnavailable(plan.revision.clone())),
    };
    let d = track_deployment(
        &seen.target,
        kind,
        &template,
        &plan.revision,
        plan.replicas,
        owner,
    );
    let name = track_name(&seen.target.name_any(), kind);
    let current = match kind {
        TrackKind::Stable => &seen.stable,
        TrackKind::Canary => &seen.canary,
    };
    let written = match current.as_deref().filter(|c| {
        let revision = observe_track(c).map(|t| t.revision).unwrap_or_default();
        super::records::drift(&seen.records, c, &revision).is_some()
    }) {
        // An apply keeps fields another manager added by hand; a replace, conditional on the
        // version read, writes back exactly the recorded track.
        Some(edited) => {
            let mut d = d;
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
    super::records::keep(ctx, rollout, &seen.records, &plan.revision, &written).await
}

/// Marks the target as driven by this Rollout, says which tracks serve it, and, once the
/// tracks serve, holds it at 0.
async fn hold_target(
    api: &Api<Deployment>,
    rollout: &Rollout,
    seen: &Seen,
    replicas: Option<i32>,
    status: &RolloutStatus,
) -> Result<(), Error> {
    let name = rollout.name_any();
    let annotations = seen.target.annotations();
    let marked = annotations.get(ROLLOUT) == Some(&name);
    let served_by = crate::workload::serving(&seen.target.name_any(), status).join(",");
    let told = annotations.get(SERVED_BY).map(String::as_str)
        == Some(served_by.as_str()).filter(|s| !s.is_empty());
    let current = seen.target.spec.as_ref().and_then(|s| s.replicas);
    if marked && (told || served_by.is_empty()) && replicas.is_none_or(|r| current == Some(r)) {
        return Ok(());
    }
    let mut annotations = json!({ROLLOUT: name});
    if !served_by.is_empty() {
        annotations[SERVED_BY] = json!(served_by);
    }
    let mut patch = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": seen.target.name_any(), "annotations": annotations},
    });
    if let Some(r) = replicas {
        patch["spec"] = json!({"replicas": r});
    }
    api.patch(
        &seen.target.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(patch),
    )
    .await?;
    Ok(())
}

/// Writes the status when it changed; returns the new resourceVersion if it wrote.
pub async fn status(
    ctx: &Context,
    rollout: &Rollout,
    status: &RolloutStatus,
) -> Result<Option<String>, Error> {
    if rollout.status.as_ref() == Some(status) {
        return Ok(None);
    }
    let api: Api<Rollout> =
        Api::namespaced(ctx.client.clone(), &rollout.namespace().unwrap_or_default());
    let patch = json!({
        "apiVersion": Rollout::api_version(&()),
        "kind": Rollout::kind(&()),
        "status": status,
    });
    let written = api
        .patch_status(
            &rollout.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(patch),
        )
        .await?;
    Ok(written.resource_version())
}

/// Publishes the decision's Events in the background, in order: they are for people, and a
/// reconcile (the next stage's timer, a rollback) must not wait on them when the API server
/// is busy.
pub fn events(ctx: &std::sync::Arc<Context>, rollout: &Rollout, events: &[Event]) {
    if events.is_empty() {
        return;
    }
    let reference = rollout.object_ref(&());
    let name = rollout.name_any();
    let events: Vec<KubeEvent> = events.iter().map(to_kube_event).collect();
    let ctx = ctx.clone();
    tokio::spawn(async move {
        for ev in events {
            if let Err(err) = ctx.recorder.publish(&ev, &reference).await {
                tracing::warn!(rollout = %name, reason = %ev.reason, error = %err, "cannot record event");
            }
        }
    });
}

fn to_kube_event(e: &Event) -> KubeEvent {
    KubeEvent {
        type_: match e.type_ {
            EventType::Normal => KubeEventType::Normal,
            EventType::Warning => KubeEventType::Warning,
        },
        reason: e.reason.clone(),
        note: Some(truncate(&e.note, 1000)),
        // The recorder folds events with equal (reason, action) into one series; a key per
        // distinct note keeps each stage of a rollout its own event.
        action: format!(
            "{}-{}",
            e.reason,
            &hex::encode(Sha256::digest(e.note.as_bytes()))[..8]
        ),
        secondary: None,
    }
}

//! Writing the decision: tracks and the target (through the workload adapter), status,
//! Events. Every write compares first, so a reconcile that changes nothing writes nothing.

use std::collections::BTreeMap;

use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event as KubeEvent, EventType as KubeEventType};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::observe::Seen;
use super::workload::{self, Object, TrackSpec};
use super::{Context, Error};
use crate::api::keys::{ROLLOUT, SERVED_BY};
use crate::api::{Rollout, RolloutStatus};
use crate::plan::{Event, EventType, TrackPlan, Workloads, truncate};
use crate::workload::FIELD_MANAGER;
use crate::workload::TrackKind;
use crate::workload::config::rewrite;

pub async fn workloads(
    ctx: &Context,
    rollout: &Rollout,
    seen: &Seen,
    want: &Workloads,
    status: &RolloutStatus,
) -> Result<(), Error> {
    // Canary first: on a rollback its share reaches zero before anything else is written.
    for (kind, plan) in [
        (TrackKind::Canary, &want.canary),
        (TrackKind::Stable, &want.stable),
    ] {
        let (current, observed) = seen.track(kind);
        if let (Some(o), Some(t)) = (current, observed)
            && t.drift.is_none()
        {
            // A track written before its revision was recorded (an upgrade, or a crash
            // between the two writes) is recorded as it runs.
            super::records::keep(ctx, rollout, &seen.records, &t.revision, o).await?;
        }
        let Some(plan) = plan else { continue };
        let as_planned = observed.as_ref().is_some_and(|t| {
            t.revision == plan.revision && t.replicas == plan.replicas && t.drift.is_none()
        });
        if as_planned || (observed.is_none() && plan.replicas == 0) {
            continue; // nothing to change, or no need to create an empty track
        }
        apply_track(ctx, rollout, seen, kind, plan).await?;
    }
    hold_target(ctx, rollout, seen, want.target_replicas, status).await
}

async fn apply_track(
    ctx: &Context,
    rollout: &Rollout,
    seen: &Seen,
    kind: TrackKind,
    plan: &TrackPlan,
) -> Result<(), Error> {
    let template_of = |o: &Option<Object>| {
        let intact = |o: &&Object| {
            super::records::drift(&seen.records, o, &plan.revision).is_none()
                && o.track().is_some_and(|t| t.revision == plan.revision)
        };
        o.as_ref()
            .filter(intact)
            .and_then(Object::template)
            .cloned()
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
            super::snapshots::ensure_snapshots(ctx, rollout, &seen.config).await?;
            let target = seen.target.template().cloned().unwrap_or_default();
            rewrite(&target, &super::snapshots::snapshot_names(&seen.config))
        }
        None => return Err(Error::TemplateUnavailable(plan.revision.clone())),
    };
    // A track edited by hand is written back exactly as recorded.
    let edited = seen.track(kind).0.as_ref().filter(|o| {
        let revision = o.track().map(|t| t.revision).unwrap_or_default();
        super::records::drift(&seen.records, o, &revision).is_some()
    });
    let track = TrackSpec {
        kind,
        template: &template,
        revision: &plan.revision,
        replicas: plan.replicas,
    };
    let written = workload::write_track(ctx, rollout, &seen.target, track, edited).await?;
    super::records::keep(ctx, rollout, &seen.records, &plan.revision, &written).await
}

/// Marks the target as driven by this Rollout, says which tracks serve it, and, once the
/// tracks serve, holds it at 0.
async fn hold_target(
    ctx: &Context,
    rollout: &Rollout,
    seen: &Seen,
    replicas: Option<i32>,
    status: &RolloutStatus,
) -> Result<(), Error> {
    let name = rollout.name_any();
    let annotations = seen.target.annotations();
    let marked = annotations.get(ROLLOUT) == Some(&name);
    let served_by = crate::workload::serving(&seen.target.name(), status).join(",");
    let told = annotations.get(SERVED_BY).map(String::as_str)
        == Some(served_by.as_str()).filter(|s| !s.is_empty());
    if marked
        && (told || served_by.is_empty())
        && replicas.is_none_or(|r| seen.target.replicas() == Some(r))
    {
        return Ok(());
    }
    let mut annotations = BTreeMap::from([(ROLLOUT, name)]);
    if !served_by.is_empty() {
        annotations.insert(SERVED_BY, served_by);
    }
    workload::hold_target(ctx, &seen.target, &annotations, replicas).await
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
pub fn events<K>(ctx: &std::sync::Arc<Context>, object: &K, events: &[Event])
where
    K: Resource<DynamicType = ()>,
{
    if events.is_empty() {
        return;
    }
    let reference = object.object_ref(&());
    let name = object.name_any();
    let events: Vec<KubeEvent> = events.iter().map(to_kube_event).collect();
    let ctx = ctx.clone();
    tokio::spawn(async move {
        for ev in events {
            if let Err(err) = ctx.recorder.publish(&ev, &reference).await {
                tracing::warn!(object = %name, reason = %ev.reason, error = %err, "cannot record event");
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

//! HorizontalPodAutoscalers follow the Rollout: the one place the controller reads or writes
//! them. An HPA scales a Rollout through its `scale` subresource (it writes `spec.replicas`,
//! the capacity both tracks split). One that scales the target when the Rollout adopts it is
//! re-pointed at the Rollout, and re-pointed back at the target when the Rollout is deleted,
//! so an HPA keeps scaling something that serves from adoption to hand-back.
//!
//! The target is named through the workload adapter ([`workload::ScaleRef`]); nothing here
//! knows its kind.

use std::sync::Arc;

use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::workload::{Object, ScaleRef};
use super::{Context, Error, apply};
use crate::api::Rollout;
use crate::plan::{Event, EventType};
use crate::workload::FIELD_MANAGER;

/// Adoption: every HPA in the Rollout's namespace that scales `target` scales the Rollout
/// from now on (an Event on the Rollout says which). Idempotent; called while the Rollout has
/// not yet adopted, before the target is held at zero, so the HPA never fights the hold.
pub async fn adopt(ctx: &Arc<Context>, rollout: &Rollout, target: &Object) -> Result<(), Error> {
    let from = target.scale_ref();
    let to = ScaleRef::rollout(rollout);
    let moved = repoint(ctx, rollout, &from, &to).await?;
    if !moved.is_empty() {
        let note = format!(
            "{} now scale{} this Rollout instead of {} {} (point scaleTargetRef at the Rollout in Git too, or ignore that field)",
            names(&moved),
            if moved.len() == 1 { "s" } else { "" },
            from.kind,
            from.name
        );
        let event = Event {
            type_: EventType::Normal,
            reason: "AutoscalerAdopted".into(),
            note,
        };
        apply::events(ctx, rollout, &[event]);
    }
    Ok(())
}

/// Hand-back: every HPA that scales the Rollout scales `target` again. Called once the target
/// has the Rollout's replicas back (an HPA does not scale a target at zero).
pub async fn hand_back(
    ctx: &Arc<Context>,
    rollout: &Rollout,
    target: &Object,
) -> Result<(), Error> {
    let moved = repoint(
        ctx,
        rollout,
        &ScaleRef::rollout(rollout),
        &target.scale_ref(),
    )
    .await?;
    if !moved.is_empty() {
        tracing::info!(rollout = %rollout.name_any(), hpas = %names(&moved), "autoscalers handed back to the target");
    }
    Ok(())
}

/// Points every HPA of the Rollout's namespace that scales `from` at `to`; returns their names.
async fn repoint(
    ctx: &Context,
    rollout: &Rollout,
    from: &ScaleRef,
    to: &ScaleRef,
) -> Result<Vec<String>, Error> {
    let api: Api<HorizontalPodAutoscaler> =
        Api::namespaced(ctx.client.clone(), &rollout.namespace().unwrap_or_default());
    let mut moved = vec![];
    for hpa in api.list(&ListParams::default()).await?.items {
        let target = &hpa.spec.scale_target_ref;
        if !from.matches(target.api_version.as_deref(), &target.kind, &target.name) {
            continue;
        }
        let name = hpa.name_any();
        // Only the reference changes; the precondition refuses a write over an HPA someone
        // else changed since it was read (the next reconcile reads it again).
        let patch = json!({
            "metadata": {"resourceVersion": hpa.resource_version()},
            "spec": {"scaleTargetRef": {
                "apiVersion": to.api_version, "kind": to.kind, "name": to.name
            }},
        });
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        match api.patch(&name, &params, &Patch::Merge(patch)).await {
            Ok(_) => moved.push(name),
            // Deleted meanwhile: nothing to re-point.
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(moved)
}

fn names(hpas: &[String]) -> String {
    let quoted: Vec<String> = hpas
        .iter()
        .map(|n| format!("HorizontalPodAutoscaler {n}"))
        .collect();
    quoted.join(", ")
}

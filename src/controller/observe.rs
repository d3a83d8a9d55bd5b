//! Reading the cluster into the planner's plain values.

use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use super::Context;
use crate::api::Rollout;
use crate::plan::{Observed, SpecError, Track};
use crate::workload::{TrackKind, observe_track, revision_of, track_name};

/// The target and the tracks as the controller sees them.
pub struct Workloads {
    pub target: std::sync::Arc<Deployment>,
    pub stable: Option<std::sync::Arc<Deployment>>,
    pub canary: Option<std::sync::Arc<Deployment>>,
    pub observed: Observed,
}

pub fn workloads(ctx: &Context, rollout: &Rollout) -> Result<Workloads, SpecError> {
    let ns = rollout.namespace().unwrap_or_default();
    let name = &rollout.spec.target_ref.name;
    let get = |n: &str| ctx.deployments.get(&ObjectRef::new(n).within(&ns));
    let target = get(name).ok_or_else(|| {
        SpecError::new(
            "spec.targetRef.name",
            format!("Deployment {name:?} not found in namespace {ns:?}"),
        )
    })?;
    let owned = |kind: TrackKind| -> Result<Option<std::sync::Arc<Deployment>>, SpecError> {
        let track = track_name(name, kind);
        match get(&track) {
            None => Ok(None),
            Some(d)
                if d.owner_references()
                    .iter()
                    .any(|o| Some(&o.uid) == rollout.uid().as_ref()) =>
            {
                Ok(Some(d))
            }
            Some(_) => Err(SpecError::new(
                "spec.targetRef.name",
                format!(
                    "Deployment {track:?} exists and is not owned by this Rollout; rename or remove it"
                ),
            )),
        }
    };
    let stable = owned(TrackKind::Stable)?;
    let canary = owned(TrackKind::Canary)?;
    let template = &target
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let track = |d: &Option<std::sync::Arc<Deployment>>| -> Option<Track> {
        d.as_deref().and_then(observe_track)
    };
    let observed = Observed {
        desired_revision: revision_of(template, &[]),
        stable: track(&stable),
        canary: track(&canary),
    };
    Ok(Workloads {
        target,
        stable,
        canary,
        observed,
    })
}

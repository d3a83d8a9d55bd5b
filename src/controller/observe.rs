//! Reading the cluster into the planner's plain values.

use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use super::snapshots::Fetched;
use super::{Context, Error};
use crate::api::Rollout;
use crate::plan::{Observed, SpecError, Track};
use crate::workload::config::ConfigRef;
use crate::workload::{TrackKind, observe_track, revision_of, track_name};

/// The target and the tracks as the controller sees them.
pub struct Seen {
    pub target: std::sync::Arc<Deployment>,
    /// The ConfigMaps and Secrets the target's template uses, as read now.
    pub config: Vec<(ConfigRef, std::sync::Arc<Fetched>)>,
    pub stable: Option<std::sync::Arc<Deployment>>,
    pub canary: Option<std::sync::Arc<Deployment>>,
    pub observed: Observed,
    /// rollgate's records of this Rollout's revisions, by revision.
    pub records: super::records::Records,
}

pub async fn workloads(ctx: &Context, rollout: &Rollout) -> Result<Result<Seen, SpecError>, Error> {
    let ns = rollout.namespace().unwrap_or_default();
    let name = &rollout.spec.target_ref.name;
    let get = |n: &str| ctx.deployments.get(&ObjectRef::new(n).within(&ns));
    let Some(target) = get(name) else {
        return Ok(Err(SpecError::new(
            "spec.targetRef.name",
            format!("Deployment {name:?} not found in namespace {ns:?}"),
        )));
    };
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
    let (stable, canary) = match (owned(TrackKind::Stable), owned(TrackKind::Canary)) {
        (Ok(s), Ok(c)) => (s, c),
        (Err(e), _) | (_, Err(e)) => return Ok(Err(e)),
    };
    let template = &target
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let records = super::records::of(ctx, rollout, &[stable.as_deref(), canary.as_deref()]);
    let track = |d: &Option<std::sync::Arc<Deployment>>| -> Option<Track> {
        let d = d.as_deref()?;
        let mut t = observe_track(d)?;
        t.drift = super::records::drift(&records, d, &t.revision);
        if t.drift.is_some() {
            // Its pods are not the revision's: they count for nothing until it is restored.
            t.ready = 0;
        }
        Some(t)
    };
    let config = super::snapshots::read(ctx, rollout, template).await?;
    let digests: Vec<(String, String, String)> = config
        .iter()
        .map(|(r, f)| {
            (
                r.kind.as_str().to_string(),
                r.name.clone(),
                f.digest.clone(),
            )
        })
        .collect();
    let observed = Observed {
        desired_revision: revision_of(template, &digests),
        stable: track(&stable),
        canary: track(&canary),
        kept: records.keys().cloned().collect(),
    };
    Ok(Ok(Seen {
        target,
        config,
        stable,
        canary,
        observed,
        records,
    }))
}

/// Images that differ between the stable and the canary track, container by container.
pub fn image_changes(seen: &Seen) -> Vec<crate::api::ImageChange> {
    let images = |d: &Option<std::sync::Arc<Deployment>>| -> Vec<(String, Option<String>)> {
        d.as_deref()
            .and_then(|d| d.spec.as_ref())
            .and_then(|s| s.template.spec.as_ref())
            .map(|p| {
                p.containers
                    .iter()
                    .map(|c| (c.name.clone(), c.image.clone()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let (from, to) = (images(&seen.canary), images(&seen.stable));
    from.into_iter()
        .filter_map(|(name, image)| {
            let restored = to
                .iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, i)| i.clone());
            (restored != image).then_some(crate::api::ImageChange {
                container: name,
                from: image,
                to: restored,
            })
        })
        .collect()
}

//! Reading the cluster into the planner's plain values.

use kube::ResourceExt;

use super::snapshots::Fetched;
use super::workload::{self, Object};
use super::{Context, Error};
use crate::api::Rollout;
use crate::plan::{Observed, SpecError, Track};
use crate::workload::config::ConfigRef;
use crate::workload::{TrackKind, revision_of};

/// The target and the tracks as the controller sees them.
pub struct Seen {
    pub target: Object,
    /// The ConfigMaps and Secrets the target's template uses, as read now.
    pub config: Vec<(ConfigRef, std::sync::Arc<Fetched>)>,
    pub stable: Option<Object>,
    pub canary: Option<Object>,
    pub observed: Observed,
    /// rollgate's records of this Rollout's revisions, by revision.
    pub records: super::records::Records,
}

impl Seen {
    pub fn track(&self, kind: TrackKind) -> (&Option<Object>, &Option<Track>) {
        match kind {
            TrackKind::Stable => (&self.stable, &self.observed.stable),
            TrackKind::Canary => (&self.canary, &self.observed.canary),
        }
    }
}

pub async fn workloads(ctx: &Context, rollout: &Rollout) -> Result<Result<Seen, SpecError>, Error> {
    let Some(target) = workload::target(ctx, rollout) else {
        let (kind, name) = (&rollout.spec.target_ref.kind, &rollout.spec.target_ref.name);
        let ns = rollout.namespace().unwrap_or_default();
        return Ok(Err(SpecError::new(
            "spec.targetRef.name",
            format!("{kind} {name:?} not found in namespace {ns:?}"),
        )));
    };
    let tracks = (
        workload::track(ctx, rollout, TrackKind::Stable),
        workload::track(ctx, rollout, TrackKind::Canary),
    );
    let (stable, canary) = match tracks {
        (Ok(s), Ok(c)) => (s, c),
        (Err(e), _) | (_, Err(e)) => return Ok(Err(e)),
    };
    let template = target.template().cloned().unwrap_or_default();
    let records = super::records::of(ctx, rollout, &[stable.as_ref(), canary.as_ref()]);
    let track = |o: &Option<Object>| -> Option<Track> {
        let o = o.as_ref()?;
        let mut t = o.track()?;
        t.drift = super::records::drift(&records, o, &t.revision);
        if t.drift.is_some() {
            // Its pods are not the revision's: they count for nothing until it is restored.
            t.ready = 0;
        }
        Some(t)
    };
    let config = super::snapshots::read(ctx, rollout, &template).await?;
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
        desired_revision: revision_of(&template, &digests),
        stable: track(&stable),
        canary: track(&canary),
        kept: records.keys().cloned().collect(),
        // The router's reading comes once the spec is validated (it names the router).
        routed: None,
        selector: target.selector(),
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
    let images = |o: &Option<Object>| -> Vec<(String, Option<String>)> {
        o.as_ref()
            .and_then(Object::template)
            .and_then(|t| t.spec.as_ref())
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

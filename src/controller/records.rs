//! rollgate's records of each revision's pod template (ControllerRevisions, see
//! `workload::record`): read from the cache, written the first time a track runs a revision,
//! collected once a revision is neither stable nor canary.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};

use super::workload::Object;
use super::{Context, Error};
use crate::api::Rollout;
use crate::workload::record;

/// Recorded templates of one Rollout, by revision.
pub type Records = BTreeMap<String, PodTemplateSpec>;

/// The records of the revisions this reconcile can need: status's stable and canary, the
/// tracks' own, and the desired one. Looked up by name, so the cost does not grow with the
/// number of Rollouts.
pub fn of(ctx: &Context, rollout: &Rollout, tracks: &[Option<&Object>]) -> Records {
    let ns = rollout.namespace().unwrap_or_default();
    let status = rollout.status.clone().unwrap_or_default();
    let annotated = tracks
        .iter()
        .flatten()
        .filter_map(|o| o.annotations().get(crate::api::keys::REVISION).cloned());
    let wanted: std::collections::BTreeSet<String> =
        [status.stable_revision, status.canary_revision]
            .into_iter()
            .flatten()
            .chain(annotated)
            .collect();
    wanted
        .into_iter()
        .filter_map(|revision| {
            let name = record::record_name(&rollout.name_any(), &revision);
            let found = ctx.records.get(&ObjectRef::new(&name).within(&ns))?;
            let ours = found
                .owner_references()
                .iter()
                .any(|o| Some(&o.uid) == rollout.uid().as_ref());
            let template = record::recorded_template(&found).filter(|_| ours)?;
            Some((revision, template))
        })
        .collect()
}

/// Why a track is not what rollgate recorded for its revision; `None` when it is, or when no
/// record exists to compare with.
pub fn drift(records: &Records, track: &Object, revision: &str) -> Option<String> {
    let recorded = records.get(revision)?;
    let live = track.template()?;
    record::drift(live, recorded).map(|path| {
        format!(
            "{} was edited by hand: {path} differs from the recorded revision {revision}",
            track.name()
        )
    })
}

/// Records `revision`'s template as the API server returned it, unless already recorded.
pub async fn keep(
    ctx: &Context,
    rollout: &Rollout,
    records: &Records,
    revision: &str,
    written: &Object,
) -> Result<(), Error> {
    if records.contains_key(revision) {
        return Ok(());
    }
    let Some(template) = written.template() else {
        return Ok(());
    };
    // The written track must still be this revision: a template changed since would record
    // something the revision never was.
    if written
        .annotations()
        .get(crate::api::keys::REVISION)
        .map(String::as_str)
        != Some(revision)
    {
        return Ok(());
    }
    let ns = rollout.namespace().unwrap_or_default();
    let owner = rollout
        .controller_owner_ref(&())
        .expect("a stored Rollout has a name and uid");
    let cr = record::record(&rollout.name_any(), &ns, revision, template, owner);
    let api: Api<ControllerRevision> = Api::namespaced(ctx.client.clone(), &ns);
    match api.create(&PostParams::default(), &cr).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Deletes this Rollout's records of revisions other than `keep`.
pub async fn collect(ctx: &Context, rollout: &Rollout, keep: &[&str]) -> Result<(), Error> {
    let ns = rollout.namespace().unwrap_or_default();
    let label = record::rollout_label(&rollout.name_any());
    let api: Api<ControllerRevision> = Api::namespaced(ctx.client.clone(), &ns);
    for cr in ctx.records.state() {
        let labels = cr.labels();
        let mine = cr.namespace().as_deref() == Some(ns.as_str())
            && labels.get(crate::api::keys::ROLLOUT) == Some(&label)
            && cr
                .owner_references()
                .iter()
                .any(|o| Some(&o.uid) == rollout.uid().as_ref());
        let revision = labels.get(crate::api::keys::REVISION).map(String::as_str);
        if mine && revision.is_none_or(|r| !keep.contains(&r)) {
            match api.delete(&cr.name_any(), &DeleteParams::default()).await {
                Ok(_) => {}
                Err(kube::Error::Api(e)) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

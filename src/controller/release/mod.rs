//! The hub: a Release's reconcile = read the members → `waves::decide` → write the status →
//! act (applies, restores, the hub Incident) → write what the acts did. The members' own
//! rollgate controllers run the stages and gates; the hub only applies and reads.
//!
//! Order of writes: the decided status (a member's previous images, the incident's name) is
//! on record before any act, and each act's outcome after it. A hub killed in between finds
//! the intent on restart and repeats at most that one idempotent write.

pub mod members;

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::Action as Requeue;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::{Context, Error, crash};
use crate::api::{Incident, Release, ReleaseStatus};
use crate::plan::Request;
use crate::waves::{self, Action};
use crate::workload::FIELD_MANAGER;

/// How often members are read while a Release is under way: members are not watched (a hub
/// holds no watch on another cluster), so their progress is polled.
const POLL: Duration = Duration::from_secs(1);
/// How often a Release that reached its end is looked at again.
const IDLE: Duration = Duration::from_secs(300);

pub async fn reconcile(release: Arc<Release>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    if !ctx.secrets_ready.wait().await {
        return Ok(Requeue::requeue(POLL));
    }
    // Decided from the Release as stored now, not the cache: a reconcile right after an act
    // would otherwise see the act unrecorded and do it again.
    let ns = release.namespace().unwrap_or_default();
    let api: Api<Release> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(mut release) = api.get_opt(&release.name_any()).await? else {
        return Ok(Requeue::await_change());
    };
    let now = Timestamp::now();
    let clusters = members::clusters(&ctx, &release);
    let observations = members::observe(&ctx, &release, &clusters).await;
    let request = release
        .annotations()
        .get(crate::api::keys::REQUEST)
        .and_then(|v| Request::parse(v).ok());
    let freeze = super::reconcile::frozen_in(&ctx, &[&ns, &release.spec.rollout.namespace]);
    let decision = waves::decide(waves::Input {
        release: &release,
        clusters: &clusters,
        observations: &observations,
        request: request.as_ref(),
        freeze: freeze.as_ref(),
        now,
    });
    let mut status = decision.status;
    write_status(&api, &mut release, &status).await?;
    super::apply::events(&ctx, &release, &decision.events);
    if !decision.actions.is_empty() {
        crash::point(crash::AFTER_RELEASE_STATUS);
    }
    for action in &decision.actions {
        match action {
            Action::Apply { cluster, images } => {
                if let Some(g) = write_member(&ctx, &release, cluster, images, "apply").await {
                    crash::point(crash::AFTER_MEMBER_APPLY);
                    waves::applied(&mut status, cluster, g);
                }
            }
            Action::Restore { cluster, images } => {
                if let Some(g) = write_member(&ctx, &release, cluster, images, "restore").await {
                    waves::restored(&mut status, cluster, g);
                }
            }
            Action::OpenIncident { wave } => {
                open_incident(&ctx, &release, &status, *wave).await?;
                waves::incident_opened(&mut status);
            }
        }
    }
    write_status(&api, &mut release, &status).await?;
    let next = if status.phase.is_final() {
        IDLE
    } else {
        let timer = decision
            .wake_at
            .map(|t| now.duration_until(t).unsigned_abs());
        timer.map_or(POLL, |t| t.min(POLL))
    };
    Ok(Requeue::requeue(next))
}

pub fn error_policy(release: Arc<Release>, error: &Error, ctx: Arc<Context>) -> Requeue {
    ctx.metrics
        .errors
        .get_or_create(&super::metrics::ErrorLabels {
            controller: "release",
            category: error.category(),
        })
        .inc();
    tracing::warn!(release = %release.name_any(), category = error.category(), %error, "release reconcile failed");
    Requeue::requeue(Duration::from_secs(2))
}

/// One write to a member; its outcome is counted, and a failure (recorded nowhere) is asked
/// again by the next decision.
async fn write_member(
    ctx: &Context,
    release: &Release,
    cluster: &str,
    images: &[crate::api::ContainerImage],
    write: &'static str,
) -> Option<i64> {
    let outcome = members::apply(ctx, release, cluster, images).await;
    let label = if outcome.is_ok() { "ok" } else { "error" };
    ctx.metrics
        .member_writes
        .get_or_create(&super::metrics::MemberWriteLabels {
            write,
            outcome: label,
        })
        .inc();
    match outcome {
        Ok(g) => Some(g),
        Err(e) => {
            tracing::warn!(release = %release.name_any(), cluster, write, error = %e, "member write failed");
            None
        }
    }
}

async fn write_status(
    api: &Api<Release>,
    release: &mut Release,
    status: &ReleaseStatus,
) -> Result<(), Error> {
    if release.status.as_ref() == Some(status) {
        return Ok(());
    }
    let patch = json!({
        "apiVersion": Release::api_version(&()),
        "kind": Release::kind(&()),
        "status": status,
    });
    api.patch_status(
        &release.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(patch),
    )
    .await?;
    release.status = Some(status.clone());
    Ok(())
}

/// Creates the hub Incident named in status (an existing one is the same incident: created
/// before a crash), and wakes its delivery.
async fn open_incident(
    ctx: &Context,
    release: &Release,
    status: &ReleaseStatus,
    wave: usize,
) -> Result<(), Error> {
    let Some(name) = status.incident_ref.as_ref().map(|r| r.name.clone()) else {
        return Ok(());
    };
    let ns = release.namespace().unwrap_or_default();
    let channels = super::incidents::channels_for(ctx, release.spec.incident.as_ref());
    let spec = waves::incident::draft(release, status, wave, channels, Timestamp::now());
    let mut incident = Incident::new(&name, spec);
    incident.metadata.namespace = Some(ns.clone());
    incident.metadata.owner_references = release.controller_owner_ref(&()).map(|mut o| {
        // Owned for garbage collection only.
        o.controller = Some(false);
        vec![o]
    });
    let api: Api<Incident> = Api::namespaced(ctx.client.clone(), &ns);
    match api.create(&PostParams::default(), &incident).await {
        Ok(_) => {
            ctx.metrics.incidents_opened.inc();
        }
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    let _ = ctx
        .incident_trigger
        .clone()
        .try_send(ObjectRef::new(&name).within(&ns));
    Ok(())
}

/// Releases by phase, for the `rollgate_releases` gauge.
pub fn count_phases(ctx: &Context, releases: &kube::runtime::reflector::Store<Release>) {
    let mut counts: std::collections::HashMap<&'static str, i64> = Default::default();
    for r in releases.state() {
        let phase = r.status.as_ref().map(|s| s.phase).unwrap_or_default();
        *counts.entry(phase.as_str()).or_default() += 1;
    }
    ctx.metrics.releases.clear();
    for (phase, n) in counts {
        ctx.metrics
            .releases
            .get_or_create(&super::metrics::PhaseLabels { phase })
            .set(n);
    }
}

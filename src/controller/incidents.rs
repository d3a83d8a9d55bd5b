//! Incidents: opened by the rollout reconcile when it rolls back, then driven by their own
//! reconcile — lifecycle from the Rollout's status, and delivery from the outbox in status.
//!
//! Order of writes: the Incident (and its pending deliveries, in status) is persisted before
//! any send, so a controller restart resumes deliveries; destinations that dedup (PagerDuty,
//! Opsgenie/JSM alias, Alertmanager labels) see one alert even if a send is repeated. Each
//! delivery carries the facts its message states, recorded when it was queued, so every
//! attempt (after a restart too) sends the same body.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::{Context, Error};
use crate::api::{ChannelType, Incident, Phase, Rollout, RolloutStatus};
use crate::incident::channels::{self, Destination, Outcome};
use crate::incident::lifecycle::{self, RolloutView, advance};
use crate::incident::{outbox, record};
use crate::workload::FIELD_MANAGER;

/// The longest one delivery attempt may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Channels a Rollout's incidents go to: its own, plus the controller's default.
pub fn channels_of(ctx: &Context, rollout: &Rollout) -> Vec<String> {
    channels_for(ctx, rollout.spec.incident.as_ref())
}

/// Channels of incident `settings` (a Rollout's or a Release's), plus the controller's default.
pub fn channels_for(ctx: &Context, settings: Option<&crate::api::IncidentSettings>) -> Vec<String> {
    let mut names: Vec<String> = settings.map(|i| i.channels.clone()).unwrap_or_default();
    if let Some(default) = &ctx.settings.default_channel
        && !names.contains(default)
    {
        names.push(default.clone());
    }
    names
}

/// Names the incident of the rollback in `status` (one per rollout and revision), so the name
/// is on record with the decision, before the incident is created.
pub fn name(rollout: &Rollout, status: &mut RolloutStatus) {
    if let Some(rb) = status
        .rollback
        .as_ref()
        .filter(|_| matches!(status.phase, Phase::RollingBack | Phase::RolledBack))
    {
        let name = record::name(&rollout.name_any(), &rb.revision);
        status.incident_ref = Some(crate::api::LocalObjectRef { name });
    }
}

/// Acts on `Effect::OpenIncident` (`wanted`): makes sure the Incident of the rollback in flight
/// exists, once per rollback decision and controller process. The planner asks for it while
/// the rollback is in flight on record, so one decided by a controller killed before it opened
/// the incident is opened after the restart. An existing Incident (a revision that failed
/// again) is joined, not recreated.
pub async fn open(
    ctx: &Context,
    rollout: &Rollout,
    wanted: bool,
    status: &RolloutStatus,
    images: Vec<crate::api::ImageChange>,
) -> Result<(), Error> {
    let ns = rollout.namespace().unwrap_or_default();
    let key = (ns.clone(), rollout.name_any());
    let Some(rb) = status.rollback.as_ref().filter(|_| wanted) else {
        ctx.opened.lock().expect("not poisoned").remove(&key);
        return Ok(());
    };
    if ctx.opened.lock().expect("not poisoned").get(&key) == Some(&rb.at) {
        return Ok(());
    }
    let name = record::name(&rollout.name_any(), &rb.revision);
    let api: Api<Incident> = Api::namespaced(ctx.client.clone(), &ns);
    let settings = rollout.spec.incident.clone().unwrap_or_default();
    let prometheus = rollout
        .spec
        .prometheus
        .as_ref()
        .and_then(|p| p.address.clone())
        .or(ctx.settings.prometheus_url.clone());
    let spec = record::draft(&record::Facts {
        namespace: &ns,
        rollout: &rollout.name_any(),
        rollback: rb,
        stable_revision: status.stable_revision.as_deref().unwrap_or_default(),
        exposure_since: status.exposure.as_ref().map(|e| e.since),
        canary_pods: status.exposure.as_ref().map_or(0, |e| e.canary_pods),
        images,
        severity: settings.severity.unwrap_or_default(),
        owner: settings.owner,
        runbook: settings.runbook,
        channels: channels_of(ctx, rollout),
        prometheus_url: prometheus.as_deref(),
    });
    let mut incident = Incident::new(
        &name,
        crate::api::IncidentSpec {
            config_changes: status.config_changes.clone(),
            ..spec
        },
    );
    incident.metadata.namespace = Some(ns.clone());
    incident.metadata.labels =
        Some([(crate::api::keys::ROLLOUT.to_string(), rollout.name_any())].into());
    incident.metadata.owner_references = rollout.controller_owner_ref(&()).map(|mut o| {
        // Owned for garbage collection only: an Incident outlives nothing it does not belong to.
        o.controller = Some(false);
        vec![o]
    });
    match api.create(&PostParams::default(), &incident).await {
        Ok(_) => {
            ctx.metrics.incidents_opened.inc();
            super::crash::point(super::crash::AFTER_INCIDENT_CREATED);
        }
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => return Err(e.into()),
    }
    ctx.opened.lock().expect("not poisoned").insert(key, rb.at);
    Ok(())
}

/// Wakes the incident of a rollback once the Rollout's status is written: its reconcile reads
/// the Rollout, so woken earlier it could miss the end of the rollback until its next requeue.
pub fn wake(ctx: &Context, rollout: &Rollout, status: &RolloutStatus) {
    if let Some(incident) = &status.incident_ref
        && matches!(status.phase, Phase::RollingBack | Phase::RolledBack)
    {
        let ns = rollout.namespace().unwrap_or_default();
        let _ = ctx
            .incident_trigger
            .clone()
            .try_send(ObjectRef::new(&incident.name).within(&ns));
    }
}

/// PagerDuty change events for a rollout start and a rollback, so responders see deploys next
/// to alerts. Informational: sent once, in the background, never blocking the reconcile.
pub fn announce(
    ctx: &Arc<Context>,
    rollout: &Rollout,
    status: &RolloutStatus,
    effects: &[crate::plan::Effect],
) {
    use crate::plan::Effect;
    let kind = if effects.contains(&Effect::CanaryStarted) {
        channels::ChangeKind::RolloutStarted
    } else if effects.contains(&Effect::RollbackStarted) {
        channels::ChangeKind::RolledBack
    } else {
        return;
    };
    let (ctx, rollout) = (ctx.clone(), rollout.clone());
    let revision = status.canary_revision.clone().unwrap_or_default();
    let summary = status.message.clone().unwrap_or_default();
    tokio::spawn(async move {
        let ns = rollout.namespace().unwrap_or_default();
        let name = rollout.name_any();
        for channel in channels_of(&ctx, &rollout) {
            let Ok(dest) = destination(&ctx, &ns, &channel).await else {
                continue;
            };
            let change = channels::Change {
                kind,
                namespace: &ns,
                rollout: &name,
                revision: &revision,
                summary: &summary,
                at: Timestamp::now(),
            };
            if let Some(out) = channels::change_event(&dest, &change)
                && let Outcome::Retry { error, .. } | Outcome::Permanent { error } =
                    crate::delivery::send(&ctx.http, &out, SEND_TIMEOUT).await
            {
                tracing::warn!(rollout = %name, channel = %channel, %error, "change event not delivered");
            }
        }
    });
}

pub async fn reconcile(incident: Arc<Incident>, ctx: Arc<Context>) -> Result<Action, Error> {
    // Deliveries are decided from the Incident as stored now, not from the cache: a reconcile
    // right after a send could otherwise see the attempt unrecorded and send it again.
    let api: Api<Incident> = Api::namespaced(
        ctx.client.clone(),
        &incident.namespace().unwrap_or_default(),
    );
    let Some(incident) = api.get_opt(&incident.name_any()).await?.map(Arc::new) else {
        return Ok(Action::await_change());
    };
    let now = Timestamp::now();
    let ns = incident.namespace().unwrap_or_default();
    let rollouts: Api<Rollout> = Api::namespaced(ctx.client.clone(), &ns);
    // A hub Incident (a Release's failed wave) follows no Rollout of the hub's namespace: the
    // members' own Incidents follow theirs.
    let rollout = match incident.spec.release {
        Some(_) => None,
        None => rollouts.get_opt(&incident.spec.rollout_ref.name).await?,
    };
    let view = view_of(&incident, rollout.as_ref().and_then(|r| r.status.as_ref()));
    let mut status = advance(&incident, &view, now);
    // Persist first: what is about to be sent is on record before it is sent.
    if incident.status.as_ref() != Some(&status) {
        write_status(&api, &incident, &status).await?;
    }
    let mut current = (*incident).clone();
    current.status = Some(status.clone());
    let due = outbox::due(&status, now);
    let attempts = futures::future::join_all(due.iter().map(|&i| attempt(&ctx, &current, i))).await;
    for (i, attempt) in due.iter().zip(attempts) {
        match attempt {
            Some(outcome) => outbox::record(&mut status, *i, outcome, Timestamp::now(), jitter()),
            None => outbox::skip(&mut status, *i),
        }
    }
    let refresh = refresh_alertmanager(&ctx, &current, &mut status, now).await;
    if current.status.as_ref() != Some(&status) {
        write_status(&api, &incident, &status).await?;
    }
    let next = [outbox::next_due(&status), refresh]
        .into_iter()
        .flatten()
        .min();
    let wait = next.map_or(Duration::from_secs(300), |t| {
        now.duration_until(t)
            .unsigned_abs()
            .max(Duration::from_millis(200))
    });
    Ok(Action::requeue(wait.min(Duration::from_secs(300))))
}

pub fn error_policy(incident: Arc<Incident>, error: &Error, _ctx: Arc<Context>) -> Action {
    tracing::warn!(incident = %incident.name_any(), category = error.category(), error = %error, "incident reconcile failed");
    Action::requeue(Duration::from_secs(2))
}

fn view_of(incident: &Incident, status: Option<&RolloutStatus>) -> RolloutView {
    let Some(st) = status else {
        return RolloutView {
            phase: Phase::RolledBack,
            rollback_at: None,
            stable_healthy: None,
            stable_message: None,
        };
    };
    let about_us = st
        .rollback
        .as_ref()
        .filter(|r| r.revision == incident.spec.from_revision);
    let verification = st
        .verification
        .as_ref()
        .filter(|v| v.revision == incident.spec.to_revision);
    // Once the Rollout has moved on (a retry, a new revision), the rollback itself is done.
    let rolling_back = st.phase == Phase::RollingBack
        && st.canary_revision.as_deref() == Some(&incident.spec.from_revision);
    RolloutView {
        phase: if rolling_back {
            Phase::RollingBack
        } else {
            Phase::RolledBack
        },
        rollback_at: about_us.map(|r| r.at),
        stable_healthy: verification.and_then(|v| v.stable_healthy),
        stable_message: verification.and_then(|v| v.message.clone()),
    }
}

async fn write_status(
    api: &Api<Incident>,
    incident: &Incident,
    status: &crate::api::IncidentStatus,
) -> Result<(), Error> {
    let patch = json!({"apiVersion": Incident::api_version(&()), "kind": Incident::kind(&()), "status": status});
    api.patch_status(
        &incident.name_any(),
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(patch),
    )
    .await?;
    Ok(())
}

/// One send of delivery `index`; `None` when the destination has no use for the message.
async fn attempt(ctx: &Context, incident: &Incident, index: usize) -> Option<Outcome> {
    let d = &incident.status.as_ref()?.deliveries[index];
    let dest = match destination(ctx, &incident.namespace().unwrap_or_default(), &d.channel).await {
        Ok(dest) => dest,
        Err(e) => {
            return Some(Outcome::Retry {
                after: None,
                error: e,
            });
        }
    };
    match channels::build_delivery(&dest, incident, index, Timestamp::now()) {
        Ok(Some(out)) => {
            let outcome = crate::delivery::send(&ctx.http, &out, SEND_TIMEOUT).await;
            let label = match &outcome {
                Outcome::Delivered { .. } => "delivered",
                Outcome::Retry { .. } => "retry",
                Outcome::Permanent { .. } => "failed",
            };
            let channel_type = dest.type_.as_str();
            ctx.metrics
                .deliveries
                .get_or_create(&super::metrics::DeliveryLabels {
                    channel_type,
                    outcome: label,
                })
                .inc();
            Some(outcome)
        }
        Ok(None) => None,
        Err(e) => Some(Outcome::Permanent {
            error: e.to_string(),
        }),
    }
}

/// An IncidentChannel (`name` or `namespace/name`), from the watch, and its Secret, from the
/// Secret edge: no API call per attempt. Errors are short and never contain credentials; a
/// channel that does not exist yet is retried.
async fn destination(ctx: &Context, namespace: &str, name: &str) -> Result<Destination, String> {
    let (ns, name) = crate::api::locate_channel(namespace, name);
    let ch = ctx
        .channels
        .get(&ObjectRef::new(&name).within(&ns))
        .ok_or_else(|| format!("IncidentChannel {ns}/{name} does not exist"))?;
    let data = match &ch.spec.secret_ref {
        Some(s) => {
            let cannot = || format!("Secret {ns}/{} cannot be read", s.name);
            super::secrets::read(ctx, &ns, &s.name)
                .await
                .map_err(|_| cannot())?
                .ok_or_else(cannot)?
                .data
                .clone()
        }
        None => Default::default(),
    };
    Ok(Destination {
        name: name.clone(),
        type_: ch.spec.type_,
        url: ch.spec.url.clone(),
        credentials: channels::Credentials::from_secret_data(&data),
        severity_map: ch.spec.severity_map.clone(),
    })
}

/// Re-posts firing alerts to Alertmanager channels as the outbox's cadence says
/// (`outbox::refreshes`). A refresh is a deliberate new message, not a retry: it states the
/// incident as it is now (current severity label, acknowledgement), with `startsAt` fixed at
/// detection and `endsAt` pushed to now + `ALERTMANAGER_HOLD`. Returns when the next is due.
async fn refresh_alertmanager(
    ctx: &Context,
    current: &Incident,
    status: &mut crate::api::IncidentStatus,
    now: Timestamp,
) -> Option<Timestamp> {
    let ns = current.namespace().unwrap_or_default();
    let is_alertmanager = |channel: &str| {
        let (cns, name) = crate::api::locate_channel(&ns, channel);
        ctx.channels
            .get(&ObjectRef::new(&name).within(&cns))
            .is_some_and(|c| c.spec.type_ == ChannelType::Alertmanager)
    };
    let refresh = outbox::refreshes(status, is_alertmanager, now);
    for i in refresh.now {
        let d = &status.deliveries[i];
        let Ok(dest) = destination(ctx, &ns, &d.channel.clone()).await else {
            continue;
        };
        let facts = lifecycle::facts(&current.spec, status, now);
        let message = channels::Message::new(current, d.message, &facts);
        if let Ok(Some(out)) =
            channels::build(&dest, &message, &channels::delivery_id(current, i), now)
            && let Outcome::Delivered { .. } =
                crate::delivery::send(&ctx.http, &out, SEND_TIMEOUT).await
        {
            status.deliveries[i].delivered_at = Some(now);
        }
    }
    refresh.next
}

fn jitter() -> f64 {
    // Sub-second clock noise is jitter enough to spread retries of many incidents.
    f64::from(Timestamp::now().subsec_nanosecond().unsigned_abs() % 1000) / 1000.0
}

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::{Api, ResourceExt};

use super::evaluate::{self, Subject};
use super::workload::Object;
use super::{Context, Error, apply, incidents, observe};
use crate::api::Rollout;
use crate::plan::{self, Input, Request, SpecError};

pub async fn reconcile(rollout: Arc<Rollout>, ctx: Arc<Context>) -> Result<Action, Error> {
    let labels = super::metrics::Loop {
        controller: "rollout",
    };
    ctx.metrics.reconciles.get_or_create(&labels).inc();
    let started = std::time::Instant::now();
    let decisions = AtomicU32::new(0);
    let key = (rollout.namespace().unwrap_or_default(), rollout.name_any());
    let result = under_finalizer(rollout, &ctx, &decisions).await;
    if result.is_ok() {
        ctx.failing.lock().expect("not poisoned").remove(&key);
    }
    ctx.metrics
        .duration
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    // Observed, not assumed: a reconcile decides at most once (a test reads this histogram).
    ctx.metrics
        .decisions
        .get_or_create(&labels)
        .observe(f64::from(decisions.load(Ordering::Relaxed)));
    result
}

async fn under_finalizer(
    rollout: Arc<Rollout>,
    ctx: &Arc<Context>,
    decisions: &AtomicU32,
) -> Result<Action, Error> {
    let ns = rollout.namespace().unwrap_or_default();
    if ctx.own_writes.is_stale(
        &ns,
        &rollout.name_any(),
        rollout.resource_version().as_deref(),
    ) {
        // The newer status's watch event wakes this Rollout; the requeue is a backstop.
        return Ok(Action::requeue(Duration::from_secs(1)));
    }
    let api: Api<Rollout> = Api::namespaced(ctx.client.clone(), &ns);
    finalizer(&api, crate::api::keys::HAND_BACK, rollout, |event| async {
        match event {
            Finalizer::Apply(r) => pass(&r, ctx, decisions).await,
            Finalizer::Cleanup(r) => hand_back(&r, ctx).await,
        }
    })
    .await
    .map_err(|e| Error::Finalizer(Box::new(e)))
}

pub fn error_policy(rollout: Arc<Rollout>, error: &Error, ctx: Arc<Context>) -> Action {
    let labels = super::metrics::ErrorLabels {
        controller: "rollout",
        category: error.category(),
    };
    ctx.metrics.errors.get_or_create(&labels).inc();
    match error {
        Error::Finalizer(e)
            if matches!(
                **e,
                kube::runtime::finalizer::Error::CleanupFailed(Error::HandBackPending(_))
            ) =>
        {
            tracing::info!(rollout = %rollout.name_any(), "{error}");
            Action::requeue(Duration::from_secs(1))
        }
        _ => {
            tracing::warn!(rollout = %rollout.name_any(), category = error.category(), error = %error, "reconcile failed");
            tell(&ctx, &rollout, error);
            Action::requeue(Duration::from_secs(5))
        }
    }
}

/// A Warning Event whose reason is the error's category, when the category changes: people
/// see a Rollout the controller cannot finish without reading its logs.
fn tell(ctx: &Arc<Context>, rollout: &Rollout, error: &Error) {
    let Some(reason) = error.reason() else {
        return;
    };
    let key = (rollout.namespace().unwrap_or_default(), rollout.name_any());
    let told = ctx
        .failing
        .lock()
        .expect("not poisoned")
        .insert(key, reason);
    if told != Some(reason) {
        let event = plan::Event {
            type_: plan::EventType::Warning,
            reason: reason.to_string(),
            note: error.note(),
        };
        apply::events(ctx, rollout, &[event]);
    }
}

/// observe → due → evaluate → decide (once) → apply → status → incident.
async fn pass(
    rollout: &Rollout,
    ctx: &Arc<Context>,
    decisions: &AtomicU32,
) -> Result<Action, Error> {
    // Before the workload cache is filled every target looks missing; deciding then would
    // mark the Rollout Invalid for nothing (and a fresh leader would act on it).
    let caches = [
        &ctx.workloads.ready,
        &ctx.records_ready,
        &ctx.channels_ready,
        &ctx.secrets_ready,
    ];
    if !futures::future::join_all(caches.map(|c| c.wait()))
        .await
        .into_iter()
        .all(|filled| filled)
    {
        return Ok(Action::requeue(std::time::Duration::from_secs(1)));
    }
    let now = Timestamp::now();
    let (ns, name) = (rollout.namespace().unwrap_or_default(), rollout.name_any());
    let mut seen = observe::workloads(ctx, rollout).await?;
    let mut validated = seen
        .as_ref()
        .map_err(Clone::clone)
        .and_then(|_| validate(ctx, rollout));
    // The router's reading: the share in effect, or why its objects cannot carry one.
    let mut traffic = None;
    if let (Ok(seen), Ok(spec)) = (seen.as_mut(), validated.as_ref()) {
        match super::traffic::read(ctx, rollout, &spec.router).await? {
            Ok(reading) => {
                seen.observed.routed = reading.routed();
                traffic = Some(reading);
            }
            Err(e) => validated = Err(e),
        }
    }
    let written = rollout.status.clone().unwrap_or_default();
    let status = plan::evaluations::recall(&written, &ctx.unwritten.get(&ns, &name));
    let request = rollout
        .annotations()
        .get(crate::api::keys::REQUEST)
        .and_then(|v| match Request::parse(v) {
            Ok(r) => Some(r),
            Err(e) => {
                tracing::warn!(rollout = %rollout.name_any(), "{e}");
                None
            }
        });
    let placeholder = plan::Observed {
        desired_revision: String::new(),
        stable: None,
        canary: None,
        kept: vec![],
        routed: None,
        selector: None,
    };
    let observed = seen.as_ref().map_or(&placeholder, |s| &s.observed);
    let freeze = freeze_of(ctx, rollout);
    let channel_problems = super::channels::problems(ctx, rollout);
    // Deciding whether to start a canary holds the admission lock, so racing reconciles cannot
    // take the same last slot.
    let wants_slot = !super::admission::in_flight(&status)
        && observed
            .stable
            .as_ref()
            .is_some_and(|s| s.revision != observed.desired_revision);
    let mut admission = if wants_slot {
        Some(ctx.admission.lock().await)
    } else {
        None
    };
    let admitted = match admission.as_mut() {
        Some(reservations) => {
            let since = status.queued_since.unwrap_or(now);
            let slots = reservations.overlay(slots(ctx));
            super::admission::admitted((&ns, &name), since, &slots, ctx.settings.caps)
        }
        None => true,
    };
    let input = |readings| Input {
        spec: validated.as_ref(),
        generation: rollout.metadata.generation.unwrap_or(0),
        status: &status,
        observed,
        readings,
        request: request.as_ref(),
        freeze: freeze.as_ref(),
        admitted,
        channel_problems: &channel_problems,
        now,
    };
    let due = plan::due(&input(&[]));
    let readings = match (&validated, due.is_empty()) {
        (Ok(spec), false) => {
            let endpoint = evaluate::endpoint(ctx, rollout).await;
            let stable_revision = status
                .stable_revision
                .clone()
                .or_else(|| observed.stable.as_ref().map(|s| s.revision.clone()));
            let subject = Subject {
                rollout,
                stable_revision: stable_revision.as_deref().unwrap_or_default(),
                canary_revision: status
                    .canary_revision
                    .as_deref()
                    .unwrap_or(&observed.desired_revision),
            };
            evaluate::readings(ctx, spec, &subject, &due, &endpoint, now).await
        }
        _ => vec![],
    };
    for r in &readings {
        ctx.metrics
            .gate_evaluations
            .get_or_create(&super::metrics::VerdictLabels {
                verdict: r.verdict.as_str(),
            })
            .inc();
    }
    decisions.fetch_add(1, Ordering::Relaxed);
    let mut decision = plan::decide(input(&readings));
    let did = |e: plan::Effect| decision.effects.contains(&e);
    if let Some(reservations) = admission.as_mut()
        && did(plan::Effect::CanaryStarted)
    {
        reservations.grant(&ns, &name, rollout.resource_version());
    }
    drop(admission);
    if did(plan::Effect::RollbackStarted) {
        let reason = decision
            .status
            .rollback
            .as_ref()
            .map_or_else(String::new, |r| r.reason.clone());
        ctx.metrics
            .rollbacks
            .get_or_create(&super::metrics::ReasonLabels { reason })
            .inc();
    }
    if let Ok(seen) = &seen {
        // Requests before pods: the planner lowers a share before the pods behind it go, and
        // raises it only once they are ready.
        if let Some(reading) = &traffic {
            let share = decision.workloads.share.as_ref();
            let adopted = decision.status.stable_revision.is_some();
            super::traffic::route(ctx, rollout, reading, share, adopted).await?;
        }
        // Until the Rollout has adopted, an HPA of the target moves to the Rollout, before
        // the target is held at zero (again after a crash: this runs until adoption is on
        // record). An invalid Rollout touches no workload, and no HPA either.
        if written.stable_revision.is_none() && validated.is_ok() {
            super::autoscaling::adopt(ctx, rollout, &seen.target).await?;
        }
        apply::workloads(ctx, rollout, seen, &decision.workloads, &decision.status).await?;
        config_bookkeeping(ctx, rollout, seen, &mut decision).await?;
    }
    // Speed first: the canary is at zero before anything else is written. Then the rollback
    // decision, naming its incident, is on record before the incident exists: a controller
    // killed in between finds the decision on restart and opens that one incident, instead of
    // deciding (and paging) again.
    incidents::name(rollout, &mut decision.status);
    if let Ok(seen) = &seen {
        decision.status.target = Some(crate::api::ObservedTarget {
            generation: seen.target.generation(),
            revision: seen.observed.desired_revision.clone(),
        });
    }
    let images = seen
        .as_ref()
        .map(super::observe::image_changes)
        .unwrap_or_default();
    if plan::evaluations::worth_writing(&written, &decision.status) {
        let version = apply::status(ctx, rollout, &decision.status).await?;
        ctx.own_writes
            .wrote(&ns, &name, rollout.resource_version(), version);
    }
    if decision.status.phase == crate::api::Phase::RollingBack
        && written.phase != crate::api::Phase::RollingBack
    {
        super::crash::point(super::crash::AFTER_ROLLBACK_STATUS);
    }
    let wanted = decision.effects.contains(&plan::Effect::OpenIncident);
    incidents::open(ctx, rollout, wanted, &decision.status, images).await?;
    ctx.unwritten.keep(&ns, &name, &decision.status.gates);
    incidents::wake(ctx, rollout, &decision.status);
    incidents::announce(ctx, rollout, &decision.status, &decision.effects);
    apply::events(ctx, rollout, &decision.events);
    // The planner's timers count from `now`; a reconcile slowed by a busy API server must not
    // push the next stage back by its own duration.
    let spent = Timestamp::now().duration_since(now).unsigned_abs();
    Ok(Action::requeue(
        decision
            .requeue_after
            .saturating_sub(spent)
            .max(plan::MIN_REQUEUE),
    ))
}

/// Which config a new canary changes (for status and its incident), and snapshot garbage
/// collection when a canary starts or ends — not on every reconcile.
async fn config_bookkeeping(
    ctx: &Context,
    rollout: &Rollout,
    seen: &observe::Seen,
    decision: &mut plan::Decision,
) -> Result<(), Error> {
    let did = |e: plan::Effect| decision.effects.contains(&e);
    if did(plan::Effect::CanaryStarted) {
        let stable = seen.stable.as_ref().and_then(Object::template);
        let ns = rollout.namespace().unwrap_or_default();
        decision.status.config_changes =
            super::snapshots::changes(ctx, &ns, stable, &seen.config).await?;
    }
    if did(plan::Effect::CanaryStarted) || did(plan::Effect::Settled) {
        // A kept revision's snapshots stay with it: a track restored from its record needs them.
        let st = &decision.status;
        let kept: Vec<&str> = [&st.stable_revision, &st.canary_revision]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        let tracks = [&seen.stable, &seen.canary]
            .into_iter()
            .flat_map(|o| o.as_ref().and_then(Object::template));
        let records = kept.iter().filter_map(|r| seen.records.get(*r));
        let mut in_use = crate::workload::retention::mounted(tracks.chain(records));
        in_use.extend(super::snapshots::snapshot_names(&seen.config).into_values());
        super::snapshots::collect_garbage(ctx, rollout, &in_use).await?;
        super::records::collect(ctx, rollout, &kept).await?;
    }
    Ok(())
}

/// The Freeze covering this Rollout (the first by name; `abort` if any covering one asks).
fn freeze_of(ctx: &Context, rollout: &Rollout) -> Option<crate::api::FrozenBy> {
    frozen_in(ctx, &[&rollout.namespace().unwrap_or_default()])
}

/// The Freeze holding any of `namespaces` (the first by name; aborting if any covering aborts).
pub(super) fn frozen_in(ctx: &Context, namespaces: &[&str]) -> Option<crate::api::FrozenBy> {
    let mut covering: Vec<_> = ctx
        .freezes
        .state()
        .into_iter()
        .filter(|f| namespaces.iter().any(|ns| f.covers(ns)))
        .collect();
    covering.sort_by_key(|f| f.name_any());
    let first = covering.first()?;
    Some(crate::api::FrozenBy {
        name: first.name_any(),
        by: first.spec.by.clone(),
        reason: first.spec.reason.clone(),
        abort: covering.iter().any(|f| f.spec.abort),
    })
}

/// Every Rollout's hold on a canary slot, from the cache.
fn slots(ctx: &Context) -> Vec<super::admission::Slot> {
    use super::admission::{Slot, SlotState, in_flight};
    ctx.rollouts
        .state()
        .iter()
        .map(|r| {
            let state = match r.status.as_ref() {
                Some(st) if in_flight(st) => SlotState::InFlight,
                Some(st) if st.phase == crate::api::Phase::Queued => {
                    st.queued_since.map_or(SlotState::Idle, SlotState::Queued)
                }
                _ => SlotState::Idle,
            };
            Slot {
                namespace: r.namespace().unwrap_or_default(),
                name: r.name_any(),
                state,
                version: r.resource_version(),
            }
        })
        .collect()
}

fn validate(ctx: &Context, rollout: &Rollout) -> Result<plan::Spec, SpecError> {
    let spec = plan::spec::validate(&rollout.spec, |q| {
        crate::gates::check(q).map_err(|e| e.to_string())
    })?;
    let has_address = rollout
        .spec
        .prometheus
        .as_ref()
        .and_then(|p| p.address.as_ref())
        .is_some();
    if !spec.gates.is_empty() && !has_address && ctx.settings.prometheus_url.is_none() {
        return Err(SpecError::new(
            "spec.prometheus.address",
            "gates need a Prometheus: set an address or start the controller with --prometheus-url",
        ));
    }
    Ok(spec)
}

/// The Rollout is going away: give the target the Rollout's current replicas (what an HPA
/// last asked of it) and its HPAs back, and let the tracks go only once the target's own pods
/// are ready, so serving never stops.
async fn hand_back(rollout: &Rollout, ctx: &Arc<Context>) -> Result<Action, Error> {
    let ns = rollout.namespace().unwrap_or_default();
    ctx.unwritten.keep(&ns, &rollout.name_any(), &[]);
    let Some(target) = super::workload::target(ctx, rollout) else {
        return Ok(Action::await_change());
    };
    // Released once: afterwards the target's replicas are its HPA's (or Git's) to change. A
    // target still at zero after adoption was held, whatever became of the annotation.
    let adopted = rollout
        .status
        .as_ref()
        .is_some_and(|s| s.stable_revision.is_some());
    if target.annotations().contains_key(crate::api::keys::ROLLOUT)
        || (adopted && target.replicas() == Some(0))
    {
        super::workload::release_target(ctx, &target, rollout.spec.replicas).await?;
        return Err(Error::HandBackPending(target.name()));
    }
    // Only now: an HPA does not scale a target at zero replicas.
    super::autoscaling::hand_back(ctx, rollout, &target).await?;
    let replicas = target.replicas().unwrap_or(rollout.spec.replicas).max(0);
    if super::workload::target_ready_pods(ctx, &target).await? >= replicas as usize {
        Ok(Action::await_change())
    } else {
        Err(Error::HandBackPending(target.name()))
    }
}

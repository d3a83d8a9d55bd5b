//! The kill switch, the concurrency queue, and transient invalid specs.

use super::*;

fn freeze(abort: bool) -> crate::api::FrozenBy {
    crate::api::FrozenBy {
        name: "incident-42".into(),
        by: Some("alice".into()),
        reason: Some("checkout outage".into()),
        abort,
    }
}

#[test]
fn a_freeze_holds_every_rollout_and_says_who_set_it_then_unfreezing_resumes() {
    let spec = rollout_spec(&[(10, "1s"), (50, "1s"), (100, "0s")], vec![gate("errors")]);
    let mut w = World::new(validated(&spec), always(Verdict::Pass)).adopted_then_release("v2");
    w.run_until(10, |w| {
        w.status.stage.as_ref().is_some_and(|s| s.index == 1)
    });
    w.freeze = Some(freeze(false));
    w.run_until(20, |_| false);
    assert_eq!(w.status.phase, Phase::Paused);
    assert_eq!(
        w.status.stage.as_ref().unwrap().index,
        1,
        "nothing advances while frozen"
    );
    assert!(
        w.status
            .message
            .as_ref()
            .unwrap()
            .contains("frozen by alice")
    );
    assert!(
        w.status
            .conditions
            .iter()
            .any(|c| c.type_ == "Frozen" && c.status == "True")
    );
    assert_eq!(
        w.reasons().iter().filter(|r| *r == "Frozen").count(),
        1,
        "one event, on the transition"
    );
    w.freeze = None;
    w.run_until(30, World::settled);
    assert_eq!(w.status.phase, Phase::Healthy);
    assert!(w.reasons().contains(&"Unfrozen".to_string()));
}

#[test]
fn an_idle_rollout_in_a_frozen_namespace_stays_healthy_with_the_frozen_condition() {
    let spec = rollout_spec(&[(10, "1s"), (100, "0s")], vec![gate("errors")]);
    let mut w = World::new(validated(&spec), always(Verdict::Pass));
    w.run_until(10, |w| w.status.phase == Phase::Healthy);
    w.freeze = Some(freeze(false));
    w.run_until(10, |_| false);
    assert_eq!(w.status.phase, Phase::Healthy, "nothing is held back");
    assert!(
        w.status
            .conditions
            .iter()
            .any(|c| c.type_ == "Frozen" && c.status == "True")
    );
    assert_eq!(
        w.status.columns.as_ref().map(|c| c.stage.as_str()),
        Some("-")
    );
}

#[test]
fn a_freeze_stops_new_canaries_but_a_failing_gate_still_rolls_back() {
    let spec = rollout_spec(&[(10, "1h"), (100, "0s")], vec![gate("errors")]);
    let mut w = World::new(validated(&spec), bad_canary()).adopted_then_release("v2");
    w.run_until(3, |w| w.status.stage.is_some());
    w.freeze = Some(freeze(false));
    w.run_until(30, World::settled);
    assert_eq!(w.status.phase, Phase::RolledBack, "safety is never frozen");
    let mut w = World::new(validated(&spec), always(Verdict::Pass));
    w.run_until(10, |w| w.status.phase == Phase::Healthy);
    w.freeze = Some(freeze(false));
    w.desired = "v2".into();
    w.run_until(10, |_| false);
    assert_eq!(w.status.phase, Phase::Paused);
    assert!(
        w.canary.as_ref().is_none_or(|c| c.replicas == 0),
        "no new canary starts while frozen"
    );
}

#[test]
fn a_freeze_with_abort_rolls_back_the_canary_in_flight() {
    let spec = rollout_spec(&[(10, "1h"), (100, "0s")], vec![gate("errors")]);
    let mut w = World::new(validated(&spec), always(Verdict::Pass)).adopted_then_release("v2");
    w.run_until(5, |w| w.status.stage.is_some());
    w.freeze = Some(freeze(true));
    w.run_until(20, World::settled);
    assert_eq!(w.status.phase, Phase::RolledBack);
    assert_eq!(w.status.rollback.as_ref().unwrap().reason, "FreezeAbort");
}

#[test]
fn a_rollout_without_a_slot_waits_queued_then_starts() {
    let spec = rollout_spec(&[(10, "1s"), (100, "0s")], vec![]);
    let mut w = World::new(validated(&spec), always(Verdict::Pass));
    w.run_until(10, |w| w.status.phase == Phase::Healthy);
    w.admitted = false;
    w.desired = "v2".into();
    w.run_until(5, |_| false);
    assert_eq!(w.status.phase, Phase::Queued);
    assert!(w.status.queued_since.is_some());
    assert!(w.canary.is_none(), "no canary while queued");
    w.admitted = true;
    w.run_until(30, World::settled);
    assert_eq!(w.status.phase, Phase::Healthy);
    assert_eq!(w.stable.as_ref().unwrap().revision, "v2");
    assert!(w.status.queued_since.is_none());
}

#[test]
fn a_passing_invalid_moment_does_not_restart_the_canary_in_flight() {
    let spec = rollout_spec(&[(10, "1s"), (50, "1h"), (100, "0s")], vec![]);
    let mut w = World::new(validated(&spec), always(Verdict::Pass)).adopted_then_release("v2");
    w.run_until(20, |w| {
        w.status.stage.as_ref().is_some_and(|s| s.index == 1)
    });
    // One reconcile sees no target (e.g. a cache not yet filled): Invalid, nothing touched.
    let err = SpecError::new("spec.targetRef.name", "Deployment \"app\" not found");
    let obs = w.observed();
    let d = decide(Input {
        spec: Err(&err),
        generation: 1,
        status: &w.status,
        observed: &obs,
        readings: &[],
        request: None,
        freeze: None,
        admitted: true,
        channel_problems: &[],
        now: w.now,
    });
    assert_eq!(d.workloads, Workloads::default());
    w.status = d.status;
    w.reconcile();
    assert_eq!(
        w.status.stage.as_ref().map(|s| s.index),
        Some(1),
        "resumes at stage 2, not stage 1"
    );
    assert!(
        !w.decisions
            .last()
            .unwrap()
            .events
            .iter()
            .any(|e| e.reason == "CanaryStarted")
    );
}

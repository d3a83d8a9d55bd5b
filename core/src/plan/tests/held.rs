//! Gates run on their interval in every phase: holding a stage (paused, frozen, awaiting
//! approval, bake over) never slows a rollback.

use super::*;

/// A canary exposed at stage 1 with its bake over, then held by `hold`.
fn held(hold: impl FnOnce(&mut World)) -> World {
    let mut stages = rollout_spec(&[(10, "2s"), (100, "0s")], vec![gate("errors")]);
    stages.stages[0].approval = Some(Approval::Manual);
    let mut w = World::new(validated(&stages), always(Verdict::Pass)).adopted_then_release("v2");
    w.run_until(30, |w| {
        w.status
            .stage
            .as_ref()
            .and_then(|s| s.bake_until)
            .is_some_and(|b| w.now > b)
    });
    hold(&mut w);
    w.run_until(3, |_| false);
    w
}

fn requeues_within_the_interval_and_rolls_back(mut w: World) {
    for d in w.decisions.iter().rev().take(3) {
        assert!(
            d.requeue_after <= Duration::from_secs(1),
            "held: next look in {:?} ({:?})",
            d.requeue_after,
            d.status.phase
        );
    }
    w.oracle = bad_canary();
    let started = w.secs();
    w.run_until(20, |w| w.status.phase == Phase::RollingBack);
    assert_eq!(w.status.phase, Phase::RollingBack);
    // interval × failureLimit, plus one tick of the simulation.
    assert!(
        w.secs() - started <= 3,
        "rolled back after {} s",
        w.secs() - started
    );
}

#[test]
fn awaiting_approval_after_the_bake_the_gates_keep_their_interval() {
    requeues_within_the_interval_and_rolls_back(held(|_| {}));
}

#[test]
fn paused_after_the_bake_the_gates_keep_their_interval() {
    requeues_within_the_interval_and_rolls_back(held(|w| {
        w.request = Some(Request::new(Action::Pause, "p1"));
    }));
}

#[test]
fn frozen_after_the_bake_the_gates_keep_their_interval() {
    requeues_within_the_interval_and_rolls_back(held(|w| {
        w.freeze = Some(crate::api::FrozenBy {
            name: "f".into(),
            by: None,
            reason: None,
            abort: false,
        });
    }));
}

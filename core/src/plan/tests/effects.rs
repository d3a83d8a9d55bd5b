//! Decisions reach the I/O layer as typed effects; an Event's reason is for people only.

use super::*;

fn effects(w: &World) -> Vec<Effect> {
    w.decisions.iter().flat_map(|d| d.effects.clone()).collect()
}

#[test]
fn a_bad_release_starts_a_canary_decides_a_rollback_and_settles_once_each() {
    let spec = rollout_spec(&[(10, "30s"), (100, "0s")], vec![gate("errors")]);
    let mut w = World::new(validated(&spec), bad_canary()).adopted_then_release("v2");
    let before = w.decisions.len();
    w.run_until(60, World::settled);
    let after: Vec<Effect> = w.decisions[before..]
        .iter()
        .flat_map(|d| d.effects.clone())
        .collect();
    assert_eq!(
        after,
        [
            Effect::CanaryStarted,
            Effect::RollbackStarted,
            Effect::Settled
        ]
    );
}

#[test]
fn adoption_and_promotion_settle() {
    let spec = rollout_spec(&[(50, "1s"), (100, "1s")], vec![gate("errors")]);
    let mut w = World::new(validated(&spec), always(Verdict::Pass)).adopted_then_release("v2");
    w.run_until(60, World::settled);
    assert_eq!(
        effects(&w),
        [Effect::Settled, Effect::CanaryStarted, Effect::Settled],
        "adopted, then a canary, then promoted"
    );
}

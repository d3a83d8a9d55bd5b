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
        .filter(|e| *e != Effect::OpenIncident)
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

/// The incident is asked for by the decision that rolls back and by every decision that finds
/// the rollback in flight on record (a controller killed before opening it opens it then),
/// and by none once the rollback is over.
#[test]
fn the_incident_is_wanted_while_a_rollback_is_in_flight_on_record() {
    let spec = rollout_spec(&[(10, "30s"), (100, "0s")], vec![gate("errors")]);
    let mut w = World::new(validated(&spec), bad_canary()).adopted_then_release("v2");
    let before = w.decisions.len();
    w.run_until(60, World::settled);
    let decisions = &w.decisions[before..];
    let started = decisions
        .iter()
        .position(|d| d.effects.contains(&Effect::RollbackStarted))
        .expect("a rollback");
    for (i, d) in decisions.iter().enumerate() {
        let on_record = i > started && decisions[i - 1].status.phase == Phase::RollingBack;
        let wanted = d.effects.contains(&Effect::OpenIncident);
        assert_eq!(
            wanted,
            i == started || on_record,
            "decision {i} ({:?}, after {:?})",
            d.status.phase,
            decisions.get(i.wrapping_sub(1)).map(|p| p.status.phase)
        );
    }
    assert!(
        decisions[started + 1..]
            .iter()
            .any(|d| d.effects.contains(&Effect::OpenIncident)),
        "asked again while rolling back"
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

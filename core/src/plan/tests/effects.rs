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

/// The controller hands the decision's Events to the recorder and reads nothing else of them:
/// every decision it acts on is an [`Effect`].
#[test]
fn nothing_outside_the_planner_reads_a_decisions_events() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut offending = vec![];
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path != src.join("plan") {
                    stack.push(path);
                }
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for (n, line) in text.lines().enumerate() {
                let reads_events = line.contains(".events") && !line.contains("apply::events(");
                if reads_events || line.contains("e.reason ==") || line.contains("reason != \"") {
                    offending.push(format!("{}:{}: {line}", path.display(), n + 1));
                }
            }
        }
    }
    assert!(offending.is_empty(), "{offending:#?}");
}

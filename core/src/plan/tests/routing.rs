//! Under a router (a Gateway that accepts a route two decisions after it is written): requests
//! reach a canary only once its pods are ready, a stage counts only once its share is in
//! effect, stable keeps all its pods, and a rollback moves requests before pods.

use proptest::prelude::*;

use super::*;
use crate::api::{HeaderMatch, RolloutSpec};
use crate::traffic::Share;

/// What the world looked like after each decision: the share in effect, canary, stable.
type History = Vec<(Option<Share>, Option<Track>, Option<Track>)>;

fn routed_spec(stages: &[(i32, &str)], min: i32) -> RolloutSpec {
    with_route(rollout_spec(stages, vec![gate("errors")]), min)
}

/// Checks the routing invariants on every step of `w` so far.
fn check(w: &World, history: &History) {
    for (routed, canary, stable) in history {
        let routed_weight = routed.as_ref().map_or(0, |r| r.weight);
        let canary_ready = canary.as_ref().map_or(0, |c| c.ready);
        let needed = w.spec.router.canary_pods(w.spec.replicas, routed_weight);
        if routed_weight > 0 || routed.as_ref().is_some_and(|r| r.header.is_some()) {
            assert!(
                canary_ready >= needed,
                "requests ({routed:?}) reach a canary with {canary_ready} of {needed} pods ready"
            );
        }
        if let Some(s) = stable {
            assert_eq!(
                s.replicas, w.spec.replicas,
                "stable keeps every pod under a router"
            );
        }
    }
}

fn run(mut w: World, limit: u64) -> (World, History) {
    let mut history = vec![];
    for _ in 0..limit {
        let d = w.reconcile();
        // A stage counts only once the router carries its share.
        if let Some(stage) = d
            .status
            .stage
            .as_ref()
            .filter(|s| s.ready_at == Some(w.now))
        {
            let routed = w.observed().routed;
            assert_eq!(
                routed.map(|r| r.weight),
                Some(stage.weight),
                "stage {} counted before its share was in effect",
                stage.index
            );
        }
        history.push((w.routed.clone(), w.canary.clone(), w.stable.clone()));
        if w.settled() && !history.is_empty() && w.status.canary_revision.is_some() {
            break;
        }
        w.now += jiff::SignedDuration::from_secs(1);
    }
    (w, history)
}

#[test]
fn each_stage_routes_exactly_its_weight_with_its_own_pods() {
    let spec = routed_spec(&[(1, "2s"), (5, "2s"), (50, "2s"), (100, "2s")], 2);
    let w = World::new(validated(&spec), always(Verdict::Pass)).adopted_then_release("v2");
    let (w, history) = run(w, 200);
    check(&w, &history);
    assert_eq!(w.status.phase, Phase::Healthy, "{:?}", w.status.message);
    assert_eq!(w.stable.as_ref().unwrap().revision, "v2");
    // Every stage's weight was in effect, in order, with its canary pods.
    let weights: Vec<i32> = history
        .iter()
        .filter_map(|(r, _, _)| r.as_ref().map(|r| r.weight))
        .fold(vec![], |mut seen, w| {
            if seen.last() != Some(&w) {
                seen.push(w);
            }
            seen
        });
    assert_eq!(weights, [0, 1, 5, 50, 100, 0]);
    // The canary's ready pods when each share came into effect (the next stage's pods come
    // up before its share moves, so later entries may already hold more).
    let pods_at = |weight: i32| {
        history
            .iter()
            .find(|(r, _, _)| r.as_ref().is_some_and(|r| r.weight == weight))
            .and_then(|(_, c, _)| c.as_ref().map(|c| c.ready))
    };
    assert_eq!(
        pods_at(1),
        Some(2),
        "1% runs the floor of 2 canary pods, not 1% of them"
    );
    assert_eq!(pods_at(5), Some(2));
    assert_eq!(pods_at(50), Some(5));
}

#[test]
fn a_rollback_moves_requests_to_stable_before_any_canary_pod_goes() {
    let spec = routed_spec(&[(20, "30s"), (100, "2s")], 1);
    let w = World::new(validated(&spec), bad_canary()).adopted_then_release("v2");
    let (w, history) = run(w, 200);
    check(&w, &history);
    assert_eq!(w.status.phase, Phase::RolledBack);
    let first_cut = history
        .iter()
        .position(|(_, c, _)| c.as_ref().is_some_and(|c| c.replicas == 0))
        .expect("the canary scales down");
    assert!(
        history[..first_cut]
            .iter()
            .any(|(r, _, _)| r.as_ref().is_some_and(|r| r.weight == 20)),
        "the canary carried its stage's share before the rollback"
    );
    let (routed_then, _, _) = &history[first_cut];
    assert_eq!(
        routed_then.as_ref().map(|r| r.weight),
        Some(0),
        "no request reaches the canary when its pods go"
    );
}

#[test]
fn a_header_stage_sends_only_the_header_to_the_canary() {
    let mut spec = routed_spec(&[(0, "2s"), (50, "2s"), (100, "2s")], 1);
    spec.stages[0].header = Some(HeaderMatch {
        name: "x-canary".into(),
        value: "always".into(),
    });
    let w = World::new(validated(&spec), always(Verdict::Pass)).adopted_then_release("v2");
    let (w, history) = run(w, 200);
    check(&w, &history);
    assert_eq!(w.status.phase, Phase::Healthy);
    let header_routed = history.iter().any(|(r, c, _)| {
        r.as_ref()
            .is_some_and(|r| r.weight == 0 && r.header.is_some())
            && c.as_ref().is_some_and(|c| c.ready >= 1)
    });
    assert!(
        header_routed,
        "the header stage was in effect with a ready canary pod"
    );
    let last = history.last().unwrap().0.clone().unwrap();
    assert_eq!(
        last,
        Share::none(),
        "the header rule is gone after promotion"
    );
}

fn arb_verdict() -> impl Strategy<Value = Verdict> {
    prop_oneof![6 => Just(Verdict::Pass), 1 => Just(Verdict::Fail), 1 => Just(Verdict::NoData)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whatever the gates say and whatever the capacity floor, requests never reach canary
    /// pods that are not ready and stable never gives up a pod.
    #[test]
    fn requests_never_outrun_canary_pods(verdicts in prop::collection::vec(arb_verdict(), 1..30), min in 1..6i32) {
        let spec = routed_spec(&[(1, "2s"), (10, "2s"), (50, "2s"), (100, "2s")], min);
        let n = verdicts.len();
        let oracle: Oracle = Box::new(move |_, purpose, _, t| {
            if purpose == Purpose::Stage { verdicts[t as usize % n] } else { Verdict::Pass }
        });
        let w = World::new(validated(&spec), oracle).adopted_then_release("v2");
        let (w, history) = run(w, 300);
        check(&w, &history);
        prop_assert!(w.settled(), "settles: {:?} {:?}", w.status.phase, w.status.message);
    }
}

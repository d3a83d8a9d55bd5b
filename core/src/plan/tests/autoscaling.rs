//! An HPA owns `spec.replicas` (through the Rollout's `scale` subresource) and raises it in the
//! middle of a canary: both tracks follow the split of the new total, ready capacity never
//! falls below the total once reached, and a promotion keeps the total instead of starting
//! over at the HPA's minimum.

use proptest::prelude::*;

use super::*;

fn world(replicas: i32, routed: bool) -> World {
    let mut spec = rollout_spec(&[(50, "20s"), (100, "1s")], vec![gate("errors")]);
    spec.replicas = replicas;
    if routed {
        spec = with_route(spec, 1);
    }
    World::new(validated(&spec), always(Verdict::Pass)).adopted_then_release("v2")
}

fn ready(w: &World) -> i32 {
    [&w.stable, &w.canary]
        .into_iter()
        .flatten()
        .map(|t| t.ready)
        .sum()
}

/// Runs `w` to the end of its release, raising `spec.replicas` to `to` at second `at` (as an
/// HPA would), and checks on every step that once ready capacity reaches the total it never
/// falls below it.
fn rise(mut w: World, to: i32, at: u64) -> World {
    let mut reached = false;
    for t in 0..200u64 {
        if t == at {
            w.spec.replicas = to;
            reached = false;
        }
        w.reconcile();
        let total = w.spec.replicas;
        if reached {
            assert!(
                ready(&w) >= total,
                "ready capacity {} fell below {total} at {t}s ({:?} / {:?})",
                ready(&w),
                w.stable,
                w.canary
            );
        }
        reached |= ready(&w) >= total;
        if w.settled() && t > at {
            break;
        }
        w.now += jiff::SignedDuration::from_secs(1);
    }
    w
}

#[test]
fn an_hpa_raising_replicas_mid_canary_is_split_between_the_tracks() {
    for routed in [false, true] {
        let mut w = world(4, routed);
        w.run_until(30, |w| {
            w.status
                .stage
                .as_ref()
                .is_some_and(|s| s.ready_at.is_some())
        });
        assert_eq!(w.canary.as_ref().map(|c| c.replicas), Some(2));
        // The HPA wants 8.
        w.spec.replicas = 8;
        // A few seconds: the bake (20 s) keeps the canary at 50% meanwhile.
        w.run_until(6, |_| false);
        let stable = w.stable.as_ref().unwrap();
        let canary = w.canary.as_ref().unwrap();
        assert_eq!(
            (stable.ready, canary.ready),
            (stable.replicas, canary.replicas)
        );
        // Canary ceil(8 × 50%); stable the rest, or all of it under a router.
        assert_eq!(canary.replicas, 4, "routed {routed}");
        assert_eq!(
            stable.replicas,
            if routed { 8 } else { 4 },
            "routed {routed}"
        );
        assert_eq!(w.status.phase, Phase::Progressing, "still at the 50% stage");
        // The scale subresource's status: the pods of both tracks, and their selector.
        assert_eq!(w.status.replicas, Some(stable.replicas + canary.replicas));
        assert_eq!(w.status.selector.as_deref(), Some("app=app"));
    }
}

#[test]
fn a_promotion_keeps_the_hpas_replicas_instead_of_its_minimum() {
    let w = rise(world(4, false), 8, 15);
    assert_eq!(w.status.phase, Phase::Healthy);
    assert_eq!(w.status.stable_revision.as_deref(), Some("v2"));
    let stable = w.stable.as_ref().unwrap();
    assert_eq!((stable.replicas, stable.ready), (8, 8));
    assert_eq!(w.status.replicas, Some(8));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whenever the HPA raises the total, the release still ends with every pod of the new
    /// total ready, and ready capacity never falls below a total it had reached.
    #[test]
    fn ready_capacity_holds_under_a_rising_replicas(
        from in 1..12i32, more in 0..12i32, at in 0..40u64, routed in any::<bool>()
    ) {
        let w = rise(world(from, routed), from + more, at);
        prop_assert_eq!(w.status.phase, Phase::Healthy);
        prop_assert_eq!(w.stable.as_ref().map(|s| s.ready), Some(from + more));
    }
}

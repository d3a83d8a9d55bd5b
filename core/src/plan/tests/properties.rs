//! Properties of the decision core, over random gate verdicts, pauses and crashes.

use proptest::prelude::*;

use super::*;

fn arb_verdict() -> impl Strategy<Value = Verdict> {
    prop_oneof![4 => Just(Verdict::Pass), 2 => Just(Verdict::Fail), 1 => Just(Verdict::NoData), 1 => Just(Verdict::Error)]
}

/// A run of a release with verdicts drawn per (gate, second), optional requests and crashes.
fn run_random(
    verdicts: Vec<Verdict>,
    gates: usize,
    pauses: Vec<u64>,
    crashes: Vec<usize>,
    policy: NoDataPolicy,
) -> World {
    let gs = (0..gates)
        .map(|i| {
            let mut g = gate(&format!("g{i}"));
            g.on_no_data = Some(policy);
            g
        })
        .collect();
    let spec = rollout_spec(&[(10, "2s"), (50, "2s"), (100, "2s")], gs);
    let n = verdicts.len();
    let oracle: Oracle = Box::new(move |name, purpose, _, t| {
        if purpose != Purpose::Stage {
            return Verdict::Pass;
        }
        let i: usize = name[1..].parse().unwrap();
        verdicts[(t as usize * 7 + i * 13) % n]
    });
    let mut w = World::new(validated(&spec), oracle).adopted_then_release("v2");
    w.drop_status = Box::new(move |n| crashes.contains(&n));
    for t in 0..400u64 {
        if pauses.contains(&t) {
            w.request = Some(Request::new(Action::Pause, format!("p{t}")));
        } else if pauses.contains(&(t.saturating_sub(5))) {
            w.request = Some(Request::new(Action::Resume, format!("r{t}")));
        }
        w.reconcile();
        if w.settled() && t > 20 {
            break;
        }
        w.now += jiff::SignedDuration::from_secs(1);
    }
    w
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// A gate whose last verdict is not a pass never lets a stage advance or a promotion happen.
    #[test]
    fn failing_gate_never_promotes(verdicts in prop::collection::vec(arb_verdict(), 1..40), gates in 1..3usize) {
        let w = run_random(verdicts, gates, vec![], vec![], NoDataPolicy::Fail);
        for d in &w.decisions {
            let advanced = d.events.iter().any(|e| e.reason == "Promoting" || (e.reason == "StageStarted" && !e.note.starts_with("stage 1/")));
            if advanced {
                for g in d.status.gates.iter().filter(|g| g.revision.as_deref() == Some("v2")) {
                    prop_assert_eq!(g.verdict, Verdict::Pass, "gate {} was {:?} when the rollout advanced", g.name, g.verdict);
                }
            }
        }
    }

    /// With no data and the default policy, a release is never promoted.
    #[test]
    fn a_gate_with_no_data_is_never_a_silent_pass(gates in 1..3usize) {
        let w = run_random(vec![Verdict::NoData], gates, vec![], vec![], NoDataPolicy::Fail);
        prop_assert_eq!(w.stable.as_ref().unwrap().revision.as_str(), "v1");
        let w = run_random(vec![Verdict::NoData], gates, vec![], vec![], NoDataPolicy::Hold);
        prop_assert_eq!(w.stable.as_ref().unwrap().revision.as_str(), "v1");
    }

    /// The canary's planned share only rises, except when rolling back or retiring after promotion.
    #[test]
    fn weights_only_rise_except_on_rollback(verdicts in prop::collection::vec(arb_verdict(), 1..40)) {
        let w = run_random(verdicts, 2, vec![], vec![], NoDataPolicy::Fail);
        let mut last = 0;
        for d in &w.decisions {
            let Some(c) = d.workloads.canary.as_ref().filter(|c| c.revision == "v2") else { continue };
            let falling = matches!(d.status.phase, Phase::RollingBack | Phase::RolledBack) || d.status.stable_revision.as_deref() == Some("v2");
            if !falling && d.status.stage.is_some() {
                prop_assert!(c.replicas >= last, "canary went from {last} to {}", c.replicas);
                last = c.replicas;
            }
        }
    }

    /// While paused, no stage starts and nothing is promoted.
    #[test]
    fn pause_stops_every_forward_transition(verdicts in prop::collection::vec(arb_verdict(), 1..20), at in 3..30u64) {
        let w = run_random(verdicts, 1, vec![at], vec![], NoDataPolicy::Fail);
        for d in &w.decisions {
            if d.status.phase == Phase::Paused {
                prop_assert!(!d.events.iter().any(|e| e.reason == "StageStarted" || e.reason == "Promoting"));
            }
        }
    }

    /// Every run ends Healthy or RolledBack, even with a controller killed before status writes.
    #[test]
    fn every_run_ends_healthy_or_rolled_back(
        verdicts in prop::collection::vec(arb_verdict(), 1..40),
        crashes in prop::collection::vec(0..120usize, 0..10),
    ) {
        let w = run_random(verdicts, 2, vec![], crashes, NoDataPolicy::Fail);
        prop_assert!(w.settled(), "ended {:?}: {:?}", w.status.phase, w.status.message);
    }

    /// A controller killed between apply and status write never skips or repeats a stage.
    #[test]
    fn restarts_neither_skip_nor_repeat_stages(crashes in prop::collection::vec(0..80usize, 0..20)) {
        let w = run_random(vec![Verdict::Pass], 1, vec![], crashes, NoDataPolicy::Fail);
        prop_assert_eq!(w.stable.as_ref().unwrap().revision.as_str(), "v2");
        let mut entered: Vec<i32> = vec![];
        for (i, d) in w.decisions.iter().enumerate() {
            // Only decisions whose status was written count as having happened.
            if let Some(s) = &d.status.stage
                && entered.last() != Some(&s.index) && w.decisions.get(i + 1).is_some() {
                    entered.push(s.index);
                }
        }
        entered.dedup();
        prop_assert_eq!(entered, vec![0, 1, 2]);
    }
}

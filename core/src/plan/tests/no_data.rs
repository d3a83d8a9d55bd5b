//! No data is judged in context: inconclusive for a bounded grace right after Prometheus comes
//! back or a rollback starts, then `onNoData` applies. Never a silent pass, never a false
//! rollback or escalation because a rate window was momentarily empty.

use super::*;

/// Stage readings by second: Prometheus down (errors) in `down`, no data in `empty`, else pass.
fn outage(down: std::ops::Range<u64>, empty: std::ops::Range<u64>) -> Oracle {
    Box::new(move |_, p, _, t| match p {
        Purpose::Stage if down.contains(&t) => Verdict::Error,
        Purpose::Stage if empty.contains(&t) => Verdict::NoData,
        _ => Verdict::Pass,
    })
}

#[test]
fn no_data_right_after_prometheus_returns_holds_and_the_release_goes_on() {
    let spec = rollout_spec(&[(10, "5s"), (100, "1s")], vec![gate("errors")]);
    let mut w = World::new(validated(&spec), always(Verdict::Pass)).adopted_then_release("v2");
    let t0 = w.secs();
    // Two errors (under the error limit of 3), then empty windows for 5 s, then data again.
    w.oracle = outage(t0 + 3..t0 + 5, t0 + 5..t0 + 10);
    w.run_until(120, World::settled);
    assert_eq!(w.status.phase, Phase::Healthy, "{:?}", w.reasons());
    assert!(!w.reasons().iter().any(|r| r == "GateFailed"));
    let held = w.decisions.iter().any(|d| {
        d.status.gates.iter().any(|g| {
            g.verdict == Verdict::NoData
                && g.recovered_at.is_some()
                && g.message
                    .as_deref()
                    .is_some_and(|m| m.contains("inconclusive"))
        })
    });
    assert!(held, "the empty windows were held as inconclusive");
}

#[test]
fn no_data_that_outlasts_the_grace_after_an_outage_still_fails() {
    let mut spec = rollout_spec(&[(10, "5s"), (100, "1s")], vec![gate("errors")]);
    // Longer than the grace, so the gate itself is what fails.
    spec.progress_deadline = Some("10m".into());
    let grace = validated(&spec).gates[0].data_grace.as_secs();
    let mut w = World::new(validated(&spec), always(Verdict::Pass)).adopted_then_release("v2");
    let t0 = w.secs();
    w.oracle = outage(t0 + 3..t0 + 5, t0 + 5..u64::MAX);
    w.run_until(grace + 60, World::settled);
    assert_eq!(w.status.phase, Phase::RolledBack, "never a silent pass");
    let rb = w.status.rollback.as_ref().unwrap();
    assert_eq!(rb.reason, "GateFailed");
    assert!(rb.at >= w.start + jiff::SignedDuration::from_secs((t0 + 5 + grace) as i64));
}

#[test]
fn stable_without_data_right_after_a_rollback_is_not_called_unhealthy() {
    let spec = rollout_spec(&[(10, "30s"), (100, "0s")], vec![gate("errors")]);
    let oracle: Oracle = Box::new(|_, p, _, t| match p {
        Purpose::Stage => Verdict::Fail,
        // Stable's windows are empty for a few seconds after the rollback (at about 5 s).
        Purpose::Verification if t < 9 => Verdict::NoData,
        _ => Verdict::Pass,
    });
    let mut w = World::new(validated(&spec), oracle).adopted_then_release("v2");
    w.run_until(60, |w| {
        w.status
            .verification
            .as_ref()
            .is_some_and(|v| v.stable_healthy.is_some())
    });
    let v = w.status.verification.clone().unwrap();
    assert_eq!(v.stable_healthy, Some(true), "{:?}", w.reasons());
    assert!(!w.reasons().iter().any(|r| r == "StableUnhealthy"));
}

#[test]
fn stable_failing_with_data_after_a_rollback_is_unhealthy() {
    let spec = rollout_spec(&[(10, "30s"), (100, "0s")], vec![gate("errors")]);
    let mut w = World::new(validated(&spec), always(Verdict::Fail)).adopted_then_release("v2");
    w.run_until(60, |w| {
        w.status
            .verification
            .as_ref()
            .is_some_and(|v| v.stable_healthy.is_some())
    });
    assert_eq!(
        w.status.verification.as_ref().unwrap().stable_healthy,
        Some(false)
    );
}

/// The canary track never got a pod in this run.
fn never_exposed(w: &World) -> bool {
    w.decisions
        .iter()
        .all(|d| d.workloads.canary.as_ref().is_none_or(|c| c.replicas == 0))
}

#[test]
fn a_gate_without_data_against_stable_holds_the_release_before_any_canary_pod() {
    let spec = rollout_spec(&[(10, "1s"), (100, "0s")], vec![gate("typo")]);
    let mut w = World::new(validated(&spec), always(Verdict::NoData)).adopted_then_release("v2");
    w.run_until(20, |_| false);
    assert_eq!(w.status.phase, Phase::Progressing);
    assert!(never_exposed(&w), "no canary pod while a gate has no data");
    let reasons = w.reasons();
    assert_eq!(
        reasons.iter().filter(|r| *r == "GateNoData").count(),
        1,
        "told once, not every retry: {reasons:?}"
    );
    assert!(
        !reasons
            .iter()
            .any(|r| r == "StageStarted" || r == "GateFailed")
    );
    assert!(
        w.status
            .message
            .as_deref()
            .unwrap()
            .contains("waits before exposure")
    );
    assert_eq!(w.status.preflight.as_ref().unwrap().no_data, ["typo"]);
    assert_eq!(w.condition("GatesHaveData").0, "False");
    // The data appears (the query was fixed, or the exporter came up): the release goes on.
    w.oracle = always(Verdict::Pass);
    w.run_until(60, World::settled);
    assert_eq!(w.status.phase, Phase::Healthy);
}

#[test]
fn a_gate_that_never_has_data_stops_the_release_unexposed_at_the_progress_deadline() {
    let spec = rollout_spec(&[(10, "1s"), (100, "0s")], vec![gate("typo")]);
    let mut w = World::new(validated(&spec), always(Verdict::NoData)).adopted_then_release("v2");
    w.run_until(90, |w| w.status.phase == Phase::Invalid);
    assert_eq!(w.status.phase, Phase::Invalid);
    assert!(never_exposed(&w));
    let reasons = w.reasons();
    assert!(
        reasons.contains(&"PreflightNoData".to_string()),
        "{reasons:?}"
    );
    assert!(
        !reasons
            .iter()
            .any(|r| r == "GateFailed" || r == "RolledBack"),
        "nothing was exposed: no rollback, no incident"
    );
    assert!(w.status.rollback.is_none());
    assert_eq!(w.condition("Stalled").0, "True");
    // It stays stopped until something changes (a retry, a new revision, a spec change).
    w.run_until(10, |_| false);
    assert_eq!(w.status.phase, Phase::Invalid);
    // A retry preflights afresh: it waits again (the data is still missing), and goes on
    // once the data is there.
    w.request = Some(Request::new(Action::Retry, "r1"));
    w.run_until(3, |_| false);
    assert_eq!(w.status.phase, Phase::Progressing, "{:?}", w.reasons());
    assert!(
        w.status
            .message
            .as_deref()
            .unwrap()
            .contains("waits before exposure")
    );
    w.oracle = always(Verdict::Pass);
    w.run_until(60, World::settled);
    assert_eq!(w.status.phase, Phase::Healthy);
    assert!(never_exposed_before_data(&w));
}

/// Until the first passing preflight, no decision asked for a canary pod.
fn never_exposed_before_data(w: &World) -> bool {
    let first_exposure = w
        .decisions
        .iter()
        .position(|d| d.workloads.canary.as_ref().is_some_and(|c| c.replicas > 0));
    let first_pass = w.decisions.iter().position(|d| {
        d.status
            .preflight
            .as_ref()
            .is_some_and(|p| p.no_data.is_empty() && p.waiting_since.is_none())
    });
    matches!((first_exposure, first_pass), (Some(e), Some(p)) if e >= p)
}

#[test]
fn a_gate_that_passes_on_no_data_does_not_hold_the_preflight() {
    let mut g = gate("optional");
    g.on_no_data = Some(NoDataPolicy::Pass);
    let spec = rollout_spec(&[(10, "1s"), (100, "0s")], vec![g]);
    let mut w = World::new(validated(&spec), always(Verdict::NoData)).adopted_then_release("v2");
    w.run_until(60, World::settled);
    assert_eq!(
        w.status.phase,
        Phase::Healthy,
        "the user said no data passes"
    );
}

#[test]
fn a_stage_held_by_no_data_says_which_gate_and_why_in_its_message() {
    let mut g = gate("optional");
    g.on_no_data = Some(NoDataPolicy::Hold);
    let spec = rollout_spec(&[(10, "1s"), (100, "0s")], vec![g]);
    let stage_without_data: Oracle = Box::new(|_, p, _, _| match p {
        Purpose::Stage => Verdict::NoData,
        _ => Verdict::Pass,
    });
    let mut w = World::new(validated(&spec), stage_without_data).adopted_then_release("v2");
    w.run_until(10, |_| false);
    assert_eq!(w.status.phase, Phase::Progressing);
    assert_eq!(
        w.status.message.as_deref(),
        Some(
            "stage 1/2 at 10%: waiting for every gate to pass: optional has no data, held (onNoData: Hold)"
        )
    );
}

#[test]
fn times_in_messages_are_to_the_second() {
    let spec = rollout_spec(&[(10, "5s"), (100, "0s")], vec![gate("errors")]);
    let mut w = World::new(validated(&spec), always(Verdict::Pass)).adopted_then_release("v2");
    w.now += jiff::SignedDuration::from_millis(123);
    w.run_until(30, |w| {
        w.status
            .message
            .as_deref()
            .is_some_and(|m| m.contains("baking until"))
    });
    let m = w.status.message.clone().unwrap();
    let at = m.rsplit(' ').next().unwrap();
    assert!(
        at.len() == "2026-01-01T12:00:00Z".len() && at.ends_with('Z'),
        "{m}"
    );
}

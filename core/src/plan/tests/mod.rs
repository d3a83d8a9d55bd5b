//! The planner as a specification: the lifecycle, table by table, run in the simulated world
//! of [`world`]; each concept at the edges (integrity, no data, held phases, effects, freeze,
//! properties) in its own file.

use std::time::Duration;

use jiff::Timestamp;

use super::*;
use crate::api::{Approval, Compare, CompareAgainst, NoDataPolicy, Phase, RolloutStatus, Verdict};
use world::*;

#[test]
fn adoption_waits_for_stable_pods_then_holds_the_target_at_zero() {
    let mut w = World::new(
        validated(&rollout_spec(&[(100, "0s")], vec![])),
        always(Verdict::Pass),
    );
    let d = w.reconcile();
    assert_eq!(d.status.phase, Phase::Pending);
    assert_eq!(
        d.workloads.stable,
        Some(TrackPlan {
            revision: "v1".into(),
            replicas: 10
        })
    );
    assert_eq!(
        d.workloads.target_replicas, None,
        "the target keeps serving until stable is ready"
    );
    w.run_until(5, |w| w.status.phase == Phase::Healthy);
    let last = w.decisions.last().unwrap();
    assert_eq!(last.workloads.target_replicas, Some(0));
    assert_eq!(w.status.stable_revision.as_deref(), Some("v1"));
    assert!(w.reasons().contains(&"Adopted".to_string()));
}

#[test]
fn a_passing_bake_writes_status_on_changes_and_heartbeats_not_per_evaluation() {
    let spec = rollout_spec(&[(50, "90s"), (100, "1s")], vec![gate("errors")]);
    let mut w = World::new(validated(&spec), always(Verdict::Pass)).adopted_then_release("v2");
    w.run_until(60, |w| {
        w.status
            .stage
            .as_ref()
            .is_some_and(|s| s.bake_until.is_some())
    });
    let (writes, decisions) = (w.writes, w.decisions.len());
    w.run_until(80, |_| false);
    let evaluated = w.decisions[decisions..]
        .iter()
        .filter_map(|d| d.status.gates.first().map(|g| g.evaluated_at))
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    assert!(evaluated >= 70, "evaluated every second: {evaluated}");
    // 80 s of a passing bake: the heartbeat every 30 s, nothing else changed.
    assert!(
        w.writes - writes <= 3,
        "{} status writes in 80 s of a passing bake",
        w.writes - writes
    );
    let last = w.status.gates[0].evaluated_at;
    assert!(
        w.now.duration_since(last).unsigned_abs() <= super::evaluations::HEARTBEAT,
        "status shows an evaluation at most a heartbeat old"
    );
    w.run_until(120, World::settled);
    assert_eq!(w.status.stable_revision.as_deref(), Some("v2"));
}

#[test]
fn good_release_goes_through_every_stage_and_ends_healthy() {
    let spec = rollout_spec(&[(10, "3s"), (50, "3s"), (100, "3s")], vec![gate("errors")]);
    let mut w = World::new(validated(&spec), always(Verdict::Pass)).adopted_then_release("v2");
    w.run_until(120, World::settled);
    assert_eq!(w.status.phase, Phase::Healthy);
    assert_eq!(w.status.stable_revision.as_deref(), Some("v2"));
    assert_eq!(w.stable.as_ref().unwrap().revision, "v2");
    let story: Vec<_> = w
        .reasons()
        .into_iter()
        .filter(|r| {
            ["CanaryStarted", "StageStarted", "Promoting", "Promoted"].contains(&r.as_str())
        })
        .collect();
    assert_eq!(
        story,
        [
            "CanaryStarted",
            "StageStarted",
            "StageStarted",
            "StageStarted",
            "Promoting",
            "Promoted"
        ]
    );
}

#[test]
fn failing_gate_rolls_back_after_failure_limit_and_names_the_gate() {
    let spec = rollout_spec(&[(10, "30s"), (100, "0s")], vec![gate("errors")]);
    let mut w = World::new(validated(&spec), bad_canary()).adopted_then_release("v2");
    w.run_until(60, World::settled);
    assert_eq!(w.status.phase, Phase::RolledBack);
    assert_eq!(w.stable.as_ref().unwrap().revision, "v1");
    let rb = w.status.rollback.as_ref().expect("rollback recorded");
    assert_eq!(rb.reason, "GateFailed");
    assert_eq!(rb.gates[0].name, "errors");
    assert_eq!(rb.gates[0].consecutive_failures, 2);
    assert!(
        rb.message.contains("errors")
            && rb.message.contains("<= 0.01")
            && rb.message.contains("0.5"),
        "{}",
        rb.message
    );
    // The rollback decision itself writes the canary to zero.
    let d = w
        .decisions
        .iter()
        .find(|d| d.status.phase == Phase::RollingBack)
        .unwrap();
    assert_eq!(d.workloads.canary.as_ref().unwrap().replicas, 0);
    assert_eq!(d.workloads.stable.as_ref().unwrap().replicas, 10);
}

#[test]
fn rolled_back_revision_stays_rolled_back_until_the_template_changes_or_retry() {
    let spec = rollout_spec(&[(10, "1s"), (100, "0s")], vec![gate("errors")]);
    let mut w = World::new(validated(&spec), bad_canary()).adopted_then_release("v2");
    w.run_until(60, World::settled);
    w.run_until(30, |_| false);
    assert_eq!(
        w.status.phase,
        Phase::RolledBack,
        "no automatic re-try of the same revision"
    );
    w.oracle = always(Verdict::Pass);
    w.request = Some(Request::new(Verb::Retry, "r1"));
    w.reconcile();
    assert_eq!(w.status.phase, Phase::Progressing);
    w.run_until(60, World::settled);
    assert_eq!(w.status.phase, Phase::Healthy);
    assert_eq!(w.stable.as_ref().unwrap().revision, "v2");
}

#[test]
fn no_data_fails_by_default_and_holds_when_asked() {
    let spec = rollout_spec(&[(10, "1s"), (100, "0s")], vec![gate("typo")]);
    let mut w = World::new(validated(&spec), canary_without_data()).adopted_then_release("v2");
    w.run_until(60, World::settled);
    assert_eq!(w.status.phase, Phase::RolledBack);

    let mut hold = gate("typo");
    hold.on_no_data = Some(NoDataPolicy::Hold);
    let spec = rollout_spec(&[(10, "1s"), (100, "0s")], vec![hold]);
    let mut w = World::new(validated(&spec), canary_without_data()).adopted_then_release("v2");
    w.run_until(50, World::settled);
    assert_eq!(
        w.status.phase,
        Phase::Progressing,
        "held, neither promoted nor rolled back"
    );
    assert_eq!(w.status.stage.as_ref().unwrap().index, 0);
}

#[test]
fn prometheus_errors_hold_then_roll_back_at_the_error_limit() {
    let spec = rollout_spec(&[(10, "1s"), (100, "0s")], vec![gate("errors")]);
    let oracle: Oracle = Box::new(|_, p, _, t| {
        if p == Purpose::Stage && t < 8 {
            Verdict::Error
        } else {
            Verdict::Pass
        }
    });
    let mut w = World::new(validated(&spec), oracle).adopted_then_release("v2");
    w.run_until(60, World::settled);
    assert_eq!(w.status.phase, Phase::RolledBack);
    assert_eq!(w.status.rollback.as_ref().unwrap().reason, "GateError");

    let oracle: Oracle = Box::new(|_, p, _, t| {
        if p == Purpose::Stage && t < 4 {
            Verdict::Error
        } else {
            Verdict::Pass
        }
    });
    let mut w = World::new(validated(&spec), oracle).adopted_then_release("v2");
    w.run_until(60, World::settled);
    assert_eq!(w.status.phase, Phase::Healthy, "a short outage only holds");
}

#[test]
fn preflight_query_error_marks_the_rollout_invalid_before_any_canary_share() {
    let spec = rollout_spec(&[(10, "1s"), (100, "0s")], vec![gate("errors")]);
    let mut w = World::new(validated(&spec), always(Verdict::Pass)).adopted_then_release("v2");
    let d = w.decide_once(&[]);
    assert_eq!(d.wants.len(), 1);
    assert_eq!(d.wants[0].purpose, Purpose::Preflight);
    assert_eq!(d.wants[0].revision, "v1", "preflight measures stable");
    let bad = Reading {
        gate: "errors".into(),
        purpose: Purpose::Preflight,
        revision: "v1".into(),
        verdict: Verdict::Error,
        value: None,
        stable_value: None,
        threshold: None,
        query: "x".into(),
        message: "parse error".into(),
        evidence: None,
        bad_query: true,
    };
    let d = w.decide_once(&[bad]);
    assert_eq!(d.status.phase, Phase::Invalid);
    assert!(
        d.status
            .message
            .as_ref()
            .unwrap()
            .contains("spec.gates[0].query")
    );
    assert_eq!(d.workloads.canary.as_ref().map(|c| c.replicas), Some(0));
    w.apply(&d);
    w.status = d.status;
    w.now += jiff::SignedDuration::from_secs(5);
    let d = w.decide_once(&[]);
    assert_eq!(
        d.status.phase,
        Phase::Invalid,
        "stays invalid until the spec or revision changes"
    );
    assert!(d.wants.is_empty());
}

#[test]
fn pause_holds_every_transition_and_resume_continues() {
    let spec = rollout_spec(&[(10, "1s"), (50, "1s"), (100, "0s")], vec![gate("errors")]);
    let mut w = World::new(validated(&spec), always(Verdict::Pass)).adopted_then_release("v2");
    w.run_until(30, |w| {
        w.status.stage.as_ref().is_some_and(|s| s.index == 1)
    });
    w.request = Some(Request::new(Verb::Pause, "p1"));
    w.run_until(20, |_| false);
    assert_eq!(w.status.phase, Phase::Paused);
    assert_eq!(w.status.stage.as_ref().unwrap().index, 1);
    w.request = Some(Request::new(Verb::Resume, "p2"));
    w.run_until(60, World::settled);
    assert_eq!(w.status.phase, Phase::Healthy);
}

#[test]
fn manual_approval_waits_for_promote() {
    let mut spec = rollout_spec(&[(10, "1s"), (50, "0s"), (100, "0s")], vec![]);
    spec.stages[1].approval = Some(Approval::Manual);
    let mut w = World::new(validated(&spec), always(Verdict::Pass)).adopted_then_release("v2");
    w.run_until(30, |_| false);
    assert_eq!(w.status.stage.as_ref().unwrap().index, 1);
    assert!(
        w.status
            .message
            .as_ref()
            .unwrap()
            .contains("manual approval")
    );
    w.request = Some(Request::new(Verb::Promote, "a1"));
    w.run_until(30, World::settled);
    assert_eq!(w.status.phase, Phase::Healthy);
}

#[test]
fn promote_full_jumps_to_the_last_stage_with_gates_still_checked() {
    let spec = rollout_spec(&[(10, "1h"), (50, "1h"), (100, "1h")], vec![gate("errors")]);
    let mut w = World::new(validated(&spec), always(Verdict::Pass)).adopted_then_release("v2");
    w.run_until(5, |_| false);
    w.request = Some(Request::new(Verb::PromoteFull, "f1"));
    w.run_until(30, World::settled);
    assert_eq!(w.status.phase, Phase::Healthy);
    assert_eq!(w.stable.as_ref().unwrap().revision, "v2");
}

#[test]
fn abort_rolls_back_now() {
    let spec = rollout_spec(&[(10, "1h"), (100, "0s")], vec![gate("errors")]);
    let mut w = World::new(validated(&spec), always(Verdict::Pass)).adopted_then_release("v2");
    w.run_until(5, |_| false);
    w.request = Some(Request::new(Verb::Abort, "x1"));
    let d = w.reconcile();
    assert_eq!(d.status.phase, Phase::RollingBack);
    assert_eq!(d.workloads.canary.as_ref().unwrap().replicas, 0);
    w.run_until(10, World::settled);
    assert_eq!(w.status.phase, Phase::RolledBack);
    assert_eq!(w.status.rollback.as_ref().unwrap().reason, "Aborted");
}

#[test]
fn progress_deadline_rolls_back_a_canary_that_never_gets_ready() {
    let spec = rollout_spec(&[(10, "1s"), (100, "0s")], vec![]);
    let mut w = World::new(validated(&spec), always(Verdict::Pass)).adopted_then_release("v2");
    for _ in 0..70 {
        w.reconcile();
        if let Some(c) = w.canary.as_mut() {
            c.ready = 0; // pods never become ready (e.g. a crash loop)
        }
        w.now += jiff::SignedDuration::from_secs(1);
    }
    assert_eq!(
        w.status.rollback.as_ref().unwrap().reason,
        "ProgressDeadlineExceeded"
    );
}

#[test]
fn stable_unhealthy_after_rollback_is_reported() {
    let spec = rollout_spec(&[(10, "1s"), (100, "0s")], vec![gate("errors")]);
    let mut w = World::new(validated(&spec), always(Verdict::Fail)).adopted_then_release("v2");
    // Preflight on stable only checks for data and errors, so a failing stable does not stop it.
    w.run_until(60, |w| {
        w.status
            .verification
            .as_ref()
            .is_some_and(|v| v.stable_healthy.is_some())
    });
    let v = w.status.verification.as_ref().unwrap();
    assert_eq!(v.stable_healthy, Some(false));
    assert!(w.reasons().contains(&"StableUnhealthy".to_string()));
    let c = w
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "StableHealthy")
        .unwrap();
    assert_eq!(c.status, "False");
}

#[test]
fn a_newer_revision_supersedes_the_canary_in_flight() {
    let spec = rollout_spec(&[(10, "5s"), (100, "0s")], vec![]);
    let mut w = World::new(validated(&spec), always(Verdict::Pass)).adopted_then_release("v2");
    w.run_until(3, |_| false);
    w.desired = "v3".into();
    w.run_until(60, World::settled);
    assert_eq!(w.stable.as_ref().unwrap().revision, "v3");
}

#[test]
fn reverting_the_template_to_stable_retires_the_canary() {
    let spec = rollout_spec(&[(10, "1h"), (100, "0s")], vec![]);
    let mut w = World::new(validated(&spec), always(Verdict::Pass)).adopted_then_release("v2");
    w.run_until(5, |_| false);
    w.desired = "v1".into();
    w.run_until(20, World::settled);
    assert_eq!(w.status.phase, Phase::Healthy);
    assert_eq!(w.canary.as_ref().unwrap().replicas, 0);
}

#[test]
fn invalid_spec_touches_no_workload() {
    let status = RolloutStatus::default();
    let obs = Observed {
        desired_revision: "v1".into(),
        stable: None,
        canary: None,
        kept: vec![],
        routed: None,
        selector: None,
    };
    let err = SpecError::new("spec.gates[0].query", "placeholder {{trak}} is unknown");
    let d = decide(Input {
        spec: Err(&err),
        generation: 3,
        status: &status,
        observed: &obs,
        readings: &[],
        request: None,
        freeze: None,
        admitted: true,
        channel_problems: &[],
        now: Timestamp::UNIX_EPOCH,
    });
    assert_eq!(d.status.phase, Phase::Invalid);
    assert_eq!(d.workloads, Workloads::default());
    assert!(d.status.message.unwrap().starts_with("spec.gates[0].query"));
    let stalled = d
        .status
        .conditions
        .iter()
        .find(|c| c.type_ == "Stalled")
        .unwrap();
    assert_eq!(stalled.status, "True");
    assert_eq!(d.status.observed_generation, Some(3));
}

#[test]
fn comparison_gates_measure_the_canary_and_are_skipped_after_rollback() {
    let mut g = gate("latency");
    g.max = None;
    g.compare = Some(Compare {
        against: CompareAgainst::Stable,
        max_increase: "20%".into(),
    });
    let spec = rollout_spec(&[(10, "1s"), (100, "0s")], vec![g]);
    let mut w = World::new(validated(&spec), bad_canary()).adopted_then_release("v2");
    w.run_until(60, World::settled);
    assert_eq!(w.status.phase, Phase::RolledBack);
    let verification_wants = w
        .decisions
        .iter()
        .flat_map(|d| &d.wants)
        .filter(|d| d.purpose == Purpose::Verification)
        .count();
    assert_eq!(verification_wants, 0);
}

/// At a full stage stable serves no requests: its series go stale and a comparison there would
/// read no data and roll a healthy release back. Comparisons judge the stages before; the
/// full stage is judged by the absolute gates (and its bake).
#[test]
fn a_full_stage_is_judged_by_absolute_gates_only() {
    let mut compare = gate("latency");
    compare.max = None;
    compare.compare = Some(Compare {
        against: CompareAgainst::Stable,
        max_increase: "20%".into(),
    });
    let spec = rollout_spec(&[(10, "3s"), (100, "5s")], vec![compare, gate("errors")]);
    let asked = std::rc::Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
    let log = asked.clone();
    let oracle: Oracle = Box::new(move |gate, purpose, _, _| {
        if purpose == Purpose::Stage {
            log.borrow_mut().push(gate.to_string());
        }
        Verdict::Pass
    });
    let mut w = World::new(validated(&spec), oracle).adopted_then_release("v2");
    let count = |name: &str| asked.borrow().iter().filter(|g| *g == name).count();
    w.run_until(60, |w| {
        w.status
            .stage
            .as_ref()
            .is_some_and(|s| s.weight == 100 && s.ready_at.is_some())
    });
    let (compared, absolute) = (count("latency"), count("errors"));
    assert!(compared > 0, "the comparison judges the 10% stage");
    w.run_until(120, World::settled);
    assert_eq!(w.status.phase, Phase::Healthy);
    assert_eq!(w.status.stable_revision.as_deref(), Some("v2"));
    assert_eq!(
        count("latency"),
        compared,
        "no comparison at the full stage"
    );
    assert!(
        count("errors") > absolute,
        "the absolute gate judges the full stage"
    );
}

#[test]
fn spec_validation_names_the_field() {
    let mut s = rollout_spec(&[(10, "1s"), (100, "0s")], vec![gate("a")]);
    s.gates[0].interval = Some("10ms".into());
    assert_eq!(
        spec::validate(&s, |_| Ok(())).unwrap_err().field,
        "spec.gates[0].interval"
    );
    let s = rollout_spec(&[(50, "1s"), (10, "0s"), (100, "0s")], vec![]);
    assert_eq!(
        spec::validate(&s, |_| Ok(())).unwrap_err().field,
        "spec.stages[1].weight"
    );
    let s = rollout_spec(&[(10, "1s"), (100, "0s")], vec![gate("a")]);
    let e = spec::validate(&s, |_| Err("placeholder {{x}} is unknown".into())).unwrap_err();
    assert_eq!(e.field, "spec.gates[0].query");
    let s = rollout_spec(&[(10, "1s"), (90, "0s")], vec![]);
    assert!(
        spec::validate(&s, |_| Ok(()))
            .unwrap_err()
            .message
            .contains("100")
    );
}

#[test]
fn a_gate_bound_that_is_nan_or_infinite_is_named_not_mistaken_for_a_missing_one() {
    for (min, max, field, shown) in [
        (None, Some(f64::NAN), "spec.gates[0].max", "NaN (.nan)"),
        (
            Some(f64::NEG_INFINITY),
            Some(1.0),
            "spec.gates[0].min",
            "-Infinity (-.inf)",
        ),
        (
            None,
            Some(f64::INFINITY),
            "spec.gates[0].max",
            "Infinity (.inf)",
        ),
    ] {
        let mut g = gate("a");
        g.min = min;
        g.max = max;
        let s = rollout_spec(&[(10, "1s"), (100, "0s")], vec![g]);
        let e = spec::validate(&s, |_| Ok(())).unwrap_err();
        assert_eq!(e.field, field);
        assert_eq!(
            e.message,
            format!("min, max and maxIncrease must be finite numbers, got {shown}")
        );
    }
    let mut g = gate("a");
    g.compare = Some(Compare {
        against: CompareAgainst::Stable,
        max_increase: "9".repeat(400),
    });
    let s = rollout_spec(&[(10, "1s"), (100, "0s")], vec![g]);
    let e = spec::validate(&s, |_| Ok(())).unwrap_err();
    assert_eq!(e.field, "spec.gates[0].compare.maxIncrease");
    assert!(
        e.message
            .starts_with("min, max and maxIncrease must be finite numbers, got \"999"),
        "{}",
        e.message
    );
}

fn kayenta_gate(min_points: Option<i32>) -> crate::api::Gate {
    let mut g = gate("canary-config");
    g.max = None;
    g.query = String::new();
    g.interval = Some("2s".into());
    g.kayenta = Some(
        serde_json::from_value(serde_json::json!({
            "metrics": [{"name": "latency", "query": "latency{track=\"{{track}}\"}"}],
            "scoreThresholds": {"marginal": 75, "pass": 95},
            "minPoints": min_points,
        }))
        .unwrap(),
    );
    g
}

/// A Kayenta gate judges each stage with a baseline on the points its bake gathers, one per
/// interval: a bake too short for them is the spec's error, named by the stage, before any
/// release.
#[test]
fn a_kayenta_gate_whose_bake_cannot_gather_its_points_is_invalid_naming_the_stage() {
    let s = rollout_spec(&[(10, "18s"), (100, "0s")], vec![kayenta_gate(None)]);
    let e = spec::validate(&s, |_| Ok(())).unwrap_err();
    assert_eq!(e.field, "spec.stages[0].bake");
    assert_eq!(
        e.message,
        "a bake of 18s gathers 9 points at the interval 2s of the kayenta gate spec.gates[0], which needs 10 (spec.gates[0].kayenta.minPoints): bake at least 20s"
    );
    // The full stage has no baseline: no comparison judges it, whatever its bake.
    let s = rollout_spec(&[(10, "18s"), (100, "0s")], vec![kayenta_gate(Some(9))]);
    assert!(spec::validate(&s, |_| Ok(())).is_ok());
    let s = rollout_spec(&[(10, "1m"), (100, "1m")], vec![kayenta_gate(Some(3))]);
    assert_eq!(
        spec::validate(&s, |_| Ok(())).unwrap_err().field,
        "spec.gates[0].kayenta.minPoints"
    );
}

/// The statistical kinds are decided once, with the field at fault named.
#[test]
fn msprt_and_kayenta_gates_are_one_kind_each_with_fields_named() {
    let stages = [(10, "1m"), (100, "1m")];
    let mut both = kayenta_gate(None);
    both.msprt = Some(serde_json::from_value(serde_json::json!({})).unwrap());
    let e = spec::validate(&rollout_spec(&stages, vec![both]), |_| Ok(())).unwrap_err();
    assert_eq!(e.field, "spec.gates[0]");
    assert!(
        e.message.ends_with("not msprt and kayenta"),
        "{}",
        e.message
    );
    let mut msprt = gate("latency");
    msprt.max = None;
    msprt.msprt = Some(
        serde_json::from_value(serde_json::json!({"tolerance": "10", "onInconclusive": "Pass"}))
            .unwrap(),
    );
    let e = spec::validate(&rollout_spec(&stages, vec![msprt.clone()]), |_| Ok(())).unwrap_err();
    assert_eq!(e.field, "spec.gates[0].msprt.tolerance");
    msprt.msprt.as_mut().unwrap().tolerance = Some("10%".into());
    let s = spec::validate(&rollout_spec(&stages, vec![msprt.clone()]), |_| Ok(())).unwrap();
    assert!(s.gates[0].is_comparison());
    // onInconclusive: Pass lets an inconclusive mSPRT pass, as for the sequential gate.
    assert_eq!(s.gates[0].decided(Verdict::Inconclusive), Verdict::Pass);
    msprt.max = Some(1.0);
    let e = spec::validate(&rollout_spec(&stages, vec![msprt]), |_| Ok(())).unwrap_err();
    assert_eq!(e.field, "spec.gates[0].msprt");
    let mut weights = kayenta_gate(None);
    weights
        .kayenta
        .as_mut()
        .unwrap()
        .group_weights
        .insert("latncy".into(), 50.0);
    let e = spec::validate(&rollout_spec(&stages, vec![weights]), |_| Ok(())).unwrap_err();
    assert_eq!(e.field, "spec.gates[0].kayenta.groupWeights.latncy");
    let s = spec::validate(&rollout_spec(&stages, vec![kayenta_gate(None)]), |_| Ok(())).unwrap();
    assert!(s.gates[0].is_comparison());
    assert_eq!(
        s.gates[0].decided(Verdict::Inconclusive),
        Verdict::Inconclusive
    );
}

#[test]
fn decisions_are_deterministic() {
    let spec = rollout_spec(&[(10, "1s"), (100, "0s")], vec![gate("errors")]);
    let w = World::new(validated(&spec), always(Verdict::Pass)).adopted_then_release("v2");
    assert_eq!(w.decide_once(&[]), w.decide_once(&[]));
    let _ = Duration::ZERO;
}

mod autoscaling;
mod effects;
mod freeze;
mod held;
mod integrity;
mod no_data;
mod properties;
mod routing;
mod world;

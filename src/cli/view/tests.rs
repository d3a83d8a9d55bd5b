//! The status view and list rows, from a Rollout and a fixed "now".

use jiff::Timestamp;
use serde_json::json;

use super::*;
use crate::api::{Incident, Rollout};

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

const NOW: &str = "2026-01-01T12:00:00Z";

/// A rollout baking its second stage of four, with one passing and one failing gate.
fn baking() -> Rollout {
    serde_json::from_value(json!({
        "apiVersion": "rollgate.dev/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "checkout", "namespace": "shop", "generation": 3,
                     "creationTimestamp": "2025-12-29T08:00:00Z"},
        "spec": {
            "targetRef": {"name": "checkout"}, "replicas": 10,
            "stages": [{"weight": 10, "bake": "5m"}, {"weight": 50, "bake": "10m"},
                       {"weight": 50, "approval": "Manual"}, {"weight": 100, "bake": "15m"}],
            "gates": [
                {"name": "error-ratio", "query": "q1", "max": 0.01},
                {"name": "latency", "query": "q2", "compare": {"maxIncrease": "20%"}, "failureLimit": 3},
                {"name": "saturation", "query": "q3", "min": 0.1, "max": 0.9}
            ]
        },
        "status": {
            "phase": "Progressing",
            "message": "stage 2/4 at 50%: baking",
            "stableRevision": "7f3c9a0d12", "canaryRevision": "91be02aa11",
            "stage": {"index": 1, "weight": 50, "startedAt": "2026-01-01T11:55:00Z",
                      "readyAt": "2026-01-01T11:56:00Z", "bakeUntil": "2026-01-01T12:04:12Z"},
            "exposure": {"weight": 50, "canaryPods": 5, "since": "2026-01-01T11:55:00Z"},
            "gates": [
                {"name": "error-ratio", "verdict": "Pass", "value": 0.0021, "threshold": "<= 0.01",
                 "consecutiveFailures": 0, "consecutiveErrors": 0, "evaluatedAt": "2026-01-01T11:59:57Z"},
                {"name": "latency", "verdict": "Fail", "value": 0.31, "stableValue": 0.25,
                 "threshold": "<= stable + 20% (0.3)", "message": "0.31 > 0.3",
                 "consecutiveFailures": 1, "consecutiveErrors": 0, "evaluatedAt": "2026-01-01T11:59:57Z"}
            ],
            "history": [
                {"at": "2026-01-01T11:50:00Z", "from": "Pending", "to": "Healthy", "reason": "Adopted", "message": "serving 7f3c9a0d12"},
                {"at": "2026-01-01T11:55:00Z", "from": "Healthy", "to": "Progressing", "reason": "NewRevision", "message": "revision 91be02aa11"}
            ],
            "observedGeneration": 3
        }
    }))
    .unwrap()
}

#[test]
fn the_current_stage_shows_its_bake_countdown() {
    let v = RolloutView::new(&baking(), at(NOW));
    let states: Vec<StageState> = v.stages.iter().map(|s| s.state).collect();
    use StageState::*;
    assert_eq!(states, [Done, Current, Pending, Pending]);
    assert_eq!(v.stages[1].bake_left_seconds, Some(252));
    assert_eq!(v.stages[1].waiting.as_deref(), Some("baking, 4m12s left"));
    assert_eq!(v.weight, 50);
    assert!(v.observed);
}

#[test]
fn gates_show_last_value_threshold_and_failures_against_their_limit() {
    let v = RolloutView::new(&baking(), at(NOW));
    let latency = &v.gates[1];
    assert_eq!(latency.verdict, Some(Verdict::Fail));
    assert_eq!(
        (latency.consecutive_failures, latency.failure_limit),
        (1, 3)
    );
    assert_eq!(latency.evaluated_seconds_ago, Some(3));
    let never = &v.gates[2];
    assert_eq!(never.verdict, None);
    assert_eq!(
        never.threshold, ">= 0.1, <= 0.9",
        "from the spec until evaluated"
    );
    assert_eq!(never.failure_limit, 2, "the default");
}

#[test]
fn the_whole_view_reads_as_documented() {
    let text = render(&RolloutView::new(&baking(), at(NOW)));
    assert_eq!(
        text,
        "\
Rollout:    shop/checkout
Phase:      Progressing
Message:    stage 2/4 at 50%: baking
Revisions:  stable 7f3c9a0d12   canary 91be02aa11
Weight:     [██████████░░░░░░░░░░] 50% now   (5 of 10 pods on the canary)
Serving:    checkout-stable + checkout-canary (Deployment checkout is held at 0 replicas)

Stages:
      #   WEIGHT   BAKE   APPROVAL   STATUS
  ✔   1   10%      5m     -          done
  ▶   2   50%      10m    -          baking, 4m12s left
  ·   3   50%      -      manual
  ·   4   100%     15m    -

Gates:
  NAME          VERDICT   VALUE                THRESHOLD               FAILURES   EVALUATED
  error-ratio   Pass      0.0021               <= 0.01                 0/2        3s ago
  latency       Fail      0.31 (stable 0.25)   <= stable + 20% (0.3)   1/3        3s ago
  saturation    -         -                    >= 0.1, <= 0.9          0/2        never
  latency: 0.31 > 0.3

History:
  WHEN      PHASE                   REASON        MESSAGE
  10m ago   Pending → Healthy       Adopted       serving 7f3c9a0d12
  5m ago    Healthy → Progressing   NewRevision   revision 91be02aa11
"
    );
}

#[test]
fn after_the_bake_the_stage_waits_for_approval_or_gates() {
    let mut r = baking();
    let s = r.status.as_mut().unwrap();
    s.stage.as_mut().unwrap().index = 2;
    let v = RolloutView::new(&r, at("2026-01-01T12:10:00Z"));
    assert_eq!(
        v.stages[2].waiting.as_deref(),
        Some("waiting for approval (rollgate promote checkout)")
    );
    r.status.as_mut().unwrap().stage.as_mut().unwrap().index = 1;
    let v = RolloutView::new(&r, at("2026-01-01T12:10:00Z"));
    assert_eq!(
        v.stages[1].waiting.as_deref(),
        Some("waiting for gates: latency, saturation"),
        "the failing gate and the one never evaluated"
    );
    r.status.as_mut().unwrap().stage.as_mut().unwrap().ready_at = None;
    let v = RolloutView::new(&r, at(NOW));
    assert_eq!(
        v.stages[1].waiting.as_deref(),
        Some("waiting for canary pods")
    );
}

#[test]
fn a_paused_rollout_says_how_to_resume() {
    let mut r = baking();
    r.status.as_mut().unwrap().paused_by_request = true;
    let v = RolloutView::new(&r, at(NOW));
    assert!(v.paused);
    assert_eq!(
        v.stages[1].waiting.as_deref(),
        Some("paused (rollgate resume checkout)")
    );
}

#[test]
fn a_rolled_back_rollout_marks_the_stage_it_failed_at() {
    let mut r = baking();
    let s = r.status.as_mut().unwrap();
    s.phase = Phase::RolledBack;
    s.rollback = Some(
        serde_json::from_value(json!({
            "revision": "91be02aa11", "reason": "GateFailed", "message": "latency failed",
            "at": "2026-01-01T11:59:58Z", "stageIndex": 1, "weight": 50
        }))
        .unwrap(),
    );
    let v = RolloutView::new(&r, at(NOW));
    let states: Vec<StageState> = v.stages.iter().map(|s| s.state).collect();
    use StageState::*;
    assert_eq!(states, [Done, Failed, Pending, Pending]);
    assert!(render(&v).contains("✘   2   50%      10m    -          rolled back here"));
}

#[test]
fn a_healthy_rollout_has_every_stage_done_and_history_is_bounded() {
    let mut r = baking();
    let s = r.status.as_mut().unwrap();
    s.phase = Phase::Healthy;
    let t = s.history[0].clone();
    s.history = vec![t; 12];
    let v = RolloutView::new(&r, at(NOW));
    assert!(v.stages.iter().all(|s| s.state == StageState::Done));
    assert_eq!(v.history.len(), HISTORY_SHOWN);
}

#[test]
fn a_spec_not_yet_observed_is_flagged() {
    let mut r = baking();
    r.metadata.generation = Some(4);
    let v = RolloutView::new(&r, at(NOW));
    assert!(!v.observed);
    assert!(render(&v).contains("Progressing (controller has not seen the latest spec yet)"));
}

#[test]
fn values_are_short() {
    assert_eq!(number(0.0021), "0.0021");
    assert_eq!(number(0.31), "0.31");
    assert_eq!(number(12.0), "12");
    assert_eq!(number(0.00001234), "0.00001234");
    assert_eq!(number(0.3000000000000004), "0.3", "no float noise");
    assert_eq!(number(0.0), "0");
    assert_eq!(number(f64::NAN), "NaN");
}

#[test]
fn list_rows_show_stage_of_total_while_under_way() {
    let mut healthy = baking();
    healthy.metadata.name = Some("cart".into());
    healthy.status.as_mut().unwrap().phase = Phase::Healthy;
    let rows = rollout_rows(&[baking(), healthy], at(NOW));
    assert_eq!(rows[0].stage.as_deref(), Some("2/4"));
    assert_eq!(rows[1].stage, None);
    assert_eq!(
        RolloutRow::table(&rows, false),
        "\
NAME       PHASE         STAGE   WEIGHT   STABLE       CANARY       AGE
checkout   Progressing   2/4     50%      7f3c9a0d12   91be02aa11   3d4h
cart       Healthy       -       50%      7f3c9a0d12   -            3d4h
"
    );
}

#[test]
fn incident_rows_show_the_current_severity() {
    let i: Incident = serde_json::from_value(json!({
        "apiVersion": "rollgate.dev/v1alpha1", "kind": "Incident",
        "metadata": {"name": "checkout-91be02aa11", "namespace": "shop", "creationTimestamp": "2026-01-01T11:58:00Z"},
        "spec": {
            "rolloutRef": {"name": "checkout"}, "dedupKey": "k", "title": "t", "summary": "s",
            "severity": "sev3", "reason": "GateFailed", "fromRevision": "91be02aa11", "toRevision": "7f3c9a0d12",
            "stage": {"index": 1, "weight": 50},
            "exposure": {"weight": 50, "canaryPods": 5, "since": "2026-01-01T11:55:00Z", "seconds": 180},
            "detectedAt": "2026-01-01T11:58:00Z"
        },
        "status": {"state": "Escalated", "severity": "sev1"}
    }))
    .unwrap();
    let rows = incident_rows(&[i], at(NOW));
    assert_eq!(
        IncidentRow::table(&rows, true),
        "\
NAMESPACE   NAME                  STATE       SEVERITY   ROLLOUT    REASON       AGE
shop        checkout-91be02aa11   Escalated   sev1       checkout   GateFailed   2m
"
    );
}

#[test]
fn a_frozen_rollout_names_the_freeze_and_who_set_it() {
    let mut r = baking();
    let s = r.status.as_mut().unwrap();
    s.phase = Phase::Paused;
    s.frozen = Some(
        serde_json::from_value(json!({
            "name": "release-freeze", "by": "alice", "reason": "Black Friday"
        }))
        .unwrap(),
    );
    let v = RolloutView::new(&r, at(NOW));
    assert_eq!(
        v.stages[1].waiting.as_deref(),
        Some("frozen (Freeze release-freeze)")
    );
    assert!(render(&v).contains("Frozen:     Freeze release-freeze by alice: Black Friday\n"));
}

#[test]
fn a_queued_rollout_says_how_long_it_waited_and_config_changes_are_listed() {
    let mut r = baking();
    let s = r.status.as_mut().unwrap();
    s.phase = Phase::Queued;
    s.queued_since = Some(at("2026-01-01T11:58:00Z"));
    s.config_changes = vec![
        serde_json::from_value(
            json!({"kind": "ConfigMap", "name": "pricing", "keys": ["pricing.yaml"]}),
        )
        .unwrap(),
        serde_json::from_value(json!({"kind": "Secret", "name": "db", "keys": ["password"]}))
            .unwrap(),
    ];
    let text = render(&RolloutView::new(&r, at(NOW)));
    assert!(
        text.contains("Queued:     waiting 2m for a canary slot"),
        "{text}"
    );
    assert!(
        text.contains(
            "Config:     ConfigMap pricing (pricing.yaml)\n            Secret db (password)\n"
        ),
        "{text}"
    );
}

//! Statistical, alert and dry-run gates on the real platform.
//!
//! The sequential tests run at low traffic with Poisson noise: each track serves 5 requests/s,
//! stable fails 1% of them. The exporter draws the noise from fixed seeds, so a series' counts
//! at a given age are the same every run; only where the stage's window starts (when the
//! canary's pods became ready) moves by a second or so between runs.

use std::time::Duration;

use rollgate::api::{Phase, Rollout, Verdict};
use rollgate_platform::PrometheusServer;
use serde_json::json;

use crate::support::{Fixture, error_ratio_gate, rollout, sequential_gate};

const MINUTE: Duration = Duration::from_secs(60);

/// Requests per second on each track, and stable's error ratio.
const RPS: f64 = 5.0;
const ERROR_RATIO: f64 = 0.01;
/// The false-alarm rate per stage of the sequential gate in these tests.
const ALPHA: f64 = 0.001;

#[tokio::test(flavor = "multi_thread")]
async fn sequential_judge_rolls_back_a_3x_error_regression_at_low_traffic() {
    let f = Fixture::new("seq-bad").await;
    f.create_deployment("app", 4, "app:v1").await;
    f.noisy_metrics("app", "stable", RPS, ERROR_RATIO, 1).await;
    f.noisy_metrics("app", "canary", RPS, 3.0 * ERROR_RATIO, 2)
        .await;
    // A bake far longer than detection takes: the stage cannot end before the verdict. At this
    // traffic (0.1 errors/s in all) the test needs a few dozen errors: in 2,000 simulated
    // stages it found a 3× regression in 4.5 min at the median and 18 min at the worst.
    f.create_rollout(rollout(
        "app",
        "app",
        4,
        &[(50, "30m"), (100, "5s")],
        vec![sequential_gate(ALPHA)],
    ))
    .await;
    let _c = f.controller();
    f.wait_phase("app", Phase::Healthy, MINUTE).await;
    f.set_image("app", "app:bad").await;

    let r = f.wait_phase("app", Phase::RolledBack, 30 * MINUTE).await;
    let st = r.status.unwrap();
    let rb = st.rollback.expect("rollback record");
    assert_eq!(rb.reason, "GateFailed", "{}", rb.message);
    let g = &rb.gates[0];
    assert_eq!(g.verdict, Verdict::Fail);
    let e = g.evidence.as_ref().expect("the verdict's evidence");
    assert_eq!(e.alpha, ALPHA);
    assert!(e.statistic >= 1.0 / ALPHA, "{e:?}");
    assert!(e.ratio > 1.0 && e.canary_events > 0.0, "{e:?}");
    assert!(
        e.summary.starts_with("canary errors ")
            && e.summary
                .contains("99.9% confidence it is worse than the tolerated 1×, after "),
        "{}",
        e.summary
    );
    said_alike(&f, &rb.message, &e.summary, "99.9% confidence").await;
    f.cleanup().await;
}

/// Status, the incident and the CLI say a verdict's evidence in the same words: the rollback
/// message holds `summary`, the incident's failed gate is it, and `rollgate status` shows `cli`.
pub async fn said_alike(f: &Fixture, rollback_message: &str, summary: &str, cli: &str) {
    assert!(rollback_message.contains(summary), "{rollback_message}");
    let incident = f.first_incident().await;
    assert_eq!(
        incident.spec.failed_gates[0].evidence.as_deref(),
        Some(summary)
    );
    let out = f.ok(&["status", "app"]).await;
    assert!(out.contains(cli), "{out}");
}

/// 20 releases with nothing wrong, at the same traffic and noise. Each stage's test raises a
/// false alarm with probability at most α = 0.001 (Ville's inequality; the mixture is
/// conservative), so a release of two stages at most 0.002, and two or more false rollbacks
/// among 20 with probability at most C(20,2)·0.002² < 0.001. The bound asserted is at most
/// one false rollback in 20; with the seeds fixed, the noise is the same on every run.
#[tokio::test(flavor = "multi_thread")]
async fn twenty_healthy_releases_stay_within_the_false_rollback_bound() {
    let f = Fixture::new("seq-ok").await;
    let names: Vec<String> = (0..20).map(|i| format!("h{i:02}")).collect();
    for (i, name) in names.iter().enumerate() {
        f.create_deployment(name, 2, "app:v1").await;
        let seed = 100 + 2 * i as u64;
        f.noisy_metrics(name, "stable", RPS, ERROR_RATIO, seed)
            .await;
        f.noisy_metrics(name, "canary", RPS, ERROR_RATIO, seed + 1)
            .await;
        f.create_rollout(rollout(
            name,
            name,
            2,
            &[(50, "3m"), (100, "10s")],
            vec![sequential_gate(ALPHA)],
        ))
        .await;
    }
    let _c = f.controller();
    let mut before = Vec::new();
    for name in &names {
        f.wait_phase(name, Phase::Healthy, MINUTE).await;
        before.push(f.stable_revision(name).await);
        f.set_image(name, "app:v2").await;
    }
    let settled = |r: &Rollout, old: &str| {
        r.status.as_ref().is_some_and(|s| {
            s.phase == Phase::RolledBack
                || (s.phase == Phase::Healthy && s.stable_revision.as_deref() != Some(old))
        })
    };
    let mut rolled_back = Vec::new();
    for (name, old) in names.iter().zip(&before) {
        let r = f
            .wait_rollout(name, "promoted or rolled back", 10 * MINUTE, |r| {
                settled(r, old)
            })
            .await;
        let st = r.status.unwrap();
        if st.phase == Phase::RolledBack {
            rolled_back.push(format!(
                "{name}: {}",
                st.rollback.map(|r| r.message).unwrap_or_default()
            ));
        }
    }
    assert!(
        rolled_back.len() <= 1,
        "false rollbacks beyond the bound α implies: {rolled_back:?}"
    );
    f.cleanup().await;
}

/// An alerting rule of the team's own: canary 5xx above 1/s in this namespace.
const RULES: &str = r#"groups:
- name: team
  rules:
  - alert: CanaryErrors
    expr: sum by (namespace) (rate(http_requests_total{rollgate_track="canary",code="500"}[5s])) > 1
    labels: {severity: page}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn an_alert_gate_rolls_back_while_a_real_alerting_rule_fires() {
    let f = Fixture::new("alert-gate").await;
    let target = f.env.exporter_url.trim_start_matches("http://").to_string();
    let dir = f.env.work_dir.join(format!("prom-{}", f.name()));
    std::fs::create_dir_all(&dir).unwrap();
    let prom = PrometheusServer::start_with_rules(&dir, &[target], RULES)
        .await
        .expect("a Prometheus with the team's rules");
    let gate = json!({
        "name": "team-alerts",
        "alert": {"labels": {"alertname": "CanaryErrors", "namespace": "{{namespace}}"}},
        "interval": "1s",
        "failureLimit": 2
    });
    let _c = f
        .adopted(&[(50, "20s"), (100, "2s")], vec![gate], &prom.url())
        .await;
    f.set_image("app", "app:v2").await;
    // Quiet at first: the gate passes while no alert fires.
    f.wait_rollout("app", "the alert gate passing on the canary", MINUTE, |r| {
        r.status.as_ref().is_some_and(|s| {
            s.gates.iter().any(|g| {
                g.verdict == Verdict::Pass && g.revision == s.canary_revision && !g.dry_run
            })
        })
    })
    .await;
    f.metrics("app", "canary", 50.0, 0.5).await;

    let r = f.wait_phase("app", Phase::RolledBack, MINUTE).await;
    let rb = r.status.unwrap().rollback.expect("rollback record");
    assert_eq!(rb.reason, "GateFailed", "{}", rb.message);
    let g = &rb.gates[0];
    assert_eq!(g.name, "team-alerts");
    assert_eq!(g.verdict, Verdict::Fail);
    assert!(
        g.query
            .as_deref()
            .is_some_and(|q| q.contains("alertname=\"CanaryErrors\"")
                && q.contains(&format!("namespace=\"{}\"", f.name()))),
        "{:?}",
        g.query
    );
    assert!(rb.message.contains("no firing alert"), "{}", rb.message);
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_dry_run_gate_never_rolls_back_and_shows_in_status_and_the_cli() {
    let f = Fixture::new("dry-run").await;
    let mut gate = error_ratio_gate(0.05);
    gate["name"] = "candidate".into();
    gate["dryRun"] = true.into();
    let _c = f
        .adopted(
            &[(50, "8s"), (100, "2s")],
            vec![gate],
            &f.env.prometheus_url,
        )
        .await;
    let before = f.stable_revision("app").await;
    // Half of the canary's requests fail: an enforced gate would roll this back in seconds.
    f.metrics("app", "canary", 50.0, 0.5).await;
    f.set_image("app", "app:v2").await;

    let failing = f
        .wait_rollout(
            "app",
            "the dry-run gate failing on the canary",
            MINUTE,
            |r| {
                r.status.as_ref().is_some_and(|s| {
                    s.gates.iter().any(|g| {
                        g.dry_run && g.verdict == Verdict::Fail && g.revision == s.canary_revision
                    })
                })
            },
        )
        .await;
    let g = &failing.status.as_ref().unwrap().gates[0];
    assert!(g.consecutive_failures >= 1);
    let out = f.ok(&["status", "app"]).await;
    assert!(out.contains("candidate (dry-run)"), "{out}");
    assert!(
        out.contains("candidate: dry run, so it neither holds nor rolls back the release"),
        "{out}"
    );

    let r = f
        .wait_rollout("app", "promoted despite the dry-run gate", MINUTE, |r| {
            r.status.as_ref().is_some_and(|s| {
                s.phase == Phase::Healthy && s.stable_revision.as_deref() != Some(before.as_str())
            })
        })
        .await;
    let st = r.status.unwrap();
    assert!(st.rollback.is_none(), "{:?}", st.rollback);
    assert!(
        !f.event_reasons("app")
            .await
            .iter()
            .any(|e| e == "GateFailed")
    );
    f.cleanup().await;
}

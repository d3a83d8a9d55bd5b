//! Judges of continuous metrics on the real platform: the mSPRT and the Kayenta gate, asking
//! Prometheus range queries of a latency gauge per track that the test sets on the exporter.

use std::time::Duration;

use rollgate::api::{Phase, Verdict};
use rollgate_platform::Gauge;

use crate::judges::said_alike;
use crate::support::{Fixture, LATENCY_GAUGE, kayenta_gate, msprt_gate, rollout};

const MINUTE: Duration = Duration::from_secs(60);

/// Sets the latency gauge of `rollout`'s `track` to `seconds`.
async fn latency(f: &Fixture, rollout: &str, track: &str, seconds: f64) {
    let gauge = Gauge::new(f.name(), LATENCY_GAUGE)
        .label("rollout", rollout)
        .label("rollgate_track", track)
        .value(seconds);
    f.env.exporter().set_gauge(&gauge).await.expect("exporter");
}

/// A canary 3× slower than stable is rolled back by the mSPRT, with the evidence in words in
/// status, the incident and `rollgate status`. The gauges are constant, so every pair says
/// ln 3 exactly: the first verdict the test allows at α = 0.001, at the 8th pair, fails it.
#[tokio::test(flavor = "multi_thread")]
async fn msprt_rolls_back_a_canary_3x_slower_than_stable() {
    let f = Fixture::new("msprt").await;
    f.create_deployment("app", 4, "app:v1").await;
    latency(&f, "app", "stable", 0.1).await;
    latency(&f, "app", "canary", 0.3).await;
    // A bake far longer than the verdict takes: only the judge can end the stage.
    f.create_rollout(rollout(
        "app",
        "app",
        4,
        &[(50, "5m"), (100, "5s")],
        vec![msprt_gate(0.001)],
    ))
    .await;
    let _c = f.controller();
    f.wait_phase("app", Phase::Healthy, MINUTE).await;
    f.set_image("app", "app:slow").await;

    let r = f.wait_phase("app", Phase::RolledBack, 2 * MINUTE).await;
    let rb = r.status.unwrap().rollback.expect("rollback record");
    assert_eq!(rb.reason, "GateFailed", "{}", rb.message);
    let g = &rb.gates[0];
    assert_eq!(g.verdict, Verdict::Fail);
    let e = g.evidence.as_ref().expect("the verdict's evidence");
    assert_eq!(e.test, "msprt");
    assert!((e.ratio - 3.0).abs() < 1e-6, "{e:?}");
    assert!(e.interval_low.unwrap() > 2.9, "{e:?}");
    assert!(e.intervals.unwrap() >= 8 && e.dropped == Some(0), "{e:?}");
    assert!(e.p_value.unwrap() < 0.001, "{e:?}");
    assert!(
        e.summary.starts_with("canary latency 3× stable (3× to 3×), 99.9% confidence it is above the tolerated 1×, after "),
        "{}",
        e.summary
    );
    said_alike(&f, &rb.message, &e.summary, "99.9% confidence it is above").await;
    f.cleanup().await;
}

/// A Kayenta gate fails a clearly regressed canary as soon as its window holds its points
/// (below marginal fails early), and promotes a healthy one at the end of each bake.
#[tokio::test(flavor = "multi_thread")]
async fn kayenta_fails_a_regressed_canary_early_and_promotes_a_healthy_one() {
    let f = Fixture::new("kayenta").await;
    for (name, canary) in [("bad", 0.3), ("good", 0.1)] {
        f.create_deployment(name, 2, "app:v1").await;
        latency(&f, name, "stable", 0.1).await;
        latency(&f, name, "canary", canary).await;
        // 20 s of bake is 20 points a second: enough for the default minPoints of 10.
        f.create_rollout(rollout(
            name,
            name,
            2,
            &[(50, "20s"), (100, "12s")],
            vec![kayenta_gate()],
        ))
        .await;
    }
    let _c = f.controller();
    let mut before = Vec::new();
    for name in ["bad", "good"] {
        f.wait_phase(name, Phase::Healthy, MINUTE).await;
        before.push(f.stable_revision(name).await);
        f.set_image(name, "app:v2").await;
    }

    let r = f.wait_phase("bad", Phase::RolledBack, 2 * MINUTE).await;
    let rb = r.status.unwrap().rollback.expect("rollback record");
    assert_eq!(rb.reason, "GateFailed", "{}", rb.message);
    let e = rb.gates[0]
        .evidence
        .as_ref()
        .expect("the verdict's evidence");
    assert_eq!(e.test, "kayenta");
    assert_eq!(e.statistic, 0.0, "a critical metric failed: score 0");
    assert_eq!(e.metrics[0].class, "High");
    assert!(e.metrics[0].critical);
    assert!((e.metrics[0].shift.unwrap() - 0.2).abs() < 1e-9, "{e:?}");
    assert!(
        e.summary
            .starts_with("Kayenta score 0 fails early: below marginal (pass 95, marginal 75)")
            && e.summary.contains("latency High (critical) (shift +0.2"),
        "{}",
        e.summary
    );

    let old = before[1].clone();
    let r = f
        .wait_rollout("good", "promoted", 2 * MINUTE, |r| {
            r.status.as_ref().is_some_and(|s| {
                s.phase == Phase::Healthy && s.stable_revision.as_deref() != Some(old.as_str())
            })
        })
        .await;
    assert!(r.status.unwrap().rollback.is_none());
    f.cleanup().await;
}

//! Prometheus outages and controller crashes.

use std::time::Duration;

use rollgate::api::{Phase, Verdict};
use rollgate_platform::PrometheusServer;

use crate::support::{Fixture, error_ratio_gate};

const MINUTE: Duration = Duration::from_secs(60);

async fn own_prometheus(f: &Fixture) -> PrometheusServer {
    let target = f.env.exporter_url.trim_start_matches("http://").to_string();
    let dir = f.env.work_dir.join(format!("prom-{}", f.name()));
    std::fs::create_dir_all(&dir).unwrap();
    PrometheusServer::start(&dir, &[target])
        .await
        .expect("a Prometheus of this test's own")
}

/// Waits until stage `index` has its canary ready and the gate passing on it.
async fn gate_passing_at_stage(f: &Fixture, index: i32) {
    f.wait_rollout(
        "app",
        &format!("gate passing at stage {index}"),
        MINUTE,
        |r| {
            let Some(s) = r.status.as_ref() else {
                return false;
            };
            s.stage
                .as_ref()
                .is_some_and(|st| st.index == index && st.ready_at.is_some())
                && s.gates
                    .iter()
                    .any(|g| g.verdict == Verdict::Pass && g.revision == s.canary_revision)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_outage_holds_the_stage_and_nothing_is_promoted_until_it_returns() {
    let f = Fixture::new("promdown").await;
    let mut prom = own_prometheus(&f).await;
    let mut gate = error_ratio_gate(0.05);
    gate["errorLimit"] = 1000.into();
    let url = prom.url();
    // The first bake is long enough that it cannot end between the gate
    // passing and the crash below; the wait then outlasts it.
    let _c = f
        .adopted(&[(50, "10s"), (100, "2s")], vec![gate], &url)
        .await;
    let stable = f.stable_revision("app").await;
    f.set_image("app", "app:v2").await;
    gate_passing_at_stage(&f, 0).await;

    prom.crash();
    let st = f.rollout("app").await.status.unwrap();
    let stage = st.stage.expect("a stage in progress");
    assert_eq!(
        stage.index, 0,
        "still baking stage 1 when Prometheus went down"
    );
    // With Prometheus up, the stage would have advanced by the end of the bake.
    let bake_end = stage.bake_until.expect("the bake is set with readyAt");
    let left =
        Duration::try_from(bake_end.duration_since(jiff::Timestamp::now())).unwrap_or_default();
    let past_bake = left + Duration::from_secs(5);
    tokio::time::sleep(past_bake).await;
    let st = f.rollout("app").await.status.unwrap();
    assert_eq!(
        st.stage.as_ref().map(|s| s.index),
        Some(0),
        "no stage advanced while Prometheus was down"
    );
    assert_eq!(
        st.stable_revision.as_deref(),
        Some(stable.as_str()),
        "nothing promoted"
    );
    assert_eq!(st.phase, Phase::Progressing);
    let g = &st.gates[0];
    assert_eq!(g.verdict, Verdict::Error, "the gate reports the outage");
    assert!(
        g.consecutive_errors >= 3,
        "errors counted: {}",
        g.consecutive_errors
    );

    // Policy: errors hold, below errorLimit. Prometheus back → the rollout completes.
    prom.restart().await.expect("Prometheus restarts");
    let r = f.wait_phase("app", Phase::Healthy, MINUTE).await;
    assert_ne!(
        r.status.unwrap().stable_revision.as_deref(),
        Some(stable.as_str())
    );
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_outage_beyond_the_error_limit_rolls_back() {
    let f = Fixture::new("promlimit").await;
    let mut prom = own_prometheus(&f).await;
    let mut gate = error_ratio_gate(0.05);
    gate["errorLimit"] = 3.into();
    let url = prom.url();
    let _c = f
        .adopted(&[(50, "30s"), (100, "2s")], vec![gate], &url)
        .await;
    f.set_image("app", "app:v2").await;
    gate_passing_at_stage(&f, 0).await;
    prom.stop().await;
    let r = f.wait_phase("app", Phase::RolledBack, MINUTE).await;
    let rb = r.status.unwrap().rollback.unwrap();
    assert_eq!(rb.reason, "GateError");
    assert!(
        rb.message.contains("could not be evaluated"),
        "{}",
        rb.message
    );
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn controller_killed_during_a_bake_continues_without_skipping_or_repeating_a_stage() {
    let f = Fixture::new("crash").await;
    let mut c = f
        .adopted(
            &[(10, "3s"), (50, "8s"), (100, "3s")],
            vec![error_ratio_gate(0.05)],
            &f.env.prometheus_url,
        )
        .await;
    f.set_image("app", "app:v2").await;
    f.wait_rollout("app", "stage 2 baking", MINUTE, |r| {
        r.status
            .as_ref()
            .and_then(|s| s.stage.as_ref())
            .is_some_and(|s| s.index == 1 && s.bake_until.is_some())
    })
    .await;
    c.kill();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let st = f.rollout("app").await.status.unwrap();
    assert_eq!(
        st.stage.as_ref().map(|s| s.index),
        Some(1),
        "nothing moves while the controller is dead"
    );
    c.restart();
    let r = f.wait_phase("app", Phase::Healthy, MINUTE).await;
    let st = r.status.unwrap();
    let stages: Vec<_> = st
        .history
        .iter()
        .filter(|h| h.reason == "StageStarted")
        .map(|h| h.message.clone())
        .collect();
    assert_eq!(
        stages,
        [
            "stage 1/3: canary weight 10%",
            "stage 2/3: canary weight 50%",
            "stage 3/3: canary weight 100%"
        ],
        "each stage entered exactly once, in order"
    );
    assert_eq!(
        st.history
            .iter()
            .filter(|h| h.reason == "Promoting")
            .count(),
        1
    );
    f.cleanup().await;
}

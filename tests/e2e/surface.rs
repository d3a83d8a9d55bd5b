//! The controller's own surface: metrics and probes, and leader election across replicas.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use kube::Api;
use rollgate::api::Phase;

use crate::support::{ControllerProcess, Fixture, error_ratio_gate};

const MINUTE: Duration = Duration::from_secs(60);

async fn get(url: &str) -> Option<(u16, String)> {
    let r = reqwest::get(url).await.ok()?;
    Some((r.status().as_u16(), r.text().await.ok()?))
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_and_probes_describe_the_work_done() {
    let f = Fixture::new("metrics").await;
    let c = f
        .adopted(
            &[(50, "1s"), (100, "1s")],
            vec![error_ratio_gate(0.05)],
            &f.env.prometheus_url,
        )
        .await;
    f.metrics("app", "canary", 50.0, 0.5).await;
    f.set_image("app", "app:bad").await;
    f.wait_phase("app", Phase::RolledBack, MINUTE).await;
    let base = format!("http://127.0.0.1:{}", c.metrics_port);
    assert_eq!(
        get(&format!("{base}/healthz")).await.map(|r| r.0),
        Some(200)
    );
    let m = get(&format!("{base}/metrics")).await;
    assert_eq!(
        get(&format!("{base}/readyz")).await.map(|r| r.0),
        Some(200),
        "{m:?}"
    );
    let text = f
        .wait("metrics with the rollback", MINUTE, || async {
            let (_, t) = get(&format!("{base}/metrics")).await?;
            let done = t.contains("rollgate_rollbacks_total{reason=\"GateFailed\"} 1")
                && t.contains("rollgate_rollouts{phase=\"RolledBack\"} 1");
            done.then_some(t)
        })
        .await;
    for needle in [
        "rollgate_reconciles_total{controller=\"rollout\"}",
        "rollgate_reconcile_duration_seconds_bucket",
        "rollgate_gate_evaluations_total{verdict=\"Fail\"}",
        "rollgate_gate_evaluations_total{verdict=\"Pass\"}",
        "rollgate_incidents_opened_total",
        "rollgate_rollouts{phase=\"RolledBack\"} 1",
    ] {
        assert!(text.contains(needle), "/metrics lacks {needle}:\n{text}");
    }
    // Decide once per reconcile, as measured by the controller: every reconcile of this
    // release (gates evaluated, a rollback decided) ran the planner at most once, and most ran
    // it exactly once.
    let sample = |name: &str| -> f64 {
        let key = format!("rollgate_reconcile_decisions_{name}{{controller=\"rollout\"");
        text.lines()
            .find(|l| l.starts_with(&key))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("/metrics lacks {key}:\n{text}"))
    };
    let bucket = |le: &str| -> f64 {
        let key =
            format!("rollgate_reconcile_decisions_bucket{{le=\"{le}\",controller=\"rollout\"}}");
        text.lines()
            .find(|l| l.starts_with(&key))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("/metrics lacks {key}:\n{text}"))
    };
    let (count, sum) = (sample("count"), sample("sum"));
    assert!(count >= 5.0, "{count} reconciles");
    assert_eq!(bucket("1.0"), count, "a reconcile decided twice:\n{text}");
    assert!(
        sum > bucket("0.0") && sum <= count,
        "{sum} decisions in {count} reconciles"
    );
    f.cleanup().await;
}

/// The Lease's holder, if any.
async fn holder(f: &Fixture) -> Option<String> {
    let leases: Api<Lease> = Api::namespaced(f.client.clone(), f.name());
    leases
        .get_opt("rollgate")
        .await
        .ok()??
        .spec?
        .holder_identity
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_only_the_leader_acts_and_killing_it_hands_over_within_the_lease() {
    let f = Fixture::new("leader").await;
    let elect = [
        "--leader-elect",
        "--lease-namespace",
        f.name(),
        "--lease-duration",
        "6",
    ];
    let mut a = ControllerProcess::start_with(f.env, f.name(), &f.env.prometheus_url, &elect);
    let b = ControllerProcess::start_with(f.env, f.name(), &f.env.prometheus_url, &elect);
    f.app("app", 4).await;
    f.create_rollout(crate::support::rollout(
        "app",
        "app",
        4,
        &[(10, "3s"), (50, "10s"), (100, "3s")],
        vec![],
    ))
    .await;
    f.wait_phase("app", Phase::Healthy, MINUTE).await;
    let first = f.wait("a lease holder", MINUTE, || holder(&f)).await;
    let (leader, follower) = if first == a.identity {
        (&mut a, b)
    } else {
        (&mut { b }, a)
    };
    let metric = |p: u16| async move {
        get(&format!("http://127.0.0.1:{p}/metrics"))
            .await
            .map(|r| r.1)
            .unwrap_or_default()
    };
    assert!(
        metric(leader.metrics_port)
            .await
            .contains("rollgate_leader 1")
    );
    let fm = metric(follower.metrics_port).await;
    assert!(
        fm.contains("rollgate_leader 0"),
        "the follower does not act:\n{fm}"
    );
    assert!(
        !metric(follower.metrics_port)
            .await
            .contains("rollgate_reconciles_total{"),
        "the follower reconciled nothing"
    );

    f.set_image("app", "app:v2").await;
    f.wait_rollout("app", "stage 2 baking", MINUTE, |r| {
        r.status
            .as_ref()
            .and_then(|s| s.stage.as_ref())
            .is_some_and(|s| s.index == 1 && s.bake_until.is_some())
    })
    .await;
    let killed_at = std::time::Instant::now();
    leader.kill();
    let next = f
        .wait("the follower takes the lease", MINUTE, || async {
            holder(&f).await.filter(|h| *h == follower.identity)
        })
        .await;
    let handover = killed_at.elapsed();
    assert_eq!(next, follower.identity);
    assert!(
        handover <= Duration::from_secs(6 + 3),
        "handover took {handover:?} (lease 6 s)"
    );
    let r = f.wait_phase("app", Phase::Healthy, MINUTE).await;
    let st = r.status.unwrap();
    let stages: Vec<_> = st
        .history
        .iter()
        .filter(|h| h.reason == "StageStarted")
        .map(|h| h.message.clone())
        .collect();
    assert_eq!(
        stages.len(),
        3,
        "no stage started twice across the handover: {stages:?}"
    );
    assert_eq!(
        st.history
            .iter()
            .filter(|h| h.reason == "Promoting")
            .count(),
        1
    );
    println!("leader handover after a kill: {handover:?}");
    drop(follower);
    f.cleanup().await;
}

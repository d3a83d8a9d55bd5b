//! Releases end to end: a good one is promoted stage by stage, a bad one is rolled back by
//! itself, and a gate with no data is caught before it matters.

use std::time::Duration;

use kube::api::{Patch, PatchParams};
use rollgate::api::{Phase, Verdict};
use serde_json::json;

use crate::support::{Fixture, error_ratio_gate};

const MINUTE: Duration = Duration::from_secs(60);

const STAGES: &[(i32, &str)] = &[(10, "3s"), (50, "3s"), (100, "3s")];

async fn adopted(f: &Fixture, gates: Vec<serde_json::Value>) -> crate::support::ControllerProcess {
    f.adopted(STAGES, gates, &f.env.prometheus_url).await
}

#[tokio::test(flavor = "multi_thread")]
async fn good_release_goes_10_50_100_and_ends_healthy_on_the_new_revision() {
    let f = Fixture::new("good").await;
    let _c = adopted(&f, vec![error_ratio_gate(0.05)]).await;
    let before = f.stable_revision("app").await;
    f.set_image("app", "app:v2").await;

    // Each stage is seen with its weight, in order.
    for (index, weight) in [(0, 10), (1, 50), (2, 100)] {
        f.wait_rollout("app", &format!("stage {index} at {weight}%"), MINUTE, |r| {
            r.status
                .as_ref()
                .and_then(|s| s.stage.as_ref())
                .is_some_and(|s| s.index == index && s.weight == weight)
        })
        .await;
    }
    let r = f.wait_phase("app", Phase::Healthy, MINUTE).await;
    let st = r.status.unwrap();
    let after = st.stable_revision.clone().unwrap();
    assert_ne!(after, before);
    assert_eq!(st.canary_revision.as_deref(), Some(after.as_str()));
    let gate = st
        .gates
        .iter()
        .find(|g| g.name == "error-ratio")
        .expect("gate status");
    assert_eq!(gate.verdict, Verdict::Pass);

    // Every serving pod runs the new revision.
    let pods = f
        .wait("4 ready pods, all of the new revision", MINUTE, || async {
            let pods = f.ready_pods("app").await;
            (pods.len() == 4
                && pods
                    .iter()
                    .all(|(_, _, rev, image)| *rev == after && image == "app:v2"))
            .then_some(pods)
        })
        .await;
    assert!(pods.iter().all(|(_, track, _, _)| track == "stable"));

    // Status history and Events tell the story in order.
    let story: Vec<_> = st.history.iter().map(|h| h.reason.as_str()).collect();
    let expected = [
        "CanaryStarted",
        "StageStarted",
        "StageStarted",
        "StageStarted",
        "Promoting",
        "Promoted",
    ];
    let mut it = story.iter();
    for step in expected {
        assert!(
            it.any(|s| *s == step),
            "history {story:?} lacks {step} in order"
        );
    }
    let in_order = |events: &[String]| {
        let mut it = events.iter();
        expected.iter().all(|step| it.any(|s| s.as_str() == *step))
    };
    f.wait_events("app", "every Event of the story, in order", in_order)
        .await;
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_release_is_rolled_back_and_status_names_gate_query_value_threshold() {
    let f = Fixture::new("bad").await;
    let _c = adopted(&f, vec![error_ratio_gate(0.05)]).await;
    let stable = f.stable_revision("app").await;
    // The new revision answers half of its requests with 5xx.
    f.metrics("app", "canary", 50.0, 0.5).await;
    f.set_image("app", "app:bad").await;

    let r = f.wait_phase("app", Phase::RolledBack, MINUTE).await;
    let st = r.status.unwrap();
    assert_eq!(st.stable_revision.as_deref(), Some(stable.as_str()));
    let rb = st.rollback.expect("rollback record");
    assert_eq!(rb.reason, "GateFailed");
    assert_eq!(rb.stage_index, 0);
    let g = rb
        .gates
        .iter()
        .find(|g| g.name == "error-ratio")
        .expect("failed gate recorded");
    assert_eq!(g.verdict, Verdict::Fail);
    assert_eq!(g.threshold.as_deref(), Some("<= 0.05"));
    assert!(g.consecutive_failures >= 2);
    // rate() over 5 s still mixes in samples from before the change, so the value lies between
    // the old 0 and the new 0.5; what matters is that it broke the threshold and is reported.
    let value = g.value.expect("observed value");
    assert!(value > 0.05 && value <= 0.5, "observed {value}");
    // The message rounds the value as every message does; status keeps it exact.
    assert!(
        rb.message
            .contains(&format!("value {}", rollgate::gates::number(value))),
        "{}",
        rb.message
    );
    let query = g.query.as_deref().unwrap();
    assert!(
        query.contains(&format!("namespace=\"{}\"", f.name()))
            && query.contains("rollgate_track=\"canary\""),
        "{query}"
    );
    assert!(
        rb.message.contains("error-ratio") && rb.message.contains("<= 0.05"),
        "{}",
        rb.message
    );

    // Every serving pod is on the old revision, at full capacity.
    f.wait(
        "4 ready pods, all stable on the old revision",
        MINUTE,
        || async {
            let pods = f.ready_pods("app").await;
            (pods.len() == 4
                && pods
                    .iter()
                    .all(|(_, t, rev, image)| t == "stable" && *rev == stable && image == "app:v1"))
            .then_some(())
        },
    )
    .await;
    f.wait_event("app", "GateFailed").await;

    // It stays rolled back on that revision.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let st = f.rollout("app").await.status.unwrap();
    assert_eq!(st.phase, Phase::RolledBack);
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn gate_without_data_holds_the_release_unexposed_and_stops_it_at_the_deadline() {
    let f = Fixture::new("nodata").await;
    // A label typo: `rollgate_trak` matches nothing, on stable or canary.
    let typo = json!({
        "name": "typo",
        "query": "sum(rate(http_requests_total{namespace=\"{{namespace}}\",rollgate_trak=\"{{track}}\"}[5s]))",
        "max": 100,
        "interval": "1s",
        "failureLimit": 2
    });
    let _c = adopted(&f, vec![typo]).await;
    let stable = f.stable_revision("app").await;
    let patch = json!({"spec": {"progressDeadline": "15s"}});
    f.rollouts()
        .patch("app", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();
    f.set_image("app", "app:v2").await;

    // Preflight saw it against stable, and the release waits with no canary pod.
    let r = f
        .wait_rollout("app", "preflight to report no data", MINUTE, |r| {
            r.status
                .as_ref()
                .and_then(|s| s.preflight.as_ref())
                .is_some_and(|p| p.no_data == ["typo"])
        })
        .await;
    let st = r.status.unwrap();
    let cond = st
        .conditions
        .iter()
        .find(|c| c.type_ == "GatesHaveData")
        .expect("GatesHaveData condition");
    assert_eq!(cond.status, "False");
    assert!(cond.message.contains("typo"));
    assert!(
        st.message
            .as_deref()
            .is_some_and(|m| m.contains("waits before exposure") && m.contains("typo")),
        "{:?}",
        st.message
    );
    assert!(st.exposure.is_none(), "nothing exposed");

    // At the deadline it stops, never exposed: no rollback, no incident, stable unchanged.
    let r = f.wait_phase("app", Phase::Invalid, MINUTE).await;
    let st = r.status.unwrap();
    assert_eq!(st.stable_revision.as_deref(), Some(stable.as_str()));
    assert!(st.rollback.is_none() && st.incident_ref.is_none());
    assert!(
        st.history
            .last()
            .is_some_and(|h| h.reason == "PreflightNoData"),
        "{:?}",
        st.history.last()
    );
    let canary = f.deployments().get_opt("app-canary").await.unwrap();
    assert!(
        canary.is_none_or(|d| d.spec.and_then(|s| s.replicas) == Some(0)),
        "no canary pod was ever asked for"
    );
    let events = f.event_reasons("app").await;
    assert_eq!(
        events.iter().filter(|e| *e == "GateNoData").count(),
        1,
        "{events:?}"
    );
    assert!(
        !events
            .iter()
            .any(|e| e == "StageStarted" || e == "GateFailed"),
        "{events:?}"
    );
    f.cleanup().await;
}

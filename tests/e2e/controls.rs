//! Manual controls through the API: pause, resume, promote (next or full), abort, retry.

use std::time::Duration;

use rollgate::api::Phase;
use rollgate::plan::Action;
use serde_json::json;

use crate::support::{Fixture, error_ratio_gate};

const MINUTE: Duration = Duration::from_secs(60);

fn stage_of(r: &rollgate::api::Rollout) -> Option<i32> {
    r.status
        .as_ref()
        .and_then(|s| s.stage.as_ref())
        .map(|s| s.index)
}

#[tokio::test(flavor = "multi_thread")]
async fn pause_holds_the_stage_and_resume_continues() {
    let f = Fixture::new("pause").await;
    let _c = f
        .adopted(
            &[(10, "2s"), (50, "2s"), (100, "2s")],
            vec![error_ratio_gate(0.05)],
            &f.env.prometheus_url,
        )
        .await;
    f.set_image("app", "app:v2").await;
    f.wait_rollout("app", "stage 1", MINUTE, |r| stage_of(r) == Some(0))
        .await;
    f.request("app", Action::Pause).await;
    f.wait_phase("app", Phase::Paused, MINUTE).await;
    let held = stage_of(&f.rollout("app").await);
    tokio::time::sleep(Duration::from_secs(6)).await;
    let r = f.rollout("app").await;
    assert_eq!(r.status.as_ref().unwrap().phase, Phase::Paused);
    assert_eq!(stage_of(&r), held, "no stage advanced while paused");
    f.request("app", Action::Resume).await;
    f.wait_phase("app", Phase::Healthy, MINUTE).await;
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn manual_approval_waits_for_promote() {
    let f = Fixture::new("approve").await;
    let _c = f
        .adopted(
            &[(10, "1s"), (50, "1s"), (100, "1s")],
            vec![],
            &f.env.prometheus_url,
        )
        .await;
    let patch = json!({"spec": {"stages": [{"weight": 10, "bake": "1s"}, {"weight": 50, "approval": "Manual"}, {"weight": 100, "bake": "1s"}]}});
    f.rollouts()
        .patch("app", &Default::default(), &kube::api::Patch::Merge(patch))
        .await
        .unwrap();
    f.set_image("app", "app:v2").await;
    f.wait_rollout("app", "waiting for approval at stage 2", MINUTE, |r| {
        stage_of(r) == Some(1)
            && r.status
                .as_ref()
                .and_then(|s| s.message.as_deref())
                .is_some_and(|m| m.contains("manual approval"))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        stage_of(&f.rollout("app").await),
        Some(1),
        "it waits for a human"
    );
    f.request("app", Action::Promote).await;
    f.wait_phase("app", Phase::Healthy, MINUTE).await;
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn promote_full_skips_the_remaining_bakes() {
    let f = Fixture::new("full").await;
    let _c = f
        .adopted(
            &[(10, "1h"), (50, "1h"), (100, "1h")],
            vec![error_ratio_gate(0.05)],
            &f.env.prometheus_url,
        )
        .await;
    f.set_image("app", "app:v2").await;
    f.wait_rollout("app", "stage 1 baking", MINUTE, |r| {
        r.status
            .as_ref()
            .and_then(|s| s.stage.as_ref())
            .is_some_and(|s| s.bake_until.is_some())
    })
    .await;
    f.request("app", Action::PromoteFull).await;
    let r = f.wait_phase("app", Phase::Healthy, MINUTE).await;
    let st = r.status.unwrap();
    assert_eq!(st.stable_revision, st.canary_revision);
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn abort_rolls_back_now_and_retry_tries_the_revision_again() {
    let f = Fixture::new("abort").await;
    let _c = f
        .adopted(
            &[(10, "1h"), (100, "1s")],
            vec![error_ratio_gate(0.05)],
            &f.env.prometheus_url,
        )
        .await;
    let stable = f.stable_revision("app").await;
    f.set_image("app", "app:v2").await;
    f.wait_rollout("app", "stage 1 baking", MINUTE, |r| {
        r.status
            .as_ref()
            .and_then(|s| s.stage.as_ref())
            .is_some_and(|s| s.bake_until.is_some())
    })
    .await;
    f.request("app", Action::Abort).await;
    let r = f.wait_phase("app", Phase::RolledBack, MINUTE).await;
    let st = r.status.unwrap();
    assert_eq!(st.rollback.unwrap().reason, "Aborted");
    assert_eq!(st.stable_revision.as_deref(), Some(stable.as_str()));
    f.wait("only stable pods serve", MINUTE, || async {
        let pods = f.ready_pods("app").await;
        (pods.len() == 4 && pods.iter().all(|(_, t, _, _)| t == "stable")).then_some(())
    })
    .await;

    f.request("app", Action::Retry).await;
    f.wait_rollout("app", "the retried canary at stage 1", MINUTE, |r| {
        r.status
            .as_ref()
            .is_some_and(|s| s.phase == Phase::Progressing && s.stage.is_some())
    })
    .await;
    f.request("app", Action::PromoteFull).await;
    let r = f.wait_phase("app", Phase::Healthy, MINUTE).await;
    assert_ne!(
        r.status.unwrap().stable_revision.as_deref(),
        Some(stable.as_str())
    );
    f.cleanup().await;
}

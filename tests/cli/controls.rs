//! The manual actions: `promote`, `pause`, `resume`, `abort`, `retry`, `promote --full`.

use std::time::Duration;

use rollgate::api::Phase;

use crate::support::Fixture;

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread")]
async fn promote_pause_resume_abort_retry_and_promote_full() {
    let f = Fixture::new("cli-controls").await;
    let _c = f.simple_app(&[(25, "1h"), (50, "1h"), (100, "1s")]).await;
    let ns = f.name().to_string();
    let stable = f.stable_revision("app").await;
    f.set_image("app", "app:v2").await;
    let canary = f
        .wait_baking(0)
        .await
        .status
        .unwrap()
        .canary_revision
        .unwrap();

    // promote: the request annotation, and the next stage.
    let out = f.ok(&["promote", "app"]).await;
    assert!(
        out.starts_with(&format!("rollout {ns}/app: promote requested (id ")),
        "{out}"
    );
    assert!(
        out.contains(&format!("rollgate status app -n {ns} --watch")),
        "{out}"
    );
    let annotations = f
        .rollout("app")
        .await
        .metadata
        .annotations
        .unwrap_or_default();
    assert!(
        annotations["rollgate.dev/request"].starts_with("promote/"),
        "{annotations:?}"
    );
    f.wait_baking(1).await;

    // pause / resume, with the JSON confirmation.
    let sent = f.json(&["pause", "app"]).await;
    assert_eq!(
        (
            sent["action"].as_str(),
            sent["rollout"].as_str(),
            sent["namespace"].as_str()
        ),
        (Some("pause"), Some("app"), Some(ns.as_str()))
    );
    assert!(sent["id"].as_str().is_some_and(|id| !id.is_empty()));
    f.wait_phase("app", Phase::Paused, MINUTE).await;
    assert_eq!(f.json(&["status", "app"]).await["paused"], true);
    f.ok(&["resume", "app"]).await;
    f.wait_rollout("app", "resumed at stage 2", MINUTE, |r| {
        r.status.as_ref().is_some_and(|s| {
            s.phase == Phase::Progressing && s.stage.as_ref().is_some_and(|st| st.index == 1)
        })
    })
    .await;

    // abort: rolled back to stable now.
    let out = f.ok(&["abort", "app"]).await;
    assert!(out.contains("abort requested"), "{out}");
    let st = f
        .wait_phase("app", Phase::RolledBack, MINUTE)
        .await
        .status
        .unwrap();
    assert_eq!(st.rollback.unwrap().reason, "Aborted");
    assert_eq!(st.stable_revision.as_deref(), Some(stable.as_str()));

    // retry: the same revision gets a canary again.
    let out = f.ok(&["retry", "app"]).await;
    assert!(out.contains("retry requested"), "{out}");
    f.wait_rollout("app", "the retried canary", MINUTE, |r| {
        r.status.as_ref().is_some_and(|s| {
            s.phase == Phase::Progressing
                && s.stage.is_some()
                && s.canary_revision.as_deref() == Some(canary.as_str())
        })
    })
    .await;

    // promote --full: straight to 100%, Healthy on the new revision.
    let out = f.ok(&["promote", "app", "--full"]).await;
    assert!(out.contains("promote-full requested"), "{out}");
    let st = f
        .wait_phase("app", Phase::Healthy, MINUTE)
        .await
        .status
        .unwrap();
    assert_eq!(st.stable_revision.as_deref(), Some(canary.as_str()));

    // A rollout that is not there: exit 1, one line on stderr.
    let r = f.cli(&["pause", "nope"]).await;
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr.trim(),
        format!("rollgate: rollout nope not found in namespace {ns}")
    );
    f.cleanup().await;
}

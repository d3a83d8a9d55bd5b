//! The tracks are rollgate's record: deleting or hand-editing `<target>-stable` never promotes
//! anything; the track is restored to the verified revision from rollgate's ControllerRevision.

use std::time::Duration;

use kube::api::{DeleteParams, Patch, PatchParams};
use rollgate::api::Phase;
use serde_json::json;

use crate::support::{ControllerProcess, Fixture, error_ratio_gate};

const MINUTE: Duration = Duration::from_secs(60);

/// Every ready pod of the app, as (track, image).
async fn serving(f: &Fixture) -> Vec<(String, String)> {
    let mut v: Vec<_> = f
        .ready_pods("app")
        .await
        .into_iter()
        .map(|(_, track, _, image)| (track, image))
        .collect();
    v.sort();
    v
}

/// Waits until the stable track serves `image` on `pods` ready pods, and nothing else.
async fn stable_serves(f: &Fixture, image: &str, pods: usize) {
    f.wait("the stable track restored", MINUTE, || async {
        let serving = serving(f).await;
        let stable: Vec<_> = serving.iter().filter(|(t, _)| t == "stable").collect();
        (stable.len() == pods && stable.iter().all(|(_, i)| i == image)).then_some(())
    })
    .await;
}

/// `app` adopted under stages 25% (baking `bake`) and 100%, with the error-ratio gate.
async fn adopted(f: &Fixture, bake: &str) -> ControllerProcess {
    f.adopted(
        &[(25, bake), (100, "2s")],
        vec![error_ratio_gate(0.05)],
        &f.env.prometheus_url,
    )
    .await
}

async fn in_canary(f: &Fixture) {
    f.set_image("app", "app:v2").await;
    f.wait_rollout("app", "the canary baking at stage 1", MINUTE, |r| {
        r.status
            .as_ref()
            .and_then(|s| s.stage.as_ref())
            .is_some_and(|s| s.index == 0 && s.ready_at.is_some())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_stable_track_mid_canary_restores_the_verified_revision_and_promotes_nothing()
{
    let f = Fixture::new("track-deleted").await;
    let _c = adopted(&f, "40s").await;
    in_canary(&f).await;
    f.deployments()
        .delete("app-stable", &DeleteParams::default())
        .await
        .expect("delete the stable track");
    // 25% of 4 pods: one canary pod, three stable ones.
    stable_serves(&f, "app:v1", 3).await;
    let r = f.rollout("app").await;
    let st = r.status.unwrap();
    assert_eq!(st.phase, Phase::Progressing, "still in its first stage");
    assert_eq!(st.stage.map(|s| s.index), Some(0));
    f.wait_event("app", "TrackDrift").await;
    assert!(
        serving(&f)
            .await
            .iter()
            .all(|(t, i)| (t == "stable") == (i == "app:v1")),
        "only the canary runs the unverified image"
    );
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_the_stable_track_after_a_rollback_restores_the_old_revision() {
    let f = Fixture::new("track-deleted-rb").await;
    let _c = adopted(&f, "10s").await;
    f.metrics("app", "canary", 50.0, 0.5).await;
    f.set_image("app", "app:bad").await;
    f.wait_phase("app", Phase::RolledBack, MINUTE).await;
    f.deployments()
        .delete("app-stable", &DeleteParams::default())
        .await
        .expect("delete the stable track");
    stable_serves(&f, "app:v1", 4).await;
    let st = f.rollout("app").await.status.unwrap();
    assert_eq!(
        st.phase,
        Phase::RolledBack,
        "the bad revision is not promoted"
    );
    assert!(
        serving(&f).await.iter().all(|(_, i)| i == "app:v1"),
        "every pod runs the verified image"
    );
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hand_edited_stable_track_is_restored_to_the_recorded_template() {
    let f = Fixture::new("track-edited").await;
    let _c = adopted(&f, "40s").await;
    in_canary(&f).await;
    // What `kubectl set image deploy/app-stable app=x:666` sends.
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "x:666"}]}}}});
    f.deployments()
        .patch(
            "app-stable",
            &PatchParams {
                field_manager: Some("kubectl-set".into()),
                ..Default::default()
            },
            &Patch::Strategic(patch),
        )
        .await
        .expect("edit the stable track");
    f.wait("the edit reverted", MINUTE, || async {
        let d = f.deployments().get("app-stable").await.ok()?;
        let image = d.spec?.template.spec?.containers[0].image.clone()?;
        (image == "app:v1").then_some(())
    })
    .await;
    stable_serves(&f, "app:v1", 3).await;
    f.wait_event("app", "TrackDrift").await;
    f.wait_rollout("app", "the drift cleared", MINUTE, |r| {
        r.status.as_ref().is_some_and(|s| s.drift.is_none())
    })
    .await;
    f.cleanup().await;
}

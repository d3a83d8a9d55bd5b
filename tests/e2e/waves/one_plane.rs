//! Releases across clusters in waves (docs/WAVES.md), on one control plane: the hub is its own
//! member (a cluster Secret pointing back at it, with the least-privilege credential the chart
//! ships), and other members are cluster Secrets whose API server is gone. Each test's controller
//! is the hub and the member's rollgate at once.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::Api;
use kube::api::{ListParams, Patch, PatchParams};
use rollgate::api::{MemberState, Phase, ReleasePhase, Rollout, WavePhase};
use serde_json::{Value, json};

use super::{STAGES, adopted, image, one_hub_page, phase, release, releases, wait_release};
use crate::incidents::{Destinations, MINUTE};
use crate::support::Fixture;
use crate::support::hub;

#[tokio::test(flavor = "multi_thread")]
async fn a_good_release_passes_its_waves_in_order_and_the_member_ends_on_the_new_revision() {
    let f = Fixture::new("waves-good").await;
    let _c = adopted(&f).await;
    let credential = hub::hub_credential(&f).await;
    hub::member(&f, "hub", &[("ring", "0")], &credential.kubeconfig_yaml).await;
    let before = f.stable_revision("app").await;
    release(
        &f,
        "app:v2",
        json!([
            {"name": "ring0", "selector": {"matchLabels": {"ring": "0"}}, "bake": "3s", "timeout": "2m"},
        ]),
        &[],
    )
    .await;
    let done = wait_release(&f, "the release Healthy", 2 * MINUTE, |r| {
        phase(r) == ReleasePhase::Healthy
    })
    .await;
    let st = done.status.unwrap();
    let wave = &st.waves[0];
    let (started, finished) = (wave.started_at.unwrap(), wave.finished_at.unwrap());
    assert!(
        finished.duration_since(started).as_secs_f64() >= 3.0,
        "the bake was held: {wave:?}"
    );
    let member = &wave.members[0];
    assert_eq!(member.state, MemberState::Healthy);
    // The member went through its own stages to the release: its stable revision is the one
    // the hub recorded once the member had observed the applied generation.
    let rollout = f.rollout("app").await;
    let rst = rollout.status.unwrap();
    assert_eq!(rst.stable_revision, member.revision);
    assert_ne!(rst.stable_revision.as_deref(), Some(before.as_str()));
    assert_eq!(image(&f).await, "app:v2");
    assert!(
        st.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    );
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gate_failure_in_wave_one_stops_the_release_and_pages_once_linking_the_member_incident() {
    let f = Fixture::new("waves-bad").await;
    let d = Destinations::create(&f).await;
    let _c = adopted(&f).await;
    let credential = hub::hub_credential(&f).await;
    hub::member(&f, "hub", &[("ring", "0")], &credential.kubeconfig_yaml).await;
    // Wave 2's member is never reached: it must never be asked for anything either.
    hub::member(&f, "eu", &[("ring", "1")], &hub::unreachable_kubeconfig(&f)).await;
    f.metrics("app", "canary", 50.0, 0.5).await;
    release(
        &f,
        "app:bad",
        json!([
            {"name": "ring0", "selector": {"matchLabels": {"ring": "0"}}, "timeout": "2m"},
            {"name": "rest", "selector": {"matchLabels": {"ring": "1"}}, "timeout": "2m"},
        ]),
        &["pd"],
    )
    .await;
    let failed = wait_release(&f, "the release Failed", 2 * MINUTE, |r| {
        phase(r) == ReleasePhase::Failed && r.status.as_ref().is_some_and(|s| s.incident_opened)
    })
    .await;
    let st = failed.status.unwrap();
    assert_eq!(st.waves.len(), 1, "wave 2 never started: {:?}", st.waves);
    assert_eq!(st.waves[0].phase, WavePhase::Failed);
    let member = &st.waves[0].members[0];
    assert_eq!(member.state, MemberState::Failed);
    let rollout = f.wait_phase("app", Phase::RolledBack, MINUTE).await;
    let member_incident = rollout.status.unwrap().incident_ref.unwrap().name;
    assert_eq!(member.incident.as_deref(), Some(member_incident.as_str()));
    let incident = one_hub_page(&f, &d.pagerduty, &st, "hub", &member_incident).await;
    assert_eq!(incident.spec.release.unwrap().wave, "ring0");
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_member_holds_its_wave_then_fails_it_at_the_timeout_and_no_later_wave_receives_it()
 {
    let f = Fixture::new("waves-gone").await;
    let _c = adopted(&f).await;
    let credential = hub::hub_credential(&f).await;
    hub::member(
        &f,
        "gone",
        &[("ring", "0")],
        &hub::unreachable_kubeconfig(&f),
    )
    .await;
    hub::member(&f, "hub", &[("ring", "1")], &credential.kubeconfig_yaml).await;
    release(
        &f,
        "app:v2",
        json!([
            {"name": "ring0", "selector": {"matchLabels": {"ring": "0"}}, "timeout": "6s"},
            {"name": "rest", "selector": {"matchLabels": {"ring": "1"}}},
        ]),
        &[],
    )
    .await;
    // Held: the member is seen unreachable, the wave neither passes nor fails yet.
    let held = wait_release(
        &f,
        "the wave holding on its unreachable member",
        MINUTE,
        |r| {
            r.status.as_ref().is_some_and(|s| {
                s.waves.first().is_some_and(|w| {
                    w.phase == WavePhase::Progressing
                        && w.members[0]
                            .seen
                            .as_ref()
                            .is_some_and(|seen| seen.error.is_some())
                })
            })
        },
    )
    .await;
    assert_eq!(held.status.unwrap().waves.len(), 1);
    let failed = wait_release(&f, "the wave failed at its timeout", MINUTE, |r| {
        phase(r) == ReleasePhase::Failed
    })
    .await;
    let st = failed.status.unwrap();
    let wave = &st.waves[0];
    assert_eq!(wave.phase, WavePhase::Failed);
    let took = wave
        .finished_at
        .unwrap()
        .duration_since(wave.started_at.unwrap());
    assert!(took.as_secs_f64() >= 6.0, "failed at the timeout: {wave:?}");
    assert_eq!(st.waves.len(), 1, "no later wave started");
    assert_eq!(
        image(&f).await,
        "app:v1",
        "the later wave's member never received it"
    );
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hub_killed_between_an_apply_and_its_record_continues_without_repeating_or_skipping_a_wave()
 {
    let f = Fixture::new("waves-crash").await;
    let mut c = adopted(&f).await;
    let credential = hub::hub_credential(&f).await;
    hub::member(&f, "hub", &[("ring", "0")], &credential.kubeconfig_yaml).await;
    c.crash_at("after-member-apply");
    release(
        &f,
        "app:v2",
        json!([{"name": "ring0", "selector": {"matchLabels": {"ring": "0"}}, "bake": "2s"}]),
        &[],
    )
    .await;
    if !c.exited_within(MINUTE).await {
        f.fail("the hub never reached after-member-apply").await;
    }
    // The apply happened; its record did not: the intent (previous images) is on record.
    let crashed = releases(&f).get("app-release").await.unwrap();
    let st = crashed.status.unwrap();
    let member = &st.waves[0].members[0];
    assert_eq!(member.state, MemberState::Applying);
    assert_eq!(member.applied_generation, None);
    assert_eq!(member.previous[0].image, "app:v1");
    let started = st.waves[0].started_at;
    assert_eq!(image(&f).await, "app:v2");
    c.recover();
    let done = wait_release(
        &f,
        "the release Healthy after the restart",
        2 * MINUTE,
        |r| phase(r) == ReleasePhase::Healthy,
    )
    .await;
    let st = done.status.unwrap();
    assert_eq!(st.waves.len(), 1);
    assert_eq!(
        st.waves[0].started_at, started,
        "the wave was not started again"
    );
    // Released once: the member started one canary for it (the same images applied again
    // after the restart changed nothing there).
    let history = f.rollout("app").await.status.unwrap().history;
    let canaries = history
        .iter()
        .filter(|t| t.from == Phase::Healthy && t.to == Phase::Progressing)
        .count();
    assert_eq!(canaries, 1, "{history:#?}");
    assert!(st.waves[0].members[0].applied_generation.is_some());
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hub_credential_reads_the_rollout_and_patches_its_target_and_nothing_else() {
    let f = Fixture::new("waves-rbac").await;
    f.app("app", 1).await;
    f.create_rollout(crate::support::rollout("app", "app", 1, STAGES, vec![]))
        .await;
    let hub = hub::hub_credential(&f).await.client().await.unwrap();
    let ns = f.name();
    let forbidden = |what: &str, r: Result<(), kube::Error>| match r {
        Err(kube::Error::Api(e)) if e.code == 403 => {}
        other => panic!("{what}: expected 403 Forbidden, got {other:?}"),
    };
    // Allowed: what the hub does.
    Api::<Rollout>::namespaced(hub.clone(), ns)
        .get("app")
        .await
        .expect("get the Rollout");
    let deployments = Api::<Deployment>::namespaced(hub.clone(), ns);
    deployments.get("app").await.expect("get the target");
    let images = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app"},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v1"}]}}}});
    deployments
        .patch(
            "app",
            &PatchParams::apply("rollgate-hub").force(),
            &Patch::Apply(&images),
        )
        .await
        .expect("apply the target's images");
    // Denied: everything else.
    let r = |r: Result<Value, kube::Error>| r.map(|_| ());
    forbidden(
        "get secrets",
        r(Api::<Secret>::namespaced(hub.clone(), ns)
            .list(&ListParams::default())
            .await
            .map(|_| json!({}))),
    );
    forbidden(
        "list pods",
        r(Api::<Pod>::namespaced(hub.clone(), ns)
            .list(&ListParams::default())
            .await
            .map(|_| json!({}))),
    );
    forbidden(
        "list configmaps",
        r(Api::<ConfigMap>::namespaced(hub.clone(), ns)
            .list(&ListParams::default())
            .await
            .map(|_| json!({}))),
    );
    forbidden(
        "patch the Rollout",
        r(Api::<Rollout>::namespaced(hub.clone(), ns)
            .patch(
                "app",
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"paused": true}})),
            )
            .await
            .map(|_| json!({}))),
    );
    forbidden(
        "delete the target",
        r(deployments
            .delete("app", &Default::default())
            .await
            .map(|_| json!({}))),
    );
    forbidden(
        "list deployments",
        r(deployments
            .list(&ListParams::default())
            .await
            .map(|_| json!({}))),
    );
    forbidden(
        "get the Rollout in another namespace",
        r(Api::<Rollout>::namespaced(hub.clone(), "default")
            .get("app")
            .await
            .map(|_| json!({}))),
    );
    f.cleanup().await;
}

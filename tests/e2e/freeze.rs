//! The kill switch and the concurrency cap.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use rollgate::api::{Freeze, Phase, Rollout};
use serde_json::json;

use crate::support::{Fixture, rollout};

const MINUTE: Duration = Duration::from_secs(60);

async fn app(f: &Fixture, name: &str, stages: &[(i32, &str)], config: Option<&str>) {
    let mut spec = json!({
        "containers": [{"name": "app", "image": format!("{name}:v1")}]
    });
    if let Some(cm) = config {
        spec["volumes"] = json!([{"name": "cfg", "configMap": {"name": cm}}]);
        spec["containers"][0]["volumeMounts"] = json!([{"name": "cfg", "mountPath": "/etc/cfg"}]);
    }
    let d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}
    });
    f.deployments()
        .create(&PostParams::default(), &serde_json::from_value(d).unwrap())
        .await
        .unwrap();
    f.create_rollout(rollout(name, name, 2, stages, vec![]))
        .await;
}

fn freezes(f: &Fixture) -> Api<Freeze> {
    Api::all(f.client.clone())
}

#[tokio::test(flavor = "multi_thread")]
async fn freeze_holds_everything_abort_rolls_canaries_back_and_unfreezing_resumes() {
    let f = Fixture::new("freeze").await;
    app(&f, "a", &[(50, "1h"), (100, "1s")], None).await;
    app(&f, "b", &[(50, "2s"), (100, "1s")], None).await;
    let _c = f.controller();
    f.wait_phase("a", Phase::Healthy, MINUTE).await;
    f.wait_phase("b", Phase::Healthy, MINUTE).await;
    f.set_image("a", "a:v2").await;
    f.wait_rollout("a", "a's canary baking", MINUTE, |r| {
        r.status
            .as_ref()
            .and_then(|s| s.stage.as_ref())
            .is_some_and(|s| s.bake_until.is_some())
    })
    .await;

    let name = format!("freeze-{}", f.name());
    let freeze = json!({"apiVersion": "rollgate.dev/v1alpha1", "kind": "Freeze", "metadata": {"name": name},
                        "spec": {"namespaces": [f.name()], "by": "alice", "reason": "payments outage"}});
    freezes(&f)
        .create(
            &PostParams::default(),
            &serde_json::from_value(freeze).unwrap(),
        )
        .await
        .unwrap();
    let a = f.wait_phase("a", Phase::Paused, MINUTE).await;
    let st = a.status.unwrap();
    let frozen = st.frozen.as_ref().expect("status shows the freeze");
    assert_eq!(
        (frozen.by.as_deref(), frozen.name.as_str()),
        (Some("alice"), name.as_str())
    );
    assert!(st.message.unwrap().contains("frozen by alice"));
    assert!(
        st.conditions
            .iter()
            .any(|c| c.type_ == "Frozen" && c.status == "True")
    );
    f.wait_event("a", "Frozen").await;
    // Nothing new starts.
    f.set_image("b", "b:v2").await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let b = f.rollout("b").await.status.unwrap();
    assert_eq!(b.phase, Phase::Paused);
    assert!(b.stage.is_none(), "no canary starts while frozen");
    assert_eq!(
        f.rollout("a").await.status.unwrap().stage.map(|s| s.index),
        Some(0),
        "nothing advances"
    );

    // Abort every canary in flight.
    let abort = json!({"spec": {"abort": true}});
    freezes(&f)
        .patch(&name, &PatchParams::default(), &Patch::Merge(abort))
        .await
        .unwrap();
    let a = f.wait_phase("a", Phase::RolledBack, MINUTE).await;
    assert_eq!(a.status.unwrap().rollback.unwrap().reason, "FreezeAbort");

    // Unfreeze: b, held, now goes through.
    freezes(&f)
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    f.wait_rollout(
        "b",
        "b promoted after the unfreeze",
        MINUTE,
        |r: &Rollout| {
            r.status.as_ref().is_some_and(|s| {
                s.phase == Phase::Healthy
                    && s.frozen.is_none()
                    && s.history.iter().any(|h| h.reason == "Promoted")
            })
        },
    )
    .await;
    f.wait_event("b", "Unfrozen").await;
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shared_configmap_edit_never_puts_more_than_the_cap_in_canary_and_all_finish() {
    let f = Fixture::new("cap").await;
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "shared"}, "data": {"flag": "off"}}))
            .unwrap();
    Api::<ConfigMap>::namespaced(f.client.clone(), f.name())
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    let names = ["r1", "r2", "r3", "r4", "r5"];
    for n in names {
        app(&f, n, &[(50, "3s"), (100, "1s")], Some("shared")).await;
    }
    let _c = f.controller_args(&["--max-canaries-per-namespace", "2"]);
    let mut stable = BTreeMap::new();
    for n in names {
        let r = f.wait_phase(n, Phase::Healthy, MINUTE).await;
        stable.insert(n, r.status.unwrap().stable_revision);
    }
    let patch = json!({"data": {"flag": "on"}});
    Api::<ConfigMap>::namespaced(f.client.clone(), f.name())
        .patch("shared", &PatchParams::default(), &Patch::Merge(patch))
        .await
        .unwrap();

    let (mut most, mut queued_seen) = (0, false);
    let start = std::time::Instant::now();
    loop {
        let all = f.rollouts().list(&Default::default()).await.unwrap().items;
        let phases: Vec<_> = all
            .iter()
            .map(|r| (r.name_any(), r.status.clone().unwrap_or_default()))
            .collect();
        let in_canary = phases
            .iter()
            .filter(|(_, s)| {
                matches!(s.phase, Phase::Progressing | Phase::RollingBack)
                    || (s.phase == Phase::Paused && s.stage.is_some())
            })
            .count();
        most = most.max(in_canary);
        queued_seen |= phases.iter().any(|(_, s)| s.phase == Phase::Queued);
        assert!(
            in_canary <= 2,
            "{in_canary} rollouts in canary at once: {:?}",
            phases.iter().map(|(n, s)| (n, s.phase)).collect::<Vec<_>>()
        );
        let done = phases
            .iter()
            .all(|(n, s)| s.phase == Phase::Healthy && s.stable_revision != stable[n.as_str()]);
        if done {
            break;
        }
        if start.elapsed() > Duration::from_secs(150) {
            f.fail(&format!(
                "not all 5 finished: {:?}",
                phases.iter().map(|(n, s)| (n, s.phase)).collect::<Vec<_>>()
            ))
            .await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(most, 2, "the cap was used");
    assert!(queued_seen, "the others waited Queued");
    f.cleanup().await;
}

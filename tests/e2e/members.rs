//! Member clusters of a multi-cluster release: each runs its own rollgate, judging with the
//! platform's Prometheus.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::PostParams;
use rollgate::api::{Phase, Rollout};

use crate::support::{Fixture, Member, deployment, error_ratio_gate, poll, rollout};

#[tokio::test(flavor = "multi_thread")]
async fn a_member_adopts_a_deployment_with_its_own_controller() {
    // The hub's namespace names the test everywhere, so its series in Prometheus are its own.
    let f = Fixture::new("member").await;
    let member = Member::start(f.env, "ring0", f.name()).await;
    let deployments: Api<Deployment> = Api::namespaced(member.client.clone(), f.name());
    let rollouts: Api<Rollout> = Api::namespaced(member.client.clone(), f.name());
    let app: Deployment = serde_json::from_value(deployment("app", 2, "app:v1")).unwrap();
    deployments
        .create(&PostParams::default(), &app)
        .await
        .unwrap();
    f.metrics("app", "stable", 50.0, 0.0).await;
    f.metrics("app", "canary", 50.0, 0.0).await;
    let spec = rollout(
        "app",
        "app",
        2,
        &[(50, "2s"), (100, "2s")],
        vec![error_ratio_gate(0.1)],
    );
    rollouts
        .create(
            &PostParams::default(),
            &serde_json::from_value(spec).unwrap(),
        )
        .await
        .unwrap();

    let healthy = poll(Duration::from_secs(60), || async {
        let r = rollouts.get("app").await.ok()?;
        r.status
            .as_ref()
            .is_some_and(|s| s.phase == Phase::Healthy)
            .then_some(())
    })
    .await;
    if healthy.is_none() {
        eprintln!("member controller log:\n{}", member.controller.log_text());
        panic!(
            "the Rollout on member {} never became Healthy: {:?}",
            member.name(),
            rollouts.get("app").await.map(|r| r.status)
        );
    }
    // The hub's own cluster knows nothing of it.
    assert!(f.rollouts().get_opt("app").await.unwrap().is_none());
    f.cleanup().await;
}

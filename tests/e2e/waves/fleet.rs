//! Three real control planes: the hub (the shared platform, also the wave-1 member), and two
//! member clusters started by the test, each with its own rollgate controller. The hub reaches
//! each member with the least-privilege credential rollgate ships. One Prometheus serves all
//! three; each cluster's gate reads its own series (`rollout="app-<cluster>"`), so a test makes
//! one cluster's release fail and no other.

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::PostParams;
use kube::{Api, Client};
use rollgate::api::{MemberState, Phase, Release, ReleasePhase, Rollout, WavePhase};
use serde_json::{Value, json};

use super::{one_hub_page, phase, release, wait_release};
use crate::incidents::{Destinations, MINUTE};
use crate::support::{ControllerProcess, Fixture, Member, deployment, hub, rollout};

/// The clusters, in wave order: the hub first (ring 0), then the members (rings 1 and 2).
const CLUSTERS: [&str; 3] = ["hub", "m1", "m2"];

struct Fleet {
    f: Fixture,
    /// The hub's controller: the hub of the Release and the hub member's rollgate.
    hub: ControllerProcess,
    members: Vec<Member>,
}

/// A gate reading only `cluster`'s series.
fn gate(cluster: &str) -> Value {
    let sel = format!(
        "namespace=\"{{{{namespace}}}}\",rollout=\"app-{cluster}\",rollgate_track=\"{{{{track}}}}\""
    );
    json!({
        "name": "error-ratio",
        "query": format!("sum(rate(http_requests_total{{{sel},code=~\"5..\"}}[5s])) / sum(rate(http_requests_total{{{sel}}}[5s]))"),
        "max": 0.05,
        "interval": "1s",
        "failureLimit": 2
    })
}

fn stages(bake: &str) -> Vec<(i32, &str)> {
    vec![(50, bake), (100, "2s")]
}

async fn rollout_on(client: &Client, ns: &str) -> Rollout {
    Api::<Rollout>::namespaced(client.clone(), ns)
        .get("app")
        .await
        .unwrap()
}

async fn image_on(client: &Client, ns: &str) -> String {
    let d: Deployment = Api::namespaced(client.clone(), ns)
        .get("app")
        .await
        .unwrap();
    d.spec.unwrap().template.spec.unwrap().containers[0]
        .image
        .clone()
        .unwrap()
}

/// Whether anyone but the member's own writers changed its target: the hub's field manager.
async fn touched_by_hub(client: &Client, ns: &str) -> bool {
    let d: Deployment = Api::namespaced(client.clone(), ns)
        .get("app")
        .await
        .unwrap();
    d.metadata
        .managed_fields
        .unwrap_or_default()
        .iter()
        .any(|m| m.manager.as_deref() == Some("rollgate-hub"))
}

impl Fleet {
    /// The app on every cluster, adopted and Healthy under a Rollout gated on its own series
    /// (cluster `slow` bakes its first stage `slow_bake`), and each registered with the hub.
    async fn start(prefix: &str, slow: Option<(&str, &str)>) -> Fleet {
        let f = Fixture::new(prefix).await;
        let ns = f.name().to_string();
        for c in CLUSTERS {
            for track in ["stable", "canary"] {
                f.metrics(&format!("app-{c}"), track, 50.0, 0.0).await;
            }
        }
        let bake = |c: &str| match slow {
            Some((s, b)) if s == c => b.to_string(),
            _ => "2s".to_string(),
        };
        let hub_bake = bake("hub");
        f.create_deployment("app", 2, "app:v1").await;
        f.create_rollout(rollout(
            "app",
            "app",
            2,
            &stages(&hub_bake),
            vec![gate("hub")],
        ))
        .await;
        let hub_controller = f.controller();
        let members = Member::start_all(f.env, &CLUSTERS[1..], &ns).await;
        for m in &members {
            let d: Deployment = serde_json::from_value(deployment("app", 2, "app:v1")).unwrap();
            Api::<Deployment>::namespaced(m.client.clone(), &ns)
                .create(&PostParams::default(), &d)
                .await
                .unwrap();
            let b = bake(m.name());
            let r: Rollout =
                serde_json::from_value(rollout("app", "app", 2, &stages(&b), vec![gate(m.name())]))
                    .unwrap();
            Api::<Rollout>::namespaced(m.client.clone(), &ns)
                .create(&PostParams::default(), &r)
                .await
                .unwrap();
        }
        f.wait_phase("app", Phase::Healthy, MINUTE).await;
        for m in &members {
            let client = m.client.clone();
            let ns = ns.clone();
            f.wait(&format!("{} adopted", m.name()), MINUTE, || {
                let (client, ns) = (client.clone(), ns.clone());
                async move {
                    let r = Api::<Rollout>::namespaced(client, &ns)
                        .get("app")
                        .await
                        .ok()?;
                    (r.status?.phase == Phase::Healthy).then_some(())
                }
            })
            .await;
        }
        f.wait_for_rates(&f.env.prometheus_url).await;
        let credential = hub::hub_credential(&f).await;
        hub::member(&f, "hub", &[("ring", "0")], &credential.kubeconfig_yaml).await;
        for (i, m) in members.iter().enumerate() {
            let credential = hub::member_credential(f.env, &m.cluster, &ns).await;
            let ring = (i + 1).to_string();
            hub::member(
                &f,
                m.name(),
                &[("ring", &ring)],
                &credential.kubeconfig_yaml,
            )
            .await;
        }
        Fleet {
            f,
            hub: hub_controller,
            members,
        }
    }

    fn member(&self, name: &str) -> &Member {
        self.members.iter().find(|m| m.name() == name).unwrap()
    }

    fn member_mut(&mut self, name: &str) -> &mut Member {
        self.members.iter_mut().find(|m| m.name() == name).unwrap()
    }

    /// A client of `cluster` (the hub's own for `hub`).
    fn client(&self, cluster: &str) -> Client {
        match cluster {
            "hub" => self.f.client.clone(),
            other => self.member(other).client.clone(),
        }
    }

    async fn revision_of(&self, cluster: &str) -> Option<String> {
        rollout_on(&self.client(cluster), self.f.name())
            .await
            .status
            .and_then(|s| s.stable_revision)
    }

    /// Canaries `cluster`'s Rollout started since it was adopted.
    async fn canaries(&self, cluster: &str) -> usize {
        let st = rollout_on(&self.client(cluster), self.f.name())
            .await
            .status
            .unwrap();
        st.history
            .iter()
            .filter(|t| t.from == Phase::Healthy && t.to == Phase::Progressing)
            .count()
    }

    async fn cleanup(self) {
        drop(self.members);
        drop(self.hub);
        self.f.cleanup().await;
    }
}

/// Three waves, one cluster each, in ring order.
fn waves(bake: &str, timeout: &str, on_failure: &str) -> Value {
    json!(
        (0..3)
            .map(|ring| json!({
                "name": format!("ring{ring}"),
                "selector": {"matchLabels": {"ring": ring.to_string()}},
                "bake": bake,
                "timeout": timeout,
                "onFailure": on_failure,
            }))
            .collect::<Vec<_>>()
    )
}

fn wave_phase(r: &Release, i: usize) -> Option<WavePhase> {
    r.status.as_ref()?.waves.get(i).map(|w| w.phase)
}

fn member_state(r: &Release, i: usize) -> Option<MemberState> {
    r.status
        .as_ref()?
        .waves
        .get(i)?
        .members
        .first()
        .map(|m| m.state)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_good_release_passes_wave_one_two_three_in_order_with_bakes_and_every_member_ends_on_it()
{
    let fleet = Fleet::start("fleet-good", None).await;
    let f = &fleet.f;
    let before = fleet.revision_of("m2").await;
    release(f, "app:v2", waves("3s", "2m", "Halt"), &[]).await;
    let done = wait_release(f, "the release Healthy", 3 * MINUTE, |r| {
        phase(r) == ReleasePhase::Healthy
    })
    .await;
    let st = done.status.unwrap();
    assert_eq!(st.waves.len(), 3);
    for (i, w) in st.waves.iter().enumerate() {
        let (start, end) = (w.started_at.unwrap(), w.finished_at.unwrap());
        assert!(
            end.duration_since(start).as_secs_f64() >= 3.0,
            "wave {i} baked: {w:?}"
        );
        if let Some(next) = st.waves.get(i + 1) {
            assert!(
                end <= next.started_at.unwrap(),
                "wave {i} ended before the next began"
            );
        }
        let m = &w.members[0];
        assert_eq!(m.cluster, CLUSTERS[i]);
        assert_eq!(m.state, MemberState::Healthy);
        assert_eq!(
            fleet.revision_of(CLUSTERS[i]).await,
            m.revision,
            "{} on the release",
            m.cluster
        );
        assert_eq!(
            image_on(&fleet.client(CLUSTERS[i]), f.name()).await,
            "app:v2"
        );
        assert_eq!(fleet.canaries(CLUSTERS[i]).await, 1);
    }
    assert_ne!(fleet.revision_of("m2").await, before);
    fleet.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gate_failure_in_wave_one_is_rolled_back_there_never_reaches_waves_two_and_three_and_pages_once()
 {
    let fleet = Fleet::start("fleet-bad1", None).await;
    let f = &fleet.f;
    let d = Destinations::create(f).await;
    f.metrics("app-hub", "canary", 50.0, 0.5).await;
    release(f, "app:bad", waves("2s", "2m", "Halt"), &["pd"]).await;
    let failed = wait_release(
        f,
        "the release Failed, its incident opened",
        2 * MINUTE,
        |r| {
            phase(r) == ReleasePhase::Failed && r.status.as_ref().is_some_and(|s| s.incident_opened)
        },
    )
    .await;
    let st = failed.status.unwrap();
    assert_eq!(st.waves.len(), 1, "waves 2 and 3 never started");
    let hub_rollout = f.wait_phase("app", Phase::RolledBack, MINUTE).await;
    let member_incident = hub_rollout.status.unwrap().incident_ref.unwrap().name;
    for m in ["m1", "m2"] {
        let client = fleet.client(m);
        assert_eq!(image_on(&client, f.name()).await, "app:v1", "{m} unchanged");
        assert!(
            !touched_by_hub(&client, f.name()).await,
            "{m} never written by the hub"
        );
    }
    one_hub_page(f, &d.pagerduty, &st, "hub", &member_incident).await;
    fleet.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_in_wave_two_under_rollback_all_returns_wave_one_to_its_previous_revision() {
    let fleet = Fleet::start("fleet-bad2", None).await;
    let f = &fleet.f;
    let previous = fleet.revision_of("hub").await;
    f.metrics("app-m1", "canary", 50.0, 0.5).await;
    release(f, "app:v2", waves("2s", "2m", "RollbackAll"), &[]).await;
    let back = wait_release(f, "the release RolledBack", 3 * MINUTE, |r| {
        phase(r) == ReleasePhase::RolledBack
    })
    .await;
    let st = back.status.unwrap();
    assert_eq!(st.waves.len(), 2, "wave 3 never started");
    assert_eq!(st.waves[0].phase, WavePhase::Passed);
    assert_eq!(st.waves[1].phase, WavePhase::Failed);
    assert_eq!(st.waves[0].members[0].state, MemberState::Restored);
    // Wave 1's member went back to the revision it ran before, through its own rollgate.
    let hub_rollout = f.wait_phase("app", Phase::Healthy, MINUTE).await;
    assert_eq!(hub_rollout.status.unwrap().stable_revision, previous);
    assert_eq!(image_on(&f.client, f.name()).await, "app:v1");
    assert_eq!(image_on(&fleet.client("m1"), f.name()).await, "app:v1");
    let m2 = fleet.client("m2");
    assert_eq!(image_on(&m2, f.name()).await, "app:v1");
    assert!(!touched_by_hub(&m2, f.name()).await);
    fleet.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_api_server_killed_mid_wave_holds_the_wave_then_fails_it_at_the_timeout() {
    // m1 bakes its first stage for a minute: it is mid-release when its API server dies.
    let mut fleet = Fleet::start("fleet-down", Some(("m1", "60s"))).await;
    release(&fleet.f, "app:v2", waves("2s", "20s", "Halt"), &[]).await;
    wait_release(&fleet.f, "wave 2 applied to m1", 2 * MINUTE, |r| {
        member_state(r, 1) == Some(MemberState::Progressing)
    })
    .await;
    fleet.member_mut("m1").cluster.kill_apiserver();
    let held = wait_release(&fleet.f, "wave 2 holding on m1", MINUTE, |r| {
        r.status.as_ref().is_some_and(|s| {
            s.waves[1].phase == WavePhase::Progressing
                && s.waves[1].members[0]
                    .seen
                    .as_ref()
                    .is_some_and(|seen| seen.error.is_some())
        })
    })
    .await;
    assert_eq!(held.status.unwrap().waves.len(), 2);
    let failed = wait_release(&fleet.f, "wave 2 failed at its timeout", MINUTE, |r| {
        wave_phase(r, 1) == Some(WavePhase::Failed)
    })
    .await;
    let st = failed.status.unwrap();
    let wave = &st.waves[1];
    let took = wave
        .finished_at
        .unwrap()
        .duration_since(wave.started_at.unwrap());
    assert!(
        took.as_secs_f64() >= 20.0,
        "failed at the timeout: {wave:?}"
    );
    assert_eq!(wave.members[0].state, MemberState::Failed);
    assert_eq!(st.phase, ReleasePhase::Failed);
    assert_eq!(st.waves.len(), 2, "wave 3 never started");
    let m2 = fleet.client("m2");
    assert_eq!(image_on(&m2, fleet.f.name()).await, "app:v1");
    assert!(!touched_by_hub(&m2, fleet.f.name()).await);
    fleet
        .member_mut("m1")
        .cluster
        .start_apiserver()
        .await
        .unwrap();
    fleet.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_hub_sigkilled_mid_wave_continues_without_repeating_or_skipping_a_wave() {
    let mut fleet = Fleet::start("fleet-kill", Some(("m1", "8s"))).await;
    release(&fleet.f, "app:v2", waves("2s", "2m", "Halt"), &[]).await;
    let mid = wait_release(&fleet.f, "wave 2 under way on m1", 2 * MINUTE, |r| {
        member_state(r, 1) == Some(MemberState::Progressing)
    })
    .await;
    fleet.hub.kill();
    let before: Vec<_> = mid
        .status
        .unwrap()
        .waves
        .iter()
        .map(|w| w.started_at)
        .collect();
    fleet.hub.restart();
    let done = wait_release(
        &fleet.f,
        "the release Healthy after the kill",
        3 * MINUTE,
        |r| phase(r) == ReleasePhase::Healthy,
    )
    .await;
    let st = done.status.unwrap();
    assert_eq!(st.waves.len(), 3);
    for (i, started) in before.iter().enumerate() {
        assert_eq!(
            &st.waves[i].started_at, started,
            "wave {i} not started again"
        );
    }
    for c in CLUSTERS {
        assert_eq!(fleet.canaries(c).await, 1, "{c} released once");
        assert_eq!(image_on(&fleet.client(c), fleet.f.name()).await, "app:v2");
    }
    fleet.cleanup().await;
}

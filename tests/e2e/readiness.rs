//! Readiness means ready: a controller started before its CRDs exist says what is missing (in
//! its log and on `/readyz`), starts once they are installed, without a restart, and exits
//! within 10 s of a SIGTERM whatever it is doing.
//!
//! CRDs are cluster-wide, and every other test relies on them on the shared platform, so this
//! test runs against a private API server (etcd and kube-apiserver only, no pods needed).

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use rollgate::api::Rollout;
use rollgate_platform::{Platform, PlatformOptions};

use crate::support::{ControllerProcess, rollout};

const NS: &str = "readiness";
/// No gate queries Prometheus here.
const NO_PROMETHEUS: &str = "http://127.0.0.1:9";
const CRDS: [&str; 4] = [
    "rollouts.rollgate.dev",
    "incidents.rollgate.dev",
    "incidentchannels.rollgate.dev",
    "freezes.rollgate.dev",
];
const MINUTE: Duration = Duration::from_secs(60);
/// What Kubernetes may wait, as the requirement has it (the pod's default grace is 30 s).
const EXIT_WITHIN: Duration = Duration::from_secs(10);

/// The controllers of this test, for their logs when it fails.
struct Controllers(Vec<ControllerProcess>);

impl Controllers {
    fn fail(&self, why: &str) -> ! {
        let logs: Vec<String> = self
            .0
            .iter()
            .map(|c| format!("---- {} ----\n{}", c.identity, c.log_text()))
            .collect();
        panic!("{why}\n{}", logs.join("\n"));
    }

    /// Polls `probe` until it yields a value, or fails with every log.
    async fn wait<T, F: Future<Output = Option<T>>>(
        &self,
        what: &str,
        timeout: Duration,
        probe: impl Fn() -> F,
    ) -> T {
        match crate::support::poll(timeout, probe).await {
            Some(v) => v,
            None => self.fail(&format!("timed out after {timeout:?} waiting for {what}")),
        }
    }

    /// SIGTERMs controller `i` and checks it is gone, cleanly, within 10 s.
    fn terminate(&mut self, i: usize, state: &str) -> Duration {
        let (took, exited) = self.0[i].terminate();
        if exited != Some(true) || took >= EXIT_WITHIN {
            self.fail(&format!(
                "SIGTERM while {state}: exited {exited:?} after {took:?} (within {EXIT_WITHIN:?} expected)"
            ));
        }
        println!("SIGTERM while {state}: exited after {took:?}");
        took
    }
}

/// Waits until controller `i` answers `/readyz` with `code` and a body containing `says`.
async fn readyz(cs: &Controllers, i: usize, code: u16, says: &str) -> String {
    cs.wait(
        &format!("/readyz of {} to answer {code} {says:?}", cs.0[i].identity),
        MINUTE,
        || async {
            let (status, body) = cs.0[i].readyz().await?;
            (status == code && body.contains(says)).then_some(body)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_controller_without_its_crds_is_unready_says_why_starts_once_they_appear_and_stops_on_sigterm()
 {
    rollgate_platform::install_crypto_provider();
    let platform = Platform::start(PlatformOptions {
        workloads: false,
        nodes: 0,
        prometheus: false,
        alertmanager: false,
        ..PlatformOptions::default()
    })
    .await
    .expect("a private API server");
    let env = platform.env().clone();
    let client = env.client().await;
    create_namespace(&client).await;

    let elect = ["--leader-elect", "--lease-namespace", NS];
    let mut cs = Controllers(vec![
        ControllerProcess::start(&env, NS, NO_PROMETHEUS),
        ControllerProcess::start_with(&env, NS, NO_PROMETHEUS, &elect),
    ]);
    let started = Instant::now();

    // Without the CRDs: not ready, and the probe and the log say which and how to install.
    for i in [0, 1] {
        let body = readyz(&cs, i, 503, "CRDs not installed").await;
        for crd in CRDS {
            assert!(body.contains(crd), "/readyz names {crd}: {body}");
        }
        assert!(
            body.contains("rollgate crds | kubectl apply -f -"),
            "{body}"
        );
    }
    let log = cs
        .wait("the log line naming the missing CRDs", MINUTE, || async {
            let log = cs.0[0].log_text();
            log.contains("rollgate CRDs are not installed")
                .then_some(log)
        })
        .await;
    for needle in CRDS
        .iter()
        .chain(&["rollgate crds | kubectl apply -f -", "Helm chart"])
    {
        assert!(log.contains(needle), "the log names {needle}:\n{log}");
    }

    // A replica waiting for its CRDs (before any lease) stops at once.
    cs.terminate(1, "waiting for the CRDs");
    // The missing CRDs are checked every 2 s but logged every 30 s, not at every check.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let said = cs.0[0]
        .log_text()
        .matches("rollgate CRDs are not installed")
        .count();
    if started.elapsed() < Duration::from_secs(29) && said != 1 {
        cs.fail(&format!("logged {said} times in {:?}", started.elapsed()));
    }
    assert_eq!(cs.0[0].readyz().await.map(|r| r.0), Some(503));

    // Installed: the waiting controller starts its watches, becomes ready and reconciles.
    rollgate::controller::crds::install(&client, "rollgate-e2e")
        .await
        .expect("install the CRDs");
    readyz(&cs, 0, 200, "ready").await;
    create_rollout(&client).await;
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), NS);
    cs.wait("the Rollout reconciled", MINUTE, || async {
        rollouts.get("app").await.ok()?.status.map(drop)
    })
    .await;

    // A follower waiting for a lease someone else holds: ready, and stops at once.
    hold_the_lease(&client).await;
    cs.0.push(ControllerProcess::start_with(
        &env,
        NS,
        NO_PROMETHEUS,
        &elect,
    ));
    readyz(&cs, 2, 200, "waiting for the leader lease").await;
    cs.terminate(2, "waiting for the leader lease");

    // Running, with a Rollout in its caches.
    cs.terminate(0, "running");
    platform.shutdown().await;
}

async fn create_namespace(client: &Client) {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(NS.into()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create the namespace");
}

/// A Deployment (its pods never start here: no scheduler, no nodes) and its Rollout.
async fn create_rollout(client: &Client) {
    let d: Deployment =
        serde_json::from_value(crate::support::deployment("app", 2, "app:v1")).unwrap();
    Api::<Deployment>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &d)
        .await
        .expect("create the Deployment");
    let r: Rollout =
        serde_json::from_value(rollout("app", "app", 2, &[(50, "1s"), (100, "1s")], vec![]))
            .unwrap();
    Api::<Rollout>::namespaced(client.clone(), NS)
        .create(&PostParams::default(), &r)
        .await
        .expect("create the Rollout");
}

/// The controllers' Lease, held by someone else for an hour.
async fn hold_the_lease(client: &Client) {
    let now = MicroTime(jiff::Timestamp::now());
    let lease = Lease {
        metadata: ObjectMeta {
            name: Some("rollgate".into()),
            ..Default::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some("someone-else".into()),
            lease_duration_seconds: Some(3600),
            acquire_time: Some(now.clone()),
            renew_time: Some(now),
            ..Default::default()
        }),
    };
    let leases: Api<Lease> = Api::namespaced(client.clone(), NS);
    // The running controller takes no lease (it runs without election): this one is free.
    leases
        .create(&PostParams::default(), &lease)
        .await
        .expect("create the Lease");
}

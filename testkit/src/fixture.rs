//! One test's world: the shared platform, the CRDs installed once, a namespace of its own, and
//! waits that print the cluster (and the controller's log) when they time out.

use std::future::Future;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use rollgate::api::{Phase, Rollout};
use rollgate::plan::{Request, Verb};
use rollgate_platform::{PlatformEnv, Series, TestNamespace};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

use crate::process::ControllerProcess;
use crate::specs::{deployment, rollout};

pub const TRACK: &str = "rollgate.dev/track";
pub const POD_REVISION: &str = "rollgate.dev/revision";

static CRDS: OnceCell<()> = OnceCell::const_new();

/// One test's world: the platform, a fresh namespace with the CRDs, a client.
pub struct Fixture {
    pub env: &'static PlatformEnv,
    pub ns: TestNamespace,
    pub client: Client,
}

impl Fixture {
    pub async fn new(prefix: &str) -> Fixture {
        rollgate_platform::install_crypto_provider();
        let env = rollgate_platform::shared();
        CRDS.get_or_init(|| async { crate::install_crds(&env.client().await).await })
            .await;
        let mut ns = TestNamespace::create(env, prefix)
            .await
            .expect("test namespace");
        ns.dump_also("rollouts.rollgate.dev");
        let client = ns.client().clone();
        Fixture { env, ns, client }
    }

    pub fn name(&self) -> &str {
        &self.ns.name
    }

    pub fn rollouts(&self) -> Api<Rollout> {
        Api::namespaced(self.client.clone(), self.name())
    }

    pub fn deployments(&self) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), self.name())
    }

    /// Starts a controller process for this namespace.
    pub fn controller(&self) -> ControllerProcess {
        ControllerProcess::start(self.env, self.name(), &self.env.prometheus_url)
    }

    /// Starts a controller process for this namespace that asks `prometheus_url`.
    pub fn controller_with(&self, prometheus_url: &str) -> ControllerProcess {
        ControllerProcess::start(self.env, self.name(), prometheus_url)
    }

    /// Starts a controller process for this namespace with extra flags.
    pub fn controller_args(&self, args: &[&str]) -> ControllerProcess {
        ControllerProcess::start_with(self.env, self.name(), &self.env.prometheus_url, args)
    }

    /// Adopts `app` (4 pods of image app:v1, healthy metrics on both tracks) under a Rollout
    /// with `stages` and `gates`, started with `controller`, and waits until it is Healthy and
    /// `prometheus_url` has the rates of both tracks (so gates see data, not a warming cache).
    pub async fn adopted(
        &self,
        stages: &[(i32, &str)],
        gates: Vec<Value>,
        prometheus_url: &str,
    ) -> ControllerProcess {
        self.create_deployment("app", 4, "app:v1").await;
        self.metrics("app", "stable", 50.0, 0.0).await;
        self.metrics("app", "canary", 50.0, 0.0).await;
        self.create_rollout(rollout("app", "app", 4, stages, gates))
            .await;
        let c = self.controller_with(prometheus_url);
        self.wait_phase("app", Phase::Healthy, Duration::from_secs(60))
            .await;
        self.wait_for_rates(prometheus_url).await;
        c
    }

    /// Waits until Prometheus computes a request rate for both tracks of this namespace.
    pub async fn wait_for_rates(&self, prometheus_url: &str) {
        self.wait(
            "request rates of both tracks in Prometheus",
            Duration::from_secs(60),
            || async {
                both_tracks_have_rates(prometheus_url, self.name())
                    .await
                    .then_some(())
            },
        )
        .await;
    }

    /// A Deployment `name` with `replicas` pods, and healthy traffic on both of its tracks.
    pub async fn app(&self, name: &str, replicas: i32) -> Deployment {
        let d = self.create_deployment(name, replicas, "app:v1").await;
        self.metrics(name, "stable", 50.0, 0.0).await;
        self.metrics(name, "canary", 50.0, 0.0).await;
        d
    }

    /// The revision `name` has verified as stable.
    pub async fn stable_revision(&self, name: &str) -> String {
        self.rollout(name)
            .await
            .status
            .and_then(|s| s.stable_revision)
            .unwrap_or_else(|| panic!("{name} has no stable revision"))
    }

    /// The first Incident of this namespace, once there is one.
    pub async fn first_incident(&self) -> rollgate::api::Incident {
        let incidents: Api<rollgate::api::Incident> =
            Api::namespaced(self.client.clone(), self.name());
        self.wait("the incident", Duration::from_secs(60), || async {
            incidents
                .list(&ListParams::default())
                .await
                .ok()?
                .items
                .into_iter()
                .next()
        })
        .await
    }

    /// A Deployment `name` with `replicas` pods labelled `app=<name>`, running `image`.
    pub async fn create_deployment(&self, name: &str, replicas: i32, image: &str) -> Deployment {
        let d: Deployment = serde_json::from_value(deployment(name, replicas, image)).unwrap();
        self.deployments()
            .create(&PostParams::default(), &d)
            .await
            .expect("create deployment")
    }

    /// Changes the image of the Deployment's container: a new release.
    pub async fn set_image(&self, name: &str, image: &str) {
        let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}});
        self.deployments()
            .patch(name, &PatchParams::default(), &Patch::Strategic(patch))
            .await
            .expect("set image");
    }

    pub async fn create_rollout(&self, rollout: Value) -> Rollout {
        let r: Rollout = serde_json::from_value(rollout).expect("rollout json");
        self.rollouts()
            .create(&PostParams::default(), &r)
            .await
            .expect("create rollout")
    }

    pub async fn rollout(&self, name: &str) -> Rollout {
        self.rollouts().get(name).await.expect("get rollout")
    }

    /// Asks for a manual action the way the CLI does: the request annotation.
    pub async fn request(&self, rollout: &str, action: Verb) {
        let id = format!(
            "{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let value = Request::new(action, id).encode();
        let patch = json!({"metadata": {"annotations": {rollgate::api::keys::REQUEST: value}}});
        self.rollouts()
            .patch(rollout, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .expect("request");
    }

    /// Waits until `check` holds on the Rollout, or fails the test with the cluster's state.
    pub async fn wait_rollout(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        check: impl Fn(&Rollout) -> bool,
    ) -> Rollout {
        self.wait(what, timeout, || async {
            let r = self.rollouts().get(name).await.ok()?;
            check(&r).then_some(r)
        })
        .await
    }

    pub async fn wait_phase(&self, name: &str, phase: Phase, timeout: Duration) -> Rollout {
        self.wait_rollout(
            name,
            &format!("rollout {name} to be {phase:?}"),
            timeout,
            |r| r.status.as_ref().is_some_and(|s| s.phase == phase),
        )
        .await
    }

    /// Polls `probe` until it yields a value; fails with the cluster's state on timeout.
    pub async fn wait<T, F: Future<Output = Option<T>>>(
        &self,
        what: &str,
        timeout: Duration,
        probe: impl Fn() -> F,
    ) -> T {
        match poll(timeout, probe).await {
            Some(v) => v,
            None => {
                self.fail(&format!("timed out after {timeout:?} waiting for {what}"))
                    .await
            }
        }
    }

    /// Fails the test, printing what the namespace looks like.
    pub async fn fail(&self, why: &str) -> ! {
        let dump = self.ns.dump().await;
        panic!(
            "{why}\n---- namespace {} ----\n{dump}\n{}",
            self.name(),
            controller_logs(self.env, self.name())
        );
    }

    /// Ready pods selected by `app=<app>`, as (name, track, revision, image).
    pub async fn ready_pods(&self, app: &str) -> Vec<(String, String, String, String)> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), self.name());
        let list = pods
            .list(&ListParams::default().labels(&format!("app={app}")))
            .await
            .expect("list pods");
        list.items
            .into_iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none() && is_ready(p))
            .map(|p| {
                let l = p.labels().clone();
                let image = p
                    .spec
                    .as_ref()
                    .and_then(|s| s.containers.first())
                    .and_then(|c| c.image.clone())
                    .unwrap_or_default();
                (
                    p.name_any(),
                    l.get(TRACK).cloned().unwrap_or_default(),
                    l.get(POD_REVISION).cloned().unwrap_or_default(),
                    image,
                )
            })
            .collect()
    }

    /// Waits until the Rollout's Event reasons (oldest first) satisfy `check`, and returns them.
    /// Events are published in the background after the status write (a reconcile never waits
    /// on them), so a test that has seen the status must still wait for its Events.
    pub async fn wait_events(
        &self,
        rollout: &str,
        what: &str,
        check: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        self.wait(what, Duration::from_secs(60), || async {
            let reasons = self.event_reasons(rollout).await;
            check(&reasons).then_some(reasons)
        })
        .await
    }

    /// Waits for an Event with `reason` on the Rollout.
    pub async fn wait_event(&self, rollout: &str, reason: &str) {
        self.wait_events(rollout, &format!("a {reason} Event on {rollout}"), |r| {
            r.iter().any(|x| x == reason)
        })
        .await;
    }

    /// Event reasons recorded for the Rollout, oldest first.
    pub async fn event_reasons(&self, rollout: &str) -> Vec<String> {
        let api: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.client.clone(), self.name());
        let mut events: Vec<_> = api
            .list(&ListParams::default())
            .await
            .expect("list events")
            .items
            .into_iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(rollout))
            .collect();
        // eventTime has microseconds: events of one reconcile keep their order.
        events.sort_by_key(|e| {
            e.event_time
                .clone()
                .map(|t| t.0)
                .or(e.metadata.creation_timestamp.clone().map(|t| t.0))
        });
        events.into_iter().filter_map(|e| e.reason).collect()
    }

    /// Sets a series on the test exporter for this namespace.
    pub async fn metrics(&self, rollout: &str, track: &str, rps: f64, error_ratio: f64) {
        let s = Series::new(self.name(), rollout, track, "any")
            .rps(rps)
            .error_ratio(error_ratio)
            .latency_seconds(0.05);
        self.env.exporter().set(&s).await.expect("exporter");
    }

    /// Sets a series with Poisson noise drawn from `seed` (the same noise every run).
    pub async fn noisy_metrics(
        &self,
        rollout: &str,
        track: &str,
        rps: f64,
        error_ratio: f64,
        seed: u64,
    ) {
        let s = Series::new(self.name(), rollout, track, "any")
            .rps(rps)
            .error_ratio(error_ratio)
            .latency_seconds(0.05)
            .poisson(seed);
        self.env.exporter().set(&s).await.expect("exporter");
    }

    pub async fn cleanup(self) {
        let _ = self.env.exporter().clear_namespace(self.name()).await;
        self.ns.cleanup().await;
    }
}

/// The last lines of every controller log of a namespace.
pub(crate) fn controller_logs(env: &PlatformEnv, namespace: &str) -> String {
    let prefix = format!("controller-{namespace}-");
    let mut out = String::new();
    for entry in std::fs::read_dir(&env.work_dir)
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().to_string();
        if name.starts_with(&prefix) {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let lines: Vec<_> = text.lines().collect();
            out += &format!(
                "---- {name} (last 60 lines) ----\n{}\n",
                lines[lines.len().saturating_sub(60)..].join("\n")
            );
        }
    }
    out
}

fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Whether Prometheus at `prometheus_url` computes a request rate for both tracks of
/// `namespace`: gates then see data, not a warming cache.
pub async fn both_tracks_have_rates(prometheus_url: &str, namespace: &str) -> bool {
    let pool = rollgate::prometheus::PrometheusPool::default();
    let endpoint = rollgate::prometheus::Endpoint {
        address: prometheus_url.into(),
        bearer_token: None,
        ca_pem: None,
    };
    let query = format!(
        "count(sum by (rollgate_track) (rate(http_requests_total{{namespace=\"{namespace}\"}}[5s])) > 0)"
    );
    pool.query(&endpoint, &query, jiff::Timestamp::now())
        .await
        .is_ok_and(|v| v.first() == Some(&2.0))
}

/// Asks `probe` every 200 ms until it yields a value, for at most `timeout` (then `None`: the
/// caller says what it waited for, with the logs it has).
pub async fn poll<T, F: Future<Output = Option<T>>>(
    timeout: Duration,
    probe: impl Fn() -> F,
) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return Some(v);
        }
        if start.elapsed() > timeout {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

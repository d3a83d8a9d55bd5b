//! What every e2e test needs: the shared platform, the CRDs installed once, a namespace of its
//! own, a controller process of its own, and waits that print the cluster when they time out.

use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use rollgate::api::{Phase, Rollout};
use rollgate::plan::{Action, Request};
use rollgate_platform::{PlatformEnv, Series, TestNamespace};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

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
        CRDS.get_or_init(|| async {
            rollgate::controller::crds::install(&env.client().await, "rollgate-e2e")
                .await
                .expect("install the CRDs")
        })
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
        let pool = rollgate::prometheus::PrometheusPool::default();
        let endpoint = rollgate::prometheus::Endpoint {
            address: prometheus_url.into(),
            bearer_token: None,
            ca_pem: None,
        };
        let query = format!(
            "count(sum by (rollgate_track) (rate(http_requests_total{{namespace=\"{}\"}}[5s])) > 0)",
            self.name()
        );
        self.wait(
            "request rates of both tracks in Prometheus",
            Duration::from_secs(60),
            || async {
                let v = pool
                    .query(&endpoint, &query, jiff::Timestamp::now())
                    .await
                    .ok()?;
                (v.first() == Some(&2.0)).then_some(())
            },
        )
        .await;
    }

    /// A Deployment `name` with `replicas` pods labelled `app=<name>`, running `image`.
    pub async fn create_deployment(&self, name: &str, replicas: i32, image: &str) -> Deployment {
        let d: Deployment = serde_json::from_value(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {
                        "containers": [{"name": "app", "image": image}],
                        "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}]
                    }
                }
            }
        }))
        .unwrap();
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
    pub async fn request(&self, rollout: &str, action: Action) {
        let id = format!(
            "{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let value = Request::new(action, id).encode();
        let patch =
            json!({"metadata": {"annotations": {rollgate::plan::request::ANNOTATION: value}}});
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

    /// Polls `probe` every 200 ms until it yields a value.
    pub async fn wait<T, F: Future<Output = Option<T>>>(
        &self,
        what: &str,
        timeout: Duration,
        probe: impl Fn() -> F,
    ) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = probe().await {
                return v;
            }
            if start.elapsed() > timeout {
                self.fail(&format!("timed out after {timeout:?} waiting for {what}"))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
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

    pub async fn cleanup(self) {
        let _ = self.env.exporter().clear_namespace(self.name()).await;
        self.ns.cleanup().await;
    }
}

/// The last lines of every controller log of a namespace.
fn controller_logs(env: &PlatformEnv, namespace: &str) -> String {
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

/// A controller process watching one namespace; killed when dropped.
pub struct ControllerProcess {
    child: Option<Child>,
    env: PlatformEnv,
    namespace: String,
    prometheus_url: String,
    extra: Vec<String>,
    /// A crash point (`ROLLGATE_CRASH_AT`) the process aborts at, if any.
    crash_at: Option<String>,
    /// Where this process serves /metrics, /healthz and /readyz.
    pub metrics_port: u16,
    /// Its leader-election identity.
    pub identity: String,
    pub log: std::path::PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl ControllerProcess {
    pub fn start(env: &PlatformEnv, namespace: &str, prometheus_url: &str) -> Self {
        Self::start_with(env, namespace, prometheus_url, &[])
    }

    pub fn start_with(
        env: &PlatformEnv,
        namespace: &str,
        prometheus_url: &str,
        extra: &[&str],
    ) -> Self {
        let identity = format!("controller-{}", free_port());
        // One log per process (restarts append): what each replica said stays apart.
        let log = env.work_dir.join(format!(
            "controller-{namespace}-{}-{identity}.log",
            std::process::id()
        ));
        let mut p = ControllerProcess {
            child: None,
            env: env.clone(),
            namespace: namespace.into(),
            prometheus_url: prometheus_url.into(),
            extra: extra.iter().map(|a| a.to_string()).collect(),
            crash_at: None,
            metrics_port: free_port(),
            identity,
            log,
        };
        p.spawn();
        p
    }

    fn spawn(&mut self) {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("controller log");
        let child = Command::new(env!("CARGO_BIN_EXE_rollgate"))
            .args([
                "controller",
                "--namespace",
                &self.namespace,
                "--prometheus-url",
                &self.prometheus_url,
            ])
            .args([
                "--metrics-addr",
                &format!("127.0.0.1:{}", self.metrics_port),
            ])
            .args(&self.extra)
            .envs(self.crash_at.iter().map(|p| ("ROLLGATE_CRASH_AT", p)))
            .env("POD_NAME", &self.identity)
            .env("KUBECONFIG", &self.env.kubeconfig)
            .env("RUST_LOG", "info,rollgate=debug,kube_runtime=warn")
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("start the rollgate controller");
        self.child = Some(child);
    }

    /// SIGKILL: the controller gets no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Restarts the process so that it aborts when it reaches crash point `point`.
    pub fn crash_at(&mut self, point: &str) {
        self.crash_at = Some(point.to_string());
        self.restart();
    }

    /// Waits until the process has exited by itself (at its crash point); false on timeout.
    pub async fn exited_within(&mut self, timeout: Duration) -> bool {
        let started = std::time::Instant::now();
        while started.elapsed() < timeout {
            if let Some(c) = self.child.as_mut()
                && c.try_wait().ok().flatten().is_some()
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Starts a fresh process without a crash point (a restarted controller).
    pub fn recover(&mut self) {
        self.crash_at = None;
        self.restart();
    }

    /// SIGTERM, as Kubernetes stops a pod; waits up to 30 s for the exit. Returns how long the
    /// process took to exit, and whether it exited successfully (`None`: it did not exit).
    pub fn terminate(&mut self) -> (Duration, Option<bool>) {
        let Some(mut child) = self.child.take() else {
            return (Duration::ZERO, None);
        };
        let sent = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        while sent.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(status)) = child.try_wait() {
                return (sent.elapsed(), Some(status.success()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        (sent.elapsed(), None)
    }

    /// `/readyz` as (status, body), or `None` while nothing answers.
    pub async fn readyz(&self) -> Option<(u16, String)> {
        let r = reqwest::get(format!("http://127.0.0.1:{}/readyz", self.metrics_port))
            .await
            .ok()?;
        Some((r.status().as_u16(), r.text().await.ok()?))
    }

    /// Everything the process logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The error-ratio gate used across tests: canary 5xx share over the last 5 s.
pub fn error_ratio_gate(max: f64) -> Value {
    json!({
        "name": "error-ratio",
        "query": "sum(rate(http_requests_total{namespace=\"{{namespace}}\",rollgate_track=\"{{track}}\",code=~\"5..\"}[5s])) / sum(rate(http_requests_total{namespace=\"{{namespace}}\",rollgate_track=\"{{track}}\"}[5s]))",
        "max": max,
        "interval": "1s",
        "failureLimit": 2
    })
}

/// A Rollout of `target` with the given stages (weight, bake) and gates.
pub fn rollout(
    name: &str,
    target: &str,
    replicas: i32,
    stages: &[(i32, &str)],
    gates: Vec<Value>,
) -> Value {
    let stages: Vec<Value> = stages
        .iter()
        .map(|(w, b)| json!({"weight": w, "bake": b}))
        .collect();
    json!({
        "apiVersion": "rollgate.dev/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "targetRef": {"kind": "Deployment", "name": target},
            "replicas": replicas,
            "stages": stages,
            "gates": gates,
            "progressDeadline": "60s",
            "verifyAfterRollback": "5s"
        }
    })
}

//! What every CLI test needs (copied from tests/e2e/support.rs, trimmed: test binaries do not
//! share modules): the shared platform, the CRDs installed once, a namespace of its own, a
//! controller process of its own, waits that print the cluster when they time out, and the
//! `rollgate` binary run with the platform's kubeconfig.

use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use rollgate::api::{Phase, Rollout};
use rollgate_platform::{PlatformEnv, Series, TestNamespace};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

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
        CRDS.get_or_init(|| async { install_crds(&env.client().await).await })
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

    /// Waits until Prometheus computes a request rate for both tracks of this namespace.
    pub async fn wait_for_rates(&self, prometheus_url: &str) {
        let pool = rollgate::gates::PrometheusPool::default();
        let endpoint = rollgate::gates::Endpoint {
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

async fn install_crds(client: &Client) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in rollgate::api::crds() {
        let name = crd.name_any();
        api.patch(
            &name,
            &PatchParams::apply("rollgate-e2e").force(),
            &Patch::Apply(&crd),
        )
        .await
        .expect("apply CRD");
        let start = Instant::now();
        loop {
            let c = api.get(&name).await.expect("get CRD");
            let established = c.status.and_then(|s| s.conditions).is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
            if established {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "CRD {name} not established"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A controller process watching one namespace; killed when dropped.
pub struct ControllerProcess {
    child: Option<Child>,
    env: &'static PlatformEnv,
    namespace: String,
    prometheus_url: String,
    extra: Vec<String>,
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
    pub fn start(env: &'static PlatformEnv, namespace: &str, prometheus_url: &str) -> Self {
        Self::start_with(env, namespace, prometheus_url, &[])
    }

    pub fn start_with(
        env: &'static PlatformEnv,
        namespace: &str,
        prometheus_url: &str,
        extra: &[&str],
    ) -> Self {
        let log = env
            .work_dir
            .join(format!("controller-{namespace}-{}.log", std::process::id()));
        let mut p = ControllerProcess {
            child: None,
            env,
            namespace: namespace.into(),
            prometheus_url: prometheus_url.into(),
            extra: extra.iter().map(|a| a.to_string()).collect(),
            metrics_port: free_port(),
            identity: format!("controller-{}", free_port()),
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

/// What one run of the `rollgate` binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The `rollgate` binary under test, with the platform's kubeconfig and a known $USER.
pub fn rollgate(env: &PlatformEnv) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_rollgate"));
    c.env("KUBECONFIG", &env.kubeconfig)
        .env("USER", USER)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    c
}

/// `$USER` of every CLI run: the default of `--by`.
pub const USER: &str = "cli-tester";

/// Runs `rollgate ARGS` (nothing added).
pub async fn run(env: &PlatformEnv, args: &[&str]) -> Run {
    let out = rollgate(env)
        .args(args)
        .output()
        .await
        .expect("run the rollgate binary");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Fixture {
    /// Runs `rollgate ARGS -n <this namespace>`.
    pub async fn cli(&self, args: &[&str]) -> Run {
        let mut all = args.to_vec();
        all.extend(["-n", self.name()]);
        run(self.env, &all).await
    }

    /// Runs `rollgate ARGS -n <this namespace>`, which must succeed; its stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let r = self.cli(args).await;
        if r.code != 0 {
            self.fail(&format!(
                "rollgate {args:?} exited {}: {}{}",
                r.code, r.stdout, r.stderr
            ))
            .await;
        }
        r.stdout
    }

    /// Runs `rollgate ARGS -n <this namespace> -o json`, which must succeed; the document.
    pub async fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-o", "json"]);
        let out = self.ok(&all).await;
        serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("rollgate {all:?}: not JSON ({e}): {out}"))
    }

    /// A Deployment and a Rollout `app` (2 pods, no gates) with `stages`, a controller, and
    /// the Rollout Healthy.
    pub async fn simple_app(&self, stages: &[(i32, &str)]) -> ControllerProcess {
        self.create_deployment("app", 2, "app:v1").await;
        self.create_rollout(rollout("app", "app", 2, stages, vec![]))
            .await;
        let c = self.controller();
        self.wait_phase("app", Phase::Healthy, Duration::from_secs(60))
            .await;
        c
    }

    /// Waits until the current stage of `app` has index `index` and bakes.
    pub async fn wait_baking(&self, index: i32) -> Rollout {
        self.wait_rollout(
            "app",
            &format!("stage {index} baking"),
            Duration::from_secs(60),
            |r| {
                r.status.as_ref().is_some_and(|s| {
                    s.phase == Phase::Progressing
                        && s.stage
                            .as_ref()
                            .is_some_and(|st| st.index == index && st.bake_until.is_some())
                })
            },
        )
        .await
    }
}

//! A controller process with nothing but the chart's rights (the ServiceAccount's token, the
//! rendered args and env, the admission policy in force) does its whole job: adoption, a config
//! release (snapshots), a bad image release rolled back by itself on a failing gate (Incident
//! delivered), the hand-back. Once with the cluster-wide rights, once with a watched namespace.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use rollgate::api::{Incident, IncidentChannel, Phase, Rollout};
use rollgate_platform::{Receiver, Series};
use serde_json::{Value, json};

use crate::helm::find;
use crate::install::Installed;

/// The controller binary run as the chart's pod would run it: the rendered args and env, the
/// ServiceAccount's token, nothing else.
struct Controller {
    child: Child,
    log: PathBuf,
}

impl Controller {
    fn start(chart: &Installed, kubeconfig: &PathBuf) -> Controller {
        let container =
            &find(&chart.objects, "Deployment")["spec"]["template"]["spec"]["containers"][0];
        let supports_leader_election = String::from_utf8_lossy(
            &Command::new(env!("CARGO_BIN_EXE_rollgate"))
                .args(["controller", "--help"])
                .output()
                .expect("rollgate controller --help")
                .stdout,
        )
        .contains("--leader-elect");
        // Until the controller has the flag, run without it (see docs/CLI.md, "Helm chart").
        let args: Vec<String> = container["args"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .filter(|a| supports_leader_election || *a != "--leader-elect")
            .map(str::to_string)
            .collect();
        let log = chart
            .env
            .work_dir
            .join(format!("controller-{}-chart.log", chart.ns.name));
        let out = std::fs::File::create(&log).expect("controller log");
        let mut command = Command::new(env!("CARGO_BIN_EXE_rollgate"));
        if !args.iter().any(|a| a.starts_with("--namespace=")) {
            // Cluster mode: the rights are cluster-wide, but the process is kept to the test's
            // namespace, as the other tests' Rollouts on the shared platform are not its business.
            command.env("ROLLGATE_NAMESPACE", chart.apps());
        }
        let child = command
            .args(&args)
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAME", format!("{}-0", chart.ns.name))
            .env("POD_NAMESPACE", &chart.ns.name)
            // Other controllers of the test run listen too: any free port for /metrics.
            .env("ROLLGATE_METRICS_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "info,rollgate=debug,kube_runtime=warn")
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("start the controller");
        Controller { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn wait_for<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    controller: &Controller,
    probe: impl Fn() -> F,
) -> T {
    rollgate_testkit::poll(Duration::from_secs(90), probe)
        .await
        .unwrap_or_else(|| {
            panic!(
                "timed out waiting for {what}\n---- controller log ----\n{}",
                controller.log()
            )
        })
}

/// A Deployment `app` of 3 pods mounting ConfigMap `app-config`, under a Rollout gated on the
/// test exporter's error ratio, whose incidents go to a signed webhook (`receiver`).
async fn app(chart: &Installed, receiver: &Receiver) {
    let ns = chart.apps();
    let exporter = rollgate_platform::shared().exporter();
    for track in ["stable", "canary"] {
        exporter
            .set(
                &Series::new(ns, "app", track, "any")
                    .rps(50.0)
                    .error_ratio(0.0),
            )
            .await
            .expect("exporter");
    }
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "oncall"}, "stringData": {"signingSecret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
    }))
    .unwrap();
    Api::<Secret>::namespaced(chart.admin.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");
    let channel: IncidentChannel = serde_json::from_value(json!({
        "apiVersion": "rollgate.dev/v1alpha1", "kind": "IncidentChannel", "metadata": {"name": "oncall"},
        "spec": {"type": "webhook", "url": receiver.url(), "secretRef": {"name": "oncall"}}
    }))
    .unwrap();
    Api::<IncidentChannel>::namespaced(chart.admin.clone(), ns)
        .create(&PostParams::default(), &channel)
        .await
        .expect("channel");
    let config: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "app-config"}, "data": {"mode": "safe"}
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(chart.admin.clone(), ns)
        .create(&PostParams::default(), &config)
        .await
        .expect("create config");
    let app: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "app"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "app"}},
            "template": {
                "metadata": {"labels": {"app": "app"}},
                "spec": {
                    "containers": [{"name": "app", "image": "app:v1",
                        "volumeMounts": [{"name": "config", "mountPath": "/etc/app"}],
                        "securityContext": {
                            "runAsNonRoot": true, "runAsUser": 1000, "allowPrivilegeEscalation": false,
                            "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}}],
                    "volumes": [{"name": "config", "configMap": {"name": "app-config"}}],
                    "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}]
                }
            }
        }
    }))
    .unwrap();
    Api::<Deployment>::namespaced(chart.admin.clone(), ns)
        .create(&PostParams::default(), &app)
        .await
        .expect("create app");
    let mut rollout = rollgate_testkit::rollout(
        "app",
        "app",
        3,
        &[(34, "4s"), (100, "1s")],
        vec![rollgate_testkit::error_ratio_gate(0.05)],
    );
    rollout["spec"]["progressDeadline"] = "60s".into();
    rollout["spec"]["incident"] = json!({"severity": "sev2", "channels": ["oncall"]});
    let rollout: Rollout = serde_json::from_value(rollout).unwrap();
    Api::<Rollout>::namespaced(chart.admin.clone(), ns)
        .create(&PostParams::default(), &rollout)
        .await
        .expect("create rollout");
}

/// Waits until the Rollout is in `phase` with a stable revision other than `not`.
async fn settled(
    rollouts: &Api<Rollout>,
    controller: &Controller,
    phase: Phase,
    not: Option<&str>,
) -> String {
    let what = format!("rollout app {phase:?} (stable revision other than {not:?})");
    wait_for(&what, controller, || async move {
        let s = rollouts.get("app").await.ok()?.status?;
        let stable = s.stable_revision?;
        (s.phase == phase && Some(stable.as_str()) != not).then_some(stable)
    })
    .await
}

#[tokio::test]
async fn a_controller_with_only_the_charts_cluster_rights_runs_releases_config_and_incidents() {
    let prometheus = rollgate_platform::shared().prometheus_url.clone();
    let chart = Installed::new("chart-run", |_| {
        vec![format!("prometheus.url={prometheus}")]
    })
    .await;
    runs_releases_config_and_incidents(chart).await;
}

#[tokio::test]
async fn a_controller_with_only_the_charts_namespaced_rights_runs_releases_config_and_incidents() {
    let prometheus = rollgate_platform::shared().prometheus_url.clone();
    let chart = Installed::watching("chart-run-ns", |_| {
        vec![format!("prometheus.url={prometheus}")]
    })
    .await;
    runs_releases_config_and_incidents(chart).await;
}

async fn runs_releases_config_and_incidents(chart: Installed) {
    let prometheus = rollgate_platform::shared().prometheus_url.clone();
    let (kubeconfig, sa) = chart.service_account_login().await;
    // Every write below goes through the admission policy as well as RBAC.
    chart.wait_policy_enforced(&sa).await;
    let controller = Controller::start(&chart, &kubeconfig);
    let ns = chart.apps().to_string();
    let deployments: Api<Deployment> = Api::namespaced(chart.admin.clone(), &ns);
    let rollouts: Api<Rollout> = Api::namespaced(chart.admin.clone(), &ns);
    let configs: Api<ConfigMap> = Api::namespaced(chart.admin.clone(), &ns);
    let receiver = Receiver::start().expect("a local on-call receiver");
    app(&chart, &receiver).await;
    let adopted = settled(&rollouts, &controller, Phase::Healthy, None).await;

    // A config release: the controller snapshots the ConfigMap (configmaps create).
    let edit = json!({"data": {"mode": "fast"}});
    configs
        .patch("app-config", &PatchParams::default(), &Patch::Merge(edit))
        .await
        .expect("edit config");
    let configured = settled(&rollouts, &controller, Phase::Healthy, Some(&adopted)).await;
    let snapshots = configs
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|c| c.name_any().starts_with("app-config-"))
        .count();
    assert!(snapshots >= 1, "no snapshot of app-config was made");

    // A bad image release, rolled back by itself on the failing gate, and its Incident
    // delivered (incidents create, status patch; channel and Secret read).
    wait_for(
        "request rates of both tracks in Prometheus",
        &controller,
        || async {
            rollgate_testkit::both_tracks_have_rates(&prometheus, &ns)
                .await
                .then_some(())
        },
    )
    .await;
    let exporter = rollgate_platform::shared().exporter();
    exporter
        .set(
            &Series::new(&ns, "app", "canary", "any")
                .rps(50.0)
                .error_ratio(0.5),
        )
        .await
        .expect("exporter");
    let image = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}}});
    deployments
        .patch("app", &PatchParams::default(), &Patch::Strategic(image))
        .await
        .expect("new image");
    settled(&rollouts, &controller, Phase::RolledBack, None).await;
    let incidents: Api<Incident> = Api::namespaced(chart.admin.clone(), &ns);
    wait_for(
        "an Incident delivered to the webhook",
        &controller,
        || async {
            let list = incidents.list(&Default::default()).await.ok()?;
            list.items.into_iter().find(|i| {
                i.spec.reason == "GateFailed"
                    && i.status.as_ref().is_some_and(|s| {
                        !s.deliveries.is_empty()
                            && s.deliveries
                                .iter()
                                .all(|d| d.state == rollgate::api::DeliveryState::Delivered)
                    })
            })
        },
    )
    .await;
    assert!(
        !receiver.requests().is_empty(),
        "the webhook received the incident"
    );
    let stable = rollouts
        .get("app")
        .await
        .unwrap()
        .status
        .unwrap()
        .stable_revision;
    assert_eq!(
        stable.as_deref(),
        Some(configured.as_str()),
        "stable kept the config release"
    );

    // The hand-back: the finalizer comes off, the target gets its replicas back.
    rollouts
        .delete("app", &DeleteParams::default())
        .await
        .expect("delete rollout");
    wait_for("the hand-back of the Deployment", &controller, || async {
        let gone = rollouts.get_opt("app").await.ok()?.is_none();
        let replicas = deployments.get("app").await.ok()?.spec?.replicas;
        (gone && replicas == Some(3)).then_some(())
    })
    .await;
    let log = controller.log();
    assert!(
        !log.contains("forbidden"),
        "the controller was refused something:\n{log}"
    );
    drop(controller);
    chart.cleanup().await;
}

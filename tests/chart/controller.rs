//! A controller process with nothing but the chart's rights (the ServiceAccount's token, the
//! rendered args and env) takes a release through: adoption, a promotion, the hand-back.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use rollgate::api::{Phase, Rollout};
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
        let child = Command::new(env!("CARGO_BIN_EXE_rollgate"))
            .args(&args)
            .env("KUBECONFIG", kubeconfig)
            .env("POD_NAME", format!("{}-0", chart.ns.name))
            .env("POD_NAMESPACE", &chart.ns.name)
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
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "timed out waiting for {what}\n---- controller log ----\n{}",
            controller.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_controller_with_only_the_charts_rights_takes_a_release_through() {
    let prometheus = rollgate_platform::shared().prometheus_url.clone();
    let chart = Installed::new("chart-run", |ns| {
        vec![
            format!("watchNamespace={ns}"),
            format!("prometheus.url={prometheus}"),
        ]
    })
    .await;
    let (kubeconfig, _) = chart.service_account_login().await;
    let controller = Controller::start(&chart, &kubeconfig);
    let ns = chart.ns.name.clone();
    let deployments: Api<Deployment> = Api::namespaced(chart.admin.clone(), &ns);
    let rollouts: Api<Rollout> = Api::namespaced(chart.admin.clone(), &ns);
    let app: Deployment = serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "app"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "app"}},
            "template": {
                "metadata": {"labels": {"app": "app"}},
                "spec": {
                    "containers": [{"name": "app", "image": "app:v1", "securityContext": {
                        "runAsNonRoot": true, "runAsUser": 1000, "allowPrivilegeEscalation": false,
                        "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}}],
                    "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}]
                }
            }
        }
    }))
    .unwrap();
    deployments
        .create(&PostParams::default(), &app)
        .await
        .expect("create app");
    let rollout: Rollout = serde_json::from_value(json!({
        "apiVersion": "rollgate.dev/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "app"},
        "spec": {
            "targetRef": {"kind": "Deployment", "name": "app"},
            "replicas": 3,
            "stages": [{"weight": 34, "bake": "1s"}, {"weight": 100, "bake": "1s"}],
            "progressDeadline": "60s"
        }
    }))
    .unwrap();
    rollouts
        .create(&PostParams::default(), &rollout)
        .await
        .expect("create rollout");
    let phase_is = |phase: Phase| {
        let rollouts = rollouts.clone();
        move || {
            let rollouts = rollouts.clone();
            async move {
                let r = rollouts.get("app").await.ok()?;
                let s = r.status?;
                (s.phase == phase).then_some(s.stable_revision)
            }
        }
    };
    let first = wait_for("adoption (Healthy)", &controller, phase_is(Phase::Healthy)).await;
    let image = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}}});
    deployments
        .patch("app", &PatchParams::default(), &Patch::Strategic(image))
        .await
        .expect("new image");
    wait_for("the release to be promoted", &controller, || {
        let rollouts = rollouts.clone();
        let first = first.clone();
        async move {
            let s = rollouts.get("app").await.ok()?.status?;
            (s.phase == Phase::Healthy && s.stable_revision != first).then_some(())
        }
    })
    .await;
    rollouts
        .delete("app", &DeleteParams::default())
        .await
        .expect("delete rollout");
    wait_for("the hand-back of the Deployment", &controller, || {
        let rollouts = rollouts.clone();
        let deployments = deployments.clone();
        async move {
            let gone = rollouts.get_opt("app").await.ok()?.is_none();
            let replicas = deployments.get("app").await.ok()?.spec?.replicas;
            (gone && replicas == Some(3)).then_some(())
        }
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

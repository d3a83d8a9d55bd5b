//! Installed for real: the image `hack/image` built and the packaged chart are pushed to a
//! local OCI registry, the chart is installed from `oci://` with the image pinned by digest,
//! and the pod it makes is run from the image pulled back by that digest (unpacked, under
//! chroot, as the chart's user, read-only): it reaches the API server with the pod's
//! ServiceAccount token, takes the Lease, rolls a bad release back on a failing gate and
//! delivers the incident over HTTPS to a receiver whose private CA the chart's `extraCA` adds.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use rollgate::api::{DeliveryState, Incident, IncidentChannel, Phase, Rollout};
use rollgate_platform::{Receiver, Registry, Series, TestNamespace};
use serde_json::json;

use crate::chroot_pod::ChrootPod;
use crate::helm;
use crate::image::{self, VERSION, built_digest, built_layout, run};

/// The receiver's name: resolved through the pod's /etc/hosts, so the static binary's
/// resolver is exercised too.
const ONCALL_HOST: &str = "oncall.rollgate.test";

#[tokio::test]
async fn the_chart_from_an_oci_registry_runs_the_pinned_image_which_rolls_back_and_pages_over_https()
 {
    rollgate_platform::install_crypto_provider();
    let env = rollgate_platform::shared();
    let admin = env.client().await;
    let registry = Registry::start(&env.work_dir).await.expect("registry");
    let host = registry.host().to_string();

    // The image, as built, to the registry; its digest is the one hack/image printed.
    let repository = format!("{host}/rollgate/rollgate");
    let layout = built_layout();
    run(
        "skopeo",
        &[
            "copy",
            "--quiet",
            "--dest-tls-verify=false",
            &format!("oci:{}:{VERSION}", layout.display()),
            &format!("docker://{repository}:{VERSION}"),
        ],
    );
    let inspected: serde_json::Value = serde_json::from_str(&run(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            &format!("docker://{repository}:{VERSION}"),
        ],
    ))
    .unwrap();
    let digest = built_digest();
    assert_eq!(inspected["Digest"], digest.as_str());

    // The chart, packaged and pushed.
    let work = tempfile::tempdir().unwrap();
    let packaged = work.path().join(format!("rollgate-{VERSION}.tgz"));
    helm::run(&[
        "package",
        helm::chart_dir().to_str().unwrap(),
        "--destination",
        work.path().to_str().unwrap(),
    ])
    .expect("helm package");
    helm::run(&[
        "push",
        packaged.to_str().unwrap(),
        &format!("oci://{host}/charts"),
        "--plain-http",
    ])
    .expect("helm push");

    // Installed from the registry, pinned by digest, with the private CA of the on-call
    // receiver added the documented way (`extraCA`).
    let ns = TestNamespace::create(env, "oci").await.expect("namespace");
    let apps = TestNamespace::create(env, "oci-apps").await.expect("apps");
    let (receiver, receiver_ca) = Receiver::start_https(ONCALL_HOST).expect("receiver");
    let ca: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "oncall-ca"}, "data": {"ca.crt": receiver_ca}
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(admin.clone(), &ns.name)
        .create(&PostParams::default(), &ca)
        .await
        .expect("CA ConfigMap");
    let release = ns.name.clone();
    let kubeconfig = env.kubeconfig.to_str().unwrap().to_string();
    let sets = [
        format!("image.repository={repository}"),
        format!("image.digest={digest}"),
        format!("prometheus.url={}", env.prometheus_url),
        format!("watchNamespace={}", apps.name),
        "extraCA.configMap=oncall-ca".to_string(),
        "replicas=1".to_string(),
    ];
    let mut install = vec![
        "install".to_string(),
        release.clone(),
        format!("oci://{host}/charts/rollgate"),
        "--version".into(),
        VERSION.into(),
        "--plain-http".into(),
        "--namespace".into(),
        ns.name.clone(),
        "--kubeconfig".into(),
        kubeconfig.clone(),
        // KWOK's nodes are tainted; the pod is scheduled there and run below.
        "--set-json".into(),
        r#"tolerations=[{"key":"kwok.x-k8s.io/node","operator":"Exists","effect":"NoSchedule"}]"#
            .into(),
        "--wait".into(),
        "--timeout".into(),
        "90s".into(),
    ];
    for set in &sets {
        install.extend(["--set".to_string(), set.clone()]);
    }
    let install: Vec<&str> = install.iter().map(String::as_str).collect();
    helm::run(&install).expect("helm install from the OCI registry");

    let pinned = format!("{repository}@{digest}");
    let pods = Api::<Pod>::namespaced(admin.clone(), &ns.name)
        .list(&ListParams::default().labels(&format!("app.kubernetes.io/instance={release}")))
        .await
        .unwrap()
        .items;
    assert_eq!(pods.len(), 1, "one controller pod");
    let pod = &pods[0];
    assert_eq!(
        pod.spec.as_ref().unwrap().containers[0].image.as_deref(),
        Some(pinned.as_str())
    );

    // The pod's image, pulled back by digest and unpacked.
    let pulled = work.path().join("pulled");
    run(
        "skopeo",
        &[
            "copy",
            "--quiet",
            "--src-tls-verify=false",
            &format!("docker://{pinned}"),
            &format!("oci:{}:run", pulled.display()),
        ],
    );
    let config = image::image_config(&pulled, "run");
    let rootfs = image::unpack(&pulled, "run", &work.path().join("bundle"));

    let log = env
        .work_dir
        .join(format!("controller-{}-chroot.log", ns.name));
    let hosts = [format!("127.0.0.1 {ONCALL_HOST}")];
    let controller = ChrootPod::start(&admin, pod, &config, &rootfs, &hosts, log).await;

    // It reached the API server as the pod's ServiceAccount and leads.
    let leases = Api::<Lease>::namespaced(admin.clone(), &ns.name);
    let pod_name = pod.name_any();
    wait_for("the controller to take the Lease", &controller, || async {
        let lease = leases.get_opt("rollgate").await.ok()??;
        (lease.spec?.holder_identity? == pod_name).then_some(())
    })
    .await;

    bad_release_rolls_back_and_pages(&admin, &apps.name, &receiver, &controller).await;

    let log = controller.log();
    assert!(!log.contains("forbidden"), "refused something:\n{log}");
    drop(controller);
    helm::run(&[
        "uninstall",
        &release,
        "--namespace",
        &ns.name,
        "--kubeconfig",
        &kubeconfig,
        "--wait",
    ])
    .expect("helm uninstall");
    apps.cleanup().await;
    ns.cleanup().await;
    drop(registry);
}

/// A Deployment adopted by a Rollout gated on the canary's error ratio, whose incidents go to
/// a signed webhook on `receiver`; a new image with 50% errors must be rolled back and paged.
async fn bad_release_rolls_back_and_pages(
    admin: &Client,
    ns: &str,
    receiver: &Receiver,
    controller: &ChrootPod,
) {
    let exporter = rollgate_platform::shared().exporter();
    for (track, errors) in [("stable", 0.0), ("canary", 0.5)] {
        let series = Series::new(ns, "app", track, "any")
            .rps(50.0)
            .error_ratio(errors);
        exporter.set(&series).await.expect("exporter");
    }
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "oncall"},
        "stringData": {"signingSecret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
    }))
    .unwrap();
    Api::<Secret>::namespaced(admin.clone(), ns)
        .create(&PostParams::default(), &secret)
        .await
        .expect("secret");
    let channel: IncidentChannel = serde_json::from_value(json!({
        "apiVersion": "rollgate.dev/v1alpha1", "kind": "IncidentChannel",
        "metadata": {"name": "oncall"},
        "spec": {"type": "webhook", "url": receiver.url(), "secretRef": {"name": "oncall"}}
    }))
    .unwrap();
    Api::<IncidentChannel>::namespaced(admin.clone(), ns)
        .create(&PostParams::default(), &channel)
        .await
        .expect("channel");
    let app: Deployment =
        serde_json::from_value(rollgate_testkit::deployment("app", 2, "app:v1")).unwrap();
    let deployments = Api::<Deployment>::namespaced(admin.clone(), ns);
    deployments
        .create(&PostParams::default(), &app)
        .await
        .expect("app");
    let mut rollout = rollgate_testkit::rollout(
        "app",
        "app",
        2,
        &[(50, "30s"), (100, "1s")],
        vec![rollgate_testkit::error_ratio_gate(0.05)],
    );
    rollout["spec"]["progressDeadline"] = "90s".into();
    rollout["spec"]["incident"] = json!({"severity": "sev2", "channels": ["oncall"]});
    let rollout: Rollout = serde_json::from_value(rollout).unwrap();
    let rollouts = Api::<Rollout>::namespaced(admin.clone(), ns);
    rollouts
        .create(&PostParams::default(), &rollout)
        .await
        .expect("rollout");
    let phase = |wanted: Phase| {
        let rollouts = rollouts.clone();
        move || {
            let rollouts = rollouts.clone();
            async move {
                let status = rollouts.get("app").await.ok()?.status?;
                (status.phase == wanted && status.stable_revision.is_some()).then_some(())
            }
        }
    };
    wait_for(
        "the Deployment adopted (Healthy)",
        controller,
        phase(Phase::Healthy),
    )
    .await;

    let image = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "app:v2"}]}}}});
    deployments
        .patch("app", &PatchParams::default(), &Patch::Strategic(image))
        .await
        .expect("new image");
    wait_for(
        "the bad release RolledBack",
        controller,
        phase(Phase::RolledBack),
    )
    .await;

    let incidents = Api::<Incident>::namespaced(admin.clone(), ns);
    wait_for("the incident delivered over HTTPS", controller, || async {
        let list = incidents.list(&ListParams::default()).await.ok()?;
        list.items.into_iter().find(|i| {
            i.spec.reason == "GateFailed"
                && i.status.as_ref().is_some_and(|s| {
                    !s.deliveries.is_empty()
                        && s.deliveries
                            .iter()
                            .all(|d| d.state == DeliveryState::Delivered)
                })
        })
    })
    .await;
    let requests = receiver.requests();
    assert!(!requests.is_empty(), "the receiver got nothing");
    assert!(
        requests[0].header("webhook-signature").is_some(),
        "an unsigned delivery: {:?}",
        requests[0]
    );
}

async fn wait_for<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    controller: &ChrootPod,
    probe: impl Fn() -> F,
) -> T {
    match rollgate_testkit::poll(Duration::from_secs(120), probe).await {
        Some(v) => v,
        None => panic!(
            "timed out waiting for {what}\n---- controller (from the image) ----\n{}",
            controller.log()
        ),
    }
}

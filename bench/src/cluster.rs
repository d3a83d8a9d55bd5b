//! The benchmark's own platform: the control plane with as many KWOK nodes as a run needs,
//! the CRDs, and an identity for the controller so the API server can count its requests.

use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use kube::api::{DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::ApiResource;
use kube::{Api, Client};
use rollgate_platform::{ExporterClient, Platform, PlatformEnv, PlatformOptions};
use serde_json::{Value, json};

use crate::error::{Error, Result};

/// The user the controller acts as (by impersonation from the admin kubeconfig). A FlowSchema
/// of the same name matches only it, so the API server's APF metrics count its requests alone.
pub const CONTROLLER_USER: &str = "rollgate-bench-controller";
const FIELD_MANAGER: &str = "rollgate-bench";

/// A running platform plus what every scenario needs from it.
pub struct Cluster {
    platform: Option<Platform>,
    pub env: PlatformEnv,
    pub client: Client,
    /// Admin kubeconfig plus `as: <CONTROLLER_USER>`.
    pub controller_kubeconfig: PathBuf,
    pub started_in: Duration,
}

impl Cluster {
    /// Starts a platform with `nodes` KWOK nodes of `node_pods` pods each (Prometheus, no
    /// Alertmanager), installs the CRDs and the controller's identity.
    pub async fn start(nodes: usize, node_pods: u32) -> Result<Cluster> {
        rollgate_platform::install_crypto_provider();
        let started = Instant::now();
        let platform = Platform::start(PlatformOptions {
            workloads: true,
            nodes,
            node_pods,
            prometheus: true,
            alertmanager: false,
            // No HPA or route in the benchmark: the platform as it was measured.
            metrics_api: false,
            gateway_api: false,
        })
        .await?;
        let env = platform.env().clone();
        let client = env.try_client().await?;
        install_crds(&client).await?;
        install_identity(&client).await?;
        let controller_kubeconfig = env.work_dir.join("controller.kubeconfig");
        write_impersonating_kubeconfig(&env.kubeconfig, &controller_kubeconfig)?;
        Ok(Cluster {
            platform: Some(platform),
            env,
            client,
            controller_kubeconfig,
            started_in: started.elapsed(),
        })
    }

    pub fn exporter(&self) -> ExporterClient {
        self.env.exporter()
    }

    /// Process ids of the platform (apiserver, etcd, kcm, scheduler, kwok, Prometheus).
    pub fn pids(&self) -> Vec<u32> {
        self.platform
            .as_ref()
            .map(Platform::pids)
            .unwrap_or_default()
    }

    /// Creates a namespace and waits for its default ServiceAccount (pods need it).
    pub async fn namespace(&self, name: &str) -> Result<()> {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))
            .map_err(|e| Error::Unexpected(e.to_string()))?;
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .map_err(|e| Error::kube(format!("creating namespace {name}"), e))?;
        let accounts: Api<ServiceAccount> = Api::namespaced(self.client.clone(), name);
        poll(
            &format!("the default ServiceAccount of {name}"),
            Duration::from_secs(120),
            Duration::from_millis(200),
            || async { accounts.get_opt("default").await.ok().flatten() },
        )
        .await
        .map(drop)
    }

    pub fn deployments(&self, ns: &str) -> Api<Deployment> {
        Api::namespaced(self.client.clone(), ns)
    }

    /// Creates every object, at most `parallel` requests at a time.
    pub async fn create_all(
        &self,
        objects: Vec<(String, Value)>,
        parallel: usize,
    ) -> Result<Duration> {
        let started = Instant::now();
        futures::stream::iter(objects)
            .map(|(ns, value)| self.create(ns, value))
            .buffer_unordered(parallel)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(started.elapsed())
    }

    /// Creates one Deployment or Rollout (by its `kind`) in `ns`.
    async fn create(&self, ns: String, value: Value) -> Result<()> {
        let kind = value["kind"].as_str().unwrap_or_default().to_string();
        let name = value["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let what = || format!("creating {kind} {ns}/{name}");
        let object: DynamicObject =
            serde_json::from_value(value).map_err(|e| Error::Unexpected(e.to_string()))?;
        let resource = if kind == "Rollout" {
            rollout_resource()
        } else {
            ApiResource::from_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
        };
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), &ns, &resource);
        // The API server on two cores sometimes answers 429/5xx under a burst: retry a few times.
        let mut tries = 0;
        loop {
            match api.create(&PostParams::default(), &object).await {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(e)) if e.code == 409 => return Ok(()),
                Err(e) if tries < 5 => {
                    tries += 1;
                    eprintln!("  retrying ({e}): {}", what());
                    tokio::time::sleep(Duration::from_millis(500 * tries)).await;
                }
                Err(e) => return Err(Error::kube(what(), e)),
            }
        }
    }

    /// Tears the platform down without blocking the runtime.
    pub async fn shutdown(mut self) {
        if let Some(p) = self.platform.take() {
            p.shutdown().await;
        }
    }
}

pub fn rollout_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("rollgate.dev", "v1alpha1", "Rollout"),
        "rollouts",
    )
}

pub fn incident_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("rollgate.dev", "v1alpha1", "Incident"),
        "incidents",
    )
}

pub use rollgate_testkit::deployment;

/// A Rollout of Deployment `name` (same name) with `stages` (weight, bake) and `gates`.
pub fn rollout(name: &str, replicas: i32, stages: &[(i32, &str)], gates: Vec<Value>) -> Value {
    let mut r = rollgate_testkit::rollout(name, name, replicas, stages, gates);
    // A benchmark's stages may bake for minutes; its rollbacks are measured, not verified long.
    r["spec"]["progressDeadline"] = "30m".into();
    r["spec"]["verifyAfterRollback"] = "2s".into();
    r
}

/// Changes the image of the Deployment's container: a new release.
pub async fn set_image(api: &Api<Deployment>, name: &str, image: &str) -> Result<()> {
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}});
    api.patch(name, &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .map_err(|e| Error::kube(format!("setting the image of {name}"), e))?;
    Ok(())
}

/// Polls `probe` every `every` until it yields a value.
pub async fn poll<T, F: Future<Output = Option<T>>>(
    what: &str,
    timeout: Duration,
    every: Duration,
    probe: impl Fn() -> F,
) -> Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return Ok(v);
        }
        if start.elapsed() > timeout {
            return Err(Error::Timeout {
                what: what.to_string(),
                after: timeout,
            });
        }
        tokio::time::sleep(every).await;
    }
}

async fn install_crds(client: &Client) -> Result<()> {
    rollgate::controller::crds::install(client, FIELD_MANAGER)
        .await
        .map_err(|e| Error::kube("installing the CRDs".to_string(), e))
}

/// cluster-admin for the controller's user, and a FlowSchema matching only that user (exempt
/// priority level, like the admin it stands in for: no APF queuing distorts the numbers).
async fn install_identity(client: &Client) -> Result<()> {
    let binding = json!({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": CONTROLLER_USER},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": CONTROLLER_USER}]
    });
    let flow_schema = json!({
        "apiVersion": "flowcontrol.apiserver.k8s.io/v1", "kind": "FlowSchema",
        "metadata": {"name": CONTROLLER_USER},
        "spec": {
            "matchingPrecedence": 50,
            "priorityLevelConfiguration": {"name": "exempt"},
            "rules": [{
                "subjects": [{"kind": "User", "user": {"name": CONTROLLER_USER}}],
                "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"], "clusterScope": true, "namespaces": ["*"]}],
                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}]
            }]
        }
    });
    for (value, group, version, kind, plural) in [
        (
            binding,
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
        ),
        (
            flow_schema,
            "flowcontrol.apiserver.k8s.io",
            "v1",
            "FlowSchema",
            "flowschemas",
        ),
    ] {
        let resource =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        api.patch(
            CONTROLLER_USER,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&value),
        )
        .await
        .map_err(|e| Error::kube(format!("applying {kind} {CONTROLLER_USER}"), e))?;
    }
    Ok(())
}

/// The admin kubeconfig with `as: <CONTROLLER_USER>` on its user.
fn write_impersonating_kubeconfig(admin: &PathBuf, out: &PathBuf) -> Result<()> {
    let text = std::fs::read_to_string(admin)
        .map_err(|e| Error::io(format!("reading {}", admin.display()), e))?;
    let mut config: serde_json::Value =
        serde_norway::from_str(&text).map_err(|e| Error::Unexpected(e.to_string()))?;
    let users = config["users"]
        .as_array_mut()
        .ok_or_else(|| Error::Unexpected("the admin kubeconfig has no users".into()))?;
    for user in users {
        user["user"]["as"] = json!(CONTROLLER_USER);
    }
    let text = serde_norway::to_string(&config).map_err(|e| Error::Unexpected(e.to_string()))?;
    std::fs::write(out, text).map_err(|e| Error::io(format!("writing {}", out.display()), e))
}

//! The chart installed into the real platform: its ServiceAccount, authenticated with a real
//! token (TokenRequest), has the rights the controller needs and no others, and its pod
//! template passes the `restricted` Pod Security level.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret, ServiceAccount};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::config::{AuthInfo, Config, KubeConfigOptions, Kubeconfig};
use kube::discovery::{Scope, pinned_kind};
use kube::{Api, Client, ResourceExt};
use rollgate_platform::{PlatformEnv, TestNamespace};
use serde_json::{Value, json};

use crate::helm::{find, template};

const MANAGER: &str = "rollgate-chart";

/// The chart installed as release `<namespace>` into a fresh namespace that enforces the
/// `restricted` Pod Security level.
pub struct Installed {
    pub env: &'static PlatformEnv,
    pub admin: Client,
    pub ns: TestNamespace,
    /// In namespaced mode, the second fresh namespace given as `watchNamespace`.
    pub watched: Option<TestNamespace>,
    pub objects: Vec<Value>,
}

impl Installed {
    /// Cluster mode: no `watchNamespace`, so the rights are a ClusterRole.
    pub async fn new(prefix: &str, sets: impl Fn(&str) -> Vec<String>) -> Installed {
        Self::install(prefix, false, sets).await
    }

    /// Namespaced mode: `watchNamespace` is a second fresh namespace, apart from the release's,
    /// so a right granted in the wrong one of the two shows.
    pub async fn watching(prefix: &str, sets: impl Fn(&str) -> Vec<String>) -> Installed {
        Self::install(prefix, true, sets).await
    }

    async fn install(
        prefix: &str,
        namespaced: bool,
        sets: impl Fn(&str) -> Vec<String>,
    ) -> Installed {
        rollgate_platform::install_crypto_provider();
        let env = rollgate_platform::shared();
        let admin = env.client().await;
        let ns = TestNamespace::create(env, prefix).await.expect("namespace");
        let watched = match namespaced {
            true => Some(
                TestNamespace::create(env, &format!("{prefix}-apps"))
                    .await
                    .expect("watched namespace"),
            ),
            false => None,
        };
        let restricted =
            json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}});
        Api::<Namespace>::all(admin.clone())
            .patch(&ns.name, &PatchParams::default(), &Patch::Merge(restricted))
            .await
            .expect("label namespace");
        let mut sets = sets(&ns.name);
        if let Some(watched) = &watched {
            sets.push(format!("watchNamespace={}", watched.name));
        }
        let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
        let objects = template(&ns.name, &ns.name, true, &sets).expect("helm template");
        let installed = Installed {
            env,
            admin,
            ns,
            watched,
            objects,
        };
        for object in &installed.objects {
            installed.apply(object.clone()).await;
        }
        installed
    }

    /// Server-side apply of one rendered object. The controller's own pods cannot run here (no
    /// image), so its Deployment is created with 0 replicas; its pod template is checked apart.
    async fn apply(&self, mut object: Value) {
        if object["kind"] == "Deployment" {
            object["spec"]["replicas"] = json!(0);
        }
        let obj: DynamicObject = serde_json::from_value(object).expect("rendered object");
        let types = obj.types.clone().expect("apiVersion and kind");
        let gvk = GroupVersionKind::try_from(&types).expect("apiVersion");
        let (resource, caps) = pinned_kind(&self.admin, &gvk).await.expect("served kind");
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => {
                let ns = obj.metadata.namespace.as_deref().unwrap_or(&self.ns.name);
                Api::namespaced_with(self.admin.clone(), ns, &resource)
            }
            Scope::Cluster => Api::all_with(self.admin.clone(), &resource),
        };
        let name = obj.name_any();
        api.patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&obj),
        )
        .await
        .unwrap_or_else(|e| panic!("apply {} {name}: {e}", types.kind));
        if types.kind == "CustomResourceDefinition" {
            wait_established(&self.admin, &name).await;
        }
    }

    /// Where the Rollouts and their apps live: the watched namespace, or the release's.
    pub fn apps(&self) -> &str {
        self.watched.as_ref().map_or(&self.ns.name, |w| &w.name)
    }

    /// Waits until the API server enforces the chart's admission policy on `sa` (it loads a new
    /// policy within a few seconds): a dry run of a plain ConfigMap is refused by it. Returns
    /// the policy's name.
    pub async fn wait_policy_enforced(&self, sa: &Client) -> String {
        let policy = find(&self.objects, "ValidatingAdmissionPolicy")["metadata"]["name"]
            .as_str()
            .expect("the policy's name")
            .to_string();
        let probe: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": "probe"}})).unwrap();
        let dry_run = PostParams {
            dry_run: true,
            ..PostParams::default()
        };
        let configs: Api<ConfigMap> = Api::namespaced(sa.clone(), self.apps());
        let start = Instant::now();
        loop {
            match configs.create(&dry_run, &probe).await {
                Err(e) if refused_by(&policy, &e) => return policy,
                _ => {}
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "policy {policy} not enforced after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn service_account(&self) -> String {
        find(&self.objects, "ServiceAccount")["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A kubeconfig (and client) that authenticates as the chart's ServiceAccount with a
    /// token from the TokenRequest API: exactly what the controller's pod would get.
    pub async fn service_account_login(&self) -> (PathBuf, Client) {
        let sa = self.service_account();
        let request = TokenRequest {
            spec: Some(TokenRequestSpec {
                expiration_seconds: Some(3600),
                ..TokenRequestSpec::default()
            }),
            ..TokenRequest::default()
        };
        let token = Api::<ServiceAccount>::namespaced(self.admin.clone(), &self.ns.name)
            .create_token_request(&sa, &PostParams::default(), &request)
            .await
            .expect("token request")
            .status
            .and_then(|s| s.token)
            .expect("token");
        let mut kubeconfig = Kubeconfig::read_from(&self.env.kubeconfig).expect("kubeconfig");
        for user in &mut kubeconfig.auth_infos {
            user.auth_info = Some(AuthInfo {
                token: Some(token.clone().into()),
                ..AuthInfo::default()
            });
        }
        let path = self
            .env
            .work_dir
            .join(format!("kubeconfig-{}", self.ns.name));
        std::fs::write(&path, serde_norway::to_string(&kubeconfig).unwrap()).unwrap();
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .expect("config");
        (path, Client::try_from(config).expect("client"))
    }

    pub async fn cleanup(self) {
        // Cluster-scoped objects (the ClusterRole, the admission policy, their bindings) do not
        // go with the namespace; the CRDs stay for the other tests.
        for o in self
            .objects
            .iter()
            .filter(|o| o["kind"] != "CustomResourceDefinition")
        {
            let obj: DynamicObject = serde_json::from_value(o.clone()).expect("rendered object");
            let types = obj.types.clone().expect("apiVersion and kind");
            let gvk = GroupVersionKind::try_from(&types).expect("apiVersion");
            let (resource, caps) = pinned_kind(&self.admin, &gvk).await.unwrap();
            if caps.scope == Scope::Cluster {
                let _ = Api::<DynamicObject>::all_with(self.admin.clone(), &resource)
                    .delete(&obj.name_any(), &DeleteParams::default())
                    .await;
            }
        }
        if let Some(watched) = self.watched {
            watched.cleanup().await;
        }
        self.ns.cleanup().await;
    }
}

/// Whether `error` is a refusal by one of the rules of the admission policy `policy`. An
/// expression that failed to evaluate refuses too (`failurePolicy: Fail`), with another message.
pub fn refused_by(policy: &str, error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(e)
        if e.code == 403
            && e.message.contains(&format!("ValidatingAdmissionPolicy '{policy}'"))
            && e.message.contains("denied request: rollgate's controller may"))
}

async fn wait_established(client: &Client, name: &str) {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let start = Instant::now();
    loop {
        let crd = api.get(name).await.expect("get CRD");
        let established = crd.status.and_then(|s| s.conditions).is_some_and(|cs| {
            cs.iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        });
        if established {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "CRD {name} not established"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Whether the client's user may `verb` the resource (`resource` or `resource/subresource`).
async fn can(client: &Client, verb: &str, group: &str, resource: &str, namespace: &str) -> bool {
    let (resource, subresource) = match resource.split_once('/') {
        Some((r, s)) => (r, Some(s.to_string())),
        None => (resource, None),
    };
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.into()),
                group: Some(group.into()),
                resource: Some(resource.into()),
                subresource,
                namespace: (!namespace.is_empty()).then(|| namespace.to_string()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .expect("self subject access review")
        .status
        .is_some_and(|s| s.allowed)
}

/// The rights the controller needs on namespaced objects, each granted in `ns`.
fn namespaced_rights(ns: &str) -> Vec<(&'static str, &'static str, &'static str, String)> {
    let mut granted = Vec::new();
    for verb in ["get", "list", "watch", "patch", "update"] {
        for resource in ["rollouts", "incidents", "releases"] {
            granted.push((verb, "rollgate.dev", resource));
        }
    }
    granted.extend([
        ("get", "rollgate.dev", "incidentchannels"),
        ("list", "rollgate.dev", "incidentchannels"),
        ("watch", "rollgate.dev", "incidentchannels"),
        ("create", "rollgate.dev", "incidents"),
        ("patch", "rollgate.dev", "rollouts/status"),
        ("patch", "rollgate.dev", "incidents/status"),
        ("patch", "rollgate.dev", "releases/status"),
        ("update", "rollgate.dev", "rollouts/finalizers"),
        ("update", "rollgate.dev", "incidents/finalizers"),
        ("update", "rollgate.dev", "releases/finalizers"),
        ("create", "events.k8s.io", "events"),
        ("patch", "events.k8s.io", "events"),
        ("list", "", "pods"),
    ]);
    // Tracks and targets are patched; a track edited by hand is replaced (update).
    for verb in ["get", "list", "watch", "create", "patch", "update"] {
        granted.push((verb, "apps", "deployments"));
    }
    // The records of verified templates, to restore a deleted or edited track.
    for verb in ["get", "list", "watch", "create", "delete"] {
        granted.push((verb, "apps", "controllerrevisions"));
    }
    for verb in ["get", "list", "watch", "create", "delete"] {
        granted.push((verb, "", "configmaps"));
        granted.push((verb, "", "secrets"));
    }
    // Routing: the tracks' Services, and a route's weights.
    for verb in ["get", "create", "patch"] {
        granted.push((verb, "", "services"));
    }
    for verb in ["get", "create", "patch", "update"] {
        granted.push((verb, "gateway.networking.k8s.io", "httproutes"));
    }
    // Autoscaling: an HPA's scaleTargetRef follows the Rollout.
    for verb in ["get", "list", "patch"] {
        granted.push((verb, "autoscaling", "horizontalpodautoscalers"));
    }
    granted
        .into_iter()
        .map(|(v, g, r)| (v, g, r, ns.to_string()))
        .collect()
}

/// Rights the controller never needs, wherever it runs.
fn never(ns: &str) -> Vec<(&'static str, &'static str, &'static str, String)> {
    [
        ("delete", "", "pods", ns),
        ("patch", "", "pods", ns),
        ("create", "", "pods/exec", ns),
        ("get", "", "nodes", ""),
        ("list", "", "namespaces", ""),
        ("create", "rbac.authorization.k8s.io", "clusterroles", ""),
        ("create", "rbac.authorization.k8s.io", "rolebindings", ns),
        ("delete", "apps", "deployments", ns),
        ("update", "apps", "controllerrevisions", ns),
        ("create", "apps", "deployments/scale", ns),
        ("patch", "", "secrets", ns),
        ("update", "", "configmaps", ns),
        ("delete", "", "services", ns),
        ("create", "autoscaling", "horizontalpodautoscalers", ns),
        ("delete", "autoscaling", "horizontalpodautoscalers", ns),
        (
            "patch",
            "gateway.networking.k8s.io",
            "httproutes/status",
            ns,
        ),
        ("delete", "rollgate.dev", "rollouts", ns),
        ("create", "rollgate.dev", "rollouts", ns),
        ("patch", "rollgate.dev", "incidentchannels", ns),
        ("create", "rollgate.dev", "freezes", ""),
        ("delete", "rollgate.dev", "freezes", ""),
        (
            "create",
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "",
        ),
        ("get", "coordination.k8s.io", "leases", ns),
        ("create", "", "events", ns),
    ]
    .into_iter()
    .map(|(v, g, r, n)| (v, g, r, n.to_string()))
    .collect()
}

type Right = (&'static str, &'static str, &'static str, String);

/// What differs from expectations: rights missing from `granted`, rights held from `denied`.
async fn wrong_rights(client: &Client, granted: Vec<Right>, denied: Vec<Right>) -> Vec<String> {
    let mut wrong = Vec::new();
    for (verb, group, resource, ns) in granted {
        if !can(client, verb, group, resource, &ns).await {
            wrong.push(format!("missing: {verb} {group}/{resource} in {ns:?}"));
        }
    }
    for (verb, group, resource, ns) in denied {
        if can(client, verb, group, resource, &ns).await {
            wrong.push(format!(
                "granted but must not be: {verb} {group}/{resource} in {ns:?}"
            ));
        }
    }
    wrong
}

/// Freezes are set by people; the controller only reads them, cluster-wide.
fn freeze_reads() -> Vec<Right> {
    ["get", "list", "watch"]
        .into_iter()
        .map(|v| (v, "rollgate.dev", "freezes", String::new()))
        .collect()
}

fn lease_rights(own: &str) -> Vec<Right> {
    ["get", "create", "update", "patch"]
        .into_iter()
        .map(|v| (v, "coordination.k8s.io", "leases", own.to_string()))
        .collect()
}

#[tokio::test]
async fn the_service_account_has_exactly_the_rights_the_controller_needs() {
    let chart = Installed::new("chart-rbac", |_| vec![]).await;
    let (_, sa) = chart.service_account_login().await;
    let own = chart.ns.name.clone();
    // Cluster mode: Rollouts live in any namespace; "default" stands for one the chart knows
    // nothing of.
    let mut granted = namespaced_rights("default");
    granted.extend(freeze_reads());
    granted.extend(lease_rights(&own));
    let wrong = wrong_rights(&sa, granted, never("default")).await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    chart.cleanup().await;
}

#[tokio::test]
async fn in_namespaced_mode_the_service_account_has_rights_only_in_the_watched_namespace() {
    let chart = Installed::watching("chart-rbac-ns", |_| vec![]).await;
    let (_, sa) = chart.service_account_login().await;
    let own = chart.ns.name.clone();
    let mut granted = namespaced_rights(chart.apps());
    granted.extend(freeze_reads());
    granted.extend(lease_rights(&own));
    let mut denied = never(chart.apps());
    // Nothing of the namespaced rights anywhere else: not in a namespace the chart knows
    // nothing of, not in kube-system, not in the release's own namespace, not cluster-wide.
    for elsewhere in ["default", "kube-system", own.as_str(), ""] {
        denied.extend(namespaced_rights(elsewhere));
    }
    let wrong = wrong_rights(&sa, granted, denied).await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    chart.cleanup().await;
}

#[tokio::test]
async fn in_namespaced_mode_the_service_account_cannot_read_secrets_outside_the_watched_namespace()
{
    let chart = Installed::watching("chart-secrets-ns", |_| vec![]).await;
    let (_, sa) = chart.service_account_login().await;
    let kept: Secret = serde_json::from_value(json!({
        "metadata": {"name": "kept"}, "stringData": {"password": "hunter2"}
    }))
    .unwrap();
    // A Secret the chart's namespace holds: the watched one is the only one it may read.
    Api::<Secret>::namespaced(chart.admin.clone(), &chart.ns.name)
        .create(&PostParams::default(), &kept)
        .await
        .expect("create a Secret outside the watched namespace");
    let forbidden =
        |r: Result<_, kube::Error>| matches!(r, Err(kube::Error::Api(e)) if e.code == 403);
    let system: Api<Secret> = Api::namespaced(sa.clone(), "kube-system");
    assert!(forbidden(
        system.list(&Default::default()).await.map(|_| ())
    ));
    assert!(forbidden(system.get("anything").await.map(|_| ())));
    let all: Api<Secret> = Api::all(sa.clone());
    assert!(forbidden(all.list(&Default::default()).await.map(|_| ())));
    let own: Api<Secret> = Api::namespaced(sa.clone(), &chart.ns.name);
    assert!(forbidden(own.get("kept").await.map(|_| ())));
    assert!(forbidden(own.list(&Default::default()).await.map(|_| ())));
    let configs: Api<ConfigMap> = Api::namespaced(sa.clone(), "kube-system");
    assert!(forbidden(
        configs.list(&Default::default()).await.map(|_| ())
    ));
    // The watched namespace's Secrets stay readable: the denials above are not a broken token.
    Api::<Secret>::namespaced(sa.clone(), chart.apps())
        .list(&Default::default())
        .await
        .expect("list Secrets in the watched namespace");
    chart.cleanup().await;
}

#[tokio::test]
async fn the_controller_pod_passes_the_restricted_pod_security_level() {
    let chart = Installed::new("chart-psa", |_| vec![]).await;
    let template = &find(&chart.objects, "Deployment")["spec"]["template"];
    let pod: Pod = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "rollgate-psa-check", "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }))
    .unwrap();
    // A dry run goes through admission: the namespace enforces `restricted`.
    Api::<Pod>::namespaced(chart.admin.clone(), &chart.ns.name)
        .create(
            &PostParams {
                dry_run: true,
                ..PostParams::default()
            },
            &pod,
        )
        .await
        .expect("the controller's pod is admitted under the restricted Pod Security level");
    let deployment = Api::<Deployment>::namespaced(chart.admin.clone(), &chart.ns.name)
        .get(
            find(&chart.objects, "Deployment")["metadata"]["name"]
                .as_str()
                .unwrap(),
        )
        .await
        .expect("the controller Deployment exists");
    assert_eq!(deployment.spec.unwrap().replicas, Some(0));
    chart.cleanup().await;
}

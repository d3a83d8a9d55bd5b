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
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
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
    pub objects: Vec<Value>,
}

impl Installed {
    pub async fn new(prefix: &str, sets: impl Fn(&str) -> Vec<String>) -> Installed {
        rollgate_platform::install_crypto_provider();
        let env = rollgate_platform::shared();
        let admin = env.client().await;
        let ns = TestNamespace::create(env, prefix).await.expect("namespace");
        let restricted =
            json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}});
        Api::<Namespace>::all(admin.clone())
            .patch(&ns.name, &PatchParams::default(), &Patch::Merge(restricted))
            .await
            .expect("label namespace");
        let sets = sets(&ns.name);
        let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
        let objects = template(&ns.name, &ns.name, true, &sets).expect("helm template");
        let installed = Installed {
            env,
            admin,
            ns,
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
            Scope::Namespaced => Api::namespaced_with(self.admin.clone(), &self.ns.name, &resource),
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
        // Cluster-scoped objects do not go with the namespace.
        for o in self
            .objects
            .iter()
            .filter(|o| o["kind"] == "ClusterRole" || o["kind"] == "ClusterRoleBinding")
        {
            let name = o["metadata"]["name"].as_str().unwrap();
            let gvk = GroupVersionKind::gvk(
                "rbac.authorization.k8s.io",
                "v1",
                o["kind"].as_str().unwrap(),
            );
            let (resource, _) = pinned_kind(&self.admin, &gvk).await.unwrap();
            let _ = Api::<DynamicObject>::all_with(self.admin.clone(), &resource)
                .delete(name, &DeleteParams::default())
                .await;
        }
        self.ns.cleanup().await;
    }
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

#[tokio::test]
async fn the_service_account_has_exactly_the_rights_the_controller_needs() {
    let chart = Installed::new("chart-rbac", |_| vec![]).await;
    let (_, sa) = chart.service_account_login().await;
    let own = chart.ns.name.clone();
    // Rollouts live in any namespace: "default" stands for one the chart knows nothing of.
    let mut granted = Vec::new();
    for verb in ["get", "list", "watch", "patch", "update"] {
        for resource in ["rollouts", "incidents", "incidentchannels"] {
            granted.push((verb, "rollgate.dev", resource, "default"));
        }
    }
    granted.extend([
        ("create", "rollgate.dev", "incidents", "default"),
        ("patch", "rollgate.dev", "rollouts/status", "default"),
        ("patch", "rollgate.dev", "incidents/status", "default"),
        ("update", "rollgate.dev", "rollouts/finalizers", "default"),
        ("update", "rollgate.dev", "incidents/finalizers", "default"),
        ("create", "events.k8s.io", "events", "default"),
        ("patch", "events.k8s.io", "events", "default"),
    ]);
    for verb in ["get", "list", "watch", "create", "patch", "update"] {
        granted.push((verb, "apps", "deployments", "default"));
    }
    granted.push(("list", "", "pods", "default"));
    // Freezes are set by people; the controller only reads them.
    for verb in ["get", "list", "watch"] {
        granted.push((verb, "rollgate.dev", "freezes", ""));
    }
    for verb in ["get", "list", "watch", "create", "patch", "delete"] {
        granted.push((verb, "", "configmaps", "default"));
        granted.push((verb, "", "secrets", "default"));
    }
    for verb in ["get", "create", "update", "patch"] {
        granted.push((verb, "coordination.k8s.io", "leases", own.as_str()));
    }
    let denied = [
        ("delete", "", "pods", "default"),
        ("patch", "", "pods", "default"),
        ("create", "", "pods/exec", "default"),
        ("get", "", "nodes", ""),
        ("list", "", "namespaces", ""),
        ("create", "rbac.authorization.k8s.io", "clusterroles", ""),
        (
            "create",
            "rbac.authorization.k8s.io",
            "rolebindings",
            "default",
        ),
        ("delete", "apps", "deployments", "default"),
        ("delete", "rollgate.dev", "rollouts", "default"),
        ("create", "rollgate.dev", "rollouts", "default"),
        ("create", "rollgate.dev", "freezes", ""),
        ("delete", "rollgate.dev", "freezes", ""),
        (
            "create",
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "",
        ),
        ("get", "coordination.k8s.io", "leases", "default"),
        ("create", "", "events", "default"),
    ];
    let mut wrong = Vec::new();
    for (verb, group, resource, ns) in granted {
        if !can(&sa, verb, group, resource, ns).await {
            wrong.push(format!("missing: {verb} {group}/{resource} in {ns:?}"));
        }
    }
    for (verb, group, resource, ns) in denied {
        if can(&sa, verb, group, resource, ns).await {
            wrong.push(format!(
                "granted but must not be: {verb} {group}/{resource} in {ns:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
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

//! The chart's ValidatingAdmissionPolicy, against the real API server with the ServiceAccount's
//! token: what RBAC must grant wholesale (create/delete on every Secret and ConfigMap,
//! create/patch on every Deployment) is narrowed to rollgate's own objects and to the two fields
//! it sets on a target. Every denial names the policy.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::install::{Installed, refused_by};

/// The chart installed in cluster mode, logged in as its ServiceAccount, once the API server
/// enforces the policy (it loads new policies within a few seconds).
struct Policed {
    chart: Installed,
    sa: Client,
    policy: String,
}

impl Policed {
    async fn new(prefix: &str) -> Policed {
        let chart = Installed::new(prefix, |_| vec![]).await;
        let (_, sa) = chart.service_account_login().await;
        let policy = chart.wait_policy_enforced(&sa).await;
        Policed { chart, sa, policy }
    }

    fn ns(&self) -> &str {
        &self.chart.ns.name
    }

    fn sa_api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.sa.clone(), self.ns())
    }

    fn admin_api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.chart.admin.clone(), self.ns())
    }

    /// Ok when `result` is the policy's refusal; otherwise what came back instead.
    fn denial<T: std::fmt::Debug>(&self, result: Result<T, kube::Error>) -> Result<(), String> {
        match result {
            Err(e) if refused_by(&self.policy, &e) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    }

    #[track_caller]
    fn assert_denied<T: std::fmt::Debug>(&self, what: &str, result: Result<T, kube::Error>) {
        if let Err(got) = self.denial(result) {
            panic!(
                "{what}: expected a refusal naming ValidatingAdmissionPolicy '{}', got {got}",
                self.policy
            );
        }
    }

    async fn cleanup(self) {
        self.chart.cleanup().await;
    }
}

fn object<K: DeserializeOwned>(v: Value) -> K {
    serde_json::from_value(v).expect("a valid object")
}

/// A config snapshot as the controller makes it (src/controller/config.rs).
fn snapshot(kind: &str, of: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": kind,
        "metadata": {
            "name": format!("{of}-0123456789"),
            "labels": {"rollgate.dev/snapshot-of": of, "rollgate.dev/rollout": "app"},
            "ownerReferences": [{"apiVersion": "rollgate.dev/v1alpha1", "kind": "Rollout",
                "name": "app", "uid": "5b7f3c1e-0000-4000-8000-000000000001"}]
        },
        "immutable": true,
        "data": {"mode": "c2FmZQ=="}
    })
}

/// A plain Deployment running pods as `service_account`.
fn deployment(name: &str, service_account: &str, extra_meta: Value) -> Deployment {
    let mut d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"serviceAccountName": service_account,
                         "containers": [{"name": "main", "image": "busybox:1"}]}
            }
        }
    });
    if let Some(extra) = extra_meta.as_object() {
        for (k, v) in extra {
            d["metadata"][k] = v.clone();
        }
    }
    object(d)
}

#[tokio::test]
async fn the_controller_may_create_config_snapshots_and_no_other_secret_or_config_map() {
    let p = Policed::new("chart-policy-config").await;
    let secrets = p.sa_api::<Secret>();
    let configs = p.sa_api::<ConfigMap>();
    let pp = PostParams::default();

    let plain: Secret = object(json!({"metadata": {"name": "planted"}, "stringData": {"k": "v"}}));
    p.assert_denied("a plain Secret", secrets.create(&pp, &plain).await);
    let plain: ConfigMap = object(json!({"metadata": {"name": "planted"}, "data": {"k": "v"}}));
    p.assert_denied("a plain ConfigMap", configs.create(&pp, &plain).await);

    // Snapshot labels alone do not make a snapshot: it is immutable and owned by its Rollout.
    let mut mutable = snapshot("ConfigMap", "app-config");
    mutable["immutable"] = json!(false);
    p.assert_denied(
        "a mutable ConfigMap labelled as a snapshot",
        configs.create(&pp, &object(mutable)).await,
    );
    let mut unowned = snapshot("Secret", "app-secret");
    unowned["metadata"]["ownerReferences"] = json!([]);
    p.assert_denied(
        "an unowned Secret labelled as a snapshot",
        secrets.create(&pp, &object(unowned)).await,
    );
    let mut misnamed = snapshot("ConfigMap", "app-config");
    misnamed["metadata"]["name"] = json!("ca-bundle");
    p.assert_denied(
        "a snapshot not named after the object it copies",
        configs.create(&pp, &object(misnamed)).await,
    );
    // A "snapshot" of type service-account-token would have the token controller mint a token
    // the controller could then read.
    let mut token = snapshot("Secret", "app-secret");
    token["type"] = json!("kubernetes.io/service-account-token");
    token["metadata"]["annotations"] = json!({"kubernetes.io/service-account.name": "default"});
    p.assert_denied(
        "a ServiceAccount token shaped as a snapshot",
        secrets.create(&pp, &object(token)).await,
    );

    // What the controller does make passes.
    configs
        .create(&pp, &object(snapshot("ConfigMap", "app-config")))
        .await
        .expect("a ConfigMap snapshot is admitted");
    secrets
        .create(&pp, &object(snapshot("Secret", "app-secret")))
        .await
        .expect("a Secret snapshot is admitted");
    p.cleanup().await;
}

#[tokio::test]
async fn the_controller_cannot_delete_or_change_a_users_secret() {
    let p = Policed::new("chart-policy-delete").await;
    let pp = PostParams::default();
    let users: Secret = object(json!({
        "metadata": {"name": "db-credentials"}, "stringData": {"password": "hunter2"}
    }));
    p.admin_api::<Secret>()
        .create(&pp, &users)
        .await
        .expect("a user's Secret");
    // Labelled like a snapshot by its owner, but not one: mutable, owned by no Rollout.
    let labelled: ConfigMap = object(json!({
        "metadata": {"name": "app-config-0123456789",
                     "labels": {"rollgate.dev/snapshot-of": "app-config", "rollgate.dev/rollout": "app"}},
        "data": {"mode": "safe"}
    }));
    p.admin_api::<ConfigMap>()
        .create(&pp, &labelled)
        .await
        .expect("a user's ConfigMap");

    let secrets = p.sa_api::<Secret>();
    p.assert_denied(
        "deleting a user's Secret",
        secrets
            .delete("db-credentials", &DeleteParams::default())
            .await,
    );
    p.assert_denied(
        "deleting a user's ConfigMap labelled like a snapshot",
        p.sa_api::<ConfigMap>()
            .delete("app-config-0123456789", &DeleteParams::default())
            .await,
    );
    let edit = json!({"stringData": {"password": "changed"}});
    let refused = secrets
        .patch(
            "db-credentials",
            &PatchParams::default(),
            &Patch::Merge(edit),
        )
        .await;
    assert!(
        matches!(&refused, Err(kube::Error::Api(e)) if e.code == 403),
        "patching a user's Secret (RBAC grants no patch): {refused:?}"
    );
    let kept = p
        .admin_api::<Secret>()
        .get("db-credentials")
        .await
        .expect("the user's Secret is still there");
    assert_eq!(kept.data.unwrap()["password"].0, b"hunter2");

    // The controller's own snapshots it may collect. Owned by a real Rollout: one owned by a
    // missing owner is taken by the garbage collector at once, racing the delete below.
    let rollout: rollgate::api::Rollout = object(json!({
        "apiVersion": "rollgate.dev/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "app"},
        "spec": {"targetRef": {"kind": "Deployment", "name": "app"}, "replicas": 1,
                 "stages": [{"weight": 100}]}
    }));
    let rollout = p
        .admin_api::<rollgate::api::Rollout>()
        .create(&pp, &rollout)
        .await
        .expect("the snapshot's Rollout");
    let mut own = snapshot("Secret", "app-secret");
    own["metadata"]["ownerReferences"][0]["uid"] = json!(rollout.metadata.uid);
    let own: Secret = object(own);
    secrets.create(&pp, &own).await.expect("a snapshot");
    secrets
        .delete("app-secret-0123456789", &DeleteParams::default())
        .await
        .expect("an old snapshot is collected");
    p.cleanup().await;
}

#[tokio::test]
async fn the_controller_cannot_create_a_deployment_that_is_not_one_of_its_tracks() {
    let p = Policed::new("chart-policy-create").await;
    let deployments = p.sa_api::<Deployment>();
    let pp = PostParams::default();
    let miner = deployment("miner", "default", json!({}));
    p.assert_denied(
        "an arbitrary Deployment",
        deployments.create(&pp, &miner).await,
    );
    let labelled = deployment(
        "miner-stable",
        "default",
        json!({"labels": {"app.kubernetes.io/managed-by": "rollgate", "rollgate.dev/track": "stable"}}),
    );
    p.assert_denied(
        "a Deployment labelled as a track but owned by no Rollout",
        deployments.create(&pp, &labelled).await,
    );
    let owner = json!([{"apiVersion": "rollgate.dev/v1alpha1", "kind": "Rollout", "name": "app",
        "uid": "5b7f3c1e-0000-4000-8000-000000000001", "controller": true}]);
    let unlabelled = deployment("app-stable", "default", json!({"ownerReferences": owner}));
    p.assert_denied(
        "a Deployment owned by a Rollout without the track labels",
        deployments.create(&pp, &unlabelled).await,
    );
    let track = deployment(
        "app-canary",
        "default",
        json!({
            "labels": {"app.kubernetes.io/managed-by": "rollgate", "rollgate.dev/track": "canary"},
            "ownerReferences": owner
        }),
    );
    deployments
        .create(&pp, &track)
        .await
        .expect("a track is admitted");
    p.cleanup().await;
}

#[tokio::test]
async fn the_controller_may_change_only_replicas_and_its_annotation_of_a_users_deployment() {
    let p = Policed::new("chart-policy-target").await;
    let mut web = deployment("web", "default", json!({"labels": {"team": "shop"}}));
    web.spec.as_mut().unwrap().replicas = Some(3);
    p.admin_api::<Deployment>()
        .create(&PostParams::default(), &web)
        .await
        .expect("a user's Deployment");
    let deployments = p.sa_api::<Deployment>();
    let merge = |v: Value| Patch::Merge(v);
    let params = PatchParams::default();

    let image = json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "evil:1"}]}}}});
    p.assert_denied(
        "changing a user's pod template",
        deployments.patch("web", &params, &merge(image)).await,
    );
    let sa = json!({"spec": {"template": {"spec": {"serviceAccountName": "admin"}}}});
    p.assert_denied(
        "changing a user's ServiceAccount",
        deployments.patch("web", &params, &merge(sa)).await,
    );
    let labels = json!({"metadata": {"labels": {"app.kubernetes.io/managed-by": "rollgate"}}});
    p.assert_denied(
        "relabelling a user's Deployment as a track",
        deployments.patch("web", &params, &merge(labels)).await,
    );
    let paused = json!({"spec": {"paused": true}});
    p.assert_denied(
        "pausing a user's Deployment",
        deployments.patch("web", &params, &merge(paused)).await,
    );
    let strategy = json!({"spec": {"strategy": {"type": "Recreate", "rollingUpdate": null}}});
    p.assert_denied(
        "changing a user's update strategy",
        deployments.patch("web", &params, &merge(strategy)).await,
    );
    let other = json!({"metadata": {"annotations": {"example.com/owner": "rollgate"}}});
    p.assert_denied(
        "any other annotation",
        deployments.patch("web", &params, &merge(other)).await,
    );

    // What the controller does to a target passes: holding it (apply.rs), handing it back.
    let hold = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "annotations": {"rollgate.dev/rollout": "web",
                                                    "rollgate.dev/served-by": "web-stable"}},
        "spec": {"replicas": 0}
    });
    deployments
        .patch(
            "web",
            &PatchParams::apply("rollgate").force(),
            &Patch::Apply(hold),
        )
        .await
        .expect("holding the target at 0 with the marker");
    let hand_back = json!({"metadata": {"annotations": {"rollgate.dev/rollout": null, "rollgate.dev/served-by": null}}, "spec": {"replicas": 3}});
    deployments
        .patch(
            "web",
            &PatchParams {
                field_manager: Some("rollgate-hand-back".into()),
                ..Default::default()
            },
            &merge(hand_back),
        )
        .await
        .expect("handing the target back");
    let after = p.admin_api::<Deployment>().get("web").await.unwrap();
    assert_eq!(after.spec.as_ref().unwrap().replicas, Some(3));
    assert_eq!(
        after.spec.unwrap().template.spec.unwrap().containers[0]
            .image
            .as_deref(),
        Some("busybox:1")
    );
    p.cleanup().await;
}

//! A member cluster of a multi-cluster test: its own control plane with rollgate's CRDs, the
//! test's namespace, and its own rollgate controller asking the platform's Prometheus.

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use rollgate_platform::{MemberCluster, PlatformEnv};

use crate::process::ControllerProcess;

/// One member: the cluster, an admin client, and the controller watching `namespace` there.
pub struct Member {
    pub cluster: MemberCluster,
    pub client: Client,
    pub namespace: String,
    pub controller: ControllerProcess,
}

impl Member {
    /// Starts member `name` with rollgate's CRDs, creates `namespace` on it and starts a
    /// controller for that namespace asking `env`'s Prometheus (series are labelled by
    /// namespace, so one Prometheus serves every cluster of the test).
    pub async fn start(env: &PlatformEnv, name: &str, namespace: &str) -> Member {
        let cluster = MemberCluster::start(env, name)
            .await
            .unwrap_or_else(|e| panic!("start member {name}: {e}"));
        let client = cluster.client().await.expect("member client");
        install_crds(&client).await;
        let namespaced = Namespace {
            metadata: ObjectMeta {
                name: Some(namespace.to_string()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &namespaced)
            .await
            .unwrap_or_else(|e| panic!("create namespace {namespace} on {name}: {e}"));
        let controller =
            ControllerProcess::start_on_member(&cluster, namespace, &env.prometheus_url, &[]);
        Member {
            cluster,
            client,
            namespace: namespace.to_string(),
            controller,
        }
    }

    /// Starts the members `names` at once (each start takes seconds; see docs/PLATFORM.md).
    pub async fn start_all(env: &PlatformEnv, names: &[&str], namespace: &str) -> Vec<Member> {
        futures::future::join_all(names.iter().map(|name| Member::start(env, name, namespace)))
            .await
    }

    pub fn name(&self) -> &str {
        self.cluster.name()
    }
}

/// Installs rollgate's CRDs (from the Rust types, as the product does) on the cluster of
/// `client`, and waits until they are established.
pub async fn install_crds(client: &Client) {
    rollgate::controller::crds::install(client, "rollgate-e2e")
        .await
        .expect("install the CRDs")
}

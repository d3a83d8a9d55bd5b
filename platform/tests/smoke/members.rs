//! Member clusters: further control planes a test starts for a multi-cluster release.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret};
use kube::Api;
use kube::api::{ListParams, ObjectMeta, PostParams};
use rollgate_platform::{CredentialRequest, MemberCluster, shared};

use crate::{deployment, eventually, is_ready};

const ROLLGATE_CRDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../crds/rollgate.dev.yaml");
const GET_DEPLOYMENTS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/smoke/members/get-deployments.yaml"
);

async fn create_namespace(client: &kube::Client, name: &str) {
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
}

async fn ready_pods(client: &kube::Client, namespace: &str, app: &str) -> Result<usize, String> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let list = pods
        .list(&ListParams::default().labels(&format!("app={app}")))
        .await
        .map_err(|e| e.to_string())?;
    Ok(list.items.iter().filter(|p| is_ready(p)).count())
}

#[tokio::test]
async fn two_members_start_in_parallel_and_run_deployments() {
    let env = shared();
    let started = Instant::now();
    let (east, west) = tokio::join!(
        MemberCluster::start(env, "east"),
        MemberCluster::start(env, "west")
    );
    let (east, west) = (east.unwrap(), west.unwrap());
    eprintln!(
        "two members ready in {:?} (east {:?}, west {:?})",
        started.elapsed(),
        east.started_in(),
        west.started_in()
    );
    assert_ne!(east.apiserver_url(), west.apiserver_url());
    assert_ne!(east.apiserver_url(), env.apiserver_url);
    assert_ne!(east.ca_pem(), west.ca_pem(), "each member has its own CA");

    for member in [&east, &west] {
        let client = member.client().await.unwrap();
        create_namespace(&client, "shop").await;
        let deployments: Api<Deployment> = Api::namespaced(client.clone(), "shop");
        deployments
            .create(&PostParams::default(), &deployment("web", 3))
            .await
            .unwrap();
        let what = format!("3 Ready pods on {}", member.name());
        eventually(&what, Duration::from_secs(60), || async {
            match ready_pods(&client, "shop", "web").await? {
                3 => Ok(()),
                n => Err(format!("{n} Ready")),
            }
        })
        .await;
    }

    // rollgate's CRDs install on a member, and its resources are served there.
    east.install_crds(Path::new(ROLLGATE_CRDS)).await.unwrap();
    let rollouts = kube::core::ApiResource {
        group: "rollgate.dev".into(),
        version: "v1alpha1".into(),
        api_version: "rollgate.dev/v1alpha1".into(),
        kind: "Rollout".into(),
        plural: "rollouts".into(),
    };
    let client = east.client().await.unwrap();
    Api::<kube::api::DynamicObject>::namespaced_with(client, "shop", &rollouts)
        .list(&ListParams::default())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_killed_member_apiserver_comes_back_on_the_same_port_with_its_data() {
    let env = shared();
    let mut member = MemberCluster::start(env, "outage").await.unwrap();
    let url = member.apiserver_url().to_string();
    let client = member.client().await.unwrap();
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let marker = ConfigMap {
        metadata: ObjectMeta {
            name: Some("before-the-outage".to_string()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    };
    config_maps
        .create(&PostParams::default(), &marker)
        .await
        .unwrap();

    member.kill_apiserver();
    assert!(!member.apiserver_running());
    match config_maps.get("before-the-outage").await {
        // Nothing listens: a transport error, never an answer from the API.
        Err(kube::Error::Api(response)) => panic!("an API answer during the outage: {response:?}"),
        Err(_) => {}
        Ok(_) => panic!("the API answered during the outage"),
    }

    member.start_apiserver().await.unwrap();
    assert_eq!(member.apiserver_url(), url);
    // The same client reconnects; the data in etcd survived.
    config_maps.get("before-the-outage").await.unwrap();
    // Workloads still work: the controllers reconnected to the new apiserver.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deployments
        .create(&PostParams::default(), &deployment("after", 2))
        .await
        .unwrap();
    eventually(
        "2 Ready pods after the restart",
        Duration::from_secs(60),
        || async {
            match ready_pods(&client, "default", "after").await? {
                2 => Ok(()),
                n => Err(format!("{n} Ready")),
            }
        },
    )
    .await;
    member.check_running().unwrap();
}

/// The status and message of a refused request.
fn forbidden<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> (u16, String) {
    match result {
        Err(kube::Error::Api(status)) => (status.code, status.message),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_minted_token_gets_only_what_its_role_allows() {
    let env = shared();
    let member = MemberCluster::start(env, "least-privilege").await.unwrap();
    let admin = member.client().await.unwrap();
    for namespace in ["shop", "other"] {
        create_namespace(&admin, namespace).await;
        Api::<Deployment>::namespaced(admin.clone(), namespace)
            .create(&PostParams::default(), &deployment("web", 1))
            .await
            .unwrap();
    }
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("db".to_string()),
            ..ObjectMeta::default()
        },
        ..Secret::default()
    };
    Api::<Secret>::namespaced(admin.clone(), "shop")
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();

    let request = CredentialRequest::new("shop", "rollgate-hub", Path::new(GET_DEPLOYMENTS));
    let credential = member.mint_credential(&request).await.unwrap();
    assert!(credential.kubeconfig_yaml.contains(member.apiserver_url()));
    assert!(
        !credential.kubeconfig_yaml.contains("client-key"),
        "token only"
    );
    let client = rollgate_platform::client_from_yaml(&credential.kubeconfig_yaml)
        .await
        .unwrap();

    let deployment = Api::<Deployment>::namespaced(client.clone(), "shop")
        .get("web")
        .await
        .unwrap();
    assert_eq!(deployment.metadata.name.as_deref(), Some("web"));

    let user = "system:serviceaccount:shop:rollgate-hub";
    assert_eq!(
        forbidden(
            Api::<Secret>::namespaced(client.clone(), "shop")
                .get("db")
                .await
        ),
        (
            403,
            format!(
                r#"secrets "db" is forbidden: User "{user}" cannot get resource "secrets" in API group "" in the namespace "shop""#
            )
        )
    );
    assert_eq!(
        forbidden(
            Api::<Deployment>::namespaced(client.clone(), "other")
                .get("web")
                .await
        ),
        (
            403,
            format!(
                r#"deployments.apps "web" is forbidden: User "{user}" cannot get resource "deployments" in API group "apps" in the namespace "other""#
            )
        )
    );
    // `get` only: not even listing its own namespace's Deployments.
    assert_eq!(
        forbidden(
            Api::<Deployment>::namespaced(client, "shop")
                .list(&ListParams::default())
                .await
        ),
        (
            403,
            format!(
                r#"deployments.apps is forbidden: User "{user}" cannot list resource "deployments" in API group "apps" in the namespace "shop""#
            )
        )
    );
}

#[tokio::test]
async fn a_dropped_member_leaves_no_process_and_no_files() {
    let member = MemberCluster::start(shared(), "dropped").await.unwrap();
    let pids = member.pids();
    let work_dir = member.work_dir().to_path_buf();
    assert_eq!(pids.len(), 5, "etcd, apiserver, KCM, scheduler, kwok");
    member.shutdown().await;
    for pid in pids {
        assert!(!alive(pid), "process {pid} survived");
    }
    assert!(!work_dir.exists(), "{} survived", work_dir.display());
}

/// Whether `pid` runs (a zombie waiting for its reaper does not).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesized command name.
        Ok(stat) => stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| !rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// Set for the child test process of [`a_member_dies_with_its_killed_test_process`].
const HOLD_VAR: &str = "ROLLGATE_SMOKE_HOLD_MEMBER";

/// Not a test of its own: the child process of the one below, which starts a member, prints
/// its pids and waits to be killed.
#[tokio::test]
#[ignore = "run by a_member_dies_with_its_killed_test_process"]
async fn hold_a_member_until_killed() {
    if std::env::var_os(HOLD_VAR).is_none() {
        return;
    }
    let bin_dir = rollgate_platform::binaries::control_plane_bin_dir().unwrap();
    let member = MemberCluster::start_with(
        &bin_dir,
        "held",
        rollgate_platform::MemberOptions::default(),
    )
    .await
    .unwrap();
    let pids: Vec<String> = member.pids().iter().map(u32::to_string).collect();
    println!("member-pids {}", pids.join(" "));
    std::future::pending::<()>().await;
}

#[tokio::test]
async fn a_member_dies_with_its_killed_test_process() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "members::hold_a_member_until_killed"])
        .args(["--ignored", "--nocapture", "--test-threads=1"])
        .env(HOLD_VAR, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let pids: Vec<u32> = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|line| {
            // libtest prints `test <name> ... ` before the test's own output, on the same line.
            let (_, pids) = line.split_once("member-pids ")?;
            Some(pids.split(' ').map(|p| p.parse().unwrap()).collect())
        })
        .expect("the child test printed its member's pids");
    assert_eq!(pids.len(), 5);
    assert!(pids.iter().all(|pid| alive(*pid)));

    child.kill().unwrap(); // SIGKILL: no Drop, no atexit
    child.wait().unwrap();
    // The kernel delivers the death signal at once; the processes take a moment to exit.
    eventually(
        "the member's processes to die with the test process",
        Duration::from_secs(10),
        || async {
            let survivors: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
            if survivors.is_empty() {
                Ok(())
            } else {
                Err(format!("{survivors:?} still run"))
            }
        },
    )
    .await;
}

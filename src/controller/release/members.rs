//! Member clusters as the hub reaches them: a client per cluster Secret (its kubeconfig, read
//! through the one Secret edge), short timeouts so an unreachable member holds its own wave
//! and never the reconcile of others, and the member's Rollout read into plain values.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::PartialObjectMeta;
use kube::{Api, Client, Config, ResourceExt};

use crate::api::keys::{CLUSTER, CLUSTER_MEMBER, KUBECONFIG};
use crate::api::{ContainerImage, Release, Rollout};
use crate::controller::Context;
use crate::controller::workload::member as target;
use crate::waves::{Cluster, Member, MemberRollout, Observation};

/// The hub's field manager on member targets: it owns only the image fields it applied.
pub const HUB_MANAGER: &str = "rollgate-hub";
/// Longest one call to a member may take; a member slower than this is unreachable this time.
const CALL_TIMEOUT: Duration = Duration::from_secs(4);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Clients built so far, by (namespace, Secret name), with the Secret version they came from.
#[derive(Default)]
pub struct Clients(Mutex<HashMap<(String, String), (String, Client)>>);

/// The member clusters of `release`'s namespace: Secrets labelled `rollgate.dev/cluster:
/// member`, from the metadata cache.
pub fn clusters(ctx: &Context, release: &Release) -> Vec<Cluster> {
    let ns = release.namespace().unwrap_or_default();
    let mut clusters: Vec<Cluster> = ctx
        .secrets
        .state()
        .iter()
        .filter(|s| s.namespace().as_deref() == Some(ns.as_str()) && is_member(s))
        .map(|s| Cluster {
            name: s.name_any(),
            labels: s.labels().clone(),
        })
        .collect();
    clusters.sort_by(|a, b| a.name.cmp(&b.name));
    clusters
}

fn is_member(s: &PartialObjectMeta<Secret>) -> bool {
    s.labels().get(CLUSTER).map(String::as_str) == Some(CLUSTER_MEMBER)
}

/// The client of cluster `name` (a Secret in `namespace`); errors say what is wrong with the
/// Secret, never what it holds.
pub async fn client(ctx: &Context, namespace: &str, name: &str) -> Result<Client, String> {
    let contents = crate::controller::secrets::read(ctx, namespace, name)
        .await
        .map_err(|_| format!("Secret {namespace}/{name} cannot be read"))?
        .ok_or_else(|| format!("Secret {namespace}/{name} does not exist"))?;
    let key = (namespace.to_string(), name.to_string());
    if let Some((version, client)) = ctx.members.0.lock().expect("clients lock").get(&key)
        && *version == contents.version
    {
        return Ok(client.clone());
    }
    let bad = |what: &str| format!("Secret {namespace}/{name}: key {KUBECONFIG:?} {what}");
    let yaml = contents
        .data
        .get(KUBECONFIG)
        .ok_or_else(|| bad("is missing"))?;
    let yaml = std::str::from_utf8(yaml).map_err(|_| bad("is not text"))?;
    let kubeconfig = Kubeconfig::from_yaml(yaml).map_err(|_| bad("is not a kubeconfig"))?;
    let mut config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|_| bad("names no usable context"))?;
    config.connect_timeout = Some(CONNECT_TIMEOUT);
    config.read_timeout = Some(CALL_TIMEOUT);
    config.write_timeout = Some(CALL_TIMEOUT);
    let client = Client::try_from(config).map_err(|_| bad("gives no client"))?;
    ctx.members
        .0
        .lock()
        .expect("clients lock")
        .insert(key, (contents.version.clone(), client.clone()));
    Ok(client)
}

/// What is seen of every cluster now, concurrently: one slow member costs the reconcile at
/// most one timeout.
pub async fn observe(
    ctx: &Context,
    release: &Release,
    clusters: &[Cluster],
) -> BTreeMap<String, Observation> {
    let ns = release.namespace().unwrap_or_default();
    let seen = futures::future::join_all(clusters.iter().map(|c| {
        let ns = ns.clone();
        async move {
            let o = match client(ctx, &ns, &c.name).await {
                Ok(client) => {
                    match tokio::time::timeout(CALL_TIMEOUT, member(&client, release)).await {
                        Ok(Ok(m)) => Observation::Seen(m),
                        Ok(Err(e)) => Observation::Unreachable(said(&e)),
                        Err(_) => Observation::Unreachable("no answer in time".into()),
                    }
                }
                Err(e) => Observation::Unreachable(e),
            };
            if matches!(o, Observation::Unreachable(_)) {
                ctx.metrics.members_unreachable.inc();
            }
            (c.name.clone(), o)
        }
    }))
    .await;
    seen.into_iter().collect()
}

/// A member error in words, without anything the member sent back verbatim beyond its status.
fn said(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("the member's API server answered {} {}", s.code, s.reason),
        _ => "the member's API server is unreachable".into(),
    }
}

async fn member(client: &Client, release: &Release) -> Result<Member, kube::Error> {
    let spec = &release.spec.rollout;
    let rollouts: Api<Rollout> = Api::namespaced(client.clone(), &spec.namespace);
    let Some(rollout) = rollouts.get_opt(&spec.name).await? else {
        return Ok(Member {
            images: vec![],
            rollout: None,
        });
    };
    let images = target::images(client, &rollout).await?.unwrap_or_default();
    let st = rollout.status.clone().unwrap_or_default();
    let gates = st
        .gates
        .iter()
        .map(|g| format!("{}={}", g.name, g.verdict.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(Member {
        images,
        rollout: Some(MemberRollout {
            phase: st.phase,
            target: st.target.clone(),
            stable_revision: st.stable_revision.clone(),
            rolled_back_revision: st.rollback.as_ref().map(|r| r.revision.clone()),
            incident: st.incident_ref.as_ref().map(|i| i.name.clone()),
            stage: st.columns.as_ref().map(|c| c.stage.clone()),
            gates: (!gates.is_empty()).then_some(gates),
        }),
    })
}

/// Applies `images` to cluster `name`'s target; the generation it reached.
pub async fn apply(
    ctx: &Context,
    release: &Release,
    name: &str,
    images: &[ContainerImage],
) -> Result<i64, String> {
    let ns = release.namespace().unwrap_or_default();
    let client = client(ctx, &ns, name).await?;
    let spec = &release.spec.rollout;
    let write = async {
        let rollouts: Api<Rollout> = Api::namespaced(client.clone(), &spec.namespace);
        let rollout = rollouts.get(&spec.name).await?;
        target::apply_images(&client, &rollout, images, HUB_MANAGER).await
    };
    match tokio::time::timeout(CALL_TIMEOUT, write).await {
        Ok(Ok(generation)) => Ok(generation),
        Ok(Err(e)) => Err(said(&e)),
        Err(_) => Err("no answer in time".into()),
    }
}

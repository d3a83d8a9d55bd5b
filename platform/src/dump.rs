//! A readable description of a namespace, printed when a test fails.

use std::collections::BTreeMap;
use std::fmt::Write;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod, PodSpec};
use kube::api::{ApiResource, DynamicObject, ListParams};
use kube::{Api, Client};

/// Deployments, ReplicaSets, Pods, Events and the named custom resources
/// (`<plural>.<group>`) of `namespace`.
pub(crate) async fn namespace(client: &Client, namespace: &str, custom: &[String]) -> String {
    let mut out = format!("===== namespace {namespace} =====\n");
    deployments(&mut out, client, namespace).await;
    replica_sets(&mut out, client, namespace).await;
    pods(&mut out, client, namespace).await;
    for resource in custom {
        custom_resources(&mut out, client, namespace, resource).await;
    }
    events(&mut out, client, namespace).await;
    out
}

async fn list<K>(client: &Client, namespace: &str, out: &mut String) -> Vec<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(e) => {
            let _ = writeln!(
                out,
                "  (cannot list {}: {e})",
                K::plural(&Default::default())
            );
            Vec::new()
        }
    }
}

async fn deployments(out: &mut String, client: &Client, namespace: &str) {
    let _ = writeln!(out, "--- deployments");
    for d in list::<Deployment>(client, namespace, out).await {
        let spec = d.spec.as_ref();
        let status = d.status.clone().unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} replicas={} updated={} ready={} available={} generation={}/{} images={:?} labels={:?}",
            name(&d.metadata),
            spec.and_then(|s| s.replicas).unwrap_or(1),
            status.updated_replicas.unwrap_or(0),
            status.ready_replicas.unwrap_or(0),
            status.available_replicas.unwrap_or(0),
            status.observed_generation.unwrap_or(0),
            d.metadata.generation.unwrap_or(0),
            spec.map(|s| images(s.template.spec.as_ref()))
                .unwrap_or_default(),
            d.metadata.labels.clone().unwrap_or_default(),
        );
        for c in status.conditions.unwrap_or_default() {
            let _ = writeln!(
                out,
                "    {}={} {} {}",
                c.type_,
                c.status,
                c.reason.unwrap_or_default(),
                c.message.unwrap_or_default()
            );
        }
    }
}

async fn replica_sets(out: &mut String, client: &Client, namespace: &str) {
    let _ = writeln!(out, "--- replicasets");
    for rs in list::<ReplicaSet>(client, namespace, out).await {
        let status = rs.status.clone().unwrap_or_default();
        let owner = rs
            .metadata
            .owner_references
            .as_ref()
            .and_then(|o| o.first())
            .map(|o| format!("{}/{}", o.kind, o.name))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {} owner={} replicas={}/{} ready={} images={:?} labels={:?}",
            name(&rs.metadata),
            owner,
            status.replicas,
            rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
            status.ready_replicas.unwrap_or(0),
            rs.spec
                .as_ref()
                .and_then(|s| s.template.as_ref())
                .map(|t| images(t.spec.as_ref()))
                .unwrap_or_default(),
            rs.metadata.labels.clone().unwrap_or_default(),
        );
    }
}

async fn pods(out: &mut String, client: &Client, namespace: &str) {
    let _ = writeln!(out, "--- pods");
    for pod in list::<Pod>(client, namespace, out).await {
        let status = pod.status.clone().unwrap_or_default();
        let ready = status
            .conditions
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        let deleting = if pod.metadata.deletion_timestamp.is_some() {
            " deleting"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  {} phase={} ready={ready}{deleting} node={} images={:?} labels={:?}",
            name(&pod.metadata),
            status.phase.unwrap_or_default(),
            pod.spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .unwrap_or_default(),
            images(pod.spec.as_ref()),
            pod.metadata.labels.clone().unwrap_or_default(),
        );
    }
}

async fn custom_resources(out: &mut String, client: &Client, namespace: &str, resource: &str) {
    let _ = writeln!(out, "--- {resource}");
    let Some((plural, group)) = resource.split_once('.') else {
        let _ = writeln!(out, "  (expected <plural>.<group>)");
        return;
    };
    let found = match kube::discovery::group(client, group).await {
        Ok(api_group) => api_group
            .recommended_resources()
            .into_iter()
            .find(|(ar, _)| ar.plural == plural)
            .map(|(ar, _)| ar),
        Err(e) => {
            let _ = writeln!(out, "  (cannot discover {group}: {e})");
            return;
        }
    };
    let Some(ar): Option<ApiResource> = found else {
        let _ = writeln!(out, "  (no resource {plural} in {group})");
        return;
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &ar);
    match api.list(&ListParams::default()).await {
        Ok(list) => {
            for mut object in list.items {
                object.metadata.managed_fields = None;
                let yaml = serde_norway::to_string(&object).unwrap_or_else(|e| e.to_string());
                for line in yaml.lines() {
                    let _ = writeln!(out, "  {line}");
                }
                let _ = writeln!(out, "  ---");
            }
        }
        Err(e) => {
            let _ = writeln!(out, "  (cannot list: {e})");
        }
    }
}

async fn events(out: &mut String, client: &Client, namespace: &str) {
    let _ = writeln!(out, "--- events");
    let mut events = list::<Event>(client, namespace, out).await;
    events.sort_by_key(|e| {
        e.last_timestamp
            .as_ref()
            .map(|t| t.0)
            .or_else(|| e.event_time.as_ref().map(|t| t.0))
    });
    for e in events {
        let _ = writeln!(
            out,
            "  {} {} {}/{}: {} (x{})",
            e.type_.unwrap_or_default(),
            e.reason.unwrap_or_default(),
            e.involved_object.kind.unwrap_or_default(),
            e.involved_object.name.unwrap_or_default(),
            e.message.unwrap_or_default().trim(),
            e.count.unwrap_or(1),
        );
    }
}

fn name(meta: &kube::api::ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

fn images(spec: Option<&PodSpec>) -> BTreeMap<String, String> {
    spec.map(|s| {
        s.containers
            .iter()
            .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
            .collect()
    })
    .unwrap_or_default()
}

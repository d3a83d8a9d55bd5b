//! `lint --cluster`: the IncidentChannels a Rollout names, and their Secrets, checked against
//! the cluster, so a channel that would reach nobody is found before merge, not at 3 a.m.
//! Channels defined in the files being linted count as present (they are applied together).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use serde_json::Value;

use super::{Document, Finding, Problem};
use crate::api::{IncidentChannel, locate_channel};

/// A channel reference resolved: (namespace, name).
type Channel = (String, String);

/// The namespace of a document, or `default_namespace`.
fn namespace_of(doc: &Value, default_namespace: &str) -> String {
    doc.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or(default_namespace)
        .to_string()
}

/// The IncidentChannels (and the Secrets they name) defined in the linted files themselves.
pub fn defined(docs: &[(String, Document)], default_namespace: &str) -> BTreeSet<Channel> {
    docs.iter()
        .filter(|(_, d)| d.rollgate_kind() == Some("IncidentChannel"))
        .filter_map(|(_, d)| {
            let name = d.value.pointer("/metadata/name")?.as_str()?;
            Some((namespace_of(&d.value, default_namespace), name.to_string()))
        })
        .collect()
}

/// Every channel reference of the Rollouts in `rollouts` that is neither in the files nor in
/// the cluster, and every channel in the cluster whose Secret is missing.
pub async fn check(
    client: &Client,
    default_namespace: &str,
    rollouts: &[(String, Document)],
    in_files: &BTreeSet<Channel>,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (file, doc) in rollouts {
        let ns = namespace_of(&doc.value, default_namespace);
        let named = doc
            .value
            .pointer("/spec/incident/channels")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (i, channel) in named.iter().enumerate() {
            let Some(channel) = channel.as_str() else {
                continue;
            };
            let (cns, name) = locate_channel(&ns, channel);
            if in_files.contains(&(cns.clone(), name.clone())) {
                continue;
            }
            let field = format!("spec.incident.channels[{i}]");
            if let Some(message) = missing(client, &cns, &name).await {
                problems.push(doc.place(file, Finding::new(&field, message)));
            }
        }
    }
    problems
}

/// Why channel `cns/name` would reach nobody, if it would.
async fn missing(client: &Client, cns: &str, name: &str) -> Option<String> {
    let channels: Api<IncidentChannel> = Api::namespaced(client.clone(), cns);
    let channel = match channels.get_opt(name).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Some(format!(
                "IncidentChannel {cns}/{name} does not exist in the cluster (nor in these files): an incident would reach nobody there"
            ));
        }
        Err(e) => return Some(format!("IncidentChannel {cns}/{name} cannot be read: {e}")),
    };
    let secret = channel.spec.secret_ref?;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), cns);
    match secrets.get_metadata_opt(&secret.name).await {
        Ok(Some(_)) => None,
        Ok(None) => Some(format!(
            "Secret {cns}/{} of IncidentChannel {name} does not exist: its credentials are missing",
            secret.name
        )),
        // Reading Secrets may not be this user's right; the controller checks it anyway.
        Err(_) => None,
    }
}

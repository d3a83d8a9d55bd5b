//! `rollgate incidents`, `incident ack|resolve`, `postmortem` (the draft is written by
//! [`crate::incident::postmortem`] from what the Incident recorded).

use kube::api::{ListParams, Patch, PatchParams};
use serde::Serialize;
use serde_json::{Value, json};

use super::cluster::Cluster;
use super::rollouts::no_resources;
use super::view::{self, IncidentRow};
use super::{CliError, Output, Scope};
use crate::api::Incident;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    Acknowledged,
    Resolved,
}

impl Mark {
    fn field(self) -> &'static str {
        match self {
            Mark::Acknowledged => "acknowledgedBy",
            Mark::Resolved => "resolvedBy",
        }
    }
}

#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Marked {
    pub namespace: String,
    pub incident: String,
    pub field: String,
    pub by: String,
}

/// `rollgate postmortem` as data: the draft is Markdown either way.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct Postmortem {
    pub incident: String,
    pub markdown: String,
}

/// The merge patch that marks an incident.
pub fn mark_patch(mark: Mark, by: &str) -> Value {
    json!({"spec": {mark.field(): by}})
}

/// `--by`, else `$USER`.
pub fn who(by: Option<String>, user: Option<String>) -> Result<String, CliError> {
    by.or(user)
        .filter(|w| !w.trim().is_empty())
        .ok_or_else(|| CliError::Usage("say who with --by (and $USER is not set)".into()))
}

pub async fn list(cluster: &Cluster, all_namespaces: bool, output: Output) -> Result<(), CliError> {
    let mut incidents = cluster
        .api_in::<Incident>(all_namespaces)
        .list(&ListParams::default())
        .await
        .map_err(|e| CliError::listing("incidents", &cluster.namespace, e))?
        .items;
    // Newest first: the one being paged about is on top.
    incidents.sort_by_key(|i| std::cmp::Reverse(i.metadata.creation_timestamp.clone()));
    let rows = view::incident_rows(&incidents, jiff::Timestamp::now());
    if rows.is_empty() && output == Output::Human {
        return Output::Human.print(&(), |_| no_resources("incidents", cluster, all_namespaces));
    }
    output.print(&rows, |rows| IncidentRow::table(rows, all_namespaces))
}

pub async fn mark(
    scope: &Scope,
    name: &str,
    mark: Mark,
    by: Option<String>,
) -> Result<(), CliError> {
    let by = who(by, std::env::var("USER").ok())?;
    let cluster = Cluster::connect(scope).await?;
    cluster
        .api::<Incident>()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(mark_patch(mark, &by)),
        )
        .await
        .map_err(|e| CliError::kube(format!("incident {name}"), &cluster.namespace, e))?;
    let marked = Marked {
        namespace: cluster.namespace.clone(),
        incident: name.to_string(),
        field: format!("spec.{}", mark.field()),
        by,
    };
    scope.output.print(&marked, |m| {
        let verb = match mark {
            Mark::Acknowledged => "acknowledged",
            Mark::Resolved => "resolved",
        };
        format!(
            "incident {}/{} {verb} by {}\n",
            m.namespace, m.incident, m.by
        )
    })
}

pub async fn postmortem(scope: &Scope, name: &str) -> Result<(), CliError> {
    let cluster = Cluster::connect(scope).await?;
    let incident = cluster
        .api::<Incident>()
        .get(name)
        .await
        .map_err(|e| CliError::kube(format!("incident {name}"), &cluster.namespace, e))?;
    let data = Postmortem {
        incident: name.to_string(),
        markdown: crate::incident::postmortem::render(&incident),
    };
    scope.output.print(&data, |p| p.markdown.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_and_resolve_set_who_in_the_spec() {
        assert_eq!(
            mark_patch(Mark::Acknowledged, "alice"),
            json!({"spec": {"acknowledgedBy": "alice"}})
        );
        assert_eq!(
            mark_patch(Mark::Resolved, "bob"),
            json!({"spec": {"resolvedBy": "bob"}})
        );
    }

    #[test]
    fn who_defaults_to_the_user_and_is_never_empty() {
        assert_eq!(
            who(Some("alice".into()), Some("root".into())).unwrap(),
            "alice"
        );
        assert_eq!(who(None, Some("root".into())).unwrap(), "root");
        assert!(who(None, None).is_err());
        assert!(who(Some(" ".into()), None).is_err());
    }
}

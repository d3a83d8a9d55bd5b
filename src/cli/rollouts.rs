//! `rollgate status` and `rollgate list`: read, then hand to the pure views.

use kube::api::ListParams;

use super::cluster::Cluster;
use super::view::{self, RolloutRow, RolloutView};
use super::{CliError, Output};
use crate::api::Rollout;

pub async fn get(cluster: &Cluster, name: &str) -> Result<Rollout, CliError> {
    cluster
        .api::<Rollout>()
        .get(name)
        .await
        .map_err(|e| CliError::kube(format!("rollout {name}"), &cluster.namespace, e))
}

pub async fn status(
    cluster: &Cluster,
    name: &str,
    output: Output,
    now: jiff::Timestamp,
) -> Result<(), CliError> {
    let rollout = get(cluster, name).await?;
    let view = RolloutView::new(&rollout, now);
    output.print(&view, view::render)
}

pub async fn list(cluster: &Cluster, all_namespaces: bool, output: Output) -> Result<(), CliError> {
    let mut rollouts = cluster
        .api_in::<Rollout>(all_namespaces)
        .list(&ListParams::default())
        .await
        .map_err(|e| CliError::listing("rollouts", &cluster.namespace, e))?
        .items;
    rollouts.sort_by_key(|r| (r.metadata.namespace.clone(), r.metadata.name.clone()));
    let text = list_text(cluster, &rollouts, all_namespaces, output)?;
    Output::Human.print(&(), |_| text)
}

/// One `rollgate list` frame: the table (or the rows as data), or kubectl's words for an empty
/// list.
pub fn list_text(
    cluster: &Cluster,
    rollouts: &[Rollout],
    all_namespaces: bool,
    output: Output,
) -> Result<String, CliError> {
    let rows = view::rollout_rows(rollouts, jiff::Timestamp::now());
    if rows.is_empty() && output == Output::Human {
        return Ok(no_resources("rollouts", cluster, all_namespaces));
    }
    output.render(&rows, |rows| RolloutRow::table(rows, all_namespaces))
}

/// kubectl's words for an empty list.
pub fn no_resources(what: &str, cluster: &Cluster, all_namespaces: bool) -> String {
    if all_namespaces {
        format!("No {what} found.\n")
    } else {
        format!("No {what} found in namespace {}.\n", cluster.namespace)
    }
}

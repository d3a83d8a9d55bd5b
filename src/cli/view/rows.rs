//! One line per object for `rollgate list` and `rollgate incidents`.

use jiff::Timestamp;
use kube::ResourceExt;
use serde::Serialize;

use crate::api::{Incident, Phase, Rollout};
use crate::cli::table;

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutRow {
    pub namespace: String,
    pub name: String,
    pub phase: Phase,
    /// `2/4` while a stage is under way.
    pub stage: Option<String>,
    pub weight: i32,
    /// The Freeze holding it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frozen: Option<String>,
    pub stable: Option<String>,
    pub canary: Option<String>,
    pub age_seconds: Option<i64>,
}

#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IncidentRow {
    pub namespace: String,
    pub name: String,
    pub state: String,
    pub severity: String,
    pub rollout: String,
    pub reason: String,
    pub age_seconds: Option<i64>,
}

fn age_seconds(
    created: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
    now: Timestamp,
) -> Option<i64> {
    created.map(|t| now.as_second() - t.0.as_second())
}

pub fn rollout_rows(rollouts: &[Rollout], now: Timestamp) -> Vec<RolloutRow> {
    rollouts
        .iter()
        .map(|r| {
            let status = r.status.clone().unwrap_or_default();
            // The words kubectl's columns show (the controller writes the same into status).
            let columns = status.columns_for(r.spec.stages.len());
            RolloutRow {
                namespace: r.namespace().unwrap_or_default(),
                name: r.name_any(),
                phase: status.phase,
                stage: Some(columns.stage).filter(|s| s != "-"),
                weight: status.exposure.as_ref().map_or(0, |e| e.weight),
                frozen: status.frozen.map(|f| f.name),
                stable: status.stable_revision,
                canary: Some(columns.canary).filter(|c| c != "-"),
                age_seconds: age_seconds(r.metadata.creation_timestamp.as_ref(), now),
            }
        })
        .collect()
}

pub fn incident_rows(incidents: &[Incident], now: Timestamp) -> Vec<IncidentRow> {
    incidents
        .iter()
        .map(|i| {
            let status = i.status.clone().unwrap_or_default();
            IncidentRow {
                namespace: i.namespace().unwrap_or_default(),
                name: i.name_any(),
                state: format!("{:?}", status.state),
                severity: word(&status.severity.unwrap_or(i.spec.severity)),
                rollout: i.spec.rollout_ref.name.clone(),
                reason: i.spec.reason.clone(),
                age_seconds: age_seconds(i.metadata.creation_timestamp.as_ref(), now),
            }
        })
        .collect()
}

/// The serialized word of an enum (`sev2`), as the API spells it.
fn word<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn or_dash(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "-".into())
}

fn age_cell(v: Option<i64>) -> String {
    v.map_or_else(|| "-".into(), table::age)
}

impl RolloutRow {
    pub fn table(rows: &[RolloutRow], with_namespace: bool) -> String {
        let mut headers = vec![
            "NAME", "PHASE", "STAGE", "WEIGHT", "STABLE", "CANARY", "AGE",
        ];
        // The column appears when a Freeze holds a listed rollout: 80 columns are precious.
        let any_frozen = rows.iter().any(|r| r.frozen.is_some());
        if any_frozen {
            headers.insert(2, "FROZEN");
        }
        if with_namespace {
            headers.insert(0, "NAMESPACE");
        }
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let mut row = vec![
                    r.name.clone(),
                    format!("{:?}", r.phase),
                    or_dash(&r.stage),
                    format!("{}%", r.weight),
                    or_dash(&r.stable),
                    or_dash(&r.canary),
                    age_cell(r.age_seconds),
                ];
                if any_frozen {
                    row.insert(2, or_dash(&r.frozen));
                }
                if with_namespace {
                    row.insert(0, r.namespace.clone());
                }
                row
            })
            .collect();
        table::render(&headers, &cells)
    }
}

impl IncidentRow {
    pub fn table(rows: &[IncidentRow], with_namespace: bool) -> String {
        let mut headers = vec!["NAME", "STATE", "SEVERITY", "ROLLOUT", "REASON", "AGE"];
        if with_namespace {
            headers.insert(0, "NAMESPACE");
        }
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let mut row = vec![
                    r.name.clone(),
                    r.state.clone(),
                    r.severity.clone(),
                    r.rollout.clone(),
                    r.reason.clone(),
                    age_cell(r.age_seconds),
                ];
                if with_namespace {
                    row.insert(0, r.namespace.clone());
                }
                row
            })
            .collect();
        table::render(&headers, &cells)
    }
}

//! `rollgate release status|promote|abort`: a Release's waves × clusters, read from the hub's
//! status (what the hub last saw of each member), and its requests.

use clap::Subcommand;
use serde::Serialize;

use super::cluster::Cluster;
use super::{CliError, Scope};
use crate::api::{Release, ReleaseStatus};
use crate::plan::Verb;

#[derive(Subcommand, Debug)]
pub enum ReleaseCommand {
    /// Show a Release: each wave and each member cluster's revision, phase, stage and gates.
    Status {
        name: String,
        #[command(flatten)]
        scope: Scope,
    },
    /// Approve the wave waiting for approval.
    Promote {
        name: String,
        #[command(flatten)]
        scope: Scope,
    },
    /// Stop the release and return every member that received it.
    Abort {
        name: String,
        #[command(flatten)]
        scope: Scope,
    },
}

pub async fn run(command: ReleaseCommand) -> Result<(), CliError> {
    let (scope, name, verb) = match command {
        ReleaseCommand::Status { name, scope } => {
            let cluster = Cluster::connect(&scope).await?;
            let release =
                cluster.api::<Release>().get(&name).await.map_err(|e| {
                    CliError::kube(format!("release {name}"), &cluster.namespace, e)
                })?;
            let view = ReleaseView::new(&release);
            return scope.output.print(&view, render);
        }
        ReleaseCommand::Promote { name, scope } => (scope, name, Verb::Promote),
        ReleaseCommand::Abort { name, scope } => (scope, name, Verb::Abort),
    };
    let (namespace, request) =
        super::requests::write::<Release>(&scope, "release", &name, verb).await?;
    let sent = super::requests::Sent {
        namespace,
        rollout: name,
        action: verb.as_str().to_string(),
        id: request.id,
    };
    scope.output.print(&sent, |s| {
        format!(
            "release {}/{}: {} requested (id {}); follow it with `rollgate release status {} -n {}`\n",
            s.namespace, s.rollout, s.action, s.id, s.rollout, s.namespace
        )
    })
}

/// What `rollgate release status` shows, as data for `-o json|yaml` too.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseView {
    pub name: String,
    pub phase: String,
    pub message: String,
    pub incident: Option<String>,
    pub rows: Vec<MemberRow>,
}

/// One member cluster in one wave.
#[derive(Serialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MemberRow {
    pub wave: String,
    pub wave_phase: String,
    pub cluster: String,
    pub state: String,
    pub revision: String,
    pub phase: String,
    pub stage: String,
    pub gates: String,
}

impl ReleaseView {
    pub fn new(release: &Release) -> Self {
        let st: ReleaseStatus = release.status.clone().unwrap_or_default();
        let dash = |s: Option<String>| s.unwrap_or_else(|| "-".into());
        let mut rows = Vec::new();
        for (i, w) in release.spec.waves.iter().enumerate() {
            let Some(ws) = st.waves.get(i) else {
                rows.push(MemberRow {
                    wave: w.name.clone(),
                    wave_phase: "NotStarted".into(),
                    cluster: "-".into(),
                    state: "-".into(),
                    revision: "-".into(),
                    phase: "-".into(),
                    stage: "-".into(),
                    gates: "-".into(),
                });
                continue;
            };
            for m in &ws.members {
                let seen = m.seen.clone().unwrap_or_default();
                rows.push(MemberRow {
                    wave: w.name.clone(),
                    wave_phase: ws.phase.as_str().into(),
                    cluster: m.cluster.clone(),
                    state: m.state.as_str().into(),
                    revision: dash(m.revision.clone()),
                    phase: match seen.error {
                        Some(e) => format!("unreachable: {e}"),
                        None => dash(seen.phase),
                    },
                    stage: dash(seen.stage),
                    gates: dash(seen.gates),
                });
            }
        }
        ReleaseView {
            name: kube::ResourceExt::name_any(release),
            phase: st.phase.as_str().into(),
            message: st.message.unwrap_or_default(),
            incident: st.incident_ref.map(|r| r.name),
            rows,
        }
    }
}

pub fn render(v: &ReleaseView) -> String {
    let mut out = format!("Release {}: {}\n{}\n", v.name, v.phase, v.message);
    if let Some(i) = &v.incident {
        out += &format!("Incident: {i}\n");
    }
    out += "\n";
    let rows: Vec<Vec<String>> = v
        .rows
        .iter()
        .map(|r| {
            vec![
                r.wave.clone(),
                r.wave_phase.clone(),
                r.cluster.clone(),
                r.state.clone(),
                r.revision.clone(),
                r.phase.clone(),
                r.stage.clone(),
                r.gates.clone(),
            ]
        })
        .collect();
    out + &super::table::render(
        &[
            "WAVE",
            "WAVE PHASE",
            "CLUSTER",
            "STATE",
            "REVISION",
            "PHASE",
            "STAGE",
            "GATES",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{
        MemberSeen, MemberState, MemberStatus, OnFailure, ReleasePhase, WavePhase, WaveStatus,
    };

    #[test]
    fn waves_by_clusters_show_each_members_revision_phase_stage_and_gates() {
        let mut release = crate::waves::fixture::release(OnFailure::Halt);
        let at = jiff::Timestamp::UNIX_EPOCH;
        let mut member = MemberStatus::waiting("hub");
        member.state = MemberState::Progressing;
        member.revision = Some("91be02".into());
        member.seen = Some(MemberSeen {
            phase: Some("Progressing".into()),
            stage: Some("2/3".into()),
            gates: Some("errors=Pass".into()),
            error: None,
            at,
        });
        release.status = Some(ReleaseStatus {
            phase: ReleasePhase::Progressing,
            message: Some("wave 1/3 ring0: Progressing".into()),
            waves: vec![WaveStatus {
                name: "ring0".into(),
                phase: WavePhase::Progressing,
                started_at: Some(at),
                bake_until: None,
                finished_at: None,
                message: None,
                members: vec![member],
            }],
            ..Default::default()
        });
        let text = render(&ReleaseView::new(&release));
        assert_eq!(
            text,
            "Release web-2: Progressing\nwave 1/3 ring0: Progressing\n\n\
             WAVE    WAVE PHASE    CLUSTER   STATE         REVISION   PHASE         STAGE   GATES\n\
             ring0   Progressing   hub       Progressing   91be02     Progressing   2/3     errors=Pass\n\
             half    NotStarted    -         -             -          -             -       -\n\
             rest    NotStarted    -         -             -          -             -       -\n"
        );
    }
}

//! kstatus conditions (Ready, Reconciling, Stalled) plus rollgate's own, derived from status,
//! so Argo CD, Flux and `kubectl wait` read health without knowing rollgate.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

use crate::api::{Phase, RolloutStatus};

pub(super) fn derive(
    status: &mut RolloutStatus,
    generation: i64,
    now: Timestamp,
    channel_problems: &[String],
) {
    let phase = status.phase;
    let message = status.message.clone().unwrap_or_default();
    let reason = format!("{phase:?}");
    let ready = phase == Phase::Healthy;
    // Queued is not stalled: it progresses on its own once a slot frees.
    // A track that cannot be restored needs a person, whatever the phase.
    let lost = status.drift.as_ref().is_some_and(|d| !d.restorable);
    let stalled = matches!(phase, Phase::RolledBack | Phase::Invalid) || lost;
    let mut wanted = vec![
        ("Ready", ready, reason.clone(), message.clone()),
        (
            "Reconciling",
            !ready && !stalled,
            reason.clone(),
            message.clone(),
        ),
        ("Stalled", stalled, reason.clone(), message.clone()),
    ];
    if let Some(p) = &status.preflight {
        let has_data = p.no_data.is_empty();
        let msg = if has_data {
            "every gate returned data against the stable revision".to_string()
        } else {
            format!(
                "no data against the stable revision from gates: {}",
                p.no_data.join(", ")
            )
        };
        wanted.push((
            "GatesHaveData",
            has_data,
            if has_data { "DataPresent" } else { "NoData" }.into(),
            msg,
        ));
    }
    let (intact, reason, msg) = match &status.drift {
        None => (
            true,
            "AsRecorded",
            "the tracks run what rollgate wrote".to_string(),
        ),
        Some(d) if d.restorable => (false, "Restoring", d.message.clone()),
        Some(d) => (false, "TemplateLost", d.message.clone()),
    };
    wanted.push(("TracksIntact", intact, reason.into(), msg));
    let channels_ready = channel_problems.is_empty();
    wanted.push((
        "ChannelsReady",
        channels_ready,
        if channels_ready {
            "ChannelsFound"
        } else {
            "ChannelMissing"
        }
        .into(),
        if channels_ready {
            "every incident channel named exists".to_string()
        } else {
            channel_problems.join("; ")
        },
    ));
    if let Some(f) = &status.frozen {
        let by = f.by.clone().unwrap_or_default();
        let why = f.reason.clone().unwrap_or_default();
        wanted.push((
            "Frozen",
            true,
            "Frozen".into(),
            format!("Freeze {} set by {by}: {why}", f.name),
        ));
    }
    if let Some(healthy) = status
        .verification
        .as_ref()
        .and_then(|v| v.stable_healthy.map(|h| (h, v)))
    {
        let (h, v) = healthy;
        let msg = v.message.clone().unwrap_or_default();
        wanted.push((
            "StableHealthy",
            h,
            if h { "GatesPass" } else { "GatesFail" }.into(),
            msg,
        ));
    }
    status.conditions = build(&status.conditions, wanted, generation, now);
}

/// The conditions `wanted` (type, holds, reason, message), each keeping its transition time
/// from `old` while its status is unchanged.
pub fn build(
    old: &[Condition],
    wanted: Vec<(&str, bool, String, String)>,
    generation: i64,
    now: Timestamp,
) -> Vec<Condition> {
    wanted
        .into_iter()
        .map(|(type_, ok, reason, message)| {
            let status_str = if ok { "True" } else { "False" };
            let since = old
                .iter()
                .find(|c| c.type_ == type_ && c.status == status_str)
                .map_or(Time(now), |c| c.last_transition_time.clone());
            Condition {
                type_: type_.to_string(),
                status: status_str.to_string(),
                reason,
                message: truncate(&message, 1024),
                last_transition_time: since,
                observed_generation: Some(generation),
            }
        })
        .collect()
}

/// Cuts `s` to at most `max` bytes on a character boundary (conditions, Event notes).
pub fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

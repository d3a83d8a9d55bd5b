//! The outbox: deliveries persisted in the Incident's status before any send, taken in order
//! per channel (a trigger always goes before its resolve), retried with backoff.

use std::time::Duration;

use jiff::Timestamp;

use super::channels::{ALERTMANAGER_RESEND, Outcome, backoff};
use crate::api::{
    DeliveryState, IncidentState, IncidentStatus, MessageKind, TimelineEntry, TimelineType,
};

/// Deliveries to attempt now: for each channel, its first undelivered message, if due.
pub fn due(st: &IncidentStatus, now: Timestamp) -> Vec<usize> {
    heads(st)
        .into_iter()
        .filter(|&i| st.deliveries[i].next_attempt_at.is_none_or(|t| t <= now))
        .collect()
}

/// When the next queued delivery falls due.
pub fn next_due(st: &IncidentStatus) -> Option<Timestamp> {
    heads(st)
        .into_iter()
        .filter_map(|i| st.deliveries[i].next_attempt_at)
        .min()
}

/// Firing alerts to post to Alertmanager again, and when the next falls due.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Refresh {
    /// Deliveries whose alert is re-posted now (a new message stating the incident as it is).
    pub now: Vec<usize>,
    /// When the next re-post falls due (counting the ones now as sent), if any.
    pub next: Option<Timestamp>,
}

/// Alertmanager keeps no state of ours: until the incident resolves, each delivered trigger or
/// escalation to an Alertmanager channel (`is_alertmanager` tells a channel by name) is posted
/// again every [`ALERTMANAGER_RESEND`].
pub fn refreshes(
    st: &IncidentStatus,
    is_alertmanager: impl Fn(&str) -> bool,
    now: Timestamp,
) -> Refresh {
    let mut out = Refresh::default();
    if st.state == IncidentState::Resolved {
        return out;
    }
    let every = jiff::SignedDuration::try_from(ALERTMANAGER_RESEND).unwrap_or_default();
    for (i, d) in st.deliveries.iter().enumerate() {
        let firing = matches!(d.message, MessageKind::Trigger | MessageKind::Escalate)
            && d.state == DeliveryState::Delivered;
        let Some(at) = d.delivered_at.filter(|_| firing) else {
            continue;
        };
        if !is_alertmanager(&d.channel) {
            continue;
        }
        let due = at + every;
        let next = if due > now {
            due
        } else {
            out.now.push(i);
            now + every
        };
        out.next = Some(out.next.map_or(next, |n| n.min(next)));
    }
    out
}

fn heads(st: &IncidentStatus) -> Vec<usize> {
    let mut seen: Vec<&str> = vec![];
    let mut out = vec![];
    for (i, d) in st.deliveries.iter().enumerate() {
        if d.state == DeliveryState::Pending && !seen.contains(&d.channel.as_str()) {
            out.push(i);
        }
        if d.state == DeliveryState::Pending {
            seen.push(&d.channel);
        }
    }
    out
}

/// Records an attempt's outcome. `jitter` in [0, 1) comes from the caller, to keep this pure.
pub fn record(
    st: &mut IncidentStatus,
    index: usize,
    outcome: Outcome,
    now: Timestamp,
    jitter: f64,
) {
    let d = &mut st.deliveries[index];
    d.attempts += 1;
    d.first_attempt_at.get_or_insert(now);
    let (channel, message) = (d.channel.clone(), d.message);
    let entry = match outcome {
        Outcome::Delivered { external_id } => {
            d.state = DeliveryState::Delivered;
            d.delivered_at = Some(now);
            d.next_attempt_at = None;
            d.last_error = None;
            d.external_id = external_id;
            Some((
                TimelineType::Delivered,
                format!(
                    "{message:?} delivered to {channel} (attempt {})",
                    d.attempts
                ),
            ))
        }
        Outcome::Retry { after, error } => {
            let wait = after
                .unwrap_or_default()
                .max(backoff(d.attempts as u32, jitter));
            d.next_attempt_at = Some(after_ts(now, wait));
            d.last_error = Some(error);
            None
        }
        Outcome::Permanent { error } => {
            d.state = DeliveryState::Failed;
            d.next_attempt_at = None;
            let note = format!("{message:?} to {channel} refused: {error}");
            d.last_error = Some(error);
            Some((TimelineType::DeliveryFailed, note))
        }
    };
    if let Some((type_, message)) = entry {
        st.timeline.push(TimelineEntry {
            at: now,
            actor: channel,
            type_,
            message,
        });
    }
}

/// A message the destination has no use for (e.g. an acknowledgement to a chat channel).
pub fn skip(st: &mut IncidentStatus, index: usize) {
    let d = &mut st.deliveries[index];
    d.state = DeliveryState::Skipped;
    d.next_attempt_at = None;
}

fn after_ts(t: Timestamp, d: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

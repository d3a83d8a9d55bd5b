//! The incident lifecycle, purely: from the incident and what its Rollout says now, the next
//! status — state, severity, an append-only timeline, and the messages to send (the outbox).
//!
//! Triggered → Mitigating (rolling back) → Mitigated (rolled back, stable healthy) or Escalated
//! (stable unhealthy too, or the rollback stuck) → Acknowledged → Resolved.

use std::time::Duration;

use jiff::Timestamp;

use super::record::raised;
use crate::api::{
    Delivery, DeliveryState, Incident, IncidentSpec, IncidentState, IncidentStatus, MessageFacts,
    MessageKind, Phase, TimelineEntry, TimelineType,
};

/// A rollback still not done after this long has failed: the incident escalates.
pub const ROLLBACK_STUCK_AFTER: Duration = Duration::from_secs(120);

/// What the incident's Rollout says now.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutView {
    pub phase: Phase,
    /// When the Rollout last decided to roll this revision back (None if it is not about it).
    pub rollback_at: Option<Timestamp>,
    pub stable_healthy: Option<bool>,
    pub stable_message: Option<String>,
}

pub fn advance(incident: &Incident, view: &RolloutView, now: Timestamp) -> IncidentStatus {
    let spec = &incident.spec;
    let mut st = incident.status.clone().unwrap_or_default();
    let mut t = Timeline { st: &mut st, now };
    if t.st.timeline.is_empty() {
        t.st.severity = Some(spec.severity);
        t.st.occurrences.push(spec.detected_at);
        t.st.rollback_started_at = Some(spec.detected_at);
        t.push_at(
            spec.detected_at,
            "rollgate",
            TimelineType::Detected,
            &spec.title,
        );
        t.push_at(
            spec.detected_at,
            "rollgate",
            TimelineType::RollbackStarted,
            &match &spec.release {
                // A hub's: the wave stopped; each member rolled back on its own.
                Some(r) => format!(
                    "wave {} of release {} stopped; later waves never receive it",
                    r.wave, r.name
                ),
                None => format!(
                    "canary share set to 0, stable {} to full capacity",
                    spec.to_revision
                ),
            },
        );
        t.enqueue(&spec.channels, MessageKind::Trigger);
    }
    // The same revision failed again (after a retry): one incident, a longer timeline.
    if let Some(at) = view.rollback_at.filter(|at| !t.st.occurrences.contains(at)) {
        t.st.occurrences.push(at);
        t.st.rollback_completed_at = None;
        t.push_at(
            at,
            "rollgate",
            TimelineType::Detected,
            &format!("revision {} failed again", spec.from_revision),
        );
        t.push_at(
            at,
            "rollgate",
            TimelineType::RollbackStarted,
            "rolling back again",
        );
        t.enqueue(&spec.channels, MessageKind::Trigger);
    }
    let rolling_back = view.phase == Phase::RollingBack;
    if t.st.rollback_completed_at.is_none() && !rolling_back {
        t.st.rollback_completed_at = Some(now);
        t.push(
            "rollgate",
            TimelineType::RollbackDone,
            &match &spec.release {
                Some(r) => format!("release {} stopped", r.name),
                None => format!(
                    "stable revision {} serves at full capacity",
                    spec.to_revision
                ),
            },
        );
    }
    let stuck = rolling_back
        && t.st.rollback_started_at.is_some_and(|s| {
            now.duration_since(s).as_secs() >= ROLLBACK_STUCK_AFTER.as_secs() as i64
        });
    let message = view.stable_message.clone().unwrap_or_default();
    let last_health = t.last_of(&[TimelineType::StableHealthy, TimelineType::StableUnhealthy]);
    if view.stable_healthy == Some(true) && last_health != Some(TimelineType::StableHealthy) {
        t.push("rollgate", TimelineType::StableHealthy, &message);
        // An escalation because stable looked unhealthy, which stable's gates now disprove, is
        // withdrawn: on-call trust depends on the incident saying only what is true.
        if t.escalated() && last_health == Some(TimelineType::StableUnhealthy) {
            t.st.severity = Some(spec.severity);
            t.push(
                "rollgate",
                TimelineType::Deescalated,
                &format!(
                    "stable revision {} passes every gate again: the escalation is withdrawn, severity back to {:?}",
                    spec.to_revision, spec.severity
                ),
            );
        }
    }
    t.st.stable_healthy = view.stable_healthy.or(t.st.stable_healthy);
    let unhealthy =
        view.stable_healthy == Some(false) && last_health != Some(TimelineType::StableUnhealthy);
    let stuck = stuck && !t.has(TimelineType::Escalated);
    if (unhealthy || stuck) && !t.escalated() {
        let why = if unhealthy {
            message
        } else {
            "the rollback did not complete".to_string()
        };
        if unhealthy {
            t.push("rollgate", TimelineType::StableUnhealthy, &why);
        }
        let severity = raised(t.st.severity.unwrap_or(spec.severity));
        t.st.severity = Some(severity);
        t.push(
            "rollgate",
            TimelineType::Escalated,
            &format!("severity raised to {severity:?}: {why}"),
        );
        t.enqueue(&spec.channels, MessageKind::Escalate);
    }
    if let Some(who) = &spec.acknowledged_by
        && !t.has(TimelineType::Acknowledged)
    {
        t.push(
            who,
            TimelineType::Acknowledged,
            &format!("acknowledged by {who}"),
        );
        t.enqueue(&spec.channels, MessageKind::Acknowledge);
    }
    if let Some(who) = &spec.resolved_by
        && !t.has(TimelineType::Resolved)
    {
        t.push(who, TimelineType::Resolved, &format!("resolved by {who}"));
        t.enqueue(&spec.channels, MessageKind::Resolve);
    }
    st.state = if spec.resolved_by.is_some() {
        IncidentState::Resolved
    } else if spec.acknowledged_by.is_some() {
        IncidentState::Acknowledged
    } else if escalated(&st.timeline) {
        IncidentState::Escalated
    } else if st.rollback_completed_at.is_some() && st.stable_healthy == Some(true) {
        IncidentState::Mitigated
    } else if st.rollback_started_at.is_some() {
        IncidentState::Mitigating
    } else {
        IncidentState::Triggered
    };
    st.observed_generation = incident.metadata.generation;
    // What the messages queued now state is fixed now, so their retries resend the same bytes.
    // (Also fills deliveries queued by a version that did not record facts.)
    let queued = facts(spec, &st, now);
    for d in st
        .deliveries
        .iter_mut()
        .filter(|d| d.state == DeliveryState::Pending && d.facts.is_none())
    {
        d.facts = Some(queued.clone());
    }
    st
}

/// The incident as a message queued at `at` states it.
pub fn facts(spec: &IncidentSpec, st: &IncidentStatus, at: Timestamp) -> MessageFacts {
    MessageFacts {
        queued_at: at,
        state: st.state,
        severity: st.severity.unwrap_or(spec.severity),
        escalated: st
            .timeline
            .iter()
            .any(|e| e.type_ == TimelineType::Escalated),
        stable_healthy: st.stable_healthy,
        rollback_started_at: st.rollback_started_at,
        rollback_completed_at: st.rollback_completed_at,
        occurrences: i32::try_from(st.occurrences.len().max(1)).unwrap_or(i32::MAX),
        acknowledged_by: spec.acknowledged_by.clone(),
        resolved_by: spec.resolved_by.clone(),
    }
}

struct Timeline<'a> {
    st: &'a mut IncidentStatus,
    now: Timestamp,
}

/// Escalated and not withdrawn since.
fn escalated(timeline: &[TimelineEntry]) -> bool {
    timeline
        .iter()
        .rev()
        .find(|e| matches!(e.type_, TimelineType::Escalated | TimelineType::Deescalated))
        .is_some_and(|e| e.type_ == TimelineType::Escalated)
}

impl Timeline<'_> {
    fn has(&self, type_: TimelineType) -> bool {
        self.st.timeline.iter().any(|e| e.type_ == type_)
    }
    fn escalated(&self) -> bool {
        escalated(&self.st.timeline)
    }
    /// The most recent of `types` in the timeline.
    fn last_of(&self, types: &[TimelineType]) -> Option<TimelineType> {
        self.st
            .timeline
            .iter()
            .rev()
            .map(|e| e.type_)
            .find(|t| types.contains(t))
    }
    fn push(&mut self, actor: &str, type_: TimelineType, message: &str) {
        self.push_at(self.now, actor, type_, message);
    }
    fn push_at(&mut self, at: Timestamp, actor: &str, type_: TimelineType, message: &str) {
        self.st.timeline.push(TimelineEntry {
            at,
            actor: actor.into(),
            type_,
            message: message.into(),
        });
    }
    /// Queues `message` for every channel, behind what each channel already has queued.
    fn enqueue(&mut self, channels: &[String], message: MessageKind) {
        for channel in channels {
            self.st.deliveries.push(Delivery {
                channel: channel.clone(),
                message,
                state: DeliveryState::Pending,
                attempts: 0,
                last_error: None,
                next_attempt_at: Some(self.now),
                first_attempt_at: None,
                delivered_at: None,
                external_id: None,
                facts: None,
            });
        }
    }
}

//! Lifecycle and outbox as specifications.

use jiff::Timestamp;

use super::lifecycle::{RolloutView, advance};
use super::outbox;
use crate::api::*;
use crate::incident::channels::Outcome;

fn at(s: &str) -> Timestamp {
    format!("2026-01-01T00:{s}Z").parse().unwrap()
}

fn incident() -> Incident {
    let spec = IncidentSpec {
        rollout_ref: LocalObjectRef {
            name: "checkout".into(),
        },
        dedup_key: "rollgate/shop/checkout/v2".into(),
        title: "Rolled back shop/checkout".into(),
        summary: "s".into(),
        severity: Severity::Sev2,
        owner: None,
        runbook: None,
        reason: "GateFailed".into(),
        from_revision: "v2".into(),
        to_revision: "v1".into(),
        images: vec![],
        config_changes: vec![],
        stage: StageAtFailure {
            index: 0,
            weight: 10,
        },
        exposure: ExposureRecord {
            weight: 10,
            canary_pods: 1,
            since: at("00:00"),
            seconds: 60,
        },
        failed_gates: vec![],
        channels: vec!["pd".into(), "slack".into()],
        detected_at: at("01:00"),
        release: None,
        acknowledged_by: None,
        resolved_by: None,
    };
    Incident::new("checkout-v2", spec)
}

fn view(phase: Phase, healthy: Option<bool>) -> RolloutView {
    RolloutView {
        phase,
        rollback_at: Some(at("01:00")),
        stable_healthy: healthy,
        stable_message: None,
    }
}

fn step(i: &mut Incident, v: &RolloutView, now: &str) {
    i.status = Some(advance(i, v, at(now)));
}

fn types(i: &Incident) -> Vec<TimelineType> {
    i.status
        .as_ref()
        .unwrap()
        .timeline
        .iter()
        .map(|e| e.type_)
        .collect()
}

#[test]
fn a_rollback_that_restores_health_is_mitigated() {
    let mut i = incident();
    step(&mut i, &view(Phase::RollingBack, None), "01:00");
    assert_eq!(i.status.as_ref().unwrap().state, IncidentState::Mitigating);
    let st = i.status.as_ref().unwrap();
    assert_eq!(
        st.deliveries.len(),
        2,
        "one trigger per channel, persisted before any send"
    );
    assert!(
        st.deliveries
            .iter()
            .all(|d| d.message == MessageKind::Trigger && d.state == DeliveryState::Pending)
    );
    step(&mut i, &view(Phase::RolledBack, None), "01:05");
    step(&mut i, &view(Phase::RolledBack, Some(true)), "01:20");
    assert_eq!(i.status.as_ref().unwrap().state, IncidentState::Mitigated);
    assert_eq!(
        types(&i),
        [
            TimelineType::Detected,
            TimelineType::RollbackStarted,
            TimelineType::RollbackDone,
            TimelineType::StableHealthy
        ]
    );
}

#[test]
fn an_unhealthy_stable_escalates_with_raised_severity_and_resends() {
    let mut i = incident();
    step(&mut i, &view(Phase::RolledBack, None), "01:00");
    step(&mut i, &view(Phase::RolledBack, Some(false)), "01:30");
    let st = i.status.as_ref().unwrap();
    assert_eq!(st.state, IncidentState::Escalated);
    assert_eq!(st.severity, Some(Severity::Sev1));
    assert_eq!(
        st.deliveries
            .iter()
            .filter(|d| d.message == MessageKind::Escalate)
            .count(),
        2
    );
    // Idempotent: the same view again adds nothing.
    let before = st.clone();
    step(&mut i, &view(Phase::RolledBack, Some(false)), "01:40");
    assert_eq!(i.status.as_ref().unwrap().deliveries, before.deliveries);
    assert_eq!(i.status.as_ref().unwrap().timeline, before.timeline);
}

#[test]
fn an_escalation_disproved_by_a_healthy_stable_is_withdrawn_on_the_timeline() {
    let mut i = incident();
    step(&mut i, &view(Phase::RolledBack, None), "01:00");
    step(&mut i, &view(Phase::RolledBack, Some(false)), "01:30");
    step(&mut i, &view(Phase::RolledBack, Some(true)), "01:40");
    let st = i.status.as_ref().unwrap();
    assert_eq!(st.state, IncidentState::Mitigated, "{:?}", types(&i));
    assert_eq!(st.severity, Some(i.spec.severity), "severity back");
    let last = st.timeline.last().unwrap();
    assert_eq!(last.type_, TimelineType::Deescalated);
    assert!(last.message.contains("withdrawn"), "{}", last.message);
    // Unhealthy again: escalated again, once.
    step(&mut i, &view(Phase::RolledBack, Some(false)), "01:50");
    step(&mut i, &view(Phase::RolledBack, Some(false)), "01:55");
    let st = i.status.as_ref().unwrap();
    assert_eq!(st.state, IncidentState::Escalated);
    let escalations = st
        .timeline
        .iter()
        .filter(|e| e.type_ == TimelineType::Escalated)
        .count();
    assert_eq!(escalations, 2);
}

#[test]
fn a_stuck_rollback_escalates() {
    let mut i = incident();
    step(&mut i, &view(Phase::RollingBack, None), "01:00");
    step(&mut i, &view(Phase::RollingBack, None), "03:30");
    assert_eq!(i.status.as_ref().unwrap().state, IncidentState::Escalated);
}

#[test]
fn acknowledge_then_resolve_are_recorded_and_sent_after_the_trigger() {
    let mut i = incident();
    step(&mut i, &view(Phase::RolledBack, Some(true)), "01:00");
    i.spec.acknowledged_by = Some("alice".into());
    step(&mut i, &view(Phase::RolledBack, Some(true)), "02:00");
    assert_eq!(
        i.status.as_ref().unwrap().state,
        IncidentState::Acknowledged
    );
    i.spec.resolved_by = Some("alice".into());
    step(&mut i, &view(Phase::RolledBack, Some(true)), "03:00");
    let st = i.status.as_ref().unwrap();
    assert_eq!(st.state, IncidentState::Resolved);
    let pd: Vec<_> = st
        .deliveries
        .iter()
        .filter(|d| d.channel == "pd")
        .map(|d| d.message)
        .collect();
    assert_eq!(
        pd,
        [
            MessageKind::Trigger,
            MessageKind::Acknowledge,
            MessageKind::Resolve
        ]
    );
    // Order per channel: only the trigger is due while it is undelivered.
    let due = outbox::due(st, at("03:00"));
    assert!(
        due.iter()
            .all(|&d| st.deliveries[d].message == MessageKind::Trigger),
        "{due:?}"
    );
}

#[test]
fn a_repeated_failure_of_the_revision_appends_to_the_timeline() {
    let mut i = incident();
    step(&mut i, &view(Phase::RolledBack, Some(true)), "01:00");
    let again = RolloutView {
        rollback_at: Some(at("09:00")),
        ..view(Phase::RollingBack, None)
    };
    step(&mut i, &again, "09:00");
    let st = i.status.as_ref().unwrap();
    assert_eq!(st.occurrences.len(), 2);
    assert_eq!(
        st.timeline
            .iter()
            .filter(|e| e.type_ == TimelineType::Detected)
            .count(),
        2
    );
    assert_eq!(
        st.deliveries
            .iter()
            .filter(|d| d.message == MessageKind::Trigger)
            .count(),
        4
    );
}

#[test]
fn retries_back_off_then_deliver_and_permanent_errors_stop() {
    let mut i = incident();
    step(&mut i, &view(Phase::RolledBack, None), "01:00");
    let mut st = i.status.clone().unwrap();
    let pd = outbox::due(&st, at("01:00"))[0];
    outbox::record(
        &mut st,
        pd,
        Outcome::Retry {
            after: None,
            error: "HTTP 500".into(),
        },
        at("01:00"),
        0.0,
    );
    assert!(
        !outbox::due(&st, at("01:00")).contains(&pd),
        "not due again at once"
    );
    outbox::record(
        &mut st,
        pd,
        Outcome::Retry {
            after: Some(std::time::Duration::from_secs(30)),
            error: "HTTP 429".into(),
        },
        at("01:01"),
        0.0,
    );
    assert!(
        st.deliveries[pd].next_attempt_at.unwrap() >= at("01:31"),
        "Retry-After is honoured"
    );
    outbox::record(
        &mut st,
        pd,
        Outcome::Delivered {
            external_id: Some("abc".into()),
        },
        at("01:31"),
        0.0,
    );
    assert_eq!(st.deliveries[pd].state, DeliveryState::Delivered);
    assert_eq!(st.deliveries[pd].attempts, 3);
    let slack = outbox::due(&st, at("01:31"))[0];
    outbox::record(
        &mut st,
        slack,
        Outcome::Permanent {
            error: "HTTP 404".into(),
        },
        at("01:31"),
        0.0,
    );
    assert_eq!(st.deliveries[slack].state, DeliveryState::Failed);
    assert!(outbox::due(&st, at("59:00")).is_empty());
    assert!(
        st.timeline
            .iter()
            .any(|e| e.type_ == TimelineType::DeliveryFailed)
    );
}

/// The index of the first delivery of `message`.
fn delivery_of(i: &Incident, message: MessageKind) -> usize {
    i.status
        .as_ref()
        .unwrap()
        .deliveries
        .iter()
        .position(|d| d.message == message)
        .unwrap_or_else(|| panic!("no {message:?} queued"))
}

#[test]
fn a_queued_message_records_the_facts_of_the_moment() {
    let mut i = incident();
    step(&mut i, &view(Phase::RollingBack, None), "01:00");
    step(&mut i, &view(Phase::RolledBack, Some(true)), "02:00");
    let st = i.status.as_ref().unwrap();
    let trigger = st.deliveries[delivery_of(&i, MessageKind::Trigger)]
        .facts
        .clone()
        .expect("facts recorded when queued");
    assert_eq!(trigger.queued_at, at("01:00"));
    assert_eq!(trigger.state, IncidentState::Mitigating);
    assert_eq!(trigger.stable_healthy, None);
    assert_eq!(trigger.rollback_completed_at, None);
    assert_eq!(trigger.severity, Severity::Sev2);
    assert!(!trigger.escalated);
    assert_eq!(st.state, IncidentState::Mitigated, "the incident moved on");
}

/// Every destination, every message kind: the second attempt of a delivery sends the bytes of
/// the first, though time passed and the incident moved on in between (rollback done, stable
/// found unhealthy, escalated, acknowledged, resolved, a name in the spec edited).
#[test]
fn retries_resend_the_queued_message_byte_for_byte() {
    use crate::incident::channels::{build_delivery, fixture, verify_standard_webhook};
    const TYPES: [ChannelType; 7] = [
        ChannelType::Pagerduty,
        ChannelType::Opsgenie,
        ChannelType::Jsm,
        ChannelType::Slack,
        ChannelType::Teams,
        ChannelType::Alertmanager,
        ChannelType::Webhook,
    ];
    let mut i = incident();
    i.metadata.uid = Some("0b5e7c1e-uid".into());
    let mut first = vec![];
    let mut attempt_first = |i: &Incident, message: MessageKind, now: &str| {
        let index = delivery_of(i, message);
        for type_ in TYPES {
            let dest = fixture::destination(type_);
            let out = build_delivery(&dest, i, index, at(now)).unwrap().unwrap();
            first.push((type_, message, index, out));
        }
    };
    step(&mut i, &view(Phase::RollingBack, None), "01:00");
    attempt_first(&i, MessageKind::Trigger, "01:00");
    step(&mut i, &view(Phase::RolledBack, Some(false)), "02:00");
    attempt_first(&i, MessageKind::Escalate, "02:00");
    i.spec.acknowledged_by = Some("alice".into());
    step(&mut i, &view(Phase::RolledBack, Some(false)), "03:00");
    attempt_first(&i, MessageKind::Acknowledge, "03:00");
    i.spec.resolved_by = Some("bob".into());
    step(&mut i, &view(Phase::RolledBack, Some(true)), "04:00");
    attempt_first(&i, MessageKind::Resolve, "04:00");
    // Later still, and the record edited by hand.
    i.spec.acknowledged_by = Some("carol".into());
    step(&mut i, &view(Phase::RolledBack, Some(true)), "09:00");
    assert_eq!(i.status.as_ref().unwrap().state, IncidentState::Resolved);

    for (type_, message, index, before) in first {
        let dest = fixture::destination(type_);
        let again = build_delivery(&dest, &i, index, at("09:30"))
            .unwrap()
            .unwrap();
        let what = format!("{type_:?} {message:?}");
        assert_eq!(
            String::from_utf8_lossy(&again.body),
            String::from_utf8_lossy(&before.body),
            "{what}: the body changed between attempts"
        );
        assert_eq!(again.url, before.url, "{what}");
        if type_ == ChannelType::Webhook {
            let id = before.header("webhook-id").unwrap();
            assert_eq!(again.header("webhook-id"), Some(id), "{what}");
            assert_eq!(id, format!("0b5e7c1e-uid-{index}"));
            // The timestamp header is the attempt's (receivers reject stale ones), and the
            // signature over it and the unchanged body verifies.
            assert_ne!(
                again.header("webhook-timestamp"),
                before.header("webhook-timestamp")
            );
            assert!(verify_standard_webhook(
                fixture::SIGNING_SECRET,
                id,
                again.header("webhook-timestamp").unwrap(),
                &again.body,
                again.header("webhook-signature").unwrap(),
            ));
        } else {
            assert_eq!(again.headers, before.headers, "{what}");
        }
    }
}

#[test]
fn time_fields_are_those_of_the_queueing_not_of_the_attempt() {
    use crate::incident::channels::{build_delivery, fixture};
    let mut i = incident();
    step(&mut i, &view(Phase::RollingBack, None), "01:00");
    let index = delivery_of(&i, MessageKind::Trigger);
    let late = at("30:00");
    let hook = build_delivery(&fixture::destination(ChannelType::Webhook), &i, index, late)
        .unwrap()
        .unwrap();
    assert_eq!(hook.json()["timestamp"], "2026-01-01T00:01:00Z");
    let am = build_delivery(
        &fixture::destination(ChannelType::Alertmanager),
        &i,
        index,
        late,
    )
    .unwrap()
    .unwrap();
    assert_eq!(am.json()[0]["startsAt"], "2026-01-01T00:01:00Z");
    assert_eq!(
        am.json()[0]["endsAt"],
        "2026-01-01T00:06:00Z",
        "queued + 5 min"
    );
}

/// Alertmanager hears a firing alert again every minute until the incident resolves, only on
/// its own channels, and only for messages it accepted.
#[test]
fn firing_alerts_are_posted_to_alertmanager_again_every_minute_until_resolved() {
    let mut i = incident();
    i.spec.channels = vec!["am".into(), "slack".into()];
    step(&mut i, &view(Phase::RollingBack, None), "01:00");
    let st = i.status.as_mut().unwrap();
    for d in st.deliveries.iter_mut() {
        d.state = DeliveryState::Delivered;
        d.delivered_at = Some(at("01:00"));
    }
    let am = |c: &str| c == "am";
    let trigger = st
        .deliveries
        .iter()
        .position(|d| d.channel == "am" && d.message == MessageKind::Trigger)
        .unwrap();
    assert_eq!(
        outbox::refreshes(st, am, at("01:30")),
        outbox::Refresh {
            now: vec![],
            next: Some(at("02:00"))
        },
        "not before a minute has passed"
    );
    assert_eq!(
        outbox::refreshes(st, am, at("02:05")),
        outbox::Refresh {
            now: vec![trigger],
            next: Some(at("03:05"))
        },
        "due: re-posted now, the next a minute later; never to Slack"
    );
    st.deliveries[trigger].state = DeliveryState::Failed;
    assert_eq!(
        outbox::refreshes(st, am, at("02:05")),
        outbox::Refresh::default(),
        "a message Alertmanager never accepted is the outbox's to retry, not a refresh"
    );
    st.deliveries[trigger].state = DeliveryState::Delivered;
    st.state = IncidentState::Resolved;
    assert_eq!(
        outbox::refreshes(st, am, at("02:05")),
        outbox::Refresh::default()
    );
}

//! A fully populated Incident and a destination of each type, for the tests of every builder
//! (and of the post-mortem). Credential values are distinctive so a leak is easy to spot.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::{ChannelError, Credentials, Destination, Message, Outgoing, build};
use crate::api::*;

/// Every destination type and message kind, for tests that cover them all.
pub const TYPES: [ChannelType; 7] = [
    ChannelType::Pagerduty,
    ChannelType::Opsgenie,
    ChannelType::Jsm,
    ChannelType::Slack,
    ChannelType::Teams,
    ChannelType::Alertmanager,
    ChannelType::Webhook,
];
pub const KINDS: [MessageKind; 4] = [
    MessageKind::Trigger,
    MessageKind::Escalate,
    MessageKind::Acknowledge,
    MessageKind::Resolve,
];

pub const ROUTING_KEY: &str = "R0UT1NGKEYsecretsecret0123456789";
pub const API_KEY: &str = "AP1KEY-00000000-secret-1111";
pub const SLACK_URL: &str = "https://hooks.slack.com/services/T000SECRET/B000SECRET/XXXXsecretXXXX";
pub const TEAMS_URL: &str = "https://prod-00.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=S1GSECRETsig";
/// `whsec_` + base64 of 24 random bytes.
pub const SIGNING_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const TOKEN: &str = "T0KEN-bearer-secret-2222";

pub fn at(hms: &str) -> Timestamp {
    format!("2026-03-01T{hms}Z").parse().unwrap()
}

pub fn now() -> Timestamp {
    at("10:30:00")
}

pub fn incident() -> Incident {
    let spec = IncidentSpec {
        rollout_ref: LocalObjectRef {
            name: "checkout".into(),
        },
        dedup_key: "rollgate/shop/checkout/91be02".into(),
        title: "Rolled back shop/checkout: gate error-ratio failed (0.0500 max 0.01)".into(),
        summary: "Released revision 91be02 of Rollout shop/checkout; at stage 2 (50% of pods) rollgate rolled back to revision 7f3c9a.".into(),
        severity: Severity::Sev2,
        owner: Some("team-payments".into()),
        runbook: Some("https://runbooks.example/checkout".into()),
        reason: "GateFailed".into(),
        from_revision: "91be02".into(),
        to_revision: "7f3c9a".into(),
        images: vec![ImageChange {
            container: "app".into(),
            from: Some("registry.example/checkout:1.4.0".into()),
            to: Some("registry.example/checkout:1.5.0".into()),
        }],
        config_changes: vec![ConfigChange {
            kind: "ConfigMap".into(),
            name: "checkout-config".into(),
            keys: vec!["timeout".into(), "retries".into()],
        }],
        stage: StageAtFailure {
            index: 1,
            weight: 50,
        },
        exposure: ExposureRecord {
            weight: 50,
            canary_pods: 5,
            since: at("10:00:00"),
            seconds: 240,
        },
        failed_gates: vec![
            FailedGate {
                name: "error-ratio".into(),
                query: r#"sum(rate(http_requests_total{code=~"5..|429"}[1m])) / sum(rate(http_requests_total[1m]))"#.into(),
                value: Some(0.05),
                stable_value: None,
                threshold: Some("max 0.01".into()),
                verdict: "Fail".into(),
                consecutive_failures: 2,
                evidence: None,
                graph_url: Some("http://prometheus.example/graph?g0.expr=error".into()),
            },
            FailedGate {
                name: "latency-vs-stable".into(),
                query: "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[2m])))".into(),
                value: Some(0.42),
                stable_value: Some(0.2),
                threshold: Some("maxIncrease 20%".into()),
                verdict: "Fail".into(),
                consecutive_failures: 1,
                evidence: None,
                graph_url: Some("http://prometheus.example/graph?g0.expr=latency".into()),
            },
        ],
        channels: vec!["oncall-pagerduty".into(), "payments-slack".into()],
        detected_at: at("10:04:00"),
        release: None,
        acknowledged_by: Some("alice".into()),
        resolved_by: Some("bob".into()),
    };
    let mut incident = Incident::new("checkout-91be02", spec);
    incident.metadata.namespace = Some("shop".into());
    let entry = |hms: &str, actor: &str, type_: TimelineType, message: &str| TimelineEntry {
        at: at(hms),
        actor: actor.into(),
        type_,
        message: message.into(),
    };
    incident.status = Some(IncidentStatus {
        state: IncidentState::Mitigated,
        severity: None,
        rollback_started_at: Some(at("10:04:05")),
        rollback_completed_at: Some(at("10:05:30")),
        stable_healthy: Some(true),
        occurrences: vec![at("10:04:00")],
        timeline: vec![
            entry(
                "10:04:00",
                "rollgate",
                TimelineType::Detected,
                "gate error-ratio failed twice: 0.05 > 0.01",
            ),
            entry(
                "10:04:05",
                "rollgate",
                TimelineType::RollbackStarted,
                "scaling canary 91be02 to 0",
            ),
            entry(
                "10:05:30",
                "rollgate",
                TimelineType::RollbackDone,
                "stable 7f3c9a serves 100% | 10 pods",
            ),
            entry(
                "10:07:30",
                "rollgate",
                TimelineType::StableHealthy,
                "all gates pass on stable",
            ),
            entry(
                "10:04:02",
                "oncall-pagerduty",
                TimelineType::Delivered,
                "Trigger delivered to oncall-pagerduty (attempt 1)",
            ),
        ],
        deliveries: vec![Delivery {
            channel: "oncall-pagerduty".into(),
            message: MessageKind::Trigger,
            state: DeliveryState::Delivered,
            attempts: 1,
            last_error: None,
            next_attempt_at: None,
            first_attempt_at: Some(at("10:04:02")),
            delivered_at: Some(at("10:04:02")),
            external_id: Some("rollgate/shop/checkout/91be02".into()),
            facts: None,
        }],
        observed_generation: Some(1),
    });
    incident
}

/// What a message about `incident` queued at [`now`] states.
pub fn facts_of(incident: &Incident) -> MessageFacts {
    crate::incident::lifecycle::facts(
        &incident.spec,
        &incident.status.clone().unwrap_or_default(),
        now(),
    )
}

/// A destination of `type_` with every credential it could need.
pub fn destination(type_: ChannelType) -> Destination {
    let url = match type_ {
        ChannelType::Jsm => Some("https://api.atlassian.com/jsm/ops/integration/v2/alerts".into()),
        ChannelType::Alertmanager => Some("http://alertmanager.monitoring:9093".into()),
        ChannelType::Webhook => Some("https://hooks.example/rollgate".into()),
        _ => None,
    };
    let webhook_url = match type_ {
        ChannelType::Teams => Some(TEAMS_URL.into()),
        _ => Some(SLACK_URL.into()),
    };
    Destination {
        name: format!("{type_:?}").to_lowercase(),
        type_,
        url,
        credentials: Credentials {
            routing_key: Some(ROUTING_KEY.into()),
            api_key: Some(API_KEY.into()),
            webhook_url,
            signing_secret: Some(SIGNING_SECRET.into()),
            token: Some(TOKEN.into()),
        },
        severity_map: BTreeMap::new(),
    }
}

/// Every secret value in [`destination`].
pub const SECRETS: &[&str] = &[
    ROUTING_KEY,
    API_KEY,
    "T000SECRET",
    "S1GSECRETsig",
    "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    TOKEN,
];

/// The request for a message of `kind` about `incident`, queued and sent at [`now`].
pub fn render(
    dest: &Destination,
    incident: &Incident,
    kind: MessageKind,
    id: &str,
) -> Result<Option<Outgoing>, ChannelError> {
    let facts = facts_of(incident);
    build(dest, &Message::new(incident, kind, &facts), id, now())
}

//! Incidents end to end: a bad release opens exactly one Incident that reaches every channel
//! (real Alertmanager; local receivers standing in for PagerDuty, Slack, Teams and a webhook,
//! checking the wire format), through failures, restarts, escalation, ack and resolve.

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use rollgate::api::{DeliveryState, Incident, IncidentState, MessageKind, Phase, Severity};
use rollgate_platform::receiver::{Receiver, Reply};
use serde_json::{Value, json};

use crate::support::{ControllerProcess, Fixture, error_ratio_gate, rollout};

pub const MINUTE: Duration = Duration::from_secs(60);
const SIGNING_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Receivers for every SaaS destination, and IncidentChannels (with Secrets) pointing at them.
pub struct Destinations {
    pub pagerduty: Receiver,
    pub slack: Receiver,
    teams: Receiver,
    webhook: Receiver,
}

impl Destinations {
    pub async fn create(f: &Fixture) -> Destinations {
        let d = Destinations {
            pagerduty: Receiver::start().unwrap(),
            slack: Receiver::start().unwrap(),
            teams: Receiver::start().unwrap(),
            webhook: Receiver::start().unwrap(),
        };
        let pd_url = format!("{}/v2/enqueue", d.pagerduty.url());
        let slack_url = format!("{}/services/T000/B000/XXXX", d.slack.url());
        let teams_url = format!(
            "{}/workflows/abc/triggers/manual/paths/invoke",
            d.teams.url()
        );
        secret(
            f,
            "pd",
            json!({"routingKey": "R0UTINGKEY0000000000000000000000"}),
        )
        .await;
        secret(f, "slack", json!({"url": slack_url})).await;
        secret(f, "teams", json!({"url": teams_url})).await;
        secret(f, "hook", json!({"signingSecret": SIGNING_SECRET})).await;
        channel(
            f,
            "pd",
            json!({"type": "pagerduty", "url": pd_url, "secretRef": {"name": "pd"}}),
        )
        .await;
        channel(
            f,
            "slack",
            json!({"type": "slack", "secretRef": {"name": "slack"}}),
        )
        .await;
        channel(
            f,
            "teams",
            json!({"type": "teams", "secretRef": {"name": "teams"}}),
        )
        .await;
        channel(
            f,
            "hook",
            json!({"type": "webhook", "url": d.webhook.url(), "secretRef": {"name": "hook"}}),
        )
        .await;
        channel(
            f,
            "am",
            json!({"type": "alertmanager", "url": f.env.alertmanager_url}),
        )
        .await;
        d
    }
}

pub async fn secret(f: &Fixture, name: &str, data: Value) {
    let s: Secret =
        serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data})).unwrap();
    Api::<Secret>::namespaced(f.client.clone(), f.name())
        .create(&PostParams::default(), &s)
        .await
        .unwrap();
}

pub async fn channel(f: &Fixture, name: &str, spec: Value) {
    let c = json!({"apiVersion": "rollgate.dev/v1alpha1", "kind": "IncidentChannel", "metadata": {"name": name}, "spec": spec});
    let api: Api<rollgate::api::IncidentChannel> = Api::namespaced(f.client.clone(), f.name());
    api.create(&PostParams::default(), &serde_json::from_value(c).unwrap())
        .await
        .unwrap();
}

const CHANNELS: [&str; 5] = ["pd", "slack", "teams", "hook", "am"];

/// A Rollout whose incidents go to `channels`, adopted and Healthy, with gate data present.
pub async fn adopted(
    f: &Fixture,
    channels: &[&str],
    controller: impl FnOnce(&Fixture) -> ControllerProcess,
) -> ControllerProcess {
    f.app("app", 4).await;
    // The first bake outlasts the failing gate's two evaluations (and Prometheus' first scrape
    // of the bad canary), so the rollback always comes from stage 1: with 2 s it sometimes came
    // a stage later.
    let mut r = rollout(
        "app",
        "app",
        4,
        &[(25, "10s"), (100, "2s")],
        vec![error_ratio_gate(0.05)],
    );
    r["spec"]["incident"] = json!({"severity": "sev2", "owner": "team-payments", "runbook": "https://runbooks.example/app", "channels": channels});
    f.create_rollout(r).await;
    let c = controller(f);
    f.wait_phase("app", Phase::Healthy, MINUTE).await;
    f.wait_for_rates(&f.env.prometheus_url).await;
    c
}

pub async fn bad_release(f: &Fixture) {
    f.metrics("app", "canary", 50.0, 0.5).await;
    f.set_image("app", "app:bad").await;
}

pub fn incidents(f: &Fixture) -> Api<Incident> {
    Api::namespaced(f.client.clone(), f.name())
}

async fn the_incident(f: &Fixture, what: &str, check: impl Fn(&Incident) -> bool) -> Incident {
    f.wait(what, MINUTE, || async {
        let list = incidents(f).list(&ListParams::default()).await.ok()?.items;
        assert!(
            list.len() <= 1,
            "one incident per (rollout, revision), found {}",
            list.len()
        );
        list.into_iter().next().filter(|i| check(i))
    })
    .await
}

fn all_delivered(i: &Incident, message: MessageKind) -> bool {
    let st = i.status.as_ref();
    CHANNELS.iter().all(|c| {
        st.is_some_and(|s| {
            s.deliveries.iter().any(|d| {
                d.channel == *c && d.message == message && d.state == DeliveryState::Delivered
            })
        })
    })
}

pub fn bodies(r: &Receiver, path: &str) -> Vec<Value> {
    r.requests()
        .into_iter()
        .filter(|q| q.path.starts_with(path))
        .map(|q| q.json())
        .collect()
}

async fn alertmanager_alerts(f: &Fixture, active: bool) -> Vec<Value> {
    let url = format!(
        "{}/api/v2/alerts?active={active}&silenced=false&inhibited=false&unprocessed=true",
        f.env.alertmanager_url
    );
    let all: Vec<Value> = reqwest::get(&url).await.unwrap().json().await.unwrap();
    all.into_iter()
        .filter(|a| a["labels"]["namespace"] == f.name())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_release_opens_exactly_one_incident_delivered_to_every_channel() {
    let f = Fixture::new("incident").await;
    let d = Destinations::create(&f).await;
    let _c = adopted(&f, &CHANNELS, Fixture::controller).await;
    bad_release(&f).await;
    f.wait_phase("app", Phase::RolledBack, MINUTE).await;
    // The incident reconcile is woken after the Rollout's status is written, so it records the
    // end of the rollback without waiting for a requeue; a fetch can still land just between.
    let i = the_incident(
        &f,
        "the incident delivered everywhere, rollback done",
        |i| {
            all_delivered(i, MessageKind::Trigger)
                && i.status
                    .as_ref()
                    .is_some_and(|s| s.rollback_completed_at.is_some())
        },
    )
    .await;

    // Every field the on-call needs.
    let r = f.rollout("app").await.status.unwrap();
    let (spec, st) = (&i.spec, i.status.as_ref().unwrap());
    assert_eq!(
        r.incident_ref.as_ref().map(|x| x.name.as_str()),
        Some(i.name_any().as_str()),
        "the Rollout points at it"
    );
    assert_eq!(
        spec.dedup_key,
        format!("rollgate/{}/app/{}", f.name(), spec.from_revision)
    );
    assert!(!spec.title.is_empty() && spec.title.len() <= 120);
    assert_eq!(spec.severity, Severity::Sev2);
    assert_eq!(spec.owner.as_deref(), Some("team-payments"));
    assert_eq!(
        spec.runbook.as_deref(),
        Some("https://runbooks.example/app")
    );
    assert_eq!(spec.reason, "GateFailed");
    assert_eq!(Some(&spec.to_revision), r.stable_revision.as_ref());
    assert_eq!(spec.images.len(), 1);
    assert_eq!(spec.images[0].from.as_deref(), Some("app:bad"));
    assert_eq!(spec.images[0].to.as_deref(), Some("app:v1"));
    assert_eq!((spec.stage.index, spec.stage.weight), (0, 25));
    assert_eq!(spec.exposure.weight, 25);
    let g = &spec.failed_gates[0];
    assert_eq!(g.name, "error-ratio");
    assert!(g.query.contains("rollgate_track=\"canary\""));
    assert!(g.value.unwrap() > 0.05);
    assert_eq!(g.threshold.as_deref(), Some("<= 0.05"));
    assert!(g.consecutive_failures >= 2);
    assert!(
        g.graph_url
            .as_deref()
            .unwrap()
            .starts_with(&format!("{}/graph?g0.expr=", f.env.prometheus_url))
    );
    assert!(st.rollback_started_at.is_some());
    let types: Vec<_> = st
        .timeline
        .iter()
        .map(|e| format!("{:?}", e.type_))
        .collect();
    for t in ["Detected", "RollbackStarted", "RollbackDone", "Delivered"] {
        assert!(types.iter().any(|x| x == t), "timeline {types:?} lacks {t}");
    }
    let first_attempt = st
        .deliveries
        .iter()
        .filter_map(|d| d.first_attempt_at)
        .min()
        .unwrap();
    println!(
        "rollback decision → first delivery attempt: {:?}",
        first_attempt.duration_since(spec.detected_at)
    );

    // PagerDuty: exactly one trigger with the dedup key, and change events.
    let triggers: Vec<_> = bodies(&d.pagerduty, "/v2/enqueue")
        .into_iter()
        .filter(|b| b["event_action"] == "trigger")
        .collect();
    assert_eq!(triggers.len(), 1, "{triggers:?}");
    assert_eq!(triggers[0]["dedup_key"], spec.dedup_key);
    assert_eq!(
        triggers[0]["routing_key"],
        "R0UTINGKEY0000000000000000000000"
    );
    assert_eq!(triggers[0]["payload"]["severity"], "error");
    assert!(
        triggers[0]["payload"]["summary"]
            .as_str()
            .unwrap()
            .contains("error-ratio")
    );
    let changes = bodies(&d.pagerduty, "/v2/change/enqueue");
    assert!(
        changes.len() >= 2,
        "a change event on rollout start and on rollback: {changes:?}"
    );
    // The webhook's Standard Webhooks signature verifies.
    let hooks = d.webhook.requests();
    assert!(!hooks.is_empty());
    for h in &hooks {
        let ok = rollgate::incident::channels::verify_standard_webhook(
            SIGNING_SECRET,
            h.header("webhook-id").unwrap(),
            h.header("webhook-timestamp").unwrap(),
            &h.body,
            h.header("webhook-signature").unwrap(),
        );
        assert!(
            ok,
            "signature of {:?} does not verify",
            h.header("webhook-id")
        );
    }
    // Slack: fallback text and blocks; Teams: an Adaptive Card.
    let slack = &bodies(&d.slack, "/services/")[0];
    assert!(slack["text"].as_str().unwrap().contains("app"));
    assert!(slack["blocks"].as_array().is_some_and(|b| !b.is_empty()));
    let teams = &bodies(&d.teams, "/workflows/")[0];
    assert_eq!(
        teams["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(teams["attachments"][0]["content"]["type"], "AdaptiveCard");
    // Alertmanager (real) shows the alert.
    let alerts = alertmanager_alerts(&f, true).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["labels"]["rollout"], "app");
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_destinations_are_retried_until_delivered_and_attempts_recorded() {
    let f = Fixture::new("retry").await;
    let dx = Destinations::create(&f).await;
    for r in [&dx.pagerduty, &dx.slack, &dx.teams, &dx.webhook] {
        r.script(vec![
            Reply::Status(500),
            Reply::RetryAfter(429, 1),
            Reply::Status(202),
        ]);
    }
    let _c = adopted(&f, &["pd", "slack", "teams", "hook"], Fixture::controller).await;
    bad_release(&f).await;
    let i = the_incident(&f, "every delivery completed", |i| {
        i.status.as_ref().is_some_and(|s| {
            s.deliveries
                .iter()
                .filter(|d| d.message == MessageKind::Trigger)
                .all(|d| d.state == DeliveryState::Delivered)
                && !s.deliveries.is_empty()
        })
    })
    .await;
    let triggers = bodies(&dx.pagerduty, "/v2/enqueue")
        .into_iter()
        .filter(|b| b["event_action"] == "trigger")
        .count();
    for d in i
        .status
        .unwrap()
        .deliveries
        .iter()
        .filter(|d| d.message == MessageKind::Trigger)
    {
        if d.channel == "pd" {
            // PagerDuty change events share the receiver and may take the scripted failures:
            // what matters is that every attempt is on record.
            assert_eq!(d.attempts as usize, triggers, "pd attempts recorded");
        } else {
            assert_eq!(d.attempts, 3, "{}: 500, 429, then 202", d.channel);
        }
        assert!(d.first_attempt_at.is_some() && d.delivered_at.is_some());
        // Every attempt of the trigger carried the same bytes (a webhook: the same id too),
        // though the rollback completed while they were retried.
        let receiver = match d.channel.as_str() {
            "pd" => &dx.pagerduty,
            "slack" => &dx.slack,
            "teams" => &dx.teams,
            _ => &dx.webhook,
        };
        let sent: Vec<_> = receiver
            .requests()
            .into_iter()
            .filter(|q| d.channel != "pd" || q.json()["event_action"] == "trigger")
            .take(d.attempts as usize)
            .collect();
        assert_eq!(sent.len(), d.attempts as usize, "{}", d.channel);
        for q in &sent[1..] {
            assert_eq!(
                String::from_utf8_lossy(&q.body),
                String::from_utf8_lossy(&sent[0].body),
                "{}: a retry sent other bytes",
                d.channel
            );
            assert_eq!(q.header("webhook-id"), sent[0].header("webhook-id"));
        }
    }
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_controller_killed_before_delivery_delivers_after_restart_with_the_same_dedup_key() {
    let f = Fixture::new("resume").await;
    let pd = Receiver::start().unwrap();
    secret(
        &f,
        "pd",
        json!({"routingKey": "R0UTINGKEY0000000000000000000000"}),
    )
    .await;
    // The channel object is not there yet: the incident is recorded, its delivery waits.
    let mut c = adopted(&f, &["pd"], Fixture::controller).await;
    bad_release(&f).await;
    the_incident(&f, "a pending delivery", |i| {
        i.status.as_ref().is_some_and(|s| {
            s.deliveries
                .iter()
                .any(|d| d.state == DeliveryState::Pending && d.attempts >= 1)
        })
    })
    .await;
    c.kill();
    channel(&f, "pd", json!({"type": "pagerduty", "url": format!("{}/v2/enqueue", pd.url()), "secretRef": {"name": "pd"}})).await;
    c.restart();
    let i = the_incident(&f, "delivered after the restart", |i| {
        i.status.as_ref().is_some_and(|s| {
            s.deliveries
                .iter()
                .all(|d| d.state == DeliveryState::Delivered)
        })
    })
    .await;
    let triggers: Vec<_> = bodies(&pd, "/v2/enqueue")
        .into_iter()
        .filter(|b| b["event_action"] == "trigger")
        .collect();
    assert_eq!(triggers.len(), 1, "PagerDuty got it once");
    assert_eq!(triggers[0]["dedup_key"], i.spec.dedup_key);
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unhealthy_stable_escalates_the_incident_and_resends_it() {
    let f = Fixture::new("escalate").await;
    let pd = Receiver::start().unwrap();
    secret(
        &f,
        "pd",
        json!({"routingKey": "R0UTINGKEY0000000000000000000000"}),
    )
    .await;
    channel(&f, "pd", json!({"type": "pagerduty", "url": format!("{}/v2/enqueue", pd.url()), "secretRef": {"name": "pd"}})).await;
    let _c = adopted(&f, &["pd"], Fixture::controller).await;
    // Both revisions fail: the rollback does not restore health.
    f.metrics("app", "stable", 50.0, 0.5).await;
    bad_release(&f).await;
    let i = the_incident(&f, "the incident escalated", |i| {
        i.status
            .as_ref()
            .is_some_and(|s| s.state == IncidentState::Escalated)
    })
    .await;
    assert_eq!(i.status.as_ref().unwrap().severity, Some(Severity::Sev1));
    f.wait("the escalation re-sent to PagerDuty", MINUTE, || async {
        let t: Vec<_> = bodies(&pd, "/v2/enqueue")
            .into_iter()
            .filter(|b| b["event_action"] == "trigger")
            .collect();
        (t.len() == 2
            && t[1]["payload"]["severity"] == "critical"
            && t[1]["dedup_key"] == i.spec.dedup_key)
            .then_some(())
    })
    .await;
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn acknowledge_and_resolve_reach_pagerduty_and_alertmanager() {
    let f = Fixture::new("ackres").await;
    let pd = Receiver::start().unwrap();
    secret(
        &f,
        "pd",
        json!({"routingKey": "R0UTINGKEY0000000000000000000000"}),
    )
    .await;
    channel(&f, "pd", json!({"type": "pagerduty", "url": format!("{}/v2/enqueue", pd.url()), "secretRef": {"name": "pd"}})).await;
    channel(
        &f,
        "am",
        json!({"type": "alertmanager", "url": f.env.alertmanager_url}),
    )
    .await;
    let _c = adopted(&f, &["pd", "am"], Fixture::controller).await;
    bad_release(&f).await;
    let i = the_incident(&f, "delivered", |i| {
        i.status.as_ref().is_some_and(|s| {
            s.deliveries
                .iter()
                .all(|d| d.state == DeliveryState::Delivered)
        })
    })
    .await;
    assert_eq!(alertmanager_alerts(&f, true).await.len(), 1);
    let name = i.name_any();
    let ack = json!({"spec": {"acknowledgedBy": "alice"}});
    incidents(&f)
        .patch(&name, &PatchParams::default(), &Patch::Merge(ack))
        .await
        .unwrap();
    f.wait("PagerDuty acknowledged", MINUTE, || async {
        bodies(&pd, "/v2/enqueue")
            .iter()
            .any(|b| b["event_action"] == "acknowledge" && b["dedup_key"] == i.spec.dedup_key)
            .then_some(())
    })
    .await;
    let resolve = json!({"spec": {"resolvedBy": "alice"}});
    incidents(&f)
        .patch(&name, &PatchParams::default(), &Patch::Merge(resolve))
        .await
        .unwrap();
    f.wait("PagerDuty resolved", MINUTE, || async {
        bodies(&pd, "/v2/enqueue")
            .iter()
            .any(|b| b["event_action"] == "resolve" && b["dedup_key"] == i.spec.dedup_key)
            .then_some(())
    })
    .await;
    f.wait("the Alertmanager alert resolved", MINUTE, || async {
        alertmanager_alerts(&f, true).await.is_empty().then_some(())
    })
    .await;
    let i = incidents(&f).get(&name).await.unwrap();
    let st = i.status.unwrap();
    assert_eq!(st.state, IncidentState::Resolved);
    let types: Vec<_> = st
        .timeline
        .iter()
        .map(|e| format!("{:?}", e.type_))
        .collect();
    assert!(types.contains(&"Acknowledged".to_string()) && types.contains(&"Resolved".to_string()));
    f.cleanup().await;
}

//! What holds for every destination: credentials stay secret, every message kind builds,
//! answers are judged alike, retries back off; and sends against a real local receiver.

use std::collections::BTreeMap;
use std::time::Duration;

use rollgate_platform::{Receiver, Reply};

use super::fixture::{self, SECRETS, destination};
use super::*;
use crate::api::{ChannelType, MessageKind};

const TYPES: [ChannelType; 7] = [
    ChannelType::Pagerduty,
    ChannelType::Opsgenie,
    ChannelType::Jsm,
    ChannelType::Slack,
    ChannelType::Teams,
    ChannelType::Alertmanager,
    ChannelType::Webhook,
];
const KINDS: [MessageKind; 4] = [
    MessageKind::Trigger,
    MessageKind::Escalate,
    MessageKind::Acknowledge,
    MessageKind::Resolve,
];

fn assert_no_secret(text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} leaked in {text}");
    }
}

#[test]
fn every_destination_answers_every_message_kind_with_a_json_post() {
    for type_ in TYPES {
        for kind in KINDS {
            let out = fixture::render(&destination(type_), &fixture::incident(), kind, "id")
                .unwrap_or_else(|e| panic!("{type_:?} {kind:?}: {e}"))
                .unwrap_or_else(|| panic!("{type_:?} {kind:?} skipped"));
            assert_eq!(out.method, "POST");
            assert_eq!(out.header("Content-Type"), Some("application/json"));
            assert!(!out.json().is_null(), "{type_:?} {kind:?}");
            assert!(out.url.starts_with("https://") || out.url.starts_with("http://"));
        }
    }
}

#[test]
fn building_is_deterministic() {
    for type_ in TYPES {
        let a = fixture::render(
            &destination(type_),
            &fixture::incident(),
            MessageKind::Trigger,
            "id",
        );
        let b = fixture::render(
            &destination(type_),
            &fixture::incident(),
            MessageKind::Trigger,
            "id",
        );
        assert_eq!(a, b, "{type_:?}");
    }
}

#[test]
fn debug_of_requests_and_destinations_shows_no_credential() {
    for type_ in TYPES {
        let dest = destination(type_);
        assert_no_secret(&format!("{dest:?}"));
        for kind in KINDS {
            let out = fixture::render(&dest, &fixture::incident(), kind, "id")
                .unwrap()
                .unwrap();
            let shown = format!("{out:?}");
            assert_no_secret(&shown);
            assert!(shown.contains("POST"));
        }
    }
}

#[test]
fn debug_keeps_public_api_paths_and_hides_webhook_paths() {
    let out = fixture::render(
        &destination(ChannelType::Opsgenie),
        &fixture::incident(),
        MessageKind::Resolve,
        "id",
    )
    .unwrap()
    .unwrap();
    let shown = format!("{out:?}");
    assert!(shown.contains("https://api.opsgenie.com/v2/alerts/rollgate%2Fshop%2Fcheckout%2F91be02/close?identifierType=alias"));
    assert!(
        shown.contains(r#"("Authorization", "<redacted>")"#),
        "{shown}"
    );
    assert_eq!(
        redact_url(fixture::SLACK_URL),
        "https://hooks.slack.com/<redacted>"
    );
    assert_eq!(
        redact_url(fixture::TEAMS_URL),
        "https://prod-00.westeurope.logic.azure.com/<redacted>"
    );
    assert_eq!(
        redact_url("http://user:pw@alertmanager:9093/api/v2/alerts"),
        "http://alertmanager:9093/api/v2/alerts"
    );
    assert_eq!(redact_url("not a url"), "<unparseable URL>");
    assert_eq!(
        redact_url("https://hooks.example/v2/alerts?token=abc"),
        "https://hooks.example/v2/alerts?<redacted>"
    );
}

#[test]
fn errors_name_what_is_missing_never_a_value() {
    let incident = fixture::incident();
    let broken: Vec<Destination> = TYPES
        .iter()
        .flat_map(|&type_| {
            let mut none = destination(type_);
            none.credentials = Credentials::default();
            none.url = None;
            let mut bad = destination(type_);
            bad.url = bad.url.map(|u| format!("{u}\u{0}"));
            bad.credentials.webhook_url = Some(format!("gopher://{}", fixture::SLACK_URL));
            bad.credentials.signing_secret = Some(format!("whsec_{}!", fixture::TOKEN));
            bad.severity_map = BTreeMap::from([("sev2".into(), "page-me".into())]);
            [none, bad]
        })
        .collect();
    let mut errors = 0;
    for dest in &broken {
        for kind in KINDS {
            if let Err(e) = fixture::render(dest, &incident, kind, "id") {
                errors += 1;
                assert_no_secret(&e.to_string());
                assert_no_secret(&format!("{e:?}"));
                assert!(!e.category().is_empty());
            }
        }
    }
    assert!(errors > 20, "{errors}");
}

#[test]
fn credentials_are_read_from_secret_keys_and_trimmed() {
    let data = BTreeMap::from([
        ("routingKey".to_owned(), b"rk\n".to_vec()),
        ("apiKey".to_owned(), b" ak ".to_vec()),
        (
            "url".to_owned(),
            b"https://hooks.slack.com/services/x".to_vec(),
        ),
        ("signingSecret".to_owned(), b"whsec_AAAA".to_vec()),
        ("token".to_owned(), vec![0xff, 0xfe]),
        ("other".to_owned(), b"ignored".to_vec()),
    ]);
    let creds = Credentials::from_secret_data(&data);
    assert_eq!(creds.routing_key.as_deref(), Some("rk"));
    assert_eq!(creds.api_key.as_deref(), Some("ak"));
    assert_eq!(
        creds.webhook_url.as_deref(),
        Some("https://hooks.slack.com/services/x")
    );
    assert_eq!(creds.signing_secret.as_deref(), Some("whsec_AAAA"));
    assert_eq!(creds.token, None, "not UTF-8");
    let shown = format!("{creds:?}");
    assert!(!shown.contains("rk") && !shown.contains("hooks.slack.com") && !shown.contains("AAAA"));
    assert_eq!(
        Credentials::from_secret_data(&BTreeMap::new()),
        Credentials::default()
    );
}

fn http() -> reqwest::Client {
    rollgate_platform::install_crypto_provider();
    reqwest::Client::new()
}

fn pointed_at(receiver: &Receiver, type_: ChannelType) -> Destination {
    let mut dest = destination(type_);
    match type_ {
        ChannelType::Slack | ChannelType::Teams => {
            dest.credentials.webhook_url = Some(format!("{}/hook/secret-path", receiver.url()))
        }
        ChannelType::Pagerduty => dest.url = Some(format!("{}/v2/enqueue", receiver.url())),
        ChannelType::Opsgenie | ChannelType::Jsm => {
            dest.url = Some(format!("{}/v2/alerts", receiver.url()))
        }
        _ => dest.url = Some(receiver.url()),
    }
    dest
}

#[tokio::test]
async fn every_destination_reaches_the_receiver_as_built() {
    let receiver = Receiver::start().unwrap();
    let client = http();
    for type_ in TYPES {
        for kind in KINDS {
            receiver.clear();
            let dest = pointed_at(&receiver, type_);
            let out = fixture::render(&dest, &fixture::incident(), kind, "id-7")
                .unwrap()
                .unwrap();
            let outcome = send(&client, &out, Duration::from_secs(5)).await;
            assert_eq!(
                outcome,
                Outcome::Delivered { external_id: None },
                "{type_:?} {kind:?}"
            );
            let got = receiver.requests();
            assert_eq!(got.len(), 1);
            assert_eq!(got[0].method, "POST");
            assert_eq!(format!("{}{}", receiver.url(), got[0].path), out.url);
            assert_eq!(got[0].body, out.body);
            for (name, value) in &out.headers {
                assert_eq!(
                    got[0].header(name),
                    Some(value.as_str()),
                    "{type_:?} {name}"
                );
            }
        }
    }
    let webhook = receiver.requests().pop().unwrap();
    assert!(verify_standard_webhook(
        fixture::SIGNING_SECRET,
        webhook.header("webhook-id").unwrap(),
        webhook.header("webhook-timestamp").unwrap(),
        &webhook.body,
        webhook.header("webhook-signature").unwrap(),
    ));
}

#[tokio::test]
async fn send_turns_answers_and_failures_into_outcomes() {
    let receiver = Receiver::start().unwrap();
    let client = http();
    let dest = pointed_at(&receiver, ChannelType::Pagerduty);
    let out = fixture::render(&dest, &fixture::incident(), MessageKind::Trigger, "id")
        .unwrap()
        .unwrap();
    receiver.script(vec![
        Reply::RetryAfter(429, 7),
        Reply::Status(502),
        Reply::Json(
            202,
            serde_json::json!({"status": "success", "dedup_key": "rollgate/shop/checkout/91be02"}),
        ),
        Reply::Status(400),
        Reply::Hang,
    ]);
    let timeout = Duration::from_millis(300);
    assert_eq!(
        send(&client, &out, timeout).await,
        Outcome::Retry {
            after: Some(Duration::from_secs(7)),
            error: "HTTP 429".into()
        }
    );
    assert_eq!(
        send(&client, &out, timeout).await,
        Outcome::Retry {
            after: None,
            error: "HTTP 502".into()
        }
    );
    assert_eq!(
        send(&client, &out, timeout).await,
        Outcome::Delivered {
            external_id: Some("rollgate/shop/checkout/91be02".into())
        }
    );
    assert_eq!(
        send(&client, &out, timeout).await,
        Outcome::Permanent {
            error: "HTTP 400".into()
        }
    );
    match send(&client, &out, timeout).await {
        Outcome::Retry { after: None, error } => {
            assert!(error.contains("no answer within"), "{error}")
        }
        other => panic!("a hung destination is retried: {other:?}"),
    }
    assert_eq!(receiver.requests().len(), 5);
}

#[tokio::test]
async fn unreachable_destinations_are_retried_without_quoting_the_url() {
    let url = {
        let receiver = Receiver::start().unwrap();
        format!("{}/hook/T000SECRET", receiver.url())
    };
    let out = Outgoing {
        method: "POST",
        url,
        headers: vec![],
        body: b"{}".to_vec(),
    };
    match send(&http(), &out, Duration::from_secs(2)).await {
        Outcome::Retry { after: None, error } => {
            assert!(
                !error.contains("T000SECRET") && !error.contains("127.0.0.1"),
                "{error}"
            );
        }
        other => panic!("{other:?}"),
    }
    let bad = Outgoing {
        method: "POST",
        url: "not a url".into(),
        headers: vec![],
        body: vec![],
    };
    assert!(matches!(
        send(&http(), &bad, Duration::from_secs(1)).await,
        Outcome::Permanent { .. }
    ));
}

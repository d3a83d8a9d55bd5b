//! Sends against a real local receiver: every destination arrives as built, answers and
//! failures become outcomes, and no error quotes the URL.

use std::time::Duration;

use rollgate_core::api::{ChannelType, MessageKind};
use rollgate_core::incident::channels::fixture::{self, KINDS, TYPES, destination};
use rollgate_core::incident::channels::{Destination, Outcome, Outgoing, verify_standard_webhook};
use rollgate_platform::{Receiver, Reply};

use super::send;

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

//! What holds for every destination: credentials stay secret, every message kind builds,
//! answers are judged alike, retries back off. Sends against a real local receiver are the
//! controller crate's (`rollgate::delivery`).

use std::collections::BTreeMap;

use super::fixture::{self, KINDS, SECRETS, TYPES, destination};
use super::*;
use crate::api::{ChannelType, MessageKind};

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

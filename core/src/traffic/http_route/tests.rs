use serde_json::json;

use super::*;
use crate::api::ParentRef;

fn user_route() -> Value {
    json!({
        "parentRefs": [{"name": "edge"}],
        "rules": [
            {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
             "backendRefs": [
                {"name": "shop-stable", "port": 80, "weight": 100},
                {"name": "shop-canary", "port": 80, "weight": 0}]},
            {"matches": [{"path": {"type": "PathPrefix", "value": "/static"}}],
             "backendRefs": [{"name": "cdn", "port": 80}]}
        ]
    })
}

fn share(weight: i32) -> Share {
    Share {
        weight,
        header: None,
    }
}

fn header() -> HeaderMatch {
    HeaderMatch {
        name: "x-canary".into(),
        value: "always".into(),
    }
}

#[test]
fn a_route_carries_the_share_of_the_rules_that_hold_both_tracks() {
    assert_eq!(share_of(&user_route(), "shop"), Some(share(0)));
    let five = with_share(&user_route(), "shop", &share(5)).unwrap();
    assert_eq!(share_of(&five, "shop"), Some(share(5)));
    assert_eq!(five["rules"][0]["backendRefs"][0]["weight"], 95);
    assert_eq!(five["rules"][0]["backendRefs"][1]["weight"], 5);
    // Other rules are left exactly as written.
    assert_eq!(five["rules"][1], user_route()["rules"][1]);
    // A route naming no tracks carries nothing, and cannot be given a share.
    assert_eq!(share_of(&json!({"rules": []}), "shop"), None);
    let err = with_share(
        &json!({"rules": [{"backendRefs": [{"name": "shop"}]}]}),
        "shop",
        &share(5),
    )
    .unwrap_err();
    assert!(
        err.contains("shop-stable") && err.contains("shop-canary"),
        "{err}"
    );
}

#[test]
fn rules_that_disagree_carry_no_share_yet() {
    let mut route = user_route();
    let both = route["rules"][0].clone();
    route["rules"].as_array_mut().unwrap().push(both);
    route["rules"][2]["backendRefs"][1]["weight"] = json!(50);
    route["rules"][2]["backendRefs"][0]["weight"] = json!(50);
    assert_eq!(share_of(&route, "shop"), None);
    let fixed = with_share(&route, "shop", &share(10)).unwrap();
    assert_eq!(share_of(&fixed, "shop"), Some(share(10)));
}

#[test]
fn the_header_rule_copies_each_match_and_goes_with_the_header() {
    let with_header = Share {
        weight: 0,
        header: Some(header()),
    };
    let route = with_share(&user_route(), "shop", &with_header).unwrap();
    assert_eq!(share_of(&route, "shop"), Some(with_header.clone()));
    let rule = route["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == HEADER_RULE)
        .unwrap();
    assert_eq!(
        rule["matches"],
        json!([{"path": {"type": "PathPrefix", "value": "/api"},
                "headers": [{"type": "Exact", "name": "x-canary", "value": "always"}]}])
    );
    assert_eq!(
        rule["backendRefs"],
        json!([{"name": "shop-canary", "port": 80, "weight": 1}])
    );
    // Applying it twice changes nothing; moving on removes it.
    assert_eq!(with_share(&route, "shop", &with_header).unwrap(), route);
    let weighted = with_share(&route, "shop", &share(50)).unwrap();
    assert!(
        weighted["rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["name"] != HEADER_RULE)
    );
    assert_eq!(weighted["rules"].as_array().unwrap().len(), 2);
}

#[test]
fn a_full_route_has_no_room_for_the_header_rule() {
    let mut route = user_route();
    for _ in 0..14 {
        route["rules"]
            .as_array_mut()
            .unwrap()
            .push(json!({"backendRefs": [{"name": "cdn"}]}));
    }
    let err = with_share(
        &route,
        "shop",
        &Share {
            weight: 0,
            header: Some(header()),
        },
    )
    .unwrap_err();
    assert!(err.contains("16 rules"), "{err}");
}

#[test]
fn a_managed_route_carries_its_share() {
    let managed = ManagedRoute {
        parent_refs: vec![ParentRef {
            name: "edge".into(),
            namespace: Some("gateways".into()),
            section_name: Some("https".into()),
        }],
        hostnames: vec!["shop.example".into()],
        port: 8080,
    };
    for s in [
        share(0),
        share(1),
        share(100),
        Share {
            weight: 0,
            header: Some(header()),
        },
    ] {
        let spec = managed_spec(&managed, "shop", &s);
        assert_eq!(share_of(&spec, "shop"), Some(s));
        assert_eq!(spec["parentRefs"][0]["sectionName"], "https");
    }
}

#[test]
fn a_route_counts_once_every_parent_accepted_its_generation() {
    let route = |generation: i64, parents: Value| {
        json!({
            "metadata": {"generation": generation},
            "spec": {"parentRefs": [{"name": "edge"}, {"name": "edge", "sectionName": "tls"}]},
            "status": {"parents": parents},
        })
    };
    let accepted_by = |section: Option<&str>, generation: i64, status: &str| {
        let mut r = json!({"name": "edge", "namespace": "shop"});
        if let Some(s) = section {
            r["sectionName"] = json!(s);
        }
        json!({"parentRef": r, "controllerName": "example.com/gateway",
               "conditions": [{"type": "Accepted", "status": status, "observedGeneration": generation}]})
    };
    let both = json!([
        accepted_by(None, 3, "True"),
        accepted_by(Some("tls"), 3, "True")
    ]);
    assert!(accepted(&route(3, both.clone()), "shop"));
    // A newer generation is not accepted yet.
    assert!(!accepted(&route(4, both), "shop"));
    // One parent missing, or refusing.
    assert!(!accepted(
        &route(3, json!([accepted_by(None, 3, "True")])),
        "shop"
    ));
    assert!(!accepted(
        &route(
            3,
            json!([
                accepted_by(None, 3, "True"),
                accepted_by(Some("tls"), 3, "False")
            ])
        ),
        "shop"
    ));
    // No parents at all is never accepted.
    assert!(!accepted(
        &json!({"metadata": {"generation": 1}, "spec": {}}),
        "shop"
    ));
}

//! An HTTPRoute as the router reads and writes it, on plain JSON (the Gateway API is not
//! among our typed APIs; see the closing note of the traffic work): the share a route carries,
//! the route with a new share, a route rollgate owns, and whether its Gateways accepted it.
//!
//! A rule "holds both tracks" when its backendRefs name `<service>-stable` and
//! `<service>-canary`; rollgate changes only those rules' weights, and its own header rule.

use serde_json::{Value, json};

use super::Share;
use super::services::name as track_service;
use crate::api::{HeaderMatch, ManagedRoute};
use crate::workload::TrackKind;

/// The name of rollgate's header rule, and of the one rule in a route rollgate owns.
pub const HEADER_RULE: &str = "rollgate-header-canary";
pub const MANAGED_RULE: &str = "rollgate";
/// The Gateway API allows this many rules in a route.
const MAX_RULES: usize = 16;

fn is_service(r: &Value, name: &str) -> bool {
    r["name"] == name
        && r.get("kind").is_none_or(|k| k == "Service")
        && r.get("group").is_none_or(|g| g == "")
}

/// The rules (indices) that hold both tracks.
fn holding_both(spec: &Value, service: &str) -> Vec<usize> {
    let (stable, canary) = (
        track_service(service, TrackKind::Stable),
        track_service(service, TrackKind::Canary),
    );
    let rules = spec["rules"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    rules
        .iter()
        .enumerate()
        .filter(|(_, rule)| {
            let refs = rule["backendRefs"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            refs.iter().any(|r| is_service(r, &stable))
                && refs.iter().any(|r| is_service(r, &canary))
        })
        .map(|(i, _)| i)
        .collect()
}

/// The share the route's spec carries: the canary's weight (the same in every rule holding
/// both tracks, or `None` while they disagree) and rollgate's header rule.
pub fn share_of(spec: &Value, service: &str) -> Option<Share> {
    let (stable, canary) = (
        track_service(service, TrackKind::Stable),
        track_service(service, TrackKind::Canary),
    );
    let weight = |rule: &Value, name: &str| -> i64 {
        rule["backendRefs"]
            .as_array()
            .and_then(|refs| refs.iter().find(|r| is_service(r, name)))
            .map_or(0, |r| r.get("weight").and_then(Value::as_i64).unwrap_or(1))
    };
    let mut shares = holding_both(spec, service).into_iter().map(|i| {
        let rule = &spec["rules"][i];
        let (s, c) = (weight(rule, &stable), weight(rule, &canary));
        (s + c > 0).then(|| (c * 100 + (s + c) / 2) / (s + c))
    });
    let first = shares.next()??;
    if !shares.all(|s| s == Some(first)) {
        return None;
    }
    let header = spec["rules"]
        .as_array()
        .and_then(|rules| rules.iter().find(|r| r["name"] == HEADER_RULE))
        .and_then(|rule| rule["matches"][0]["headers"].as_array()?.last().cloned())
        .and_then(|h| {
            Some(HeaderMatch {
                name: h["name"].as_str()?.to_string(),
                value: h["value"].as_str()?.to_string(),
            })
        });
    Some(Share {
        weight: i32::try_from(first).ok()?,
        header,
    })
}

/// The user's route spec with `share` in it: the weights of every rule holding both tracks,
/// and rollgate's header rule present exactly while the share has a header. Everything else
/// stays as the user wrote it. An error says why the route cannot carry a share.
pub fn with_share(spec: &Value, service: &str, share: &Share) -> Result<Value, String> {
    let both = holding_both(spec, service);
    if both.is_empty() {
        return Err(format!(
            "no rule sends requests to both {} and {}; add them to a rule's backendRefs (weights 100 and 0)",
            track_service(service, TrackKind::Stable),
            track_service(service, TrackKind::Canary)
        ));
    }
    // Already there: the API server's defaults (a backendRef's group and kind, …) make the
    // stored rules differ from what we would write, and a rewrite would only bump the route's
    // generation and make its Gateways accept it again.
    if share_of(spec, service).as_ref() == Some(share) {
        return Ok(spec.clone());
    }
    let mut spec = spec.clone();
    let (stable, canary) = (
        track_service(service, TrackKind::Stable),
        track_service(service, TrackKind::Canary),
    );
    for &i in &both {
        for r in spec["rules"][i]["backendRefs"]
            .as_array_mut()
            .into_iter()
            .flatten()
        {
            if is_service(r, &stable) {
                r["weight"] = json!(100 - share.weight);
            } else if is_service(r, &canary) {
                r["weight"] = json!(share.weight);
            }
        }
    }
    let header_rule = share
        .header
        .as_ref()
        .map(|h| header_rule(&spec, &both, service, h));
    let rules = spec["rules"]
        .as_array_mut()
        .expect("holding_both found rules");
    rules.retain(|r| r["name"] != HEADER_RULE);
    if let Some(rule) = header_rule {
        if rules.len() >= MAX_RULES {
            return Err(format!(
                "the route has {MAX_RULES} rules already; the header stage needs one more"
            ));
        }
        rules.push(rule);
    }
    Ok(spec)
}

/// Requests matching any rule that holds both tracks, and carrying the header, go to the
/// canary only. Each match is kept as written (paths, methods, other headers), so the
/// header rule is more specific than the rule it shadows and wins by the Gateway API's
/// precedence.
fn header_rule(spec: &Value, both: &[usize], service: &str, header: &HeaderMatch) -> Value {
    let canary = track_service(service, TrackKind::Canary);
    let wanted = json!({"type": "Exact", "name": header.name, "value": header.value});
    let mut matches = vec![];
    let mut port = Value::Null;
    for &i in both {
        let rule = &spec["rules"][i];
        if port.is_null()
            && let Some(r) = rule["backendRefs"]
                .as_array()
                .and_then(|refs| refs.iter().find(|r| is_service(r, &canary)))
        {
            port = r["port"].clone();
        }
        let written = rule["matches"].as_array().cloned().unwrap_or_default();
        let written = if written.is_empty() {
            vec![json!({"path": {"type": "PathPrefix", "value": "/"}})]
        } else {
            written
        };
        for mut m in written {
            let headers = m["headers"].as_array().cloned().unwrap_or_default();
            let mut headers: Vec<Value> = headers
                .into_iter()
                .filter(|h| h["name"] != wanted["name"])
                .collect();
            headers.push(wanted.clone());
            m["headers"] = json!(headers);
            if !matches.contains(&m) {
                matches.push(m);
            }
        }
    }
    let mut backend = json!({"name": canary, "weight": 1});
    if !port.is_null() {
        backend["port"] = port;
    }
    json!({"name": HEADER_RULE, "matches": matches, "backendRefs": [backend]})
}

/// The spec of a route rollgate owns, carrying `share`.
pub fn managed_spec(managed: &ManagedRoute, service: &str, share: &Share) -> Value {
    let parent_refs: Vec<Value> = managed
        .parent_refs
        .iter()
        .map(|p| {
            let mut r = json!({"name": p.name});
            if let Some(ns) = &p.namespace {
                r["namespace"] = json!(ns);
            }
            if let Some(section) = &p.section_name {
                r["sectionName"] = json!(section);
            }
            r
        })
        .collect();
    let backend = |kind: TrackKind, weight: i32| json!({"name": track_service(service, kind), "port": managed.port, "weight": weight});
    let spec = json!({
        "parentRefs": parent_refs,
        "hostnames": managed.hostnames,
        "rules": [{
            "name": MANAGED_RULE,
            "backendRefs": [backend(TrackKind::Stable, 100 - share.weight), backend(TrackKind::Canary, share.weight)],
        }],
    });
    with_share(&spec, service, share).expect("a managed route holds both tracks")
}

/// Whether every parent the route names has accepted its current generation.
pub fn accepted(route: &Value, namespace: &str) -> bool {
    let generation = route["metadata"]["generation"].as_i64();
    let parents = route["spec"]["parentRefs"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let statuses = route["status"]["parents"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    let same = |a: &Value, b: &Value| {
        let ns = |v: &Value| v["namespace"].as_str().unwrap_or(namespace).to_string();
        a["name"] == b["name"] && ns(a) == ns(b) && a["sectionName"] == b["sectionName"]
    };
    !parents.is_empty()
        && parents.iter().all(|p| {
            statuses.iter().any(|s| {
                same(&s["parentRef"], p)
                    && s["conditions"].as_array().is_some_and(|cs| {
                        cs.iter().any(|c| {
                            c["type"] == "Accepted"
                                && c["status"] == "True"
                                && c["observedGeneration"].as_i64() == generation
                        })
                    })
            })
        })
}

#[cfg(test)]
mod tests;

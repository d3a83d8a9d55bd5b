//! dashboards/rollgate.json: every query names metrics (and labels) the controller exports,
//! and every metric the controller exports is on the dashboard.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;
use rollgate::controller::metrics::{
    DeliveryLabels, ErrorLabels, Loop, MemberWriteLabels, Metrics, PhaseLabels, ReasonLabels,
    VerdictLabels,
};
use serde_json::Value;

/// Labels Prometheus adds to every scraped series.
const TARGET_LABELS: &[&str] = &["job", "instance", "namespace", "pod"];

/// Series name → label names, from the controller's own registry (one sample of each family,
/// so the label names come from the label structs themselves).
fn exported() -> BTreeMap<String, BTreeSet<String>> {
    let m = Metrics::default();
    m.reconciles.get_or_create(&Loop { controller: "c" }).inc();
    m.errors
        .get_or_create(&ErrorLabels {
            controller: "c",
            category: "x",
        })
        .inc();
    m.duration
        .get_or_create(&Loop { controller: "c" })
        .observe(0.1);
    m.rollouts
        .get_or_create(&PhaseLabels { phase: "Healthy" })
        .set(1);
    m.gate_evaluations
        .get_or_create(&VerdictLabels { verdict: "Pass" })
        .inc();
    m.rollbacks
        .get_or_create(&ReasonLabels {
            reason: "GateFailed".into(),
        })
        .inc();
    m.incidents_opened.inc();
    m.deliveries
        .get_or_create(&DeliveryLabels {
            channel_type: "slack",
            outcome: "ok",
        })
        .inc();
    m.leader.set(1);
    m.releases
        .get_or_create(&PhaseLabels {
            phase: "Progressing",
        })
        .set(1);
    m.member_writes
        .get_or_create(&MemberWriteLabels {
            write: "apply",
            outcome: "ok",
        })
        .inc();
    m.members_unreachable.inc();
    let text = m.encode();
    let sample = Regex::new(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? ").unwrap();
    let label = Regex::new(r#"([a-zA-Z_][a-zA-Z0-9_]*)=""#).unwrap();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        if let Some(c) = sample.captures(line) {
            let labels = out.entry(c[1].to_string()).or_default();
            if let Some(l) = c.get(3) {
                labels.extend(label.captures_iter(l.as_str()).map(|c| c[1].to_string()));
            }
        }
    }
    out
}

/// Every PromQL text of the dashboard: panel targets, variables, annotations.
fn queries(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr" | "definition", Value::String(s)) => out.push(s.clone()),
                    ("query", Value::String(s)) if s.contains('(') => out.push(s.clone()),
                    _ => queries(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| queries(i, out)),
        _ => {}
    }
}

fn dashboard() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards/rollgate.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("the dashboard is JSON")
}

#[test]
fn every_dashboard_query_uses_exported_metrics_and_labels() {
    let exported = exported();
    assert!(
        exported.contains_key("rollgate_reconciles_total"),
        "{exported:?}"
    );
    let mut qs = Vec::new();
    queries(&dashboard(), &mut qs);
    assert!(qs.len() >= 15, "{qs:?}");
    let metric = Regex::new(r"\b(rollgate_[a-z0-9_]+)\b(\{([^}]*)\})?").unwrap();
    let matcher = Regex::new(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)").unwrap();
    let grouping = Regex::new(r"\b(?:by|without)\s*\(([^)]*)\)").unwrap();
    let mut used = BTreeSet::new();
    for q in &qs {
        let mut labels_here: BTreeSet<String> =
            TARGET_LABELS.iter().map(|s| s.to_string()).collect();
        let mut any = false;
        for c in metric.captures_iter(q) {
            let name = &c[1];
            let Some(labels) = exported.get(name) else {
                panic!(
                    "{name} is not exported by the controller (query {q}); exported: {:?}",
                    exported.keys()
                );
            };
            any = true;
            used.insert(name.to_string());
            labels_here.extend(labels.iter().cloned());
            if let Some(sel) = c.get(3) {
                for m in matcher.captures_iter(sel.as_str()) {
                    assert!(
                        labels.contains(&m[1]) || TARGET_LABELS.contains(&&m[1]),
                        "{name} has no label {} (query {q})",
                        &m[1]
                    );
                }
            }
        }
        assert!(any, "a query without a rollgate metric: {q}");
        for g in grouping.captures_iter(q) {
            for l in g[1].split(',').map(str::trim).filter(|l| !l.is_empty()) {
                assert!(
                    labels_here.contains(l),
                    "grouping by {l}, a label none of its metrics has (query {q})"
                );
            }
        }
    }
    // Every family is on the dashboard (the histogram through its buckets).
    let families: BTreeSet<_> = exported
        .keys()
        .filter(|n| !n.ends_with("_sum") && !n.ends_with("_count") && !n.ends_with("_created"))
        .cloned()
        .collect();
    let missing: Vec<_> = families.difference(&used).collect();
    assert!(
        missing.is_empty(),
        "exported but not on the dashboard: {missing:?}"
    );
}

#[test]
fn the_dashboard_is_importable() {
    let d = dashboard();
    assert_eq!(d["uid"], "rollgate-controller");
    assert!(d["title"].is_string());
    let panels = d["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    for p in panels {
        assert!(
            ids.insert(p["id"].as_i64().expect("panel id")),
            "duplicate panel id {}",
            p["id"]
        );
        let pos = &p["gridPos"];
        assert!(
            pos["x"].as_i64().unwrap() + pos["w"].as_i64().unwrap() <= 24,
            "{p}"
        );
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
            assert!(
                !p["targets"].as_array().unwrap().is_empty(),
                "{}",
                p["title"]
            );
        }
    }
    let vars: Vec<_> = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(vars, ["datasource", "job"]);
}

//! The Argo CD health checks of docs/GITOPS.md, run under Lua (lupa, through python3) against
//! sample Rollouts and Incidents: every phase and state, and the messages.

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

/// The Lua script under `resource.customizations.health.<key>: |` in docs/GITOPS.md.
fn script(key: &str) -> String {
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/GITOPS.md")).unwrap();
    let head = format!("resource.customizations.health.{key}: |");
    let mut lines = doc.lines().skip_while(|l| l.trim() != head);
    let header = lines
        .next()
        .unwrap_or_else(|| panic!("{head} is not in docs/GITOPS.md"));
    let indent = header.len() - header.trim_start().len();
    let body: Vec<&str> = lines
        .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
        .collect();
    let strip = body
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap();
    body.iter()
        .map(|l| l.get(strip..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// (status, message) of each object.
fn health(key: &str, objects: &[Value]) -> Vec<(String, String)> {
    let dir = tempfile::tempdir().unwrap();
    let lua = dir.path().join("health.lua");
    std::fs::write(&lua, script(key)).unwrap();
    let mut child = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cli/gitops.py"))
        .arg(&lua)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs the Lua health checks (with lupa: pip install lupa)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::to_string(objects).unwrap().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "running the Lua of {key} failed (is lupa installed? pip install lupa): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    v.into_iter()
        .map(|h| {
            (
                h["status"].as_str().unwrap().to_string(),
                h["message"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn rollout(generation: i64, status: Value) -> Value {
    json!({"apiVersion": "rollgate.dev/v1alpha1", "kind": "Rollout",
           "metadata": {"name": "checkout", "namespace": "shop", "generation": generation},
           "spec": {"replicas": 4}, "status": status})
}

#[test]
fn rollout_health_follows_the_phase_and_the_observed_generation() {
    let with = |phase: &str, message: Option<&str>| {
        let mut st = json!({"phase": phase, "observedGeneration": 3});
        if let Some(m) = message {
            st["message"] = json!(m);
        }
        rollout(3, st)
    };
    let cases = [
        (
            with("Healthy", Some("revision abc serving")),
            "Healthy",
            "revision abc serving",
        ),
        (with("Pending", None), "Progressing", "Pending"),
        (
            with("Queued", Some("waiting for a canary slot")),
            "Progressing",
            "waiting for a canary slot",
        ),
        (
            with("Progressing", Some("stage 2/3 at 50%: baking, 28s left")),
            "Progressing",
            "stage 2/3 at 50%: baking, 28s left",
        ),
        (
            with("RollingBack", Some("rolling back")),
            "Progressing",
            "rolling back",
        ),
        (
            with("Paused", Some("frozen by alice: payments outage")),
            "Suspended",
            "frozen by alice: payments outage",
        ),
        (
            with("RolledBack", Some("gate error-ratio failed 2/2 times")),
            "Degraded",
            "gate error-ratio failed 2/2 times",
        ),
        (
            with("Invalid", Some("spec.stages: last stage must be 100")),
            "Degraded",
            "spec.stages: last stage must be 100",
        ),
        (with("Martian", None), "Unknown", "Martian"),
        // The controller has not seen the new spec: the phase is stale.
        (
            rollout(4, json!({"phase": "Healthy", "observedGeneration": 3})),
            "Progressing",
            "Waiting for the rollgate controller to observe generation 4",
        ),
        (
            rollout(1, json!({"phase": "Healthy"})),
            "Progressing",
            "Waiting for the rollgate controller to observe generation 1",
        ),
        (
            rollout(1, Value::Null),
            "Progressing",
            "Waiting for the rollgate controller",
        ),
        (
            rollout(1, json!({})),
            "Progressing",
            "Waiting for the rollgate controller",
        ),
    ];
    let objects: Vec<Value> = cases.iter().map(|c| c.0.clone()).collect();
    let got = health("rollgate.dev_Rollout", &objects);
    for ((obj, status, message), (s, m)) in cases.iter().zip(got) {
        assert_eq!(
            (s.as_str(), m.as_str()),
            (*status, *message),
            "for {}",
            obj["status"]
        );
    }
    // Every phase rollgate has is mapped (none falls through to Unknown).
    for phase in [
        "Pending",
        "Progressing",
        "Paused",
        "Queued",
        "RollingBack",
        "RolledBack",
        "Healthy",
        "Invalid",
    ] {
        let _: rollgate::api::Phase = serde_json::from_value(json!(phase)).expect("a real phase");
        let got = health("rollgate.dev_Rollout", &[with(phase, None)]);
        assert_ne!(got[0].0, "Unknown", "{phase}");
    }
}

fn incident(state: Option<&str>, extra_spec: Value, extra_status: Value) -> Value {
    let mut spec = json!({"title": "checkout: revision abc rolled back (gate error-ratio failed)"});
    spec.as_object_mut()
        .unwrap()
        .extend(extra_spec.as_object().cloned().unwrap_or_default());
    let mut v = json!({"apiVersion": "rollgate.dev/v1alpha1", "kind": "Incident", "metadata": {"name": "checkout-abc"}, "spec": spec});
    if let Some(s) = state {
        let mut st = json!({"state": s});
        st.as_object_mut()
            .unwrap()
            .extend(extra_status.as_object().cloned().unwrap_or_default());
        v["status"] = st;
    }
    v
}

#[test]
fn incident_health_is_red_until_service_is_restored_or_someone_owns_it() {
    let title = "checkout: revision abc rolled back (gate error-ratio failed)";
    let cases = [
        (
            incident(None, json!({}), json!({})),
            "Degraded",
            format!("Triggered: {title}"),
        ),
        (
            incident(Some("Triggered"), json!({}), json!({})),
            "Degraded",
            format!("Triggered: {title}"),
        ),
        (
            incident(Some("Mitigating"), json!({}), json!({})),
            "Degraded",
            format!("Mitigating: {title}"),
        ),
        (
            incident(
                Some("Escalated"),
                json!({}),
                json!({"stableHealthy": false}),
            ),
            "Degraded",
            format!("Escalated: {title}"),
        ),
        (
            incident(Some("Mitigated"), json!({}), json!({"stableHealthy": true})),
            "Healthy",
            format!("Mitigated: {title}"),
        ),
        (
            incident(
                Some("Acknowledged"),
                json!({"acknowledgedBy": "alice"}),
                json!({"stableHealthy": true}),
            ),
            "Suspended",
            format!("Acknowledged: {title} (acknowledged by alice)"),
        ),
        (
            incident(
                Some("Acknowledged"),
                json!({"acknowledgedBy": "alice"}),
                json!({"stableHealthy": false}),
            ),
            "Degraded",
            format!("Acknowledged: {title} (acknowledged by alice)"),
        ),
        (
            incident(
                Some("Resolved"),
                json!({"acknowledgedBy": "alice", "resolvedBy": "bob"}),
                json!({}),
            ),
            "Healthy",
            format!("Resolved: {title} (resolved by bob)"),
        ),
    ];
    let objects: Vec<Value> = cases.iter().map(|c| c.0.clone()).collect();
    let got = health("rollgate.dev_Incident", &objects);
    for ((obj, status, message), (s, m)) in cases.iter().zip(got) {
        assert_eq!(
            (s.as_str(), m.as_str()),
            (*status, message.as_str()),
            "for {}",
            obj["status"]
        );
    }
    // Every state rollgate has is mapped.
    for state in [
        "Triggered",
        "Mitigating",
        "Mitigated",
        "Escalated",
        "Acknowledged",
        "Resolved",
    ] {
        let _: rollgate::api::IncidentState =
            serde_json::from_value(json!(state)).expect("a real state");
        let got = health(
            "rollgate.dev_Incident",
            &[incident(Some(state), json!({}), json!({}))],
        );
        assert_ne!(got[0].0, "Unknown", "{state}");
    }
}

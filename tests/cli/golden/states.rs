//! Each state of a Rollout as the controller leaves it in status, at [`super::NOW`]. The
//! messages are the planner's wording (src/plan); the spec is the one the docs use.

use serde_json::{Value, json};

pub struct State {
    /// The golden directory.
    pub name: &'static str,
    pub rollout: Value,
    pub status: Value,
}

const STABLE: &str = "7f3c9a0d12";
const CANARY: &str = "91be02aa11";
const QUERY: &str = "sum(rate(http_requests_total{namespace=\"shop\",rollgate_track=\"canary\",code=~\"5..\"}[1m])) / sum(rate(http_requests_total{namespace=\"shop\",rollgate_track=\"canary\"}[1m]))";

/// checkout: 4 pods, 25% baking 1m, 50% with manual approval, 100% baking 2m; an absolute and
/// a comparison gate.
fn rollout() -> Value {
    json!({
        "apiVersion": "rollgate.dev/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "checkout"},
        "spec": {
            "targetRef": {"kind": "Deployment", "name": "checkout"},
            "replicas": 4,
            "stages": [{"weight": 25, "bake": "1m"}, {"weight": 50, "approval": "Manual"},
                       {"weight": 100, "bake": "2m"}],
            "gates": [
                {"name": "error-ratio", "query": QUERY, "max": 0.02, "interval": "10s"},
                {"name": "latency", "query": "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{rollgate_track=\"{{track}}\"}[2m])))",
                 "compare": {"against": "Stable", "maxIncrease": "20%"}, "failureLimit": 3,
                 "onNoData": "Hold", "interval": "10s"}
            ],
            "incident": {"severity": "sev2", "owner": "team-payments"}
        }
    })
}

fn history(entries: &[(&str, &str, &str, &str, &str)]) -> Value {
    entries
        .iter()
        .map(|(at, from, to, reason, message)| {
            json!({"at": format!("2026-01-01T{at}Z"), "from": from, "to": to,
                   "reason": reason, "message": message})
        })
        .collect()
}

/// The transitions every released revision went through.
fn released() -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
)> {
    vec![
        (
            "10:00:00",
            "Pending",
            "Healthy",
            "Adopted",
            "serving revision 7f3c9a0d12",
        ),
        (
            "11:58:00",
            "Healthy",
            "Progressing",
            "CanaryStarted",
            "revision 91be02aa11: new revision",
        ),
        (
            "11:58:00",
            "Progressing",
            "Progressing",
            "StageStarted",
            "stage 1/3: canary weight 25%",
        ),
    ]
}

fn pass(name: &str, revision: &str, value: f64, at: &str) -> Value {
    json!({"name": name, "revision": revision, "verdict": "Pass", "value": value,
           "threshold": "<= 0.02", "consecutiveFailures": 0, "consecutiveErrors": 0,
           "message": format!("{value} meets <= 0.02"),
           "evaluatedAt": format!("2026-01-01T{at}Z")})
}

fn latency_pass(at: &str) -> Value {
    json!({"name": "latency", "revision": CANARY, "verdict": "Pass", "value": 0.212,
           "stableValue": 0.205, "threshold": "<= stable + 20% (0.246)",
           "consecutiveFailures": 0, "consecutiveErrors": 0, "message": "0.212 meets <= stable + 20% (0.246)",
           "evaluatedAt": format!("2026-01-01T{at}Z")})
}

fn stage(index: i32, weight: i32, ready: Option<&str>, bake_until: Option<&str>) -> Value {
    let mut s = json!({"index": index, "weight": weight, "startedAt": "2026-01-01T11:58:00Z"});
    if let Some(r) = ready {
        s["readyAt"] = json!(format!("2026-01-01T{r}Z"));
    }
    if let Some(b) = bake_until {
        s["bakeUntil"] = json!(format!("2026-01-01T{b}Z"));
    }
    s
}

fn exposure(weight: i32, pods: i32) -> Value {
    json!({"weight": weight, "canaryPods": pods, "since": "2026-01-01T11:58:00Z"})
}

/// The failure that rolls the canary back in the rollback states.
fn rollback_record() -> Value {
    json!({"revision": CANARY, "reason": "GateFailed",
           "message": format!("gate error-ratio failed 2/2 times: value 0.245078, threshold <= 0.02, query {QUERY}"),
           "at": "2026-01-01T11:59:00Z", "stageIndex": 0, "weight": 25,
           "gates": [{"name": "error-ratio", "revision": CANARY, "verdict": "Fail", "value": 0.24507761719800022,
                      "threshold": "<= 0.02", "query": QUERY, "consecutiveFailures": 2, "consecutiveErrors": 0,
                      "message": "0.245078 breaks <= 0.02", "evaluatedAt": "2026-01-01T11:59:00Z"}]})
}

fn rolled_back(healthy: Option<bool>, verification: Value, gate: Value) -> Value {
    let mut h = released();
    h.push(("11:59:00", "Progressing", "RollingBack", "GateFailed",
            "rolling back revision 91be02aa11: gate error-ratio failed 2/2 times: value 0.245078, threshold <= 0.02"));
    let mut status = json!({
        "phase": "RollingBack",
        "message": format!("rolling back revision {CANARY}: gate error-ratio failed 2/2 times: value 0.245078, threshold <= 0.02, query {QUERY}"),
        "stableRevision": STABLE, "canaryRevision": CANARY,
        "exposure": exposure(0, 1),
        "rollback": rollback_record(),
        "verification": verification,
        "gates": [gate, latency_pass("11:58:58")],
        "incidentRef": {"name": "checkout-91be02aa11"},
        "history": history(&h),
    });
    if healthy.is_some() {
        h.push(("11:59:04", "RollingBack", "RolledBack", "GateFailed",
                "revision 91be02aa11 rolled back: gate error-ratio failed 2/2 times: value 0.245078, threshold <= 0.02"));
        status["phase"] = json!("RolledBack");
        status["message"] = json!(format!(
            "revision {CANARY} rolled back: gate error-ratio failed 2/2 times: value 0.245078, threshold <= 0.02, query {QUERY}"
        ));
        status["history"] = history(&h);
    }
    status
}

pub fn all() -> Vec<State> {
    let state = |name, status| State {
        name,
        rollout: rollout(),
        status,
    };
    let baking = |phase: &str, message: &str| {
        let mut h = released();
        if phase == "Paused" {
            h.push(("11:59:50", "Progressing", "Paused", "Paused", message));
        }
        json!({
            "phase": phase, "message": message,
            "stableRevision": STABLE, "canaryRevision": CANARY,
            "stage": stage(0, 25, Some("11:59:20"), Some("12:00:20")),
            "exposure": exposure(25, 1),
            "gates": [pass("error-ratio", CANARY, 0.004, "11:59:55"), latency_pass("11:59:55")],
            "history": history(&h),
        })
    };
    let freeze =
        json!({"name": "rollgate-freeze-shop", "by": "alice", "reason": "payments outage"});
    vec![
        state(
            "pending",
            json!({
                "phase": "Pending",
                "message": "waiting for stable pods before handing over: 2/4 ready",
            }),
        ),
        state(
            "queued",
            json!({
                "phase": "Queued",
                "message": format!("revision {CANARY} waits for a canary slot (queued since 2026-01-01T11:58:00Z)"),
                "stableRevision": STABLE, "queuedSince": "2026-01-01T11:58:00Z",
                "history": history(&[
                    ("10:00:00", "Pending", "Healthy", "Adopted", "serving revision 7f3c9a0d12"),
                    ("11:58:00", "Healthy", "Queued", "Queued", "revision 91be02aa11 waits for a canary slot (queued since 2026-01-01T11:58:00Z)"),
                ]),
            }),
        ),
        state(
            "preflight",
            json!({
                "phase": "Progressing",
                "message": format!("revision {CANARY} waits before exposure: gates error-ratio return no data against the stable revision (no canary pod until they do; deadline 2026-01-01T12:13:00Z)"),
                "stableRevision": STABLE, "canaryRevision": CANARY,
                "preflight": {"revision": CANARY, "at": "2026-01-01T11:59:55Z", "noData": ["error-ratio"],
                              "waitingSince": "2026-01-01T11:58:00Z"},
                "history": history(&released()[..2]),
            }),
        ),
        state(
            "pods",
            json!({
                "phase": "Progressing",
                "message": "stage 1/3 at 25%: waiting for canary pods: 0/1 ready",
                "stableRevision": STABLE, "canaryRevision": CANARY,
                "stage": stage(0, 25, None, None),
                "exposure": exposure(25, 0),
                "history": history(&released()),
            }),
        ),
        state(
            "baking",
            baking(
                "Progressing",
                "stage 1/3 at 25%: baking until 2026-01-01T12:00:20Z",
            ),
        ),
        state(
            "gates",
            json!({
                "phase": "Progressing",
                "message": "stage 1/3 at 25%: waiting for every gate to pass: error-ratio failing 1/2 (0.031 against <= 0.02); latency has no data, held (onNoData: Hold)",
                "stableRevision": STABLE, "canaryRevision": CANARY,
                "stage": stage(0, 25, Some("11:58:20"), Some("11:59:20")),
                "exposure": exposure(25, 1),
                "gates": [
                    {"name": "error-ratio", "revision": CANARY, "verdict": "Fail", "value": 0.031, "threshold": "<= 0.02",
                     "consecutiveFailures": 1, "consecutiveErrors": 0, "message": "0.031 breaks <= 0.02",
                     "evaluatedAt": "2026-01-01T11:59:55Z"},
                    {"name": "latency", "revision": CANARY, "verdict": "NoData", "consecutiveFailures": 0,
                     "consecutiveErrors": 0, "message": "canary query returned no data",
                     "evaluatedAt": "2026-01-01T11:59:55Z"}
                ],
                "history": history(&released()),
            }),
        ),
        state(
            "approval",
            json!({
                "phase": "Progressing",
                "message": "stage 2/3 at 50%: waiting for manual approval (rollgate promote)",
                "stableRevision": STABLE, "canaryRevision": CANARY,
                "stage": {"index": 1, "weight": 50, "startedAt": "2026-01-01T11:59:20Z",
                          "readyAt": "2026-01-01T11:59:30Z", "bakeUntil": "2026-01-01T11:59:30Z"},
                "exposure": exposure(50, 2),
                "gates": [pass("error-ratio", CANARY, 0.004, "11:59:55"), latency_pass("11:59:55")],
                "history": history(&{
                    let mut h = released();
                    h.push(("11:59:20", "Progressing", "Progressing", "StageStarted", "stage 2/3: canary weight 50%"));
                    h
                }),
            }),
        ),
        state("paused", {
            let mut s = baking(
                "Paused",
                "stage 1/3 at 25%: paused by request (`rollgate resume` lifts it)",
            );
            s["pausedByRequest"] = json!(true);
            s
        }),
        state("frozen", {
            let mut s = baking(
                "Paused",
                "stage 1/3 at 25%: frozen by alice (Freeze rollgate-freeze-shop): payments outage",
            );
            s["frozen"] = freeze.clone();
            s
        }),
        state(
            "frozen-idle",
            json!({
                "phase": "Healthy",
                "message": format!("revision {STABLE} serves"),
                "stableRevision": STABLE, "canaryRevision": STABLE,
                "frozen": freeze,
                "history": history(&released()[..1]),
            }),
        ),
        state(
            "rollingback",
            rolled_back(
                None,
                json!({"revision": STABLE, "until": "2026-01-01T12:01:00Z"}),
                rollback_record()["gates"][0].clone(),
            ),
        ),
        state(
            "rolledback",
            rolled_back(
                Some(true),
                json!({"revision": STABLE, "until": "2026-01-01T12:01:00Z", "stableHealthy": true,
                   "message": "stable revision 7f3c9a0d12 passes every gate"}),
                pass("error-ratio", STABLE, 0.0011, "11:59:54"),
            ),
        ),
        state(
            "escalated",
            rolled_back(
                Some(false),
                json!({"revision": STABLE, "until": "2026-01-01T12:01:00Z", "stableHealthy": false,
                   "message": format!("stable revision {STABLE} is unhealthy too: gate error-ratio failed 2/2 times: value 0.083, threshold <= 0.02, query {QUERY}")}),
                json!({"name": "error-ratio", "revision": STABLE, "verdict": "Fail", "value": 0.083,
                   "threshold": "<= 0.02", "consecutiveFailures": 5, "consecutiveErrors": 0,
                   "message": "0.083 breaks <= 0.02", "evaluatedAt": "2026-01-01T11:59:54Z"}),
            ),
        ),
        state(
            "healthy",
            json!({
                "phase": "Healthy",
                "message": format!("revision {CANARY} promoted and serving"),
                "stableRevision": CANARY, "canaryRevision": CANARY,
                "gates": [pass("error-ratio", CANARY, 0.004, "11:59:40"), latency_pass("11:59:40")],
                "history": history(&{
                    let mut h = released();
                    h.push(("11:59:20", "Progressing", "Progressing", "StageStarted", "stage 2/3: canary weight 50%"));
                    h.push(("11:59:30", "Progressing", "Progressing", "StageStarted", "stage 3/3: canary weight 100%"));
                    h.push(("11:59:40", "Progressing", "Healthy", "Promoted", "revision 91be02aa11 promoted and serving"));
                    h
                }),
            }),
        ),
        state(
            "invalid",
            json!({
                "phase": "Invalid",
                "message": "spec.targetRef.name: Deployment \"checkout\" not found in namespace \"shop\"",
                "history": history(&[("11:58:00", "Pending", "Invalid", "InvalidSpec",
                    "spec.targetRef.name: Deployment \"checkout\" not found in namespace \"shop\"")]),
            }),
        ),
    ]
}

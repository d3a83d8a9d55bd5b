//! The objects tests start from, as the API server takes them.

use serde_json::{Value, json};

/// The error-ratio gate used across tests: canary 5xx share over the last 5 s.
pub fn error_ratio_gate(max: f64) -> Value {
    json!({
        "name": "error-ratio",
        "query": "sum(rate(http_requests_total{namespace=\"{{namespace}}\",rollgate_track=\"{{track}}\",code=~\"5..\"}[5s])) / sum(rate(http_requests_total{namespace=\"{{namespace}}\",rollgate_track=\"{{track}}\"}[5s]))",
        "max": max,
        "interval": "1s",
        "failureLimit": 2
    })
}

/// A sequential gate on the test exporter's error and request counters of this Rollout's
/// tracks: false-alarm rate `alpha` per stage, no tolerance, judged every 2 s, failing at the
/// first verdict (the test is the limit), and letting a stage go on when its bake is over
/// with no regression found.
pub fn sequential_gate(alpha: f64) -> Value {
    let selector = |extra: &str| {
        format!(
            "http_requests_total{{namespace=\"{{{{namespace}}}}\",rollout=\"{{{{rollout}}}}\",rollgate_track=\"{{{{track}}}}\"{extra}}}"
        )
    };
    json!({
        "name": "errors-vs-stable",
        "sequential": {
            "errors": selector(",code=\"500\""),
            "requests": selector(""),
            "alpha": alpha,
            "onInconclusive": "Pass"
        },
        "interval": "2s",
        "failureLimit": 1
    })
}

/// A Rollout of `target` with the given stages (weight, bake) and gates.
pub fn rollout(
    name: &str,
    target: &str,
    replicas: i32,
    stages: &[(i32, &str)],
    gates: Vec<Value>,
) -> Value {
    let stages: Vec<Value> = stages
        .iter()
        .map(|(w, b)| json!({"weight": w, "bake": b}))
        .collect();
    json!({
        "apiVersion": "rollgate.dev/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "targetRef": {"kind": "Deployment", "name": target},
            "replicas": replicas,
            "stages": stages,
            "gates": gates,
            "progressDeadline": "60s",
            "verifyAfterRollback": "5s"
        }
    })
}

/// A Deployment `name` of `replicas` KWOK pods labelled `app=<name>`, running `image`.
pub fn deployment(name: &str, replicas: i32, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [{"name": "app", "image": image}],
                    "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}]
                }
            }
        }
    })
}

/// The gauge a continuous-metric test sets per track of a Rollout: `e2e_latency_seconds`
/// with the Rollout and track as labels.
pub const LATENCY_GAUGE: &str = "e2e_latency_seconds";

/// The query of [`LATENCY_GAUGE`] for one track, as a gate template.
pub fn latency_query() -> String {
    format!(
        "max({LATENCY_GAUGE}{{namespace=\"{{{{namespace}}}}\",rollout=\"{{{{rollout}}}}\",rollgate_track=\"{{{{track}}}}\"}})"
    )
}

/// An mSPRT gate on [`latency_query`]: slower is worse, no tolerance, false-alarm rate `alpha`
/// per stage, judged every second and failing at the first verdict.
pub fn msprt_gate(alpha: f64) -> Value {
    json!({
        "name": "latency",
        "query": latency_query(),
        "msprt": {"direction": "Increase", "alpha": alpha},
        "interval": "1s",
        "failureLimit": 1
    })
}

/// A Kayenta gate of one critical latency metric ([`latency_query`]), one point a second,
/// marginal 75 and pass 95, at the default `minPoints` (10).
pub fn kayenta_gate() -> Value {
    json!({
        "name": "canary-config",
        "kayenta": {
            "metrics": [{
                "name": "latency",
                "query": latency_query(),
                "direction": "Increase",
                "critical": true
            }],
            "scoreThresholds": {"marginal": 75, "pass": 95}
        },
        "interval": "1s",
        "failureLimit": 1
    })
}

//! Lint of the statistical, alert and dry-run gate kinds.

use super::*;

/// The latency gate of the base replaced by `gate` (its YAML lines, indented as a list item).
fn with_gate(gate: &str) -> Vec<String> {
    lint_with(
        "    - name: latency\n      query: histogram_quantile(0.99, sum by (le) (rate(latency_bucket{rollgate_track=\"{{track}}\"}[2m])))\n      compare: {against: Stable, maxIncrease: \"20%\"}\n",
        gate,
    )
}

const SEQUENTIAL: &str = r#"    - name: errors-vs-stable
      sequential:
        errors: http_requests_total{namespace="{{namespace}}",rollgate_track="{{track}}",code=~"5.."}
        requests: http_requests_total{namespace="{{namespace}}",rollgate_track="{{track}}"}
        alpha: 0.001
        tolerance: 20%
"#;

#[test]
fn sequential_alert_and_dry_run_gates_pass_lint() {
    assert_eq!(with_gate(SEQUENTIAL), Vec::<String>::new());
    let alert = "    - name: alerts\n      alert:\n        labels: {alertname: HighErrorRate, namespace: \"{{namespace}}\"}\n      dryRun: true\n";
    assert_eq!(with_gate(alert), Vec::<String>::new());
}

#[test]
fn sequential_fields_are_validated() {
    assert_eq!(
        with_gate(&SEQUENTIAL.replace("alpha: 0.001", "alpha: 0.5")),
        ["r.yaml:22 spec.gates[1].sequential.alpha: alpha must be in (0, 0.1]"]
    );
    assert_eq!(
        with_gate(&SEQUENTIAL.replace("tolerance: 20%", "tolerance: \"0.2\"")),
        [
            r#"r.yaml:23 spec.gates[1].sequential.tolerance: "0.2" does not match ^[0-9]+(\.[0-9]+)?%$"#
        ]
    );
    assert_eq!(
        with_gate(&SEQUENTIAL.replace(
            "requests: http_requests_total",
            "requests: up or http_requests_total"
        )),
        [
            "r.yaml:21 spec.gates[1].sequential.requests: the query is not valid PromQL: must be a series selector, like http_requests_total{code=~\"5..\"}, without functions or operators"
        ]
    );
    assert_eq!(
        with_gate(&SEQUENTIAL.replace(",rollgate_track=\"{{track}}\",code", ",code")),
        [
            "r.yaml:20 spec.gates[1].sequential.errors: a sequential gate counts each track apart: select it with rollgate_track=\"{{track}}\" (or the label your tracks carry), otherwise canary and stable count the same requests and a regression can never show"
        ]
    );
    assert_eq!(
        with_gate(&format!("{SEQUENTIAL}      max: 0.1\n")),
        [
            "r.yaml:24 spec.gates[1].max: a sequential, alert or kayenta gate has no query, min, max or compare; every other gate needs a query",
            "r.yaml:19 spec.gates[1].sequential: a gate is one kind: min/max/compare, sequential, alert, msprt or kayenta",
        ]
    );
}

const MSPRT: &str = r#"    - name: p99-latency
      query: histogram_quantile(0.99, sum by (le) (rate(latency_bucket{rollgate_track="{{track}}"}[1m])))
      interval: 10s
      msprt: {direction: Increase, tolerance: 10%, alpha: 0.001, burnIn: 5, onInconclusive: Pass}
"#;

const KAYENTA: &str = r#"    - name: canary-config
      interval: 5s
      kayenta:
        metrics:
          - name: latency
            query: histogram_quantile(0.99, sum by (le) (rate(latency_bucket{rollgate_track="{{track}}"}[1m])))
            direction: Increase
            critical: true
            effectSize: {meanRatio: {allowedIncrease: 1.1, criticalIncrease: 1.5}}
          - name: errors
            query: sum(rate(http_requests_total{rollgate_track="{{track}}",code=~"5.."}[1m]))
            group: errors
            nanStrategy: Replace
        groupWeights: {errors: 40}
        scoreThresholds: {marginal: 75, pass: 95}
"#;

/// BASE with its last stage baked long enough for a Kayenta gate at a 5 s interval.
fn with_baked_gate(gate: &str) -> Vec<String> {
    let text = BASE
        .replacen("    - {weight: 100}
", "    - {weight: 100, bake: 2m}
", 1)
        .replacen(
            "    - name: latency
      query: histogram_quantile(0.99, sum by (le) (rate(latency_bucket{rollgate_track=\"{{track}}\"}[2m])))
      compare: {against: Stable, maxIncrease: \"20%\"}
",
            gate,
            1,
        );
    lint_text("r.yaml", &text)
        .into_iter()
        .map(|p| p.to_string())
        .collect()
}

#[test]
fn msprt_and_kayenta_gates_pass_lint() {
    assert_eq!(with_gate(MSPRT), Vec::<String>::new());
    assert_eq!(with_baked_gate(KAYENTA), Vec::<String>::new());
}

#[test]
fn msprt_and_kayenta_queries_must_tell_the_tracks_apart() {
    assert_eq!(
        with_gate(&MSPRT.replace("{rollgate_track=\"{{track}}\"}", "")),
        [
            "r.yaml:19 spec.gates[1].query: an msprt gate must select its track, e.g. rollgate_track=\"{{track}}\" or revision=\"{{revision}}\": otherwise canary and stable read the same series and it always passes"
        ]
    );
    assert_eq!(
        with_baked_gate(&KAYENTA.replace("rollgate_track=\"{{track}}\",code", "code")),
        [
            "r.yaml:28 spec.gates[1].kayenta.metrics[1].query: a Kayenta metric must select its track, e.g. rollgate_track=\"{{track}}\": otherwise canary and stable read the same series and it always passes"
        ]
    );
}

#[test]
fn msprt_fields_are_validated() {
    assert_eq!(
        with_gate(&MSPRT.replace("alpha: 0.001", "alpha: 0.5")),
        ["r.yaml:21 spec.gates[1].msprt.alpha: alpha must be in (0, 0.1]"]
    );
    assert_eq!(
        with_gate(&MSPRT.replace("direction: Increase", "direction: Up")),
        [
            r#"r.yaml:21 spec.gates[1].msprt.direction: "Up" is not one of Increase, Decrease, Either"#
        ]
    );
    assert_eq!(
        with_gate(&format!("{MSPRT}      max: 1\n")),
        [
            "r.yaml:21 spec.gates[1].msprt: a gate is one kind: min/max/compare, sequential, alert, msprt or kayenta"
        ]
    );
}

#[test]
fn kayenta_fields_are_validated() {
    // The full stage bakes no time at all, but no comparison judges it: stable serves nothing.
    assert_eq!(with_gate(KAYENTA), Vec::<String>::new());
    // The first stage's 40 s at 5 s are 8 points, fewer than the U test needs.
    let text = BASE.replacen("{weight: 25, bake: 1m}", "{weight: 25, bake: 40s}", 1);
    let problems: Vec<String> = lint_text("r.yaml", &text.replacen(
        "    - name: latency\n      query: histogram_quantile(0.99, sum by (le) (rate(latency_bucket{rollgate_track=\"{{track}}\"}[2m])))\n      compare: {against: Stable, maxIncrease: \"20%\"}\n",
        KAYENTA,
        1,
    ))
    .into_iter()
    .map(|p| p.to_string())
    .collect();
    assert_eq!(
        problems,
        [
            "r.yaml:9 spec.stages[0].bake: a bake of 40s gathers 8 points at the interval 5s of the kayenta gate spec.gates[1], which needs 10 (spec.gates[1].kayenta.minPoints): bake at least 50s"
        ]
    );
    assert_eq!(
        with_baked_gate(&KAYENTA.replace("marginal: 75", "marginal: 96")),
        ["r.yaml:32 spec.gates[1].kayenta.scoreThresholds.marginal: marginal must not exceed pass"]
    );
    assert_eq!(
        with_baked_gate(&KAYENTA.replace("{meanRatio: {", "{cles: {}, meanRatio: {")),
        [
            "r.yaml:26 spec.gates[1].kayenta.metrics[0].effectSize: an effect size is meanRatio or cles"
        ]
    );
    assert_eq!(
        with_baked_gate(&KAYENTA.replace("groupWeights: {errors: 40}", "groupWeights: {eror: 40}")),
        [r#"r.yaml:31 spec.gates[1].kayenta.groupWeights.eror: no metric is in group "eror""#]
    );
    assert_eq!(
        with_baked_gate(&KAYENTA.replace("          - name: errors", "          - name: latency")),
        ["r.yaml:27 spec.gates[1].kayenta.metrics[1].name: metric names must be unique"]
    );
}

#[test]
fn alert_labels_are_validated() {
    assert_eq!(
        with_gate("    - name: alerts\n      alert:\n        labels: {1bad: x}\n"),
        [
            r#"r.yaml:20 spec.gates[1].alert.labels: "1bad" is not a label name (letters, digits and underscores, not starting with a digit)"#
        ]
    );
    assert_eq!(
        with_gate("    - name: alerts\n      alert:\n        labels: {}\n"),
        ["r.yaml:20 spec.gates[1].alert.labels: an alert gate matches 1 to 20 labels"]
    );
}

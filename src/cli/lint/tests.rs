//! Malformed manifests and exactly what lint says about each.

use super::lint_text;

mod gate_kinds;

/// A valid Rollout; each case below breaks one thing in it. Line numbers are the base's.
const BASE: &str = r#"apiVersion: rollgate.dev/v1alpha1
kind: Rollout
metadata:
  name: checkout
spec:
  targetRef: {kind: Deployment, name: checkout}
  replicas: 4
  stages:
    - {weight: 25, bake: 1m}
    - {weight: 50, bake: 2m}
    - {weight: 100}
  gates:
    - name: error-ratio
      query: sum(rate(http_requests_total{namespace="{{namespace}}",rollgate_track="{{track}}",code=~"5.."}[1m]))
      max: 0.01
      failureLimit: 2
      onNoData: Fail
    - name: latency
      query: histogram_quantile(0.99, sum by (le) (rate(latency_bucket{rollgate_track="{{track}}"}[2m])))
      compare: {against: Stable, maxIncrease: "20%"}
"#;

const QUERY: &str = r#"query: sum(rate(http_requests_total{namespace="{{namespace}}",rollgate_track="{{track}}",code=~"5.."}[1m]))"#;

/// The lint output of BASE with `from` replaced by `to` (once).
fn lint_with(from: &str, to: &str) -> Vec<String> {
    assert!(BASE.contains(from), "{from:?} is not in the base manifest");
    let text = BASE.replacen(from, to, 1);
    lint_text("r.yaml", &text)
        .into_iter()
        .map(|p| p.to_string())
        .collect()
}

#[track_caller]
fn expect(from: &str, to: &str, want: &[&str]) {
    assert_eq!(
        lint_with(from, to),
        want,
        "after replacing {from:?} by {to:?}"
    );
}

#[test]
fn the_base_manifest_and_other_kinds_have_no_problems() {
    assert_eq!(lint_text("r.yaml", BASE), []);
    let mixed = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: x}}\nspec: {{replicas: ten}}\n---\n{BASE}---\n"
    );
    assert_eq!(lint_text("r.yaml", &mixed), []);
}

#[test]
fn a_string_where_an_integer_belongs() {
    expect(
        "replicas: 4",
        "replicas: ten",
        &[r#"r.yaml:7 spec.replicas: must be of type integer, got string "ten""#],
    );
    expect(
        "replicas: 4",
        "replicas: \"4\"",
        &[r#"r.yaml:7 spec.replicas: must be of type integer, got string "4""#],
    );
}

#[test]
fn a_missing_target() {
    expect(
        "  targetRef: {kind: Deployment, name: checkout}\n",
        "",
        &["r.yaml:5 spec.targetRef: is required"],
    );
}

#[test]
fn a_target_that_is_not_a_deployment() {
    expect(
        "kind: Deployment, name",
        "kind: StatefulSet, name",
        &["r.yaml:6 spec.targetRef.kind: only kind Deployment is supported"],
    );
}

#[test]
fn a_header_stage_without_a_router_names_the_header() {
    expect(
        "{weight: 25, bake: 1m}",
        "{weight: 0, header: {name: x-canary, value: always}, bake: 1m}",
        &[
            "r.yaml:9 spec.stages[0].header: a header stage needs spec.traffic (a router that matches headers)",
        ],
    );
}

#[test]
fn weights_outside_1_to_100() {
    // 0 is a weight only for a header stage (which needs spec.traffic).
    expect(
        "{weight: 25, bake: 1m}",
        "{weight: 0, bake: 1m}",
        &["r.yaml:9 spec.stages[0].weight: weight 0 is only for a header stage"],
    );
    expect(
        "{weight: 25, bake: 1m}",
        "{weight: -1, bake: 1m}",
        &["r.yaml:9 spec.stages[0].weight: must be at least 0, got -1"],
    );
    expect(
        "{weight: 100}",
        "{weight: 101}",
        &["r.yaml:11 spec.stages[2].weight: must be at most 100, got 101"],
    );
}

#[test]
fn decreasing_weights() {
    expect(
        "{weight: 50, bake: 2m}",
        "{weight: 20, bake: 2m}",
        &["r.yaml:10 spec.stages[1].weight: stage weights must not decrease"],
    );
}

#[test]
fn a_last_stage_that_is_not_100() {
    expect(
        "{weight: 100}",
        "{weight: 90}",
        &["r.yaml:11 spec.stages[2].weight: the last stage must have weight 100 (promotion)"],
    );
}

#[test]
fn no_stages() {
    expect(
        "  stages:\n    - {weight: 25, bake: 1m}\n    - {weight: 50, bake: 2m}\n    - {weight: 100}\n",
        "  stages: []\n",
        &["r.yaml:8 spec.stages: must have at least 1 item"],
    );
}

#[test]
fn a_bad_duration() {
    expect(
        "bake: 2m}",
        "bake: 2 minutes}",
        &[r#"r.yaml:10 spec.stages[1].bake: "2 minutes" is not a duration like 30s, 5m or 1h30m"#],
    );
    expect(
        "  replicas: 4\n",
        "  replicas: 4\n  progressDeadline: 1d\n",
        &[r#"r.yaml:8 spec.progressDeadline: "1d" is not a duration like 30s, 5m or 1h30m"#],
    );
}

#[test]
fn an_interval_below_the_floor() {
    expect(
        "failureLimit: 2",
        "failureLimit: 2\n      interval: 100ms",
        &["r.yaml:17 spec.gates[0].interval: must be at least 500ms"],
    );
}

#[test]
fn a_failure_limit_of_zero() {
    expect(
        "failureLimit: 2",
        "failureLimit: 0",
        &["r.yaml:16 spec.gates[0].failureLimit: must be at least 1, got 0"],
    );
}

#[test]
fn a_gate_without_bounds() {
    expect(
        "      max: 0.01\n",
        "",
        &[
            "r.yaml:13 spec.gates[0]: a gate needs min, max, compare, sequential, alert, msprt or kayenta",
        ],
    );
}

#[test]
fn min_above_max() {
    expect(
        "max: 0.01",
        "max: 0.01\n      min: 0.5",
        &["r.yaml:16 spec.gates[0].min: min must not exceed max"],
    );
}

#[test]
fn duplicate_gate_names() {
    expect(
        "name: latency",
        "name: error-ratio",
        &["r.yaml:18 spec.gates[1].name: gate names must be unique"],
    );
}

#[test]
fn a_gate_name_that_is_not_a_dns_label() {
    expect(
        "name: latency",
        "name: Latency_p99",
        &[
            r#"r.yaml:18 spec.gates[1].name: "Latency_p99" must consist of lower case letters, digits and '-', and start and end with a letter or digit"#,
        ],
    );
}

#[test]
fn a_placeholder_outside_quotes() {
    expect(
        QUERY,
        "query: sum(rate(http_requests_total{namespace={{namespace}}}[1m]))",
        &[
            r#"r.yaml:14 spec.gates[0].query: placeholder {{namespace}} must sit inside a double-quoted label value, like {namespace="{{namespace}}"}, but it is outside any string"#,
        ],
    );
}

#[test]
fn an_unknown_placeholder() {
    expect(
        QUERY,
        r#"query: sum(rate(http_requests_total{namespace="{{ns}}"}[1m]))"#,
        &[
            "r.yaml:14 spec.gates[0].query: unknown placeholder {{ns}}; known are {{namespace}}, {{rollout}}, {{target}}, {{track}}, {{revision}}, {{stableRevision}}, {{canaryRevision}}",
        ],
    );
}

#[test]
fn a_bad_max_increase() {
    expect(
        r#"maxIncrease: "20%""#,
        "maxIncrease: twenty",
        &[
            r#"r.yaml:20 spec.gates[1].compare.maxIncrease: "twenty" is neither a percentage like 20% nor a number like 0.01"#,
        ],
    );
}

#[test]
fn a_compare_gate_that_cannot_tell_the_tracks_apart() {
    expect(
        r#"rollgate_track="{{track}}"}[2m]"#,
        r#"job="web"}[2m]"#,
        &[
            r#"r.yaml:19 spec.gates[1].query: a compare gate must select its track, e.g. rollgate_track="{{track}}" or revision="{{revision}}": otherwise canary and stable read the same series and it always passes"#,
        ],
    );
}

#[test]
fn an_unknown_field_suggests_the_known_one() {
    expect(
        "failureLimit: 2",
        "failurLimit: 2",
        &[
            r#"r.yaml:16 spec.gates[0].failurLimit: unknown field "failurLimit" (did you mean "failureLimit"?)"#,
        ],
    );
    expect(
        "  replicas: 4\n",
        "  replicas: 4\n  canary: true\n",
        &[
            r#"r.yaml:8 spec.canary: unknown field "canary" (known: gates, incident, paused, progressDeadline, prometheus, replicas, stages, targetRef, traffic, verifyAfterRollback)"#,
        ],
    );
}

#[test]
fn a_bad_on_no_data() {
    expect(
        "onNoData: Fail",
        "onNoData: fail",
        &[
            r#"r.yaml:17 spec.gates[0].onNoData: "fail" is not one of Fail, Hold, Pass (did you mean "Fail"?)"#,
        ],
    );
}

#[test]
fn a_prometheus_address_without_scheme() {
    expect(
        "  replicas: 4\n",
        "  replicas: 4\n  prometheus: {address: prometheus:9090}\n",
        &[
            r#"r.yaml:8 spec.prometheus.address: "prometheus:9090" must start with http:// or https://"#,
        ],
    );
}

#[test]
fn every_problem_of_a_document_is_reported() {
    let problems = lint_with("replicas: 4", "replicas: 0")
        .into_iter()
        .chain(lint_with("max: 0.01", "max: lots"));
    assert_eq!(
        problems.collect::<Vec<_>>(),
        [
            "r.yaml:7 spec.replicas: must be at least 1, got 0",
            r#"r.yaml:15 spec.gates[0].max: must be of type number, got string "lots""#,
        ]
    );
}

#[test]
fn a_missing_name_and_an_unserved_version() {
    expect(
        "metadata:\n  name: checkout\n",
        "metadata: {}\n",
        &["r.yaml:3 metadata.name: is required"],
    );
    expect(
        "rollgate.dev/v1alpha1",
        "rollgate.dev/v1",
        &["r.yaml:1 apiVersion: rollgate.dev/v1 is not served; use rollgate.dev/v1alpha1"],
    );
}

#[test]
fn a_yaml_syntax_error_names_its_line() {
    expect(
        "  replicas: 4\n",
        "  replicas: 4\n   bad indent: [\n",
        &["r.yaml:8 (yaml): mapping values are not allowed in this context"],
    );
}

#[test]
fn documents_of_a_multi_document_file_keep_their_lines() {
    let text = format!(
        "{BASE}---\n{}",
        BASE.replacen("replicas: 4", "replicas: -1", 1)
    );
    let problems: Vec<String> = lint_text("r.yaml", &text)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        problems,
        ["r.yaml:28 spec.replicas: must be at least 1, got -1"]
    );
}

#[test]
fn incident_channels_are_checked_too() {
    let slack = "apiVersion: rollgate.dev/v1alpha1\nkind: IncidentChannel\nmetadata: {name: s}\nspec:\n  type: slack\n";
    let problems: Vec<String> = lint_text("c.yaml", slack)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        problems,
        ["c.yaml:4 spec.secretRef: this channel type needs secretRef with its credentials"]
    );
}

#[test]
fn lint_rejects_a_query_with_unbalanced_braces() {
    let unclosed = QUERY.replacen(r#""5.."}[1m]"#, r#""5.."[1m]"#, 1);
    expect(
        QUERY,
        &unclosed,
        &[
            "r.yaml:14 spec.gates[0].query: the query is not valid PromQL: unexpected character inside braces: '['",
        ],
    );
    expect(
        QUERY,
        &format!("{QUERY}}}"),
        &[
            "r.yaml:14 spec.gates[0].query: the query is not valid PromQL: unexpected right brace '}'",
        ],
    );
}

#[test]
fn lint_rejects_names_that_kubernetes_would_not_accept() {
    let subdomain = "is not a valid name: at most 253 lower case letters, digits, '-' and '.', each part between dots starting and ending with a letter or digit";
    expect(
        "name: checkout}",
        "name: Checkout_v2}",
        &[&format!(
            r#"r.yaml:6 spec.targetRef.name: "Checkout_v2" {subdomain}"#
        )],
    );
    expect(
        "  name: checkout\n",
        "  name: checkout.\n",
        &[&format!(
            r#"r.yaml:4 metadata.name: "checkout." {subdomain}"#
        )],
    );
    expect(
        "  name: checkout\n",
        "  name: checkout\n  namespace: Shop\n",
        &[
            r#"r.yaml:5 metadata.namespace: "Shop" is not a valid name: at most 63 lower case letters, digits and '-', starting and ending with a letter or digit"#,
        ],
    );
    expect(
        "  replicas: 4\n",
        "  replicas: 4\n  incident: {channels: [slack, ops/pager, Ops/pager]}\n",
        &[
            r#"r.yaml:8 spec.incident.channels[2]: must be an IncidentChannel's name or namespace/name: "Ops" is not a valid name: at most 63 lower case letters, digits and '-', starting and ending with a letter or digit"#,
        ],
    );
    expect(
        "  replicas: 4\n",
        "  replicas: 4\n  incident: {channels: [ops/pager/x]}\n",
        &[&format!(
            r#"r.yaml:8 spec.incident.channels[0]: must be an IncidentChannel's name or namespace/name: "pager/x" {subdomain}"#
        )],
    );
    let long = "a".repeat(247);
    expect(
        "name: checkout}",
        &format!("name: {long}}}"),
        &[&format!(
            "r.yaml:6 spec.targetRef.name: must be at most 246 characters long, so that its tracks {long}-stable and {long}-canary are valid names too"
        )],
    );
}

#[test]
fn lint_says_a_nan_or_infinite_bound_must_be_finite() {
    expect(
        "max: 0.01",
        "max: .nan",
        &[
            "r.yaml:15 spec.gates[0].max: min, max and maxIncrease must be finite numbers, got NaN (.nan)",
        ],
    );
    expect(
        "max: 0.01",
        "max: 0.01\n      min: -.inf",
        &[
            "r.yaml:16 spec.gates[0].min: min, max and maxIncrease must be finite numbers, got -Infinity (-.inf)",
        ],
    );
    expect(
        "replicas: 4",
        "replicas: .inf",
        &[
            "r.yaml:7 spec.replicas: must be a finite number, got Infinity (.inf): JSON, and so the API server, has no NaN or Infinity",
        ],
    );
    // A quoted ".nan" is a string, as YAML reads it.
    expect(
        "max: 0.01",
        "max: \".nan\"",
        &[r#"r.yaml:15 spec.gates[0].max: must be of type number, got string ".nan""#],
    );
    let nines = "9".repeat(400);
    expect(
        r#"maxIncrease: "20%""#,
        &format!("maxIncrease: \"{nines}\""),
        &[&format!(
            r#"r.yaml:20 spec.gates[1].compare.maxIncrease: min, max and maxIncrease must be finite numbers, got "{nines}""#
        )],
    );
}

/// Lints `text` as `deep.yaml`, printing how long it took (for the record, not asserted).
fn lint_timed(what: &str, text: &str) -> Vec<String> {
    let started = std::time::Instant::now();
    let problems: Vec<String> = lint_text("deep.yaml", text)
        .iter()
        .map(ToString::to_string)
        .collect();
    eprintln!("{what} ({} bytes): {:?}", text.len(), started.elapsed());
    problems
}

const TOO_DEEP: &str = "(yaml): mappings and sequences nested more than 64 levels deep: rollgate lint refuses such YAML unparsed";

#[test]
fn lint_refuses_deeply_nested_yaml_before_parsing_it() {
    let flow = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(
        lint_timed("nested flow sequences", &flow),
        [format!("deep.yaml:1 {TOO_DEEP}")]
    );
    let spaced = format!("{} 1 {}", "[ # c\n".repeat(30_000), "] ".repeat(30_000));
    assert_eq!(
        lint_timed("nested flow sequences, spaced and commented", &spaced),
        [format!("deep.yaml:65 {TOO_DEEP}")]
    );
    let carriage_returns = format!("#\r{}", "[\r".repeat(30_000));
    assert_eq!(
        lint_timed("nested flow sequences, CR line breaks", &carriage_returns),
        [format!("deep.yaml:66 {TOO_DEEP}")]
    );
    let mappings = format!("{}1{}", "{a: ".repeat(50_000), "}".repeat(50_000));
    assert_eq!(
        lint_timed("nested flow mappings", &mappings),
        [format!("deep.yaml:1 {TOO_DEEP}")]
    );
    let compact = format!("{}x\n", "- ".repeat(100_000));
    assert_eq!(
        lint_timed("nested block sequences", &compact),
        [format!("deep.yaml:1 {TOO_DEEP}")]
    );
    let indented: String = (0..100)
        .map(|i| format!("{}a:\n", "  ".repeat(i)))
        .collect();
    assert_eq!(
        lint_timed("indented mappings", &indented),
        [format!("deep.yaml:65 {TOO_DEEP}")]
    );
    // In a Rollout, the line of the 65th level is named.
    let inside = BASE.replacen(
        "  replicas: 4\n",
        &format!("  replicas: 4\n  x:\n    {flow}\n"),
        1,
    );
    assert_eq!(
        lint_timed("a Rollout with a nested value", &inside),
        [format!("deep.yaml:9 {TOO_DEEP}")]
    );
}

#[test]
fn lint_refuses_a_huge_nested_sequence_by_its_size() {
    let huge = format!("{}{}", "[".repeat(8 << 20), "]".repeat(8 << 20));
    assert_eq!(
        lint_timed("16 MiB nested sequence", &huge),
        [
            "deep.yaml:1 (yaml): more than 1 MiB (1048576 bytes) of YAML: rollgate lint reads no more per file"
        ]
    );
}

#[test]
fn nesting_up_to_the_limit_and_json_manifests_are_linted_as_usual() {
    let at_limit = format!("{}{}", "[".repeat(64), "]".repeat(64));
    assert_eq!(lint_timed("64 levels", &at_limit), Vec::<String>::new());
    // JSON is YAML: a manifest in JSON has many brackets, but few levels.
    let value: serde_json::Value = serde_norway::from_str(BASE).unwrap();
    assert_eq!(lint_text("r.json", &value.to_string()), []);
    let pretty = serde_json::to_string_pretty(&value).unwrap();
    assert_eq!(lint_text("r.json", &pretty), []);
}

#[test]
fn documents_before_a_syntax_error_are_still_linted() {
    let text = format!(
        "{}---\n{}",
        BASE.replacen("replicas: 4", "replicas: 0", 1),
        BASE.replacen("  replicas: 4\n", "  replicas: 4\n   bad indent: [\n", 1)
    );
    let problems: Vec<String> = lint_text("r.yaml", &text)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        problems,
        [
            "r.yaml:29 (yaml): mapping values are not allowed in this context",
            "r.yaml:7 spec.replicas: must be at least 1, got 0",
        ]
    );
}

#[test]
fn a_huge_file_is_refused_without_being_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    std::fs::write(&path, "[".repeat(3 << 20)).unwrap();
    let text = super::read_at_most(&path, super::bounds::MAX_BYTES).unwrap();
    assert_eq!(text.len(), super::bounds::MAX_BYTES + 1);
    assert_eq!(
        lint_timed("3 MiB file, first 1 MiB + 1 read", &text),
        [
            "deep.yaml:1 (yaml): more than 1 MiB (1048576 bytes) of YAML: rollgate lint reads no more per file"
        ]
    );
}

#[test]
fn an_hpa_of_the_deployment_a_rollout_drives_is_told_to_scale_the_rollout() {
    let hpa = |kind: &str, api: &str| {
        format!(
            "---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: checkout}}\nspec:\n  scaleTargetRef: {{apiVersion: {api}, kind: {kind}, name: checkout}}\n  maxReplicas: 10\n"
        )
    };
    let problems: Vec<String> =
        lint_text("r.yaml", &format!("{BASE}{}", hpa("Deployment", "apps/v1")))
            .into_iter()
            .map(|p| p.to_string())
            .collect();
    assert_eq!(
        problems,
        [
            "r.yaml:26 spec.scaleTargetRef: Rollout checkout drives this Deployment: point the HPA at the Rollout (apiVersion: rollgate.dev/v1alpha1, kind: Rollout, name: checkout); rollgate re-points it on adoption and a sync of this manifest would undo that"
        ]
    );
    // Scaling the Rollout itself is the way.
    let text = format!("{BASE}{}", hpa("Rollout", "rollgate.dev/v1alpha1"));
    assert!(lint_text("r.yaml", &text).is_empty());
}

/// A Release gets the CRD's rules and the hub's own checks, each naming its field.
#[test]
fn a_release_names_the_wave_at_fault() {
    let release = |waves: &str| {
        format!(
            "apiVersion: rollgate.dev/v1alpha1\nkind: Release\nmetadata: {{name: web-2}}\nspec:\n  rollout: {{namespace: shop, name: web}}\n  template: {{containers: [{{name: app, image: 'web:2'}}]}}\n  waves:\n{waves}"
        )
    };
    let said = |waves: &str| -> Vec<String> {
        lint_text("r.yaml", &release(waves))
            .into_iter()
            .map(|p| p.to_string())
            .collect()
    };
    assert!(said("    - {name: a, selector: {}}\n    - {name: b, selector: {}}\n").is_empty());
    assert_eq!(
        said("    - {name: a, selector: {}}\n    - {name: a, selector: {}}\n"),
        ["r.yaml:9 spec.waves[1].name: wave names must be unique"]
    );
    assert_eq!(
        said(
            "    - {name: a, selector: {matchExpressions: [{key: ring, operator: Gt, values: ['1']}]}}\n"
        ),
        [
            "r.yaml:8 spec.waves[0].selector: unknown operator \"Gt\" (In, NotIn, Exists, DoesNotExist)"
        ]
    );
}

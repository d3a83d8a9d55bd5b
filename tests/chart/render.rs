//! What the chart renders, checked without a cluster.

use serde_json::{Value, json};

use crate::helm::{find, lint, template};

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn helm_lint_is_clean_with_defaults_and_every_option() {
    lint(&[]).expect("helm lint --strict");
    lint(&[
        "serviceMonitor.enabled=true",
        "incident.defaultChannel=ops/pagerduty",
        "watchNamespace=shop",
        "replicas=1",
        "logFormat=text",
        "admissionPolicy.enabled=false",
        "hubAccess.enabled=true",
        "hubAccess.namespaces={shop}",
    ])
    .expect("helm lint --strict with options");
}

#[test]
fn the_values_schema_rejects_mistakes_by_name() {
    let cases = [
        ("replicas=two", "/replicas"),
        ("replicas=0", "/replicas"),
        ("replica=2", "'replica' not allowed"),
        ("logFormat=xml", "/logFormat"),
        ("prometheus.url=prometheus:9090", "/prometheus/url"),
        (
            "incident.defaultChannel=pagerduty",
            "/incident/defaultChannel",
        ),
        ("image.pullPolicy=Sometimes", "/image/pullPolicy"),
    ];
    for (set, says) in cases {
        let err = template("r", "rollgate-system", false, &[set]).expect_err(set);
        assert!(err.contains(says), "--set {set}: {err}");
    }
}

#[test]
fn the_controller_runs_two_restricted_replicas_with_leader_election() {
    let objects = template("rollgate", "rollgate-system", false, &[]).unwrap();
    let d = find(&objects, "Deployment");
    assert_eq!(d["spec"]["replicas"], 2);
    let pod = &d["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    assert_eq!(
        strings(&c["args"]),
        [
            "controller",
            "--leader-elect",
            "--log-format=json",
            "--prometheus-url=http://prometheus-operated.monitoring.svc:9090",
        ]
    );
    assert_eq!(
        c["securityContext"],
        json!({
            "runAsNonRoot": true,
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"}
        })
    );
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(
        c["livenessProbe"]["httpGet"],
        json!({"path": "/healthz", "port": "metrics"})
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"],
        json!({"path": "/readyz", "port": "metrics"})
    );
    assert_eq!(c["ports"][0]["containerPort"], 8080);
    assert!(c["resources"]["requests"]["memory"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());
    assert_eq!(pod["serviceAccountName"], "rollgate");
    let pdb = find(&objects, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    let svc = find(&objects, "Service");
    assert_eq!(svc["spec"]["ports"][0]["port"], 8080);
    assert!(!objects.iter().any(|o| o["kind"] == "ServiceMonitor"));
}

#[test]
fn options_reach_the_controller_and_a_single_replica_has_no_pdb() {
    let objects = template(
        "rg",
        "ops",
        false,
        &[
            "replicas=1",
            "watchNamespace=shop",
            "incident.defaultChannel=ops/pagerduty",
            "prometheus.url=",
            "serviceMonitor.enabled=true",
        ],
    )
    .unwrap();
    let d = find(&objects, "Deployment");
    assert_eq!(
        strings(&d["spec"]["template"]["spec"]["containers"][0]["args"]),
        [
            "controller",
            "--leader-elect",
            "--log-format=json",
            "--namespace=shop",
            "--default-channel=ops/pagerduty",
        ]
    );
    assert!(!objects.iter().any(|o| o["kind"] == "PodDisruptionBudget"));
    let sm = find(&objects, "ServiceMonitor");
    assert_eq!(sm["spec"]["endpoints"][0]["path"], "/metrics");
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "metrics");
}

#[test]
fn rbac_has_no_wildcards_and_leases_only_in_the_release_namespace() {
    let objects = template("rollgate", "rollgate-system", false, &[]).unwrap();
    for o in objects
        .iter()
        .filter(|o| o["kind"] == "ClusterRole" || o["kind"] == "Role")
    {
        for rule in o["rules"].as_array().unwrap() {
            for key in ["apiGroups", "resources", "verbs"] {
                assert!(!strings(&rule[key]).contains(&"*"), "wildcard in {rule}");
            }
        }
    }
    let cluster_role = find(&objects, "ClusterRole");
    let all: Vec<&str> = cluster_role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| strings(&r["resources"]))
        .collect();
    assert!(
        !all.contains(&"leases"),
        "leases are granted by the namespaced Role only"
    );
    // Pods: list only (counting ready pods at hand-back), never write.
    let pod_verbs: Vec<&str> = cluster_role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| strings(&r["resources"]).contains(&"pods"))
        .flat_map(|r| strings(&r["verbs"]))
        .collect();
    assert_eq!(pod_verbs, ["list"]);
    let role = find(&objects, "Role");
    assert_eq!(role["metadata"]["namespace"], "rollgate-system");
    assert_eq!(strings(&role["rules"][0]["resources"]), ["leases"]);
}

/// Every resource a ClusterRole or Role rule names.
fn resources(role: &Value) -> Vec<&str> {
    role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| strings(&r["resources"]))
        .collect()
}

fn named<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn with_a_watched_namespace_every_namespaced_right_is_a_role_there() {
    let objects = template("rg", "ops", false, &["watchNamespace=shop"]).unwrap();
    // Only the cluster-scoped Freezes, read-only, stay cluster-wide.
    let cluster_role = find(&objects, "ClusterRole");
    assert_eq!(
        cluster_role["rules"],
        json!([{"apiGroups": ["rollgate.dev"], "resources": ["freezes"], "verbs": ["get", "list", "watch"]}])
    );
    let role = named(&objects, "Role", "rg-rollgate");
    assert_eq!(role["metadata"]["namespace"], "shop");
    for needed in [
        "rollouts",
        "incidents",
        "releases",
        "deployments",
        "pods",
        "secrets",
        "configmaps",
        "events",
        "horizontalpodautoscalers",
    ] {
        assert!(
            resources(role).contains(&needed),
            "{needed} missing from the Role"
        );
    }
    let binding = named(&objects, "RoleBinding", "rg-rollgate");
    assert_eq!(binding["metadata"]["namespace"], "shop");
    assert_eq!(binding["roleRef"]["kind"], "Role");
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "rg-rollgate", "namespace": "ops"}])
    );
    let lease = named(&objects, "Role", "rg-rollgate-leader-election");
    assert_eq!(lease["metadata"]["namespace"], "ops");
    assert_eq!(resources(lease), ["leases"]);
    // A default channel in the watched namespace needs nothing more.
    let same = template(
        "rg",
        "ops",
        false,
        &[
            "watchNamespace=shop",
            "incident.defaultChannel=shop/pagerduty",
        ],
    )
    .unwrap();
    assert_eq!(same.iter().filter(|o| o["kind"] == "Role").count(), 2);
}

#[test]
fn with_a_watched_namespace_a_default_channel_elsewhere_is_read_by_name_only() {
    let objects = template(
        "rg",
        "ops",
        false,
        &[
            "watchNamespace=shop",
            "incident.defaultChannel=platform/pagerduty",
        ],
    )
    .unwrap();
    let role = named(&objects, "Role", "rg-rollgate-default-channel");
    assert_eq!(role["metadata"]["namespace"], "platform");
    assert_eq!(
        role["rules"],
        json!([
            {"apiGroups": ["rollgate.dev"], "resources": ["incidentchannels"],
             "resourceNames": ["pagerduty"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}
        ])
    );
    let binding = named(&objects, "RoleBinding", "rg-rollgate-default-channel");
    assert_eq!(binding["metadata"]["namespace"], "platform");
}

/// A member's hub credential: get Rollouts, get and patch Deployments, in the namespaces named
/// and nowhere else; no Secrets, pods or ConfigMaps; off unless asked for.
#[test]
fn hub_access_grants_a_hub_only_the_rollout_and_its_target() {
    let off = template("rg", "ops", false, &[]).unwrap();
    assert!(
        !off.iter()
            .any(|o| o["metadata"]["name"] == "rg-rollgate-hub-access")
    );
    let objects = template(
        "rg",
        "ops",
        false,
        &["hubAccess.enabled=true", "hubAccess.namespaces={shop,web}"],
    )
    .unwrap();
    let sa = named(&objects, "ServiceAccount", "rollgate-hub");
    assert_eq!(sa["metadata"]["namespace"], "ops");
    let roles: Vec<&Value> = objects
        .iter()
        .filter(|o| o["kind"] == "Role" && o["metadata"]["name"] == "rg-rollgate-hub-access")
        .collect();
    let namespaces: Vec<&str> = roles
        .iter()
        .map(|r| r["metadata"]["namespace"].as_str().unwrap())
        .collect();
    assert_eq!(namespaces, ["shop", "web"]);
    for role in roles {
        assert_eq!(
            role["rules"],
            json!([
                {"apiGroups": ["rollgate.dev"], "resources": ["rollouts"], "verbs": ["get"]},
                {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]}
            ])
        );
    }
    let binding = objects
        .iter()
        .find(|o| o["kind"] == "RoleBinding" && o["metadata"]["name"] == "rg-rollgate-hub-access")
        .unwrap();
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "rollgate-hub", "namespace": "ops"}])
    );
    // The plain manifest grants the same rules.
    let plain = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/hub-access.yaml"),
    )
    .unwrap();
    let docs: Vec<Value> = serde_norway::Deserializer::from_str(&plain)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let role = docs.iter().find(|d| d["kind"] == "Role").unwrap();
    assert_eq!(
        role["rules"],
        objects
            .iter()
            .find(|o| o["kind"] == "Role" && o["metadata"]["name"] == "rg-rollgate-hub-access")
            .unwrap()["rules"]
    );
}

#[test]
fn config_and_deployment_rights_are_no_wider_than_the_controller_uses() {
    let objects = template("rollgate", "rollgate-system", false, &[]).unwrap();
    let cluster_role = find(&objects, "ClusterRole");
    let verbs = |resource: &str| -> Vec<&str> {
        cluster_role["rules"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| strings(&r["resources"]).contains(&resource))
            .flat_map(|r| strings(&r["verbs"]))
            .collect()
    };
    // Snapshots are created and collected, never changed; tracks and targets are patched, and
    // a track edited by hand is replaced; records are created and collected, never changed.
    assert_eq!(
        verbs("secrets"),
        ["get", "list", "watch", "create", "delete"]
    );
    assert_eq!(
        verbs("configmaps"),
        ["get", "list", "watch", "create", "delete"]
    );
    assert_eq!(
        verbs("deployments"),
        ["get", "list", "watch", "create", "patch", "update"]
    );
    assert_eq!(
        verbs("controllerrevisions"),
        ["get", "list", "watch", "create", "delete"]
    );
    assert_eq!(verbs("incidentchannels"), ["get", "list", "watch"]);
    // Routing: the tracks' Services are applied and read; a route's weights are updated.
    assert_eq!(verbs("services"), ["get", "create", "patch"]);
    assert_eq!(verbs("httproutes"), ["get", "create", "patch", "update"]);
    // Autoscaling: an HPA's scaleTargetRef is re-pointed on adoption and hand-back.
    assert_eq!(verbs("horizontalpodautoscalers"), ["get", "list", "patch"]);
}

#[test]
fn the_admission_policy_binds_the_controllers_service_account_and_can_be_turned_off() {
    let objects = template("rollgate", "rollgate-system", false, &[]).unwrap();
    let policy = find(&objects, "ValidatingAdmissionPolicy");
    assert_eq!(policy["metadata"]["name"], "rollgate-own-objects");
    assert_eq!(policy["spec"]["failurePolicy"], "Fail");
    let condition = policy["spec"]["matchConditions"][0]["expression"]
        .as_str()
        .unwrap();
    assert!(
        condition.contains("'system:serviceaccount:rollgate-system:rollgate'"),
        "{condition}"
    );
    let binding = find(&objects, "ValidatingAdmissionPolicyBinding");
    assert_eq!(binding["spec"]["policyName"], "rollgate-own-objects");
    assert_eq!(binding["spec"]["validationActions"], json!(["Deny"]));
    let off = template(
        "rollgate",
        "rollgate-system",
        false,
        &["admissionPolicy.enabled=false"],
    )
    .unwrap();
    assert!(!off.iter().any(|o| {
        o["kind"]
            .as_str()
            .unwrap()
            .starts_with("ValidatingAdmissionPolicy")
    }));
}

#[test]
fn the_chart_includes_the_generated_crds() {
    let objects = template("rollgate", "rollgate-system", true, &[]).unwrap();
    let crds: Vec<&str> = objects
        .iter()
        .filter(|o| o["kind"] == "CustomResourceDefinition")
        .filter_map(|o| o["metadata"]["name"].as_str())
        .collect();
    let generated: Vec<String> = rollgate::api::crds()
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(crds, generated);
}

//! The values for running in production render as docs/IMAGE.md says: the image pinned by
//! digest, pull secrets, a private CA added to the public roots, the NetworkPolicy, resources
//! sized from the benchmarks; and the schema refuses their mistakes.

use serde_json::{Value, json};

use crate::helm::{find, lint, template};

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn container(objects: &[Value]) -> &Value {
    &find(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

#[test]
fn a_digest_pins_the_image_and_the_tag_is_then_ignored() {
    let repository = "registry.example.com/platform/rollgate";
    let objects = template(
        "r",
        "ns",
        false,
        &[
            &format!("image.repository={repository}"),
            "image.tag=0.0.9",
            &format!("image.digest={DIGEST}"),
            "imagePullSecrets[0].name=regcred",
        ],
    )
    .unwrap();
    assert_eq!(
        container(&objects)["image"],
        format!("{repository}@{DIGEST}")
    );
    let pod = &find(&objects, "Deployment")["spec"]["template"]["spec"];
    assert_eq!(pod["imagePullSecrets"], json!([{"name": "regcred"}]));

    let tagged = template("r", "ns", false, &[]).unwrap();
    let image = container(&tagged)["image"].as_str().unwrap();
    assert_eq!(
        image,
        format!(
            "registry.example/rollgate/rollgate:{}",
            env!("CARGO_PKG_VERSION")
        )
    );
}

#[test]
fn a_private_ca_is_mounted_and_trusted_besides_the_images_roots() {
    for (set, source) in [
        (
            "extraCA.configMap=corp-ca",
            json!({"configMap": {"name": "corp-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}),
        ),
        (
            "extraCA.secret=corp-ca",
            json!({"secret": {"secretName": "corp-ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}),
        ),
    ] {
        let objects = template("r", "ns", false, &[set]).unwrap();
        let pod = &find(&objects, "Deployment")["spec"]["template"]["spec"];
        let mut volume = source;
        volume["name"] = json!("extra-ca");
        assert_eq!(pod["volumes"], json!([volume]), "{set}");
        let c = container(&objects);
        assert_eq!(
            c["volumeMounts"],
            json!([{"name": "extra-ca", "mountPath": "/etc/rollgate/extra-ca", "readOnly": true}])
        );
        let env: Vec<(&str, &str)> = c["env"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| Some((e["name"].as_str()?, e["value"].as_str()?)))
            .collect();
        assert!(env.contains(&("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")));
        assert!(env.contains(&("SSL_CERT_DIR", "/etc/rollgate/extra-ca")));
    }
    let plain = template("r", "ns", false, &[]).unwrap();
    assert!(
        container(&plain)["env"]
            .to_string()
            .find("SSL_CERT")
            .is_none()
    );
}

#[test]
fn the_network_policy_admits_only_the_metrics_port() {
    let objects = template(
        "r",
        "ns",
        false,
        &[
            "networkPolicy.enabled=true",
            "networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=monitoring",
        ],
    )
    .unwrap();
    let policy = &find(&objects, "NetworkPolicy")["spec"];
    assert_eq!(
        policy["policyTypes"],
        json!(["Ingress"]),
        "egress stays open"
    );
    assert_eq!(
        policy["ingress"],
        json!([{
            "ports": [{"port": "metrics", "protocol": "TCP"}],
            "from": [{"namespaceSelector": {"matchLabels": {"team": "monitoring"}}}]
        }])
    );
    let none = template("r", "ns", false, &[]).unwrap();
    assert!(!none.iter().any(|o| o["kind"] == "NetworkPolicy"));
    lint(&[
        "networkPolicy.enabled=true",
        "serviceMonitor.enabled=true",
        "extraCA.secret=ca",
    ])
    .expect("helm lint --strict");
}

#[test]
fn resources_default_to_the_benchmarked_sizes() {
    let objects = template("r", "ns", false, &[]).unwrap();
    assert_eq!(
        container(&objects)["resources"],
        json!({"requests": {"cpu": "150m", "memory": "128Mi"}, "limits": {"memory": "384Mi"}})
    );
}

#[test]
fn the_schema_refuses_a_tag_as_digest_two_ca_sources_and_unknown_resources() {
    let cases = [
        ("image.digest=latest", "/image/digest"),
        ("image.digest=sha256:abc", "/image/digest"),
        ("resources.limits.gpu=1", "'gpu' not allowed"),
        ("networkPolicy.ingress=x", "'ingress' not allowed"),
    ];
    for (set, says) in cases {
        let err = template("r", "ns", false, &[set]).expect_err(set);
        assert!(err.contains(says), "--set {set}: {err}");
    }
    let both = ["extraCA.configMap=a", "extraCA.secret=b"];
    let err = template("r", "ns", false, &both).expect_err("both CA sources");
    assert!(err.contains("/extraCA"), "{err}");
}

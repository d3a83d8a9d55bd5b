//! An HPA in the linted files that scales a Deployment a Rollout in the same files drives: on
//! adoption rollgate points it at the Rollout, and a GitOps sync of this manifest would point
//! it back (the HPA would then fight the Deployment held at zero). Said before merge.

use serde_json::Value;

use super::{Document, Finding, Problem};

/// (namespace, Deployment name) → Rollout name, for every Rollout in `docs`.
fn driven(docs: &[(String, Document)]) -> Vec<(Option<String>, String, String)> {
    docs.iter()
        .filter(|(_, d)| d.rollgate_kind() == Some("Rollout"))
        .filter_map(|(_, d)| {
            let v = &d.value;
            let kind = v
                .pointer("/spec/targetRef/kind")
                .and_then(Value::as_str)
                .unwrap_or("Deployment");
            (kind == "Deployment").then_some(())?;
            Some((
                namespace(v),
                v.pointer("/spec/targetRef/name")?.as_str()?.to_string(),
                v.pointer("/metadata/name")?.as_str()?.to_string(),
            ))
        })
        .collect()
}

fn namespace(v: &Value) -> Option<String> {
    v.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(str::to_string)
}

/// Every HPA in `docs` that targets a Deployment a Rollout in `docs` drives.
pub fn check(docs: &[(String, Document)]) -> Vec<Problem> {
    let driven = driven(docs);
    let mut problems = vec![];
    for (file, d) in docs {
        let v = &d.value;
        let is_hpa = v.get("kind").and_then(Value::as_str) == Some("HorizontalPodAutoscaler")
            && v.get("apiVersion")
                .and_then(Value::as_str)
                .is_some_and(|a| a.starts_with("autoscaling/"));
        if !is_hpa {
            continue;
        }
        let Some(target) = v.pointer("/spec/scaleTargetRef") else {
            continue;
        };
        let group = target
            .get("apiVersion")
            .and_then(Value::as_str)
            .and_then(|a| a.rsplit_once('/'))
            .map_or("", |(g, _)| g);
        let kind = target.get("kind").and_then(Value::as_str);
        let name = target.get("name").and_then(Value::as_str);
        if group != "apps" || kind != Some("Deployment") {
            continue;
        }
        let ns = namespace(v);
        if let Some((_, _, rollout)) = driven
            .iter()
            .find(|(n, t, _)| *n == ns && Some(t.as_str()) == name)
        {
            let finding = Finding::new(
                "spec.scaleTargetRef",
                format!(
                    "Rollout {rollout} drives this Deployment: point the HPA at the Rollout (apiVersion: rollgate.dev/v1alpha1, kind: Rollout, name: {rollout}); rollgate re-points it on adoption and a sync of this manifest would undo that"
                ),
            );
            problems.push(d.place(file, finding));
        }
    }
    problems
}

//! A label selector as the string form the `scale` subresource carries (`app=web,tier in
//! (a,b)`), which is what an HPA parses to find the pods it averages over.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// `selector` in Kubernetes' label selector syntax. An empty selector is `""` (everything).
pub fn to_string(selector: &LabelSelector) -> String {
    let mut parts: Vec<String> = selector
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for e in selector.match_expressions.iter().flatten() {
        let mut values = e.values.clone().unwrap_or_default();
        values.sort();
        let values = values.join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            // The API server admits no other operator.
            other => format!("{} {other} ({values})", e.key),
        });
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    #[test]
    fn labels_and_expressions_read_as_kubectl_writes_them() {
        let req = |key: &str, op: &str, values: &[&str]| LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: (!values.is_empty()).then(|| values.iter().map(|v| v.to_string()).collect()),
        };
        let selector = LabelSelector {
            match_labels: Some([("app".into(), "web".into())].into()),
            match_expressions: Some(vec![
                req("tier", "In", &["b", "a"]),
                req("zone", "NotIn", &["x"]),
                req("team", "Exists", &[]),
                req("legacy", "DoesNotExist", &[]),
            ]),
        };
        assert_eq!(
            to_string(&selector),
            "app=web,tier in (a,b),zone notin (x),team,!legacy"
        );
        assert_eq!(to_string(&LabelSelector::default()), "");
    }
}

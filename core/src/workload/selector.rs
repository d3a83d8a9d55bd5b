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

/// Whether `labels` are selected by `selector`, as the API server matches them (an empty
/// selector selects everything). An operator the API server would not admit selects nothing.
pub fn matches(
    selector: &LabelSelector,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    let by_labels = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    by_labels
        && selector.match_expressions.iter().flatten().all(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            let value = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

/// Why `selector` would not be admitted as a label selector, if it would not.
pub fn problem(selector: &LabelSelector) -> Option<String> {
    selector.match_expressions.iter().flatten().find_map(|e| {
        let values = e.values.as_deref().unwrap_or_default();
        match e.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                Some(format!("{:?} {} needs values", e.key, e.operator))
            }
            "Exists" | "DoesNotExist" if !values.is_empty() => {
                Some(format!("{:?} {} takes no values", e.key, e.operator))
            }
            "In" | "NotIn" | "Exists" | "DoesNotExist" => None,
            other => Some(format!(
                "unknown operator {other:?} (In, NotIn, Exists, DoesNotExist)"
            )),
        }
    })
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

    #[test]
    fn selectors_match_labels_as_the_api_server_does() {
        let labels = |pairs: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let req = |key: &str, op: &str, values: &[&str]| LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        };
        let eu = labels(&[("region", "eu"), ("ring", "1")]);
        assert!(matches(&LabelSelector::default(), &eu));
        let by = |e: LabelSelectorRequirement| LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![e]),
        };
        assert!(matches(&by(req("region", "In", &["eu", "us"])), &eu));
        assert!(!matches(&by(req("region", "NotIn", &["eu"])), &eu));
        assert!(matches(&by(req("zone", "NotIn", &["x"])), &eu));
        assert!(matches(&by(req("ring", "Exists", &[])), &eu));
        assert!(!matches(&by(req("ring", "DoesNotExist", &[])), &eu));
        assert!(!matches(&by(req("ring", "Gt", &["0"])), &eu));
        let ring0 = LabelSelector {
            match_labels: Some([("ring".to_string(), "0".to_string())].into()),
            match_expressions: None,
        };
        assert!(!matches(&ring0, &eu));
        assert!(problem(&by(req("ring", "Gt", &["0"]))).is_some());
        assert!(problem(&by(req("ring", "In", &[]))).is_some());
        assert!(problem(&by(req("ring", "Exists", &["x"]))).is_some());
        assert_eq!(problem(&ring0), None);
    }
}

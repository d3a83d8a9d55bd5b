//! The CRDs' CEL validation rules, evaluated offline. Each rule of `crate::api::crds()` has an
//! equivalent here (a test fails when one is added without it), and each points at the
//! element at fault rather than at the list that holds it.

use serde_json::Value;

/// One rule broken, at `sub` below the node that carries the rule (`[2].weight`, `.min`, or
/// empty for the node itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub sub: String,
    pub message: String,
}

/// The rules this module can evaluate, as they appear in the CRDs.
pub const KNOWN: [&str; 20] = [
    "self[size(self) - 1].weight == 100",
    "self.map(s, s.weight).isSorted()",
    "self.all(g, self.exists_one(h, h.name == g.name))",
    "self == 'Deployment'",
    "has(self.min) || has(self.max) || has(self.compare) || has(self.sequential) || has(self.alert) || has(self.msprt) || has(self.kayenta)",
    "!has(self.min) || !has(self.max) || self.min <= self.max",
    "self.type == 'alertmanager' || self.type == 'webhook' || has(self.secretRef)",
    "!(self.type == 'alertmanager' || self.type == 'webhook') || has(self.url)",
    "isURL(self) && url(self).getHostname() != ''",
    "self.weight > 0 || has(self.header)",
    "!has(self.header) || self.weight == 0",
    "!(has(self.replicas) && has(self.minReplicas))",
    "has(self.traffic) || !self.stages.exists(s, has(s.header))",
    "!has(self.sequential) && !has(self.alert) && !has(self.kayenta) ? has(self.query) : !has(self.query) && !has(self.min) && !has(self.max) && !has(self.compare)",
    "[has(self.min) || has(self.max) || has(self.compare), has(self.sequential), has(self.alert), has(self.msprt), has(self.kayenta)].filter(k, k).size() <= 1",
    "self > 0.0 && self <= 0.1",
    "size(self) >= 1 && size(self) <= 20",
    "has(self.meanRatio) != has(self.cles)",
    "self.marginal <= self.pass",
    "self == oldSelf",
];

/// Evaluates `rule` on `node`; `None` when the rule is not one of [`KNOWN`]. A node whose shape
/// the rule does not expect breaks no rule here: the schema reports the shape.
pub fn evaluate(rule: &str, message: &str, node: &Value) -> Option<Vec<Violation>> {
    let at = |sub: String| Violation {
        sub,
        message: message.to_string(),
    };
    let has = |field: &str| node.get(field).is_some_and(|v| !v.is_null());
    let weights = || -> Vec<Option<i64>> {
        node.as_array()
            .map(|a| {
                a.iter()
                    .map(|s| s.get("weight").and_then(Value::as_i64))
                    .collect()
            })
            .unwrap_or_default()
    };
    let found = match rule {
        r if r == KNOWN[0] => {
            let w = weights();
            match w.last() {
                Some(Some(last)) if *last != 100 => vec![at(format!("[{}].weight", w.len() - 1))],
                _ => vec![],
            }
        }
        r if r == KNOWN[1] => {
            let w = weights();
            (1..w.len())
                .find(|&i| matches!((w[i - 1], w[i]), (Some(a), Some(b)) if b < a))
                .map(|i| at(format!("[{i}].weight")))
                .into_iter()
                .collect()
        }
        r if r == KNOWN[2] => {
            let names: Vec<Option<&str>> = node
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|g| g.get("name").and_then(Value::as_str))
                        .collect()
                })
                .unwrap_or_default();
            (0..names.len())
                .filter(|&i| names[i].is_some() && names[..i].contains(&names[i]))
                .map(|i| at(format!("[{i}].name")))
                .collect()
        }
        r if r == KNOWN[3] => match node.as_str() {
            Some(kind) if kind != "Deployment" => vec![at(String::new())],
            _ => vec![],
        },
        r if r == KNOWN[4] => {
            if [
                "min",
                "max",
                "compare",
                "sequential",
                "alert",
                "msprt",
                "kayenta",
            ]
            .iter()
            .any(|f| has(f))
            {
                vec![]
            } else {
                vec![at(String::new())]
            }
        }
        r if r == KNOWN[5] => {
            let number = |f: &str| node.get(f).and_then(Value::as_f64);
            match (number("min"), number("max")) {
                (Some(min), Some(max)) if min > max => vec![at(".min".into())],
                _ => vec![],
            }
        }
        r if r == KNOWN[6] => {
            let kind = node.get("type").and_then(Value::as_str);
            if matches!(kind, Some("alertmanager" | "webhook")) || has("secretRef") {
                vec![]
            } else {
                vec![at(".secretRef".into())]
            }
        }
        r if r == KNOWN[7] => {
            let kind = node.get("type").and_then(Value::as_str);
            if matches!(kind, Some("alertmanager" | "webhook")) && !has("url") {
                vec![at(".url".into())]
            } else {
                vec![]
            }
        }
        r if r == KNOWN[8] => match node.as_str() {
            Some(text) if !has_host(text) => vec![at(String::new())],
            _ => vec![],
        },
        r if r == KNOWN[9] => {
            let weight = node.get("weight").and_then(Value::as_i64);
            if weight.is_some_and(|w| w <= 0) && !has("header") {
                vec![at(".weight".into())]
            } else {
                vec![]
            }
        }
        r if r == KNOWN[13] => {
            let judged = has("sequential") || has("alert") || has("kayenta");
            match (judged, has("query")) {
                (false, false) => vec![at(".query".into())],
                (true, true) => vec![at(".query".into())],
                (true, false) => ["min", "max", "compare"]
                    .iter()
                    .find(|f| has(f))
                    .map(|f| at(format!(".{f}")))
                    .into_iter()
                    .collect(),
                (false, true) => vec![],
            }
        }
        r if r == KNOWN[14] => {
            // Every kind after the first one set is at fault.
            let kinds = [
                has("min") || has("max") || has("compare"),
                has("sequential"),
                has("alert"),
                has("msprt"),
                has("kayenta"),
            ];
            let names = ["", ".sequential", ".alert", ".msprt", ".kayenta"];
            match kinds.iter().filter(|k| **k).count() {
                0 | 1 => vec![],
                _ => {
                    let first = kinds.iter().position(|k| *k).unwrap_or(0);
                    (first + 1..kinds.len())
                        .filter(|&i| kinds[i])
                        .map(|i| at(names[i].into()))
                        .collect()
                }
            }
        }
        r if r == KNOWN[17] => {
            if has("meanRatio") == has("cles") {
                vec![at(String::new())]
            } else {
                vec![]
            }
        }
        r if r == KNOWN[18] => {
            let number = |f: &str| node.get(f).and_then(Value::as_f64);
            match (number("marginal"), number("pass")) {
                (Some(m), Some(p)) if m > p => vec![at(".marginal".into())],
                _ => vec![],
            }
        }
        r if r == KNOWN[10] => {
            let weight = node.get("weight").and_then(Value::as_i64);
            if has("header") && weight.is_some_and(|w| w != 0) {
                vec![at(".weight".into())]
            } else {
                vec![]
            }
        }
        r if r == KNOWN[11] => {
            if has("replicas") && has("minReplicas") {
                vec![at(".minReplicas".into())]
            } else {
                vec![]
            }
        }
        r if r == KNOWN[12] => {
            let stages = node.get("stages").and_then(Value::as_array);
            let header = stages.and_then(|s| {
                s.iter()
                    .position(|s| s.get("header").is_some_and(|h| !h.is_null()))
            });
            match header {
                Some(i) if !has("traffic") => vec![at(format!(".stages[{i}].header"))],
                _ => vec![],
            }
        }
        r if r == KNOWN[15] => match node.as_f64() {
            Some(v) if !(v > 0.0 && v <= 0.1) => vec![at(String::new())],
            _ => vec![],
        },
        r if r == KNOWN[16] => match node.as_object() {
            Some(m) if m.is_empty() || m.len() > 20 => vec![at(String::new())],
            _ => vec![],
        },
        // A transition rule: offline there is no stored object to compare with, so a file
        // never breaks it (the API server judges an update).
        r if r == KNOWN[19] => vec![],
        _ => return None,
    };
    Some(found)
}

/// Kubernetes CEL's `isURL(s) && url(s).getHostname() != ''`, closely enough for lint.
fn has_host(text: &str) -> bool {
    url::Url::parse(text).is_ok_and(|u| u.host_str().is_some_and(|h| !h.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every `x-kubernetes-validations` rule in the generated CRDs.
    fn crd_rules() -> Vec<String> {
        let mut rules = Vec::new();
        fn walk(v: &Value, rules: &mut Vec<String>) {
            match v {
                Value::Object(map) => {
                    if let Some(Value::Array(list)) = map.get("x-kubernetes-validations") {
                        for r in list {
                            rules.push(r["rule"].as_str().unwrap_or_default().to_string());
                        }
                    }
                    map.values().for_each(|c| walk(c, rules));
                }
                Value::Array(list) => list.iter().for_each(|c| walk(c, rules)),
                _ => {}
            }
        }
        for crd in crate::api::crds() {
            walk(&serde_json::to_value(crd).unwrap(), &mut rules);
        }
        rules
    }

    #[test]
    fn every_cel_rule_of_the_crds_is_evaluated_offline() {
        for rule in crd_rules() {
            assert!(
                evaluate(&rule, "", &Value::Null).is_some(),
                "add an offline equivalent of the CEL rule {rule:?} to src/cli/lint/rules.rs"
            );
        }
    }

    #[test]
    fn rules_point_at_the_element_at_fault() {
        let stages = json!([{"weight": 10}, {"weight": 50}, {"weight": 20}, {"weight": 90}]);
        let subs = |rule: &str, v: &Value| -> Vec<String> {
            evaluate(rule, "m", v)
                .unwrap()
                .into_iter()
                .map(|v| v.sub)
                .collect()
        };
        assert_eq!(subs(KNOWN[0], &stages), ["[3].weight"]);
        assert_eq!(subs(KNOWN[1], &stages), ["[2].weight"]);
        let gates = json!([{"name": "a"}, {"name": "b"}, {"name": "a"}]);
        assert_eq!(subs(KNOWN[2], &gates), ["[2].name"]);
        assert_eq!(subs(KNOWN[3], &json!("StatefulSet")), [""]);
        assert_eq!(subs(KNOWN[4], &json!({"name": "x"})), [""]);
        assert_eq!(subs(KNOWN[5], &json!({"min": 2, "max": 1})), [".min"]);
        assert_eq!(subs(KNOWN[6], &json!({"type": "slack"})), [".secretRef"]);
        assert!(subs(KNOWN[6], &json!({"type": "webhook"})).is_empty());
        assert_eq!(subs(KNOWN[9], &json!({"weight": 0})), [".weight"]);
        assert!(subs(KNOWN[9], &json!({"weight": 0, "header": {"name": "x"}})).is_empty());
        assert_eq!(
            subs(KNOWN[10], &json!({"weight": 5, "header": {"name": "x"}})),
            [".weight"]
        );
        let capacity = json!({"replicas": 2, "minReplicas": 1});
        assert_eq!(subs(KNOWN[11], &capacity), [".minReplicas"]);
        let spec = json!({"stages": [{"weight": 0, "header": {"name": "x"}}, {"weight": 100}]});
        assert_eq!(subs(KNOWN[12], &spec), [".stages[0].header"]);
        let mut routed = spec.clone();
        routed["traffic"] = json!({"httpRoute": {"name": "r", "service": "s"}});
        assert!(subs(KNOWN[12], &routed).is_empty());
        assert!(subs(KNOWN[4], &json!({"sequential": {}})).is_empty());
        assert_eq!(subs(KNOWN[13], &json!({"max": 1})), [".query"]);
        assert_eq!(
            subs(KNOWN[13], &json!({"alert": {}, "query": "x"})),
            [".query"]
        );
        assert_eq!(
            subs(KNOWN[13], &json!({"sequential": {}, "max": 1})),
            [".max"]
        );
        assert!(subs(KNOWN[13], &json!({"sequential": {}})).is_empty());
        assert_eq!(
            subs(KNOWN[14], &json!({"sequential": {}, "alert": {}})),
            [".alert"]
        );
        assert_eq!(
            subs(KNOWN[14], &json!({"max": 1, "msprt": {}, "kayenta": {}})),
            [".msprt", ".kayenta"]
        );
        assert!(subs(KNOWN[14], &json!({"query": "q", "msprt": {}})).is_empty());
        assert!(subs(KNOWN[4], &json!({"kayenta": {}})).is_empty());
        assert_eq!(subs(KNOWN[13], &json!({"msprt": {}})), [".query"]);
        assert_eq!(
            subs(KNOWN[13], &json!({"kayenta": {}, "query": "q"})),
            [".query"]
        );
        assert_eq!(subs(KNOWN[17], &json!({})), [""]);
        assert_eq!(subs(KNOWN[17], &json!({"cles": {}, "meanRatio": {}})), [""]);
        assert!(subs(KNOWN[17], &json!({"cles": {}})).is_empty());
        assert_eq!(
            subs(KNOWN[18], &json!({"marginal": 96, "pass": 95})),
            [".marginal"]
        );
        assert!(subs(KNOWN[18], &json!({"marginal": 75, "pass": 95})).is_empty());
        assert_eq!(subs(KNOWN[15], &json!(0.5)), [""]);
        assert!(subs(KNOWN[15], &json!(0.001)).is_empty());
        assert_eq!(subs(KNOWN[16], &json!({})), [""]);
    }
}

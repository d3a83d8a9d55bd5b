//! `lint --prometheus URL`: every gate query of the Rollouts that passed the offline checks,
//! rendered with placeholder values and asked once of a real Prometheus, the way the
//! controller's preflight asks it against the stable track.

use serde_json::Value;

use super::{Document, Finding, Problem};
use crate::gates::{TemplateVars, render};
use crate::prometheus::{Endpoint, PoolSettings, PrometheusPool, QueryError};

/// One gate query, rendered for the dry run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryQuery {
    pub field: String,
    pub query: String,
    /// The gate's `onNoData` as written (`Fail` when it says none): what no data would do.
    pub on_no_data: String,
}

/// The gate queries of a Rollout document with the dry run's values: the document's
/// namespace (`default` when it has none), its name and target, track `stable`, and
/// `revision` for every revision placeholder.
pub fn queries(doc: &Value, revision: &str) -> Vec<DryQuery> {
    let text = |pointer: &str| doc.pointer(pointer).and_then(Value::as_str).unwrap_or("");
    let namespace = match text("/metadata/namespace") {
        "" => "default",
        ns => ns,
    };
    let vars = TemplateVars {
        namespace,
        rollout: text("/metadata/name"),
        target: text("/spec/targetRef/name"),
        track: "stable",
        revision,
        stable_revision: revision,
        canary_revision: revision,
    };
    let gates = doc.pointer("/spec/gates").and_then(Value::as_array);
    gates
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, g)| {
            // A sequential gate's preflight asks stable's requests counter; an alert gate
            // has nothing to ask (no firing alert is the healthy answer).
            let (field, query) = match g.pointer("/sequential/requests").and_then(Value::as_str) {
                Some(requests) => (
                    format!("spec.gates[{i}].sequential.requests"),
                    crate::gates::counted(&render(requests, &vars).ok()?, "5m"),
                ),
                None => (
                    format!("spec.gates[{i}].query"),
                    render(g.get("query")?.as_str()?, &vars).ok()?,
                ),
            };
            Some(DryQuery {
                field,
                query,
                on_no_data: g
                    .get("onNoData")
                    .and_then(Value::as_str)
                    .unwrap_or("Fail")
                    .to_string(),
            })
        })
        .collect()
}

/// What is wrong with one answer: an error, or no number at all (empty or only NaN).
pub fn judge(
    query: &DryQuery,
    address: &str,
    answer: &Result<Vec<f64>, QueryError>,
) -> Option<Finding> {
    let message = match answer {
        Err(e) => format!("dry run against {address}: {e}"),
        Ok(values) if values.iter().all(|v| v.is_nan()) => format!(
            "dry run against {address}: no data for the stable track ({}); query sent: {}",
            match query.on_no_data.as_str() {
                "Hold" => "onNoData: Hold, so the release would wait unexposed until it has data",
                "Pass" => "onNoData: Pass, so the gate would pass without data",
                _ => "onNoData: Fail, the default, so the gate would fail",
            },
            query.query
        ),
        Ok(_) => return None,
    };
    Some(Finding::new(&query.field, message))
}

pub async fn run(address: &str, revision: &str, rollouts: &[(String, Document)]) -> Vec<Problem> {
    let pool = PrometheusPool::new(PoolSettings::default());
    let endpoint = Endpoint {
        address: address.to_string(),
        bearer_token: None,
        ca_pem: None,
    };
    let now = jiff::Timestamp::now();
    let mut problems = Vec::new();
    for (file, doc) in rollouts {
        for q in queries(&doc.value, revision) {
            let answer = pool.query(&endpoint, &q.query, now).await;
            if let Some(f) = judge(&q, address, &answer) {
                problems.push(doc.place(file, f));
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn queries_are_rendered_for_the_stable_track_of_the_documents_namespace() {
        let doc = json!({
            "metadata": {"name": "checkout", "namespace": "shop"},
            "spec": {"targetRef": {"name": "web"}, "gates": [
                {"name": "e", "query": "sum(x{namespace=\"{{namespace}}\",t=\"{{track}}\",d=\"{{target}}\",r=\"{{revision}}\"})"}
            ]}
        });
        assert_eq!(
            queries(&doc, "abc"),
            [DryQuery {
                field: "spec.gates[0].query".into(),
                query: "sum(x{namespace=\"shop\",t=\"stable\",d=\"web\",r=\"abc\"})".into(),
                on_no_data: "Fail".into(),
            }]
        );
        let no_namespace = json!({"metadata": {"name": "c"}, "spec": {"gates": [{"query": "x{n=\"{{namespace}}\"}"}]}});
        assert_eq!(queries(&no_namespace, "")[0].query, "x{n=\"default\"}");
    }

    #[test]
    fn errors_and_empty_answers_fail_the_dry_run() {
        let q = DryQuery {
            field: "spec.gates[1].query".into(),
            query: "up".into(),
            on_no_data: "Hold".into(),
        };
        assert_eq!(judge(&q, "http://p", &Ok(vec![0.5])), None);
        let empty = judge(&q, "http://p", &Ok(vec![])).unwrap();
        assert_eq!(empty.field, "spec.gates[1].query");
        assert!(empty.message.contains("no data"), "{}", empty.message);
        assert!(
            empty
                .message
                .contains("onNoData: Hold, so the release would wait"),
            "the warning says what this gate's policy does: {}",
            empty.message
        );
        assert!(judge(&q, "http://p", &Ok(vec![f64::NAN])).is_some());
        let bad = Err(QueryError::BadQuery {
            message: "parse error".into(),
        });
        assert_eq!(
            judge(&q, "http://p", &bad).unwrap().message,
            "dry run against http://p: Prometheus rejected the query: parse error"
        );
    }
}

//! Alert gates: a team's existing Prometheus alerting rules guard its releases. The gate asks
//! for the `ALERTS` series Prometheus keeps for every firing alert, matched on the labels the
//! gate names (values templated and escaped like any query's), and fails while one fires.

use std::collections::BTreeMap;

use super::judge::{Judgement, Measurement};
use super::lexer::escape_string;
use crate::api::Verdict;

/// Labels an alert gate may not name: rollgate sets `alertstate` itself.
const RESERVED: &str = "alertstate";

/// Why `labels` cannot select alerts, if they cannot.
pub fn invalid(labels: &BTreeMap<String, String>) -> Option<String> {
    if labels.is_empty() {
        return Some("an alert gate needs at least one label, e.g. alertname".into());
    }
    for name in labels.keys() {
        let mut chars = name.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Some(format!(
                "{name:?} is not a label name (letters, digits and underscores, not starting with a digit)"
            ));
        }
        if name == RESERVED {
            return Some("alertstate is set by rollgate (only firing alerts count)".into());
        }
    }
    None
}

/// The query template: the labels as exact matchers on `ALERTS`. Each value becomes a
/// double-quoted string, so its placeholders are rendered and escaped like any gate query's.
pub fn query(labels: &BTreeMap<String, String>) -> String {
    let matchers: Vec<String> = labels
        .iter()
        .map(|(name, value)| format!("{name}=\"{}\"", escape_string(value)))
        .collect();
    format!("ALERTS{{alertstate=\"firing\",{}}}", matchers.join(","))
}

/// Fails while any matching alert fires; no series is the healthy answer, not missing data.
pub fn judge(measurement: &Measurement) -> Judgement {
    let (verdict, value, message) = match measurement {
        Err(e) => (Verdict::Error, None, format!("query failed: {e}")),
        Ok(firing) if firing.is_empty() => (
            Verdict::Pass,
            Some(0.0),
            "no matching alert is firing".to_string(),
        ),
        Ok(firing) => (
            Verdict::Fail,
            Some(firing.len() as f64),
            format!(
                "{} matching alert{} firing",
                firing.len(),
                if firing.len() == 1 { " is" } else { "s are" }
            ),
        ),
    };
    Judgement {
        verdict,
        value,
        stable_value: None,
        threshold: Some("no firing alert".into()),
        message,
        evidence: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::{TemplateVars, check, render};

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_query_matches_firing_alerts_on_escaped_templated_labels() {
        let l = labels(&[("alertname", "HighErrors"), ("namespace", "{{namespace}}")]);
        let q = query(&l);
        assert_eq!(
            q,
            r#"ALERTS{alertstate="firing",alertname="HighErrors",namespace="{{namespace}}"}"#
        );
        check(&q).unwrap();
        let vars = TemplateVars {
            namespace: "a\"b",
            ..TemplateVars::default()
        };
        assert_eq!(
            render(&q, &vars).unwrap(),
            r#"ALERTS{alertstate="firing",alertname="HighErrors",namespace="a\"b"}"#
        );
        // A value cannot close the matcher: it is a string literal, whatever it holds.
        let sneaky = query(&labels(&[("alertname", "x\"} or vector(1) #")]));
        check(&sneaky).unwrap();
        assert!(
            sneaky.contains(r#"alertname="x\"} or vector(1) #""#),
            "{sneaky}"
        );
    }

    #[test]
    fn labels_must_be_label_names_and_not_alertstate() {
        assert!(invalid(&labels(&[("alertname", "x")])).is_none());
        assert!(invalid(&labels(&[])).is_some());
        assert!(invalid(&labels(&[("1a", "x")])).is_some());
        assert!(invalid(&labels(&[("a-b", "x")])).is_some());
        assert!(invalid(&labels(&[("alertstate", "pending")])).is_some());
    }

    #[test]
    fn firing_alerts_fail_and_none_passes() {
        assert_eq!(judge(&Ok(vec![])).verdict, Verdict::Pass);
        let j = judge(&Ok(vec![1.0, 1.0]));
        assert_eq!((j.verdict, j.value), (Verdict::Fail, Some(2.0)));
        assert_eq!(j.message, "2 matching alerts are firing");
        assert_eq!(judge(&Err("down".into())).verdict, Verdict::Error);
    }
}

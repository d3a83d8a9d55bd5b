//! What the controller checks before it runs a Rollout the API server accepted: the same
//! [`crate::plan::spec::validate`] it calls, with the same query template check, plus one
//! mistake only a person can fix that would otherwise pass silently. A Release gets the
//! hub's checks the same way.

use serde_json::Value;

use super::Finding;
use crate::api::{ReleaseSpec, RolloutSpec};
use crate::gates::{Placeholder, placeholders};

pub fn check(doc: &Value) -> Vec<Finding> {
    let spec: RolloutSpec = match serde_json::from_value(doc["spec"].clone()) {
        Ok(spec) => spec,
        Err(e) => return vec![Finding::new("spec", e.to_string())],
    };
    if let Err(e) =
        crate::plan::spec::validate(&spec, |q| crate::gates::check(q).map_err(|e| e.to_string()))
    {
        return vec![Finding::new(&e.field, e.message)];
    }
    let mut findings = Vec::new();
    let tells_tracks_apart = |query: &str| {
        placeholders(query)
            .unwrap_or_default()
            .iter()
            .any(|p| matches!(p, Placeholder::Track | Placeholder::Revision))
    };
    for (i, gate) in spec.gates.iter().enumerate() {
        if let Some(k) = &gate.kayenta {
            for (j, m) in k.metrics.iter().enumerate() {
                if !tells_tracks_apart(&m.query) {
                    findings.push(Finding::new(
                        &format!("spec.gates[{i}].kayenta.metrics[{j}].query"),
                        "a Kayenta metric must select its track, e.g. rollgate_track=\"{{track}}\": otherwise canary and stable read the same series and it always passes",
                    ));
                }
            }
            continue;
        }
        if let Some(s) = &gate.sequential {
            for (field, selector) in [("errors", &s.errors), ("requests", &s.requests)] {
                let used = placeholders(selector).unwrap_or_default();
                if !used
                    .iter()
                    .any(|p| matches!(p, Placeholder::Track | Placeholder::Revision))
                {
                    findings.push(Finding::new(
                        &format!("spec.gates[{i}].sequential.{field}"),
                        "a sequential gate counts each track apart: select it with rollgate_track=\"{{track}}\" (or the label your tracks carry), otherwise canary and stable count the same requests and a regression can never show",
                    ));
                }
            }
            continue;
        }
        let kind = match (&gate.compare, &gate.msprt) {
            (Some(_), _) => "a compare",
            (None, Some(_)) => "an msprt",
            (None, None) => continue,
        };
        if !tells_tracks_apart(&gate.query) {
            findings.push(Finding::new(
                &format!("spec.gates[{i}].query"),
                format!("{kind} gate must select its track, e.g. rollgate_track=\"{{{{track}}}}\" or revision=\"{{{{revision}}}}\": otherwise canary and stable read the same series and it always passes"),
            ));
        }
    }
    findings
}

/// What the hub checks before it runs a Release: [`crate::waves::validate`].
pub fn check_release(doc: &Value) -> Vec<Finding> {
    let spec: ReleaseSpec = match serde_json::from_value(doc["spec"].clone()) {
        Ok(spec) => spec,
        Err(e) => return vec![Finding::new("spec", e.to_string())],
    };
    match crate::waves::validate(&spec) {
        Ok(()) => vec![],
        Err(e) => vec![Finding::new(&e.field, e.message)],
    }
}

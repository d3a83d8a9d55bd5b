//! rollgate's own record of a revision: the pod template a track ran, kept in a
//! ControllerRevision owned by the Rollout (as StatefulSets and DaemonSets keep theirs).
//!
//! The record outlives the tracks, so a deleted or hand-edited track is restored to exactly
//! what the gates verified, and never rebuilt from the target (the unverified release). The
//! template is recorded as the API server returned it (defaults filled in), so comparing it
//! with a track read back later shows only what someone changed.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::ControllerRevision;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::clean_template;

/// Label selecting every object rollgate creates.
pub const MANAGED_BY: (&str, &str) = (crate::api::keys::MANAGED_BY, "rollgate");

/// `<rollout>-<revision>`, or a digest of it when that would exceed a name's 253 characters.
pub fn record_name(rollout: &str, revision: &str) -> String {
    let name = format!("{rollout}-{revision}");
    if name.len() <= 253 {
        return name;
    }
    let digest = hex::encode(&Sha256::digest(name.as_bytes())[..5]);
    format!("{}-{digest}-{revision}", &rollout[..200.min(rollout.len())])
}

/// The record of `revision`'s pod template (cleaned of rollgate's per-track labels).
pub fn record(
    rollout: &str,
    namespace: &str,
    revision: &str,
    template: &PodTemplateSpec,
    owner: OwnerReference,
) -> ControllerRevision {
    let data = serde_json::to_value(clean_template(template)).expect("pod templates serialize");
    ControllerRevision {
        metadata: ObjectMeta {
            name: Some(record_name(rollout, revision)),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([
                (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
                (
                    crate::api::keys::ROLLOUT.to_string(),
                    rollout_label(rollout),
                ),
                (crate::api::keys::REVISION.to_string(), revision.to_string()),
            ])),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        data: Some(RawExtension(data)),
        revision: 1,
    }
}

/// The template a record holds, if it holds one.
pub fn recorded_template(record: &ControllerRevision) -> Option<PodTemplateSpec> {
    serde_json::from_value(record.data.as_ref()?.0.clone()).ok()
}

/// Where a track's live template departs from the recorded one, as a field path
/// (`spec.containers[0].image`), or `None` when they agree.
pub fn drift(live: &PodTemplateSpec, recorded: &PodTemplateSpec) -> Option<String> {
    let as_value = |t: &PodTemplateSpec| {
        serde_json::to_value(clean_template(t)).expect("pod templates serialize")
    };
    first_difference(&as_value(recorded), &as_value(live), String::new())
}

fn first_difference(want: &Value, got: &Value, path: String) -> Option<String> {
    let at = |p: &str| {
        if p.is_empty() {
            "the template".to_string()
        } else {
            p.to_string()
        }
    };
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            let keys: std::collections::BTreeSet<&String> = w.keys().chain(g.keys()).collect();
            keys.into_iter().find_map(|k| {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match (w.get(k), g.get(k)) {
                    (Some(a), Some(b)) => first_difference(a, b, p),
                    _ => Some(p),
                }
            })
        }
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => w
            .iter()
            .zip(g)
            .enumerate()
            .find_map(|(i, (a, b))| first_difference(a, b, format!("{path}[{i}]"))),
        _ if want == got => None,
        _ => Some(at(&path)),
    }
}

/// The record label naming a Rollout: label values are at most 63 characters; longer Rollout names are shortened with a digest.
pub fn rollout_label(name: &str) -> String {
    if name.len() <= 63 {
        return name.to_string();
    }
    let digest = hex::encode(&Sha256::digest(name.as_bytes())[..5]);
    format!("{}-{digest}", &name[..52])
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec};

    fn template(image: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(BTreeMap::from([
                    ("app".to_string(), "web".to_string()),
                    (crate::api::keys::TRACK.to_string(), "canary".to_string()),
                ])),
                ..Default::default()
            }),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "app".into(),
                    image: Some(image.into()),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        }
    }

    #[test]
    fn a_record_round_trips_its_template_without_track_labels() {
        let r = record(
            "web",
            "ns",
            "abc",
            &template("a:1"),
            OwnerReference::default(),
        );
        assert_eq!(r.metadata.name.as_deref(), Some("web-abc"));
        let back = recorded_template(&r).unwrap();
        assert_eq!(back, clean_template(&template("a:1")));
        assert!(
            !back
                .metadata
                .unwrap()
                .labels
                .unwrap()
                .contains_key(crate::api::keys::TRACK)
        );
    }

    #[test]
    fn drift_names_the_edited_field_and_ignores_the_track_label() {
        let recorded = clean_template(&template("a:1"));
        let mut stable = template("a:1");
        stable
            .metadata
            .as_mut()
            .unwrap()
            .labels
            .as_mut()
            .unwrap()
            .insert(crate::api::keys::TRACK.into(), "stable".into());
        assert_eq!(drift(&stable, &recorded), None);
        assert_eq!(
            drift(&template("x:666"), &recorded).as_deref(),
            Some("spec.containers[0].image")
        );
        let mut added = template("a:1");
        added.spec.as_mut().unwrap().containers[0].env = Some(vec![EnvVar {
            name: "DEBUG".into(),
            ..Default::default()
        }]);
        assert_eq!(
            drift(&added, &recorded).as_deref(),
            Some("spec.containers[0].env")
        );
    }

    #[test]
    fn names_and_labels_stay_within_kubernetes_limits() {
        let long = "r".repeat(253);
        assert!(record_name(&long, "0123456789").len() <= 253);
        assert!(rollout_label(&long).len() <= 63);
        assert_eq!(rollout_label("web"), "web");
    }
}

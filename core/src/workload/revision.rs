//! A revision names one version of the workload: the pod template plus, later, the content of
//! the ConfigMaps and Secrets it references. Equal content gives an equal name on every run.

use k8s_openapi::api::core::v1::PodTemplateSpec;
use sha2::{Digest, Sha256};

/// The revision of a pod template and the content of the configuration it uses, as 10 hex chars.
///
/// `config` holds `(kind, name, content digest)` of every referenced ConfigMap/Secret; only
/// digests enter the hash, never values.
pub fn revision_of(template: &PodTemplateSpec, config: &[(String, String, String)]) -> String {
    let mut h = Sha256::new();
    // serde_json writes struct fields in a fixed order and maps (labels) sorted, so equal
    // templates serialize equally.
    h.update(
        serde_json::to_vec(&super::clean_template(template)).expect("pod templates serialize"),
    );
    let mut config = config.to_vec();
    config.sort();
    for (kind, name, digest) in config {
        h.update([0]);
        h.update(kind.as_bytes());
        h.update([0]);
        h.update(name.as_bytes());
        h.update([0]);
        h.update(digest.as_bytes());
    }
    hex::encode(&h.finalize()[..5])
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{Container, PodSpec};

    fn template(image: &str) -> PodTemplateSpec {
        PodTemplateSpec {
            metadata: None,
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
    fn equal_templates_have_equal_revisions_and_any_change_makes_a_new_one() {
        assert_eq!(
            revision_of(&template("a:1"), &[]),
            revision_of(&template("a:1"), &[])
        );
        assert_ne!(
            revision_of(&template("a:1"), &[]),
            revision_of(&template("a:2"), &[])
        );
        let cm = |d: &str| vec![("ConfigMap".to_string(), "cfg".to_string(), d.to_string())];
        assert_ne!(
            revision_of(&template("a:1"), &cm("x")),
            revision_of(&template("a:1"), &cm("y"))
        );
        assert_eq!(revision_of(&template("a:1"), &[]).len(), 10);
    }
}

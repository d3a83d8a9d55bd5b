//! Configuration as part of a revision: the ConfigMaps and Secrets a pod template uses, their
//! content digests, and immutable snapshots the tracks mount instead of the live objects — so
//! an edit reaches canary pods first and stable pods only at promotion (a mounted ConfigMap
//! would otherwise refresh inside running pods within a minute).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ConfigKind {
    ConfigMap,
    Secret,
}

impl ConfigKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ConfigKind::ConfigMap => "ConfigMap",
            ConfigKind::Secret => "Secret",
        }
    }
}

/// A ConfigMap or Secret a pod template refers to, by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigRef {
    pub kind: ConfigKind,
    pub name: String,
}

/// Every ConfigMap and Secret the template uses: volumes, projected volumes, envFrom and
/// env valueFrom, in containers and init containers. Sorted, without duplicates.
pub fn references(template: &PodTemplateSpec) -> Vec<ConfigRef> {
    let mut refs = vec![];
    let Some(spec) = template.spec.as_ref() else {
        return refs;
    };
    let mut add = |kind, name: &str| {
        refs.push(ConfigRef {
            kind,
            name: name.to_string(),
        })
    };
    for v in spec.volumes.iter().flatten() {
        if let Some(cm) = &v.config_map {
            add(ConfigKind::ConfigMap, &cm.name);
        }
        if let Some(name) = v.secret.as_ref().and_then(|s| s.secret_name.as_deref()) {
            add(ConfigKind::Secret, name);
        }
        for p in v.projected.iter().flat_map(|p| p.sources.iter().flatten()) {
            if let Some(cm) = &p.config_map {
                add(ConfigKind::ConfigMap, &cm.name);
            }
            if let Some(s) = &p.secret {
                add(ConfigKind::Secret, &s.name);
            }
        }
    }
    for c in containers(spec) {
        for e in c.env_from.iter().flatten() {
            if let Some(cm) = &e.config_map_ref {
                add(ConfigKind::ConfigMap, &cm.name);
            }
            if let Some(s) = &e.secret_ref {
                add(ConfigKind::Secret, &s.name);
            }
        }
        for e in c.env.iter().flatten() {
            let from = e.value_from.as_ref();
            if let Some(k) = from.and_then(|f| f.config_map_key_ref.as_ref()) {
                add(ConfigKind::ConfigMap, &k.name);
            }
            if let Some(k) = from.and_then(|f| f.secret_key_ref.as_ref()) {
                add(ConfigKind::Secret, &k.name);
            }
        }
    }
    refs.retain(|r| !r.name.is_empty());
    refs.sort();
    refs.dedup();
    refs
}

fn containers(spec: &PodSpec) -> impl Iterator<Item = &Container> {
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
}

fn containers_mut(spec: &mut PodSpec) -> impl Iterator<Item = &mut Container> {
    spec.containers
        .iter_mut()
        .chain(spec.init_containers.iter_mut().flatten())
}

/// The template with every reference renamed per `names` (live name → snapshot name).
pub fn rewrite(template: &PodTemplateSpec, names: &BTreeMap<ConfigRef, String>) -> PodTemplateSpec {
    let mut t = template.clone();
    let Some(spec) = t.spec.as_mut() else {
        return t;
    };
    let swap = |kind, name: &mut String| {
        if let Some(new) = names.get(&ConfigRef {
            kind,
            name: name.clone(),
        }) {
            *name = new.clone();
        }
    };
    for v in spec.volumes.iter_mut().flatten() {
        if let Some(cm) = v.config_map.as_mut() {
            swap(ConfigKind::ConfigMap, &mut cm.name);
        }
        if let Some(name) = v.secret.as_mut().and_then(|s| s.secret_name.as_mut()) {
            swap(ConfigKind::Secret, name);
        }
        for p in v
            .projected
            .iter_mut()
            .flat_map(|p| p.sources.iter_mut().flatten())
        {
            if let Some(cm) = p.config_map.as_mut() {
                swap(ConfigKind::ConfigMap, &mut cm.name);
            }
            if let Some(s) = p.secret.as_mut() {
                swap(ConfigKind::Secret, &mut s.name);
            }
        }
    }
    for c in containers_mut(spec) {
        for e in c.env_from.iter_mut().flatten() {
            if let Some(cm) = e.config_map_ref.as_mut() {
                swap(ConfigKind::ConfigMap, &mut cm.name);
            }
            if let Some(s) = e.secret_ref.as_mut() {
                swap(ConfigKind::Secret, &mut s.name);
            }
        }
        for e in c.env.iter_mut().flatten() {
            if let Some(f) = e.value_from.as_mut() {
                if let Some(k) = f.config_map_key_ref.as_mut() {
                    swap(ConfigKind::ConfigMap, &mut k.name);
                }
                if let Some(k) = f.secret_key_ref.as_mut() {
                    swap(ConfigKind::Secret, &mut k.name);
                }
            }
        }
    }
    t
}

/// Content of a ConfigMap (`data` and `binaryData`) or a Secret (`data`), key → bytes.
pub type Content = BTreeMap<String, Vec<u8>>;

/// A digest of content (10 hex chars): equal content, equal digest.
pub fn digest(content: &Content) -> String {
    let mut h = Sha256::new();
    for (k, v) in content {
        h.update((k.len() as u64).to_be_bytes());
        h.update(k.as_bytes());
        h.update((v.len() as u64).to_be_bytes());
        h.update(v);
    }
    hex::encode(&h.finalize()[..5])
}

/// `<name>-<digest>`, within the 253-character name limit.
pub fn snapshot_name(name: &str, digest: &str) -> String {
    let keep = 253 - digest.len() - 1;
    format!("{}-{digest}", &name[..name.len().min(keep)])
}

/// Keys added, removed or changed between two contents (names only, never values).
pub fn changed_keys(old: &Content, new: &Content) -> Vec<String> {
    let mut keys: Vec<String> = old
        .iter()
        .filter(|(k, v)| new.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .chain(new.keys().filter(|k| !old.contains_key(*k)).cloned())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template() -> PodTemplateSpec {
        serde_json::from_value(json!({
            "spec": {
                "volumes": [
                    {"name": "a", "configMap": {"name": "app-config"}},
                    {"name": "b", "secret": {"secretName": "app-secret"}},
                    {"name": "c", "projected": {"sources": [{"configMap": {"name": "extra"}}, {"secret": {"name": "tls"}}]}}
                ],
                "initContainers": [{"name": "init", "envFrom": [{"configMapRef": {"name": "init-env"}}]}],
                "containers": [{
                    "name": "app",
                    "envFrom": [{"secretRef": {"name": "env-secret"}}],
                    "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "x"}}},
                            {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "key-secret", "key": "y"}}}]
                }]
            }
        }))
        .unwrap()
    }

    #[test]
    fn every_kind_of_reference_is_found_once() {
        let names: Vec<String> = references(&template())
            .into_iter()
            .map(|r| format!("{}/{}", r.kind.as_str(), r.name))
            .collect();
        assert_eq!(
            names,
            [
                "ConfigMap/app-config",
                "ConfigMap/extra",
                "ConfigMap/init-env",
                "Secret/app-secret",
                "Secret/env-secret",
                "Secret/key-secret",
                "Secret/tls"
            ]
        );
    }

    #[test]
    fn rewriting_points_every_reference_at_its_snapshot() {
        let names: BTreeMap<ConfigRef, String> = references(&template())
            .into_iter()
            .map(|r| (r.clone(), format!("{}-snap", r.name)))
            .collect();
        let t = rewrite(&template(), &names);
        let after: Vec<String> = references(&t).into_iter().map(|r| r.name).collect();
        assert!(after.iter().all(|n| n.ends_with("-snap")), "{after:?}");
        assert_eq!(after.len(), 7);
    }

    #[test]
    fn digests_follow_content_and_changed_keys_name_only_keys() {
        let a: Content = [
            ("k".to_string(), b"1".to_vec()),
            ("same".to_string(), b"x".to_vec()),
        ]
        .into();
        let b: Content = [
            ("k".to_string(), b"2".to_vec()),
            ("same".to_string(), b"x".to_vec()),
            ("new".to_string(), vec![]),
        ]
        .into();
        assert_eq!(digest(&a), digest(&a.clone()));
        assert_ne!(digest(&a), digest(&b));
        assert_eq!(changed_keys(&a, &b), ["k", "new"]);
        assert_eq!(snapshot_name(&"n".repeat(300), "abcdef0123").len(), 253);
    }
}

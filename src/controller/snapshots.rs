//! Config snapshots: reading the ConfigMaps and Secrets a target uses (cached by
//! resourceVersion, so an unchanged object is not fetched again), creating the immutable
//! snapshots the tracks mount, telling which keys changed, and collecting old snapshots.
//! Secret values are hashed and copied, never logged or written to status.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, PodTemplateSpec, Secret};
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};

use super::{Context, Error};
use crate::api::{ConfigChange, Rollout};
use crate::workload::config::{
    ConfigKind, ConfigRef, Content, changed_keys, digest, references, snapshot_name,
};
use crate::workload::retention::{Snapshot, doomed};

/// One referenced object as read: its content digest, and the content to snapshot.
#[derive(Debug)]
pub struct Fetched {
    pub digest: String,
    pub content: Content,
    /// ConfigMap keys that came from `binaryData`; the Secret's `type`.
    pub binary_keys: BTreeSet<String>,
    pub secret_type: Option<String>,
}

type Key = (String, ConfigKind, String);

/// Which Rollouts use which config (to wake them on an edit), and what was last read.
#[derive(Default)]
pub struct ConfigCache {
    users: Mutex<HashMap<Key, BTreeSet<String>>>,
    read: Mutex<HashMap<Key, (String, Arc<Fetched>)>>,
}

impl ConfigCache {
    /// Rollouts (names in `ns`) that use `kind/name`.
    pub fn users_of(&self, ns: &str, kind: ConfigKind, name: &str) -> Vec<String> {
        let users = self.users.lock().expect("config index lock");
        users
            .get(&(ns.to_string(), kind, name.to_string()))
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default()
    }

    fn note_user(&self, ns: &str, refs: &[ConfigRef], rollout: &str) {
        let mut users = self.users.lock().expect("config index lock");
        for r in refs {
            users
                .entry((ns.to_string(), r.kind, r.name.clone()))
                .or_default()
                .insert(rollout.to_string());
        }
    }
}

/// Reads every object the template references. A missing object is left out (the pod would
/// not start without it unless optional, which is the user's call, not a rollout's).
pub async fn read(
    ctx: &Context,
    rollout: &Rollout,
    template: &PodTemplateSpec,
) -> Result<Vec<(ConfigRef, Arc<Fetched>)>, Error> {
    let ns = rollout.namespace().unwrap_or_default();
    let refs = references(template);
    ctx.config.note_user(&ns, &refs, &rollout.name_any());
    let mut out = Vec::with_capacity(refs.len());
    for r in refs {
        if let Some(f) = fetch(ctx, &ns, &r).await? {
            out.push((r, f));
        }
    }
    Ok(out)
}

async fn fetch(ctx: &Context, ns: &str, r: &ConfigRef) -> Result<Option<Arc<Fetched>>, Error> {
    let key = (ns.to_string(), r.kind, r.name.clone());
    // The metadata watch knows the current resourceVersion: unchanged objects are not fetched.
    let live_rv = match r.kind {
        ConfigKind::ConfigMap => ctx
            .config_maps
            .get(&ObjectRef::new(&r.name).within(ns))
            .and_then(|m| m.resource_version()),
        ConfigKind::Secret => ctx
            .secrets
            .get(&ObjectRef::new(&r.name).within(ns))
            .and_then(|m| m.resource_version()),
    };
    if let Some(rv) = live_rv {
        let read = ctx.config.read.lock().expect("config cache lock");
        if let Some((_, cached)) = read.get(&key).filter(|(v, _)| *v == rv) {
            return Ok(Some(cached.clone()));
        }
    }
    let (rv, fetched) = match r.kind {
        ConfigKind::ConfigMap => match Api::<ConfigMap>::namespaced(ctx.client.clone(), ns)
            .get_opt(&r.name)
            .await?
        {
            None => return Ok(None),
            Some(cm) => (
                cm.resource_version().unwrap_or_default(),
                from_config_map(cm),
            ),
        },
        ConfigKind::Secret => match super::secrets::read(ctx, ns, &r.name).await? {
            None => return Ok(None),
            Some(s) => (s.version.clone(), from_secret(&s)),
        },
    };
    let mut read = ctx.config.read.lock().expect("config cache lock");
    if let Some((_, cached)) = read.get(&key).filter(|(v, _)| *v == rv) {
        return Ok(Some(cached.clone()));
    }
    let f = Arc::new(fetched);
    read.insert(key, (rv, f.clone()));
    Ok(Some(f))
}

fn from_config_map(cm: ConfigMap) -> Fetched {
    let mut content: Content = cm
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.into_bytes()))
        .collect();
    let binary: BTreeMap<String, ByteString> = cm.binary_data.unwrap_or_default();
    let binary_keys = binary.keys().cloned().collect();
    content.extend(binary.into_iter().map(|(k, v)| (k, v.0)));
    Fetched {
        digest: digest(&content),
        content,
        binary_keys,
        secret_type: None,
    }
}

fn from_secret(s: &super::secrets::Contents) -> Fetched {
    let content: Content = s.data.clone();
    Fetched {
        digest: digest(&content),
        content,
        binary_keys: BTreeSet::new(),
        secret_type: s.type_.clone(),
    }
}

/// Live name → snapshot name, for the template rewrite.
pub fn snapshot_names(config: &[(ConfigRef, Arc<Fetched>)]) -> BTreeMap<ConfigRef, String> {
    config
        .iter()
        .map(|(r, f)| (r.clone(), snapshot_name(&r.name, &f.digest)))
        .collect()
}

/// Creates the immutable snapshots of `config` that do not exist yet.
pub async fn ensure_snapshots(
    ctx: &Context,
    rollout: &Rollout,
    config: &[(ConfigRef, Arc<Fetched>)],
) -> Result<(), Error> {
    let ns = rollout.namespace().unwrap_or_default();
    for (r, f) in config {
        let meta = ObjectMeta {
            name: Some(snapshot_name(&r.name, &f.digest)),
            namespace: Some(ns.clone()),
            labels: Some(BTreeMap::from([
                (crate::api::keys::SNAPSHOT_OF.to_string(), r.name.clone()),
                (crate::api::keys::ROLLOUT.to_string(), rollout.name_any()),
            ])),
            owner_references: rollout.controller_owner_ref(&()).map(|mut o| {
                o.controller = Some(false);
                vec![o]
            }),
            ..Default::default()
        };
        let created = match r.kind {
            ConfigKind::ConfigMap => {
                let (binary, text): (Vec<_>, Vec<_>) = f
                    .content
                    .iter()
                    .partition(|(k, _)| f.binary_keys.contains(*k));
                let cm = ConfigMap {
                    metadata: meta,
                    immutable: Some(true),
                    data: Some(
                        text.into_iter()
                            .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
                            .collect(),
                    ),
                    binary_data: Some(
                        binary
                            .into_iter()
                            .map(|(k, v)| (k.clone(), ByteString(v.clone())))
                            .collect(),
                    ),
                };
                Api::<ConfigMap>::namespaced(ctx.client.clone(), &ns)
                    .create(&PostParams::default(), &cm)
                    .await
                    .map(|_| ())
            }
            ConfigKind::Secret => {
                let s = Secret {
                    metadata: meta,
                    immutable: Some(true),
                    data: Some(
                        f.content
                            .iter()
                            .map(|(k, v)| (k.clone(), ByteString(v.clone())))
                            .collect(),
                    ),
                    type_: f.secret_type.clone(),
                    string_data: None,
                };
                Api::<Secret>::namespaced(ctx.client.clone(), &ns)
                    .create(&PostParams::default(), &s)
                    .await
                    .map(|_| ())
            }
        };
        match created {
            Ok(()) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// What differs between the config the stable track mounts and `desired`: object names and
/// changed key names (never values).
pub async fn changes(
    ctx: &Context,
    ns: &str,
    stable: Option<&PodTemplateSpec>,
    desired: &[(ConfigRef, Arc<Fetched>)],
) -> Result<Vec<ConfigChange>, Error> {
    let stable_refs = stable.map(references).unwrap_or_default();
    let mut out = vec![];
    for (r, f) in desired {
        let wanted = snapshot_name(&r.name, &f.digest);
        let prefix = format!("{}-", r.name);
        let old = stable_refs.iter().find(|s| {
            s.kind == r.kind && s.name.starts_with(&prefix) && s.name.len() == wanted.len()
        });
        match old {
            Some(o) if o.name == wanted => {}
            Some(o) => {
                let before = fetch(ctx, ns, o)
                    .await?
                    .map(|f| f.content.clone())
                    .unwrap_or_default();
                out.push(ConfigChange {
                    kind: r.kind.as_str().into(),
                    name: r.name.clone(),
                    keys: changed_keys(&before, &f.content),
                });
            }
            // Newly referenced: every key is new.
            None if stable.is_some() => out.push(ConfigChange {
                kind: r.kind.as_str().into(),
                name: r.name.clone(),
                keys: f.content.keys().cloned().collect(),
            }),
            None => {}
        }
    }
    Ok(out)
}

/// Deletes the snapshots `workload::retention` dooms.
pub async fn collect_garbage(
    ctx: &Context,
    rollout: &Rollout,
    in_use: &BTreeSet<String>,
) -> Result<(), Error> {
    let ns = rollout.namespace().unwrap_or_default();
    let name = rollout.name_any();
    // The metadata caches hold every snapshot's labels: no LIST per canary start and end. One
    // the cache has not seen yet is new, so it is not garbage; one already gone gives a 404.
    let cms = Api::<ConfigMap>::namespaced(ctx.client.clone(), &ns);
    for doomed in doomed(snapshots_of(&ctx.config_maps, &ns, &name), in_use) {
        delete(&cms, &doomed).await?;
    }
    let secrets = Api::<Secret>::namespaced(ctx.client.clone(), &ns);
    for doomed in doomed(snapshots_of(&ctx.secrets, &ns, &name), in_use) {
        delete(&secrets, &doomed).await?;
    }
    Ok(())
}

/// A Rollout's snapshots, from a metadata cache.
fn snapshots_of<K>(
    cache: &kube::runtime::reflector::Store<kube::core::PartialObjectMeta<K>>,
    ns: &str,
    rollout: &str,
) -> Vec<Snapshot>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    cache
        .state()
        .iter()
        .filter(|m| {
            m.metadata.namespace.as_deref() == Some(ns)
                && m.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(crate::api::keys::ROLLOUT))
                    .is_some_and(|r| r == rollout)
        })
        .map(|m| Snapshot {
            name: m.metadata.name.clone().unwrap_or_default(),
            of: m
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(crate::api::keys::SNAPSHOT_OF))
                .cloned()
                .unwrap_or_default(),
            created: m.metadata.creation_timestamp.as_ref().map(|t| t.0),
        })
        .collect()
}

async fn delete<K>(api: &Api<K>, name: &str) -> Result<(), Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

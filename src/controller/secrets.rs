//! The one edge for Secret contents: Prometheus credentials, channel credentials and config
//! snapshots all read Secrets here. The metadata watch knows each Secret's resourceVersion, so
//! contents are read once per version and then served from memory: a gate round or a delivery
//! attempt costs no API call. Only Secrets that a Rollout or a channel names are ever read.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};

use super::Context;

/// A Secret's contents at one version. Its `Debug` names the keys, never a value.
pub struct Contents {
    pub version: String,
    pub type_: Option<String>,
    pub data: BTreeMap<String, Vec<u8>>,
}

impl std::fmt::Debug for Contents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contents")
            .field("version", &self.version)
            .field("keys", &self.data.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Contents read so far, by (namespace, name), with the version they were read at.
#[derive(Default)]
pub struct SecretCache {
    read: Mutex<HashMap<(String, String), Arc<Contents>>>,
}

/// The Secret `namespace/name` as it is now; `None` when it does not exist.
pub async fn read(
    ctx: &Context,
    namespace: &str,
    name: &str,
) -> Result<Option<Arc<Contents>>, kube::Error> {
    let key = (namespace.to_string(), name.to_string());
    let live = ctx
        .secrets
        .get(&ObjectRef::new(name).within(namespace))
        .and_then(|m| m.resource_version());
    if let Some(version) = &live {
        let read = ctx.secret_contents.read.lock().expect("secret cache lock");
        if let Some(c) = read.get(&key).filter(|c| c.version == *version) {
            return Ok(Some(c.clone()));
        }
    }
    let fetched = Api::<Secret>::namespaced(ctx.client.clone(), namespace)
        .get_opt(name)
        .await?;
    let mut read = ctx.secret_contents.read.lock().expect("secret cache lock");
    let Some(secret) = fetched else {
        read.remove(&key);
        return Ok(None);
    };
    let contents = Arc::new(Contents {
        version: secret.resource_version().unwrap_or_default(),
        type_: secret.type_,
        data: secret
            .data
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0))
            .collect(),
    });
    read.insert(key, contents.clone());
    Ok(Some(contents))
}

//! A namespace per test: uniquely named, deleted when the test ends, and
//! described in full on stderr when the test panics.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, ObjectMeta, PostParams};
use kube::{Api, Client};

use crate::{PlatformEnv, PlatformError, dump};

/// A namespace created for one test.
pub struct TestNamespace {
    pub name: String,
    env: PlatformEnv,
    client: Client,
    custom_resources: Vec<String>,
    deleted: bool,
}

impl TestNamespace {
    /// Creates `<prefix>-<random>` (the prefix is made DNS-safe and shortened).
    pub async fn create(env: &PlatformEnv, prefix: &str) -> Result<TestNamespace, PlatformError> {
        let client = env.try_client().await?;
        let name = unique_name(prefix);
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let namespace = Namespace {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some([("rollgate.dev/test".to_string(), "true".to_string())].into()),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .map_err(|e| PlatformError::kube(format!("creating namespace {name}"), e))?;
        Ok(TestNamespace {
            name,
            env: env.clone(),
            client,
            custom_resources: Vec::new(),
            deleted: false,
        })
    }

    /// An admin client (created with the namespace).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Also lists this namespaced custom resource in [`TestNamespace::dump`];
    /// `resource` is `<plural>.<group>`, e.g. `rollouts.rollgate.dev`.
    pub fn dump_also(&mut self, resource: &str) -> &mut Self {
        self.custom_resources.push(resource.to_string());
        self
    }

    /// What the namespace looks like: deployments, replicasets, pods (labels,
    /// images, readiness), events, and the custom resources named with
    /// [`TestNamespace::dump_also`].
    pub async fn dump(&self) -> String {
        dump::namespace(&self.client, &self.name, &self.custom_resources).await
    }

    /// Deletes the namespace (and its exporter series) now.
    pub async fn cleanup(mut self) {
        self.deleted = true;
        delete(&self.client, &self.env, &self.name).await;
    }
}

impl std::fmt::Debug for TestNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestNamespace")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        if self.deleted {
            return;
        }
        let panicking = std::thread::panicking();
        let env = self.env.clone();
        let name = self.name.clone();
        let custom = self.custom_resources.clone();
        // The test's runtime may be shutting down: use a thread of our own with
        // a fresh client, and wait for it so the work is done when drop returns.
        let worker = std::thread::spawn(move || -> Option<String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let client = env.try_client().await.ok()?;
                let dump = if panicking {
                    Some(dump::namespace(&client, &name, &custom).await)
                } else {
                    None
                };
                delete(&client, &env, &name).await;
                dump
            })
        });
        // Printed from the test's thread, so the harness shows it with the failure.
        if let Ok(Some(dump)) = worker.join() {
            eprintln!("{dump}");
        }
    }
}

async fn delete(client: &Client, env: &PlatformEnv, name: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if let Err(e) = namespaces.delete(name, &DeleteParams::default()).await {
        let not_found = matches!(&e, kube::Error::Api(s) if s.code == 404);
        if !not_found {
            eprintln!("rollgate-platform: deleting namespace {name}: {e}");
        }
    }
    if !env.exporter_url.is_empty() {
        let _ = env.exporter().clear_namespace(name).await;
    }
}

fn unique_name(prefix: &str) -> String {
    let mut clean: String = prefix
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    clean.truncate(40);
    let clean = clean.trim_matches('-');
    let clean = if clean.is_empty() { "test" } else { clean };
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    format!("{clean}-{:08x}", hasher.finish() as u32)
}

#[cfg(test)]
mod tests {
    use super::unique_name;

    #[test]
    fn names_are_dns_labels_with_a_random_suffix() {
        let name = unique_name("Canary_Rollout::fails fast and then some more words here");
        assert!(name.len() <= 63, "{name}");
        assert!(name.starts_with("canary-rollout--fails-fast"), "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
        assert_ne!(unique_name("x"), unique_name("x"));
    }

    #[test]
    fn an_unusable_prefix_still_gives_a_name() {
        assert!(unique_name("__").starts_with("test-"));
    }
}

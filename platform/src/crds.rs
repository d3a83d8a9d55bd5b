//! Installing CustomResourceDefinitions from YAML and waiting until the apiserver
//! serves them: the Gateway API's on the platform, rollgate's own on a member
//! cluster.

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::ApiResource;
use serde::Deserialize;

use crate::PlatformError;

const FIELD_MANAGER: &str = "rollgate-platform";
const ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(60);

/// Applies every CRD in the YAML file at `path` (for rollgate's,
/// `crds/rollgate.dev.yaml`) and waits until each is established and its
/// resources can be listed. Idempotent (server-side apply).
pub async fn install_crd_file(client: &kube::Client, path: &Path) -> Result<(), PlatformError> {
    let crds = parse_file(path)?;
    if crds.is_empty() {
        return Err(PlatformError::invalid(
            format!("installing the CRDs of {}", path.display()),
            "no CustomResourceDefinition in it",
        ));
    }
    apply(client, &crds).await
}

/// Applies `crds` and waits until they are established and served.
pub(crate) async fn apply(
    client: &kube::Client,
    crds: &[CustomResourceDefinition],
) -> Result<(), PlatformError> {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    for crd in crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &apply, &Patch::Apply(crd))
            .await
            .map_err(|e| PlatformError::kube(format!("applying the CRD {name}"), e))?;
    }
    for crd in crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        let established = kube::runtime::wait::conditions::is_crd_established();
        let wait = kube::runtime::wait::await_condition(api.clone(), &name, established);
        match tokio::time::timeout(ESTABLISHED_TIMEOUT, wait).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return Err(PlatformError::invalid(
                    format!("waiting for the CRD {name}"),
                    e,
                ));
            }
            Err(_) => {
                return Err(PlatformError::invalid(
                    format!("waiting for the CRD {name}"),
                    format!("not established within {ESTABLISHED_TIMEOUT:?}"),
                ));
            }
        }
    }
    wait_served(client, crds).await
}

/// Waits until every CRD's resource can be listed: a caller that finds the CRDs
/// established by a concurrent test's install checks that the resources are served too,
/// rather than trusting a condition written by another controller.
pub(crate) async fn wait_served(
    client: &kube::Client,
    crds: &[CustomResourceDefinition],
) -> Result<(), PlatformError> {
    for crd in crds {
        let spec = &crd.spec;
        let Some(version) = spec.versions.iter().find(|v| v.served) else {
            continue;
        };
        let resource = ApiResource {
            group: spec.group.clone(),
            version: version.name.clone(),
            api_version: format!("{}/{}", spec.group, version.name),
            kind: spec.names.kind.clone(),
            plural: spec.names.plural.clone(),
        };
        let api = Api::<DynamicObject>::all_with(client.clone(), &resource);
        let started = Instant::now();
        loop {
            match api.list(&ListParams::default().limit(1)).await {
                Ok(_) => break,
                Err(e) if started.elapsed() > ESTABLISHED_TIMEOUT => {
                    return Err(PlatformError::kube(
                        format!("listing {} after its CRD was established", resource.plural),
                        e,
                    ));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
    Ok(())
}

/// The CRDs of one YAML file (other kinds in it are an error).
pub(crate) fn parse_file(file: &Path) -> Result<Vec<CustomResourceDefinition>, PlatformError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| PlatformError::io(format!("reading {}", file.display()), e))?;
    let mut crds = Vec::new();
    for document in serde_norway::Deserializer::from_str(&text) {
        let value = serde_norway::Value::deserialize(document)
            .map_err(|e| PlatformError::invalid(format!("parsing {}", file.display()), e))?;
        if value.is_null() {
            continue;
        }
        let crd: CustomResourceDefinition = serde_norway::from_value(value)
            .map_err(|e| PlatformError::invalid(format!("parsing {}", file.display()), e))?;
        crds.push(crd);
    }
    Ok(crds)
}

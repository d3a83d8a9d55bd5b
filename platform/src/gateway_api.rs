//! The Gateway API's standard-channel CRDs (HTTPRoute, GRPCRoute, Gateway, ...), from the
//! pinned `sigs.k8s.io/gateway-api` Go module (`hack/platform/gateway-api/fetch.sh`),
//! installed so the apiserver validates routes with their schemas and CEL rules. No
//! Gateway implementation runs: a test writes a route's parent status itself.

use std::path::Path;
use std::time::{Duration, Instant};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::core::ApiResource;
use serde::Deserialize;

use crate::PlatformError;

const FIELD_MANAGER: &str = "rollgate-platform";
const ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(60);

/// The pinned release, as its CRDs' `gateway.networking.k8s.io/bundle-version` says.
pub const BUNDLE_VERSION_ANNOTATION: &str = "gateway.networking.k8s.io/bundle-version";

/// Installs every standard-channel CRD (server-side apply) and waits until the apiserver
/// serves them all. Idempotent and safe to call from concurrent tests: once they are all
/// established at the pinned release, it only reads. Tests that need Gateway API types
/// call it (the platform does not install them at start: they add ~2 s, see
/// docs/PLATFORM.md).
pub async fn install(client: &kube::Client) -> Result<(), PlatformError> {
    let dir = tokio::task::spawn_blocking(crate::binaries::gateway_api_crds)
        .await
        .map_err(|e| PlatformError::Build(e.to_string()))??;
    let crds = read_crds(&dir)?;
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    if all_established(&api, &crds).await? {
        return wait_served(client, &crds).await;
    }
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    for crd in &crds {
        let name = crd.metadata.name.clone().unwrap_or_default();
        api.patch(&name, &apply, &Patch::Apply(crd))
            .await
            .map_err(|e| PlatformError::kube(format!("applying the CRD {name}"), e))?;
    }
    for crd in &crds {
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
    wait_served(client, &crds).await
}

/// Waits until every CRD's resource can be listed: a caller that finds the CRDs
/// established by a concurrent test's install checks that the resources are served too,
/// rather than trusting a condition written by another controller.
async fn wait_served(
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

/// Whether every CRD is there, established, at the same release.
async fn all_established(
    api: &Api<CustomResourceDefinition>,
    crds: &[CustomResourceDefinition],
) -> Result<bool, PlatformError> {
    let installed = api
        .list(&Default::default())
        .await
        .map_err(|e| PlatformError::kube("listing CRDs", e))?;
    let release = |crd: &CustomResourceDefinition| {
        let annotations = crd.metadata.annotations.as_ref();
        annotations.and_then(|a| a.get(BUNDLE_VERSION_ANNOTATION).cloned())
    };
    let established = |crd: &CustomResourceDefinition| {
        let conditions = crd.status.as_ref().and_then(|s| s.conditions.as_ref());
        conditions.is_some_and(|c| {
            c.iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        })
    };
    Ok(crds.iter().all(|wanted| {
        installed.items.iter().any(|crd| {
            crd.metadata.name == wanted.metadata.name
                && release(crd) == release(wanted)
                && established(crd)
        })
    }))
}

/// The CRDs of every `*.yaml` in `dir`.
fn read_crds(dir: &Path) -> Result<Vec<CustomResourceDefinition>, PlatformError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| PlatformError::io(format!("reading {}", dir.display()), e))?;
    let mut files: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    let mut crds = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| PlatformError::io(format!("reading {}", file.display()), e))?;
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
    }
    if crds.is_empty() {
        return Err(PlatformError::invalid(
            "installing the Gateway API",
            format!("no CRDs in {}", dir.display()),
        ));
    }
    Ok(crds)
}

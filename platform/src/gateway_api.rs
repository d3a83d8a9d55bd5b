//! The Gateway API's standard-channel CRDs (HTTPRoute, GRPCRoute, Gateway, ...), from the
//! pinned `sigs.k8s.io/gateway-api` Go module (`hack/platform/gateway-api/fetch.sh`),
//! installed so the apiserver validates routes with their schemas and CEL rules. No
//! Gateway implementation runs: a test writes a route's parent status itself.

use std::path::Path;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::Api;

use crate::PlatformError;

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
        return crate::crds::wait_served(client, &crds).await;
    }
    crate::crds::apply(client, &crds).await
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
        crds.extend(crate::crds::parse_file(&file)?);
    }
    if crds.is_empty() {
        return Err(PlatformError::invalid(
            "installing the Gateway API",
            format!("no CRDs in {}", dir.display()),
        ));
    }
    Ok(crds)
}

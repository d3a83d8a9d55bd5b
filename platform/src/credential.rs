//! Least-privilege credentials for a cluster, the way a hub registers a member
//! (as Argo CD does): a ServiceAccount bound by a Role from an RBAC manifest, a
//! real token minted with the TokenRequest API (`serviceaccounts/token`), and a
//! kubeconfig carrying the server URL, the cluster's CA and that token, which a
//! hub reads from a Secret.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, DynamicObject, ObjectMeta, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use serde::Deserialize;

use crate::kubeconfig::{self, Credentials};
use crate::{PlatformEnv, PlatformError};

const FIELD_MANAGER: &str = "rollgate-platform";

/// Where a cluster is and whom to trust there: what a credential's kubeconfig
/// needs besides the token.
#[derive(Clone, Debug)]
pub struct ClusterEndpoint {
    /// Names the kubeconfig's cluster and context.
    pub name: String,
    /// `https://127.0.0.1:<port>`.
    pub server: String,
    /// The cluster's CA certificate, PEM.
    pub ca_pem: String,
}

impl ClusterEndpoint {
    /// The shared platform's endpoint (the hub, when it is a member too).
    pub fn of_platform(env: &PlatformEnv, name: &str) -> Result<ClusterEndpoint, PlatformError> {
        let config = kube::config::Kubeconfig::read_from(&env.kubeconfig).map_err(|e| {
            PlatformError::invalid(format!("reading {}", env.kubeconfig.display()), e)
        })?;
        let cluster = config
            .clusters
            .first()
            .and_then(|c| c.cluster.as_ref())
            .and_then(|c| c.certificate_authority.clone())
            .ok_or_else(|| {
                PlatformError::invalid(
                    format!("reading {}", env.kubeconfig.display()),
                    "no certificate-authority file",
                )
            })?;
        let ca_pem = std::fs::read_to_string(&cluster)
            .map_err(|e| PlatformError::io(format!("reading {cluster}"), e))?;
        Ok(ClusterEndpoint {
            name: name.to_string(),
            server: env.apiserver_url.clone(),
            ca_pem,
        })
    }
}

/// Which identity to create, with which rights, for how long.
#[derive(Clone, Debug)]
pub struct CredentialRequest<'a> {
    /// The namespace of the ServiceAccount, and of every namespaced object in
    /// the manifest that names none.
    pub namespace: &'a str,
    /// The ServiceAccount to create (if missing) and mint a token for.
    pub service_account: &'a str,
    /// A YAML manifest (Roles, RoleBindings, ...) applied with server-side
    /// apply. `{{namespace}}` and `{{serviceAccount}}` in it are replaced by the
    /// two fields above, so one manifest serves any test namespace (a
    /// RoleBinding's ServiceAccount subject must name its namespace).
    pub rbac_manifest: &'a Path,
    /// The token's lifetime (default 1 h; the apiserver's minimum is 10 min).
    pub expiration: Duration,
}

impl<'a> CredentialRequest<'a> {
    pub fn new(
        namespace: &'a str,
        service_account: &'a str,
        rbac_manifest: &'a Path,
    ) -> CredentialRequest<'a> {
        CredentialRequest {
            namespace,
            service_account,
            rbac_manifest,
            expiration: Duration::from_secs(3600),
        }
    }
}

/// A minted credential: the ServiceAccount's token and a kubeconfig using it.
#[derive(Clone, Debug)]
pub struct ServiceAccountCredential {
    pub namespace: String,
    pub service_account: String,
    /// The bearer token (a JWT signed by the cluster's service-account key).
    pub token: String,
    /// Server URL, CA data and the token; context namespace is `namespace`.
    pub kubeconfig_yaml: String,
}

impl ServiceAccountCredential {
    /// A client that authenticates with the token only.
    pub async fn client(&self) -> Result<kube::Client, PlatformError> {
        kubeconfig::client_from_yaml(&self.kubeconfig_yaml).await
    }
}

/// Creates the ServiceAccount, applies the RBAC manifest, mints a token for the
/// ServiceAccount with the TokenRequest API and renders a kubeconfig for it.
/// `admin` must be allowed to do all of that on the cluster at `cluster`.
pub async fn mint_credential(
    admin: &kube::Client,
    cluster: &ClusterEndpoint,
    request: &CredentialRequest<'_>,
) -> Result<ServiceAccountCredential, PlatformError> {
    let (namespace, name) = (request.namespace, request.service_account);
    let service_accounts: Api<ServiceAccount> = Api::namespaced(admin.clone(), namespace);
    let account = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    let mut apply_value = serde_json::to_value(&account).expect("a ServiceAccount serializes");
    apply_value["apiVersion"] = "v1".into();
    apply_value["kind"] = "ServiceAccount".into();
    service_accounts
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&apply_value),
        )
        .await
        .map_err(|e| {
            PlatformError::kube(format!("applying ServiceAccount {namespace}/{name}"), e)
        })?;
    apply_manifest(admin, request).await?;

    let token_request = TokenRequest {
        spec: Some(TokenRequestSpec {
            // No audiences: the apiserver's own (its issuer), so it accepts the token.
            audiences: None,
            expiration_seconds: Some(request.expiration.as_secs() as i64),
            ..TokenRequestSpec::default()
        }),
        ..TokenRequest::default()
    };
    let minted = service_accounts
        .create_token_request(name, &PostParams::default(), &token_request)
        .await
        .map_err(|e| {
            PlatformError::kube(format!("requesting a token for {namespace}/{name}"), e)
        })?;
    let token = minted
        .status
        .and_then(|s| s.token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            PlatformError::invalid(
                format!("requesting a token for {namespace}/{name}"),
                "the TokenRequest came back without a token",
            )
        })?;
    let user = format!("system:serviceaccount:{namespace}:{name}");
    let kubeconfig_yaml = kubeconfig::embedded(
        &cluster.name,
        &cluster.server,
        &cluster.ca_pem,
        &user,
        Credentials::Token(&token),
        namespace,
    )?;
    Ok(ServiceAccountCredential {
        namespace: namespace.to_string(),
        service_account: name.to_string(),
        token,
        kubeconfig_yaml,
    })
}

/// Server-side applies every object of the request's manifest, resolving each
/// kind with discovery (so any kind the cluster serves works).
async fn apply_manifest(
    admin: &kube::Client,
    request: &CredentialRequest<'_>,
) -> Result<(), PlatformError> {
    let path = request.rbac_manifest;
    let context = || format!("applying {}", path.display());
    let text = std::fs::read_to_string(path)
        .map_err(|e| PlatformError::io(format!("reading {}", path.display()), e))?
        .replace("{{namespace}}", request.namespace)
        .replace("{{serviceAccount}}", request.service_account);
    for document in serde_norway::Deserializer::from_str(&text) {
        let value = serde_norway::Value::deserialize(document)
            .map_err(|e| PlatformError::invalid(context(), e))?;
        if value.is_null() {
            continue;
        }
        let object: DynamicObject =
            serde_norway::from_value(value).map_err(|e| PlatformError::invalid(context(), e))?;
        let types = object.types.as_ref().ok_or_else(|| {
            PlatformError::invalid(context(), "an object without apiVersion/kind")
        })?;
        let gvk =
            GroupVersionKind::try_from(types).map_err(|e| PlatformError::invalid(context(), e))?;
        let (resource, capabilities) =
            kube::discovery::pinned_kind(admin, &gvk)
                .await
                .map_err(|e| {
                    PlatformError::kube(format!("{}: discovering {}", context(), gvk.kind), e)
                })?;
        let api: Api<DynamicObject> = match capabilities.scope {
            Scope::Namespaced => {
                let namespace = object
                    .metadata
                    .namespace
                    .as_deref()
                    .unwrap_or(request.namespace);
                Api::namespaced_with(admin.clone(), namespace, &resource)
            }
            Scope::Cluster => Api::all_with(admin.clone(), &resource),
        };
        let name = object.metadata.name.clone().unwrap_or_default();
        api.patch(
            &name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&object),
        )
        .await
        .map_err(|e| PlatformError::kube(format!("{}: {} {name}", context(), gvk.kind), e))?;
    }
    Ok(())
}

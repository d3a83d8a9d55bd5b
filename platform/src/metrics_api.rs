//! The external metrics API (`external.metrics.k8s.io/v1beta1`) that the HPA controller
//! reads: prometheus-adapter, a local process, serving every gauge of the exporter's
//! gauges job from the platform's Prometheus, registered with an APIService.
//!
//! The aggregator reaches an APIService through its Service, and Endpoints may not hold
//! loopback IPs; so the Service is an `ExternalName` for `localhost`, which the aggregator
//! resolves to `https://localhost:<APIService port>` (no kube-proxy, no cluster IP). It
//! verifies the adapter's certificate for `<service>.<namespace>.svc` against the
//! APIService's `caBundle`, and presents the front-proxy client certificate, which the
//! adapter trusts (request-header authentication) before asking the apiserver whether the
//! named user may read the metric (delegated authorization).

use std::path::Path;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Service, ServiceSpec};
use k8s_openapi::api::rbac::v1::{ClusterRoleBinding, RoleRef, Subject};
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::{
    APIService, APIServiceSpec, ServiceReference,
};
use kube::api::{Api, ObjectMeta, Patch, PatchParams};

use crate::PlatformError;
use crate::certs::{ClusterCerts, FRONT_PROXY_CLIENT};
use crate::processes::{Process, args, free_port};
use crate::work_dir::WorkDir;

pub(crate) const NAME: &str = "prometheus-adapter";
/// The adapter's user name towards the apiserver.
pub(crate) const USER: &str = "rollgate-metrics-adapter";
const NAMESPACE: &str = "kube-system";
const SERVICE: &str = "rollgate-metrics-adapter";
/// The name the aggregator verifies the adapter's certificate for.
pub(crate) const SERVING_NAME: &str = "rollgate-metrics-adapter.kube-system.svc";
/// The Prometheus job of the exporter's gauges: the adapter serves exactly its series.
pub(crate) const GAUGES_JOB: &str = "rollgate-gauges";
const API_SERVICE: &str = "v1beta1.external.metrics.k8s.io";
const FIELD_MANAGER: &str = "rollgate-platform";

/// Every gauge is an external metric of its own name, one item per series, in the
/// namespace of its `namespace` label (an HPA's `metric.selector` narrows by labels).
const CONFIG: &str = r#"externalRules:
- seriesQuery: '{job="JOB",namespace!=""}'
  resources:
    overrides:
      namespace: {resource: namespace}
  metricsQuery: '<<.Series>>{<<.LabelMatchers>>}'
"#;

/// Starts prometheus-adapter against `prometheus_url`; returns it and its port.
pub(crate) fn spawn(
    work: &WorkDir,
    certs: &ClusterCerts,
    kubeconfig: &Path,
    prometheus_url: &str,
) -> Result<(Process, u16), PlatformError> {
    let port = free_port()?;
    let config = work.file("prometheus-adapter.yaml");
    std::fs::write(&config, CONFIG.replace("JOB", GAUGES_JOB))
        .map_err(|e| PlatformError::io("writing the prometheus-adapter config", e))?;
    let kubeconfig = kubeconfig.display();
    let process = Process::spawn(
        NAME,
        &crate::binaries::prometheus_adapter()?,
        args([
            format!("--prometheus-url={prometheus_url}"),
            format!("--config={}", config.display()),
            // New gauges (names) become metrics only at a relist: relist every second. A
            // series is listed while it had a sample in the last max-age.
            "--metrics-relist-interval=1s".to_string(),
            "--metrics-max-age=10s".to_string(),
            "--bind-address=127.0.0.1".to_string(),
            format!("--secure-port={port}"),
            format!(
                "--tls-cert-file={}",
                certs.metrics_adapter_serving.cert.display()
            ),
            format!(
                "--tls-private-key-file={}",
                certs.metrics_adapter_serving.key.display()
            ),
            format!("--lister-kubeconfig={kubeconfig}"),
            format!("--authentication-kubeconfig={kubeconfig}"),
            format!("--authorization-kubeconfig={kubeconfig}"),
            // The request-header settings the apiserver has, given directly instead of read
            // from kube-system/extension-apiserver-authentication (one Role fewer).
            "--authentication-skip-lookup".to_string(),
            format!("--client-ca-file={}", certs.ca.cert.display()),
            format!("--requestheader-client-ca-file={}", certs.ca.cert.display()),
            format!("--requestheader-allowed-names={FRONT_PROXY_CLIENT}"),
            "--requestheader-username-headers=X-Remote-User".to_string(),
            "--requestheader-group-headers=X-Remote-Group".to_string(),
            "--requestheader-extra-headers-prefix=X-Remote-Extra-".to_string(),
        ]),
        work.log(NAME),
    )?;
    Ok((process, port))
}

/// Lets the adapter review tokens and access (`system:auth-delegator`) and registers it
/// as `external.metrics.k8s.io` through an `ExternalName` Service for `localhost`.
pub(crate) async fn register(
    client: &kube::Client,
    port: u16,
    certs: &ClusterCerts,
) -> Result<(), PlatformError> {
    let ca = std::fs::read(&certs.ca.cert)
        .map_err(|e| PlatformError::io("reading the cluster CA", e))?;
    let apply = PatchParams::apply(FIELD_MANAGER).force();
    let binding = ClusterRoleBinding {
        metadata: ObjectMeta {
            name: Some(format!("{USER}:auth-delegator")),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".to_string()),
            kind: "ClusterRole".to_string(),
            name: "system:auth-delegator".to_string(),
        },
        subjects: Some(vec![Subject {
            api_group: Some("rbac.authorization.k8s.io".to_string()),
            kind: "User".to_string(),
            name: USER.to_string(),
            namespace: None,
        }]),
    };
    let service = Service {
        metadata: ObjectMeta {
            name: Some(SERVICE.to_string()),
            namespace: Some(NAMESPACE.to_string()),
            ..ObjectMeta::default()
        },
        spec: Some(ServiceSpec {
            type_: Some("ExternalName".to_string()),
            external_name: Some("localhost".to_string()),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };
    let api_service = APIService {
        metadata: ObjectMeta {
            name: Some(API_SERVICE.to_string()),
            ..ObjectMeta::default()
        },
        spec: Some(APIServiceSpec {
            group: Some("external.metrics.k8s.io".to_string()),
            version: Some("v1beta1".to_string()),
            service: Some(ServiceReference {
                namespace: Some(NAMESPACE.to_string()),
                name: Some(SERVICE.to_string()),
                port: Some(i32::from(port)),
            }),
            ca_bundle: Some(ByteString(ca)),
            group_priority_minimum: 100,
            version_priority: 100,
            insecure_skip_tls_verify: None,
        }),
        status: None,
    };
    let context = |what: &str| format!("registering the external metrics API: {what}");
    Api::<ClusterRoleBinding>::all(client.clone())
        .patch(
            &format!("{USER}:auth-delegator"),
            &apply,
            &Patch::Apply(binding),
        )
        .await
        .map_err(|e| PlatformError::kube(context("ClusterRoleBinding"), e))?;
    Api::<Service>::namespaced(client.clone(), NAMESPACE)
        .patch(SERVICE, &apply, &Patch::Apply(service))
        .await
        .map_err(|e| PlatformError::kube(context("Service"), e))?;
    Api::<APIService>::all(client.clone())
        .patch(API_SERVICE, &apply, &Patch::Apply(api_service))
        .await
        .map_err(|e| PlatformError::kube(context("APIService"), e))?;
    Ok(())
}

/// Ready when the aggregator reports the APIService `Available`.
pub(crate) async fn probe(client: &kube::Client) -> Result<(), String> {
    let api_service = Api::<APIService>::all(client.clone())
        .get(API_SERVICE)
        .await
        .map_err(|e| e.to_string())?;
    let conditions = api_service
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default();
    match conditions.iter().find(|c| c.type_ == "Available") {
        Some(c) if c.status == "True" => Ok(()),
        Some(c) => Err(format!(
            "APIService {API_SERVICE} not available: {} {}",
            c.reason.as_deref().unwrap_or_default(),
            c.message.as_deref().unwrap_or_default()
        )),
        None => Err(format!(
            "APIService {API_SERVICE} has no Available condition"
        )),
    }
}

/// The values (Kubernetes quantities, e.g. `"40"`, `"2500m"`) the external metrics API
/// serves for `name` in `namespace`, one per series: what an HPA's `External` metric sees.
pub async fn external_metric(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Vec<String>, PlatformError> {
    let path = format!("/apis/external.metrics.k8s.io/v1beta1/namespaces/{namespace}/{name}");
    let request = http::Request::get(&path)
        .body(Vec::new())
        .map_err(|e| PlatformError::invalid(format!("GET {path}"), e))?;
    let list: serde_json::Value = client
        .request(request)
        .await
        .map_err(|e| PlatformError::kube(format!("GET {path}"), e))?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    Ok(items
        .iter()
        .filter_map(|item| item["value"].as_str().map(str::to_string))
        .collect())
}

use futures::channel::mpsc;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::reflector::Store;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::core::PartialObjectMeta;

use super::admission::{Caps, Reservations};
use super::config::ConfigCache;
use crate::api::{Freeze, Incident, Rollout};
use crate::gates::PrometheusPool;

/// What the controller is told at start.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Prometheus used by Rollouts that name none.
    pub prometheus_url: Option<String>,
    /// Watch one namespace only (all when `None`).
    pub namespace: Option<String>,
    /// This replica's identity, for Events.
    pub instance: Option<String>,
    /// IncidentChannel (`namespace/name`) every incident also goes to.
    pub default_channel: Option<String>,
    /// Most Rollouts in a canary phase at once.
    pub caps: Caps,
}

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub settings: Settings,
    pub deployments: Store<Deployment>,
    pub prometheus: PrometheusPool,
    pub recorder: Recorder,
    /// HTTP client for incident destinations (ring rustls provider).
    pub http: reqwest::Client,
    /// Wakes the incident reconcile of an Incident the rollout reconcile opened or touched.
    pub incident_trigger: mpsc::Sender<ObjectRef<Incident>>,
    /// Who uses which ConfigMap/Secret, and their last read content.
    pub config: std::sync::Arc<ConfigCache>,
    /// Metadata of ConfigMaps and Secrets (resourceVersions), from the config watches.
    pub config_maps: Store<PartialObjectMeta<ConfigMap>>,
    pub secrets: Store<PartialObjectMeta<Secret>>,
    pub rollouts: Store<Rollout>,
    pub freezes: Store<Freeze>,
    /// Canary slots granted moments ago; held while a slot is being decided.
    pub admission: tokio::sync::Mutex<Reservations>,
    pub metrics: std::sync::Arc<super::metrics::Metrics>,
}

/// The caches `run` builds before the context.
pub struct Stores {
    pub rollouts: Store<Rollout>,
    pub freezes: Store<Freeze>,
    pub deployments: Store<Deployment>,
    pub config: std::sync::Arc<ConfigCache>,
    pub config_maps: Store<PartialObjectMeta<ConfigMap>>,
    pub secrets: Store<PartialObjectMeta<Secret>>,
}

impl Context {
    pub fn new(
        client: Client,
        settings: Settings,
        stores: Stores,
        incident_trigger: mpsc::Sender<ObjectRef<Incident>>,
        metrics: std::sync::Arc<super::metrics::Metrics>,
    ) -> Self {
        let reporter = Reporter {
            controller: "rollgate".into(),
            instance: settings.instance.clone(),
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        Self {
            http: reqwest::Client::builder()
                .build()
                .expect("an HTTP client with the installed rustls provider"),
            incident_trigger,
            recorder: Recorder::new(client.clone(), reporter),
            client,
            settings,
            deployments: stores.deployments,
            config: stores.config,
            config_maps: stores.config_maps,
            secrets: stores.secrets,
            rollouts: stores.rollouts,
            freezes: stores.freezes,
            admission: Default::default(),
            metrics,
            prometheus: PrometheusPool::default(),
        }
    }
}

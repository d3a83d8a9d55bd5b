use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::Store;

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
}

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub settings: Settings,
    pub deployments: Store<Deployment>,
    pub prometheus: PrometheusPool,
    pub recorder: Recorder,
}

impl Context {
    pub fn new(client: Client, settings: Settings, deployments: Store<Deployment>) -> Self {
        let reporter = Reporter {
            controller: "rollgate".into(),
            instance: settings.instance.clone(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            settings,
            deployments,
            prometheus: PrometheusPool::default(),
        }
    }
}

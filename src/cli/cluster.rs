//! Connecting to the cluster of the kubeconfig (or in-cluster) and picking the namespace.

use kube::config::{Config, KubeConfigOptions};
use kube::{Api, Client, Resource};

use super::{CliError, Scope};

pub struct Cluster {
    pub client: Client,
    /// `-n`, else the context's namespace, else `default`.
    pub namespace: String,
}

impl Cluster {
    pub async fn connect(scope: &Scope) -> Result<Cluster, CliError> {
        let config = match &scope.context {
            Some(context) => Config::from_kubeconfig(&KubeConfigOptions {
                context: Some(context.clone()),
                ..KubeConfigOptions::default()
            })
            .await
            .map_err(|e| CliError::Config(e.to_string()))?,
            None => Config::infer()
                .await
                .map_err(|e| CliError::Config(e.to_string()))?,
        };
        let namespace = scope
            .namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        let client = Client::try_from(config).map_err(|e| CliError::Config(e.to_string()))?;
        Ok(Cluster { client, namespace })
    }

    /// The namespaced API of `K` in the chosen namespace.
    pub fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Every namespace's, or the chosen one's.
    pub fn api_in<K>(&self, all_namespaces: bool) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>,
        K::DynamicType: Default,
    {
        if all_namespaces {
            Api::all(self.client.clone())
        } else {
            self.api()
        }
    }
}

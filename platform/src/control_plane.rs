//! The pieces of one Kubernetes control plane, started in dependency order:
//! etcd, kube-apiserver, then the workload side (controller manager, scheduler,
//! KWOK and its nodes). The shared [`crate::Platform`] and every
//! [`crate::MemberCluster`] are built from these same steps.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::ServiceAccount;
use kube::Api;

use crate::certs::ClusterCerts;
use crate::processes::Process;
use crate::readiness::{get_ok, http_client, insecure_client, wait_until};
use crate::work_dir::WorkDir;
use crate::{PlatformError, apiserver, controller_manager, etcd, kubeconfig, kwok, scheduler};

const ETCD_TIMEOUT: Duration = Duration::from_secs(30);
pub(crate) const APISERVER_TIMEOUT: Duration = Duration::from_secs(90);
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(90);

/// What the workload side runs.
#[derive(Clone, Debug)]
pub(crate) struct Workloads {
    /// KWOK nodes to register.
    pub(crate) nodes: usize,
    /// Pod capacity of each node.
    pub(crate) node_pods: u32,
    /// The controller manager's `--controllers` (empty: its defaults).
    pub(crate) controllers: &'static [&'static str],
}

/// One control plane's binaries, files and PKI.
pub(crate) struct ControlPlane<'a> {
    pub(crate) bin_dir: &'a Path,
    pub(crate) work: &'a WorkDir,
    pub(crate) certs: &'a ClusterCerts,
}

impl ControlPlane<'_> {
    /// Starts etcd and waits until it is healthy; returns its client URL.
    pub(crate) async fn start_etcd(
        &self,
        processes: &mut Vec<Process>,
    ) -> Result<String, PlatformError> {
        let (process, url) = etcd::spawn(self.bin_dir, self.work)?;
        processes.push(process);
        let http = http_client();
        wait_until(processes, etcd::NAME, ETCD_TIMEOUT, || {
            etcd::probe(&http, &url)
        })
        .await?;
        Ok(url)
    }

    /// Starts kube-apiserver on etcd and waits until `/readyz` passes; returns
    /// its URL (the process is the last of `processes`).
    pub(crate) async fn start_apiserver(
        &self,
        processes: &mut Vec<Process>,
        etcd_url: &str,
    ) -> Result<String, PlatformError> {
        let (process, url) = apiserver::spawn(self.bin_dir, self.work, self.certs, etcd_url)?;
        processes.push(process);
        self.wait_apiserver(processes, &url).await?;
        Ok(url)
    }

    /// Waits until the apiserver at `url` passes `/readyz`, failing early if
    /// any of `processes` exits.
    pub(crate) async fn wait_apiserver(
        &self,
        processes: &mut [Process],
        url: &str,
    ) -> Result<(), PlatformError> {
        let https = apiserver::https_client(self.certs)?;
        wait_until(processes, apiserver::NAME, APISERVER_TIMEOUT, || {
            apiserver::probe(&https, url)
        })
        .await
    }

    /// Starts the controller manager, the scheduler and KWOK with its nodes, and
    /// waits until pods can run: both answer `/healthz`, every node is Ready
    /// without not-ready taints, and `default/default` (a pod's ServiceAccount)
    /// exists.
    pub(crate) async fn start_workloads(
        &self,
        processes: &mut Vec<Process>,
        apiserver_url: &str,
        admin_kubeconfig: &Path,
        workloads: &Workloads,
    ) -> Result<(), PlatformError> {
        let (work, certs) = (self.work, self.certs);
        let kcm_config = kubeconfig::write(
            &work.file("controller-manager.kubeconfig"),
            apiserver_url,
            &certs.ca.cert,
            "system:kube-controller-manager",
            &certs.controller_manager,
        )?;
        let scheduler_config = kubeconfig::write(
            &work.file("scheduler.kubeconfig"),
            apiserver_url,
            &certs.ca.cert,
            "system:kube-scheduler",
            &certs.scheduler,
        )?;
        let (process, kcm_health) = controller_manager::spawn(
            self.bin_dir,
            work,
            certs,
            &kcm_config,
            workloads.controllers,
        )?;
        processes.push(process);
        let (process, scheduler_health) = scheduler::spawn(self.bin_dir, work, &scheduler_config)?;
        processes.push(process);
        processes.push(kwok::spawn(
            self.bin_dir,
            work,
            admin_kubeconfig,
            workloads.node_pods,
        )?);
        let client = kubeconfig::client(admin_kubeconfig).await?;
        kwok::create_nodes(&client, workloads.nodes).await?;

        let insecure = insecure_client();
        wait_until(
            processes,
            controller_manager::NAME,
            CLUSTER_TIMEOUT,
            || async { get_ok(&insecure, &kcm_health).await.map(drop) },
        )
        .await?;
        wait_until(processes, scheduler::NAME, CLUSTER_TIMEOUT, || async {
            get_ok(&insecure, &scheduler_health).await.map(drop)
        })
        .await?;
        wait_until(processes, kwok::NAME, CLUSTER_TIMEOUT, || {
            kwok::probe_nodes(&client, workloads.nodes)
        })
        .await?;
        // Pods can be created once the namespace's default ServiceAccount exists.
        let service_accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), "default");
        wait_until(
            processes,
            controller_manager::NAME,
            CLUSTER_TIMEOUT,
            || async {
                match service_accounts.get_opt("default").await {
                    Ok(Some(_)) => Ok(()),
                    Ok(None) => Err("no default ServiceAccount in default yet".to_string()),
                    Err(e) => Err(e.to_string()),
                }
            },
        )
        .await
    }
}

//! A further, complete Kubernetes control plane that a test starts for itself:
//! a member cluster of a multi-cluster release. It has its own etcd,
//! kube-apiserver, controller manager, scheduler and KWOK node, its own PKI
//! and work dir, built from the same steps as the shared platform
//! ([`crate::control_plane`]) with the binaries of its `bin_dir`.
//!
//! It runs only what a member needs for Deployments to get Ready pods: no
//! Prometheus, Alertmanager, exporter or metrics API (a member's rollgate asks
//! the platform's Prometheus, whose series are labelled by namespace), one node,
//! and only the controllers workloads and namespaces need.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::certs::{ADMIN_USER, ClusterCerts};
use crate::control_plane::{ControlPlane, Workloads};
use crate::credential::{ClusterEndpoint, CredentialRequest, ServiceAccountCredential};
use crate::kubeconfig::{self, Credentials};
use crate::platform::STOP_GRACE;
use crate::processes::{Process, stop_all};
use crate::work_dir::{self, WorkDir};
use crate::{PlatformEnv, PlatformError};

/// The controllers a member runs: Deployments → ReplicaSets → Pods, owner
/// garbage collection, namespace deletion, the `default` ServiceAccount, and
/// node lifecycle (it lifts the `not-ready` taint the apiserver puts on every
/// new node). Starting only these keeps the controller manager's start short.
const MEMBER_CONTROLLERS: &[&str] = &[
    "deployment-controller",
    "replicaset-controller",
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "node-lifecycle-controller",
];

/// What a member runs.
#[derive(Clone, Debug)]
pub struct MemberOptions {
    /// KWOK nodes (default 1: a node holds 1000 pods, and each node costs
    /// kwok heartbeats).
    pub nodes: usize,
    /// Pod capacity of each node (default 1000).
    pub node_pods: u32,
}

impl Default for MemberOptions {
    fn default() -> Self {
        MemberOptions {
            nodes: 1,
            node_pods: 1000,
        }
    }
}

/// A running member cluster. Dropping it (or [`MemberCluster::shutdown`])
/// kills its processes and removes its work dir; its processes also die with
/// the test process, even a `SIGKILL`ed one.
#[derive(Debug)]
pub struct MemberCluster {
    name: String,
    apiserver_url: String,
    kubeconfig: PathBuf,
    kubeconfig_yaml: String,
    ca_pem: String,
    bin_dir: PathBuf,
    certs: ClusterCerts,
    work: WorkDir,
    /// In start order; `apiserver` indexes the kube-apiserver.
    processes: Vec<Process>,
    apiserver: usize,
    work_dir: Option<TempDir>,
    timings: Vec<(&'static str, Duration)>,
}

impl MemberCluster {
    /// Starts a member named `name` (a DNS label; it names the kubeconfig's
    /// cluster and context) with the platform's binaries and
    /// [`MemberOptions::default`]; returns once pods can run on it.
    pub async fn start(env: &PlatformEnv, name: &str) -> Result<MemberCluster, PlatformError> {
        MemberCluster::start_with(&env.bin_dir, name, MemberOptions::default()).await
    }

    /// Starts a member with the binaries of `bin_dir`.
    pub async fn start_with(
        bin_dir: &Path,
        name: &str,
        options: MemberOptions,
    ) -> Result<MemberCluster, PlatformError> {
        crate::install_crypto_provider();
        let started = Instant::now();
        crate::binaries::check_control_plane(bin_dir)?;
        work_dir::remove_stale(&std::env::temp_dir());
        let dir = tempfile::Builder::new()
            .prefix(&format!("{}member-{name}-", work_dir::PREFIX))
            .tempdir()
            .map_err(|e| PlatformError::io("creating a member's work dir", e))?;
        let work = WorkDir::new(dir.path())?;
        let certs = ClusterCerts::generate(&work.dir("certs")?)?;
        let ca_pem = read(&certs.ca.cert)?;
        let mut member = MemberCluster {
            name: name.to_string(),
            apiserver_url: String::new(),
            kubeconfig: work.file("kubeconfig"),
            kubeconfig_yaml: String::new(),
            ca_pem,
            bin_dir: bin_dir.to_path_buf(),
            certs,
            work,
            processes: Vec::new(),
            apiserver: 0,
            work_dir: Some(dir),
            timings: Vec::new(),
        };
        match member.boot(&options, started).await {
            Ok(()) => {
                tracing::info!(member = name, started_in = ?member.started_in(), "member cluster ready");
                Ok(member)
            }
            Err(e) => {
                // Keep the logs of a failed start for whoever reads the error.
                if let Some(dir) = member.work_dir.take() {
                    eprintln!(
                        "rollgate-platform: member {name} failed to start; logs kept in {}",
                        dir.keep().join("logs").display()
                    );
                }
                Err(e)
            }
        }
    }

    async fn boot(
        &mut self,
        options: &MemberOptions,
        started: Instant,
    ) -> Result<(), PlatformError> {
        let control_plane = ControlPlane {
            bin_dir: &self.bin_dir,
            work: &self.work,
            certs: &self.certs,
        };
        let etcd_url = control_plane.start_etcd(&mut self.processes).await?;
        self.timings.push(("etcd", started.elapsed()));
        self.apiserver_url = control_plane
            .start_apiserver(&mut self.processes, &etcd_url)
            .await?;
        self.apiserver = self.processes.len() - 1;
        self.timings.push(("kube-apiserver", started.elapsed()));
        // Embedded, so the file can be copied into a Secret or read by any process.
        self.kubeconfig_yaml = kubeconfig::embedded(
            &self.name,
            &self.apiserver_url,
            &self.ca_pem,
            ADMIN_USER,
            Credentials::ClientCert {
                cert_pem: &read(&self.certs.admin.cert)?,
                key_pem: &read(&self.certs.admin.key)?,
            },
            "default",
        )?;
        std::fs::write(&self.kubeconfig, &self.kubeconfig_yaml)
            .map_err(|e| PlatformError::io(format!("writing {}", self.kubeconfig.display()), e))?;
        let workloads = Workloads {
            nodes: options.nodes,
            node_pods: options.node_pods,
            controllers: MEMBER_CONTROLLERS,
        };
        control_plane
            .start_workloads(
                &mut self.processes,
                &self.apiserver_url,
                &self.kubeconfig,
                &workloads,
            )
            .await?;
        self.timings.push(("cluster", started.elapsed()));
        Ok(())
    }

    /// The name it was started with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `https://127.0.0.1:<port>`; the same across apiserver restarts.
    pub fn apiserver_url(&self) -> &str {
        &self.apiserver_url
    }

    /// The admin (`system:masters`) kubeconfig file, self-contained.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The admin kubeconfig as YAML (what the file holds), e.g. for a hub's
    /// cluster Secret.
    pub fn kubeconfig_yaml(&self) -> &str {
        &self.kubeconfig_yaml
    }

    /// The member's own CA certificate, PEM: the only root its apiserver's
    /// certificate verifies against.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Its name, URL and CA: what a credential's kubeconfig needs besides the token.
    pub fn endpoint(&self) -> ClusterEndpoint {
        ClusterEndpoint {
            name: self.name.clone(),
            server: self.apiserver_url.clone(),
            ca_pem: self.ca_pem.clone(),
        }
    }

    /// A least-privilege credential on this member (see [`crate::mint_credential`]).
    pub async fn mint_credential(
        &self,
        request: &CredentialRequest<'_>,
    ) -> Result<ServiceAccountCredential, PlatformError> {
        crate::mint_credential(&self.client().await?, &self.endpoint(), request).await
    }

    /// An admin client.
    pub async fn client(&self) -> Result<kube::Client, PlatformError> {
        kubeconfig::client_from_yaml(&self.kubeconfig_yaml).await
    }

    /// The member's work dir; `logs/<process>.log` are its processes' logs.
    pub fn work_dir(&self) -> &Path {
        self.work.root()
    }

    /// How long [`MemberCluster::start`] took until pods could run.
    pub fn started_in(&self) -> Duration {
        self.timings.last().map_or(Duration::ZERO, |(_, at)| *at)
    }

    /// Time from start until each phase was usable, cumulative: `etcd`,
    /// `kube-apiserver`, `cluster` (pods can run).
    pub fn startup_timings(&self) -> &[(&'static str, Duration)] {
        &self.timings
    }

    /// Kills the kube-apiserver with `SIGKILL` (an outage: clients get
    /// connection refused); etcd and the rest keep running.
    pub fn kill_apiserver(&mut self) {
        self.processes[self.apiserver].kill();
    }

    /// Starts the kube-apiserver again, on the same port with the same etcd
    /// data and certificates, and waits until it is ready.
    pub async fn start_apiserver(&mut self) -> Result<(), PlatformError> {
        self.processes[self.apiserver].restart().await?;
        let control_plane = ControlPlane {
            bin_dir: &self.bin_dir,
            work: &self.work,
            certs: &self.certs,
        };
        control_plane
            .wait_apiserver(&mut self.processes, &self.apiserver_url)
            .await
    }

    /// Whether the kube-apiserver process runs (not whether it is ready).
    pub fn apiserver_running(&mut self) -> bool {
        self.processes[self.apiserver].check_running().is_ok()
    }

    /// Fails (quoting its log) if any process of the member has exited.
    pub fn check_running(&mut self) -> Result<(), PlatformError> {
        self.processes
            .iter_mut()
            .try_for_each(Process::check_running)
    }

    /// The ids of its running processes.
    pub fn pids(&self) -> Vec<u32> {
        self.processes.iter().filter_map(Process::pid).collect()
    }

    /// Installs the CRDs of a YAML file (rollgate's: `crds/rollgate.dev.yaml`)
    /// and waits until they are served.
    pub async fn install_crds(&self, path: &Path) -> Result<(), PlatformError> {
        crate::crds::install_crd_file(&self.client().await?, path).await
    }

    /// Stops everything and removes the work dir (what dropping does, without
    /// blocking the async runtime).
    pub async fn shutdown(self) {
        let _ = tokio::task::spawn_blocking(move || drop(self)).await;
    }
}

impl Drop for MemberCluster {
    fn drop(&mut self) {
        stop_all(&mut self.processes, STOP_GRACE);
        self.processes.clear();
        if let Some(dir) = self.work_dir.take() {
            let path = dir.path().to_path_buf();
            if let Err(e) = dir.close() {
                eprintln!("rollgate-platform: removing {}: {e}", path.display());
            }
        }
    }
}

fn read(path: &Path) -> Result<String, PlatformError> {
    std::fs::read_to_string(path)
        .map_err(|e| PlatformError::io(format!("reading {}", path.display()), e))
}

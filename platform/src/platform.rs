//! Bringing the whole platform up in dependency order, and down again.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::certs::{ADMIN_USER, ClusterCerts};
use crate::control_plane::{ControlPlane, Workloads};
use crate::exporter::Exporter;
use crate::processes::{Process, stop_all};
use crate::prometheus::PrometheusServer;
use crate::readiness::{get_ok, http_client, wait_until};
use crate::work_dir::{self, WorkDir};
use crate::{
    PlatformEnv, PlatformError, alertmanager, binaries, gateway_api, kubeconfig, metrics_api,
};

const CLUSTER_TIMEOUT: Duration = Duration::from_secs(90);
const MONITORING_TIMEOUT: Duration = Duration::from_secs(30);
/// How long processes get to exit on SIGTERM before SIGKILL at teardown: all
/// data is thrown away, and etcd alone would take ~3 s to shut down cleanly.
pub(crate) const STOP_GRACE: Duration = Duration::from_millis(500);

/// What to start.
#[derive(Clone, Debug)]
pub struct PlatformOptions {
    /// Start kube-controller-manager, kube-scheduler and KWOK, so Deployments get Ready pods
    /// (default true). Without them the platform is etcd and kube-apiserver only: a cluster of
    /// its own for tests that change cluster-wide objects, such as CRDs, started in seconds.
    pub workloads: bool,
    /// KWOK nodes to register (default 3; none without `workloads`).
    pub nodes: usize,
    /// Pod capacity of each node (default 1000).
    pub node_pods: u32,
    /// Start Prometheus scraping the exporter (default true).
    pub prometheus: bool,
    /// Start Alertmanager, with Prometheus sending to it (default true).
    pub alertmanager: bool,
    /// Serve the external metrics API (prometheus-adapter) from the exporter's gauges, for
    /// the HPA controller (default true; needs `workloads` and `prometheus`).
    pub metrics_api: bool,
    /// Install the Gateway API's standard-channel CRDs at start (default false: they add
    /// ~2 s; tests that need them call [`crate::gateway_api::install`]).
    pub gateway_api: bool,
}

impl Default for PlatformOptions {
    fn default() -> Self {
        PlatformOptions {
            workloads: true,
            nodes: 3,
            node_pods: 1000,
            prometheus: true,
            alertmanager: true,
            metrics_api: true,
            gateway_api: false,
        }
    }
}

/// A running platform. Owns every child process and the temporary work dir;
/// dropping it kills the processes and removes the dir.
#[derive(Debug)]
pub struct Platform {
    env: PlatformEnv,
    /// Control-plane and Alertmanager processes, in start order.
    processes: Vec<Process>,
    prometheus: Option<PrometheusServer>,
    exporter: Option<Exporter>,
    work_dir: Option<TempDir>,
    timings: Vec<(&'static str, Duration)>,
}

impl Platform {
    /// Starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
    /// kwok with `nodes` Ready nodes, the test exporter, and (as asked)
    /// Alertmanager and Prometheus; returns once all of them are usable.
    pub async fn start(options: PlatformOptions) -> Result<Platform, PlatformError> {
        crate::install_crypto_provider();
        let started = Instant::now();
        let bin_dir = tokio::task::spawn_blocking(binaries::control_plane_bin_dir)
            .await
            .map_err(|e| PlatformError::Build(e.to_string()))??;
        binaries::check_control_plane(&bin_dir)?;
        work_dir::remove_stale(&std::env::temp_dir());
        let work_dir = tempfile::Builder::new()
            .prefix(work_dir::PREFIX)
            .tempdir()
            .map_err(|e| PlatformError::io("creating the work dir", e))?;
        let mut platform = Platform {
            env: PlatformEnv {
                kubeconfig: work_dir.path().join("kubeconfig"),
                apiserver_url: String::new(),
                prometheus_url: String::new(),
                alertmanager_url: String::new(),
                exporter_url: String::new(),
                bin_dir,
                work_dir: work_dir.path().to_path_buf(),
            },
            processes: Vec::new(),
            prometheus: None,
            exporter: None,
            work_dir: Some(work_dir),
            timings: vec![("binaries", started.elapsed())],
        };
        match platform.boot(&options, started).await {
            Ok(()) => Ok(platform),
            Err(e) => {
                // Keep the logs of a failed start for whoever reads the error.
                if let Some(dir) = platform.work_dir.take() {
                    eprintln!(
                        "rollgate-platform: start failed; logs kept in {}",
                        dir.keep().join("logs").display()
                    );
                }
                Err(e)
            }
        }
    }

    async fn boot(
        &mut self,
        options: &PlatformOptions,
        started: Instant,
    ) -> Result<(), PlatformError> {
        let work = WorkDir::new(&self.env.work_dir)?;
        let bin_dir = self.env.bin_dir.clone();
        let http = http_client();

        // Monitoring does not depend on the cluster: start it first, check it last.
        let exporter = Exporter::start()?;
        self.env.exporter_url = exporter.url().to_string();
        let exporter_target = exporter.target().to_string();
        self.exporter = Some(exporter);
        let mut alertmanager_target = None;
        if options.alertmanager {
            let (process, url) = alertmanager::spawn(&work)?;
            self.processes.push(process);
            alertmanager_target = Some(url.trim_start_matches("http://").to_string());
            self.env.alertmanager_url = url;
        }
        if options.prometheus {
            let prometheus = PrometheusServer::spawn(
                work.root(),
                std::slice::from_ref(&exporter_target),
                Some(&exporter_target),
                alertmanager_target.as_deref(),
                None,
            )?;
            self.env.prometheus_url = prometheus.url();
            self.prometheus = Some(prometheus);
        }

        let certs = ClusterCerts::generate(&work.dir("certs")?)?;
        let control_plane = ControlPlane {
            bin_dir: &bin_dir,
            work: &work,
            certs: &certs,
        };
        let etcd_url = control_plane.start_etcd(&mut self.processes).await?;
        self.mark("etcd", started);

        let apiserver_url = control_plane
            .start_apiserver(&mut self.processes, &etcd_url)
            .await?;
        self.env.apiserver_url = apiserver_url.clone();
        let admin = kubeconfig::write(
            &self.env.kubeconfig,
            &apiserver_url,
            &certs.ca.cert,
            ADMIN_USER,
            &certs.admin,
        )?;
        self.mark("kube-apiserver", started);

        let admin_client = kubeconfig::client(&admin).await?;
        // CRDs install while the controllers start (the apiserver is idle then).
        let gateway_api = options.gateway_api.then(|| {
            let client = admin_client.clone();
            tokio::spawn(async move { gateway_api::install(&client).await })
        });
        let metrics_api = options.metrics_api && options.workloads && options.prometheus;
        if metrics_api {
            let adapter_config = kubeconfig::write(
                &work.file("prometheus-adapter.kubeconfig"),
                &apiserver_url,
                &certs.ca.cert,
                metrics_api::USER,
                &certs.metrics_adapter_client,
            )?;
            let (process, port) =
                metrics_api::spawn(&work, &certs, &adapter_config, &self.env.prometheus_url)?;
            self.processes.push(process);
            metrics_api::register(&admin_client, port, &certs).await?;
        }

        if options.workloads {
            let workloads = Workloads {
                nodes: options.nodes,
                node_pods: options.node_pods,
                // The shared platform runs every default controller (HPAs, Jobs, ...).
                controllers: &[],
            };
            control_plane
                .start_workloads(&mut self.processes, &apiserver_url, &admin, &workloads)
                .await?;
        }
        self.mark("cluster", started);
        if metrics_api {
            wait_until(
                &mut self.processes,
                metrics_api::NAME,
                CLUSTER_TIMEOUT,
                || metrics_api::probe(&admin_client),
            )
            .await?;
            self.mark("metrics-api", started);
        }
        if let Some(install) = gateway_api {
            install
                .await
                .map_err(|e| PlatformError::invalid("installing the Gateway API", e))??;
            self.mark("gateway-api", started);
        }

        if options.alertmanager {
            let ready = format!("{}/-/ready", self.env.alertmanager_url);
            wait_until(
                &mut self.processes,
                alertmanager::NAME,
                MONITORING_TIMEOUT,
                || async { get_ok(&http, &ready).await.map(drop) },
            )
            .await?;
        }
        if let Some(prometheus) = self.prometheus.as_mut() {
            prometheus.wait_ready().await?;
            prometheus.wait_for_targets_up(MONITORING_TIMEOUT).await?;
        }
        self.mark("monitoring", started);
        Ok(())
    }

    fn mark(&mut self, phase: &'static str, started: Instant) {
        let elapsed = started.elapsed();
        tracing::debug!(phase, ?elapsed, "platform phase ready");
        self.timings.push((phase, elapsed));
    }

    /// How to reach the platform.
    pub fn env(&self) -> &PlatformEnv {
        &self.env
    }

    /// Time from [`Platform::start`] until each phase was usable, cumulative:
    /// `binaries`, `etcd`, `kube-apiserver`, `cluster`, `monitoring`.
    pub fn startup_timings(&self) -> &[(&'static str, Duration)] {
        &self.timings
    }

    /// Fails (quoting its log) if any process of the platform has exited.
    pub fn check_running(&mut self) -> Result<(), PlatformError> {
        for process in self.processes.iter_mut() {
            process.check_running()?;
        }
        match self.prometheus.as_mut() {
            Some(prometheus) => prometheus.check_running(),
            None => Ok(()),
        }
    }

    /// The ids of all child processes still running.
    pub fn pids(&self) -> Vec<u32> {
        let prometheus = self.prometheus.as_ref().and_then(PrometheusServer::pid);
        self.processes
            .iter()
            .filter_map(Process::pid)
            .chain(prometheus)
            .collect()
    }

    /// The log file of every process, by process name.
    pub fn logs(&self) -> Vec<(String, PathBuf)> {
        let mut logs: Vec<(String, PathBuf)> = self
            .processes
            .iter()
            .map(|p| (p.name().to_string(), p.log().to_path_buf()))
            .collect();
        if let Some(prometheus) = &self.prometheus {
            logs.push((
                "prometheus".to_string(),
                prometheus.dir().join("prometheus.log"),
            ));
        }
        logs
    }

    /// Stops everything and removes the work dir (what dropping does, without
    /// blocking the async runtime).
    pub async fn shutdown(self) {
        let _ = tokio::task::spawn_blocking(move || drop(self)).await;
    }

    fn tear_down(&mut self) {
        if let Some(prometheus) = self.prometheus.take() {
            self.processes.push(prometheus.into_process());
        }
        stop_all(&mut self.processes, STOP_GRACE);
        self.processes.clear();
        self.exporter = None;
        if let Some(dir) = self.work_dir.take() {
            let path = dir.path().to_path_buf();
            if let Err(e) = dir.close() {
                eprintln!("rollgate-platform: removing {}: {e}", path.display());
            }
        }
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        self.tear_down();
    }
}

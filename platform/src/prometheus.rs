//! Debian's Prometheus, scraping every second so that a test sees a changed
//! error rate within a few seconds. A test may own one and stop/restart it
//! (same port, same data) to simulate a monitoring outage.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::PlatformError;
use crate::binaries;
use crate::processes::{Process, args, free_port};
use crate::readiness::{get_ok, http_client, wait_until};

const NAME: &str = "prometheus";
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A Prometheus process listening on a loopback port picked at start.
#[derive(Debug)]
pub struct PrometheusServer {
    process: Process,
    url: String,
    dir: PathBuf,
}

impl PrometheusServer {
    /// Starts Prometheus with its config, data and log under
    /// `work_dir/prometheus-<port>/`, scraping `scrape_targets` (`host:port`,
    /// path `/metrics`) every second. Returns once it answers `/-/ready`.
    pub async fn start(
        work_dir: &Path,
        scrape_targets: &[String],
    ) -> Result<PrometheusServer, PlatformError> {
        let mut server = Self::spawn(work_dir, scrape_targets, None, None, None)?;
        server.wait_ready().await?;
        Ok(server)
    }

    /// Like [`PrometheusServer::start`], also evaluating `rules` (a Prometheus rule file's
    /// YAML, e.g. alerting rules) every second.
    pub async fn start_with_rules(
        work_dir: &Path,
        scrape_targets: &[String],
        rules: &str,
    ) -> Result<PrometheusServer, PlatformError> {
        let mut server = Self::spawn(work_dir, scrape_targets, None, None, Some(rules))?;
        server.wait_ready().await?;
        Ok(server)
    }

    /// Starts without waiting, optionally scraping the exporter's gauges (`host:port`) and
    /// sending alerts to an Alertmanager (`host:port`).
    pub(crate) fn spawn(
        work_dir: &Path,
        scrape_targets: &[String],
        gauges: Option<&str>,
        alertmanager: Option<&str>,
        rules: Option<&str>,
    ) -> Result<PrometheusServer, PlatformError> {
        let port = free_port()?;
        let dir = work_dir.join(format!("prometheus-{port}"));
        let data = dir.join("data");
        std::fs::create_dir_all(&data)
            .map_err(|e| PlatformError::io(format!("creating {}", data.display()), e))?;
        let config = dir.join("prometheus.yml");
        let mut yaml = config_yaml(scrape_targets, gauges, alertmanager);
        if let Some(rules) = rules {
            let file = dir.join("rules.yml");
            std::fs::write(&file, rules)
                .map_err(|e| PlatformError::io("writing the Prometheus rules", e))?;
            yaml.push_str(&format!("rule_files: [\"{}\"]\n", file.display()));
        }
        std::fs::write(&config, yaml)
            .map_err(|e| PlatformError::io("writing the Prometheus config", e))?;
        let process = Process::spawn(
            NAME,
            &binaries::prometheus()?,
            args([
                format!("--config.file={}", config.display()),
                format!("--storage.tsdb.path={}", data.display()),
                format!("--web.listen-address=127.0.0.1:{port}"),
                "--storage.tsdb.retention.time=1d".to_string(),
                "--log.level=warn".to_string(),
            ]),
            dir.join("prometheus.log"),
        )?;
        Ok(PrometheusServer {
            process,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The process id while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Where its config, data and log live.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops Prometheus (SIGTERM, so the TSDB is closed cleanly); the URL then
    /// refuses connections until [`PrometheusServer::restart`].
    pub async fn stop(&mut self) {
        self.process.stop_async(Duration::from_secs(10)).await;
    }

    /// Kills Prometheus at once (SIGKILL), as a crash or a lost node would: no
    /// graceful shutdown during which it still answers queries.
    pub fn crash(&mut self) {
        self.process.kill();
    }

    /// Starts it again on the same port with the same data, waiting until ready.
    pub async fn restart(&mut self) -> Result<(), PlatformError> {
        self.process.restart().await?;
        self.wait_ready().await
    }

    pub(crate) async fn wait_ready(&mut self) -> Result<(), PlatformError> {
        let http = http_client();
        let ready = format!("{}/-/ready", self.url);
        wait_until(
            std::slice::from_mut(&mut self.process),
            NAME,
            READY_TIMEOUT,
            || get_ok(&http, &ready),
        )
        .await
        .map(drop)
    }

    /// Waits until every scrape target's last scrape succeeded.
    pub async fn wait_for_targets_up(&mut self, timeout: Duration) -> Result<(), PlatformError> {
        let http = http_client();
        let url = format!("{}/api/v1/targets", self.url);
        wait_until(
            std::slice::from_mut(&mut self.process),
            NAME,
            timeout,
            || targets_up(&http, &url),
        )
        .await
    }

    /// Fails (quoting its log) if Prometheus has exited.
    pub fn check_running(&mut self) -> Result<(), PlatformError> {
        self.process.check_running()
    }

    pub(crate) fn into_process(self) -> Process {
        self.process
    }
}

async fn targets_up(http: &reqwest::Client, url: &str) -> Result<(), String> {
    let body = get_ok(http, url).await?;
    let json: serde_json::Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    let targets = json["data"]["activeTargets"]
        .as_array()
        .ok_or_else(|| format!("no activeTargets in {body}"))?;
    if targets.is_empty() {
        return Err("no active targets yet".to_string());
    }
    match targets.iter().find(|t| t["health"] != "up") {
        None => Ok(()),
        Some(t) => Err(format!(
            "target {} is {} ({})",
            t["scrapeUrl"], t["health"], t["lastError"]
        )),
    }
}

fn config_yaml(
    scrape_targets: &[String],
    gauges: Option<&str>,
    alertmanager: Option<&str>,
) -> String {
    let targets = serde_json::to_string(scrape_targets).expect("strings serialize");
    let mut yaml = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n- job_name: rollgate\n  static_configs:\n  - targets: {targets}\n"
    );
    if let Some(gauges) = gauges {
        // Its own job: the external metrics API serves exactly this job's series.
        yaml.push_str(&format!(
            "- job_name: {}\n  metrics_path: {}\n  static_configs:\n  - targets: [\"{gauges}\"]\n",
            crate::metrics_api::GAUGES_JOB,
            crate::exporter::Exporter::GAUGES_PATH,
        ));
    }
    if let Some(alertmanager) = alertmanager {
        yaml.push_str(&format!(
            "alerting:\n  alertmanagers:\n  - static_configs:\n    - targets: [\"{alertmanager}\"]\n"
        ));
    }
    yaml
}

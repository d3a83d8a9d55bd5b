//! A controller process of a test's own.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rollgate_platform::{MemberCluster, PlatformEnv};

/// A controller process watching one namespace of one cluster; killed when dropped, and
/// with the test process (even a `SIGKILL`ed one).
pub struct ControllerProcess {
    child: Option<Child>,
    /// The cluster it works on.
    kubeconfig: PathBuf,
    namespace: String,
    prometheus_url: String,
    extra: Vec<String>,
    /// A crash point (`ROLLGATE_CRASH_AT`) the process aborts at, if any.
    crash_at: Option<String>,
    /// Where this process serves /metrics, /healthz and /readyz.
    pub metrics_port: u16,
    /// Its leader-election identity.
    pub identity: String,
    pub log: PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl ControllerProcess {
    pub fn start(env: &PlatformEnv, namespace: &str, prometheus_url: &str) -> Self {
        Self::start_with(env, namespace, prometheus_url, &[])
    }

    pub fn start_with(
        env: &PlatformEnv,
        namespace: &str,
        prometheus_url: &str,
        extra: &[&str],
    ) -> Self {
        Self::start_on(
            &env.kubeconfig,
            &env.work_dir,
            namespace,
            prometheus_url,
            extra,
        )
    }

    /// Starts a controller on a member cluster (its own rollgate), asking `prometheus_url`
    /// (the platform's serves every member: series are labelled by namespace). Its log is in
    /// the member's work dir.
    pub fn start_on_member(
        member: &MemberCluster,
        namespace: &str,
        prometheus_url: &str,
        extra: &[&str],
    ) -> Self {
        Self::start_on(
            member.kubeconfig(),
            member.work_dir(),
            namespace,
            prometheus_url,
            extra,
        )
    }

    /// Starts a controller on the cluster of `kubeconfig`, logging into `log_dir`.
    pub fn start_on(
        kubeconfig: &Path,
        log_dir: &Path,
        namespace: &str,
        prometheus_url: &str,
        extra: &[&str],
    ) -> Self {
        let identity = format!("controller-{}", free_port());
        // One log per process (restarts append): what each replica said stays apart.
        let log = log_dir.join(format!(
            "controller-{namespace}-{}-{identity}.log",
            std::process::id()
        ));
        let mut p = ControllerProcess {
            child: None,
            kubeconfig: kubeconfig.to_path_buf(),
            namespace: namespace.into(),
            prometheus_url: prometheus_url.into(),
            extra: extra.iter().map(|a| a.to_string()).collect(),
            crash_at: None,
            metrics_port: free_port(),
            identity,
            log,
        };
        p.spawn();
        p
    }

    fn spawn(&mut self) {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("controller log");
        let mut command = Command::new(binary());
        command
            .args([
                "controller",
                "--namespace",
                &self.namespace,
                "--prometheus-url",
                &self.prometheus_url,
            ])
            .args([
                "--metrics-addr",
                &format!("127.0.0.1:{}", self.metrics_port),
            ])
            .args(&self.extra)
            .envs(self.crash_at.iter().map(|p| ("ROLLGATE_CRASH_AT", p)))
            .env("POD_NAME", &self.identity)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("RUST_LOG", "info,rollgate=debug,kube_runtime=warn")
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out));
        // Bound to the test process: a killed test leaves no controller acting on a cluster.
        let child = rollgate_platform::spawn_bound(command).expect("start the rollgate controller");
        self.child = Some(child);
    }

    /// SIGKILL: the controller gets no chance to finish anything.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    /// Restarts the process so that it aborts when it reaches crash point `point`.
    pub fn crash_at(&mut self, point: &str) {
        self.crash_at = Some(point.to_string());
        self.restart();
    }

    /// Waits until the process has exited by itself (at its crash point); false on timeout.
    pub async fn exited_within(&mut self, timeout: Duration) -> bool {
        let started = std::time::Instant::now();
        while started.elapsed() < timeout {
            if let Some(c) = self.child.as_mut()
                && c.try_wait().ok().flatten().is_some()
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Starts a fresh process without a crash point (a restarted controller).
    pub fn recover(&mut self) {
        self.crash_at = None;
        self.restart();
    }

    /// SIGTERM, as Kubernetes stops a pod; waits up to 30 s for the exit. Returns how long the
    /// process took to exit, and whether it exited successfully (`None`: it did not exit).
    pub fn terminate(&mut self) -> (Duration, Option<bool>) {
        let Some(mut child) = self.child.take() else {
            return (Duration::ZERO, None);
        };
        let sent = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        while sent.elapsed() < Duration::from_secs(30) {
            if let Ok(Some(status)) = child.try_wait() {
                return (sent.elapsed(), Some(status.success()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        (sent.elapsed(), None)
    }

    /// `/readyz` as (status, body), or `None` while nothing answers.
    pub async fn readyz(&self) -> Option<(u16, String)> {
        let r = reqwest::get(format!("http://127.0.0.1:{}/readyz", self.metrics_port))
            .await
            .ok()?;
        Some((r.status().as_u16(), r.text().await.ok()?))
    }

    /// Everything the process logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for ControllerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The `rollgate` binary of this build: `ROLLGATE_BIN`, or the one beside the test binary
/// (`target/<profile>/rollgate`; `hack/test` builds every target first).
pub fn binary() -> std::path::PathBuf {
    if let Some(path) = std::env::var_os("ROLLGATE_BIN") {
        return path.into();
    }
    let test = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> -> target/<profile>/rollgate
    let profile = test
        .parent()
        .and_then(|deps| deps.parent())
        .expect("a test binary lives in target/<profile>/deps");
    profile.join("rollgate")
}

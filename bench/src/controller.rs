//! The controller under test: `target/release/rollgate controller` as a child process, and
//! what `/proc` says about it (and about every other process of the platform).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use serde::Serialize;

use crate::cluster::Cluster;
use crate::error::{Error, Result};

/// A running controller; killed when dropped.
pub struct Controller {
    child: Child,
    pub log: PathBuf,
    pub started: Instant,
    /// Where its metrics are served, e.g. `http://127.0.0.1:40123`.
    pub metrics_url: String,
}

impl Controller {
    /// Starts `binary controller` against the cluster as the benchmark's controller user;
    /// `namespace: None` watches all namespaces.
    pub fn start(
        binary: &Path,
        cluster: &Cluster,
        namespace: Option<&str>,
        extra_args: &[&str],
        log_name: &str,
        rust_log: &str,
    ) -> Result<Controller> {
        let log = cluster.env.work_dir.join(format!("{log_name}.log"));
        let out = std::fs::File::create(&log)
            .map_err(|e| Error::io(format!("creating {}", log.display()), e))?;
        let err = out
            .try_clone()
            .map_err(|e| Error::io("duplicating the log handle", e))?;
        // A free port (not 8080: a controller left over from an interrupted run may hold it).
        let metrics_addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| Error::io("finding a free port for the controller's metrics", e))?;
        let mut cmd = Command::new(binary);
        cmd.args([
            "controller",
            "--prometheus-url",
            &cluster.env.prometheus_url,
            "--metrics-addr",
            &metrics_addr.to_string(),
        ]);
        if let Some(ns) = namespace {
            cmd.args(["--namespace", ns]);
        }
        cmd.args(extra_args);
        let child = cmd
            .env("KUBECONFIG", &cluster.controller_kubeconfig)
            // ROLLGATE_BENCH_LOG overrides the scenario's filter when a run needs explaining.
            .env(
                "RUST_LOG",
                std::env::var("ROLLGATE_BENCH_LOG").unwrap_or_else(|_| rust_log.to_string()),
            )
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .map_err(|e| Error::io(format!("starting {}", binary.display()), e))?;
        Ok(Controller {
            child,
            log,
            started: Instant::now(),
            metrics_url: format!("http://{metrics_addr}"),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails with the end of the log if the process has exited.
    pub fn check_running(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(Error::ControllerExited(format!(
                "{status}; log {}:\n{}",
                self.log.display(),
                tail(&self.log, 30)
            ))),
            Err(e) => Err(Error::io("checking the controller process", e)),
        }
    }

    /// Awaits `wait`, but fails at once (with the end of the log) if the controller exits
    /// meanwhile: a controller that died at start would otherwise be waited for in full.
    pub async fn while_running<T>(&mut self, wait: impl Future<Output = Result<T>>) -> Result<T> {
        let mut wait = std::pin::pin!(wait);
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
        loop {
            tokio::select! {
                r = &mut wait => return r,
                _ = tick.tick() => self.check_running()?,
            }
        }
    }

    /// Memory and CPU so far.
    pub fn usage(&self) -> Usage {
        Usage::of(self.pid()).unwrap_or_default()
    }

    /// Warnings and errors the controller logged, at most `limit` lines.
    pub fn log_warnings(&self, limit: usize) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .take(limit)
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Controller {
    fn drop(&mut self) {
        // SIGTERM first: the controller shuts down on a signal; then make sure.
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        for _ in 0..20 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One process's memory (kB) and CPU time (seconds), from `/proc`.
#[derive(Serialize, Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    pub rss_kb: u64,
    /// Peak resident set size (VmHWM).
    pub peak_rss_kb: u64,
    /// User + system CPU time.
    pub cpu_seconds: f64,
}

impl Usage {
    pub fn of(pid: u32) -> Option<Usage> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let kb = |key: &str| {
            status
                .lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        Some(Usage {
            rss_kb: kb("VmRSS:"),
            peak_rss_kb: kb("VmHWM:"),
            cpu_seconds: cpu_seconds(pid)?,
        })
    }
}

/// utime + stime of `/proc/<pid>/stat`, in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

fn process_name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| pid.to_string())
}

/// CPU seconds per process (by name) at one instant: where the machine's time goes.
#[derive(Clone, Debug, Default)]
pub struct CpuSnapshot {
    pub at: Option<Instant>,
    pub by_process: Vec<(String, f64)>,
}

impl CpuSnapshot {
    /// The platform's processes, the controller, and this benchmark itself.
    pub fn take(cluster: &Cluster, controller: Option<&Controller>) -> CpuSnapshot {
        let mut pids: Vec<(String, u32)> = cluster
            .pids()
            .into_iter()
            .map(|p| (process_name(p), p))
            .collect();
        if let Some(c) = controller {
            pids.push(("rollgate controller".into(), c.pid()));
        }
        pids.push(("rollgate-bench (this harness)".into(), std::process::id()));
        CpuSnapshot {
            at: Some(Instant::now()),
            by_process: pids
                .into_iter()
                .filter_map(|(name, pid)| cpu_seconds(pid).map(|s| (name, s)))
                .collect(),
        }
    }

    /// CPU seconds each process used since `before`, busiest first, with the wall time.
    pub fn since(&self, before: &CpuSnapshot) -> CpuProfile {
        let wall = match (self.at, before.at) {
            (Some(a), Some(b)) => a.duration_since(b).as_secs_f64(),
            _ => 0.0,
        };
        let mut processes: Vec<ProcessCpu> = self
            .by_process
            .iter()
            .map(|(name, now)| {
                let then = before
                    .by_process
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or(0.0, |(_, s)| *s);
                ProcessCpu {
                    process: name.clone(),
                    cpu_seconds: round3(now - then),
                    cores: if wall > 0.0 {
                        round3((now - then) / wall)
                    } else {
                        0.0
                    },
                }
            })
            .collect();
        processes.sort_by(|a, b| b.cpu_seconds.total_cmp(&a.cpu_seconds));
        CpuProfile {
            wall_seconds: round3(wall),
            processes,
        }
    }
}

#[derive(Serialize, Clone, Debug, Default)]
pub struct CpuProfile {
    pub wall_seconds: f64,
    pub processes: Vec<ProcessCpu>,
}

#[derive(Serialize, Clone, Debug)]
pub struct ProcessCpu {
    pub process: String,
    pub cpu_seconds: f64,
    /// Average cores used over the window.
    pub cores: f64,
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Samples a process's memory and CPU every `every`, in the background.
pub struct Sampler {
    samples: std::sync::Arc<std::sync::Mutex<Vec<Sample>>>,
    task: tokio::task::JoinHandle<()>,
}

/// Memory and CPU of a process at some seconds after sampling began.
#[derive(Serialize, Clone, Copy, Debug)]
pub struct Sample {
    pub seconds: f64,
    pub rss_mb: f64,
    pub cpu_seconds: f64,
}

impl Sampler {
    pub fn start(pid: u32, every: std::time::Duration) -> Sampler {
        let samples: std::sync::Arc<std::sync::Mutex<Vec<Sample>>> = Default::default();
        let store = samples.clone();
        let started = Instant::now();
        let task = tokio::spawn(async move {
            while let Some(u) = Usage::of(pid) {
                store
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(Sample {
                        seconds: round3(started.elapsed().as_secs_f64()),
                        rss_mb: mb(u.rss_kb),
                        cpu_seconds: round3(u.cpu_seconds),
                    });
                tokio::time::sleep(every).await;
            }
        });
        Sampler { samples, task }
    }

    /// At most `limit` samples, evenly spread, always with the last one.
    pub fn samples(&self, limit: usize) -> Vec<Sample> {
        let all = self
            .samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if all.len() <= limit || limit < 2 {
            return all;
        }
        let step = (all.len() - 1) as f64 / (limit - 1) as f64;
        (0..limit)
            .map(|i| all[((i as f64) * step).round() as usize])
            .collect()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Kilobytes to megabytes (MiB), rounded to 0.1.
pub fn mb(kb: u64) -> f64 {
    (kb as f64 / 1024.0 * 10.0).round() / 10.0
}

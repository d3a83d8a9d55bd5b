//! `rollgate-platform up` runs a platform until Ctrl-C; `rollgate-platform exec
//! -- CMD` runs CMD against a fresh platform and exits with CMD's status;
//! `rollgate-platform member` starts one member cluster (and measures it).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use rollgate_platform::{ENV_FILE_VAR, MemberCluster, MemberOptions, Platform, PlatformOptions};
use tokio::signal::unix::{SignalKind, signal};

#[derive(Parser)]
#[command(
    version,
    about = "rollgate's local test platform: Kubernetes + KWOK + Prometheus + Alertmanager"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a platform, print how to use it, and run until SIGINT/SIGTERM.
    Up {
        /// Where to write the env file (default: in the platform's work dir).
        #[arg(long)]
        env_file: Option<PathBuf>,
        #[command(flatten)]
        options: Options,
    },
    /// Start a platform, run CMD against it, tear down, exit with CMD's status.
    Exec {
        #[command(flatten)]
        options: Options,
        /// The command and its arguments.
        #[arg(required = true, last = true)]
        command: Vec<String>,
    },
    /// Start one member cluster (a control plane without monitoring, as a multi-cluster test
    /// does), print its kubeconfig and start time, and run until SIGINT/SIGTERM.
    Member {
        /// Its name (names the kubeconfig's cluster and context).
        #[arg(long, default_value = "member")]
        name: String,
        /// KWOK nodes to register.
        #[arg(long, default_value_t = 1)]
        nodes: usize,
        /// Stop as soon as it is ready (to measure the start time).
        #[arg(long)]
        stop: bool,
    },
}

#[derive(clap::Args)]
struct Options {
    /// KWOK nodes to register.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// Pod capacity per node.
    #[arg(long, default_value_t = 1000)]
    node_pods: u32,
    /// Without the external metrics API (prometheus-adapter), e.g. to measure what it costs.
    #[arg(long)]
    no_metrics_api: bool,
    /// Install the Gateway API CRDs at start (tests install them when they need them).
    #[arg(long)]
    gateway_api: bool,
}

impl Options {
    fn platform(&self) -> PlatformOptions {
        PlatformOptions {
            nodes: self.nodes,
            node_pods: self.node_pods,
            metrics_api: !self.no_metrics_api,
            gateway_api: self.gateway_api,
            ..PlatformOptions::default()
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Up { env_file, options } => up(env_file, options).await,
        Command::Exec { options, command } => exec(options, command).await,
        Command::Member { name, nodes, stop } => member(&name, nodes, stop).await,
    }
}

async fn member(name: &str, nodes: usize, stop: bool) -> anyhow::Result<ExitCode> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let bin_dir =
        tokio::task::spawn_blocking(rollgate_platform::binaries::control_plane_bin_dir).await??;
    let options = MemberOptions {
        nodes,
        ..MemberOptions::default()
    };
    let mut member = MemberCluster::start_with(&bin_dir, name, options)
        .await
        .context("starting the member")?;
    eprintln!(
        "rollgate-platform: member {name} ready in {:.1}s ({})",
        member.started_in().as_secs_f64(),
        phases(member.startup_timings())
    );
    if stop {
        member.shutdown().await;
        return Ok(ExitCode::SUCCESS);
    }
    println!("export KUBECONFIG={}", member.kubeconfig().display());
    println!("# apiserver: {}", member.apiserver_url());
    println!("# logs:      {}", member.work_dir().join("logs").display());
    let mut health = tokio::time::interval(Duration::from_secs(1));
    let outcome = loop {
        tokio::select! {
            _ = interrupt.recv() => break Ok(()),
            _ = terminate.recv() => break Ok(()),
            _ = health.tick() => {
                if let Err(e) = member.check_running() {
                    break Err(e);
                }
            }
        }
    };
    member.shutdown().await;
    outcome
        .map(|()| ExitCode::SUCCESS)
        .context("a member process died")
}

/// When each start phase was done, for people: `etcd 0.4s, apiserver 4.3s, …`.
fn phases(timings: &[(&'static str, Duration)]) -> String {
    timings
        .iter()
        .map(|(phase, at)| format!("{phase} {:.1}s", at.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn start(options: &Options) -> anyhow::Result<(Platform, PathBuf)> {
    let started = Instant::now();
    let platform = Platform::start(options.platform())
        .await
        .context("starting the platform")?;
    eprintln!(
        "rollgate-platform: ready in {:.1}s ({})",
        started.elapsed().as_secs_f64(),
        phases(platform.startup_timings())
    );
    let env_file = platform.env().work_dir.join("platform-env.json");
    platform.env().save(&env_file)?;
    Ok((platform, env_file))
}

async fn up(env_file: Option<PathBuf>, options: Options) -> anyhow::Result<ExitCode> {
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let (mut platform, default_env_file) = start(&options).await?;
    let env_file = match env_file {
        Some(path) => {
            platform.env().save(&path)?;
            path
        }
        None => default_env_file,
    };
    let env = platform.env();
    println!("export KUBECONFIG={}", env.kubeconfig.display());
    println!("export {ENV_FILE_VAR}={}", env_file.display());
    println!("export PATH={}:$PATH", env.bin_dir.display());
    println!("# kubectl:      {}", env.kubectl().display());
    println!("# apiserver:    {}", env.apiserver_url);
    println!("# Prometheus:   {}", env.prometheus_url);
    println!("# Alertmanager: {}", env.alertmanager_url);
    println!("# exporter:     {}", env.exporter_url);
    println!("# logs:         {}", env.work_dir.join("logs").display());
    println!("# Ctrl-C (or SIGTERM) stops the platform.");

    let mut health = tokio::time::interval(Duration::from_secs(1));
    let outcome = loop {
        tokio::select! {
            _ = interrupt.recv() => break Ok(()),
            _ = terminate.recv() => break Ok(()),
            _ = health.tick() => {
                if let Err(e) = platform.check_running() {
                    break Err(e);
                }
            }
        }
    };
    eprintln!("rollgate-platform: stopping");
    platform.shutdown().await;
    if env_file.exists() {
        let _ = std::fs::remove_file(&env_file);
    }
    match outcome {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e).context("a platform process died"),
    }
}

async fn exec(options: Options, command: Vec<String>) -> anyhow::Result<ExitCode> {
    // The command shares our terminal: Ctrl-C reaches it directly; we only
    // wait for it to finish and then tear down.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let (platform, env_file) = start(&options).await?;
    let env = platform.env();
    let path = match std::env::var_os("PATH") {
        Some(path) => {
            let mut dirs = vec![env.bin_dir.clone()];
            dirs.extend(std::env::split_paths(&path));
            std::env::join_paths(dirs)?
        }
        None => env.bin_dir.clone().into_os_string(),
    };
    let mut child = tokio::process::Command::new(&command[0])
        .args(&command[1..])
        .env("KUBECONFIG", &env.kubeconfig)
        .env(ENV_FILE_VAR, &env_file)
        .env("PATH", path)
        .spawn()
        .with_context(|| format!("running {}", command[0]))?;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status?,
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {
                let _ = child.start_kill();
            }
        }
    };
    platform.shutdown().await;
    let code = match (
        status.code(),
        std::os::unix::process::ExitStatusExt::signal(&status),
    ) {
        (Some(code), _) => code,
        (None, Some(signal)) => 128 + signal,
        (None, None) => 1,
    };
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)))
}

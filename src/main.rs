use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand, ValueEnum};

/// The workspace version and the git revision it was built from (build.rs): images and
/// release bundles of one version are told apart by the revision.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("ROLLGATE_REVISION"),
    ")"
);

/// rollgate: staged, gated rollouts of code and configuration.
#[derive(Parser)]
#[command(name = "rollgate", version = VERSION)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controller against the cluster of the current kubeconfig (or in-cluster).
    Controller {
        /// Prometheus for Rollouts that name none.
        #[arg(long, env = "ROLLGATE_PROMETHEUS_URL")]
        prometheus_url: Option<String>,
        /// Watch only this namespace.
        #[arg(long, env = "ROLLGATE_NAMESPACE")]
        namespace: Option<String>,
        #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "ROLLGATE_LOG_FORMAT")]
        log_format: LogFormat,
        /// IncidentChannel (`namespace/name`) that every incident also goes to.
        #[arg(long, env = "ROLLGATE_DEFAULT_CHANNEL")]
        default_channel: Option<String>,
        /// Most Rollouts in a canary phase at once, cluster-wide; the rest queue.
        #[arg(long, default_value_t = 50, env = "ROLLGATE_MAX_CANARIES")]
        max_canaries: usize,
        /// Most Rollouts in a canary phase at once in one namespace.
        #[arg(
            long,
            default_value_t = 10,
            env = "ROLLGATE_MAX_CANARIES_PER_NAMESPACE"
        )]
        max_canaries_per_namespace: usize,
        /// Most Rollouts reconciled at once. Each reconcile in flight may hold an API
        /// connection and its buffers: unbounded, 10,000 Rollouts found at start-up cost 700 MB.
        /// Too few, and a busy API server's latency queues the reconciles behind each other:
        /// at 64, the 1,000-Rollout release's stage lag p99 was 7-24 s; at 256, 2.6 s
        /// (docs/BENCHMARKS.md).
        #[arg(long, default_value_t = 256, env = "ROLLGATE_CONCURRENCY")]
        concurrency: u16,
        /// Run several replicas: only the holder of the Lease reconciles.
        #[arg(long)]
        leader_elect: bool,
        /// Namespace of the Lease (defaults to the pod's namespace, else `default`).
        #[arg(long, env = "POD_NAMESPACE")]
        lease_namespace: Option<String>,
        #[arg(long, default_value = "rollgate")]
        lease_name: String,
        /// Seconds a lease lasts without renewal: the longest a handover takes.
        #[arg(long, default_value_t = 15)]
        lease_duration: u64,
        /// Where `/metrics`, `/healthz` and `/readyz` listen.
        #[arg(long, default_value = "0.0.0.0:8080", env = "ROLLGATE_METRICS_ADDR")]
        metrics_addr: std::net::SocketAddr,
    },
    /// Print the CustomResourceDefinitions as YAML.
    Crds,
    #[command(flatten)]
    Cli(rollgate::cli::Command),
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,kube_runtime=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// How long in-flight reconciles may finish after a signal: the process is gone within 10 s
/// of a SIGTERM whatever it was doing (Kubernetes waits 30 s by default).
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(8);

/// SIGTERM (Kubernetes) or Ctrl-C.
async fn wait_for_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    // One rustls crypto provider for kube and reqwest alike.
    let _ = rustls::crypto::ring::default_provider().install_default();
    match Cli::parse().command {
        Command::Crds => print!("{}", rollgate::api::crds_yaml()),
        Command::Cli(command) => {
            let code = rollgate::cli::main(command).await;
            if code != 0 {
                std::process::exit(code);
            }
        }
        Command::Controller {
            prometheus_url,
            namespace,
            log_format,
            default_channel,
            max_canaries,
            max_canaries_per_namespace,
            concurrency,
            leader_elect,
            lease_namespace,
            lease_name,
            lease_duration,
            metrics_addr,
        } => {
            init_logging(log_format);
            let client = kube::Client::try_default()
                .await
                .context("connecting to Kubernetes")?;
            let instance = std::env::var("POD_NAME")
                .ok()
                .or_else(|| std::env::var("HOSTNAME").ok());
            let settings = rollgate::controller::Settings {
                prometheus_url,
                namespace,
                instance,
                default_channel,
                caps: rollgate::controller::Caps {
                    total: max_canaries,
                    per_namespace: max_canaries_per_namespace,
                },
                concurrency,
            };
            tracing::info!(namespace = ?settings.namespace, "rollgate controller starting");
            let metrics = std::sync::Arc::new(rollgate::controller::metrics::Metrics::default());
            let health = std::sync::Arc::new(rollgate::controller::serve::Health::default());
            let (stop_tx, stop) = tokio::sync::watch::channel(false);
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("shutting down");
                let _ = stop_tx.send(true);
                // Reconciles are idempotent, so one cut short is redone by the next leader;
                // a stuck one must not hold the process past the pod's grace period.
                tokio::time::sleep(SHUTDOWN_GRACE).await;
                tracing::warn!(grace = ?SHUTDOWN_GRACE, "reconciles still running; exiting anyway");
                std::process::exit(0);
            });
            let mut server_stop = stop.clone();
            let server = rollgate::controller::serve::serve(
                metrics_addr,
                metrics.clone(),
                health.clone(),
                async move {
                    let _ = server_stop.wait_for(|s| *s).await;
                },
            );
            let server = tokio::spawn(server);
            // Before the lease: a replica that cannot run is not ready, and takes no lease.
            let mut waiting = stop.clone();
            if !rollgate::controller::crds::wait_until_served(&client, &health, &mut waiting).await
            {
                server.abort();
                return Ok(());
            }
            if leader_elect {
                let lease = rollgate::controller::leader::LeaseSettings {
                    name: lease_name,
                    namespace: lease_namespace.unwrap_or_else(|| "default".into()),
                    duration: lease_duration,
                };
                let stopped = rollgate::controller::leader::run_elected(
                    client, settings, lease, metrics, health, stop,
                )
                .await?;
                if stopped == rollgate::controller::leader::Stopped::LostLease {
                    anyhow::bail!(
                        "lost the leader lease: exiting so a restart rejoins as a follower"
                    );
                }
            } else {
                let mut stop = stop;
                rollgate::controller::run(client, settings, metrics, health, async move {
                    let _ = stop.wait_for(|s| *s).await;
                })
                .await;
            }
            server.abort();
        }
    }
    Ok(())
}

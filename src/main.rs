use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand, ValueEnum};

/// rollgate: staged, gated rollouts of code and configuration.
#[derive(Parser)]
#[command(name = "rollgate", version)]
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
        #[arg(long, default_value_t = 10, env = "ROLLGATE_MAX_CANARIES_PER_NAMESPACE")]
        max_canaries_per_namespace: usize,
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
                caps: rollgate::controller::Caps { total: max_canaries, per_namespace: max_canaries_per_namespace },
            };
            tracing::info!(namespace = ?settings.namespace, "rollgate controller starting");
            rollgate::controller::run(client, settings).await;
        }
    }
    Ok(())
}

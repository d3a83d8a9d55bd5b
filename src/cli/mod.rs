//! The `rollgate` commands people and scripts use (also `kubectl rollgate …` through a
//! `kubectl-rollgate` symlink): look at rollouts and incidents, ask for manual actions, and
//! lint manifests before they merge.
//!
//! Each command is a thin read or write against the API server; what is shown is computed by
//! pure functions ([`view`], [`table`], [`lint`]) that are tested without a cluster.

mod cluster;
mod error;
pub mod freeze;
mod incidents;
pub mod lint;
mod output;
mod releases;
mod requests;
mod rollouts;
pub mod table;
pub mod view;
mod watch;

use std::path::PathBuf;

use clap::{Args, Subcommand};

pub use error::CliError;
pub use output::Output;

/// The user-facing commands, next to the binary's `controller` and `crds`.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show one rollout: phase, stages, weight, bake countdown, gates, recent history.
    #[command(visible_alias = "get")]
    Status {
        name: String,
        /// Redraw on every change (and every second for countdowns) until Ctrl-C, or until the
        /// rollout settles (Healthy, RolledBack, Invalid) after having been under way.
        #[arg(short, long)]
        watch: bool,
        /// Show the rollout as of this instant (RFC 3339) instead of now: reproducible output
        /// for documentation and tests.
        #[arg(long, value_name = "TIME", hide = true, conflicts_with = "watch")]
        as_of: Option<jiff::Timestamp>,
        #[command(flatten)]
        scope: Scope,
    },
    /// List rollouts: name, phase, stage, weight, stable and canary revisions, age.
    List {
        /// Rollouts of every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        /// Redraw on every change (and every second for the ages) until Ctrl-C.
        #[arg(short, long)]
        watch: bool,
        #[command(flatten)]
        scope: Scope,
    },
    /// Skip the current stage's bake and approval (gates must still pass).
    Promote {
        name: String,
        /// Go straight to the last stage (100%), skipping every bake and approval.
        #[arg(long)]
        full: bool,
        #[command(flatten)]
        scope: Scope,
    },
    /// Hold every forward transition (gates keep running; a failing gate still rolls back).
    Pause {
        name: String,
        #[command(flatten)]
        scope: Scope,
    },
    /// Undo a pause.
    Resume {
        name: String,
        #[command(flatten)]
        scope: Scope,
    },
    /// Roll the canary back now.
    Abort {
        name: String,
        #[command(flatten)]
        scope: Scope,
    },
    /// Try a rolled-back revision again.
    Retry {
        name: String,
        #[command(flatten)]
        scope: Scope,
    },
    /// List incidents: name, state, severity, rollout, age.
    Incidents {
        /// Incidents of every namespace.
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        #[command(flatten)]
        scope: Scope,
    },
    /// Acknowledge or resolve an incident.
    #[command(subcommand)]
    Incident(IncidentCommand),
    /// Print a post-mortem draft (Markdown) of an incident.
    Postmortem {
        name: String,
        #[command(flatten)]
        scope: Scope,
    },
    /// Check Rollout manifests offline: schema, validation rules, gate queries.
    Lint(LintArgs),
    /// Freeze namespaces (the kill switch): no rollout advances and no canary starts there;
    /// with --abort, canaries in flight roll back now.
    Freeze(FreezeArgs),
    /// Lift the CLI's Freeze of namespaces (or the cluster-wide one); not frozen is success.
    Unfreeze(UnfreezeArgs),
    /// A Release across member clusters (run against the hub): status, promote, abort.
    #[command(subcommand)]
    Release(releases::ReleaseCommand),
    /// List Freezes (cluster-scoped): name, namespaces, abort, who, age, reason.
    Freezes {
        /// kubeconfig context to use (default: the current one).
        #[arg(long)]
        context: Option<String>,
        #[arg(short, long, value_enum, default_value_t = Output::Human)]
        output: Output,
    },
}

#[derive(Args, Debug)]
pub struct FreezeArgs {
    /// Namespace to freeze (repeatable; default: the kubeconfig context's).
    #[arg(
        short = 'n',
        long = "namespace",
        value_name = "NS",
        conflicts_with = "all"
    )]
    pub namespaces: Vec<String>,
    /// Freeze every namespace (Freeze `rollgate-freeze-all`).
    #[arg(long)]
    pub all: bool,
    /// Also roll back every canary in flight, now.
    #[arg(long)]
    pub abort: bool,
    /// Why (shown in every frozen rollout's status).
    #[arg(long)]
    pub reason: Option<String>,
    /// Who freezes (default: $USER).
    #[arg(long)]
    pub by: Option<String>,
    /// kubeconfig context to use (default: the current one).
    #[arg(long)]
    pub context: Option<String>,
    #[arg(short, long, value_enum, default_value_t = Output::Human)]
    pub output: Output,
}

#[derive(Args, Debug)]
pub struct UnfreezeArgs {
    /// Namespace to unfreeze (repeatable; default: the kubeconfig context's).
    #[arg(
        short = 'n',
        long = "namespace",
        value_name = "NS",
        conflicts_with = "all"
    )]
    pub namespaces: Vec<String>,
    /// Lift the cluster-wide Freeze `rollgate-freeze-all` (namespace Freezes stay).
    #[arg(long)]
    pub all: bool,
    /// kubeconfig context to use (default: the current one).
    #[arg(long)]
    pub context: Option<String>,
    #[arg(short, long, value_enum, default_value_t = Output::Human)]
    pub output: Output,
}

#[derive(Subcommand, Debug)]
pub enum IncidentCommand {
    /// Set spec.acknowledgedBy (propagated to the destinations that support it).
    Ack {
        name: String,
        /// Who acknowledges (default: $USER).
        #[arg(long)]
        by: Option<String>,
        #[command(flatten)]
        scope: Scope,
    },
    /// Set spec.resolvedBy (propagated to the destinations that support it).
    Resolve {
        name: String,
        /// Who resolves (default: $USER).
        #[arg(long)]
        by: Option<String>,
        #[command(flatten)]
        scope: Scope,
    },
}

/// Where to look and how to print: the flags every cluster command takes.
#[derive(Args, Debug, Clone)]
pub struct Scope {
    /// Namespace (default: the kubeconfig context's).
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// kubeconfig context to use (default: the current one).
    #[arg(long)]
    pub context: Option<String>,
    #[arg(short, long, value_enum, default_value_t = Output::Human)]
    pub output: Output,
}

#[derive(Args, Debug)]
pub struct LintArgs {
    /// YAML files; documents that are not rollgate resources are ignored.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Also run every gate query once against this Prometheus (a dry run with placeholder
    /// values: the document's namespace, track `stable`) and fail on errors or no data.
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<String>,
    /// Value of `{{revision}}`, `{{stableRevision}}` and `{{canaryRevision}}` in the dry run.
    #[arg(long, default_value = "", requires = "prometheus")]
    pub revision: String,
    /// Also check against the cluster (kubeconfig) that every IncidentChannel a Rollout names
    /// exists (here or in these files) and so does its Secret.
    #[arg(long)]
    pub cluster: bool,
    /// kubeconfig context for --cluster (default: the current one).
    #[arg(long, requires = "cluster")]
    pub context: Option<String>,
    #[arg(short, long, value_enum, default_value_t = Output::Human)]
    pub output: Output,
}

/// Runs a command for `main`: the exit code, with a failure printed as one line on stderr
/// (a person made a typo; a backtrace would not help them).
pub async fn main(command: Command) -> i32 {
    match run(command).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rollgate: {e}");
            1
        }
    }
}

/// Runs a command; the result is the process exit code (lint exits 1 when it finds problems).
pub async fn run(command: Command) -> Result<i32, CliError> {
    use crate::plan::Verb;
    match command {
        Command::Status {
            name,
            watch,
            as_of,
            scope,
        } => {
            let cluster = cluster::Cluster::connect(&scope).await?;
            if watch {
                watch::status(&cluster, &name, scope.output).await?;
            } else {
                let now = as_of.unwrap_or_else(jiff::Timestamp::now);
                rollouts::status(&cluster, &name, scope.output, now).await?;
            }
        }
        Command::List {
            all_namespaces,
            watch,
            scope,
        } => {
            let cluster = cluster::Cluster::connect(&scope).await?;
            if watch {
                watch::list(&cluster, all_namespaces, scope.output).await?;
            } else {
                rollouts::list(&cluster, all_namespaces, scope.output).await?;
            }
        }
        Command::Promote { name, full, scope } => {
            let action = if full {
                Verb::PromoteFull
            } else {
                Verb::Promote
            };
            requests::send(&scope, &name, action).await?;
        }
        Command::Pause { name, scope } => requests::send(&scope, &name, Verb::Pause).await?,
        Command::Resume { name, scope } => requests::send(&scope, &name, Verb::Resume).await?,
        Command::Abort { name, scope } => requests::send(&scope, &name, Verb::Abort).await?,
        Command::Retry { name, scope } => requests::send(&scope, &name, Verb::Retry).await?,
        Command::Incidents {
            all_namespaces,
            scope,
        } => {
            let cluster = cluster::Cluster::connect(&scope).await?;
            incidents::list(&cluster, all_namespaces, scope.output).await?;
        }
        Command::Incident(IncidentCommand::Ack { name, by, scope }) => {
            incidents::mark(&scope, &name, incidents::Mark::Acknowledged, by).await?;
        }
        Command::Incident(IncidentCommand::Resolve { name, by, scope }) => {
            incidents::mark(&scope, &name, incidents::Mark::Resolved, by).await?;
        }
        Command::Postmortem { name, scope } => incidents::postmortem(&scope, &name).await?,
        Command::Lint(args) => return lint::run(&args).await,
        Command::Freeze(args) => freeze::freeze(args).await?,
        Command::Unfreeze(args) => freeze::unfreeze(args).await?,
        Command::Freezes { context, output } => freeze::list(context, output).await?,
        Command::Release(command) => releases::run(command).await?,
    }
    Ok(0)
}

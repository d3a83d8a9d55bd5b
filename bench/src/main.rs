//! rollgate's benchmarks (`hack/bench`): each scenario starts its own platform, runs the
//! release build of the controller as a child process, and measures from outside — watches
//! with receipt timestamps, the timestamps the controller writes into status, the API server's
//! and Prometheus' own counters, and `/proc`. See docs/BENCHMARKS.md.

mod accounting;
mod cluster;
mod controller;
mod error;
mod fleet;
mod idle;
mod prometheus;
mod report;
mod rollback;
mod scale;
mod stats;
mod watch;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;

use cluster::Cluster;
use report::{Failure, Machine, Report};

#[derive(Parser, Debug)]
#[command(about = "Benchmarks rollgate against a real local control plane")]
struct Args {
    /// Small sizes for CI: 3 releases, 10 Rollouts, 20 idle Rollouts.
    #[arg(long)]
    quick: bool,
    /// Write the JSON report here.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Scenarios to run (default all): rollback, scale, idle.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Bad releases for scenarios 1–3 (default 20, quick 3).
    #[arg(long)]
    releases: Option<usize>,
    /// Fleet sizes for scenario 4 (default 100,1000; quick 10).
    #[arg(long, value_delimiter = ',')]
    scale: Vec<usize>,
    /// Idle Rollouts for scenario 5 (default 10000, quick 20).
    #[arg(long)]
    idle: Option<usize>,
    /// Seconds to leave the idle fleet alone before measuring idle cost (default 60, quick 10).
    #[arg(long)]
    idle_seconds: Option<u64>,
    /// The controller binary (default: target/release/rollgate of this workspace).
    #[arg(long)]
    controller: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let binary = args.controller.clone().unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/release/rollgate")
    });
    if !binary.exists() {
        bail!(
            "{} not found: run `cargo build --release -p rollgate` (hack/bench does)",
            binary.display()
        );
    }
    let wants = |s: &str| args.only.is_empty() || args.only.iter().any(|o| o == s);
    let releases = args.releases.unwrap_or(if args.quick { 3 } else { 20 });
    let scales = if !args.scale.is_empty() {
        args.scale.clone()
    } else if args.quick {
        vec![10]
    } else {
        vec![100, 1000]
    };
    let idle_n = args.idle.unwrap_or(if args.quick { 20 } else { 10_000 });
    let idle_for =
        Duration::from_secs(
            args.idle_seconds
                .unwrap_or(if args.quick { 10 } else { 60 }),
        );

    let mut report = Report {
        started_at: jiff::Timestamp::now().to_string(),
        quick: args.quick,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        machine: Machine::describe(),
        git: git_describe(),
        ..Report::default()
    };
    eprintln!(
        "rollgate-bench: {} cores, {} GiB, load {}; controller {}",
        report.machine.cores,
        report.machine.memory_gib,
        report.machine.load_average_at_start,
        binary.display()
    );

    if wants("rollback") {
        eprintln!("== scenarios 1-3: {releases} bad releases");
        match with_cluster(3, 1000, async |c| rollback::run(c, &binary, releases).await).await {
            Ok(r) => report.rollback = Some(r),
            Err(e) => report.failures.push(failure("rollback", &e)),
        }
    }
    if wants("scale") {
        for n in scales {
            eprintln!("== scenario 4: {n} Rollouts through three stages");
            match with_cluster(nodes_for(3 * n), 1000, async |c| {
                scale::run(c, &binary, n).await
            })
            .await
            {
                Ok(r) => report.scale.push(r),
                Err(e) => report.failures.push(failure(&format!("scale {n}"), &e)),
            }
        }
    }
    if wants("idle") {
        eprintln!("== scenario 5: {idle_n} idle Rollouts");
        match with_cluster(nodes_for(2 * idle_n), 1000, async |c| {
            idle::run(c, &binary, idle_n, idle_for).await
        })
        .await
        {
            Ok(r) => report.idle = Some(r),
            Err(e) => report.failures.push(failure("idle", &e)),
        }
    }

    report.machine.load_average_at_end = report::load_average();
    report.judge();
    println!("{}", report.table());
    if let Some(out) = &args.out {
        let json = serde_json::to_string_pretty(&report)?;
        std::fs::write(out, json).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("rollgate-bench: report written to {}", out.display());
    }
    if !report.failures.is_empty() {
        bail!("{} scenario(s) failed", report.failures.len());
    }
    Ok(())
}

/// KWOK nodes of 1,000 pods for `pods` pods, with room to spare.
fn nodes_for(pods: usize) -> usize {
    (pods.div_ceil(1000) + 1).max(3)
}

/// Runs `f` on a fresh platform and tears it down whatever happens.
async fn with_cluster<T>(
    nodes: usize,
    node_pods: u32,
    f: impl AsyncFnOnce(&Cluster) -> error::Result<T>,
) -> error::Result<T> {
    let cluster = Cluster::start(nodes, node_pods).await?;
    eprintln!(
        "  platform with {nodes} nodes up in {:.1} s (work dir {})",
        cluster.started_in.as_secs_f64(),
        cluster.env.work_dir.display()
    );
    let result = f(&cluster).await;
    if let Err(e) = &result {
        eprintln!("  failed: {e}");
    }
    cluster.shutdown().await;
    result
}

fn failure(scenario: &str, e: &error::Error) -> Failure {
    Failure {
        scenario: scenario.to_string(),
        category: e.category().to_string(),
        message: e.to_string(),
    }
}

fn git_describe() -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let commit = run(&["rev-parse", "--short", "HEAD"]);
    let dirty = run(&["status", "--porcelain", "--", "../src", "../platform"]);
    if dirty.is_empty() {
        commit
    } else {
        format!("{commit} with uncommitted changes in src/ or platform/")
    }
}

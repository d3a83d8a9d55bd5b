//! The JSON report, the table printed at the end, and the verdict on each DESIGN.md §10 target.

use serde::Serialize;

use crate::stats::Summary;
use crate::{idle, rollback, scale};

#[derive(Serialize, Debug, Default)]
pub struct Report {
    pub started_at: String,
    pub quick: bool,
    pub command: String,
    pub machine: Machine,
    pub git: String,
    pub rollback: Option<rollback::Report>,
    pub scale: Vec<scale::Report>,
    pub idle: Option<idle::Report>,
    pub targets: Vec<Target>,
    pub failures: Vec<Failure>,
}

#[derive(Serialize, Debug, Default)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
    pub kernel: String,
    pub load_average_at_start: String,
    pub load_average_at_end: String,
}

impl Machine {
    pub fn describe() -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let meminfo = read("/proc/meminfo");
        let mem_kb: f64 = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        Machine {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model: read("/proc/cpuinfo")
                .lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .unwrap_or_default()
                .trim()
                .to_string(),
            memory_gib: (mem_kb / 1024.0 / 1024.0 * 10.0).round() / 10.0,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
            load_average_at_start: load_average(),
            load_average_at_end: String::new(),
        }
    }
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Serialize, Debug)]
pub struct Failure {
    pub scenario: String,
    pub category: String,
    pub message: String,
}

/// One DESIGN.md §10 target and what this run says about it.
#[derive(Serialize, Debug)]
pub struct Target {
    pub target: String,
    pub measured: String,
    pub verdict: &'static str,
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

impl Report {
    /// Judges every target this run measured.
    pub fn judge(&mut self) {
        let mut t = Vec::new();
        if let Some(r) = &self.rollback {
            if let Some(s) = &r.decision_to_canary_zero {
                t.push(Target {
                    target: "verdict → canary share written 0 within 1 s".into(),
                    measured: format!("max {:.0} ms (p95 {:.0}, n {})", s.max_ms, s.p95_ms, s.n),
                    verdict: verdict(s.max_ms <= 1000.0),
                });
            }
            if let Some(s) = &r.flip_to_canary_zero {
                t.push(Target {
                    target:
                        "bad metric → rollback within interval×failureLimit + scrape + 2 s (5 s)"
                            .into(),
                    measured: format!("max {:.0} ms (p95 {:.0}, n {})", s.max_ms, s.p95_ms, s.n),
                    verdict: verdict(s.max_ms <= r.flip_bound_ms),
                });
            }
            match (&r.decision_to_receiver, &r.incident_note) {
                (Some(s), _) => t.push(Target {
                    target: "incident: first delivery attempt within 1 s of the rollback decision"
                        .into(),
                    measured: format!("max {:.0} ms (p95 {:.0}, n {})", s.max_ms, s.p95_ms, s.n),
                    verdict: verdict(s.max_ms <= 1000.0),
                }),
                (None, Some(note)) => t.push(Target {
                    target: "incident: first delivery attempt within 1 s of the rollback decision"
                        .into(),
                    measured: note.clone(),
                    verdict: "not measured",
                }),
                _ => {}
            }
        }
        for s in &self.scale {
            if let Some(lag) = &s.stage_lag {
                t.push(Target {
                    target: format!("{} Rollouts: stage lag p99 < 1 s", s.rollouts),
                    measured: format!(
                        "p99 {:.0} ms (p50 {:.0}, n {})",
                        lag.p99_ms, lag.p50_ms, lag.n
                    ),
                    verdict: verdict(lag.p99_ms < 1000.0),
                });
            }
            t.push(Target {
                target: format!("{} Rollouts: controller RSS < 100 MB", s.rollouts),
                measured: format!("peak {:.1} MB", s.peak_rss_mb),
                verdict: verdict(s.peak_rss_mb < 100.0),
            });
        }
        if let Some(i) = &self.idle {
            t.push(Target {
                target: format!("{} idle Rollouts: controller RSS < 300 MB", i.rollouts),
                measured: format!(
                    "{:.1} MB idle, peak {:.1} MB",
                    i.rss_mb_after_idle, i.peak_rss_mb
                ),
                verdict: verdict(i.peak_rss_mb < 300.0),
            });
        }
        self.targets = t;
    }

    /// The human-readable summary.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let m = &self.machine;
        let _ = writeln!(
            out,
            "machine: {} cores ({}), {} GiB, load {} → {}",
            m.cores, m.cpu_model, m.memory_gib, m.load_average_at_start, m.load_average_at_end
        );
        let _ = writeln!(
            out,
            "{:<46} {:>5} {:>9} {:>9} {:>9} {:>9}",
            "latency", "n", "p50 ms", "p95 ms", "p99 ms", "max ms"
        );
        let row = |out: &mut String, name: &str, s: &Option<Summary>| {
            if let Some(s) = s {
                let _ = writeln!(
                    out,
                    "{name:<46} {:>5} {:>9.0} {:>9.0} {:>9.0} {:>9.0}",
                    s.n, s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms
                );
            }
        };
        if let Some(r) = &self.rollback {
            row(
                &mut out,
                "1a decision → canary replicas 0 (watch)",
                &r.decision_to_canary_zero,
            );
            row(
                &mut out,
                "1b decision → stable full, canary unready",
                &r.decision_to_stable_full,
            );
            row(&mut out, "2  metric flip → decision", &r.flip_to_decision);
            row(
                &mut out,
                "2  metric flip → canary replicas 0",
                &r.flip_to_canary_zero,
            );
            row(
                &mut out,
                "2  metric flip → canary has no ready pod",
                &r.flip_to_canary_unready,
            );
            row(
                &mut out,
                "3  incident detectedAt → webhook arrival",
                &r.detected_to_receiver,
            );
            row(
                &mut out,
                "3  rollback decision → webhook arrival",
                &r.decision_to_receiver,
            );
            row(
                &mut out,
                "3  detectedAt → firstAttemptAt",
                &r.detected_to_first_attempt,
            );
            if let Some(note) = &r.incident_note {
                let _ = writeln!(out, "3  incidents: {note}");
            }
        }
        for s in &self.scale {
            row(
                &mut out,
                &format!("4  {} Rollouts: stage lag", s.rollouts),
                &s.stage_lag,
            );
            for (stage, summary) in &s.stage_lag_by_stage {
                row(&mut out, &format!("     {stage}"), &Some(summary.clone()));
            }
        }
        for s in &self.scale {
            let _ = writeln!(
                out,
                "4  {} Rollouts: adopted in {:.1} s, released in {:.1} s; peak RSS {:.1} MB; \
                 controller CPU {:.1} s during the release; {:.1} API requests per Rollout \
                 (release), {:.1} (adoption); {} evaluations in {} rounds, {} Prometheus queries \
                 ({:.3} per evaluation, {:.2} per round)",
                s.rollouts,
                s.adoption_seconds,
                s.release_seconds,
                s.peak_rss_mb,
                s.release_cpu_seconds,
                s.release_requests_per_rollout,
                s.adoption_requests_per_rollout,
                s.evaluations,
                s.evaluation_rounds,
                s.prometheus_queries,
                s.queries_per_evaluation,
                s.queries_per_round,
            );
        }
        if let Some(i) = &self.idle {
            let _ = writeln!(
                out,
                "5  {} idle Rollouts: all reconciled {:.1} s and Healthy {:.1} s after start; \
                 RSS {:.1} MB (peak {:.1}); idle {:.3} cores, {:.2} API requests/s",
                i.rollouts,
                i.start_to_all_reconciled_seconds,
                i.start_to_all_healthy_seconds,
                i.rss_mb_after_idle,
                i.peak_rss_mb,
                i.idle_cpu_cores,
                i.idle_requests_per_second
            );
        }
        let regressions: Vec<String> = self
            .rollback
            .iter()
            .map(|r| ("rollback".to_string(), r.history_regressions))
            .chain(
                self.scale
                    .iter()
                    .map(|s| (format!("scale {}", s.rollouts), s.history_regressions)),
            )
            .chain(
                self.idle
                    .iter()
                    .map(|i| (format!("idle {}", i.rollouts), i.history_regressions)),
            )
            .map(|(name, n)| format!("{name} {n}"))
            .collect();
        let _ = writeln!(
            out,
            "status versions that lost a history entry (stale status writes): {}",
            regressions.join(", ")
        );
        for s in &self.scale {
            for (stage, t) in &s.timer_reconcile_to_status_by_stage {
                let beyond = s
                    .lag_beyond_timer_reconcile_by_stage
                    .iter()
                    .find(|(n, _)| n == stage)
                    .map(|(_, b)| b.p50_ms)
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "4  {} Rollouts {stage}: the reconcile that set the bake timer wrote its status {:.0} ms (p50; p99 {:.0}) after it started; lag beyond that: p50 {:.0} ms",
                    s.rollouts, t.p50_ms, t.p99_ms, beyond
                );
            }
        }
        let _ = writeln!(out, "targets (DESIGN.md §10):");
        for t in &self.targets {
            let _ = writeln!(out, "  [{}] {}: {}", t.verdict, t.target, t.measured);
        }
        for f in &self.failures {
            let _ = writeln!(
                out,
                "  FAILED {} ({}): {}",
                f.scenario, f.category, f.message
            );
        }
        out
    }
}

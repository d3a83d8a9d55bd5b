//! The human text of [`RolloutView`].

use std::fmt::Write as _;

use super::{GateView, RolloutView, StageState, StageView, number};
use crate::api::{Phase, Verdict};
use crate::cli::table;

const BAR_WIDTH: usize = 20;

/// The full `rollgate status` text.
pub fn render(view: &RolloutView) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Rollout:    {}/{}", view.namespace, view.name);
    let mut phase = format!("{:?}", view.phase);
    if view.frozen.is_some() {
        phase += " (frozen)";
    } else if view.paused && view.phase != Phase::Paused {
        phase += " (paused)";
    }
    if !view.observed {
        phase += " (controller has not seen the latest spec yet)";
    }
    let _ = writeln!(out, "Phase:      {phase}");
    if let Some(m) = &view.message {
        let _ = writeln!(out, "Message:    {}", one_line(m));
    }
    let _ = writeln!(out, "Revisions:  {}", revisions(view));
    let bar = table::bar(view.weight, BAR_WIDTH);
    match &view.rollback {
        // Now and at failure on their own lines: the pods at failure are not what runs now.
        Some(r) => {
            let _ = writeln!(out, "Weight:     {bar} {}% now", view.weight);
            let exposed = r
                .exposed_seconds
                .map_or_else(String::new, |s| format!(" for {}", table::age(s)));
            let _ = writeln!(
                out,
                "At failure: {}%, {} of {} pods on the canary{exposed}, stage {}/{}",
                r.weight, r.canary_pods, view.replicas, r.stage, r.stages
            );
        }
        None => {
            let _ = writeln!(
                out,
                "Weight:     {bar} {}% now   ({} of {} pods on the canary)",
                view.weight, view.canary_pods, view.replicas
            );
        }
    }
    let _ = writeln!(out, "Serving:    {}", serving(view));
    if let Some(f) = &view.frozen {
        let mut line = format!("Freeze {}", f.name);
        if let Some(by) = &f.by {
            line += &format!(" by {by}");
        }
        if let Some(reason) = &f.reason {
            line += &format!(": {}", one_line(reason));
        }
        if f.abort {
            line += " (aborts canaries)";
        }
        let _ = writeln!(out, "Frozen:     {line}");
    }
    if let Some(q) = view.queued_seconds {
        let _ = writeln!(
            out,
            "Queued:     waiting {} for a canary slot (the controller's concurrency cap)",
            table::age(q)
        );
    }
    for (i, c) in view.config_changes.iter().enumerate() {
        let label = if i == 0 { "Config:" } else { "" };
        let keys = if c.keys.is_empty() {
            String::new()
        } else {
            format!(" ({})", c.keys.join(", "))
        };
        let _ = writeln!(out, "{label:<12}{} {}{keys}", c.kind, c.name);
    }
    if let Some(i) = &view.incident {
        let _ = writeln!(out, "Incident:   {i}   (rollgate postmortem {i})");
    }
    if let Some(v) = &view.verification {
        let health = match v.stable_healthy {
            None => "no verdict yet",
            Some(true) => "healthy",
            Some(false) => "UNHEALTHY",
        };
        let window = if v.seconds_left > 0 {
            format!(
                "gates watch it for {} more",
                table::countdown(v.seconds_left)
            )
        } else {
            "no longer watched".to_string()
        };
        let _ = writeln!(
            out,
            "Stable:     {} {health} after the rollback ({window})",
            v.revision
        );
    }
    out += "\nStages:\n";
    out += &indent(&table::render(
        &["", "#", "WEIGHT", "BAKE", "APPROVAL", "STATUS"],
        &view.stages.iter().map(stage_row).collect::<Vec<_>>(),
    ));
    if let Some(r) = &view.rollback {
        let _ = writeln!(
            out,
            "\nRollback:   {} of {} at stage {}/{} ({}%), {} ago",
            r.reason,
            r.revision,
            r.stage,
            r.stages,
            r.weight,
            table::age(r.seconds_ago)
        );
        if !r.gates.is_empty() {
            out += &indent(&gate_table(&r.gates));
        }
    }
    if !view.gates.is_empty() {
        let measuring_stable = view.verification.is_some() && view.rollback.is_some();
        out += if measuring_stable {
            "\nGates (now measuring stable):\n"
        } else {
            "\nGates:\n"
        };
        out += &indent(&gate_table(&view.gates));
        for g in &view.gates {
            // The evidence of a statistical verdict is worth reading whatever the verdict.
            if let Some(m) = g.evidence.as_ref().or(g
                .message
                .as_ref()
                .filter(|_| g.verdict != Some(Verdict::Pass)))
            {
                let _ = writeln!(out, "  {}: {}", g.name, one_line(m));
            }
            if g.dry_run && g.verdict.is_some_and(|v| v != Verdict::Pass) {
                let _ = writeln!(
                    out,
                    "  {}: dry run, so it neither holds nor rolls back the release",
                    g.name
                );
            }
        }
    }
    if !view.history.is_empty() {
        out += "\nHistory:\n";
        let rows: Vec<Vec<String>> = view
            .history
            .iter()
            .map(|h| {
                vec![
                    format!("{} ago", table::age(h.seconds_ago)),
                    format!("{:?} → {:?}", h.from, h.to),
                    h.reason.clone(),
                    shorten(&one_line(&h.message), HISTORY_MESSAGE_CHARS),
                ]
            })
            .collect();
        out += &indent(&table::render(
            &["WHEN", "PHASE", "REASON", "MESSAGE"],
            &rows,
        ));
    }
    out
}

/// One revision when only one is in play; the canary's role said in words after a rollback.
fn revisions(view: &RolloutView) -> String {
    let Some(stable) = view.stable_revision.as_deref() else {
        return "none serving yet (adopting the Deployment)".into();
    };
    match view.canary_shown.as_deref() {
        Some(c) if view.rollback.is_some() => format!("stable {stable}   rolled back {c}"),
        Some(c) => format!("stable {stable}   canary {c}"),
        None => format!("stable {stable}"),
    }
}

/// Where the target's pods are: its own Deployment is at 0/0 once the tracks serve.
fn serving(view: &RolloutView) -> String {
    if view.served_by.is_empty() {
        return format!("Deployment {} (rollgate is adopting it)", view.target);
    }
    format!(
        "{} (Deployment {} is held at 0 replicas)",
        view.served_by.join(" + "),
        view.target
    )
}

/// History rows stay on one screen line; `-o json` has the whole message.
const HISTORY_MESSAGE_CHARS: usize = 100;

/// Whitespace runs (a multi-line query in a message) become one space.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn shorten(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_string();
    }
    let cut: String = text.chars().take(chars - 1).collect();
    cut + "…"
}

fn gate_table(gates: &[GateView]) -> String {
    table::render(
        &[
            "NAME",
            "VERDICT",
            "VALUE",
            "THRESHOLD",
            "FAILURES",
            "EVALUATED",
        ],
        &gates.iter().map(gate_row).collect::<Vec<_>>(),
    )
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

fn stage_row(s: &StageView) -> Vec<String> {
    let marker = match s.state {
        StageState::Done => "✔",
        StageState::Current => "▶",
        StageState::Failed => "✘",
        StageState::Pending => "·",
    };
    let status = match s.state {
        StageState::Done => "done".to_string(),
        StageState::Failed => "rolled back here".to_string(),
        StageState::Pending => String::new(),
        StageState::Current => s.waiting.clone().unwrap_or_default(),
    };
    vec![
        marker.into(),
        s.number.to_string(),
        format!("{}%", s.weight),
        s.bake.clone().unwrap_or_else(|| "-".into()),
        if s.manual { "manual" } else { "-" }.into(),
        status,
    ]
}

fn gate_row(g: &GateView) -> Vec<String> {
    let verdict = g
        .verdict
        .map_or_else(|| "-".to_string(), |v| format!("{v:?}"));
    let value = match (g.value, g.stable_value) {
        (Some(v), Some(s)) => format!("{} (stable {})", number(v), number(s)),
        (Some(v), None) => number(v),
        (None, _) => "-".into(),
    };
    // Watching stable after a rollback, failures count toward no limit; past the limit, the
    // limit is named rather than read as a fraction above one.
    let mut failures = if g.measures_stable {
        format!("{} in a row", g.consecutive_failures)
    } else if g.consecutive_failures as u32 > g.failure_limit {
        format!("{} (limit {})", g.consecutive_failures, g.failure_limit)
    } else {
        format!("{}/{}", g.consecutive_failures, g.failure_limit)
    };
    if g.consecutive_errors > 0 {
        failures += &format!(" ({}/{} errors)", g.consecutive_errors, g.error_limit);
    }
    let name = if g.dry_run {
        format!("{} (dry-run)", g.name)
    } else {
        g.name.clone()
    };
    vec![
        name,
        verdict,
        value,
        g.threshold.clone(),
        failures,
        g.evaluated_seconds_ago
            .map_or_else(|| "never".into(), |s| format!("{} ago", table::age(s))),
    ]
}

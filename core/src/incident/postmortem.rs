//! A blameless post-mortem draft in Markdown, written from what the Incident recorded: the
//! facts are filled in, the judgement (root cause, actions, lessons) is left to people.

use std::fmt::Write;

use jiff::Timestamp;

use crate::api::{Incident, IncidentStatus, Severity};

/// The draft for `incident`. Pure: the same Incident always renders the same text.
pub fn render(incident: &Incident) -> String {
    let status = incident.status.clone().unwrap_or_default();
    let mut md = String::new();
    header(&mut md, incident, &status);
    impact(&mut md, incident, &status);
    detection(&mut md, incident);
    response(&mut md, incident, &status);
    timeline(&mut md, &status);
    to_fill(&mut md);
    md
}

fn header(md: &mut String, incident: &Incident, status: &IncidentStatus) {
    let spec = &incident.spec;
    let name = match &incident.metadata.namespace {
        Some(ns) => format!("{ns}/{}", incident.metadata.name.as_deref().unwrap_or("")),
        None => incident.metadata.name.clone().unwrap_or_default(),
    };
    let _ = writeln!(md, "# Post-mortem: {}\n", one_line(&spec.title));
    let _ = writeln!(
        md,
        "_Draft written by rollgate from Incident {}. Blameless: it records what the systems did and \
         what people knew at the time, not who is at fault. Check every fact and fill in the open \
         sections._\n",
        code(&name)
    );
    let severity = match status.severity.filter(|s| *s != spec.severity) {
        Some(raised) => format!("{} (raised to {})", sev(spec.severity), sev(raised)),
        None => sev(spec.severity).to_owned(),
    };
    table(
        md,
        &["Field", "Value"],
        vec![
            vec!["Status".into(), "Draft".into()],
            vec!["Incident".into(), code(&name)],
            vec!["Rollout".into(), code(&spec.rollout_ref.name)],
            vec!["Severity".into(), severity],
            vec!["State".into(), format!("{:?}", status.state)],
            vec!["Owner".into(), or_dash(spec.owner.as_deref())],
            vec![
                "Runbook".into(),
                spec.runbook
                    .as_deref()
                    .map_or("—".into(), |r| link("runbook", r)),
            ],
            vec!["Dedup key".into(), code(&spec.dedup_key)],
        ],
    );
    let _ = writeln!(md, "\n## Summary\n\n{}\n", spec.summary.trim());
}

fn impact(md: &mut String, incident: &Incident, status: &IncidentStatus) {
    let spec = &incident.spec;
    let exposure = &spec.exposure;
    let _ = writeln!(md, "## Impact\n");
    let _ = writeln!(
        md,
        "- **Exposure:** {}% of pods ({} canary pod{}) served revision {}.",
        exposure.weight,
        exposure.canary_pods,
        if exposure.canary_pods == 1 { "" } else { "s" },
        code(&spec.from_revision)
    );
    let duration = match status.rollback_completed_at {
        Some(done) => format!(
            "{}, from {} (canary exposed) to {} (rollback completed).",
            between(exposure.since, done),
            when(exposure.since),
            when(done)
        ),
        None => format!(
            "{} before the rollback decision (from {}); the rollback had not completed when this \
             draft was written.",
            seconds(exposure.seconds),
            when(exposure.since)
        ),
    };
    let _ = writeln!(md, "- **Duration:** {duration}");
    let _ = writeln!(
        md,
        "- **Stage:** {} (weight {}%).",
        spec.stage.index + 1,
        spec.stage.weight
    );
    let _ = writeln!(
        md,
        "- **Revisions:** released {}, rolled back to {}.",
        code(&spec.from_revision),
        code(&spec.to_revision)
    );
    let occurrences = status.occurrences.len().max(1);
    let _ = writeln!(md, "- **Rollback decisions:** {occurrences}.\n");
    let _ = writeln!(md, "### Images\n");
    if spec.images.is_empty() {
        let _ = writeln!(md, "_No image changed._\n");
    } else {
        let rows = spec
            .images
            .iter()
            .map(|i| vec![code(&i.container), opt_code(&i.from), opt_code(&i.to)])
            .collect();
        // In the release's direction: what was released, then what the rollback restored.
        table(md, &["Container", "Released", "Rolled back to"], rows);
        md.push('\n');
    }
    let _ = writeln!(md, "### Configuration changes\n");
    if spec.config_changes.is_empty() {
        let _ = writeln!(md, "_No ConfigMap or Secret changed._\n");
    } else {
        let rows = spec
            .config_changes
            .iter()
            .map(|c| {
                let keys = c
                    .keys
                    .iter()
                    .map(|k| code(k))
                    .collect::<Vec<_>>()
                    .join(", ");
                vec![
                    c.kind.clone(),
                    code(&c.name),
                    if keys.is_empty() { "—".into() } else { keys },
                ]
            })
            .collect();
        table(md, &["Kind", "Name", "Keys changed"], rows);
        md.push('\n');
    }
}

fn detection(md: &mut String, incident: &Incident) {
    let spec = &incident.spec;
    let _ = writeln!(md, "## Detection\n");
    let _ = writeln!(
        md,
        "rollgate detected the failure at {} (reason: {}), after the canary had served for {}.\n",
        when(spec.detected_at),
        code(&spec.reason),
        seconds(spec.exposure.seconds)
    );
    if spec.failed_gates.is_empty() {
        let _ = writeln!(
            md,
            "_No gate failed; the reason above triggered the rollback._\n"
        );
        return;
    }
    let rows = spec
        .failed_gates
        .iter()
        .map(|g| {
            vec![
                code(&g.name),
                g.verdict.clone(),
                g.value.map_or("—".into(), number),
                g.stable_value.map_or("—".into(), number),
                or_dash(g.threshold.as_deref()),
                g.consecutive_failures.to_string(),
                g.graph_url
                    .as_deref()
                    .map_or("—".into(), |u| link("graph", u)),
            ]
        })
        .collect();
    table(
        md,
        &[
            "Gate",
            "Verdict",
            "Value",
            "Stable",
            "Threshold",
            "Consecutive failures",
            "Graph",
        ],
        rows,
    );
    let evidence: Vec<_> = spec
        .failed_gates
        .iter()
        .filter_map(|g| g.evidence.as_ref().map(|e| (&g.name, e)))
        .collect();
    if !evidence.is_empty() {
        let _ = writeln!(md, "\n### Evidence\n");
        for (name, e) in evidence {
            let _ = writeln!(md, "- {}: {e}", code(name));
        }
    }
    let _ = writeln!(md, "\n### Queries\n");
    for g in &spec.failed_gates {
        let fence = fence_for(&g.query);
        let _ = writeln!(
            md,
            "{}:\n\n{fence}promql\n{}\n{fence}\n",
            code(&g.name),
            g.query.trim()
        );
    }
}

fn response(md: &mut String, incident: &Incident, status: &IncidentStatus) {
    let spec = &incident.spec;
    let detected = spec.detected_at;
    let _ = writeln!(md, "## Response\n");
    let step = |at: Option<Timestamp>| match at {
        Some(at) => format!("{} ({} after detection)", when(at), between(detected, at)),
        None => "not recorded".to_owned(),
    };
    let _ = writeln!(
        md,
        "- **Rollback started:** {}.",
        step(status.rollback_started_at)
    );
    let _ = writeln!(
        md,
        "- **Rollback completed:** {}.",
        step(status.rollback_completed_at)
    );
    let stable = match status.stable_healthy {
        Some(true) => "healthy after the rollback".to_owned(),
        Some(false) => format!(
            "**unhealthy** after the rollback; the incident was escalated{}",
            status
                .severity
                .map_or(String::new(), |s| format!(" to {}", sev(s)))
        ),
        None => "not verified".to_owned(),
    };
    let _ = writeln!(
        md,
        "- **Stable revision {}:** {stable}.",
        code(&spec.to_revision)
    );
    let _ = writeln!(
        md,
        "- **Acknowledged by:** {}.",
        or_dash(spec.acknowledged_by.as_deref())
    );
    let _ = writeln!(
        md,
        "- **Resolved by:** {}.\n",
        or_dash(spec.resolved_by.as_deref())
    );
    if status.deliveries.is_empty() {
        return;
    }
    let _ = writeln!(md, "### Notifications\n");
    let rows = status
        .deliveries
        .iter()
        .map(|d| {
            vec![
                code(&d.channel),
                format!("{:?}", d.message),
                format!("{:?}", d.state),
                d.attempts.to_string(),
                d.delivered_at.map_or("—".into(), when),
                or_dash(d.last_error.as_deref()),
            ]
        })
        .collect();
    table(
        md,
        &[
            "Channel",
            "Message",
            "State",
            "Attempts",
            "Delivered",
            "Last error",
        ],
        rows,
    );
    md.push('\n');
}

fn timeline(md: &mut String, status: &IncidentStatus) {
    let _ = writeln!(md, "## Timeline\n");
    if status.timeline.is_empty() {
        let _ = writeln!(md, "_Nothing recorded._\n");
        return;
    }
    let mut entries: Vec<_> = status.timeline.iter().collect();
    entries.sort_by_key(|e| e.at);
    let rows = entries
        .into_iter()
        .map(|e| {
            vec![
                when(e.at),
                e.actor.clone(),
                format!("{:?}", e.type_),
                e.message.clone(),
            ]
        })
        .collect();
    table(md, &["Time (UTC)", "Actor", "Event", "Details"], rows);
    md.push('\n');
}

fn to_fill(md: &mut String) {
    md.push_str(
        "## Root cause\n\n\
         _To fill in: what in the change made the canary fail, and why it was not caught before \
         the rollout (review, tests, staging)?_\n\n\
         ## Action items\n\n",
    );
    table(
        md,
        &["Action", "Owner", "Due", "Status"],
        vec![vec![String::new(); 4]],
    );
    md.push_str(
        "\n## Lessons learned\n\n\
         ### What went well\n\n- \n\n\
         ### What went wrong\n\n- \n\n\
         ### Where we got lucky\n\n- \n",
    );
}

/// A GFM table; cells are escaped so a `|` or a newline in a value keeps the table whole.
fn table(md: &mut String, head: &[&str], rows: Vec<Vec<String>>) {
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    md.push_str(&line(head.iter().map(|h| cell(h)).collect()));
    md.push_str(&line(head.iter().map(|_| "---".to_owned()).collect()));
    for mut row in rows {
        row.resize(head.len(), String::new());
        md.push_str(&line(row.iter().map(|c| cell(c)).collect()));
    }
}

fn cell(s: &str) -> String {
    s.trim()
        .replace('|', "\\|")
        .replace("\r\n", "<br>")
        .replace('\n', "<br>")
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn code(s: &str) -> String {
    let s = one_line(s);
    if s.contains('`') {
        format!("`` {s} ``")
    } else {
        format!("`{s}`")
    }
}

fn opt_code(s: &Option<String>) -> String {
    s.as_deref().map_or("—".into(), code)
}

fn link(text: &str, url: &str) -> String {
    format!("[{text}](<{}>)", url.replace('>', "%3E"))
}

fn or_dash(s: Option<&str>) -> String {
    s.filter(|s| !s.trim().is_empty())
        .map_or("—".into(), one_line)
}

/// A fence longer than any backtick run in `text`.
fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat((longest + 1).max(3))
}

fn sev(s: Severity) -> &'static str {
    match s {
        Severity::Sev1 => "sev1",
        Severity::Sev2 => "sev2",
        Severity::Sev3 => "sev3",
        Severity::Sev4 => "sev4",
    }
}

fn number(v: f64) -> String {
    let s = format!("{v:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn when(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

fn seconds(s: i64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(s.max(0) as u64)).to_string()
}

fn between(from: Timestamp, to: Timestamp) -> String {
    seconds(to.as_second() - from.as_second())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Delivery, DeliveryState, MessageKind};
    use crate::incident::channels::fixture;

    /// Every line of every table has the header's number of unescaped `|`.
    fn assert_tables_well_formed(md: &str) {
        let lines: Vec<&str> = md.lines().collect();
        let pipes = |l: &str| {
            let b = l.as_bytes();
            (0..b.len())
                .filter(|&i| b[i] == b'|' && (i == 0 || b[i - 1] != b'\\'))
                .count()
        };
        let mut i = 0;
        let mut tables = 0;
        while i < lines.len() {
            if lines[i].starts_with('|') {
                tables += 1;
                let width = pipes(lines[i]);
                assert!(lines[i].ends_with('|'), "{}", lines[i]);
                let separator = lines[i + 1];
                assert_eq!(pipes(separator), width, "{separator}");
                assert!(
                    separator
                        .split('|')
                        .all(|c| c.trim().is_empty() || c.trim() == "---")
                );
                while i < lines.len() && lines[i].starts_with('|') {
                    assert_eq!(pipes(lines[i]), width, "row {:?}", lines[i]);
                    assert!(lines[i].ends_with('|'));
                    i += 1;
                }
                assert!(
                    i == lines.len() || lines[i].is_empty(),
                    "a blank line ends a table"
                );
            } else {
                i += 1;
            }
        }
        assert!(tables >= 6, "{tables} tables");
    }

    #[test]
    fn renders_a_complete_draft_from_a_full_incident() {
        let incident = fixture::incident();
        let md = render(&incident);
        for section in [
            "# Post-mortem: Rolled back shop/checkout",
            "## Summary",
            "## Impact",
            "### Images",
            "### Configuration changes",
            "## Detection",
            "### Queries",
            "## Response",
            "### Notifications",
            "## Timeline",
            "## Root cause",
            "## Action items",
            "## Lessons learned",
            "### What went well",
            "### What went wrong",
            "### Where we got lucky",
        ] {
            assert!(
                md.lines().any(|l| l.starts_with(section)),
                "missing {section}\n{md}"
            );
        }
        assert!(md.contains("50% of pods (5 canary pods) served revision `91be02`"));
        assert!(md.contains(
            "5m 30s, from 2026-03-01 10:00:00 UTC (canary exposed) to 2026-03-01 10:05:30 UTC"
        ));
        assert!(md.contains("`registry.example/checkout:1.5.0`"));
        assert!(md.contains("`checkout-config` | `timeout`, `retries`"));
        assert!(md.contains("**Rollback started:** 2026-03-01 10:04:05 UTC (5s after detection)"));
        assert!(md.contains("**Stable revision `7f3c9a`:** healthy after the rollback"));
        assert!(md.contains("**Acknowledged by:** alice"));
        for gate in &incident.spec.failed_gates {
            assert!(
                md.contains(&format!("| `{}` |", gate.name)),
                "gate row {}",
                gate.name
            );
            assert!(md.contains(&gate.query), "query of {}", gate.name);
            assert!(md.contains(gate.graph_url.as_deref().unwrap()));
        }
        assert!(md.contains("| 0.05 | — | max 0.01 | 2 |"));
        for entry in &incident.status.as_ref().unwrap().timeline {
            let row = format!(
                "| {} | {} | {:?} |",
                when(entry.at),
                entry.actor,
                entry.type_
            );
            assert!(md.contains(&row), "timeline row {row}");
            assert!(md.contains(&cell(&entry.message)), "{}", entry.message);
        }
        assert!(
            md.contains("stable 7f3c9a serves 100% \\| 10 pods"),
            "pipes escaped"
        );
        assert!(md.contains("| Action | Owner | Due | Status |"));
        assert_tables_well_formed(&md);
    }

    #[test]
    fn timeline_is_in_time_order() {
        let md = render(&fixture::incident());
        let timeline = md
            .split("## Timeline")
            .nth(1)
            .unwrap()
            .split("\n\n")
            .nth(1)
            .unwrap();
        let times: Vec<&str> = timeline.lines().skip(2).map(|l| &l[2..25]).collect();
        let mut sorted = times.clone();
        sorted.sort();
        assert_eq!(times, sorted);
        assert_eq!(times.len(), 5);
    }

    #[test]
    fn unfinished_and_escalated_incidents_say_so() {
        let mut incident = fixture::incident();
        let status = incident.status.as_mut().unwrap();
        status.rollback_completed_at = None;
        status.stable_healthy = Some(false);
        status.severity = Some(Severity::Sev1);
        status.deliveries.push(Delivery {
            channel: "payments-slack".into(),
            message: MessageKind::Trigger,
            state: DeliveryState::Failed,
            attempts: 3,
            last_error: Some("HTTP 404: no_service".into()),
            next_attempt_at: None,
            first_attempt_at: None,
            delivered_at: None,
            external_id: None,
            facts: None,
        });
        incident.spec.acknowledged_by = None;
        incident.spec.images.clear();
        incident.spec.failed_gates[0].query = "a ``` b".into();
        let md = render(&incident);
        assert!(md.contains("the rollback had not completed"));
        assert!(md.contains("**Rollback completed:** not recorded"));
        assert!(md.contains("sev2 (raised to sev1)"));
        assert!(
            md.contains("**unhealthy** after the rollback; the incident was escalated to sev1")
        );
        assert!(md.contains("**Acknowledged by:** —"));
        assert!(md.contains("_No image changed._"));
        assert!(md.contains("````promql\na ``` b\n````"));
        assert!(
            md.contains("| `payments-slack` | Trigger | Failed | 3 | — | HTTP 404: no_service |")
        );
        assert_tables_well_formed(&md);
    }

    #[test]
    fn renders_without_status() {
        let mut incident = fixture::incident();
        incident.status = None;
        let md = render(&incident);
        assert!(md.contains("## Timeline\n\n_Nothing recorded._"));
        assert!(md.contains("## Lessons learned"));
    }
}

//! The tally of each gate: which gates are due, how a reading updates a gate's counters, and
//! what the gates say together. The verdict of one reading comes from `crate::gates` (the judge).

use std::time::Duration;

use jiff::Timestamp;

use super::{GateSpec, Reading};
use crate::api::{GateStatus, Verdict};

/// Why a gate is evaluated, and so which revision it measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Once per canary revision, against stable, before the canary gets any share.
    Preflight,
    /// While a canary is exposed, against the canary (and stable, for comparisons).
    Stage,
    /// After a rollback, against stable: is the old revision healthy?
    Verification,
}

/// One evaluation the planner wants before it can decide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub gate: usize,
    pub purpose: Purpose,
    /// The revision to measure.
    pub revision: String,
}

/// Whether a gate should be evaluated now for `revision`.
pub(super) fn is_due(
    spec: &GateSpec,
    prev: Option<&GateStatus>,
    revision: &str,
    now: Timestamp,
) -> bool {
    match prev {
        Some(p) if p.revision.as_deref() == Some(revision) => {
            now >= after(p.evaluated_at, spec.interval)
        }
        _ => true,
    }
}

/// Folds a reading into the gate's status. Counters restart when the measured revision changes.
///
/// No data is judged in context: within the gate's data grace after Prometheus answers again
/// (following errors), or after `settling` (a rollback: stable's windows refill), it is
/// inconclusive — held, neither a pass nor a failure. After the grace, `onNoData` applies.
pub(super) fn fold(
    spec: &GateSpec,
    prev: Option<&GateStatus>,
    reading: &Reading,
    now: Timestamp,
    settling: Option<Timestamp>,
) -> GateStatus {
    let same = prev.filter(|p| p.revision.as_deref() == Some(reading.revision.as_str()));
    let (mut failures, mut errors) =
        same.map_or((0, 0), |p| (p.consecutive_failures, p.consecutive_errors));
    let recovered_at = match reading.verdict {
        Verdict::Error | Verdict::Pass => None,
        _ if same.is_some_and(|p| p.consecutive_errors > 0) => Some(now),
        _ => same.and_then(|p| p.recovered_at),
    };
    let grace_until = [recovered_at, settling]
        .into_iter()
        .flatten()
        .max()
        .map(|t| after(t, spec.data_grace))
        .filter(|end| now < *end);
    let mut message = reading.message.clone();
    let verdict = match (reading.verdict, grace_until) {
        (Verdict::NoData, Some(end)) => {
            message = format!(
                "no data yet: inconclusive until {} while the query's window refills, then onNoData applies",
                super::instant(end)
            );
            Verdict::NoData
        }
        (v, _) => spec.decided(v),
    };
    match verdict {
        Verdict::Pass => (failures, errors) = (0, 0),
        Verdict::Fail => (failures, errors) = (failures.saturating_add(1), 0),
        Verdict::Error => errors = errors.saturating_add(1),
        // Hold: neither a pass nor a failure.
        Verdict::NoData | Verdict::Inconclusive => errors = 0,
    }
    GateStatus {
        name: spec.name().to_string(),
        revision: Some(reading.revision.clone()),
        verdict: reading.verdict,
        value: reading.value,
        stable_value: reading.stable_value,
        threshold: reading.threshold.clone(),
        query: Some(reading.query.clone()),
        message: Some(message).filter(|m| !m.is_empty()),
        evidence: reading.evidence.clone(),
        dry_run: spec.dry_run(),
        consecutive_failures: failures,
        consecutive_errors: errors,
        recovered_at,
        evaluated_at: now,
    }
}

/// What the gates say together about `revision`.
#[derive(Debug, Default)]
pub(super) struct Summary {
    /// Gates at or past their failure limit.
    pub failed: Vec<GateStatus>,
    /// Gates that Prometheus could not answer `errorLimit` times in a row.
    pub errored: Vec<GateStatus>,
    /// Every gate passed in an evaluation at or after `since`.
    pub all_pass: bool,
}

pub(super) fn summarize<'a>(
    specs: impl Iterator<Item = &'a GateSpec>,
    statuses: &[GateStatus],
    revision: &str,
    since: Option<Timestamp>,
) -> Summary {
    let mut s = Summary {
        all_pass: true,
        ..Default::default()
    };
    // A dry-run gate is recorded and shown, never acting: it neither holds nor fails a stage.
    for spec in specs.filter(|s| !s.dry_run()) {
        let st = statuses
            .iter()
            .find(|g| g.name == spec.name() && g.revision.as_deref() == Some(revision));
        let Some(st) = st else {
            s.all_pass = false;
            continue;
        };
        if st.consecutive_failures >= spec.failure_limit as i32 {
            s.failed.push(st.clone());
        }
        if st.consecutive_errors >= spec.error_limit as i32 {
            s.errored.push(st.clone());
        }
        let fresh = since.is_none_or(|t| st.evaluated_at >= t);
        if !(fresh && spec.decided(st.verdict) == Verdict::Pass) {
            s.all_pass = false;
        }
    }
    s
}

/// `t + d`, saturating at the far future rather than failing on absurd durations.
pub(super) fn after(t: Timestamp, d: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(Timestamp::MAX)
}

/// Why each gate that holds `revision`'s stage is not passing, in a few words (the stage's
/// message names them: a person should not need the gate table to know what it waits for).
pub(super) fn holding<'a>(
    specs: impl Iterator<Item = &'a GateSpec>,
    statuses: &[GateStatus],
    revision: &str,
    since: Timestamp,
) -> Vec<String> {
    specs
        .filter(|spec| !spec.dry_run())
        .filter_map(|spec| {
            let name = spec.name();
            let st = statuses.iter().find(|g| {
                g.name == name && g.revision.as_deref() == Some(revision) && g.evaluated_at >= since
            });
            let Some(st) = st else {
                return Some(format!("{name} not yet evaluated at this stage"));
            };
            let value = st.value.map(crate::gates::number);
            let against = st.threshold.as_deref().unwrap_or("its threshold");
            match spec.decided(st.verdict) {
                Verdict::Pass => None,
                Verdict::Fail => Some(format!(
                    "{name} failing {}/{} ({} against {against})",
                    st.consecutive_failures,
                    spec.failure_limit,
                    value.as_deref().unwrap_or("no data")
                )),
                Verdict::Error => Some(format!(
                    "{name} cannot be evaluated {}/{} (Prometheus error)",
                    st.consecutive_errors, spec.error_limit
                )),
                Verdict::Inconclusive => Some(format!(
                    "{name} inconclusive: {}",
                    st.message.as_deref().unwrap_or("not enough evidence yet")
                )),
                Verdict::NoData => Some(match st.message.as_deref() {
                    // Inconclusive for a grace (the fold's message says until when).
                    Some(m) if m.starts_with("no data yet") => format!("{name}: {m}"),
                    _ => format!("{name} has no data, held (onNoData: Hold)"),
                }),
            }
        })
        .collect()
}

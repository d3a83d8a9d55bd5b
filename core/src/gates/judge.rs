//! The verdict of one gate evaluation, from plain numbers: no clock, no Prometheus.

use std::fmt;

use super::Kind;
use super::sequential::{self, Counts, Outcome};
use crate::api::{Evidence, Gate, InconclusivePolicy, NoDataPolicy, Verdict};

/// What one query returned: the values of an instant vector or a scalar, or why it failed
/// (Prometheus unreachable, query error).
pub type Measurement = Result<Vec<f64>, String>;

/// One series of a range query: (unix second, value) per step.
pub type Series = Vec<(i64, f64)>;

/// What a range query returned (series × samples), or why it failed.
pub type RangeMeasurement = Result<Vec<Series>, String>;

#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    pub verdict: Verdict,
    /// The canary's value; with several series, the worst one.
    pub value: Option<f64>,
    /// The stable baseline of a compare gate.
    pub stable_value: Option<f64>,
    /// The bound the value was held to, e.g. `<= 0.01` or `<= stable + 20% (0.012)`.
    pub threshold: Option<String>,
    pub message: String,
    /// A statistical judge's evidence.
    pub evidence: Option<Evidence>,
}

/// `compare.maxIncrease`: `20%` (relative to stable) or `0.01` (absolute).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MaxIncrease {
    /// A fraction: `20%` is 0.2.
    Relative(f64),
    Absolute(f64),
}

/// Why a gate bound may not be NaN or infinite: NaN compares false with every measurement and
/// an infinite bound holds for every one, so the gate would decide nothing.
pub fn not_finite(value: &str) -> String {
    format!("min, max and maxIncrease must be finite numbers, got {value}")
}

/// A non-finite number as people and YAML write it.
pub fn shown(value: f64) -> String {
    match value {
        v if v.is_nan() => "NaN (.nan)".into(),
        v if v > 0.0 => "Infinity (.inf)".into(),
        _ => "-Infinity (-.inf)".into(),
    }
}

impl MaxIncrease {
    pub fn parse(text: &str) -> Result<Self, String> {
        let invalid = || {
            format!("maxIncrease {text:?} is neither a percentage like 20% nor a number like 0.01")
        };
        let (number, relative) = match text.strip_suffix('%') {
            Some(number) => (number, true),
            None => (text, false),
        };
        let value: f64 = number.trim().parse().map_err(|_| invalid())?;
        if !value.is_finite() {
            return Err(not_finite(&format!("{text:?}")));
        }
        if value < 0.0 {
            return Err(invalid());
        }
        Ok(if relative {
            Self::Relative(value / 100.0)
        } else {
            Self::Absolute(value)
        })
    }

    /// The most the canary may measure. Relative bounds grow with the magnitude of stable, so a
    /// negative baseline is not tightened; a zero baseline allows no increase at all.
    pub fn limit(self, stable: f64) -> f64 {
        match self {
            Self::Relative(fraction) => stable + stable.abs() * fraction,
            Self::Absolute(delta) => stable + delta,
        }
    }
}

impl fmt::Display for MaxIncrease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Relative(fraction) => write!(f, "{}%", number(fraction * 100.0)),
            Self::Absolute(delta) => write!(f, "{}", number(*delta)),
        }
    }
}

/// One inclusive bound a value must meet.
enum Bound {
    AtLeast(f64),
    AtMost(f64),
}

impl Bound {
    fn holds(&self, v: f64) -> bool {
        match *self {
            Self::AtLeast(min) => v >= min,
            Self::AtMost(max) => v <= max,
        }
    }

    /// How far inside the bound `v` is; negative outside. Picks the worst series.
    fn margin(&self, v: f64) -> f64 {
        let margin = match *self {
            Self::AtLeast(min) => v - min,
            Self::AtMost(max) => max - v,
        };
        // Only equal infinities give NaN, and those sit exactly on the bound.
        if margin.is_nan() { 0.0 } else { margin }
    }
}

/// Preflight asks of stable only: does the query run, and does it return data? Any NaN is no
/// data here, as a series that cannot be judged would hold the canary later.
pub fn preflight(measurement: &Measurement) -> Judgement {
    let (verdict, message) = match measurement {
        Err(e) => (Verdict::Error, e.clone()),
        Ok(v) if v.is_empty() || v.iter().any(|x| x.is_nan()) => (Verdict::NoData, String::new()),
        Ok(_) => (Verdict::Pass, String::new()),
    };
    Judgement {
        verdict,
        value: measurement.as_ref().ok().and_then(|v| v.first().copied()),
        stable_value: None,
        threshold: None,
        message,
        evidence: None,
    }
}

/// Judges a gate from the canary measurement and, for a `compare` gate, the stable one taken at
/// the same instant. Never applies `onNoData`: see [`apply_no_data_policy`].
pub fn judge(gate: &Gate, canary: &Measurement, stable: Option<&Measurement>) -> Judgement {
    let verdict = |verdict, message: String| Judgement {
        verdict,
        value: None,
        stable_value: None,
        threshold: None,
        message,
        evidence: None,
    };
    let canary = match canary {
        Err(e) => return verdict(Verdict::Error, format!("query failed: {e}")),
        Ok(values) => values,
    };
    let kind = match Kind::of(gate) {
        Ok(kind) => kind,
        Err(e) => return verdict(Verdict::Error, e.message),
    };
    match kind {
        Kind::Alert { .. } => return super::alert::judge(&Ok(canary.clone())),
        Kind::Sequential(_) | Kind::Msprt(_) | Kind::Kayenta(_) => {
            return verdict(
                Verdict::Error,
                "a statistical gate is judged from its counts or series".into(),
            );
        }
        Kind::Threshold { .. } | Kind::Compare { .. } => {}
    }
    let mut bounds = Vec::new();
    let mut thresholds = Vec::new();
    let (min, max) = kind.bounds();
    if let Some(min) = min {
        bounds.push(Bound::AtLeast(min));
        thresholds.push(format!(">= {}", number(min)));
    }
    if let Some(max) = max {
        bounds.push(Bound::AtMost(max));
        thresholds.push(format!("<= {}", number(max)));
    }
    let mut stable_value = None;
    if let Kind::Compare { max_increase, .. } = kind {
        let increase = max_increase;
        let stable = match stable {
            None => {
                return verdict(
                    Verdict::Error,
                    "compare gate judged without a stable measurement".into(),
                );
            }
            Some(Err(e)) => return verdict(Verdict::Error, format!("stable query failed: {e}")),
            Some(Ok(values)) => values,
        };
        if let Some(why) = no_data(stable) {
            return verdict(Verdict::NoData, format!("stable query {why}"));
        }
        // With several stable series, the lowest is the baseline: the strictest limit.
        let baseline = stable.iter().copied().fold(f64::INFINITY, f64::min);
        if !baseline.is_finite() {
            let message =
                format!("stable value is {baseline}; a comparison needs a finite baseline");
            return Judgement {
                stable_value: Some(baseline),
                ..verdict(Verdict::NoData, message)
            };
        }
        let limit = increase.limit(baseline);
        stable_value = Some(baseline);
        bounds.push(Bound::AtMost(limit));
        thresholds.push(format!("<= stable + {increase} ({})", number(limit)));
    }
    let threshold = (!thresholds.is_empty()).then(|| thresholds.join(" and "));
    if let Some(why) = no_data(canary) {
        return Judgement {
            stable_value,
            threshold,
            ..verdict(Verdict::NoData, format!("query {why}"))
        };
    }
    let margin = |v: f64| {
        bounds
            .iter()
            .map(|b| b.margin(v))
            .fold(f64::INFINITY, f64::min)
    };
    let worst = canary
        .iter()
        .copied()
        .min_by(|a, b| margin(*a).total_cmp(&margin(*b)))
        .expect("not empty");
    let failing = canary
        .iter()
        .filter(|v| !bounds.iter().all(|b| b.holds(**v)))
        .count();
    let threshold_text = threshold.as_deref().unwrap_or_default();
    let series = match canary.len() {
        1 => String::new(),
        n => format!(" (worst of {n} series, {failing} failing)"),
    };
    let (verdict, message) = if failing == 0 {
        (
            Verdict::Pass,
            format!("{} meets {threshold_text}{series}", number(worst)),
        )
    } else {
        (
            Verdict::Fail,
            format!("{} breaks {threshold_text}{series}", number(worst)),
        )
    };
    Judgement {
        verdict,
        value: Some(worst),
        stable_value,
        threshold,
        message,
        evidence: None,
    }
}

/// The four counters of a sequential gate as Prometheus answered them, over the stage so far.
pub struct CountMeasurements {
    pub canary_errors: Measurement,
    pub canary_requests: Measurement,
    pub stable_errors: Measurement,
    pub stable_requests: Measurement,
    /// Seconds since the stage's pods were ready (the counters' window); `None` before.
    pub window: Option<u64>,
}

/// How long a stage's counters may be empty before that is no data rather than a test just
/// begun: `increase()` needs two scrapes inside its window.
pub const COUNTING_GRACE: u64 = 30;

/// Why a statistical judge has no verdict yet at the start of a stage.
pub(super) const NOT_STARTED: &str = "the test starts once the stage's canary pods are ready";

/// A statistical judge's answer without a verdict of its own (an error, no data, not yet):
/// no value, no evidence, held to `threshold`.
pub(super) fn unjudged(verdict: Verdict, threshold: &Option<String>, message: String) -> Judgement {
    Judgement {
        verdict,
        value: None,
        stable_value: None,
        threshold: threshold.clone(),
        message,
        evidence: None,
    }
}

/// No data from `what`: inconclusive while the stage is younger than [`COUNTING_GRACE`] (a
/// series needs its first scrapes), no data after.
fn no_data_yet(what: &str, doing: &str, window: u64, threshold: &Option<String>) -> Judgement {
    let message = format!("{what} returned no data");
    if window < COUNTING_GRACE {
        unjudged(
            Verdict::Inconclusive,
            threshold,
            format!("{message} yet: {doing} since the stage's pods were ready"),
        )
    } else {
        unjudged(Verdict::NoData, threshold, message)
    }
}

/// A statistical verdict with its evidence, the evidence's words as its message.
fn judged(verdict: Verdict, threshold: Option<String>, evidence: Evidence) -> Judgement {
    Judgement {
        verdict,
        value: evidence.ratio.is_finite().then_some(evidence.ratio),
        stable_value: None,
        threshold,
        message: evidence.summary.clone(),
        evidence: Some(evidence),
    }
}

/// Judges a sequential gate from its counts.
pub fn judge_counts(test: &super::Sequential, m: &CountMeasurements) -> Judgement {
    let threshold = Some(format!(
        "canary errors at most {}× stable ({} confidence)",
        number(test.test.tolerated_ratio),
        sequential::confidence(test.test.alpha)
    ));
    let verdict = |verdict, message: String| unjudged(verdict, &threshold, message);
    let Some(window) = m.window else {
        return verdict(Verdict::Inconclusive, NOT_STARTED.into());
    };
    let mut values = [0.0; 4];
    let named = [
        ("canary errors", &m.canary_errors, true),
        ("canary requests", &m.canary_requests, false),
        ("stable errors", &m.stable_errors, true),
        ("stable requests", &m.stable_requests, false),
    ];
    for (slot, (what, measured, zero_when_empty)) in values.iter_mut().zip(named) {
        match measured {
            Err(e) => return verdict(Verdict::Error, format!("{what} query failed: {e}")),
            // No error series at all is no error at all.
            Ok(v) if v.is_empty() && zero_when_empty => *slot = 0.0,
            Ok(v) if v.is_empty() || v.iter().any(|x| x.is_nan()) => {
                return no_data_yet(what, "counting", window, &threshold);
            }
            Ok(v) => *slot = v.iter().sum(),
        }
    }
    let counts = Counts {
        canary_errors: values[0],
        canary_requests: values[1],
        stable_errors: values[2],
        stable_requests: values[3],
    };
    if let Some(why) = sequential::no_data(&counts) {
        return if window < COUNTING_GRACE {
            verdict(Verdict::Inconclusive, format!("{why}: counting"))
        } else {
            verdict(Verdict::NoData, why.to_string())
        };
    }
    let (outcome, evidence) = sequential::judge(&counts, &test.test);
    let verdict_of = match outcome {
        Outcome::Regression => Verdict::Fail,
        Outcome::NoRegression => Verdict::Pass,
        Outcome::Inconclusive => Verdict::Inconclusive,
    };
    judged(verdict_of, threshold, evidence)
}

/// Judges an mSPRT gate from its range queries of both tracks over the stage so far
/// (`window`: seconds since the stage's pods were ready, `None` before). `metric` names the
/// metric in the words (the gate's name).
pub fn judge_series(
    metric: &str,
    test: &super::Msprt,
    canary: &RangeMeasurement,
    stable: &RangeMeasurement,
    window: Option<u64>,
) -> Judgement {
    let t = &test.test;
    let threshold = Some(format!(
        "canary {metric} at most {}× stable ({} confidence)",
        number(1.0 + t.tolerance),
        sequential::confidence(t.alpha)
    ));
    let verdict = |verdict, message: String| unjudged(verdict, &threshold, message);
    let Some(window) = window else {
        return verdict(Verdict::Inconclusive, NOT_STARTED.into());
    };
    let mut tracks = Vec::with_capacity(2);
    for (track, measured) in [("canary", canary), ("stable", stable)] {
        match measured {
            Err(e) => return verdict(Verdict::Error, format!("{track} query failed: {e}")),
            Ok(series) if series.len() > 1 => {
                return verdict(
                    Verdict::Error,
                    format!(
                        "{track} query returned {} series; an msprt gate's query must return one per track (aggregate it, e.g. with sum or histogram_quantile)",
                        series.len()
                    ),
                );
            }
            Ok(series) if series.is_empty() => {
                return no_data_yet(&format!("{track} query"), "pairing", window, &threshold);
            }
            Ok(series) => tracks.push(&series[0]),
        }
    }
    let pairs = super::msprt::pair(tracks[0], tracks[1]);
    let (outcome, evidence) = super::msprt::judge(metric, &pairs, t);
    let verdict_of = match outcome {
        super::msprt::Outcome::Regression => Verdict::Fail,
        super::msprt::Outcome::NoRegression => Verdict::Pass,
        super::msprt::Outcome::Inconclusive => Verdict::Inconclusive,
    };
    judged(verdict_of, threshold, evidence)
}

fn no_data(values: &[f64]) -> Option<&'static str> {
    if values.is_empty() {
        Some("returned no data")
    } else if values.iter().any(|v| v.is_nan()) {
        Some("returned NaN")
    } else {
        None
    }
}

/// What a verdict means under `onNoData`: `Fail` and `Pass` decide it, `Hold` leaves it
/// `NoData`, which the planner holds on. Error stays Error whatever the policy.
pub fn apply_no_data_policy(verdict: Verdict, policy: NoDataPolicy) -> Verdict {
    match (verdict, policy) {
        (Verdict::NoData, NoDataPolicy::Fail) => Verdict::Fail,
        (Verdict::NoData, NoDataPolicy::Pass) => Verdict::Pass,
        (verdict, _) => verdict,
    }
}

/// What an inconclusive statistical verdict means under `onInconclusive`: `Pass` lets the
/// stage go on once its bake is over, `Hold` leaves it inconclusive, which holds the stage.
pub fn apply_inconclusive_policy(verdict: Verdict, policy: InconclusivePolicy) -> Verdict {
    match (verdict, policy) {
        (Verdict::Inconclusive, InconclusivePolicy::Pass) => Verdict::Pass,
        (verdict, _) => verdict,
    }
}

/// A number for people: at most 6 significant digits, no float noise (`0.012`, not
/// `0.012000000000000002`).
pub fn number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{}", if v == 0.0 { 0.0 } else { v });
    }
    let magnitude = v.abs().log10().floor() as i32;
    let trim = |text: &str| {
        if text.contains('.') {
            text.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            text.to_owned()
        }
    };
    if !(-6..=15).contains(&magnitude) {
        let text = format!("{v:.5e}");
        let (mantissa, exponent) = text.split_once('e').expect("{:e} has an exponent");
        return format!("{}e{exponent}", trim(mantissa));
    }
    let decimals = (5 - magnitude).clamp(0, 12) as usize;
    trim(&format!("{v:.decimals$}"))
}

#[cfg(test)]
mod tests;

//! The sequential judge for counts: is the canary's error rate worse than stable's?
//!
//! Conditional on the errors seen on both tracks, and when nothing regressed, each error
//! falls on the canary with probability p0 = the canary's share of requests. A regression
//! of the error rate by a factor ρ moves that chance to q(ρ) = ρ·p0 / (ρ·p0 + 1 − p0). The
//! judge tests that Bernoulli stream with likelihood-ratio martingales, so it may look at
//! the counts every interval, for as long as the stage lasts, and still raise a false alarm
//! with probability at most α (Ville's inequality):
//!
//! - **fail** when a mixture of likelihood ratios q(ρ_k) against q(tolerated ratio), over a
//!   fixed grid of regressions ρ_k above the tolerated ratio, reaches 1/α. Each component is
//!   a supermartingale whenever the true ratio is at or below the tolerated one, and so is
//!   their average: the test is one-sided and anytime-valid.
//! - **pass** when the confidence sequence of the ratio (from a beta-binomial mixture, the
//!   Robbins construction) lies wholly below the tolerated ratio.
//! - otherwise **inconclusive**.
//!
//! The counts are running counters since the stage's pods were ready, so the test restarts
//! with every stage: a new weight is a new p0. p0 itself is estimated from the request
//! counters; with requests far outnumbering errors its error is small next to the test's.

use crate::api::Evidence;

use super::judge::number;

/// The error and request counts of both tracks since the test started.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Counts {
    pub canary_errors: f64,
    pub canary_requests: f64,
    pub stable_errors: f64,
    pub stable_requests: f64,
}

/// What the test is held to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Test {
    /// The chance of a false alarm over every look at one stage.
    pub alpha: f64,
    /// The largest ratio of canary to stable error rate that is not a regression (1 + tolerance).
    pub tolerated_ratio: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The canary is worse than tolerated, at 1 − α confidence.
    Regression,
    /// A regression beyond the tolerance is ruled out, at 1 − α confidence.
    NoRegression,
    Inconclusive,
}

/// The regressions (as multiples of the tolerated ratio) the failing test mixes over, with
/// equal weights: its power is spread from slight to gross regressions.
const REGRESSIONS: [f64; 6] = [1.25, 1.5, 2.0, 3.0, 5.0, 10.0];

/// The concentration of the beta prior (centred on p0) of the confidence sequence: about the
/// weight of four errors, so a handful of errors already narrows it.
const PRIOR_WEIGHT: f64 = 4.0;

/// Why the counts cannot be judged (no data, in gate terms).
pub fn no_data(c: &Counts) -> Option<&'static str> {
    let all = [
        c.canary_errors,
        c.canary_requests,
        c.stable_errors,
        c.stable_requests,
    ];
    if all.iter().any(|v| !v.is_finite() || *v < 0.0) {
        return Some("counts are not finite, non-negative numbers");
    }
    if c.canary_requests <= 0.0 {
        return Some("the canary served no requests yet");
    }
    if c.stable_requests <= 0.0 {
        return Some("stable served no requests to compare with");
    }
    None
}

/// The canary's share of requests p0, the errors on it and on both tracks.
fn shares(c: &Counts) -> (f64, f64, f64) {
    let p0 = c.canary_requests / (c.canary_requests + c.stable_requests);
    // Errors cannot exceed requests; Prometheus' extrapolation may say so for a moment.
    let s = c.canary_errors.min(c.canary_requests);
    let n = s + c.stable_errors.min(c.stable_requests);
    (p0, s, n)
}

/// Whether `counts` fail the test: the only part of [`judge`] the simulations need.
pub fn is_regression(counts: &Counts, test: &Test) -> bool {
    let (p0, s, n) = shares(counts);
    regression_evidence(s, n, p0, test.tolerated_ratio) >= 1.0 / test.alpha
}

/// Judges `counts` (which must have data, see [`no_data`]).
pub fn judge(counts: &Counts, test: &Test) -> (Outcome, Evidence) {
    let c = counts;
    let (p0, s, n) = shares(c);
    let statistic = regression_evidence(s, n, p0, test.tolerated_ratio);
    let (low, high) = confidence_sequence(s, n, p0, test.alpha);
    let outcome = if statistic >= 1.0 / test.alpha {
        Outcome::Regression
    } else if high < test.tolerated_ratio {
        Outcome::NoRegression
    } else {
        Outcome::Inconclusive
    };
    let ratio = ratio_estimate(c);
    let evidence = Evidence {
        test: "sequential".into(),
        requests: c.canary_requests + c.stable_requests,
        events: n,
        canary_events: s,
        canary_share: p0,
        ratio,
        interval_low: Some(low),
        interval_high: high.is_finite().then_some(high),
        statistic,
        alpha: test.alpha,
        tolerated_ratio: test.tolerated_ratio,
        intervals: None,
        dropped: None,
        p_value: None,
        metrics: Vec::new(),
        summary: String::new(),
    };
    let summary = words(outcome, &evidence);
    (
        outcome,
        Evidence {
            summary,
            ..evidence
        },
    )
}

/// The canary's error rate over stable's, per request.
fn ratio_estimate(c: &Counts) -> f64 {
    let canary = c.canary_errors / c.canary_requests;
    let stable = c.stable_errors / c.stable_requests;
    match (canary == 0.0, stable == 0.0) {
        (true, true) => 1.0,
        (false, true) => f64::INFINITY,
        _ => canary / stable,
    }
}

/// The chance an error lands on the canary when its error rate is `ratio` times stable's.
fn share_at(ratio: f64, p0: f64) -> f64 {
    ratio * p0 / (ratio * p0 + 1.0 - p0)
}

/// The error rate ratio at which an error lands on the canary with chance `p`.
fn ratio_at(p: f64, p0: f64) -> f64 {
    if p >= 1.0 {
        return f64::INFINITY;
    }
    (p / (1.0 - p)) * ((1.0 - p0) / p0)
}

/// The mixture martingale for "the canary's ratio is above `tolerated`": `s` of `n` errors on
/// the canary, each on it with chance `p0` when both tracks are alike.
pub fn regression_evidence(s: f64, n: f64, p0: f64, tolerated: f64) -> f64 {
    let null = share_at(tolerated, p0);
    let logs: Vec<f64> = REGRESSIONS
        .iter()
        .map(|m| {
            let q = share_at(tolerated * m, p0);
            s * (q / null).ln() + (n - s) * ((1.0 - q) / (1.0 - null)).ln()
        })
        .collect();
    let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = logs.iter().map(|l| (l - max).exp()).sum::<f64>() / logs.len() as f64;
    (max + mean.ln()).exp()
}

/// The 1 − α confidence sequence of the error rate ratio: the ratios ρ whose beta-binomial
/// mixture martingale against q(ρ) stays below 1/α.
pub fn confidence_sequence(s: f64, n: f64, p0: f64, alpha: f64) -> (f64, f64) {
    let (a, b) = (PRIOR_WEIGHT * p0, PRIOR_WEIGHT * (1.0 - p0));
    let mixture = ln_beta(a + s, b + n - s) - ln_beta(a, b);
    let log_m = |p: f64| mixture - s * p.ln() - (n - s) * (1.0 - p).ln();
    let bound = (1.0 / alpha).ln();
    // log_m is convex in p with its minimum at the observed share (the prior mean when
    // nothing was seen): the set below the bound is an interval around it.
    let centre = if n > 0.0 { s / n } else { p0 }.clamp(1e-12, 1.0 - 1e-12);
    if log_m(centre) >= bound {
        // Cannot happen for a proper mixture; say nothing rather than something wrong.
        return (0.0, f64::INFINITY);
    }
    let edge = |mut inside: f64, mut outside: f64| {
        if log_m(outside) < bound {
            return outside;
        }
        for _ in 0..100 {
            let mid = 0.5 * (inside + outside);
            if log_m(mid) < bound {
                inside = mid;
            } else {
                outside = mid;
            }
        }
        inside
    };
    let low = edge(centre, 1e-300);
    let high = edge(centre, 1.0 - 1e-16);
    let low_ratio = if low <= 1e-300 {
        0.0
    } else {
        ratio_at(low, p0)
    };
    let high_ratio = if high >= 1.0 - 1e-16 {
        f64::INFINITY
    } else {
        ratio_at(high, p0)
    };
    (low_ratio, high_ratio)
}

fn ln_beta(a: f64, b: f64) -> f64 {
    ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b)
}

/// ln Γ(x) for x > 0 (Lanczos, g = 7: about 15 significant digits).
pub fn ln_gamma(x: f64) -> f64 {
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection: Γ(x)Γ(1 − x) = π / sin(πx).
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let t = x + 7.5;
    let sum = G[1..]
        .iter()
        .enumerate()
        .fold(G[0], |acc, (i, g)| acc + g / (x + i as f64 + 1.0));
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// A confidence level for people: `99.9%`.
pub fn confidence(alpha: f64) -> String {
    format!("{}%", number((1.0 - alpha) * 100.0))
}

/// A count for people: `1,240`.
pub fn count(v: f64) -> String {
    let whole = v.round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// A ratio for people: `3.1×`.
pub fn times(v: f64) -> String {
    if v.is_infinite() {
        return "∞".into();
    }
    let rounded = if v >= 10.0 {
        v.round()
    } else {
        (v * 100.0).round() / 100.0
    };
    format!("{}×", number(rounded))
}

/// The verdict in the words an on-call reads.
fn words(outcome: Outcome, e: &Evidence) -> String {
    let after = format!(
        "after {} requests ({} errors, {} on the canary at {}% of requests)",
        count(e.requests),
        count(e.events),
        count(e.canary_events),
        number((e.canary_share * 100.0 * 10.0).round() / 10.0)
    );
    let level = confidence(e.alpha);
    let tolerated = times(e.tolerated_ratio);
    let observed = if e.events == 0.0 {
        "no errors on either track".to_string()
    } else if e.ratio.is_infinite() {
        "canary errors while stable has none".to_string()
    } else {
        format!("canary errors {} stable", times(e.ratio))
    };
    let interval = format!(
        "{} to {}",
        times(e.interval_low.unwrap_or(0.0)),
        times(e.interval_high.unwrap_or(f64::INFINITY))
    );
    match outcome {
        Outcome::Regression => format!(
            "{observed}, {level} confidence it is worse than the tolerated {tolerated}, {after}"
        ),
        Outcome::NoRegression => format!(
            "{observed}, {level} confidence it is within {interval}, below the tolerated {tolerated}, {after}"
        ),
        Outcome::Inconclusive => format!(
            "{observed}, within {interval} at {level} confidence: not yet enough to tell against the tolerated {tolerated}, {after}"
        ),
    }
}

#[cfg(test)]
mod tests;

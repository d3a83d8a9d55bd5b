//! The mSPRT for a continuous metric (latency, say): is the canary worse than stable?
//!
//! Each interval of the stage gives one pair, the canary's and stable's value at the same
//! timestamp, compared on the log scale: d = ln(canary / stable). A ratio is what people
//! tolerate ("10% slower"), and latencies are closer to log-normal than normal, so the
//! log-ratios are close to normal with mean μ, the log of the canary's typical ratio to stable.
//!
//! The normal-mixture sequential probability ratio test (Robbins; Johari, Pekelis and Walsh,
//! "Always valid inference") mixes the likelihood ratio of μ = θ over a N(θ, τ²) prior on μ.
//! Its textbook form needs the variance σ² of the pairs, which nobody knows; plugging in the
//! pairs' sample variance (Bibaut et al.) is only approximately valid, and at a burn-in of 5
//! it is not valid at all: in our simulation it raised 32 false alarms in 1,000 healthy
//! canaries at α = 0.01. So the variance is estimated *inside* the mixture instead: with the
//! prior scaled by the noise (τ² = C·σ²) and the scale left free (the sequential t-test of
//! Lai, 1976), with y = d − θ, S = Σy and V = Σy² over n pairs,
//!
//!   Λₙ(θ) = (1 + nC)^(−1/2) · (V / (V − C·S²/(1 + nC)))^(n/2),
//!
//! which is the plug-in mixture with σ² = V/n for large n, and for any n a nonnegative
//! martingale under μ = θ (for normal log-ratios): by Ville's inequality it ever reaches 1/α
//! with chance at most α, however often it is looked at. The θ it never reached form the
//! (1 − α) confidence sequence of μ, valid at every look at once, so the running intersection
//! over the looks is too. The always-valid p-value against no difference is min over the looks
//! of 1/Λₖ(0).
//!
//! - **fail** when the sequence lies wholly above ln(1 + tolerance): the canary is worse
//!   than tolerated (mirrored for `Decrease`; either side for `Either`);
//! - **pass** when it lies wholly on the good side of it;
//! - otherwise **inconclusive**, and always before the burn-in.

use std::collections::BTreeMap;

use crate::api::{Direction, Evidence};

use super::sequential::{confidence, times};

/// Pairs needed before the first verdict.
pub const DEFAULT_BURN_IN: usize = 5;

/// The mixing variance, in units of the pairs' own variance: τ² = C·σ². A prior on the shift
/// scaled by the noise makes the test indifferent to the metric's units and spread, and puts
/// its power at shifts about one interval's noise wide — the ones that hide in the noise;
/// larger shifts are found anyway, a few intervals later than a wider prior would. With
/// C = 1 the first verdict at α = 0.001 can come at the 8th pair (the variance estimated
/// from fewer pairs is too uncertain to rule on); see `earliest_verdict` in the tests.
pub const C: f64 = 1.0;

/// Squared deviations below this are taken as this: two identical series would otherwise
/// divide by 0.
const MIN_SQUARES: f64 = 1e-12;

/// What the test is held to.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Test {
    /// The chance of a false alarm over every look at one stage.
    pub alpha: f64,
    /// How much worse than stable is still tolerated, as a fraction (0.1 = 1.1×).
    pub tolerance: f64,
    pub direction: Direction,
    pub burn_in: usize,
}

impl Test {
    /// The log-ratio bound of a regression, ln(1 + tolerance).
    fn bound(&self) -> f64 {
        self.tolerance.ln_1p()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The canary is worse than tolerated, at 1 − α confidence.
    Regression,
    /// A regression beyond the tolerance is ruled out, at 1 − α confidence.
    NoRegression,
    Inconclusive,
}

/// The per-interval log-ratios of canary over stable, paired by timestamp.
#[derive(Clone, Debug, PartialEq)]
pub struct Pairs {
    pub log_ratios: Vec<f64>,
    /// Timestamps on both tracks where a value was not a positive finite number.
    pub dropped: usize,
}

/// Pairs the canary's and stable's samples by timestamp (a range query of each track with the
/// same start, end and step has the same timestamps). A timestamp on one track only is no
/// pair; one where either value is zero, negative, NaN or infinite is dropped and counted.
pub fn pair(canary: &[(i64, f64)], stable: &[(i64, f64)]) -> Pairs {
    let stable: BTreeMap<i64, f64> = stable.iter().copied().collect();
    let usable = |v: f64| v.is_finite() && v > 0.0;
    let mut log_ratios = Vec::new();
    let mut dropped = 0;
    let mut seen = canary.to_vec();
    seen.sort_by_key(|(t, _)| *t);
    seen.dedup_by_key(|(t, _)| *t);
    for (t, c) in seen {
        let Some(&s) = stable.get(&t) else { continue };
        if usable(c) && usable(s) {
            log_ratios.push((c / s).ln());
        } else {
            dropped += 1;
        }
    }
    Pairs {
        log_ratios,
        dropped,
    }
}

/// The test's state after the pairs so far.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sequence {
    pub n: usize,
    pub mean: f64,
    pub variance: f64,
    /// The (1 − α) confidence sequence of μ, intersected over every look since the burn-in.
    pub low: f64,
    pub high: f64,
    /// The always-valid p-value against μ = 0: the smallest 1/Λₖ(0) so far, at most 1.
    pub p_value: f64,
    /// Λₙ(0), the mixture likelihood ratio against no difference now.
    pub statistic: f64,
}

/// ln Λₙ(θ) of the scale-invariant normal mixture: with y = x − θ, S = Σy and V = Σy²,
/// Λ = (1 + nC)^(−1/2) · (V / (V − C·S²/(1 + nC)))^(n/2).
fn log_mixture(n: f64, mean: f64, squares: f64, theta: f64) -> f64 {
    let d = mean - theta;
    let v = squares + n * d * d;
    let explained = C * n * n * d * d / (1.0 + n * C);
    if v <= 0.0 {
        return 0.0;
    }
    -0.5 * (1.0 + n * C).ln() - 0.5 * n * (1.0 - explained / v).max(f64::MIN_POSITIVE).ln()
}

/// The half-width of the confidence sequence {θ : Λₙ(θ) < 1/α} around the mean of n pairs
/// whose squared deviations from their mean sum to `squares`; infinite while no θ can be
/// ruled out yet.
fn half_width(n: f64, squares: f64, alpha: f64) -> f64 {
    // Λ ≥ 1/α ⇔ V/(V − kD²) ≥ r, with D = mean − θ, V = squares + nD², k = n²C/(1 + nC)
    // and r = ((1 + nC)^(1/2)/α)^(2/n); solved for D².
    let r = ((1.0 + n * C).ln() / n - 2.0 * alpha.ln() / n).exp();
    let k = n * n * C / (1.0 + n * C);
    let denominator = r * k - (r - 1.0) * n;
    if denominator <= 0.0 {
        return f64::INFINITY;
    }
    ((r - 1.0) * squares.max(MIN_SQUARES) / denominator).sqrt()
}

/// Runs the test over `d` as if it had been looked at after every pair; `None` before the
/// burn-in (or with fewer than two pairs, which have no variance).
pub fn sequence(d: &[f64], alpha: f64, burn_in: usize) -> Option<Sequence> {
    let first = burn_in.max(2);
    if d.len() < first {
        return None;
    }
    // Welford's running mean and sum of squared deviations: one pass over the prefixes.
    let (mut mean, mut m2) = (0.0, 0.0);
    let mut out = Sequence {
        n: 0,
        mean: 0.0,
        variance: 0.0,
        low: f64::NEG_INFINITY,
        high: f64::INFINITY,
        p_value: 1.0,
        statistic: 1.0,
    };
    for (i, x) in d.iter().enumerate() {
        let k = (i + 1) as f64;
        let delta = x - mean;
        mean += delta / k;
        m2 += delta * (x - mean);
        if i + 1 < first {
            continue;
        }
        let w = half_width(k, m2, alpha);
        let log_lambda = log_mixture(k, mean, m2.max(MIN_SQUARES), 0.0);
        out = Sequence {
            n: i + 1,
            mean,
            variance: m2 / (k - 1.0),
            low: out.low.max(mean - w),
            high: out.high.min(mean + w),
            p_value: out.p_value.min((-log_lambda).exp()),
            statistic: log_lambda.exp(),
        };
    }
    Some(out)
}

/// The outcome of a sequence against the test's tolerance and direction.
pub fn outcome(s: &Sequence, test: &Test) -> Outcome {
    let b = test.bound();
    let (worse_up, worse_down) = (s.low > b, s.high < -b);
    let (fine_up, fine_down) = (s.high < b, s.low > -b);
    let (worse, fine) = match test.direction {
        Direction::Increase => (worse_up, fine_up),
        Direction::Decrease => (worse_down, fine_down),
        Direction::Either => (worse_up || worse_down, fine_up && fine_down),
    };
    if worse {
        Outcome::Regression
    } else if fine {
        Outcome::NoRegression
    } else {
        Outcome::Inconclusive
    }
}

/// Whether the pairs so far fail the test: the only part of [`judge`] the simulations need.
pub fn is_regression(d: &[f64], test: &Test) -> bool {
    sequence(d, test.alpha, test.burn_in).is_some_and(|s| outcome(&s, test) == Outcome::Regression)
}

/// Judges the pairs of the metric called `metric` (for the words). Inconclusive before the
/// burn-in.
pub fn judge(metric: &str, pairs: &Pairs, test: &Test) -> (Outcome, Evidence) {
    let d = &pairs.log_ratios;
    let seq = sequence(d, test.alpha, test.burn_in);
    let result = seq
        .map(|s| outcome(&s, test))
        .unwrap_or(Outcome::Inconclusive);
    let mut evidence = Evidence {
        test: "msprt".into(),
        requests: 0.0,
        events: 0.0,
        canary_events: 0.0,
        canary_share: 0.0,
        // Never NaN: status is JSON, which has no NaN.
        ratio: seq.map_or_else(|| geometric_mean(d), |s| s.mean.exp()),
        interval_low: seq.map(|s| s.low.exp()),
        interval_high: seq.map(|s| s.high.exp()),
        statistic: seq.map_or(1.0, |s| s.statistic),
        alpha: test.alpha,
        tolerated_ratio: 1.0 + test.tolerance,
        intervals: Some(d.len() as u32),
        dropped: Some(pairs.dropped as u32),
        p_value: seq.map(|s| s.p_value),
        metrics: Vec::new(),
        summary: String::new(),
    };
    evidence.summary = words(metric, result, test, &evidence);
    (result, evidence)
}

/// The typical ratio of the pairs so far (1 with none).
fn geometric_mean(d: &[f64]) -> f64 {
    if d.is_empty() {
        return 1.0;
    }
    (d.iter().sum::<f64>() / d.len() as f64).exp()
}

/// The verdict in the words an on-call reads.
fn words(metric: &str, outcome: Outcome, test: &Test, e: &Evidence) -> String {
    let n = e.intervals.unwrap_or(0);
    let dropped = match e.dropped.unwrap_or(0) {
        0 => String::new(),
        k => format!(", {k} dropped for values that were not positive numbers"),
    };
    let after = format!(
        "after {n} interval{}{dropped}",
        if n == 1 { "" } else { "s" }
    );
    let (Some(low), Some(high)) = (e.interval_low, e.interval_high) else {
        return format!(
            "canary {metric} not judged yet: the test starts after {} paired intervals, {after}",
            test.burn_in
        );
    };
    let level = confidence(e.alpha);
    let observed = format!("canary {metric} {} stable", times(e.ratio));
    let interval = format!("{} to {}", times(low), times(high));
    let tolerated = match test.direction {
        Direction::Increase => format!("above the tolerated {}", times(e.tolerated_ratio)),
        Direction::Decrease => format!("below the tolerated {}", times(1.0 / e.tolerated_ratio)),
        Direction::Either => format!(
            "outside the tolerated {} to {}",
            times(1.0 / e.tolerated_ratio),
            times(e.tolerated_ratio)
        ),
    };
    match outcome {
        Outcome::Regression => {
            format!("{observed} ({interval}), {level} confidence it is {tolerated}, {after}")
        }
        Outcome::NoRegression => {
            format!("{observed} ({interval}), {level} confidence it is not {tolerated}, {after}")
        }
        Outcome::Inconclusive => format!(
            "{observed}, within {interval} at {level} confidence: not yet enough to tell whether it is {tolerated}, {after}"
        ),
    }
}

#[cfg(test)]
mod tests;

//! Simulated stages for judging the judges: Poisson traffic on two tracks, a gate looking at
//! it every interval, and when (if ever) it fails. Seeded, so a run is reproducible; used by
//! the judges' property tests and by the benchmark (`cargo run --release -p rollgate-core
//! --example judges`).

use super::msprt;
use super::sequential::{self, Counts, Test};

/// SplitMix64: small, fast, and good enough to draw traffic.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A standard normal draw (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        // 1 − u is in (0, 1]: its log is finite.
        let (u, v) = (1.0 - self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    /// A Poisson draw (Knuth's, in slices of at most 30 so `e^-λ` never underflows).
    pub fn poisson(&mut self, lambda: f64) -> f64 {
        let mut left = lambda;
        let mut total = 0u64;
        while left > 0.0 {
            let slice = left.min(30.0);
            left -= slice;
            let limit = (-slice).exp();
            let mut p = self.uniform();
            while p > limit {
                total += 1;
                p *= self.uniform();
            }
        }
        total as f64
    }
}

/// The most false alarms `trials` healthy runs may raise at a false-alarm rate `alpha`, within
/// their binomial error: α·trials plus three standard deviations.
pub fn false_alarm_bound(alpha: f64, trials: usize) -> f64 {
    let n = trials as f64;
    alpha * n + 3.0 * (n * alpha * (1.0 - alpha)).sqrt()
}

/// The traffic of one simulated stage.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Traffic {
    /// Requests per second on both tracks together.
    pub rps: f64,
    /// The canary's share of requests.
    pub canary_share: f64,
    /// Stable's error ratio.
    pub error_ratio: f64,
    /// The canary's error ratio over stable's (1 = healthy).
    pub regression: f64,
}

/// A gate as the benchmark looks at it: every `interval` seconds for `stage` seconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    pub interval: f64,
    pub stage: f64,
}

/// One interval of traffic: (canary errors, canary requests, stable errors, stable requests).
fn interval(rng: &mut Rng, t: &Traffic, seconds: f64) -> [f64; 4] {
    let canary = t.rps * t.canary_share * seconds;
    let stable = t.rps * (1.0 - t.canary_share) * seconds;
    let canary_ratio = (t.error_ratio * t.regression).min(1.0);
    let ce = rng.poisson(canary * canary_ratio);
    let cok = rng.poisson(canary * (1.0 - canary_ratio));
    let se = rng.poisson(stable * t.error_ratio);
    let sok = rng.poisson(stable * (1.0 - t.error_ratio));
    [ce, ce + cok, se, se + sok]
}

/// When the sequential judge first says regression in one simulated stage, if it does.
pub fn sequential_stage(
    rng: &mut Rng,
    traffic: &Traffic,
    test: &Test,
    s: &Schedule,
) -> Option<f64> {
    let mut c = Counts {
        canary_errors: 0.0,
        canary_requests: 0.0,
        stable_errors: 0.0,
        stable_requests: 0.0,
    };
    let mut t = 0.0;
    while t + s.interval <= s.stage {
        t += s.interval;
        let [ce, cr, se, sr] = interval(rng, traffic, s.interval);
        c.canary_errors += ce;
        c.canary_requests += cr;
        c.stable_errors += se;
        c.stable_requests += sr;
        if sequential::no_data(&c).is_none() && sequential::is_regression(&c, test) {
            return Some(t);
        }
    }
    None
}

/// A threshold gate on the canary's error ratio over a trailing window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Threshold {
    pub max: f64,
    /// The `rate()` window, in seconds (a whole number of intervals).
    pub window: f64,
    pub failure_limit: u32,
}

/// When a threshold gate (no data fails, its default) first reaches its failure limit.
pub fn threshold_stage(
    rng: &mut Rng,
    traffic: &Traffic,
    gate: &Threshold,
    s: &Schedule,
) -> Option<f64> {
    let per_window = (gate.window / s.interval).round().max(1.0) as usize;
    let mut recent: std::collections::VecDeque<(f64, f64)> = Default::default();
    let mut failures = 0;
    let mut t = 0.0;
    while t + s.interval <= s.stage {
        t += s.interval;
        let [ce, cr, _, _] = interval(rng, traffic, s.interval);
        recent.push_back((ce, cr));
        if recent.len() > per_window {
            recent.pop_front();
        }
        let (errors, requests) = recent
            .iter()
            .fold((0.0, 0.0), |(e, r), (ce, cr)| (e + ce, r + cr));
        let failing = requests == 0.0 || errors / requests > gate.max;
        failures = if failing { failures + 1 } else { 0 };
        if failures >= gate.failure_limit {
            return Some(t);
        }
    }
    None
}

/// A continuous metric (a latency) per interval on both tracks: log-normal, each track's
/// median `median` (the canary's times `shift`), with log-scale spread `spread`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Latency {
    pub median: f64,
    pub spread: f64,
    /// The canary's typical value over stable's (1 = healthy).
    pub shift: f64,
}

/// When the mSPRT judge, looking after every interval, first says regression in one simulated
/// stage of `intervals` intervals: the number of intervals, if it does.
pub fn msprt_stage(
    rng: &mut Rng,
    latency: &Latency,
    test: &msprt::Test,
    intervals: usize,
) -> Option<usize> {
    let mut d = Vec::with_capacity(intervals);
    for look in 1..=intervals {
        let stable = latency.median * (latency.spread * rng.normal()).exp();
        let canary = latency.median * latency.shift * (latency.spread * rng.normal()).exp();
        d.push((canary / stable).ln());
        if msprt::is_regression(&d, test) {
            return Some(look);
        }
    }
    None
}

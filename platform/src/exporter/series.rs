//! The exporter's traffic model, free of HTTP and clocks: each series has a
//! request rate, an error ratio and a latency that a test sets; counters grow
//! by rate × elapsed time, so they stay monotonic whatever the test changes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Upper bounds of the latency histogram buckets, in seconds (+Inf implied).
pub const LATENCY_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The labels of one series of `http_requests_total` (plus `code`) and
/// `http_request_duration_seconds`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesLabels {
    pub namespace: String,
    pub rollout: String,
    pub rollgate_track: String,
    pub revision: String,
}

/// The traffic a test wants one series to show.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: SeriesLabels,
    /// Requests per second.
    pub rps: f64,
    /// Fraction of requests answered with code 500, in `[0, 1]`.
    pub error_ratio: f64,
    /// Latency of every request.
    pub latency_seconds: f64,
    /// With a seed, requests arrive as a Poisson process and each fails with chance
    /// `error_ratio` (seeded, so a test's noise is the same every run); without, counters
    /// grow smoothly by rate × elapsed time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl Series {
    /// 10 healthy requests per second at 50 ms, for the given labels.
    pub fn new(namespace: &str, rollout: &str, rollgate_track: &str, revision: &str) -> Series {
        Series {
            labels: SeriesLabels {
                namespace: namespace.to_string(),
                rollout: rollout.to_string(),
                rollgate_track: rollgate_track.to_string(),
                revision: revision.to_string(),
            },
            rps: 10.0,
            error_ratio: 0.0,
            latency_seconds: 0.05,
            seed: None,
        }
    }

    /// Poisson arrivals and independent failures, drawn from `seed`.
    pub fn poisson(mut self, seed: u64) -> Series {
        self.seed = Some(seed);
        self
    }

    pub fn rps(mut self, rps: f64) -> Series {
        self.rps = rps;
        self
    }

    pub fn error_ratio(mut self, error_ratio: f64) -> Series {
        self.error_ratio = error_ratio;
        self
    }

    pub fn latency_seconds(mut self, latency_seconds: f64) -> Series {
        self.latency_seconds = latency_seconds;
        self
    }

    /// Why the exporter would refuse this series, if it would.
    pub fn invalid_because(&self) -> Option<String> {
        let l = &self.labels;
        if [&l.namespace, &l.rollout, &l.rollgate_track, &l.revision]
            .iter()
            .any(|v| v.is_empty())
        {
            return Some("every label needs a value".to_string());
        }
        if !(self.rps.is_finite() && self.rps >= 0.0) {
            return Some(format!("rps must be >= 0, got {}", self.rps));
        }
        if !(0.0..=1.0).contains(&self.error_ratio) {
            return Some(format!(
                "error_ratio must be in [0, 1], got {}",
                self.error_ratio
            ));
        }
        if !(self.latency_seconds.is_finite() && self.latency_seconds >= 0.0) {
            return Some(format!(
                "latency_seconds must be >= 0, got {}",
                self.latency_seconds
            ));
        }
        None
    }
}

/// What one series has accumulated so far.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Totals {
    pub(crate) ok: f64,
    pub(crate) errors: f64,
    /// Requests per histogram bucket (not cumulative); the last is +Inf.
    pub(crate) buckets: [f64; LATENCY_BUCKETS.len() + 1],
    pub(crate) latency_sum: f64,
    /// The arrival process of a seeded series.
    noise: Option<Arrivals>,
}

/// Poisson arrivals in the series' own time: the counts at any age depend only on the seed
/// and the settings, not on when the exporter happens to be scraped.
#[derive(Clone, Debug, PartialEq)]
struct Arrivals {
    rng: u64,
    /// Seconds the series has lived, and when the next request arrives.
    clock: f64,
    next: f64,
}

impl Arrivals {
    fn new(seed: u64, rps: f64) -> Arrivals {
        let mut a = Arrivals {
            rng: seed,
            clock: 0.0,
            next: 0.0,
        };
        a.next = a.gap(rps);
        a
    }

    /// SplitMix64, uniform in (0, 1].
    fn uniform(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }

    /// Seconds to the next arrival at `rps` (exponential; never, without traffic).
    fn gap(&mut self, rps: f64) -> f64 {
        if rps > 0.0 {
            -self.uniform().ln() / rps
        } else {
            f64::INFINITY
        }
    }
}

impl Totals {
    fn zero(series: &Series) -> Totals {
        Totals {
            ok: 0.0,
            errors: 0.0,
            buckets: [0.0; LATENCY_BUCKETS.len() + 1],
            latency_sum: 0.0,
            noise: series.seed.map(|seed| Arrivals::new(seed, series.rps)),
        }
    }

    /// Histogram buckets as whole requests, with their count.
    pub(crate) fn histogram(&self) -> (Vec<(f64, u64)>, u64) {
        let bounds = LATENCY_BUCKETS.iter().copied().chain([f64::INFINITY]);
        let buckets: Vec<(f64, u64)> = bounds
            .zip(self.buckets.iter())
            .map(|(le, n)| (le, n.floor() as u64))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        (buckets, count)
    }
}

/// All series, keyed by labels.
#[derive(Debug, Default)]
pub(crate) struct Traffic {
    series: BTreeMap<SeriesLabels, (Series, Totals)>,
}

impl Traffic {
    /// Adds `seconds` of traffic at every series' current settings.
    pub(crate) fn advance(&mut self, seconds: f64) {
        for (series, totals) in self.series.values_mut() {
            let bucket = LATENCY_BUCKETS
                .iter()
                .position(|le| series.latency_seconds <= *le)
                .unwrap_or(LATENCY_BUCKETS.len());
            if let Some(a) = totals.noise.as_mut() {
                a.clock += seconds;
                let mut requests = 0.0;
                while a.next <= a.clock {
                    requests += 1.0;
                    if a.uniform() <= series.error_ratio {
                        totals.errors += 1.0;
                    } else {
                        totals.ok += 1.0;
                    }
                    a.next += a.gap(series.rps);
                }
                totals.buckets[bucket] += requests;
                totals.latency_sum += requests * series.latency_seconds;
                continue;
            }
            let requests = series.rps * seconds;
            totals.errors += requests * series.error_ratio;
            totals.ok += requests * (1.0 - series.error_ratio);
            totals.buckets[bucket] += requests;
            totals.latency_sum += requests * series.latency_seconds;
        }
    }

    /// Sets a series' traffic from now on, keeping what it accumulated.
    pub(crate) fn upsert(&mut self, series: Series) {
        self.series
            .entry(series.labels.clone())
            .and_modify(|(current, totals)| {
                // A new rate applies from now: arrivals are memoryless.
                if let Some(a) = totals.noise.as_mut().filter(|_| current.rps != series.rps) {
                    a.next = a.clock + a.gap(series.rps);
                }
                *current = series.clone();
            })
            .or_insert_with(|| (series.clone(), Totals::zero(&series)));
    }

    /// Removes the series of `namespace` (all series when `None`); returns how many.
    pub(crate) fn remove(&mut self, namespace: Option<&str>) -> usize {
        let before = self.series.len();
        self.series
            .retain(|labels, _| namespace.is_some_and(|ns| labels.namespace != ns));
        before - self.series.len()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &(Series, Totals)> {
        self.series.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canary() -> Series {
        Series::new("ns", "web", "canary", "abc")
    }

    fn totals(traffic: &Traffic) -> Totals {
        traffic.iter().next().expect("one series").1.clone()
    }

    #[test]
    fn counters_grow_by_rate_times_elapsed_time() {
        let mut traffic = Traffic::default();
        traffic.upsert(canary().rps(20.0).error_ratio(0.25));
        traffic.advance(2.0);
        let t = totals(&traffic);
        assert_eq!((t.ok, t.errors), (30.0, 10.0));
    }

    #[test]
    fn changing_the_error_ratio_keeps_counters_monotonic() {
        let mut traffic = Traffic::default();
        traffic.upsert(canary().rps(10.0).error_ratio(0.5));
        traffic.advance(1.0);
        traffic.upsert(canary().rps(10.0).error_ratio(0.0));
        traffic.advance(1.0);
        let t = totals(&traffic);
        assert_eq!((t.ok, t.errors), (15.0, 5.0));
    }

    #[test]
    fn latency_lands_in_the_first_bucket_that_holds_it() {
        let mut traffic = Traffic::default();
        traffic.upsert(canary().rps(4.0).latency_seconds(0.3));
        traffic.advance(1.0);
        let (buckets, count) = totals(&traffic).histogram();
        assert_eq!(count, 4);
        assert_eq!(buckets[6], (0.5, 4));
        assert!((totals(&traffic).latency_sum - 1.2).abs() < 1e-9);
    }

    #[test]
    fn slow_requests_beyond_the_last_bound_count_as_infinite() {
        let mut traffic = Traffic::default();
        traffic.upsert(canary().rps(1.0).latency_seconds(60.0));
        traffic.advance(3.0);
        let (buckets, _) = totals(&traffic).histogram();
        assert_eq!(buckets.last(), Some(&(f64::INFINITY, 3)));
    }

    #[test]
    fn seeded_series_count_poisson_arrivals_that_depend_only_on_the_seed() {
        let settle = |steps: &[f64]| {
            let mut traffic = Traffic::default();
            traffic.upsert(canary().rps(5.0).error_ratio(0.1).poisson(42));
            for s in steps {
                traffic.advance(*s);
            }
            totals(&traffic)
        };
        // However the same 600 s are sliced by scrapes, the counts are the same.
        let once = settle(&[600.0]);
        let sliced = settle(&[0.5; 1200]);
        assert_eq!((once.ok, once.errors), (sliced.ok, sliced.errors));
        let requests = once.ok + once.errors;
        assert_eq!(requests.fract(), 0.0);
        // 3,000 expected; a Poisson count is within 5 standard deviations (±274).
        assert!((requests - 3_000.0).abs() < 274.0, "{requests}");
        assert!(
            once.errors > 200.0 && once.errors < 400.0,
            "{}",
            once.errors
        );
        assert_ne!(once, {
            let mut traffic = Traffic::default();
            traffic.upsert(canary().rps(5.0).error_ratio(0.1).poisson(43));
            traffic.advance(600.0);
            totals(&traffic)
        });
    }

    #[test]
    fn removing_a_namespace_keeps_the_others() {
        let mut traffic = Traffic::default();
        traffic.upsert(canary());
        traffic.upsert(Series::new("other", "web", "stable", "abc"));
        assert_eq!(traffic.remove(Some("ns")), 1);
        assert_eq!(traffic.iter().count(), 1);
        assert_eq!(traffic.remove(None), 1);
    }

    #[test]
    fn out_of_range_settings_are_refused() {
        assert!(canary().error_ratio(1.5).invalid_because().is_some());
        assert!(canary().rps(-1.0).invalid_because().is_some());
        assert!(canary().rps(f64::NAN).invalid_because().is_some());
        assert!(Series::new("", "w", "t", "r").invalid_because().is_some());
        assert!(canary().invalid_because().is_none());
    }
}

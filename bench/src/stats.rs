//! Percentiles of a set of samples, nearest-rank, in milliseconds.

use serde::Serialize;

/// What a list of latencies looks like.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl Summary {
    /// `None` for no samples.
    pub fn of(samples_ms: &[f64]) -> Option<Summary> {
        if samples_ms.is_empty() {
            return None;
        }
        let mut s = samples_ms.to_vec();
        s.sort_by(f64::total_cmp);
        Some(Summary {
            n: s.len(),
            min_ms: s[0],
            p50_ms: nearest_rank(&s, 50.0),
            p95_ms: nearest_rank(&s, 95.0),
            p99_ms: nearest_rank(&s, 99.0),
            max_ms: s[s.len() - 1],
            mean_ms: s.iter().sum::<f64>() / s.len() as f64,
        })
    }
}

/// The smallest sample with at least `p`% of the samples at or below it.
fn nearest_rank(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Milliseconds from `from` to `to` (negative if `to` is earlier).
pub fn ms_between(from: jiff::Timestamp, to: jiff::Timestamp) -> f64 {
    (to.as_nanosecond() - from.as_nanosecond()) as f64 / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles_of_ten_samples() {
        let samples: Vec<f64> = (1..=10).map(f64::from).collect();
        let s = Summary::of(&samples).unwrap();
        assert_eq!(
            (s.min_ms, s.p50_ms, s.p95_ms, s.max_ms),
            (1.0, 5.0, 10.0, 10.0)
        );
        assert_eq!(s.mean_ms, 5.5);
    }

    #[test]
    fn one_sample_is_every_percentile() {
        let s = Summary::of(&[42.0]).unwrap();
        assert_eq!((s.p50_ms, s.p99_ms), (42.0, 42.0));
    }

    #[test]
    fn no_samples_no_summary() {
        assert_eq!(Summary::of(&[]), None);
    }

    #[test]
    fn order_of_samples_does_not_matter() {
        assert_eq!(Summary::of(&[3.0, 1.0, 2.0]), Summary::of(&[1.0, 2.0, 3.0]));
    }
}

use super::*;
use crate::gates::simulation::{Latency, Rng, false_alarm_bound, msprt_stage};

fn test(alpha: f64, tolerance: f64, direction: Direction) -> Test {
    Test {
        alpha,
        tolerance,
        direction,
        burn_in: DEFAULT_BURN_IN,
    }
}

/// The false-alarm property: 1,000 healthy canaries (equal log-normal latencies on both
/// tracks), each judged after every interval for a whole stage of 120 intervals, fail at most
/// α of the time, within the binomial error of 1,000 trials (three standard deviations above
/// α·1,000). Checked at several noise levels and α, and with `Either`, which fails on both
/// sides.
#[test]
fn healthy_canaries_checked_every_interval_fail_at_most_alpha_of_the_time() {
    let trials = 1_000;
    for (alpha, spread, direction) in [
        (0.05, 0.1, Direction::Increase),
        (0.05, 0.5, Direction::Increase),
        (0.01, 0.3, Direction::Increase),
        (0.05, 0.3, Direction::Either),
        (0.01, 0.2, Direction::Decrease),
    ] {
        let t = test(alpha, 0.0, direction);
        let latency = Latency {
            median: 0.25,
            spread,
            shift: 1.0,
        };
        let mut rng = Rng::new(0xA11CE ^ (alpha * 1e4) as u64 ^ (spread * 100.0) as u64);
        let alarms = (0..trials)
            .filter(|_| msprt_stage(&mut rng, &latency, &t, 120).is_some())
            .count();
        let bound = false_alarm_bound(alpha, trials);
        assert!(
            alarms as f64 <= bound,
            "{alarms} false alarms in {trials} at α = {alpha}, spread {spread}, {direction:?}: bound {bound:.1}"
        );
    }
}

/// A canary twice as slow as stable is always found within a stage of 60 intervals at the
/// default α, with a 10% tolerance, at the median within 16 intervals even with noisy
/// intervals (log-spread 0.3 per track: 15 when last measured).
#[test]
fn a_2x_shift_is_detected_within_a_few_intervals() {
    let t = test(0.001, 0.1, Direction::Increase);
    for spread in [0.1, 0.3] {
        let latency = Latency {
            median: 0.25,
            spread,
            shift: 2.0,
        };
        let mut rng = Rng::new(7);
        let mut found: Vec<usize> = (0..200)
            .filter_map(|_| msprt_stage(&mut rng, &latency, &t, 60))
            .collect();
        assert_eq!(
            found.len(),
            200,
            "every 2× canary caught at spread {spread}"
        );
        found.sort_unstable();
        let median = found[found.len() / 2];
        assert!(median <= 16, "median {median} intervals at spread {spread}");
    }
}

/// The confidence sequence covers the true log-ratio at every look, in all but about α of
/// the runs, whatever the true shift.
#[test]
fn the_confidence_sequence_covers_the_true_ratio() {
    let alpha = 0.05;
    let trials = 1_000;
    for shift in [0.8_f64, 1.0, 1.7] {
        let mut rng = Rng::new(0xC0FE ^ (shift * 10.0) as u64);
        let truth = shift.ln();
        let missed = (0..trials)
            .filter(|_| {
                let d: Vec<f64> = (0..60).map(|_| truth + 0.3 * rng.normal()).collect();
                // The running intersection at the last look misses the truth exactly when
                // some look's sequence did.
                let s = sequence(&d, alpha, DEFAULT_BURN_IN).unwrap();
                !(s.low <= truth && truth <= s.high)
            })
            .count();
        let bound = false_alarm_bound(alpha, trials);
        assert!(
            missed as f64 <= bound,
            "missed {missed} of {trials} at shift {shift}"
        );
    }
}

#[test]
fn pairs_match_timestamps_and_drop_what_is_not_a_positive_number() {
    let canary = [
        (10, 0.2),
        (20, 0.0),
        (30, f64::NAN),
        (40, 0.4),
        (50, 0.3),
        (60, 0.1),
    ];
    let stable = [(10, 0.1), (20, 0.1), (30, 0.1), (40, -1.0), (60, 0.1)];
    let p = pair(&canary, &stable);
    assert_eq!(p.dropped, 3, "0, NaN and a negative stable");
    // 50 has no stable sample: no pair, nothing dropped.
    assert_eq!(p.log_ratios.len(), 2);
    assert!((p.log_ratios[0] - 2f64.ln()).abs() < 1e-12);
    assert!(p.log_ratios[1].abs() < 1e-12);
}

#[test]
fn before_the_burn_in_it_is_inconclusive_and_says_so() {
    let pairs = Pairs {
        log_ratios: vec![2f64.ln(); 4],
        dropped: 1,
    };
    let (outcome, e) = judge(
        "p99 latency",
        &pairs,
        &test(0.001, 0.0, Direction::Increase),
    );
    assert_eq!(outcome, Outcome::Inconclusive);
    assert_eq!(e.intervals, Some(4));
    assert_eq!(
        e.summary,
        "canary p99 latency not judged yet: the test starts after 5 paired intervals, after 4 intervals, 1 dropped for values that were not positive numbers"
    );
}

#[test]
fn verdicts_follow_the_direction_and_the_tolerance_in_words() {
    // About 1.8× stable with a little noise.
    let slow: Vec<f64> = (0..24)
        .map(|i| 1.8f64.ln() + 0.05 * ((i * 7919 % 13) as f64 - 6.0) / 6.0)
        .collect();
    let pairs = Pairs {
        log_ratios: slow.clone(),
        dropped: 0,
    };
    let (outcome, e) = judge(
        "p99 latency",
        &pairs,
        &test(0.001, 0.1, Direction::Increase),
    );
    assert_eq!(outcome, Outcome::Regression);
    assert!(e.interval_low.unwrap() > 1.1, "{e:?}");
    assert!(e.p_value.unwrap() < 0.001, "{e:?}");
    assert!(
        e.summary.starts_with("canary p99 latency 1.8× stable (")
            && e.summary
                .ends_with("99.9% confidence it is above the tolerated 1.1×, after 24 intervals"),
        "{}",
        e.summary
    );
    // Slower is better for a throughput: no regression, by far.
    let (outcome, e) = judge("throughput", &pairs, &test(0.001, 0.1, Direction::Decrease));
    assert_eq!(outcome, Outcome::NoRegression);
    assert!(
        e.summary
            .contains("confidence it is not below the tolerated 0.91×")
    );
    assert_eq!(
        judge("x", &pairs, &test(0.001, 0.1, Direction::Either)).0,
        Outcome::Regression
    );
    // Tolerating 2×: the sequence lies below it.
    assert_eq!(
        judge("x", &pairs, &test(0.001, 1.0, Direction::Increase)).0,
        Outcome::NoRegression
    );
    // Identical tracks: no variance, no regression, no division by zero.
    let same = Pairs {
        log_ratios: vec![0.0; 10],
        dropped: 0,
    };
    let (outcome, e) = judge("x", &same, &test(0.001, 0.05, Direction::Either));
    assert_eq!(outcome, Outcome::NoRegression);
    assert!(e.ratio == 1.0 && e.statistic.is_finite(), "{e:?}");
}

/// With the variance estimated from the pairs, a few pairs can never be enough, however
/// clear: at α = 0.001 the first possible verdict is the 8th pair (the constant `C`'s doc).
#[test]
fn earliest_verdict() {
    let t = test(0.001, 0.0, Direction::Increase);
    let clear: Vec<f64> = (0..8).map(|i| 1.0 + 0.001 * (i % 3) as f64).collect();
    assert!(!is_regression(&clear[..7], &t));
    assert!(is_regression(&clear, &t));
}

use super::*;
use crate::gates::simulation::{Rng, Schedule, Traffic, false_alarm_bound, sequential_stage};

fn counts(ce: f64, cr: f64, se: f64, sr: f64) -> Counts {
    Counts {
        canary_errors: ce,
        canary_requests: cr,
        stable_errors: se,
        stable_requests: sr,
    }
}

const STRICT: Test = Test {
    alpha: 0.001,
    tolerated_ratio: 1.0,
};

/// The false-alarm property of the issue: 1,000 healthy canaries (equal Poisson error rates),
/// each judged every interval for the whole stage, fail at most α of the time, within the
/// binomial error of 1,000 trials (three standard deviations above α·1,000). The mixture is
/// conservative, so the count is in fact well below α·1,000.
#[test]
fn healthy_canaries_checked_every_interval_fail_at_most_alpha_of_the_time() {
    let trials = 1_000;
    for (alpha, traffic) in [
        (0.05, (20.0, 0.5, 0.05)),
        (0.01, (20.0, 0.5, 0.05)),
        (0.05, (100.0, 0.1, 0.01)),
        (0.01, (5.0, 0.3, 0.2)),
    ] {
        let (rps, canary_share, error_ratio) = traffic;
        let traffic = Traffic {
            rps,
            canary_share,
            error_ratio,
            regression: 1.0,
        };
        let test = Test {
            alpha,
            tolerated_ratio: 1.0,
        };
        // 30 minutes looked at every 5 s: 360 looks per canary.
        let schedule = Schedule {
            interval: 5.0,
            stage: 1_800.0,
        };
        let mut rng = Rng::new(0x5EED ^ (alpha * 1e4) as u64 ^ rps as u64);
        let alarms = (0..trials)
            .filter(|_| sequential_stage(&mut rng, &traffic, &test, &schedule).is_some())
            .count();
        let bound = false_alarm_bound(alpha, trials);
        assert!(
            alarms as f64 <= bound,
            "{alarms} false alarms in {trials} at α = {alpha} ({traffic:?}), bound {bound:.1}"
        );
    }
}

#[test]
fn a_tolerated_regression_is_no_false_alarm_either() {
    // The canary is 1.2× worse and 20% is tolerated: the null's edge, the hardest case.
    let traffic = Traffic {
        rps: 50.0,
        canary_share: 0.5,
        error_ratio: 0.02,
        regression: 1.2,
    };
    let test = Test {
        alpha: 0.05,
        tolerated_ratio: 1.2,
    };
    let schedule = Schedule {
        interval: 5.0,
        stage: 1_800.0,
    };
    let mut rng = Rng::new(7);
    let alarms = (0..1_000)
        .filter(|_| sequential_stage(&mut rng, &traffic, &test, &schedule).is_some())
        .count();
    assert!(
        alarms as f64 <= 50.0 + 3.0 * (1_000.0f64 * 0.05 * 0.95).sqrt(),
        "{alarms}"
    );
}

#[test]
fn a_gross_regression_is_found_within_minutes() {
    let traffic = Traffic {
        rps: 10.0,
        canary_share: 0.5,
        error_ratio: 0.05,
        regression: 3.0,
    };
    let schedule = Schedule {
        interval: 5.0,
        stage: 600.0,
    };
    let mut rng = Rng::new(3);
    let found = (0..200)
        .filter_map(|_| sequential_stage(&mut rng, &traffic, &STRICT, &schedule))
        .count();
    assert!(found >= 195, "found {found} of 200");
}

#[test]
fn counts_say_regression_no_regression_or_inconclusive() {
    let lenient = Test {
        alpha: 0.001,
        tolerated_ratio: 1.5,
    };
    // 60 errors on a canary with half of the requests, 20 on stable: 3×.
    let (o, e) = judge(&counts(60.0, 1_000.0, 20.0, 1_000.0), &STRICT);
    assert_eq!(o, Outcome::Regression, "{e:?}");
    assert!((e.ratio - 3.0).abs() < 1e-9);
    assert!(e.statistic >= 1_000.0);
    assert!(e.interval_low.unwrap() > 1.0);
    assert_eq!(
        e.summary,
        "canary errors 3× stable, 99.9% confidence it is worse than the tolerated 1×, \
         after 2,000 requests (80 errors, 60 on the canary at 50% of requests)"
    );
    // The same counts are not yet enough to say it is worse than a tolerated 1.5×.
    assert_eq!(
        judge(&counts(60.0, 1_000.0, 20.0, 1_000.0), &lenient).0,
        Outcome::Inconclusive
    );
    // Many errors, evenly spread: a regression beyond 1.5× is ruled out.
    let (o, e) = judge(&counts(500.0, 50_000.0, 500.0, 50_000.0), &lenient);
    assert_eq!(o, Outcome::NoRegression, "{e:?}");
    assert!(e.interval_high.unwrap() < 1.5 && e.interval_low.unwrap() < 1.0);
    assert!(
        e.summary.contains("99.9% confidence it is within"),
        "{}",
        e.summary
    );
    // A handful of errors: nothing to say yet.
    let (o, e) = judge(&counts(3.0, 300.0, 1.0, 300.0), &lenient);
    assert_eq!(o, Outcome::Inconclusive, "{e:?}");
    assert!(
        e.summary.contains("not yet enough to tell"),
        "{}",
        e.summary
    );
    // No errors at all: inconclusive, and said so.
    let (o, e) = judge(&counts(0.0, 300.0, 0.0, 300.0), &STRICT);
    assert_eq!(o, Outcome::Inconclusive);
    assert!(
        e.summary.starts_with("no errors on either track"),
        "{}",
        e.summary
    );
}

#[test]
fn missing_traffic_is_no_data_not_a_verdict() {
    assert!(no_data(&counts(0.0, 0.0, 1.0, 10.0)).is_some());
    assert!(no_data(&counts(0.0, 10.0, 0.0, 0.0)).is_some());
    assert!(no_data(&counts(f64::NAN, 10.0, 0.0, 10.0)).is_some());
    assert!(no_data(&counts(0.0, 10.0, 0.0, 10.0)).is_none());
}

#[test]
fn the_confidence_sequence_covers_the_true_ratio_at_every_look() {
    // 500 canaries 2× worse, looked at every 5 s for 20 minutes: the interval may miss 2 at
    // some look in at most α of them.
    let alpha = 0.05;
    let traffic = Traffic {
        rps: 20.0,
        canary_share: 0.3,
        error_ratio: 0.05,
        regression: 2.0,
    };
    let mut rng = Rng::new(11);
    let mut misses = 0;
    for _ in 0..500 {
        let (mut s, mut n) = (0.0, 0.0);
        for _ in 0..240 {
            let ce = rng.poisson(20.0 * 0.3 * 0.1 * 5.0);
            let se = rng.poisson(20.0 * 0.7 * 0.05 * 5.0);
            s += ce;
            n += ce + se;
            let (low, high) = confidence_sequence(s, n, traffic.canary_share, alpha);
            if !(low..=high).contains(&2.0) {
                misses += 1;
                break;
            }
        }
    }
    assert!(
        misses as f64 <= 25.0 + 3.0 * (500.0f64 * 0.05 * 0.95).sqrt(),
        "{misses}"
    );
}

#[test]
fn ln_gamma_matches_known_values() {
    for (x, expected) in [
        (1.0, 0.0),
        (2.0, 0.0),
        (0.5, std::f64::consts::PI.sqrt().ln()),
        (10.0, 362_880.0f64.ln()),
        (0.1, 2.252_712_651_734_206),
        (171.0, 706.573_062_245_787_4),
    ] {
        assert!(
            (ln_gamma(x) - expected).abs() < 1e-9,
            "ln Γ({x}) = {}",
            ln_gamma(x)
        );
    }
}

#[test]
fn counts_are_written_with_thousands_separators() {
    assert_eq!(count(1_240.0), "1,240");
    assert_eq!(count(999.0), "999");
    assert_eq!(count(1_000_000.4), "1,000,000");
    assert_eq!(confidence(0.001), "99.9%");
    assert_eq!(confidence(0.01), "99%");
}

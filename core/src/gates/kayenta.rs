//! Kayenta's NetflixACAJudge-v1.0, for configurations written for Spinnaker: each metric's
//! canary (experiment) and stable (control) series over the stage window are classified with
//! the Mann-Whitney U test ([`super::mann_whitney`]) at 98% confidence, a tolerance band of
//! ±25% of the Hodges-Lehmann shift and an effect size; metrics are scored per group, and
//! the weighted score is held to marginal and pass thresholds (REFERENCES.md §2.1).
//!
//! Not ported: outlier removal (Kayenta's default keeps outliers) and the Gaussian noise
//! Kayenta adds to two constant series — here such a pair is judged on its values as they
//! are, deterministically: the shift is their difference.

use super::mann_whitney;

/// Kayenta's judge overrides the classifier's 0.95.
pub const CONFIDENCE: f64 = 0.98;
/// The tolerance band: a shift within ±25% of |HL| of zero is no shift.
const TOLERANCE: f64 = 0.25;

pub use crate::api::Direction;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Effect {
    /// mean(canary) / mean(stable); defaults 1.0 for every bound.
    MeanRatio,
    /// The common-language effect size (2R₁ − m(m+1)) / 2mn; defaults 0.5.
    Cles,
}

/// One metric's configuration, with Kayenta's defaults in [`Metric::new`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metric {
    pub direction: Direction,
    pub critical: bool,
    pub must_have_data: bool,
    /// `nanStrategy: replace` (NaN becomes 0) rather than `remove`.
    pub replace_nan: bool,
    pub effect: Effect,
    pub allowed_increase: f64,
    pub allowed_decrease: f64,
    pub critical_increase: f64,
    pub critical_decrease: f64,
}

impl Metric {
    pub fn new(effect: Effect) -> Self {
        let neutral = match effect {
            Effect::MeanRatio => 1.0,
            Effect::Cles => 0.5,
        };
        Self {
            direction: Direction::Either,
            critical: false,
            must_have_data: false,
            replace_nan: false,
            effect,
            allowed_increase: neutral,
            allowed_decrease: neutral,
            critical_increase: neutral,
            critical_decrease: neutral,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    Pass,
    High,
    Low,
    Nodata,
    NodataFailMetric,
    Error,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Classified {
    pub class: Class,
    /// A critical metric that failed: the whole canary scores 0.
    pub critical_failure: bool,
    /// The U test, when it ran.
    pub test: Option<mann_whitney::MannWhitney>,
    pub effect: Option<f64>,
}

/// Classifies one metric from its stable (control) and canary (experiment) points.
pub fn classify(control: &[f64], experiment: &[f64], m: &Metric) -> Classified {
    let clean = |v: &[f64]| -> Vec<f64> {
        v.iter()
            .filter_map(|x| match (x.is_nan(), m.replace_nan) {
                (true, true) => Some(0.0),
                (true, false) => None,
                (false, _) => Some(*x),
            })
            .collect()
    };
    let (control, experiment) = (clean(control), clean(experiment));
    let done = |class, critical_failure| Classified {
        class,
        critical_failure,
        test: None,
        effect: None,
    };
    if control.is_empty() || experiment.is_empty() {
        if m.replace_nan {
            return done(Class::Pass, false);
        }
        let class = if m.must_have_data && !m.critical {
            Class::NodataFailMetric
        } else {
            Class::Nodata
        };
        return done(class, m.critical);
    }
    let sorted = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        s
    };
    let (sc, se) = (sorted(&control), sorted(&experiment));
    let one_value = sc.first() == sc.last() && se.first() == se.last() && sc[0] == se[0];
    if sc == se || one_value {
        return done(Class::Pass, false);
    }
    let constant = |s: &[f64]| s.first() == s.last();
    let test = if constant(&sc) && constant(&se) {
        // Two different constants: every shifted pair ties, so the U test's interval cannot
        // be computed (R stops there; Kayenta adds noise of σ = value·1e-5 to get past it,
        // which pins the interval to the difference). Judged as that noise would judge it,
        // without the noise: the shift is exactly the difference.
        let shift = se[0] - sc[0];
        let (mm, n) = (experiment.len() as f64, control.len() as f64);
        mann_whitney::MannWhitney {
            w: if shift > 0.0 { mm * n } else { 0.0 },
            p_value: f64::NAN,
            low: shift,
            high: shift,
            estimate: shift,
        }
    } else {
        match mann_whitney::test(&experiment, &control, CONFIDENCE) {
            Ok(t) => t,
            Err(_) => return done(Class::Error, m.critical),
        }
    };
    let effect = match m.effect {
        Effect::MeanRatio => {
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
            let (c, e) = (mean(&control), mean(&experiment));
            if c == 0.0 || e == 0.0 {
                f64::NAN
            } else {
                e / c
            }
        }
        Effect::Cles => {
            let (mm, n) = (experiment.len() as f64, control.len() as f64);
            // R₁ = W + m(m+1)/2.
            let r1 = test.w + mm * (mm + 1.0) / 2.0;
            (2.0 * r1 - mm * (mm + 1.0)) / (2.0 * mm * n)
        }
    };
    // A NaN effect (a zero mean) skips the effect check.
    let at_least = |bound: f64| effect.is_nan() || effect >= bound;
    let at_most = |bound: f64| effect.is_nan() || effect <= bound;
    let band = TOLERANCE * test.estimate.abs();
    let up = matches!(m.direction, Direction::Increase | Direction::Either);
    let down = matches!(m.direction, Direction::Decrease | Direction::Either);
    let (class, critical_failure) = if up && test.low > band && at_least(m.allowed_increase) {
        (Class::High, m.critical && at_least(m.critical_increase))
    } else if down && test.high < -band && at_most(m.allowed_decrease) {
        (Class::Low, m.critical && at_most(m.critical_decrease))
    } else {
        (Class::Pass, false)
    };
    Classified {
        class,
        critical_failure,
        test: Some(test),
        effect: Some(effect),
    }
}

/// A group of classified metrics and its weight (`None` shares what the weighted groups
/// leave of 100).
pub struct Group<'a> {
    pub weight: Option<f64>,
    pub metrics: &'a [Classified],
}

/// Kayenta's weighted sum score, 0 to 100, rounded to 2 decimals.
pub fn score(groups: &[Group<'_>]) -> f64 {
    let all: Vec<&Classified> = groups.iter().flat_map(|g| g.metrics).collect();
    if all
        .iter()
        .any(|c| c.critical_failure && c.class != Class::Pass)
    {
        return 0.0;
    }
    let nodata = all.iter().filter(|c| c.class == Class::Nodata).count();
    if !all.is_empty() && 2 * nodata >= all.len() {
        return 0.0;
    }
    let weighted: f64 = groups.iter().filter_map(|g| g.weight).sum();
    let unweighted = groups.iter().filter(|g| g.weight.is_none()).count();
    let share = if unweighted > 0 {
        (100.0 - weighted).max(0.0) / unweighted as f64
    } else {
        0.0
    };
    let summary: f64 = groups
        .iter()
        .map(|g| {
            let count = |class| g.metrics.iter().filter(|c| c.class == class).count() as f64;
            let pass = count(Class::Pass);
            let counted =
                pass + count(Class::High) + count(Class::Low) + count(Class::NodataFailMetric);
            let group_score = if counted == 0.0 {
                100.0
            } else {
                100.0 * pass / counted
            };
            group_score * g.weight.unwrap_or(share) / 100.0
        })
        .sum();
    (summary * 100.0).round() / 100.0
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Marginal,
    Fail,
}

/// Kayenta's threshold classifier (e.g. marginal 75, pass 95).
pub fn outcome(score: f64, marginal: f64, pass: f64) -> Outcome {
    if score >= pass {
        Outcome::Pass
    } else if score >= marginal {
        Outcome::Marginal
    } else {
        Outcome::Fail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(base: f64, step: f64, n: usize) -> Vec<f64> {
        // A deterministic wobble: no two points alike.
        (0..n)
            .map(|i| base + step * (((i * 7919) % 13) as f64 - 6.0))
            .collect()
    }

    #[test]
    fn a_clear_increase_is_high_and_a_critical_one_zeroes_the_score() {
        let stable = series(0.20, 0.002, 50);
        let canary = series(0.30, 0.002, 50);
        let mut m = Metric::new(Effect::MeanRatio);
        let c = classify(&stable, &canary, &m);
        assert_eq!(c.class, Class::High);
        assert!(c.effect.unwrap() > 1.4);
        assert_eq!(
            score(&[Group {
                weight: None,
                metrics: &[c]
            }]),
            0.0
        );
        m.critical = true;
        let c = classify(&stable, &canary, &m);
        assert!(c.critical_failure);
        let fine = classify(&stable, &stable, &Metric::new(Effect::MeanRatio));
        assert_eq!(fine.class, Class::Pass);
        assert_eq!(
            score(&[Group {
                weight: None,
                metrics: &[c, fine, fine]
            }]),
            0.0
        );
    }

    #[test]
    fn direction_and_effect_size_decide_what_counts() {
        let stable = series(0.20, 0.002, 50);
        let canary = series(0.30, 0.002, 50);
        let mut m = Metric::new(Effect::MeanRatio);
        m.direction = Direction::Decrease;
        assert_eq!(classify(&stable, &canary, &m).class, Class::Pass);
        m.direction = Direction::Increase;
        m.allowed_increase = 2.0;
        assert_eq!(classify(&stable, &canary, &m).class, Class::Pass);
        let lower = series(0.10, 0.002, 50);
        let mut m = Metric::new(Effect::Cles);
        assert_eq!(classify(&stable, &lower, &m).class, Class::Low);
        m.direction = Direction::Increase;
        assert_eq!(classify(&stable, &lower, &m).class, Class::Pass);
    }

    /// Two different constants (a gauge on each track) tie at every shift: Kayenta's noise
    /// gets past that, and so does judging the difference itself.
    #[test]
    fn two_different_constants_are_judged_on_their_difference() {
        let m = Metric::new(Effect::MeanRatio);
        let c = classify(&[0.1; 20], &[0.3; 20], &m);
        assert_eq!(c.class, Class::High);
        let t = c.test.unwrap();
        assert!((t.estimate - 0.2).abs() < 1e-12 && t.low == t.estimate);
        assert!((c.effect.unwrap() - 3.0).abs() < 1e-12);
        assert_eq!(classify(&[0.3; 20], &[0.1; 20], &m).class, Class::Low);
    }

    #[test]
    fn no_data_is_scored_as_kayenta_does() {
        let m = Metric::new(Effect::MeanRatio);
        let nodata = classify(&[], &[1.0], &m);
        assert_eq!(nodata.class, Class::Nodata);
        let must = Metric {
            must_have_data: true,
            ..m
        };
        assert_eq!(
            classify(&[f64::NAN], &[1.0], &must).class,
            Class::NodataFailMetric
        );
        let replace = Metric {
            replace_nan: true,
            ..m
        };
        assert_eq!(classify(&[], &[1.0], &replace).class, Class::Pass);
        let pass = classify(&[1.0, 2.0], &[1.0, 2.0], &m);
        // Half of the metrics without data: score 0.
        assert_eq!(
            score(&[Group {
                weight: None,
                metrics: &[nodata, pass]
            }]),
            0.0
        );
    }

    #[test]
    fn groups_are_weighted_and_thresholded() {
        let m = Metric::new(Effect::MeanRatio);
        let pass = classify(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0], &m);
        let high = classify(&series(0.2, 0.002, 50), &series(0.3, 0.002, 50), &m);
        // Group a (weight 60): 1 of 2 pass = 50; group b shares the remaining 40: 100.
        let s = score(&[
            Group {
                weight: Some(60.0),
                metrics: &[pass, high],
            },
            Group {
                weight: None,
                metrics: &[pass],
            },
        ]);
        assert_eq!(s, 70.0);
        assert_eq!(outcome(s, 75.0, 95.0), Outcome::Fail);
        assert_eq!(outcome(80.0, 75.0, 95.0), Outcome::Marginal);
        assert_eq!(outcome(95.0, 75.0, 95.0), Outcome::Pass);
    }
}

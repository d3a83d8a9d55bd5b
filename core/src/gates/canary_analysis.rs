//! A Kayenta gate: one canary config judged as Spinnaker's canary stage judges it. Each
//! metric's canary and stable series over the stage so far (one point per gate interval) are
//! classified by Kayenta's Mann-Whitney classifier ([`super::kayenta`]) and scored per group.
//! Before the stage's bake is over a score below `marginal` fails at once (Spinnaker fails the
//! canary on any interval run below marginal); once the bake is over the score must reach
//! `pass`. Nothing is judged before the window holds `minPoints` intervals: the U test on a
//! handful of points can rule nothing out, and a metric without its first points yet would
//! read as no data.

use std::time::Duration;

use crate::api::{Evidence, MetricEvidence, Verdict};

use super::judge::{
    Judgement, Measurement, NOT_STARTED, RangeMeasurement, number, preflight as preflight_one,
    unjudged,
};
use super::kayenta::{self, Class, Classified, Group};
use super::sequential::times;
use super::{Kayenta, KayentaMetric};

/// Where the stage is: how long its pods have been ready (`None` before), its bake, and the
/// gate's interval (the range queries' step).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    pub age: Option<Duration>,
    pub bake: Duration,
    pub interval: Duration,
}

impl Window {
    /// The points the window holds so far, one per interval.
    fn points(&self, age: Duration) -> usize {
        (age.as_millis() / self.interval.as_millis().max(1)) as usize
    }
}

/// Each metric's canary and stable range queries, in the order of the config's metrics.
pub struct Measured {
    pub canary: RangeMeasurement,
    pub stable: RangeMeasurement,
}

/// Judges a Kayenta gate.
pub fn judge(k: &Kayenta, measured: &[Measured], window: &Window) -> Judgement {
    let threshold = Some(format!(
        "Kayenta score at least {} once the bake is over, never below {} before",
        number(k.pass),
        number(k.marginal)
    ));
    let verdict = |verdict, message: String| unjudged(verdict, &threshold, message);
    let Some(age) = window.age else {
        return verdict(Verdict::Inconclusive, NOT_STARTED.into());
    };
    let points = window.points(age);
    if points < k.min_points {
        return verdict(
            Verdict::Inconclusive,
            format!(
                "gathering points: {points} of the {} intervals the test needs",
                k.min_points
            ),
        );
    }
    let mut classified = Vec::with_capacity(k.metrics.len());
    let mut fewest = usize::MAX;
    for (metric, m) in k.metrics.iter().zip(measured) {
        let values = |track: &str, r: &RangeMeasurement| -> Result<Vec<f64>, String> {
            match r {
                Err(e) => Err(format!("{} {track} query failed: {e}", metric.name)),
                // Several series (one per label set) are pooled, as one metric set.
                Ok(series) => Ok(series.iter().flatten().map(|(_, v)| *v).collect()),
            }
        };
        let (canary, stable) = match (values("canary", &m.canary), values("stable", &m.stable)) {
            (Ok(c), Ok(s)) => (c, s),
            (Err(e), _) | (_, Err(e)) => return verdict(Verdict::Error, e),
        };
        fewest = fewest.min(canary.len().min(stable.len()));
        classified.push(kayenta::classify(&stable, &canary, &metric.config));
    }
    let score = score(k, &classified);
    let baked = age >= window.bake;
    let outcome = kayenta::outcome(score, k.marginal, k.pass);
    let (verdict_of, stand) = match (baked, outcome) {
        (true, kayenta::Outcome::Pass) => (Verdict::Pass, "passes"),
        (true, _) => (
            Verdict::Fail,
            "fails: below the pass score at the end of the bake",
        ),
        (false, kayenta::Outcome::Fail) => (Verdict::Fail, "fails early: below marginal"),
        (false, _) => (
            Verdict::Inconclusive,
            "so far: judged against the pass score when the bake is over",
        ),
    };
    let metrics: Vec<MetricEvidence> = k
        .metrics
        .iter()
        .zip(&classified)
        .map(|(m, c)| metric_evidence(m, c))
        .collect();
    let worst_effect = k
        .metrics
        .iter()
        .zip(&classified)
        .filter(|(_, c)| matches!(c.class, Class::High | Class::Low))
        .find_map(|(m, c)| c.effect.filter(|e| e.is_finite() && is_ratio(m)))
        .unwrap_or(1.0);
    let summary = format!(
        "Kayenta score {} {stand} (pass {}, marginal {}), after {points} intervals: {}",
        number(score),
        number(k.pass),
        number(k.marginal),
        metrics.iter().map(words).collect::<Vec<_>>().join("; ")
    );
    let evidence = Evidence {
        test: "kayenta".into(),
        requests: 0.0,
        events: 0.0,
        canary_events: 0.0,
        canary_share: 0.0,
        ratio: worst_effect,
        interval_low: None,
        interval_high: None,
        statistic: score,
        alpha: 1.0 - kayenta::CONFIDENCE,
        // No ratio is tolerated as such: the effect sizes are per metric.
        tolerated_ratio: 1.0,
        intervals: Some(if fewest == usize::MAX { 0 } else { fewest } as u32),
        dropped: None,
        p_value: None,
        metrics,
        summary: summary.clone(),
    };
    Judgement {
        verdict: verdict_of,
        value: Some(score),
        stable_value: None,
        threshold,
        message: summary,
        evidence: Some(evidence),
    }
}

/// Kayenta's score of the classified metrics, grouped as configured.
fn score(k: &Kayenta, classified: &[Classified]) -> f64 {
    let mut names: Vec<&str> = Vec::new();
    for m in &k.metrics {
        if !names.contains(&m.group.as_str()) {
            names.push(&m.group);
        }
    }
    let members: Vec<Vec<Classified>> = names
        .iter()
        .map(|g| {
            k.metrics
                .iter()
                .zip(classified)
                .filter(|(m, _)| m.group == *g)
                .map(|(_, c)| *c)
                .collect()
        })
        .collect();
    let groups: Vec<Group<'_>> = names
        .iter()
        .zip(&members)
        .map(|(g, metrics)| Group {
            weight: k
                .group_weights
                .iter()
                .find(|(name, _)| name == g)
                .map(|(_, w)| *w),
            metrics,
        })
        .collect();
    kayenta::score(&groups)
}

fn is_ratio(m: &KayentaMetric) -> bool {
    m.config.effect == kayenta::Effect::MeanRatio
}

fn class_name(c: Class) -> &'static str {
    match c {
        Class::Pass => "Pass",
        Class::High => "High",
        Class::Low => "Low",
        Class::Nodata => "Nodata",
        Class::NodataFailMetric => "NodataFailMetric",
        Class::Error => "Error",
    }
}

fn metric_evidence(m: &KayentaMetric, c: &Classified) -> MetricEvidence {
    MetricEvidence {
        name: m.name.clone(),
        class: class_name(c.class).into(),
        critical: c.critical_failure,
        shift: c.test.map(|t| t.estimate),
        shift_low: c.test.map(|t| t.low),
        shift_high: c.test.map(|t| t.high),
        // JSON has no NaN: an undefined effect (a zero mean) is left out.
        effect: c.effect.filter(|e| e.is_finite()),
        measure: if is_ratio(m) { "meanRatio" } else { "cles" }.into(),
    }
}

/// One metric in words: `latency High (shift +0.12, 98% interval +0.1 to +0.14, mean ratio
/// 1.9×)`.
fn words(m: &MetricEvidence) -> String {
    let signed = |v: f64| {
        if v > 0.0 {
            format!("+{}", number(v))
        } else {
            number(v)
        }
    };
    let critical = if m.critical { " (critical)" } else { "" };
    let mut details = Vec::new();
    if let (Some(s), Some(l), Some(h)) = (m.shift, m.shift_low, m.shift_high) {
        details.push(format!(
            "shift {}, {}% interval {} to {}",
            signed(s),
            number(kayenta::CONFIDENCE * 100.0),
            signed(l),
            signed(h)
        ));
    }
    if let Some(e) = m.effect {
        details.push(if m.measure == "meanRatio" {
            format!("mean ratio {}", times(e))
        } else {
            format!("CLES {}", number(e))
        });
    }
    let details = if details.is_empty() {
        String::new()
    } else {
        format!(" ({})", details.join(", "))
    };
    format!("{} {}{critical}{details}", m.name, m.class)
}

/// Preflight asks stable's instant value of every metric: a query that fails holds the
/// release (as any gate's), and so does missing data that Kayenta would score as a failure —
/// a `mustHaveData` or critical metric without data, or half the metrics without data.
pub fn preflight(k: &Kayenta, measured: &[Measurement]) -> Judgement {
    let judged: Vec<Judgement> = measured.iter().map(preflight_one).collect();
    if let Some((m, j)) = k
        .metrics
        .iter()
        .zip(&judged)
        .find(|(_, j)| j.verdict == Verdict::Error)
    {
        return Judgement {
            message: format!("{}: {}", m.name, j.message),
            ..j.clone()
        };
    }
    let empty: Vec<&KayentaMetric> = k
        .metrics
        .iter()
        .zip(&judged)
        .filter(|(_, j)| j.verdict == Verdict::NoData)
        .map(|(m, _)| m)
        .collect();
    let required = empty
        .iter()
        .find(|m| m.config.must_have_data || m.config.critical);
    let verdict = if required.is_some() || (!empty.is_empty() && 2 * empty.len() >= k.metrics.len())
    {
        Verdict::NoData
    } else {
        Verdict::Pass
    };
    let names: Vec<&str> = empty.iter().map(|m| m.name.as_str()).collect();
    let message = if names.is_empty() {
        String::new()
    } else {
        format!("no data from stable for {}", names.join(", "))
    };
    unjudged(verdict, &None, message)
}

#[cfg(test)]
mod tests;

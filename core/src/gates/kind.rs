//! What a gate judges, named once. A gate's kind is decided here from its spec, when the spec
//! is validated, and everything that differs between kinds (what is measured, how it is
//! judged) asks the kind. A new judge (an alert, a statistical test) is a new variant here and
//! its fields on the `Gate` API type.

use super::judge::MaxIncrease;
use super::sequential::Test;
use super::{kayenta, msprt};
use crate::api::{Gate, InconclusivePolicy, KayentaGate, NanStrategy};

/// The false-alarm rate of a sequential gate when none is given.
pub const DEFAULT_ALPHA: f64 = 0.001;

#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// The value held within `min` and/or `max`.
    Threshold { min: Option<f64>, max: Option<f64> },
    /// The canary at most `max_increase` above stable measured at the same instant (and
    /// within `min`/`max` when set too).
    Compare {
        max_increase: MaxIncrease,
        min: Option<f64>,
        max: Option<f64>,
    },
    /// The canary's errors against stable's since the stage's pods were ready, judged by the
    /// sequential test (`gates::sequential`).
    Sequential(Sequential),
    /// Fails while matching Prometheus alerts fire; `query` is built from the labels.
    Alert { query: String },
    /// The gate's query on both tracks, interval by interval since the stage's pods were
    /// ready, judged by the mSPRT (`gates::msprt`).
    Msprt(Msprt),
    /// Kayenta's Mann-Whitney judge over a canary config (`gates::canary_analysis`).
    Kayenta(Kayenta),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Msprt {
    pub test: msprt::Test,
    pub on_inconclusive: InconclusivePolicy,
}

/// The points per track and metric a Kayenta gate needs when none is given: below 5 a side
/// the U test at 98% can never rule anything out (with 4 and 4, the smallest two-sided
/// p-value of its normal approximation is 0.03); from 10 a side the approximation is within
/// about half a percentage point of the exact p-value and a clear shift is significant.
/// Kayenta's own advice for production is 50.
pub const DEFAULT_MIN_POINTS: usize = 10;

#[derive(Clone, Debug, PartialEq)]
pub struct Kayenta {
    pub metrics: Vec<KayentaMetric>,
    /// Group weights as given (percent); groups not named share the rest.
    pub group_weights: Vec<(String, f64)>,
    pub marginal: f64,
    pub pass: f64,
    pub min_points: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct KayentaMetric {
    pub name: String,
    /// The query template, rendered once per track.
    pub query: String,
    pub group: String,
    pub config: kayenta::Metric,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Sequential {
    /// Series selectors (templates) of the error and request counters.
    pub errors: String,
    pub requests: String,
    pub test: Test,
    pub on_inconclusive: InconclusivePolicy,
}

/// Why a gate has no kind: the field (relative to the gate) and the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindError {
    pub field: String,
    pub message: String,
}

fn error(field: impl Into<String>, message: impl Into<String>) -> KindError {
    KindError {
        field: field.into(),
        message: message.into(),
    }
}

/// `tolerance: 20%` as a fraction (0 when absent).
fn tolerance(field: &str, text: Option<&str>) -> Result<f64, KindError> {
    match text {
        None => Ok(0.0),
        Some(t) => match MaxIncrease::parse(t) {
            Ok(MaxIncrease::Relative(f)) => Ok(f),
            _ => Err(error(
                field,
                format!("tolerance {t:?} is not a percentage like 20%"),
            )),
        },
    }
}

fn alpha(field: &str, alpha: Option<f64>) -> Result<f64, KindError> {
    let alpha = alpha.unwrap_or(DEFAULT_ALPHA);
    if !(alpha > 0.0 && alpha <= 0.1) {
        return Err(error(field, "alpha must be in (0, 0.1]"));
    }
    Ok(alpha)
}

/// The kinds that judge from their own fields, with the field that makes the gate one.
fn judged_kinds(gate: &Gate) -> Vec<&'static str> {
    [
        ("sequential", gate.sequential.is_some()),
        ("alert", gate.alert.is_some()),
        ("msprt", gate.msprt.is_some()),
        ("kayenta", gate.kayenta.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect()
}

impl Kind {
    pub fn of(gate: &Gate) -> Result<Kind, KindError> {
        let (min, max) = (gate.min, gate.max);
        let absolute = min.is_some() || max.is_some() || gate.compare.is_some();
        let judged = judged_kinds(gate);
        if judged.len() > 1 {
            return Err(error(
                "",
                format!(
                    "a gate is one kind: min/max/compare, sequential, alert, msprt or kayenta, not {}",
                    judged.join(" and ")
                ),
            ));
        }
        if let Some(m) = &gate.msprt {
            if absolute {
                return Err(error(
                    "msprt",
                    "an msprt gate judges its query on its own: no min, max or compare",
                ));
            }
            if gate.query.is_empty() {
                return Err(error("query", "an msprt gate needs a query"));
            }
            let burn_in = m.burn_in.unwrap_or(msprt::DEFAULT_BURN_IN as i32);
            if burn_in < 3 {
                return Err(error("msprt.burnIn", "must be at least 3"));
            }
            return Ok(Kind::Msprt(Msprt {
                test: msprt::Test {
                    alpha: alpha("msprt.alpha", m.alpha)?,
                    tolerance: tolerance("msprt.tolerance", m.tolerance.as_deref())?,
                    direction: m.direction.unwrap_or_default(),
                    burn_in: burn_in as usize,
                },
                on_inconclusive: m.on_inconclusive.unwrap_or_default(),
            }));
        }
        if let Some(k) = &gate.kayenta {
            if absolute || !gate.query.is_empty() {
                return Err(error(
                    "kayenta",
                    "a kayenta gate has no query, min, max or compare: its metrics have queries",
                ));
            }
            return kayenta_kind(k).map(Kind::Kayenta);
        }
        if let Some(s) = &gate.sequential {
            if absolute || !gate.query.is_empty() {
                return Err(error(
                    "sequential",
                    "a sequential gate has no query, min, max or compare: it asks its errors and requests counters",
                ));
            }
            return Ok(Kind::Sequential(Sequential {
                errors: s.errors.clone(),
                requests: s.requests.clone(),
                test: Test {
                    alpha: alpha("sequential.alpha", s.alpha)?,
                    tolerated_ratio: 1.0
                        + tolerance("sequential.tolerance", s.tolerance.as_deref())?,
                },
                on_inconclusive: s.on_inconclusive.unwrap_or_default(),
            }));
        }
        if let Some(a) = &gate.alert {
            if absolute || !gate.query.is_empty() {
                return Err(error(
                    "alert",
                    "an alert gate has no query, min, max or compare: it asks for firing alerts",
                ));
            }
            if let Some(why) = super::alert::invalid(&a.labels) {
                return Err(error("alert.labels", why));
            }
            return Ok(Kind::Alert {
                query: super::alert::query(&a.labels),
            });
        }
        match &gate.compare {
            Some(c) => {
                let max_increase = MaxIncrease::parse(&c.max_increase)
                    .map_err(|message| error("compare.maxIncrease", message))?;
                Ok(Kind::Compare {
                    max_increase,
                    min,
                    max,
                })
            }
            None if min.is_none() && max.is_none() => Err(error(
                "",
                "a gate needs min, max, compare, sequential, alert, msprt or kayenta",
            )),
            None => Ok(Kind::Threshold { min, max }),
        }
    }

    /// Whether judging the canary needs stable measured at the same instant. After a rollback
    /// there is no canary to compare: only kinds that need no baseline watch stable then.
    pub fn needs_baseline(&self) -> bool {
        matches!(
            self,
            Kind::Compare { .. } | Kind::Sequential(_) | Kind::Msprt(_) | Kind::Kayenta(_)
        )
    }

    /// What an inconclusive verdict means for the stage (`onInconclusive`).
    pub fn on_inconclusive(&self) -> InconclusivePolicy {
        match self {
            Kind::Sequential(s) => s.on_inconclusive,
            Kind::Msprt(m) => m.on_inconclusive,
            // Kayenta is conclusive once the bake is over; before, the bake holds anyway.
            _ => InconclusivePolicy::Hold,
        }
    }

    /// The absolute bounds, whatever the kind.
    pub fn bounds(&self) -> (Option<f64>, Option<f64>) {
        match *self {
            Kind::Threshold { min, max } | Kind::Compare { min, max, .. } => (min, max),
            Kind::Sequential(_) | Kind::Alert { .. } | Kind::Msprt(_) | Kind::Kayenta(_) => {
                (None, None)
            }
        }
    }

    /// The query templates the gate asks, each with the field it comes from (relative to the
    /// gate), for validation. A sequential gate's are shown over a one-minute window; the
    /// window it asks is the stage's age.
    pub fn queries(&self, gate: &Gate) -> Vec<(String, String)> {
        match self {
            Kind::Threshold { .. } | Kind::Compare { .. } | Kind::Msprt(_) => {
                vec![("query".into(), gate.query.clone())]
            }
            Kind::Sequential(s) => vec![
                ("sequential.errors".into(), counted(&s.errors, "1m")),
                ("sequential.requests".into(), counted(&s.requests, "1m")),
            ],
            Kind::Alert { query } => vec![("alert.labels".into(), query.clone())],
            Kind::Kayenta(k) => k
                .metrics
                .iter()
                .enumerate()
                .map(|(i, m)| (format!("kayenta.metrics[{i}].query"), m.query.clone()))
                .collect(),
        }
    }
}

/// How many events a counter selector counted over `window`, summed over its series.
pub fn counted(selector: &str, window: &str) -> String {
    format!("sum(increase({}[{window}]))", selector.trim())
}

fn kayenta_kind(k: &KayentaGate) -> Result<Kayenta, KindError> {
    if k.metrics.is_empty() {
        return Err(error("kayenta.metrics", "a canary config needs a metric"));
    }
    let mut metrics = Vec::with_capacity(k.metrics.len());
    for (i, m) in k.metrics.iter().enumerate() {
        let field = |f: &str| format!("kayenta.metrics[{i}].{f}");
        if k.metrics[..i].iter().any(|n| n.name == m.name) {
            return Err(error(
                field("name"),
                format!("duplicate metric name {:?}", m.name),
            ));
        }
        let (effect, bounds) = match &m.effect_size {
            None => (kayenta::Effect::MeanRatio, None),
            Some(e) => match (&e.mean_ratio, &e.cles) {
                (Some(b), None) => (kayenta::Effect::MeanRatio, Some(b)),
                (None, Some(b)) => (kayenta::Effect::Cles, Some(b)),
                _ => {
                    return Err(error(
                        field("effectSize"),
                        "an effect size is meanRatio or cles",
                    ));
                }
            },
        };
        let mut config = kayenta::Metric::new(effect);
        config.direction = m.direction.unwrap_or(crate::api::Direction::Either);
        config.critical = m.critical;
        config.must_have_data = m.must_have_data;
        config.replace_nan = m.nan_strategy == Some(NanStrategy::Replace);
        if let Some(b) = bounds {
            for (name, given, slot) in [
                (
                    "allowedIncrease",
                    b.allowed_increase,
                    &mut config.allowed_increase,
                ),
                (
                    "allowedDecrease",
                    b.allowed_decrease,
                    &mut config.allowed_decrease,
                ),
                (
                    "criticalIncrease",
                    b.critical_increase,
                    &mut config.critical_increase,
                ),
                (
                    "criticalDecrease",
                    b.critical_decrease,
                    &mut config.critical_decrease,
                ),
            ] {
                match given {
                    Some(v) if !v.is_finite() => {
                        return Err(error(
                            field(&format!("effectSize.{name}")),
                            "must be a finite number",
                        ));
                    }
                    Some(v) => *slot = v,
                    None => {}
                }
            }
        }
        metrics.push(KayentaMetric {
            name: m.name.clone(),
            query: m.query.clone(),
            group: m.group.clone().unwrap_or_else(|| m.name.clone()),
            config,
        });
    }
    let mut total = 0.0;
    for (group, weight) in &k.group_weights {
        let field = format!("kayenta.groupWeights.{group}");
        if !metrics.iter().any(|m| &m.group == group) {
            return Err(error(field, format!("no metric is in group {group:?}")));
        }
        if !(weight.is_finite() && *weight >= 0.0) {
            return Err(error(field, "a weight is a number from 0 to 100"));
        }
        total += weight;
    }
    if total > 100.0 {
        return Err(error(
            "kayenta.groupWeights",
            format!("the weights add up to {total}, more than 100"),
        ));
    }
    let t = &k.score_thresholds;
    let score = |v: f64| v.is_finite() && (0.0..=100.0).contains(&v);
    if !score(t.marginal) || !score(t.pass) || t.marginal > t.pass {
        return Err(error(
            "kayenta.scoreThresholds",
            "marginal and pass are scores from 0 to 100, marginal at most pass",
        ));
    }
    let min_points = match k.min_points {
        None => DEFAULT_MIN_POINTS,
        Some(n) if n >= 5 => n as usize,
        Some(_) => {
            return Err(error(
                "kayenta.minPoints",
                "must be at least 5: with fewer the U test can never rule anything out",
            ));
        }
    };
    Ok(Kayenta {
        metrics,
        group_weights: k
            .group_weights
            .iter()
            .map(|(g, w)| (g.clone(), *w))
            .collect(),
        marginal: t.marginal,
        pass: t.pass,
        min_points,
    })
}

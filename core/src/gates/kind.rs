//! What a gate judges, named once. A gate's kind is decided here from its spec, when the spec
//! is validated, and everything that differs between kinds (what is measured, how it is
//! judged) asks the kind. A new judge (an alert, a statistical test) is a new variant here and
//! its fields on the `Gate` API type.

use super::judge::MaxIncrease;
use super::sequential::Test;
use crate::api::{Gate, InconclusivePolicy};

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
    pub field: &'static str,
    pub message: String,
}

fn error(field: &'static str, message: impl Into<String>) -> KindError {
    KindError {
        field,
        message: message.into(),
    }
}

impl Kind {
    pub fn of(gate: &Gate) -> Result<Kind, KindError> {
        let (min, max) = (gate.min, gate.max);
        let absolute = min.is_some() || max.is_some() || gate.compare.is_some();
        if let Some(s) = &gate.sequential {
            if gate.alert.is_some() {
                return Err(error("", "a gate is either sequential or alert, not both"));
            }
            if absolute || !gate.query.is_empty() {
                return Err(error(
                    "sequential",
                    "a sequential gate has no query, min, max or compare: it asks its errors and requests counters",
                ));
            }
            let alpha = s.alpha.unwrap_or(DEFAULT_ALPHA);
            if !(alpha > 0.0 && alpha <= 0.1) {
                return Err(error("sequential.alpha", "alpha must be in (0, 0.1]"));
            }
            let tolerance = match s.tolerance.as_deref() {
                None => 0.0,
                Some(t) => match MaxIncrease::parse(t) {
                    Ok(MaxIncrease::Relative(f)) => f,
                    _ => {
                        return Err(error(
                            "sequential.tolerance",
                            format!("tolerance {t:?} is not a percentage like 20%"),
                        ));
                    }
                },
            };
            return Ok(Kind::Sequential(Sequential {
                errors: s.errors.clone(),
                requests: s.requests.clone(),
                test: Test {
                    alpha,
                    tolerated_ratio: 1.0 + tolerance,
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
                "a gate needs min, max, compare, sequential or alert",
            )),
            None => Ok(Kind::Threshold { min, max }),
        }
    }

    /// Whether judging the canary needs stable measured at the same instant. After a rollback
    /// there is no canary to compare: only kinds that need no baseline watch stable then.
    pub fn needs_baseline(&self) -> bool {
        matches!(self, Kind::Compare { .. } | Kind::Sequential(_))
    }

    /// The absolute bounds, whatever the kind.
    pub fn bounds(&self) -> (Option<f64>, Option<f64>) {
        match *self {
            Kind::Threshold { min, max } | Kind::Compare { min, max, .. } => (min, max),
            Kind::Sequential(_) | Kind::Alert { .. } => (None, None),
        }
    }

    /// The query templates the gate asks, each with the field it comes from (relative to the
    /// gate), for validation. A sequential gate's are shown over a one-minute window; the
    /// window it asks is the stage's age.
    pub fn queries(&self, gate: &Gate) -> Vec<(&'static str, String)> {
        match self {
            Kind::Threshold { .. } | Kind::Compare { .. } => vec![("query", gate.query.clone())],
            Kind::Sequential(s) => vec![
                ("sequential.errors", counted(&s.errors, "1m")),
                ("sequential.requests", counted(&s.requests, "1m")),
            ],
            Kind::Alert { query } => vec![("alert.labels", query.clone())],
        }
    }
}

/// How many events a counter selector counted over `window`, summed over its series.
pub fn counted(selector: &str, window: &str) -> String {
    format!("sum(increase({}[{window}]))", selector.trim())
}

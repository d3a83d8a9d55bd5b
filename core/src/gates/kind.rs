//! What a gate judges, named once. A gate's kind is decided here from its spec, when the spec
//! is validated, and everything that differs between kinds (what is measured, how it is
//! judged) asks the kind. A new judge (an alert, a statistical test) is a new variant here and
//! its fields on the `Gate` API type.

use super::judge::MaxIncrease;
use crate::api::Gate;

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
}

/// Why a gate has no kind: the field (relative to the gate) and the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindError {
    pub field: &'static str,
    pub message: String,
}

impl Kind {
    pub fn of(gate: &Gate) -> Result<Kind, KindError> {
        let (min, max) = (gate.min, gate.max);
        match &gate.compare {
            Some(c) => {
                let max_increase =
                    MaxIncrease::parse(&c.max_increase).map_err(|message| KindError {
                        field: "compare.maxIncrease",
                        message,
                    })?;
                Ok(Kind::Compare {
                    max_increase,
                    min,
                    max,
                })
            }
            None if min.is_none() && max.is_none() => Err(KindError {
                field: "",
                message: "a gate needs min, max or compare".into(),
            }),
            None => Ok(Kind::Threshold { min, max }),
        }
    }

    /// Whether judging the canary needs stable measured at the same instant. After a rollback
    /// there is no canary to compare: only kinds that need no baseline watch stable then.
    pub fn needs_baseline(&self) -> bool {
        matches!(self, Kind::Compare { .. })
    }

    /// The absolute bounds, whatever the kind.
    pub fn bounds(&self) -> (Option<f64>, Option<f64>) {
        match *self {
            Kind::Threshold { min, max } | Kind::Compare { min, max, .. } => (min, max),
        }
    }
}

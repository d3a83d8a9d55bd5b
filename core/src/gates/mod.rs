//! Gates: is the canary healthy enough to go on? A gate's query is rendered from a template
//! ([`template`]: values escaped so they can never change the query), asked of Prometheus
//! by the controller crate (`rollgate::prometheus`, one shared coalescing client), and judged
//! by a pure function
//! ([`judge`](mod@judge)) into a [`Verdict`](crate::api::Verdict). Judging is kept apart from
//! asking so the rules that decide rollbacks are plain table tests, and an unreachable
//! Prometheus can never read as a pass.
pub mod alert;
pub mod canary_analysis;
pub mod judge;
pub mod kayenta;
mod kind;
mod lexer;
pub mod mann_whitney;
pub mod msprt;
pub mod sequential;
pub mod simulation;
pub mod template;
mod window;

pub use judge::{
    CountMeasurements, Judgement, MaxIncrease, Measurement, RangeMeasurement, Series,
    apply_inconclusive_policy, apply_no_data_policy, judge, judge_counts, judge_series, number,
    preflight,
};
pub use kind::{
    DEFAULT_ALPHA, DEFAULT_MIN_POINTS, Kayenta, KayentaMetric, Kind, KindError, Msprt, Sequential,
    counted,
};
pub use template::{
    Place, Placeholder, TemplateError, TemplateVars, check, check_selector, placeholders, render,
};
pub use window::longest_range;

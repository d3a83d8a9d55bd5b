//! The planner's view of a Rollout spec: durations parsed, defaults applied, and the checks the
//! API server cannot express. An error names the field, so the `Invalid` condition can too.

use std::time::Duration;

use crate::api::{Approval, Gate, NoDataPolicy, RolloutSpec, names};
use crate::duration;
use crate::gates::Kind;
use crate::gates::judge::{not_finite, shown};

pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
pub const DEFAULT_FAILURE_LIMIT: u32 = 2;
pub const DEFAULT_ERROR_LIMIT: u32 = 10;
pub const DEFAULT_PROGRESS_DEADLINE: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_VERIFY_AFTER_ROLLBACK: Duration = Duration::from_secs(2 * 60);
/// A gate cannot be asked more often than this: it protects Prometheus from a typo like `1ms`.
pub const MIN_INTERVAL: Duration = Duration::from_millis(500);
/// The window assumed for a query without a range selector.
const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
/// The longest no data is ever inconclusive.
const MAX_DATA_GRACE: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub replicas: i32,
    /// How stage weights reach requests.
    pub router: crate::traffic::Router,
    pub stages: Vec<StageSpec>,
    pub gates: Vec<GateSpec>,
    pub progress_deadline: Duration,
    pub verify_after_rollback: Duration,
    pub paused: bool,
}

impl Spec {
    /// The gates that judge stage `index` of a canary. A comparison (compare, sequential,
    /// mSPRT, Kayenta) measures the canary against stable serving its share of the same
    /// requests; a stage that sends every request to the canary leaves stable serving none,
    /// its series go stale, and the comparison would read no data and roll a healthy release
    /// back. Those gates judge the stages before it; a full stage is judged by the absolute
    /// gates and its bake.
    pub fn stage_gates(&self, index: usize) -> impl Iterator<Item = (usize, &GateSpec)> {
        let baseline = self.stages.get(index).is_none_or(|s| s.weight < 100);
        self.gates
            .iter()
            .enumerate()
            .filter(move |(_, g)| baseline || !g.is_comparison())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StageSpec {
    pub weight: i32,
    /// Only requests with this header reach the canary (weight 0).
    pub header: Option<crate::api::HeaderMatch>,
    pub bake: Duration,
    pub manual: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GateSpec {
    pub def: Gate,
    /// What the gate judges, decided once here.
    pub kind: Kind,
    pub interval: Duration,
    pub failure_limit: u32,
    pub error_limit: u32,
    pub on_no_data: NoDataPolicy,
    /// How long no data is inconclusive (held, not failed) after Prometheus comes back or a
    /// rollback starts: the query's longest range must fill with samples again first.
    pub data_grace: Duration,
}

impl GateSpec {
    pub fn name(&self) -> &str {
        &self.def.name
    }
    pub fn is_comparison(&self) -> bool {
        self.kind.needs_baseline()
    }
    /// Recorded and shown, never acting.
    pub fn dry_run(&self) -> bool {
        self.def.dry_run
    }
    /// What a verdict means for the stage under the gate's policies (`onNoData`, and
    /// `onInconclusive` for a statistical judge).
    pub fn decided(&self, verdict: crate::api::Verdict) -> crate::api::Verdict {
        crate::gates::apply_inconclusive_policy(
            crate::gates::apply_no_data_policy(verdict, self.on_no_data),
            self.kind.on_inconclusive(),
        )
    }
}

/// A spec the API server accepted but rollgate cannot run, with the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SpecError {
    pub field: String,
    pub message: String,
}

impl SpecError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<duration::DurationError> for SpecError {
    fn from(e: duration::DurationError) -> Self {
        SpecError::new(
            e.field,
            format!("{:?} is not a duration like 30s, 5m or 1h30m", e.value),
        )
    }
}

/// The longest target name whose tracks, `<name>-stable` and `<name>-canary`, are valid names.
pub const MAX_TARGET_NAME: usize = 253 - "-canary".len();

/// A Deployment's name, which also names the tracks rollgate makes of it.
fn target_name(name: &str) -> Result<(), String> {
    names::dns_subdomain(name)?;
    if name.len() > MAX_TARGET_NAME {
        return Err(format!(
            "must be at most {MAX_TARGET_NAME} characters long, so that its tracks {name}-stable and {name}-canary are valid names too"
        ));
    }
    Ok(())
}

/// An IncidentChannel: `name` in the Rollout's namespace, or `namespace/name`.
fn channel_name(channel: &str) -> Result<(), String> {
    let (namespace, name) = match channel.split_once('/') {
        Some((namespace, name)) => (Some(namespace), name),
        None => (None, channel),
    };
    namespace
        .map_or(Ok(()), names::dns_label)
        .and_then(|()| names::dns_subdomain(name))
        .map_err(|e| format!("must be an IncidentChannel's name or namespace/name: {e}"))
}

/// Checks what the schema cannot and applies defaults. `check_query` validates a gate's query
/// template (supplied by the gates module, so this stays free of PromQL details).
pub fn validate(
    spec: &RolloutSpec,
    check_query: impl Fn(&str) -> Result<(), String>,
) -> Result<Spec, SpecError> {
    if spec.replicas < 1 {
        return Err(SpecError::new("spec.replicas", "must be at least 1"));
    }
    target_name(&spec.target_ref.name).map_err(|m| SpecError::new("spec.targetRef.name", m))?;
    let channels = spec.incident.iter().flat_map(|i| &i.channels);
    for (i, channel) in channels.enumerate() {
        channel_name(channel)
            .map_err(|m| SpecError::new(format!("spec.incident.channels[{i}]"), m))?;
    }
    if spec.stages.is_empty() {
        return Err(SpecError::new(
            "spec.stages",
            "at least one stage is required",
        ));
    }
    let mut stages = Vec::with_capacity(spec.stages.len());
    let mut last = 0;
    for (i, s) in spec.stages.iter().enumerate() {
        let field = format!("spec.stages[{i}].weight");
        match (&s.header, s.weight) {
            (Some(_), 0) => {}
            (Some(_), _) => {
                return Err(SpecError::new(
                    field,
                    "a header stage has weight 0: only requests with the header reach the canary",
                ));
            }
            (None, 1..=100) => {}
            (None, _) => return Err(SpecError::new(field, "must be between 1 and 100")),
        }
        if s.weight < last {
            return Err(SpecError::new(field, "stage weights must not decrease"));
        }
        last = s.weight;
        let bake = duration::parse_or(
            &format!("spec.stages[{i}].bake"),
            s.bake.as_deref(),
            Duration::ZERO,
        )?;
        stages.push(StageSpec {
            weight: s.weight,
            header: s.header.clone(),
            bake,
            manual: s.approval == Some(Approval::Manual),
        });
    }
    if last != 100 {
        return Err(SpecError::new(
            format!("spec.stages[{}].weight", spec.stages.len() - 1),
            "the last stage must have weight 100 (promotion)",
        ));
    }
    let mut gates = Vec::with_capacity(spec.gates.len());
    for (i, g) in spec.gates.iter().enumerate() {
        if spec.gates[..i].iter().any(|h| h.name == g.name) {
            return Err(SpecError::new(
                format!("spec.gates[{i}].name"),
                format!("duplicate gate name {:?}", g.name),
            ));
        }
        for (field, bound) in [("min", g.min), ("max", g.max)] {
            if let Some(v) = bound.filter(|v| !v.is_finite()) {
                return Err(SpecError::new(
                    format!("spec.gates[{i}].{field}"),
                    not_finite(&shown(v)),
                ));
            }
        }
        let kind = Kind::of(g).map_err(|e| {
            let field = match e.field.as_str() {
                "" => format!("spec.gates[{i}]"),
                f => format!("spec.gates[{i}].{f}"),
            };
            SpecError::new(field, e.message)
        })?;
        if let Kind::Sequential(s) = &kind {
            for (field, selector) in [("errors", &s.errors), ("requests", &s.requests)] {
                crate::gates::check_selector(selector).map_err(|e| {
                    SpecError::new(format!("spec.gates[{i}].sequential.{field}"), e.to_string())
                })?;
            }
        }
        for (field, query) in kind.queries(g) {
            check_query(&query)
                .map_err(|m| SpecError::new(format!("spec.gates[{i}].{field}"), m))?;
        }
        let interval_field = format!("spec.gates[{i}].interval");
        let interval =
            duration::parse_or(&interval_field, g.interval.as_deref(), DEFAULT_INTERVAL)?;
        if interval < MIN_INTERVAL {
            return Err(SpecError::new(interval_field, "must be at least 500ms"));
        }
        if let Kind::Kayenta(k) = &kind {
            enough_points(&stages, i, interval, k.min_points)?;
        }
        let limit = |v: Option<i32>, field: &str, default: u32| -> Result<u32, SpecError> {
            match v {
                None => Ok(default),
                Some(n) if n >= 1 => Ok(n as u32),
                Some(_) => Err(SpecError::new(
                    format!("spec.gates[{i}].{field}"),
                    "must be at least 1",
                )),
            }
        };
        gates.push(GateSpec {
            def: g.clone(),
            kind,
            interval,
            failure_limit: limit(g.failure_limit, "failureLimit", DEFAULT_FAILURE_LIMIT)?,
            error_limit: limit(g.error_limit, "errorLimit", DEFAULT_ERROR_LIMIT)?,
            on_no_data: g.on_no_data.unwrap_or_default(),
            // The window fills again, plus two evaluations to see it filled.
            data_grace: (crate::gates::longest_range(&g.query).unwrap_or(DEFAULT_WINDOW)
                + 2 * interval)
                .min(MAX_DATA_GRACE),
        });
    }
    Ok(Spec {
        router: crate::traffic::Router::of(spec)?,
        replicas: spec.replicas,
        stages,
        gates,
        progress_deadline: duration::parse_or(
            "spec.progressDeadline",
            spec.progress_deadline.as_deref(),
            DEFAULT_PROGRESS_DEADLINE,
        )?,
        verify_after_rollback: duration::parse_or(
            "spec.verifyAfterRollback",
            spec.verify_after_rollback.as_deref(),
            DEFAULT_VERIFY_AFTER_ROLLBACK,
        )?,
        paused: spec.paused,
    })
}

/// A Kayenta gate judges each stage with a baseline on the points its bake gathers, one per interval: a bake
/// too short for `min_points` could never reach a verdict the test can stand behind, so the
/// spec says so before any release rather than at the end of a bake.
fn enough_points(
    stages: &[StageSpec],
    gate: usize,
    interval: Duration,
    min_points: usize,
) -> Result<(), SpecError> {
    // A full stage has no baseline and no comparison judges it (`Spec::stage_gates`).
    for (i, stage) in stages.iter().enumerate().filter(|(_, s)| s.weight < 100) {
        let points = (stage.bake.as_millis() / interval.as_millis().max(1)) as usize;
        if points < min_points {
            return Err(SpecError::new(
                format!("spec.stages[{i}].bake"),
                format!(
                    "a bake of {} gathers {points} points at the interval {} of the kayenta gate spec.gates[{gate}], which needs {min_points} (spec.gates[{gate}].kayenta.minPoints): bake at least {}",
                    humantime::format_duration(stage.bake),
                    humantime::format_duration(interval),
                    humantime::format_duration(interval * min_points as u32),
                ),
            ));
        }
    }
    Ok(())
}

//! Turning the planner's wanted evaluations into readings: render, query, judge.

use futures::future::join_all;
use jiff::Timestamp;
use kube::ResourceExt;

use super::Context;
use crate::api::{Rollout, Verdict};
use crate::gates::canary_analysis::{self, Measured, Window};
use crate::gates::{
    CountMeasurements, Judgement, Kind, Measurement, RangeMeasurement, TemplateVars, counted,
    judge, judge_counts, judge_series, preflight, render,
};
use crate::plan::{Due, Purpose, Reading, Spec};
use crate::prometheus::{Endpoint, QueryError};

/// Who the query is about: names and revisions for the template.
pub struct Subject<'a> {
    pub rollout: &'a Rollout,
    pub stable_revision: &'a str,
    pub canary_revision: &'a str,
}

/// The Prometheus endpoint of a Rollout, with credentials from its Secret. The error is a
/// message naming the field, for the readings (never containing the credentials).
pub async fn endpoint(ctx: &Context, rollout: &Rollout) -> Result<Endpoint, String> {
    let prom = rollout.spec.prometheus.as_ref();
    let address = prom
        .and_then(|p| p.address.clone())
        .or_else(|| ctx.settings.prometheus_url.clone())
        .ok_or("spec.prometheus.address: no address, and the controller has no --prometheus-url default")?;
    let mut endpoint = Endpoint {
        address,
        bearer_token: None,
        ca_pem: None,
    };
    if let Some(secret) = prom.and_then(|p| p.secret_ref.as_ref()) {
        let ns = rollout.namespace().unwrap_or_default();
        let cannot = |why: String| {
            format!(
                "spec.prometheus.secretRef: cannot read Secret {:?}: {why}",
                secret.name
            )
        };
        let s = super::secrets::read(ctx, &ns, &secret.name)
            .await
            .map_err(|e| cannot(reason(&e)))?
            .ok_or_else(|| cannot("NotFound".into()))?;
        endpoint.bearer_token = s
            .data
            .get("token")
            .map(|t| String::from_utf8_lossy(t).trim().to_string())
            .filter(|t| !t.is_empty());
        endpoint.ca_pem = s.data.get("ca.crt").cloned();
    }
    Ok(endpoint)
}

/// Only the status reason of an API error: its message may quote object content.
fn reason(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.reason.clone(),
        _ => "request failed".into(),
    }
}

/// Evaluates every wanted gate at one instant, concurrently; the pool coalesces equal queries.
pub async fn readings(
    ctx: &Context,
    spec: &Spec,
    subject: &Subject<'_>,
    wants: &[Due],
    endpoint: &Result<Endpoint, String>,
    now: Timestamp,
) -> Vec<Reading> {
    // Whole seconds, so every gate (and every Rollout) asking now asks the same instant.
    let at = Timestamp::from_second(now.as_second()).unwrap_or(now);
    join_all(
        wants
            .iter()
            .map(|due| reading(ctx, spec, subject, due, endpoint, at)),
    )
    .await
}

async fn reading(
    ctx: &Context,
    spec: &Spec,
    subject: &Subject<'_>,
    due: &Due,
    endpoint: &Result<Endpoint, String>,
    at: Timestamp,
) -> Reading {
    let gate = &spec.gates[due.gate];
    let ns = subject.rollout.namespace().unwrap_or_default();
    let name = subject.rollout.name_any();
    let measuring_canary = due.purpose == Purpose::Stage;
    let vars = |template: &str, track: &'static str, revision: &str| -> String {
        let v = TemplateVars {
            namespace: &ns,
            rollout: &name,
            target: &subject.rollout.spec.target_ref.name,
            track,
            revision,
            stable_revision: subject.stable_revision,
            canary_revision: subject.canary_revision,
        };
        // The template was checked when the spec was validated; render only fails on a bug.
        render(template, &v).unwrap_or_else(|e| format!("<template error: {e}>"))
    };
    let own = |template: &str| {
        if measuring_canary {
            vars(template, "canary", &due.revision)
        } else {
            vars(template, "stable", &due.revision)
        }
    };
    let measure = |q: String| async move {
        match endpoint {
            Ok(ep) => ctx.prometheus.query(ep, &q, at).await,
            Err(msg) => Err(QueryError::BadEndpoint {
                message: msg.clone(),
            }),
        }
    };
    // Range queries run from when the stage's pods were ready to now, a point per interval.
    let ranged = |q: String| async move {
        let Some(start) = stage_ready(subject.rollout) else {
            return Ok(Vec::new());
        };
        match endpoint {
            Ok(ep) => {
                ctx.prometheus
                    .query_range(ep, &q, start.min(at), at, gate.interval)
                    .await
            }
            Err(msg) => Err(QueryError::BadEndpoint {
                message: msg.clone(),
            }),
        }
    };
    let (query, measured, judgement) = match &gate.kind {
        Kind::Msprt(m) if measuring_canary => {
            let canary_query = vars(&gate.def.query, "canary", &due.revision);
            let stable_query = vars(&gate.def.query, "stable", subject.stable_revision);
            let (c, s) = futures::join!(ranged(canary_query.clone()), ranged(stable_query));
            let j = judge_series(
                gate.name(),
                m,
                &as_range(&c),
                &as_range(&s),
                stage_age(subject.rollout, at),
            );
            (canary_query, vec![status_of(&c), status_of(&s)], j)
        }
        Kind::Kayenta(k) if measuring_canary => {
            let asked = k.metrics.iter().map(|metric| {
                let canary = vars(&metric.query, "canary", &due.revision);
                let stable = vars(&metric.query, "stable", subject.stable_revision);
                async { futures::join!(ranged(canary), ranged(stable)) }
            });
            let answers = join_all(asked).await;
            let measured: Vec<Measured> = answers
                .iter()
                .map(|(c, s)| Measured {
                    canary: as_range(c),
                    stable: as_range(s),
                })
                .collect();
            let window = Window {
                age: stage_age(subject.rollout, at).map(std::time::Duration::from_secs),
                bake: stage_bake(spec, subject.rollout),
                interval: gate.interval,
            };
            let j = canary_analysis::judge(k, &measured, &window);
            let shown = k
                .metrics
                .first()
                .map(|m| vars(&m.query, "canary", &due.revision))
                .unwrap_or_default();
            let statuses = answers
                .iter()
                .flat_map(|(c, s)| [status_of(c), status_of(s)])
                .collect();
            (shown, statuses, j)
        }
        Kind::Msprt(_) => {
            // Preflight (and never verification: it needs a canary): stable answers the query.
            let q = own(&gate.def.query);
            let m = measure(q.clone()).await;
            let j = preflight(&as_measurement(&m));
            (q, vec![m], j)
        }
        Kind::Kayenta(k) => {
            let queries: Vec<String> = k.metrics.iter().map(|m| own(&m.query)).collect();
            let answers = join_all(queries.iter().map(|q| measure(q.clone()))).await;
            let measurements: Vec<Measurement> = answers.iter().map(as_measurement).collect();
            let j = canary_analysis::preflight(k, &measurements);
            (queries.first().cloned().unwrap_or_default(), answers, j)
        }
        Kind::Sequential(seq) if measuring_canary => {
            let window = stage_age(subject.rollout, at);
            // Counted over the stage so far; at least two scrapes' worth for `increase()`.
            let range = format!("{}s", window.unwrap_or(0).max(2));
            let canary = |sel: &str| counted(&vars(sel, "canary", &due.revision), &range);
            let stable = |sel: &str| counted(&vars(sel, "stable", subject.stable_revision), &range);
            let (ce, cr, se, sr) = futures::join!(
                measure(canary(&seq.errors)),
                measure(canary(&seq.requests)),
                measure(stable(&seq.errors)),
                measure(stable(&seq.requests)),
            );
            let m = CountMeasurements {
                canary_errors: as_measurement(&ce),
                canary_requests: as_measurement(&cr),
                stable_errors: as_measurement(&se),
                stable_requests: as_measurement(&sr),
                window,
            };
            let j = judge_counts(seq, &m);
            // What status shows (and an incident links to): the canary's error ratio over
            // the stage, to the minute, so it changes once a minute rather than every look.
            let minutes = format!("{}m", window.unwrap_or(0).div_ceil(60).max(1));
            let shown = format!(
                "{} / {}",
                counted(&vars(&seq.errors, "canary", &due.revision), &minutes),
                counted(&vars(&seq.requests, "canary", &due.revision), &minutes)
            );
            (shown, vec![ce, cr, se, sr], j)
        }
        Kind::Sequential(seq) => {
            // Preflight (and never verification: it needs a canary): stable counts requests.
            let q = counted(&own(&seq.requests), "5m");
            let m = measure(q.clone()).await;
            let j = preflight(&as_measurement(&m));
            (q, vec![m], j)
        }
        Kind::Alert { query } => {
            let q = own(query);
            let m = measure(q.clone()).await;
            let j = match due.purpose {
                // No firing alert is the healthy answer; preflight only asks that it runs.
                Purpose::Preflight => match preflight(&as_measurement(&m)) {
                    j if j.verdict == Verdict::NoData => Judgement {
                        verdict: Verdict::Pass,
                        ..j
                    },
                    j => j,
                },
                _ => judge(&gate.def, &as_measurement(&m), None),
            };
            (q, vec![m], j)
        }
        Kind::Threshold { .. } | Kind::Compare { .. } => {
            let q = own(&gate.def.query);
            let (main, stable) = if measuring_canary && gate.is_comparison() {
                let stable_query = vars(&gate.def.query, "stable", subject.stable_revision);
                let (a, b) = futures::join!(measure(q.clone()), measure(stable_query));
                (a, Some(b))
            } else {
                (measure(q.clone()).await, None)
            };
            let j = if due.purpose == Purpose::Preflight {
                preflight(&as_measurement(&main))
            } else {
                let stable_m = stable.as_ref().map(as_measurement);
                judge(&gate.def, &as_measurement(&main), stable_m.as_ref())
            };
            (q, [Some(main), stable].into_iter().flatten().collect(), j)
        }
    };
    let bad_query = measured.iter().any(|m| {
        matches!(
            m,
            Err(QueryError::BadQuery { .. } | QueryError::BadResult { .. })
        )
    });
    Reading {
        gate: gate.name().to_string(),
        purpose: due.purpose,
        revision: due.revision.clone(),
        verdict: judgement.verdict,
        value: judgement.value,
        stable_value: judgement.stable_value,
        threshold: judgement.threshold,
        query,
        message: judgement.message,
        evidence: judgement.evidence,
        bad_query,
    }
}

fn as_measurement(m: &Result<Vec<f64>, QueryError>) -> Measurement {
    m.clone().map_err(|e| e.to_string())
}

fn as_range(m: &Result<crate::prometheus::Matrix, QueryError>) -> RangeMeasurement {
    m.clone().map_err(|e| e.to_string())
}

/// A range answer as far as telling a bad query goes: its error, if any.
fn status_of(m: &Result<crate::prometheus::Matrix, QueryError>) -> Result<Vec<f64>, QueryError> {
    m.as_ref().map(|_| Vec::new()).map_err(Clone::clone)
}

/// When the current stage's canary pods were ready, if they are.
fn stage_ready(rollout: &Rollout) -> Option<Timestamp> {
    rollout.status.as_ref()?.stage.as_ref()?.ready_at
}

/// The current stage's bake, as validated.
fn stage_bake(spec: &Spec, rollout: &Rollout) -> std::time::Duration {
    let index = rollout
        .status
        .as_ref()
        .and_then(|s| s.stage.as_ref())
        .map_or(0, |s| s.index.max(0) as usize);
    spec.stages.get(index).map(|s| s.bake).unwrap_or_default()
}

/// Whole seconds since the current stage's canary pods were ready, if they are.
fn stage_age(rollout: &Rollout, at: Timestamp) -> Option<u64> {
    let ready = stage_ready(rollout)?;
    Some(at.duration_since(ready).as_secs().max(0) as u64)
}

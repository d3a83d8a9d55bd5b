//! Turning the planner's wanted evaluations into readings: render, query, judge.

use futures::future::join_all;
use jiff::Timestamp;
use kube::ResourceExt;

use super::Context;
use crate::api::{Rollout, Verdict};
use crate::gates::{
    CountMeasurements, Judgement, Kind, Measurement, TemplateVars, counted, judge, judge_counts,
    preflight, render,
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
    let (query, measured, judgement) = match &gate.kind {
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

/// Whole seconds since the current stage's canary pods were ready, if they are.
fn stage_age(rollout: &Rollout, at: Timestamp) -> Option<u64> {
    let ready = rollout.status.as_ref()?.stage.as_ref()?.ready_at?;
    Some(at.duration_since(ready).as_secs().max(0) as u64)
}

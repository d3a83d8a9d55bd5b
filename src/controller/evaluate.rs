//! Turning the planner's wanted evaluations into readings: render, query, judge.

use futures::future::join_all;
use jiff::Timestamp;
use kube::ResourceExt;

use super::Context;
use crate::api::{Rollout, Verdict};
use crate::gates::{Measurement, TemplateVars, judge, preflight, render};
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
    let vars = |track: &'static str, revision: &str| -> String {
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
        render(&gate.def.query, &v).unwrap_or_else(|e| format!("<template error: {e}>"))
    };
    let measuring_canary = due.purpose == Purpose::Stage;
    let query = if measuring_canary {
        vars("canary", &due.revision)
    } else {
        vars("stable", &due.revision)
    };
    let measure = |q: String| async move {
        match endpoint {
            Ok(ep) => ctx.prometheus.query(ep, &q, at).await,
            Err(msg) => Err(QueryError::BadEndpoint {
                message: msg.clone(),
            }),
        }
    };
    let (main, stable) = if measuring_canary && gate.is_comparison() {
        let stable_query = vars("stable", subject.stable_revision);
        let (a, b) = futures::join!(measure(query.clone()), measure(stable_query));
        (a, Some(b))
    } else {
        (measure(query.clone()).await, None)
    };
    let bad_query = [Some(&main), stable.as_ref()]
        .into_iter()
        .flatten()
        .any(|m| {
            matches!(
                m,
                Err(QueryError::BadQuery { .. } | QueryError::BadResult { .. })
            )
        });
    let as_measurement =
        |m: &Result<Vec<f64>, QueryError>| -> Measurement { m.clone().map_err(|e| e.to_string()) };
    let canary_m = as_measurement(&main);
    let stable_m = stable.as_ref().map(as_measurement);
    let mut reading = Reading {
        gate: gate.name().to_string(),
        purpose: due.purpose,
        revision: due.revision.clone(),
        verdict: Verdict::Error,
        value: None,
        stable_value: None,
        threshold: None,
        query,
        message: String::new(),
        bad_query,
    };
    let j = if due.purpose == Purpose::Preflight {
        preflight(&canary_m)
    } else {
        judge(&gate.def, &canary_m, stable_m.as_ref())
    };
    reading.verdict = j.verdict;
    reading.value = j.value;
    reading.stable_value = j.stable_value;
    reading.threshold = j.threshold;
    reading.message = j.message;
    reading
}

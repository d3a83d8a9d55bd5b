//! Sending a built incident request over HTTP, once. What the answer means is judged by the
//! pure [`classify`] in the core; this is only the wire.

use std::time::Duration;

use crate::incident::channels::{
    BODY_MAX, ERROR_MAX, Outcome, Outgoing, classify, scrub, truncate,
};

/// Sends `out` once. Timeouts and connection failures are [`Outcome::Retry`]; a request that
/// cannot even be formed is [`Outcome::Permanent`]. Errors never include the URL.
pub async fn send(client: &reqwest::Client, out: &Outgoing, timeout: Duration) -> Outcome {
    let Ok(method) = reqwest::Method::from_bytes(out.method.as_bytes()) else {
        return Outcome::Permanent {
            error: format!("invalid method {}", out.method),
        };
    };
    let mut request = client
        .request(method, &out.url)
        .timeout(timeout)
        .body(out.body.clone());
    for (name, value) in &out.headers {
        request = request.header(name, value);
    }
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(e) => return failed(e, timeout),
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = Vec::new();
    // A body cut short still classifies by status; only the id or message may be lost.
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= BODY_MAX {
            body.truncate(BODY_MAX);
            break;
        }
    }
    classify(status, retry_after.as_deref(), &body)
}

fn failed(e: reqwest::Error, timeout: Duration) -> Outcome {
    if e.is_builder() {
        return Outcome::Permanent {
            error: format!("cannot form the request: {}", chain(e)),
        };
    }
    let error = if e.is_timeout() {
        format!("no answer within {timeout:?}")
    } else if e.is_connect() {
        format!("cannot connect: {}", chain(e))
    } else {
        format!("request failed: {}", chain(e))
    };
    Outcome::Retry { after: None, error }
}

/// An error and its causes on one line, without the URL (it may be a credential).
fn chain(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        parts.push(s.to_string());
        source = s.source();
    }
    truncate(&scrub(&parts.join(": ")), ERROR_MAX)
}

#[cfg(test)]
mod tests;

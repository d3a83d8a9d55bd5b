//! Asking the platform's Prometheus, outside the measured windows of the scale runs (the bench's
//! own queries would be counted with the controller's).

use std::time::Duration;

use crate::cluster::poll;
use crate::error::{Error, Result};

/// The first value of an instant query, `None` for an empty result.
pub async fn query(url: &str, promql: &str) -> Result<Option<f64>> {
    let what = || format!("querying Prometheus for {promql}");
    let body: serde_json::Value = reqwest::Client::new()
        .get(format!("{url}/api/v1/query"))
        .query(&[("query", promql)])
        .send()
        .await
        .map_err(|e| Error::http(what(), e))?
        .json()
        .await
        .map_err(|e| Error::http(what(), e))?;
    Ok(body["data"]["result"]
        .get(0)
        .and_then(|r| r["value"][1].as_str())
        .and_then(|v| v.parse().ok()))
}

/// Waits until the query's first value satisfies `ok`.
pub async fn wait_for_value(
    url: &str,
    promql: &str,
    ok: impl Fn(f64) -> bool,
    timeout: Duration,
) -> Result<()> {
    poll(
        &format!("Prometheus: {promql}"),
        timeout,
        Duration::from_millis(250),
        || async { query(url, promql).await.ok().flatten().filter(|v| ok(*v)) },
    )
    .await
    .map(drop)
}

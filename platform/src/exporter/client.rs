//! A client for the exporter's control API, for tests.

use crate::PlatformError;
use crate::exporter::{Gauge, Series};

/// Sets and clears the traffic the test exporter reports.
#[derive(Clone, Debug)]
pub struct ExporterClient {
    url: String,
    http: reqwest::Client,
}

impl ExporterClient {
    /// A client for the exporter at `url` (`http://127.0.0.1:<port>`).
    pub fn new(url: &str) -> ExporterClient {
        ExporterClient {
            url: url.trim_end_matches('/').to_string(),
            http: crate::readiness::http_client(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Creates the series or changes its traffic from now on.
    pub async fn set(&self, series: &Series) -> Result<(), PlatformError> {
        let response = self
            .http
            .put(format!("{}/series", self.url))
            .json(series)
            .send()
            .await
            .map_err(|e| PlatformError::http("PUT /series", e))?;
        expect_success(response, "PUT /series").await.map(drop)
    }

    /// The series currently reported.
    pub async fn list(&self) -> Result<Vec<Series>, PlatformError> {
        let response = self
            .http
            .get(format!("{}/series", self.url))
            .send()
            .await
            .map_err(|e| PlatformError::http("GET /series", e))?;
        let body = expect_success(response, "GET /series").await?;
        serde_json::from_str(&body).map_err(|e| PlatformError::invalid("GET /series", e))
    }

    /// Creates the gauge or changes its value. Prometheus sees it within about 2 s, the
    /// external metrics API (`external.metrics.k8s.io`, for HPAs) a second or two later.
    pub async fn set_gauge(&self, gauge: &Gauge) -> Result<(), PlatformError> {
        let response = self
            .http
            .put(format!("{}/gauges", self.url))
            .json(gauge)
            .send()
            .await
            .map_err(|e| PlatformError::http("PUT /gauges", e))?;
        expect_success(response, "PUT /gauges").await.map(drop)
    }

    /// The gauges currently reported.
    pub async fn gauges(&self) -> Result<Vec<Gauge>, PlatformError> {
        let response = self
            .http
            .get(format!("{}/gauges", self.url))
            .send()
            .await
            .map_err(|e| PlatformError::http("GET /gauges", e))?;
        let body = expect_success(response, "GET /gauges").await?;
        serde_json::from_str(&body).map_err(|e| PlatformError::invalid("GET /gauges", e))
    }

    /// Stops reporting every series and gauge of `namespace`.
    pub async fn clear_namespace(&self, namespace: &str) -> Result<(), PlatformError> {
        self.clear("series", Some(namespace)).await?;
        self.clear("gauges", Some(namespace)).await
    }

    /// Stops reporting every series and gauge.
    pub async fn clear_all(&self) -> Result<(), PlatformError> {
        self.clear("series", None).await?;
        self.clear("gauges", None).await
    }

    async fn clear(&self, what: &str, namespace: Option<&str>) -> Result<(), PlatformError> {
        let mut request = self.http.delete(format!("{}/{what}", self.url));
        if let Some(namespace) = namespace {
            request = request.query(&[("namespace", namespace)]);
        }
        let response = request
            .send()
            .await
            .map_err(|e| PlatformError::http(format!("DELETE /{what}"), e))?;
        expect_success(response, &format!("DELETE /{what}"))
            .await
            .map(drop)
    }
}

async fn expect_success(response: reqwest::Response, what: &str) -> Result<String, PlatformError> {
    let status = response.status();
    let body = response
        .text()
        .await
        .map_err(|e| PlatformError::http(what, e))?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(PlatformError::invalid(what, format!("{status}: {body}")))
    }
}

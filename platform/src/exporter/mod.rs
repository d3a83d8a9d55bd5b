//! The test exporter: an HTTP server inside the harness process that serves
//! `http_requests_total{namespace, rollout, rollgate_track, revision, code}`
//! and `http_request_duration_seconds{namespace, rollout, rollgate_track,
//! revision}` for Prometheus to scrape, with values a test steers through a
//! small JSON API (see [`ExporterClient`]); and, on `/gauges/metrics` (its own
//! scrape job), [`Gauge`]s a test sets, which the platform's external metrics
//! API serves to HPAs.
//!
//! It runs on its own thread and runtime, so it keeps answering scrapes
//! whatever the caller's runtime is doing (or after it has shut down).

mod client;
mod gauges;
mod series;

use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::Router;
use axum::extract::{Json, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use serde::Deserialize;

pub use client::ExporterClient;
pub use gauges::Gauge;
use gauges::Gauges;
use series::Traffic;
pub use series::{LATENCY_BUCKETS, Series, SeriesLabels};

use crate::PlatformError;

/// The traffic model plus the instant it was last advanced to.
#[derive(Debug)]
struct Clocked {
    traffic: Traffic,
    at: Instant,
    gauges: Gauges,
}

#[derive(Debug, Clone)]
struct Shared(Arc<Mutex<Clocked>>);

impl Shared {
    /// Locks the model, first advancing it to now so a rate change applies
    /// from this instant on.
    fn now(&self) -> MutexGuard<'_, Clocked> {
        let mut state = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let elapsed = now.duration_since(state.at).as_secs_f64();
        state.traffic.advance(elapsed);
        state.at = now;
        state
    }
}

/// A running exporter; stops when dropped.
#[derive(Debug)]
pub struct Exporter {
    url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Exporter {
    /// Binds a free loopback port and serves on a dedicated thread.
    pub fn start() -> Result<Exporter, PlatformError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| PlatformError::io("binding the exporter", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| PlatformError::io("configuring the exporter socket", e))?;
        let address = listener
            .local_addr()
            .map_err(|e| PlatformError::io("binding the exporter", e))?;
        let shared = Shared(Arc::new(Mutex::new(Clocked {
            traffic: Traffic::default(),
            at: Instant::now(),
            gauges: Gauges::default(),
        })));
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| PlatformError::io("building the exporter runtime", e))?;
        std::thread::Builder::new()
            .name("rollgate-exporter".to_string())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(e) => return eprintln!("rollgate exporter: {e}"),
                    };
                    let served = axum::serve(listener, router(shared))
                        .with_graceful_shutdown(async move {
                            let _ = stopped.await;
                        })
                        .await;
                    if let Err(e) = served {
                        eprintln!("rollgate exporter: {e}");
                    }
                });
            })
            .map_err(|e| PlatformError::io("starting the exporter thread", e))?;
        Ok(Exporter {
            url: format!("http://{address}"),
            shutdown: Some(shutdown),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `127.0.0.1:<port>`, as a Prometheus scrape target.
    pub fn target(&self) -> &str {
        self.url.trim_start_matches("http://")
    }

    /// Where Prometheus scrapes the gauges (on [`Exporter::target`]).
    pub const GAUGES_PATH: &str = "/gauges/metrics";
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route(
            "/series",
            put(set_series).get(list_series).delete(clear_series),
        )
        .route(
            "/gauges",
            put(set_gauge).get(list_gauges).delete(clear_gauges),
        )
        .route(Exporter::GAUGES_PATH, get(gauge_metrics))
        .with_state(shared)
}

async fn metrics(State(shared): State<Shared>) -> Response {
    exposition(Box::new(shared))
}

async fn gauge_metrics(State(shared): State<Shared>) -> Response {
    exposition(Box::new(GaugeFamilies(shared)))
}

fn exposition(collector: Box<dyn Collector>) -> Response {
    let mut registry = Registry::default();
    registry.register_collector(collector);
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn set_series(State(shared): State<Shared>, Json(series): Json<Series>) -> Response {
    if let Some(reason) = series.invalid_because() {
        return (StatusCode::BAD_REQUEST, reason).into_response();
    }
    shared.now().traffic.upsert(series);
    StatusCode::NO_CONTENT.into_response()
}

async fn list_series(State(shared): State<Shared>) -> Json<Vec<Series>> {
    let state = shared.now();
    Json(state.traffic.iter().map(|(s, _)| s.clone()).collect())
}

#[derive(Deserialize)]
struct Selector {
    namespace: Option<String>,
}

async fn clear_series(
    State(shared): State<Shared>,
    Query(selector): Query<Selector>,
) -> Json<serde_json::Value> {
    let removed = shared.now().traffic.remove(selector.namespace.as_deref());
    Json(serde_json::json!({ "removed": removed }))
}

async fn set_gauge(State(shared): State<Shared>, Json(gauge): Json<Gauge>) -> Response {
    if let Some(reason) = gauge.invalid_because() {
        return (StatusCode::BAD_REQUEST, reason).into_response();
    }
    shared.now().gauges.upsert(gauge);
    StatusCode::NO_CONTENT.into_response()
}

async fn list_gauges(State(shared): State<Shared>) -> Json<Vec<Gauge>> {
    Json(shared.now().gauges.iter().cloned().collect())
}

async fn clear_gauges(
    State(shared): State<Shared>,
    Query(selector): Query<Selector>,
) -> Json<serde_json::Value> {
    let removed = shared.now().gauges.remove(selector.namespace.as_deref());
    Json(serde_json::json!({ "removed": removed }))
}

/// The gauges' exposition, apart from the traffic series.
#[derive(Debug)]
struct GaugeFamilies(Shared);

impl Collector for GaugeFamilies {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let state = self.0.now();
        for (name, gauges) in state.gauges.families() {
            let mut family =
                encoder.encode_descriptor(name, "Set by a test.", None, MetricType::Gauge)?;
            for gauge in gauges {
                let labels: Vec<(&str, &str)> = [("namespace", gauge.namespace.as_str())]
                    .into_iter()
                    .chain(gauge.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                    .collect();
                family.encode_family(&labels)?.encode_gauge(&gauge.value)?;
            }
        }
        Ok(())
    }
}

impl Collector for Shared {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let state = self.now();
        let mut requests = encoder.encode_descriptor(
            "http_requests",
            "Requests served, by status code.",
            None,
            MetricType::Counter,
        )?;
        for (series, totals) in state.traffic.iter() {
            for (code, value) in [("200", totals.ok), ("500", totals.errors)] {
                let labels = label_pairs(&series.labels, Some(code));
                requests
                    .encode_family(&labels)?
                    .encode_counter::<NoLabelSet, _, f64>(&value, None)?;
            }
        }
        let mut latency = encoder.encode_descriptor(
            "http_request_duration_seconds",
            "Request latency.",
            None,
            MetricType::Histogram,
        )?;
        for (series, totals) in state.traffic.iter() {
            let (buckets, count) = totals.histogram();
            let labels = label_pairs(&series.labels, None);
            latency
                .encode_family(&labels)?
                .encode_histogram::<NoLabelSet>(totals.latency_sum, count, &buckets, None)?;
        }
        Ok(())
    }
}

fn label_pairs<'a>(labels: &'a SeriesLabels, code: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut pairs = vec![
        ("namespace", labels.namespace.as_str()),
        ("rollout", labels.rollout.as_str()),
        ("rollgate_track", labels.rollgate_track.as_str()),
        ("revision", labels.revision.as_str()),
    ];
    if let Some(code) = code {
        pairs.push(("code", code));
    }
    pairs
}

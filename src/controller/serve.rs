//! `/metrics`, `/healthz` and `/readyz` on one HTTP port (axum).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use super::metrics::Metrics;

/// How to install the CRDs, for people reading a probe or a log.
pub const INSTALL_CRDS: &str =
    "install them with `rollgate crds | kubectl apply -f -` or the Helm chart (charts/rollgate)";

/// Where start-up is, as `/readyz` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Readiness {
    /// Checking that the API server serves the CRDs.
    #[default]
    Starting,
    /// The API server does not serve these CRDs (by name); checked again until it does.
    MissingCrds(Vec<String>),
    /// The CRDs could not be checked (why); checked again.
    Unchecked(String),
    /// The watches run; these caches are not filled yet.
    Syncing(Vec<&'static str>),
    /// Waiting for the leader lease, able to take over.
    Follower,
    /// The watches run and every cache is filled.
    Running,
}

impl Readiness {
    /// The probe's answer: ready only as a follower or with every cache filled, and otherwise
    /// a short line saying what is missing.
    pub fn probe(&self) -> (StatusCode, String) {
        let unavailable = |why: String| (StatusCode::SERVICE_UNAVAILABLE, why);
        match self {
            Self::Starting => unavailable("starting: checking that the CRDs are served".into()),
            Self::MissingCrds(names) => unavailable(format!(
                "CRDs not installed: {}; {INSTALL_CRDS}",
                names.join(", ")
            )),
            Self::Unchecked(why) => unavailable(format!("cannot check the CRDs: {why}")),
            Self::Syncing(caches) => {
                unavailable(format!("filling the caches of {}", caches.join(", ")))
            }
            Self::Follower => (StatusCode::OK, "ready: waiting for the leader lease".into()),
            Self::Running => (StatusCode::OK, "ready".into()),
        }
    }
}

/// What the probes report.
#[derive(Default)]
pub struct Health {
    readiness: Mutex<Readiness>,
}

impl Health {
    pub fn set(&self, readiness: Readiness) {
        *self.readiness.lock().unwrap_or_else(|e| e.into_inner()) = readiness;
    }

    pub fn get(&self) -> Readiness {
        self.readiness
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[derive(Clone)]
struct Shared {
    metrics: Arc<Metrics>,
    health: Arc<Health>,
}

pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(Shared { metrics, health });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn metrics_text(
    State(s): State<Shared>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        s.metrics.encode(),
    )
}

async fn ready(State(s): State<Shared>) -> (StatusCode, String) {
    s.health.get().probe()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_follower_or_a_running_controller_is_ready() {
        let missing = Readiness::MissingCrds(vec![
            "rollouts.rollgate.dev".into(),
            "freezes.rollgate.dev".into(),
        ]);
        let cases = [
            (Readiness::Starting, 503, "starting"),
            (
                missing,
                503,
                "CRDs not installed: rollouts.rollgate.dev, freezes.rollgate.dev; install them \
                 with `rollgate crds | kubectl apply -f -` or the Helm chart",
            ),
            (
                Readiness::Unchecked("HTTP 403".into()),
                503,
                "cannot check the CRDs: HTTP 403",
            ),
            (
                Readiness::Syncing(vec!["rollouts", "incidents"]),
                503,
                "filling the caches of rollouts, incidents",
            ),
            (
                Readiness::Follower,
                200,
                "ready: waiting for the leader lease",
            ),
            (Readiness::Running, 200, "ready"),
        ];
        for (readiness, code, says) in cases {
            let (status, body) = readiness.probe();
            assert_eq!(status.as_u16(), code, "{readiness:?}");
            assert!(body.starts_with(says), "{readiness:?}: {body}");
            assert!(body.len() < 300, "a short body: {body}");
        }
    }
}

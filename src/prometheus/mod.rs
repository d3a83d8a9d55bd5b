//! The one Prometheus client of the controller. A thousand rollouts with the same gates at
//! the same instant ask Prometheus once: concurrent identical queries share one request and
//! its answer is kept for a few seconds, then dropped, so memory follows the live load.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_http_query::{Client, Error as PromError, response::Data};
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use tokio::sync::OnceCell;

/// Where a Prometheus is and how to authenticate, as read from the Rollout and its Secret.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub address: String,
    pub bearer_token: Option<String>,
    /// Trusted instead of the system roots when set.
    pub ca_pem: Option<Vec<u8>>,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("address", &redact(&self.address))
            .field(
                "bearer_token",
                &self.bearer_token.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "ca_pem",
                &self
                    .ca_pem
                    .as_ref()
                    .map(|pem| format!("<{} bytes>", pem.len())),
            )
            .finish()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("cannot reach Prometheus at {address}: {reason}")]
    Unreachable { address: String, reason: String },
    #[error("Prometheus at {address} did not answer within {after:?}")]
    Timeout { address: String, after: Duration },
    #[error("Prometheus refused the credentials (HTTP {status})")]
    Unauthorized { status: u16 },
    #[error("Prometheus rejected the query: {message}")]
    BadQuery { message: String },
    #[error("Prometheus failed: {message}")]
    Server { message: String },
    #[error("{message}; a gate query must return a number (a scalar or an instant vector)")]
    BadResult { message: String },
    #[error("invalid Prometheus endpoint: {message}")]
    BadEndpoint { message: String },
}

impl QueryError {
    pub fn category(&self) -> &'static str {
        match self {
            Self::Unreachable { .. } => "unreachable",
            Self::Timeout { .. } => "timeout",
            Self::Unauthorized { .. } => "unauthorized",
            Self::BadQuery { .. } => "bad_query",
            Self::Server { .. } => "server",
            Self::BadResult { .. } => "bad_result",
            Self::BadEndpoint { .. } => "bad_endpoint",
        }
    }
}

#[derive(Clone, Debug)]
pub struct PoolSettings {
    /// Longest wait for one answer, connection included.
    pub timeout: Duration,
    /// How long an answer is reused for the same query at the same instant.
    pub cache_for: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            cache_for: Duration::from_secs(5),
        }
    }
}

/// What the pool counts, shared with the controller's metrics.
#[derive(Clone, Debug, Default)]
pub struct PoolCounters {
    /// Queries actually sent to Prometheus (after coalescing).
    pub queries: Counter,
    /// Distinct instants (whole seconds) at which gates were evaluated: one round of
    /// evaluations, which coalescing lets share their queries.
    pub rounds: Counter,
}

/// Shared Prometheus clients, one per endpoint and credentials. Cheap to clone.
#[derive(Clone)]
pub struct PrometheusPool {
    inner: Arc<Inner>,
}

struct Inner {
    settings: PoolSettings,
    clients: Mutex<HashMap<Endpoint, Pooled>>,
    flights: Mutex<Flights>,
    next_id: AtomicU64,
    counters: PoolCounters,
}

struct Pooled {
    id: u64,
    client: Client,
    last_used: Instant,
}

/// Credentials are part of the key (through the client id): two tenants behind one proxy
/// never see each other's answers.
#[derive(Clone, PartialEq, Eq, Hash)]
struct FlightKey {
    client: u64,
    query: String,
    /// The instant, or a range's end.
    at: i64,
    /// A range query's start and step (milliseconds); none for an instant query.
    range: Option<(i64, u64)>,
}

/// A range query's answer: per series, (unix second, value) per step.
pub type Matrix = Vec<Vec<(i64, f64)>>;

#[derive(Clone, Debug)]
enum Values {
    Instant(Vec<f64>),
    Range(Matrix),
}

type Answer = Result<Values, QueryError>;

struct Flight {
    started: Instant,
    answer: Arc<OnceCell<(Instant, Answer)>>,
}

struct Flights {
    map: HashMap<FlightKey, Flight>,
    swept: Instant,
    /// Instants asked about lately, to count rounds.
    instants: BTreeSet<i64>,
}

/// Instants older than this (before the newest asked) are forgotten by the round count.
const ROUND_MEMORY_SECONDS: i64 = 120;

/// Clients nobody asked through for this long are dropped (rotated tokens, deleted rollouts).
const CLIENT_IDLE: Duration = Duration::from_secs(600);

impl Default for PrometheusPool {
    fn default() -> Self {
        Self::new(PoolSettings::default())
    }
}

impl PrometheusPool {
    pub fn new(settings: PoolSettings) -> Self {
        Self::counted(settings, PoolCounters::default())
    }

    /// A pool that counts its queries and rounds into `counters`.
    pub fn counted(settings: PoolSettings, counters: PoolCounters) -> Self {
        // One crypto provider for kube and reqwest; whoever installs it first wins.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let inner = Inner {
            settings,
            clients: Mutex::default(),
            flights: Mutex::new(Flights {
                map: HashMap::new(),
                swept: Instant::now(),
                instants: BTreeSet::new(),
            }),
            next_id: AtomicU64::new(0),
            counters,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// HTTP requests actually sent, for benchmarks and metrics.
    pub fn queries_sent(&self) -> u64 {
        self.inner.counters.queries.get()
    }

    /// An instant query at `at` (to the second): the values of the vector, or the scalar.
    pub async fn query(
        &self,
        endpoint: &Endpoint,
        query: &str,
        at: jiff::Timestamp,
    ) -> Result<Vec<f64>, QueryError> {
        let at = second(at);
        match self.ask(endpoint, query, at, None).await? {
            Values::Instant(values) => Ok(values),
            // An instant flight is only ever filled with an instant answer.
            Values::Range(_) => Err(QueryError::BadResult {
                message: "a range answer to an instant query".into(),
            }),
        }
    }

    /// A range query from `start` to `end` (to the second) every `step`: each series' samples.
    /// Coalesced and cached like [`query`](Self::query), the range and step part of the key.
    pub async fn query_range(
        &self,
        endpoint: &Endpoint,
        query: &str,
        start: jiff::Timestamp,
        end: jiff::Timestamp,
        step: Duration,
    ) -> Result<Matrix, QueryError> {
        if step.is_zero() {
            return Err(QueryError::BadQuery {
                message: "a range query needs a step above zero".into(),
            });
        }
        let range = Some((second(start), step.as_millis() as u64));
        match self.ask(endpoint, query, second(end), range).await? {
            Values::Range(matrix) => Ok(matrix),
            Values::Instant(_) => Err(QueryError::BadResult {
                message: "an instant answer to a range query".into(),
            }),
        }
    }

    async fn ask(
        &self,
        endpoint: &Endpoint,
        query: &str,
        at: i64,
        range: Option<(i64, u64)>,
    ) -> Answer {
        let (id, client) = self.client(endpoint)?;
        let answer = self.flight(FlightKey {
            client: id,
            query: query.to_owned(),
            at,
            range,
        });
        let (_, result) = answer
            .get_or_init(|| async {
                let result = self
                    .send(&client, &endpoint.address, query, at, range)
                    .await;
                (Instant::now(), result)
            })
            .await;
        result.clone()
    }

    fn client(&self, endpoint: &Endpoint) -> Result<(u64, Client), QueryError> {
        let now = Instant::now();
        let mut clients = self.inner.clients.lock().expect("clients lock");
        if let Some(pooled) = clients.get_mut(endpoint) {
            pooled.last_used = now;
            return Ok((pooled.id, pooled.client.clone()));
        }
        clients.retain(|_, pooled| now.duration_since(pooled.last_used) < CLIENT_IDLE);
        let client = build_client(endpoint, self.inner.settings.timeout)?;
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        clients.insert(
            endpoint.clone(),
            Pooled {
                id,
                client: client.clone(),
                last_used: now,
            },
        );
        Ok((id, client))
    }

    /// The shared answer cell for `key`: in flight, cached, or new.
    fn flight(&self, key: FlightKey) -> Arc<OnceCell<(Instant, Answer)>> {
        let now = Instant::now();
        let settings = &self.inner.settings;
        let stale = |flight: &Flight| match flight.answer.get() {
            Some((done, _)) => now.duration_since(*done) >= settings.cache_for,
            // Everyone waiting gave up: nobody will fill it.
            None => now.duration_since(flight.started) >= settings.timeout + settings.cache_for,
        };
        let mut flights = self.inner.flights.lock().expect("flights lock");
        if flights.instants.insert(key.at) {
            self.inner.counters.rounds.inc();
            let oldest = flights
                .instants
                .last()
                .map_or(key.at, |newest| newest - ROUND_MEMORY_SECONDS);
            flights.instants.retain(|at| *at >= oldest);
        }
        if now.duration_since(flights.swept) >= settings.cache_for {
            flights.map.retain(|_, flight| !stale(flight));
            flights.swept = now;
        }
        let fresh = || Flight {
            started: now,
            answer: Arc::default(),
        };
        match flights.map.entry(key) {
            Entry::Occupied(mut entry) => {
                if stale(entry.get()) {
                    entry.insert(fresh());
                }
                entry.get().answer.clone()
            }
            Entry::Vacant(entry) => entry.insert(fresh()).answer.clone(),
        }
    }

    async fn send(
        &self,
        client: &Client,
        address: &str,
        query: &str,
        at: i64,
        range: Option<(i64, u64)>,
    ) -> Answer {
        self.inner.counters.queries.inc();
        let timeout = self.inner.settings.timeout;
        let timeout_ms = timeout.as_millis() as i64;
        // POST: templated queries can outgrow what proxies accept in a URL.
        let answered = match range {
            None => client.query(query).at(at).timeout(timeout_ms).post().await,
            Some((start, step_ms)) => {
                client
                    .query_range(query, start, at, step_ms as f64 / 1000.0)
                    .timeout(timeout_ms)
                    .post()
                    .await
            }
        };
        let data = match answered {
            Ok(result) => result.into_inner().0,
            Err(e) => return Err(classify(e, address, timeout)),
        };
        match (data, range) {
            (Data::Vector(series), None) => Ok(Values::Instant(
                series.iter().map(|s| s.sample().value()).collect(),
            )),
            (Data::Scalar(sample), None) => Ok(Values::Instant(vec![sample.value()])),
            (Data::Matrix(_), None) => Err(QueryError::BadResult {
                message: "the query returned a range vector".into(),
            }),
            (Data::Matrix(series), Some(_)) => Ok(Values::Range(
                series
                    .iter()
                    .map(|s| {
                        s.samples()
                            .iter()
                            .map(|p| (p.timestamp().round() as i64, p.value()))
                            .collect()
                    })
                    .collect(),
            )),
            (_, Some(_)) => Err(QueryError::BadResult {
                message: "a range query answered with something other than a matrix".into(),
            }),
        }
    }

    #[cfg(test)]
    fn flights_held(&self) -> usize {
        self.inner.flights.lock().unwrap().map.len()
    }
}

/// An instant to the second, so every gate (and every Rollout) asking now asks the same one.
fn second(at: jiff::Timestamp) -> i64 {
    at.round(jiff::Unit::Second).unwrap_or(at).as_second()
}

fn build_client(endpoint: &Endpoint, timeout: Duration) -> Result<Client, QueryError> {
    let bad = |message: String| QueryError::BadEndpoint { message };
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)));
    if let Some(token) = &endpoint.bearer_token {
        // Secrets written by `echo` end in a newline.
        let mut value = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
            .map_err(|_| bad("the bearer token is not a valid HTTP header value".into()))?;
        value.set_sensitive(true);
        builder = builder.default_headers(HeaderMap::from_iter([(AUTHORIZATION, value)]));
    }
    if let Some(pem) = &endpoint.ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| bad(format!("ca.crt: {}", chain(&e))))?;
        if certs.is_empty() {
            return Err(bad("ca.crt holds no PEM certificate".into()));
        }
        builder = builder.tls_certs_only(certs);
    }
    let http = builder
        .build()
        .map_err(|e| bad(format!("cannot build an HTTP client: {}", chain(&e))))?;
    let address = endpoint.address.trim_end_matches('/');
    Client::from(http, address)
        .map_err(|e| bad(format!("{} is not a URL: {}", redact(address), chain(&e))))
}

fn classify(error: PromError, address: &str, timeout: Duration) -> QueryError {
    let address = redact(address);
    match error {
        PromError::Prometheus(e) if e.is_timeout() => QueryError::Timeout {
            address,
            after: timeout,
        },
        PromError::Prometheus(e) if e.is_bad_data() => QueryError::BadQuery {
            message: e.message().to_owned(),
        },
        PromError::Prometheus(e) => QueryError::Server {
            message: e.to_string(),
        },
        PromError::Client(e) => match e.inner() {
            Some(r) if r.is_timeout() => QueryError::Timeout {
                address,
                after: timeout,
            },
            Some(r) if r.is_decode() => QueryError::BadResult {
                message: format!("cannot read the answer: {}", chain(r)),
            },
            Some(r) => match r.status() {
                Some(s) if s == 401 || s == 403 => QueryError::Unauthorized { status: s.as_u16() },
                Some(s) => QueryError::Server {
                    message: format!("HTTP {s} from {address}"),
                },
                None => QueryError::Unreachable {
                    address,
                    reason: chain(r),
                },
            },
            None => QueryError::BadResult {
                message: format!("{address} answered, but not with JSON"),
            },
        },
        other => QueryError::Server {
            message: chain(&other),
        },
    }
}

/// An error and its causes on one line. reqwest errors lose their URL: it may carry a password.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = match error.downcast_ref::<reqwest::Error>() {
        Some(e) if e.url().is_some() => e_without_url(e),
        _ => error.to_string(),
    };
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

fn e_without_url(e: &reqwest::Error) -> String {
    let text = e.to_string();
    match e.url() {
        Some(url) => text
            .replace(&format!(" for url ({url})"), "")
            .replace(url.as_str(), "<url>"),
        None => text,
    }
}

/// The address without user info.
fn redact(address: &str) -> String {
    match reqwest::Url::parse(address) {
        Ok(mut url) if !url.username().is_empty() || url.password().is_some() => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.to_string()
        }
        _ => address.to_owned(),
    }
}

#[cfg(test)]
mod tests;

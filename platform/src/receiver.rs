//! A local HTTP receiver that stands in for any incident destination (PagerDuty, Opsgenie,
//! Slack, Teams, Alertmanager, a webhook): point the destination's URL at [`Receiver::url`],
//! and it records every request and answers from a script the test sets at any time.
//!
//! Like the exporter it serves on its own thread and runtime, so it keeps answering whatever
//! the caller's runtime is doing.

use std::collections::VecDeque;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::PlatformError;
use crate::private_ca::PrivateCa;

mod tls;

/// How the receiver answers one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// This status, empty body.
    Status(u16),
    /// This status (usually 429) with `Retry-After: <seconds>`.
    RetryAfter(u16, u64),
    /// This status with this JSON body (e.g. an id the destination returns).
    Json(u16, serde_json::Value),
    /// Never answers (until the receiver is dropped): for client timeouts.
    Hang,
}

/// The answer once the script is used up.
pub const DEFAULT_STATUS: u16 = 202;

/// One request as received.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent (`/v2/alerts/a%2Fb/close?identifierType=alias`).
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: SystemTime,
}

impl Recorded {
    /// The body as JSON; `Null` if it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_default()
    }

    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Default)]
struct Log {
    script: VecDeque<Reply>,
    requests: Vec<Recorded>,
}

#[derive(Debug, Clone)]
struct Shared {
    log: Arc<Mutex<Log>>,
    stopped: tokio::sync::watch::Receiver<bool>,
}

impl Shared {
    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running receiver on `127.0.0.1`; stops when dropped.
#[derive(Debug)]
pub struct Receiver {
    url: String,
    log: Arc<Mutex<Log>>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Receiver {
    /// Binds a free loopback port and serves plain HTTP on a dedicated thread.
    pub fn start() -> Result<Receiver, PlatformError> {
        Self::serve(None)
    }

    /// Serves HTTPS as `name` with a certificate from a fresh private CA, as a destination
    /// behind a company's own CA would; returns the CA's PEM for the client to trust. The URL
    /// names `name`, which the client must resolve to 127.0.0.1 (e.g. through /etc/hosts).
    pub fn start_https(name: &str) -> Result<(Receiver, String), PlatformError> {
        let ca = PrivateCa::new()?;
        let config = ca.server_config(name)?;
        let mut receiver = Self::serve(Some(Arc::new(config)))?;
        let port = receiver
            .url
            .rsplit(':')
            .next()
            .unwrap_or_default()
            .to_string();
        receiver.url = format!("https://{name}:{port}");
        Ok((receiver, ca.pem()))
    }

    fn serve(tls: Option<Arc<rustls::ServerConfig>>) -> Result<Receiver, PlatformError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| PlatformError::io("binding the receiver", e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| PlatformError::io("configuring the receiver socket", e))?;
        let address = listener
            .local_addr()
            .map_err(|e| PlatformError::io("binding the receiver", e))?;
        let log = Arc::new(Mutex::new(Log::default()));
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let shared = Shared {
            log: log.clone(),
            stopped: stopped.clone(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| PlatformError::io("building the receiver runtime", e))?;
        std::thread::Builder::new()
            .name("rollgate-receiver".to_string())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(e) => return eprintln!("rollgate receiver: {e}"),
                    };
                    let app = Router::new().fallback(receive).with_state(shared);
                    let mut stopped = stopped;
                    let shutdown = async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    };
                    let served = match tls {
                        None => {
                            axum::serve(listener, app)
                                .with_graceful_shutdown(shutdown)
                                .await
                        }
                        Some(config) => {
                            tokio::select! {
                                served = tls::serve(listener, app, config) => served,
                                () = shutdown => Ok(()),
                            }
                        }
                    };
                    if let Err(e) = served {
                        eprintln!("rollgate receiver: {e}");
                    }
                });
            })
            .map_err(|e| PlatformError::io("starting the receiver thread", e))?;
        Ok(Receiver {
            url: format!("http://{address}"),
            log,
            stop,
        })
    }

    /// `http://127.0.0.1:<port>` (or `https://<name>:<port>`), no trailing slash.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Replaces the replies still to come; they are used in order, then every request gets
    /// [`DEFAULT_STATUS`].
    pub fn script(&self, replies: Vec<Reply>) {
        self.log().script = replies.into();
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.log().requests.clone()
    }

    /// Forgets the requests recorded so far (the script stays).
    pub fn clear(&self) {
        self.log().requests.clear();
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // Also releases every hanging request, so the server can shut down.
        let _ = self.stop.send(true);
    }
}

async fn receive(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body: Bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let recorded = Recorded {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned()),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: body.to_vec(),
        at: SystemTime::now(),
    };
    let reply = {
        let mut log = shared.log();
        log.requests.push(recorded);
        log.script.pop_front()
    };
    let status =
        |code: u16| StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match reply.unwrap_or(Reply::Status(DEFAULT_STATUS)) {
        Reply::Status(code) => status(code).into_response(),
        Reply::RetryAfter(code, seconds) => {
            let mut response = status(code).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
        Reply::Json(code, value) => (status(code), axum::Json(value)).into_response(),
        Reply::Hang => {
            let mut stopped = shared.stopped.clone();
            let _ = stopped.wait_for(|s| *s).await;
            StatusCode::SERVICE_UNAVAILABLE.into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn client(timeout: Duration) -> reqwest::Client {
        crate::install_crypto_provider();
        reqwest::Client::builder().timeout(timeout).build().unwrap()
    }

    #[tokio::test]
    async fn replies_follow_the_script_then_default_to_202() {
        let receiver = Receiver::start().unwrap();
        receiver.script(vec![
            Reply::Status(500),
            Reply::RetryAfter(429, 7),
            Reply::Json(202, serde_json::json!({"requestId": "r-1"})),
        ]);
        let client = client(Duration::from_secs(5));
        let mut seen = vec![];
        for _ in 0..4 {
            let response = client.post(receiver.url()).send().await.unwrap();
            let retry_after = response
                .headers()
                .get("retry-after")
                .map(|v| v.to_str().unwrap().to_owned());
            let status = response.status().as_u16();
            let body = response.text().await.unwrap();
            seen.push((status, retry_after, body));
        }
        assert_eq!(
            seen,
            vec![
                (500, None, String::new()),
                (429, Some("7".to_owned()), String::new()),
                (202, None, r#"{"requestId":"r-1"}"#.to_owned()),
                (202, None, String::new()),
            ]
        );
    }

    #[tokio::test]
    async fn a_new_script_replaces_what_is_left() {
        let receiver = Receiver::start().unwrap();
        let client = client(Duration::from_secs(5));
        receiver.script(vec![Reply::Status(500), Reply::Status(500)]);
        let first = client.get(receiver.url()).send().await.unwrap().status();
        receiver.script(vec![Reply::Status(404)]);
        let second = client.get(receiver.url()).send().await.unwrap().status();
        let third = client.get(receiver.url()).send().await.unwrap().status();
        assert_eq!(
            [first.as_u16(), second.as_u16(), third.as_u16()],
            [500, 404, 202]
        );
    }

    #[tokio::test]
    async fn hang_never_answers_so_the_client_times_out() {
        let receiver = Receiver::start().unwrap();
        receiver.script(vec![Reply::Hang]);
        // A client with no deadline of its own waits as long as the receiver hangs. (Under
        // load the receiver may take longer than a short client timeout just to read a
        // request, and a request given up before it is read is never recorded.)
        let patient = client(Duration::from_secs(3600));
        let mut hung = tokio::spawn(patient.post(receiver.url()).body("x").send());
        while receiver.requests().is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            tokio::time::timeout(Duration::from_millis(300), &mut hung)
                .await
                .is_err(),
            "a hung request is never answered"
        );
        let next = patient.post(receiver.url()).send().await.unwrap();
        assert_eq!(
            next.status().as_u16(),
            202,
            "the hang used up its line of the script"
        );
        // A client with a deadline gives up on a hang.
        receiver.script(vec![Reply::Hang]);
        let started = std::time::Instant::now();
        let err = client(Duration::from_millis(300))
            .post(receiver.url())
            .body("x")
            .send()
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert!(started.elapsed() >= Duration::from_millis(300));
    }

    #[tokio::test]
    async fn records_method_path_query_headers_and_body() {
        let receiver = Receiver::start().unwrap();
        let client = client(Duration::from_secs(5));
        let before = SystemTime::now();
        client
            .post(format!(
                "{}/v2/alerts/rollgate%2Fshop%2Fcheckout/close?identifierType=alias",
                receiver.url()
            ))
            .header("Authorization", "GenieKey k")
            .header("Content-Type", "application/json")
            .body(r#"{"user":"bob"}"#)
            .send()
            .await
            .unwrap();
        client
            .get(format!("{}/health", receiver.url()))
            .send()
            .await
            .unwrap();
        let requests = receiver.requests();
        assert_eq!(requests.len(), 2);
        let first = &requests[0];
        assert_eq!(first.method, "POST");
        assert_eq!(
            first.path,
            "/v2/alerts/rollgate%2Fshop%2Fcheckout/close?identifierType=alias"
        );
        assert_eq!(first.header("authorization"), Some("GenieKey k"));
        assert_eq!(first.header("CONTENT-TYPE"), Some("application/json"));
        assert_eq!(first.json(), serde_json::json!({"user": "bob"}));
        assert!(first.at >= before);
        assert_eq!(requests[1].method, "GET");
        assert_eq!(requests[1].path, "/health");
        assert_eq!(requests[1].json(), serde_json::Value::Null);

        receiver.clear();
        assert!(receiver.requests().is_empty());
    }

    #[test]
    fn drop_releases_hanging_requests() {
        let receiver = Receiver::start().unwrap();
        receiver.script(vec![Reply::Hang]);
        let url = receiver.url();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let pending = runtime.spawn(async move {
            client(Duration::from_secs(30))
                .get(url)
                .send()
                .await
                .map(|r| r.status().as_u16())
        });
        while receiver.requests().is_empty() {
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(receiver);
        let answered = runtime.block_on(pending).unwrap();
        assert!(matches!(answered, Ok(503) | Err(_)), "{answered:?}");
    }
}

//! Waiting until something is really usable, while watching that the processes
//! it depends on are still alive (a crashed apiserver should fail the wait at
//! once, quoting its log, rather than after the timeout).

use std::future::Future;
use std::time::{Duration, Instant};

use crate::PlatformError;
use crate::processes::Process;

const POLL: Duration = Duration::from_millis(100);

/// Polls `probe` until it returns `Ok`. Fails early if any of `watched` exits,
/// and after `timeout` with the last probe error and the log of `blame`.
pub(crate) async fn wait_until<T, F, Fut>(
    watched: &mut [Process],
    blame: &str,
    timeout: Duration,
    mut probe: F,
) -> Result<T, PlatformError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        for process in watched.iter_mut() {
            process.check_running()?;
        }
        let last = match probe().await {
            Ok(value) => return Ok(value),
            Err(e) => e,
        };
        let waited = started.elapsed();
        if waited >= timeout {
            return Err(match watched.iter().find(|p| p.name() == blame) {
                Some(process) => process.not_ready(waited, last),
                None => {
                    PlatformError::invalid(format!("{blame} was not ready after {waited:?}"), last)
                }
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A plain-HTTP client for probing loopback services.
pub(crate) fn http_client() -> reqwest::Client {
    crate::install_crypto_provider();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .no_proxy()
        .build()
        .expect("building an HTTP client with the ring provider installed")
}

/// GETs `url` and returns the body when the status is 2xx.
pub(crate) async fn get_ok(client: &reqwest::Client, url: &str) -> Result<String, String> {
    let response = client.get(url).send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response.text().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("GET {url}: {status}: {}", body.trim()))
    }
}

/// An HTTPS client for the self-signed `/healthz` of the controller manager
/// and scheduler (always allowed anonymously).
pub(crate) fn insecure_client() -> reqwest::Client {
    crate::install_crypto_provider();
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .timeout(Duration::from_secs(5))
        .no_proxy()
        .build()
        .expect("building an HTTPS client with the ring provider installed")
}

use std::sync::atomic::AtomicU64;

use axum::extract::{Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::{Json, Router, routing::post};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::*;

/// A Prometheus stand-in that counts requests and answers by query text.
struct Fake {
    requests: AtomicU64,
    delay: Duration,
}

fn vector(values: &[&str]) -> Value {
    let result: Vec<Value> = values
        .iter()
        .map(|v| json!({"metric": {"pod": v}, "value": [1.0, v]}))
        .collect();
    json!({"status": "success", "data": {"resultType": "vector", "result": result}})
}

fn data(kind: &str, result: Value) -> Response {
    Json(json!({"status": "success", "data": {"resultType": kind, "result": result}}))
        .into_response()
}

async fn api(
    State(fake): State<Arc<Fake>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    fake.requests.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(fake.delay).await;
    match form.get("query").map(String::as_str).unwrap_or_default() {
        "vector" => Json(vector(&["0.5", "2", "NaN", "+Inf"])).into_response(),
        "scalar" => data("scalar", json!([1.0, "1.5"])),
        "matrix" => data("matrix", json!([{"metric": {}, "values": [[1.0, "1"]]}])),
        "string" => data("string", json!([1.0, "hi"])),
        "time" => Json(vector(&[form["time"].as_str()])).into_response(),
        "auth"
            if headers
                .get("authorization")
                .is_some_and(|v| v == "Bearer s3cret") =>
        {
            Json(vector(&["1"])).into_response()
        }
        "auth" => (StatusCode::UNAUTHORIZED, "unauthorized").into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Json(vector(&["1"])).into_response()
        }
        "html" => Html("<html>hello</html>").into_response(),
        "boom" => (StatusCode::BAD_GATEWAY, "upstream down").into_response(),
        _ => {
            let error = json!({"status": "error", "errorType": "bad_data", "error": "parse error: unexpected \"(\""});
            (StatusCode::BAD_REQUEST, Json(error)).into_response()
        }
    }
}

/// Range queries: `steps` answers one series per step from start to end, valued by its
/// timestamp; `two` two series; anything else fails as `api` does.
async fn range_api(
    State(fake): State<Arc<Fake>>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    fake.requests.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(fake.delay).await;
    let number = |k: &str| {
        form.get(k)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let (start, end, step) = (number("start"), number("end"), number("step"));
    let values = |offset: f64| -> Vec<Value> {
        let mut out = Vec::new();
        let mut t = start;
        while t <= end && step > 0.0 {
            out.push(json!([t, (t + offset).to_string()]));
            t += step;
        }
        out
    };
    match form.get("query").map(String::as_str).unwrap_or_default() {
        "steps" => data("matrix", json!([{"metric": {}, "values": values(0.0)}])),
        "two" => data(
            "matrix",
            json!([{"metric": {"a": "1"}, "values": values(0.0)}, {"metric": {"a": "2"}, "values": values(0.5)}]),
        ),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            data("matrix", json!([]))
        }
        _ => {
            let error = json!({"status": "error", "errorType": "bad_data", "error": "parse error: unexpected \"(\""});
            (StatusCode::BAD_REQUEST, Json(error)).into_response()
        }
    }
}

async fn serve(delay: Duration) -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake {
        requests: AtomicU64::new(0),
        delay,
    });
    let app = Router::new()
        .route("/api/v1/query", post(api).get(api))
        .route("/api/v1/query_range", post(range_api).get(range_api))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (address, fake)
}

fn endpoint(address: &str) -> Endpoint {
    Endpoint {
        address: address.to_owned(),
        bearer_token: None,
        ca_pem: None,
    }
}

fn pool(timeout_ms: u64, cache_ms: u64) -> PrometheusPool {
    PrometheusPool::new(PoolSettings {
        timeout: Duration::from_millis(timeout_ms),
        cache_for: Duration::from_millis(cache_ms),
    })
}

fn at(second: i64, millis: i32) -> Timestamp {
    Timestamp::new(second, millis * 1_000_000).unwrap()
}

const T: i64 = 1_700_000_000;

#[tokio::test]
async fn fifty_concurrent_identical_queries_send_one_request() {
    let (address, fake) = serve(Duration::from_millis(200)).await;
    let pool = pool(5_000, 5_000);
    let prometheus = endpoint(&address);
    let answers =
        futures::future::join_all((0..50).map(|_| pool.query(&prometheus, "scalar", at(T, 0))))
            .await;
    assert!(answers.iter().all(|a| a == &Ok(vec![1.5])), "{answers:?}");
    assert_eq!(fake.requests.load(Ordering::SeqCst), 1);
    assert_eq!(pool.queries_sent(), 1);
}

#[tokio::test]
async fn answers_are_shared_only_for_the_same_query_second_and_credentials() {
    let (address, fake) = serve(Duration::ZERO).await;
    let pool = pool(5_000, 5_000);
    let plain = endpoint(&address);
    let with_token = Endpoint {
        bearer_token: Some("s3cret".into()),
        ..plain.clone()
    };
    pool.query(&plain, "scalar", at(T, 100)).await.unwrap();
    pool.query(&plain, "scalar", at(T, 400)).await.unwrap(); // same second
    pool.query(&plain, "scalar", at(T + 1, 0)).await.unwrap();
    pool.query(&with_token, "scalar", at(T, 100)).await.unwrap();
    pool.query(&plain, "vector", at(T, 100)).await.unwrap();
    assert_eq!(fake.requests.load(Ordering::SeqCst), 4);
    assert_eq!(pool.clone().queries_sent(), 4, "clones share one pool");
}

#[tokio::test]
async fn rounds_count_the_distinct_seconds_asked_about_into_shared_counters() {
    let (address, _fake) = serve(Duration::ZERO).await;
    let counters = PoolCounters::default();
    let pool = PrometheusPool::counted(PoolSettings::default(), counters.clone());
    let prometheus = endpoint(&address);
    // An instant is rounded to its nearest second: T + 0.9 s is T + 1.
    for (query, second, millis) in [
        ("scalar", T, 0),
        ("vector", T, 300),
        ("scalar", T + 1, 0),
        ("scalar", T, 900),
    ] {
        pool.query(&prometheus, query, at(second, millis))
            .await
            .unwrap();
    }
    assert_eq!(counters.rounds.get(), 2, "seconds T and T+1");
    assert_eq!(counters.queries.get(), 3, "scalar@T, vector@T, scalar@T+1");
}

#[tokio::test]
async fn answers_are_reused_for_a_while_then_asked_again_and_dropped() {
    let (address, fake) = serve(Duration::ZERO).await;
    let pool = pool(5_000, 500);
    let prometheus = endpoint(&address);
    pool.query(&prometheus, "scalar", at(T, 0)).await.unwrap();
    pool.query(&prometheus, "scalar", at(T, 0)).await.unwrap();
    assert_eq!(fake.requests.load(Ordering::SeqCst), 1);
    for second in 1..=20 {
        pool.query(&prometheus, "scalar", at(T + second, 0))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    pool.query(&prometheus, "scalar", at(T, 0)).await.unwrap();
    assert_eq!(fake.requests.load(Ordering::SeqCst), 22);
    assert_eq!(pool.flights_held(), 1, "expired answers are evicted");
}

#[tokio::test]
async fn vectors_and_scalars_become_numbers_at_the_asked_second() {
    let (address, _) = serve(Duration::ZERO).await;
    let pool = pool(5_000, 5_000);
    let prometheus = endpoint(&address);
    let values = pool.query(&prometheus, "vector", at(T, 0)).await.unwrap();
    assert_eq!(values[..2], [0.5, 2.0]);
    assert!(values[2].is_nan());
    assert_eq!(values[3], f64::INFINITY);
    assert_eq!(
        pool.query(&prometheus, "scalar", at(T, 0)).await,
        Ok(vec![1.5])
    );
    assert_eq!(
        pool.query(&prometheus, "time", at(T, 600)).await,
        Ok(vec![(T + 1) as f64])
    );
    let path_and_slash = endpoint(&format!("{address}/"));
    assert_eq!(
        pool.query(&path_and_slash, "scalar", at(T, 0)).await,
        Ok(vec![1.5])
    );
}

#[tokio::test]
async fn errors_have_stable_categories() {
    let (address, _) = serve(Duration::ZERO).await;
    let pool = pool(1_000, 5_000);
    let prometheus = endpoint(&address);
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let cases = [
        (prometheus.clone(), "matrix", "bad_result"),
        (prometheus.clone(), "string", "bad_result"),
        (prometheus.clone(), "html", "bad_result"),
        (prometheus.clone(), "sum(", "bad_query"),
        (prometheus.clone(), "boom", "server"),
        (prometheus.clone(), "slow", "timeout"),
        (prometheus.clone(), "auth", "unauthorized"),
        (endpoint(&closed), "scalar", "unreachable"),
        (endpoint("not a url"), "scalar", "bad_endpoint"),
        (
            Endpoint {
                ca_pem: Some(b"not pem".to_vec()),
                ..prometheus.clone()
            },
            "scalar",
            "bad_endpoint",
        ),
        (
            Endpoint {
                bearer_token: Some("a\nb".into()),
                ..prometheus.clone()
            },
            "scalar",
            "bad_endpoint",
        ),
    ];
    for (endpoint, query, category) in cases {
        let error = pool.query(&endpoint, query, at(T, 0)).await.unwrap_err();
        assert_eq!(
            error.category(),
            category,
            "{query} at {endpoint:?}: {error}"
        );
    }
    let error = pool.query(&prometheus, "sum(", at(T, 0)).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "Prometheus rejected the query: parse error: unexpected \"(\""
    );
    let error = pool
        .query(&prometheus, "matrix", at(T, 0))
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("must return a number"),
        "{error}"
    );
}

#[tokio::test]
async fn credentials_are_sent_but_never_shown() {
    let (address, _) = serve(Duration::ZERO).await;
    let pool = pool(1_000, 5_000);
    let with_token = Endpoint {
        bearer_token: Some("s3cret\n".into()),
        ..endpoint(&address)
    };
    assert_eq!(
        pool.query(&with_token, "auth", at(T, 0)).await,
        Ok(vec![1.0])
    );
    assert!(
        !format!("{with_token:?}").contains("s3cret"),
        "{with_token:?}"
    );

    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let nowhere = Endpoint {
        address: format!("http://admin:hunter2@{closed}"),
        bearer_token: Some("s3cret".into()),
        ca_pem: None,
    };
    let error = pool.query(&nowhere, "scalar", at(T, 0)).await.unwrap_err();
    for text in [
        error.to_string(),
        format!("{error:?}"),
        format!("{nowhere:?}"),
    ] {
        assert!(
            !text.contains("s3cret") && !text.contains("hunter2"),
            "{text}"
        );
    }
}

const TEST_CA: &str = "-----BEGIN CERTIFICATE-----
MIIBjDCCATOgAwIBAgIUIO5RxKZkH3FAzK7HNW8HNtTxUpAwCgYIKoZIzj0EAwIw
GzEZMBcGA1UEAwwQcm9sbGdhdGUtdGVzdC1jYTAgFw0yNjExMjEwMDU3NTRaGA8y
MTI2MTAyODAwNTc1NFowGzEZMBcGA1UEAwwQcm9sbGdhdGUtdGVzdC1jYTBZMBMG
ByqGSM49AgEGCCqGSM49AwEHA0IABEN7RXceiSNfVSbUjUHv0Q5hS2WnkxOb0Nym
p5yRouvO0p3+XNJSJxvvXiayoFV2nFKA7QW1YGiiagJTC9on5lmjUzBRMB0GA1Ud
DgQWBBTIdFcv5BUakGWi91x6AiIhhWG9DDAfBgNVHSMEGDAWgBTIdFcv5BUakGWi
91x6AiIhhWG9DDAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIDlW
j6eX/xoTo+mm+WPhaJFMA2j+RQ2NN7SJ/sI44GwEAiAJctO+wWOo6ppaHBpf0KBO
j8bV/Mvx5Hxv692VqWsMMQ==
-----END CERTIFICATE-----
";

#[tokio::test]
async fn a_ca_bundle_builds_a_client_with_the_ring_provider() {
    let (address, _) = serve(Duration::ZERO).await;
    let with_ca = Endpoint {
        ca_pem: Some(TEST_CA.as_bytes().to_vec()),
        ..endpoint(&address)
    };
    assert_eq!(
        pool(5_000, 5_000).query(&with_ca, "scalar", at(T, 0)).await,
        Ok(vec![1.5])
    );
}

#[tokio::test]
async fn range_queries_answer_series_of_samples_at_each_step() {
    let (address, _) = serve(Duration::ZERO).await;
    let pool = pool(5_000, 5_000);
    let prometheus = endpoint(&address);
    let step = Duration::from_secs(2);
    let m = pool
        .query_range(&prometheus, "steps", at(T, 0), at(T + 6, 400), step)
        .await
        .unwrap();
    let t = T as f64;
    assert_eq!(
        m,
        vec![vec![
            (T, t),
            (T + 2, t + 2.0),
            (T + 4, t + 4.0),
            (T + 6, t + 6.0)
        ]]
    );
    let two = pool
        .query_range(&prometheus, "two", at(T, 0), at(T + 2, 0), step)
        .await
        .unwrap();
    assert_eq!(two.len(), 2);
    assert_eq!(two[1][0], (T, t + 0.5));
}

#[tokio::test]
async fn range_queries_coalesce_by_query_range_and_step() {
    let (address, fake) = serve(Duration::from_millis(200)).await;
    let pool = pool(5_000, 5_000);
    let prometheus = endpoint(&address);
    let two = Duration::from_secs(2);
    let same =
        (0..20).map(|_| pool.query_range(&prometheus, "steps", at(T, 0), at(T + 10, 0), two));
    let answers = futures::future::join_all(same).await;
    assert!(answers.iter().all(|a| a == &answers[0] && a.is_ok()));
    assert_eq!(fake.requests.load(Ordering::SeqCst), 1);
    // Another start, end or step is another question; an instant query of the same text too.
    pool.query_range(&prometheus, "steps", at(T + 1, 0), at(T + 10, 0), two)
        .await
        .unwrap();
    pool.query_range(&prometheus, "steps", at(T, 0), at(T + 11, 0), two)
        .await
        .unwrap();
    pool.query_range(
        &prometheus,
        "steps",
        at(T, 0),
        at(T + 10, 0),
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    let _ = pool.query(&prometheus, "steps", at(T + 10, 0)).await;
    assert_eq!(fake.requests.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn range_query_errors_have_the_same_categories_and_timeout() {
    let (address, _) = serve(Duration::ZERO).await;
    let pool = pool(500, 5_000);
    let prometheus = endpoint(&address);
    let step = Duration::from_secs(1);
    let range = |q: &'static str| pool.query_range(&prometheus, q, at(T, 0), at(T + 5, 0), step);
    assert_eq!(range("rate(").await.unwrap_err().category(), "bad_query");
    assert_eq!(range("slow").await.unwrap_err().category(), "timeout");
    assert_eq!(
        pool.query_range(&prometheus, "steps", at(T, 0), at(T + 5, 0), Duration::ZERO)
            .await
            .unwrap_err()
            .category(),
        "bad_query"
    );
    let closed = endpoint("http://127.0.0.1:9");
    assert_eq!(
        pool.query_range(&closed, "steps", at(T, 0), at(T + 5, 0), step)
            .await
            .unwrap_err()
            .category(),
        "unreachable"
    );
}

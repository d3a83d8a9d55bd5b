//! The platform is real: a Deployment's pods become Ready, the CRD is served, Prometheus
//! scrapes the exporter and answers PromQL.

use std::time::Duration;

use rollgate::gates::{TemplateVars, render};
use rollgate::prometheus::{Endpoint, PrometheusPool};

use crate::support::Fixture;

#[tokio::test(flavor = "multi_thread")]
async fn deployment_pods_become_ready_on_kwok_nodes() {
    let f = Fixture::new("pods").await;
    f.create_deployment("web", 3, "web:1").await;
    f.wait("3 ready pods", Duration::from_secs(60), || async {
        (f.ready_pods("web").await.len() == 3).then_some(())
    })
    .await;
    f.cleanup().await;
}

/// User data in a gate template can never change the query's shape: hostile values are sent
/// to the real Prometheus, which accepts the query and finds no such series.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_template_values_keep_the_query_shape_in_real_prometheus() {
    let f = Fixture::new("escape").await;
    f.metrics("r", "canary", 10.0, 0.5).await;
    let pool = PrometheusPool::default();
    let endpoint = Endpoint {
        address: f.env.prometheus_url.clone(),
        bearer_token: None,
        ca_pem: None,
    };
    let template = r#"sum(rate(http_requests_total{namespace="{{namespace}}",rollgate_track=~"{{track}}"}[5s]))"#;
    // Wait until the real series is visible, so "no data" below means "no match".
    let real = TemplateVars {
        namespace: f.name(),
        track: "canary",
        ..Default::default()
    };
    let q = render(template, &real).unwrap();
    f.wait(
        "the exporter series in Prometheus",
        Duration::from_secs(30),
        || async {
            let now = jiff::Timestamp::now();
            pool.query(&endpoint, &q, now)
                .await
                .ok()
                .filter(|v| !v.is_empty())
        },
    )
    .await;
    for hostile in [
        r#"x"} or vector(1) #"#,
        r#"\"} or vector(1)"#,
        ".*",
        "canary|stable",
        "a\nb\"c\\",
        "ünïcödé\u{0007}",
    ] {
        let vars = TemplateVars {
            namespace: f.name(),
            track: hostile,
            ..Default::default()
        };
        let q = render(template, &vars).unwrap();
        let result = pool.query(&endpoint, &q, jiff::Timestamp::now()).await;
        assert_eq!(
            result,
            Ok(vec![]),
            "value {hostile:?} changed the query {q:?}"
        );
    }
    f.cleanup().await;
}

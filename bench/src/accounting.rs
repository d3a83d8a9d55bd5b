//! Counting what the controller asks of others, from their own metrics: the API server's APF
//! counter for the controller's FlowSchema (exact: only the controller's user matches it), the
//! API server's per-verb request counter (all clients; the bench keeps its own requests out of
//! the measured windows where it can), and Prometheus' count of instant queries.

use std::collections::BTreeMap;

use kube::Client;
use serde::Serialize;

use crate::cluster::CONTROLLER_USER;
use crate::error::{Error, Result};

/// Counters at one instant.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    /// Requests the API server dispatched for the controller's FlowSchema.
    pub controller_requests: f64,
    /// `apiserver_request_total` summed by `verb resource[/subresource]`, every client.
    pub by_verb_resource: BTreeMap<String, f64>,
    /// `prometheus_http_requests_total{handler="/api/v1/query"}`.
    pub prometheus_queries: f64,
}

impl Counters {
    pub async fn take(client: &Client, prometheus_url: &str) -> Result<Counters> {
        let api = apiserver_metrics(client).await?;
        let prom = prometheus_metrics(prometheus_url).await?;
        let mut by_verb_resource = BTreeMap::new();
        let mut controller_requests = 0.0;
        for sample in parse(&api) {
            match sample.name {
                "apiserver_flowcontrol_dispatched_requests_total"
                    if sample.label("flow_schema") == Some(CONTROLLER_USER) =>
                {
                    controller_requests += sample.value;
                }
                "apiserver_request_total" => {
                    let resource = match sample.label("subresource") {
                        Some(s) if !s.is_empty() => {
                            format!("{}/{s}", sample.label("resource").unwrap_or_default())
                        }
                        _ => sample.label("resource").unwrap_or_default().to_string(),
                    };
                    let key = format!("{} {resource}", sample.label("verb").unwrap_or_default());
                    *by_verb_resource.entry(key).or_insert(0.0) += sample.value;
                }
                _ => {}
            }
        }
        let prometheus_queries = parse(&prom)
            .filter(|s| {
                s.name == "prometheus_http_requests_total"
                    && s.label("handler") == Some("/api/v1/query")
            })
            .map(|s| s.value)
            .sum();
        Ok(Counters {
            controller_requests,
            by_verb_resource,
            prometheus_queries,
        })
    }

    /// What happened between `before` and now.
    pub fn since(&self, before: &Counters) -> Delta {
        let mut by_verb_resource: Vec<(String, f64)> = self
            .by_verb_resource
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v - before.by_verb_resource.get(k).unwrap_or(&0.0),
                )
            })
            .filter(|(_, d)| *d > 0.0)
            .collect();
        by_verb_resource.sort_by(|a, b| b.1.total_cmp(&a.1));
        Delta {
            controller_requests: self.controller_requests - before.controller_requests,
            prometheus_queries: self.prometheus_queries - before.prometheus_queries,
            all_clients_by_verb_resource: by_verb_resource.into_iter().take(25).collect(),
        }
    }
}

#[derive(Serialize, Clone, Debug, Default)]
pub struct Delta {
    pub controller_requests: f64,
    pub prometheus_queries: f64,
    /// Busiest 25 (verb, resource) pairs over every client (kcm, scheduler, kwok, bench too).
    pub all_clients_by_verb_resource: Vec<(String, f64)>,
}

async fn apiserver_metrics(client: &Client) -> Result<String> {
    let request = http::Request::get("/metrics")
        .body(Vec::new())
        .map_err(|e| Error::Unexpected(e.to_string()))?;
    client
        .request_text(request)
        .await
        .map_err(|e| Error::kube("reading the API server's /metrics", e))
}

/// What the controller counts of its own gate work, from its `/metrics`: status shows only
/// evaluations that changed something (or a heartbeat), so it cannot be counted from there.
#[derive(Clone, Copy, Debug, Default)]
pub struct GateWork {
    /// `rollgate_gate_evaluations_total`, every verdict.
    pub evaluations: f64,
    /// `rollgate_gate_rounds_total`: distinct seconds at which gates were evaluated.
    pub rounds: f64,
    /// `rollgate_prometheus_queries_total`: queries sent after coalescing.
    pub queries: f64,
}

impl GateWork {
    pub async fn take(controller_metrics_url: &str) -> Result<GateWork> {
        let text = prometheus_metrics(controller_metrics_url).await?;
        let mut work = GateWork::default();
        for sample in parse(&text) {
            match sample.name {
                "rollgate_gate_evaluations_total" => work.evaluations += sample.value,
                "rollgate_gate_rounds_total" => work.rounds = sample.value,
                "rollgate_prometheus_queries_total" => work.queries = sample.value,
                _ => {}
            }
        }
        Ok(work)
    }

    pub fn since(&self, before: &GateWork) -> GateWork {
        GateWork {
            evaluations: self.evaluations - before.evaluations,
            rounds: self.rounds - before.rounds,
            queries: self.queries - before.queries,
        }
    }
}

/// `<url>/metrics` of a Prometheus-format endpoint.
async fn prometheus_metrics(url: &str) -> Result<String> {
    let url = format!("{url}/metrics");
    reqwest::get(&url)
        .await
        .map_err(|e| Error::http(format!("GET {url}"), e))?
        .text()
        .await
        .map_err(|e| Error::http(format!("GET {url}"), e))
}

/// One sample of the Prometheus text format.
#[derive(Debug, PartialEq)]
struct Sample<'a> {
    name: &'a str,
    labels: Vec<(&'a str, String)>,
    value: f64,
}

impl Sample<'_> {
    fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

fn parse(text: &str) -> impl Iterator<Item = Sample<'_>> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(parse_line)
}

fn parse_line(line: &str) -> Option<Sample<'_>> {
    let (name, labels, rest) = match line.find('{') {
        Some(open) => {
            let (labels, close) = parse_labels(&line[open + 1..])?;
            (&line[..open], labels, &line[open + 1 + close + 1..])
        }
        None => {
            let space = line.find(' ')?;
            (&line[..space], Vec::new(), &line[space..])
        }
    };
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// Labels up to the closing brace; returns them and the brace's offset.
fn parse_labels(s: &str) -> Option<(Vec<(&str, String)>, usize)> {
    let bytes = s.as_bytes();
    let mut labels = Vec::new();
    let mut i = 0;
    loop {
        while i < bytes.len() && (bytes[i] == b',' || bytes[i] == b' ') {
            i += 1;
        }
        if *bytes.get(i)? == b'}' {
            return Some((labels, i));
        }
        let eq = i + s[i..].find('=')?;
        let name = &s[i..eq];
        i = eq + 1;
        if *bytes.get(i)? != b'"' {
            return None;
        }
        i += 1;
        let mut value = String::new();
        loop {
            match *bytes.get(i)? {
                b'\\' => {
                    value.push(match *bytes.get(i + 1)? {
                        b'n' => '\n',
                        other => other as char,
                    });
                    i += 2;
                }
                b'"' => {
                    i += 1;
                    break;
                }
                _ => {
                    let ch = s[i..].chars().next()?;
                    value.push(ch);
                    i += ch.len_utf8();
                }
            }
        }
        labels.push((name, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_labels_and_value() {
        let s = parse_line(
            r#"apiserver_request_total{code="200",resource="rollouts",subresource="status",verb="PATCH"} 17"#,
        )
        .unwrap();
        assert_eq!(s.name, "apiserver_request_total");
        assert_eq!(s.label("verb"), Some("PATCH"));
        assert_eq!(s.label("subresource"), Some("status"));
        assert_eq!(s.value, 17.0);
    }

    #[test]
    fn reads_escaped_quotes_and_commas_in_values() {
        let s = parse_line(r#"m{a="x,\"y\"",b="z"} 1.5e3"#).unwrap();
        assert_eq!(s.label("a"), Some(r#"x,"y""#));
        assert_eq!(s.label("b"), Some("z"));
        assert_eq!(s.value, 1500.0);
    }

    #[test]
    fn reads_samples_without_labels_and_skips_comments() {
        let text =
            "# HELP up x\n# TYPE up gauge\nup 1\n\nprocess_cpu_seconds_total 2.5 1700000000\n";
        let samples: Vec<_> = parse(text).collect();
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[1].value, 2.5);
    }
}

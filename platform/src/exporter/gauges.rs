//! Gauges a test sets to any value, free of HTTP: `name{namespace, labels...} value`.
//! Prometheus scrapes them as their own job, and the platform's external metrics API
//! (prometheus-adapter) serves every one of them under its name, so an HPA with an
//! `External` metric follows what the test sets.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Labels a gauge may not set: `namespace` is its own field, and Prometheus would rename
/// `job`/`instance` (the adapter finds the gauges by `job`).
const RESERVED_LABELS: [&str; 3] = ["namespace", "job", "instance"];

/// One gauge series and the value it reports.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Gauge {
    /// The metric name, which is also the external metric's name.
    pub name: String,
    /// The namespace whose HPAs see it.
    pub namespace: String,
    /// More labels, for an HPA's `metric.selector`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Gauge {
    /// `name{namespace}` at 0.
    pub fn new(namespace: &str, name: &str) -> Gauge {
        Gauge {
            name: name.to_string(),
            namespace: namespace.to_string(),
            labels: BTreeMap::new(),
            value: 0.0,
        }
    }

    pub fn label(mut self, name: &str, value: &str) -> Gauge {
        self.labels.insert(name.to_string(), value.to_string());
        self
    }

    pub fn value(mut self, value: f64) -> Gauge {
        self.value = value;
        self
    }

    /// Why the exporter would refuse this gauge, if it would.
    pub fn invalid_because(&self) -> Option<String> {
        if !is_name(&self.name, true) {
            return Some(format!("{:?} is not a metric name", self.name));
        }
        if self.namespace.is_empty() {
            return Some("a gauge needs a namespace".to_string());
        }
        if let Some(label) = self.labels.keys().find(|l| {
            !is_name(l, false) || l.starts_with("__") || RESERVED_LABELS.contains(&l.as_str())
        }) {
            return Some(format!("{label:?} cannot be a gauge label"));
        }
        if !self.value.is_finite() {
            return Some(format!("value must be finite, got {}", self.value));
        }
        None
    }

    fn key(&self) -> (String, String, BTreeMap<String, String>) {
        (
            self.name.clone(),
            self.namespace.clone(),
            self.labels.clone(),
        )
    }
}

/// Prometheus' metric (with `:`) and label name syntax.
fn is_name(name: &str, colons: bool) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':');
    name.chars().next().is_some_and(|c| !c.is_ascii_digit()) && name.chars().all(allowed)
}

/// All gauges, keyed by name, namespace and labels.
#[derive(Debug, Default)]
pub(crate) struct Gauges {
    gauges: BTreeMap<(String, String, BTreeMap<String, String>), Gauge>,
}

impl Gauges {
    pub(crate) fn upsert(&mut self, gauge: Gauge) {
        self.gauges.insert(gauge.key(), gauge);
    }

    /// Removes the gauges of `namespace` (all when `None`); returns how many.
    pub(crate) fn remove(&mut self, namespace: Option<&str>) -> usize {
        let before = self.gauges.len();
        self.gauges
            .retain(|(_, ns, _), _| namespace.is_some_and(|namespace| ns != namespace));
        before - self.gauges.len()
    }

    /// Every gauge, grouped by name (each name is one metric family).
    pub(crate) fn families(&self) -> BTreeMap<&str, Vec<&Gauge>> {
        let mut families: BTreeMap<&str, Vec<&Gauge>> = BTreeMap::new();
        for gauge in self.gauges.values() {
            families.entry(gauge.name.as_str()).or_default().push(gauge);
        }
        families
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Gauge> {
        self.gauges.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_a_gauge_again_replaces_its_value() {
        let mut gauges = Gauges::default();
        gauges.upsert(Gauge::new("ns", "queue_messages").value(4.0));
        gauges.upsert(Gauge::new("ns", "queue_messages").value(8.0));
        gauges.upsert(Gauge::new("ns", "queue_messages").label("queue", "b"));
        let values: Vec<f64> = gauges.iter().map(|g| g.value).collect();
        assert_eq!(values, [8.0, 0.0]);
        assert_eq!(gauges.families()["queue_messages"].len(), 2);
    }

    #[test]
    fn removing_a_namespace_keeps_the_others() {
        let mut gauges = Gauges::default();
        gauges.upsert(Gauge::new("ns", "a"));
        gauges.upsert(Gauge::new("other", "a"));
        assert_eq!(gauges.remove(Some("ns")), 1);
        assert_eq!(gauges.remove(None), 1);
    }

    #[test]
    fn names_labels_and_values_prometheus_would_refuse_are_refused() {
        assert!(Gauge::new("ns", "9lives").invalid_because().is_some());
        assert!(Gauge::new("ns", "a-b").invalid_because().is_some());
        assert!(Gauge::new("", "a").invalid_because().is_some());
        assert!(
            Gauge::new("ns", "a")
                .label("job", "x")
                .invalid_because()
                .is_some()
        );
        assert!(
            Gauge::new("ns", "a")
                .label("__x", "x")
                .invalid_because()
                .is_some()
        );
        let infinite = Gauge::new("ns", "a").value(f64::INFINITY);
        assert!(infinite.invalid_because().is_some());
        let fine = Gauge::new("ns", "rollgate:queue_messages").label("queue", "orders");
        assert!(fine.invalid_because().is_none());
    }
}

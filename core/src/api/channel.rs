use std::collections::BTreeMap;

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::LocalObjectRef;

/// A destination for incidents. Credentials live in the Secret, never here.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "rollgate.dev",
    version = "v1alpha1",
    kind = "IncidentChannel",
    namespaced,
    shortname = "rgch",
    category = "rollgate",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.type == 'alertmanager' || self.type == 'webhook' || has(self.secretRef)").message("this channel type needs secretRef with its credentials"),
    validation = Rule::new("!(self.type == 'alertmanager' || self.type == 'webhook') || has(self.url)").message("webhook and alertmanager channels need url: where to deliver")
)]
pub struct IncidentChannelSpec {
    #[serde(rename = "type")]
    pub type_: ChannelType,
    /// Endpoint. Defaults per type (PagerDuty, Opsgenie); required for alertmanager and webhook.
    /// Slack and Teams take theirs from the Secret's `url` (a webhook URL is a credential).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(r"^https?://"))]
    #[x_kube(validation = Rule::new("isURL(self) && url(self).getHostname() != ''").message("url must be an http(s) URL with a host"))]
    pub url: Option<String>,
    /// Secret keys by type: pagerduty `routingKey`; opsgenie/jsm `apiKey`; slack/teams `url`;
    /// webhook `signingSecret` (`whsec_…`); alertmanager optional `token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectRef>,
    /// rollgate severity (sev1..sev4) → the destination's own words.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub severity_map: BTreeMap<String, String>,
}

#[derive(schemars::JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum ChannelType {
    Pagerduty,
    Opsgenie,
    Jsm,
    Slack,
    Teams,
    Alertmanager,
    Webhook,
}

impl ChannelType {
    /// The type as the spec spells it (its serialized name), for metric labels and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelType::Pagerduty => "pagerduty",
            ChannelType::Opsgenie => "opsgenie",
            ChannelType::Jsm => "jsm",
            ChannelType::Slack => "slack",
            ChannelType::Teams => "teams",
            ChannelType::Alertmanager => "alertmanager",
            ChannelType::Webhook => "webhook",
        }
    }
}

/// Where a channel reference (`name`, or `namespace/name`) points: `(namespace, name)`, in
/// `namespace` by default. One reading for the controller, its deliveries and lint.
pub fn locate_channel(namespace: &str, reference: &str) -> (String, String) {
    match reference.split_once('/') {
        Some((ns, name)) => (ns.to_string(), name.to_string()),
        None => (namespace.to_string(), reference.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_channel_reference_is_in_the_rollouts_namespace_unless_qualified() {
        assert_eq!(
            locate_channel("shop", "pager"),
            ("shop".into(), "pager".into())
        );
        assert_eq!(
            locate_channel("shop", "ops/pager"),
            ("ops".into(), "pager".into())
        );
    }
}

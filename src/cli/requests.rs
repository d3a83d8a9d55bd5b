//! Manual actions: the request annotation `rollgate.dev/request: <action>/<id>`, written with a
//! merge patch and a fresh id (the controller handles each id once).

use jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use serde::Serialize;
use serde_json::{Value, json};

use super::cluster::Cluster;
use super::{CliError, Scope};
use crate::api::Rollout;
use crate::api::keys::REQUEST;
use crate::plan::{Request, Verb};

/// What was asked, as printed.
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Sent {
    pub namespace: String,
    pub rollout: String,
    pub action: String,
    pub id: String,
}

/// A fresh request id: the time in nanoseconds, unique enough for a person typing commands.
pub fn request_id(now: Timestamp) -> String {
    now.as_nanosecond().to_string()
}

/// The merge patch that asks for `request`.
pub fn patch(request: &Request) -> Value {
    json!({"metadata": {"annotations": {REQUEST: request.encode()}}})
}

pub fn human(sent: &Sent) -> String {
    format!(
        "rollout {}/{}: {} requested (id {}); follow it with `rollgate status {} -n {} --watch`\n",
        sent.namespace, sent.rollout, sent.action, sent.id, sent.rollout, sent.namespace
    )
}

pub async fn send(scope: &Scope, name: &str, action: Verb) -> Result<(), CliError> {
    let (namespace, request) = write::<Rollout>(scope, "rollout", name, action).await?;
    let sent = Sent {
        namespace,
        rollout: name.to_string(),
        action: action.as_str().to_string(),
        id: request.id,
    };
    scope.output.print(&sent, human)
}

/// Writes the request annotation on `kind` `name` (a Rollout, a Release); the namespace it went
/// to and the request.
pub async fn write<K>(
    scope: &Scope,
    kind: &str,
    name: &str,
    action: Verb,
) -> Result<(String, Request), CliError>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let cluster = Cluster::connect(scope).await?;
    let request = Request::new(action, request_id(Timestamp::now()));
    cluster
        .api::<K>()
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(patch(&request)),
        )
        .await
        .map_err(|e| CliError::kube(format!("{kind} {name}"), &cluster.namespace, e))?;
    Ok((cluster.namespace.clone(), request))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_the_annotation_with_action_and_id() {
        let r = Request::new(Verb::PromoteFull, "17");
        assert_eq!(
            patch(&r),
            json!({"metadata": {"annotations": {"rollgate.dev/request": "promote-full/17"}}})
        );
    }

    #[test]
    fn request_ids_are_fresh_and_valid() {
        let a = request_id(Timestamp::from_second(1_700_000_000).unwrap());
        let b = request_id(Timestamp::from_second(1_700_000_001).unwrap());
        assert_ne!(a, b);
        let encoded = Request::new(Verb::Abort, a.clone()).encode();
        assert_eq!(Request::parse(&encoded), Ok(Request::new(Verb::Abort, a)));
    }

    #[test]
    fn the_confirmation_says_how_to_follow_the_request() {
        let sent = Sent {
            namespace: "shop".into(),
            rollout: "checkout".into(),
            action: "promote".into(),
            id: "1".into(),
        };
        assert_eq!(
            human(&sent),
            "rollout shop/checkout: promote requested (id 1); follow it with `rollgate status checkout -n shop --watch`\n"
        );
    }
}

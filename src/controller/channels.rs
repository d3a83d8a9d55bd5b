//! IncidentChannels as the rollout reconcile sees them: a watched cache, so a Rollout naming a
//! channel that does not exist (or whose Secret does not) says so the moment either is
//! written, instead of an incident waiting forever at 3 a.m.

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;

use super::Context;
use super::incidents::channels_of;
use crate::api::{IncidentChannel, Rollout, locate_channel};

/// What keeps this Rollout's incidents from a named channel. Channels outside what this
/// controller watches cannot be seen, so they are not judged.
pub fn problems(ctx: &Context, rollout: &Rollout) -> Vec<String> {
    let ns = rollout.namespace().unwrap_or_default();
    let watched = |n: &str| ctx.settings.namespace.as_deref().is_none_or(|w| w == n);
    channels_of(ctx, rollout)
        .iter()
        .map(|c| locate_channel(&ns, c))
        .filter(|(cns, _)| watched(cns))
        .filter_map(|(cns, name)| {
            let Some(channel) = ctx.channels.get(&ObjectRef::new(&name).within(&cns)) else {
                return Some(format!(
                    "IncidentChannel {cns}/{name} does not exist: an incident would reach nobody there"
                ));
            };
            let secret = channel.spec.secret_ref.as_ref()?;
            ctx.secrets
                .get(&ObjectRef::new(&secret.name).within(&cns))
                .is_none()
                .then(|| {
                    format!(
                        "Secret {cns}/{} of IncidentChannel {name} does not exist: its credentials are missing",
                        secret.name
                    )
                })
        })
        .collect()
}

/// The Rollouts whose incidents go to `channel` (all of them for the default channel).
pub fn users(
    default_channel: Option<&str>,
    rollouts: &kube::runtime::reflector::Store<Rollout>,
    channel: &IncidentChannel,
) -> Vec<ObjectRef<Rollout>> {
    let (cns, name) = (channel.namespace().unwrap_or_default(), channel.name_any());
    let qualified = format!("{cns}/{name}");
    let is_default = default_channel == Some(qualified.as_str());
    rollouts
        .state()
        .iter()
        .filter(|r| {
            let ns = r.namespace().unwrap_or_default();
            is_default
                || r.spec.incident.as_ref().is_some_and(|i| {
                    i.channels
                        .iter()
                        .any(|c| locate_channel(&ns, c) == (cns.clone(), name.clone()))
                })
        })
        .map(|r| ObjectRef::from_obj(r.as_ref()))
        .collect()
}

/// The Rollouts whose channels take their credentials from Secret `secret`.
pub fn users_of_secret(
    default_channel: Option<&str>,
    rollouts: &kube::runtime::reflector::Store<Rollout>,
    channels: &kube::runtime::reflector::Store<IncidentChannel>,
    secret: &kube::core::PartialObjectMeta<k8s_openapi::api::core::v1::Secret>,
) -> Vec<ObjectRef<Rollout>> {
    let ns = secret.metadata.namespace.clone().unwrap_or_default();
    let name = secret.metadata.name.clone().unwrap_or_default();
    channels
        .state()
        .iter()
        .filter(|c| c.namespace().as_deref() == Some(ns.as_str()))
        .filter(|c| c.spec.secret_ref.as_ref().is_some_and(|s| s.name == name))
        .flat_map(|c| users(default_channel, rollouts, c))
        .collect()
}

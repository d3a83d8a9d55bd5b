//! The Deployment adapter's pure half: a track Deployment built from the target, and read
//! back for the planner. (The controller's half, the I/O, is `src/controller/workload/`.)

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};

use super::tracks::{TrackKind, clean_template, track_name};
use crate::plan::Track;

/// The Deployment for one track: the target's selector and pod labels plus the track label,
/// the given template (clean) and replicas, owned by the Rollout.
///
/// `Recreate` keeps a track to one template at a time, so its ready count is exactly the ready
/// pods of its revision; the planner only changes a track's template when the track is at zero
/// (promotion) or being replaced (a new canary), so no capacity is lost by it.
pub fn track_deployment(
    target: &Deployment,
    kind: TrackKind,
    template: &PodTemplateSpec,
    revision: &str,
    replicas: i32,
    owner: OwnerReference,
) -> Deployment {
    let target_spec = target.spec.clone().unwrap_or_default();
    let mut selector: LabelSelector = target_spec.selector;
    selector
        .match_labels
        .get_or_insert_with(BTreeMap::new)
        .insert(crate::api::keys::TRACK.into(), kind.as_str().into());
    let mut template = clean_template(template);
    let meta = template.metadata.get_or_insert_with(Default::default);
    let labels = meta.labels.get_or_insert_with(BTreeMap::new);
    labels.insert(crate::api::keys::TRACK.into(), kind.as_str().into());
    labels.insert(crate::api::keys::REVISION.into(), revision.into());
    let target_name = target.metadata.name.clone().unwrap_or_default();
    Deployment {
        metadata: ObjectMeta {
            name: Some(track_name(&target_name, kind)),
            namespace: target.metadata.namespace.clone(),
            labels: Some(BTreeMap::from([
                (
                    crate::api::keys::TRACK.to_string(),
                    kind.as_str().to_string(),
                ),
                (
                    crate::api::keys::MANAGED_BY.to_string(),
                    "rollgate".to_string(),
                ),
            ])),
            annotations: Some(BTreeMap::from([(
                crate::api::keys::REVISION.to_string(),
                revision.to_string(),
            )])),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector,
            template,
            strategy: Some(DeploymentStrategy {
                type_: Some("Recreate".into()),
                rolling_update: None,
            }),
            min_ready_seconds: target_spec.min_ready_seconds,
            revision_history_limit: Some(2),
            progress_deadline_seconds: target_spec.progress_deadline_seconds,
            paused: None,
        }),
        status: None,
    }
}

/// A track as the planner sees it. Ready pods count only once the Deployment controller has
/// seen the current spec and every pod runs the current template; until then we report 0,
/// which only ever makes the planner wait.
pub fn observe_track(d: &Deployment) -> Option<Track> {
    let revision = d
        .metadata
        .annotations
        .as_ref()?
        .get(crate::api::keys::REVISION)?
        .clone();
    let replicas = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let st = d.status.clone().unwrap_or_default();
    let current = st.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(0);
    let all_updated = st.updated_replicas.unwrap_or(0) == st.replicas.unwrap_or(0);
    let ready = if current && all_updated {
        st.ready_replicas.unwrap_or(0)
    } else {
        0
    };
    Some(Track {
        revision,
        replicas,
        ready,
        drift: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::DeploymentStatus;

    fn target() -> Deployment {
        let labels = BTreeMap::from([("app".to_string(), "shop".to_string())]);
        Deployment {
            metadata: ObjectMeta {
                name: Some("shop".into()),
                namespace: Some("ns".into()),
                ..Default::default()
            },
            spec: Some(DeploymentSpec {
                replicas: Some(3),
                selector: LabelSelector {
                    match_labels: Some(labels.clone()),
                    match_expressions: None,
                },
                template: PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels: Some(labels),
                        ..Default::default()
                    }),
                    spec: None,
                },
                ..Default::default()
            }),
            status: None,
        }
    }

    #[test]
    fn tracks_keep_the_target_pod_labels_and_add_their_track() {
        let t = target();
        let owner = OwnerReference::default();
        let d = track_deployment(
            &t,
            TrackKind::Canary,
            &t.spec.as_ref().unwrap().template,
            "abc",
            2,
            owner,
        );
        assert_eq!(d.metadata.name.as_deref(), Some("shop-canary"));
        let spec = d.spec.unwrap();
        let sel = spec.selector.match_labels.unwrap();
        assert_eq!(sel["app"], "shop");
        assert_eq!(sel[crate::api::keys::TRACK], "canary");
        let labels = spec.template.metadata.unwrap().labels.unwrap();
        assert_eq!(labels["app"], "shop");
        assert_eq!(labels[crate::api::keys::TRACK], "canary");
        assert_eq!(spec.replicas, Some(2));
        assert_eq!(
            d.metadata.annotations.unwrap()[crate::api::keys::REVISION],
            "abc"
        );
    }

    #[test]
    fn ready_pods_count_only_when_every_pod_runs_the_current_template() {
        let t = target();
        let mut d = track_deployment(
            &t,
            TrackKind::Stable,
            &t.spec.as_ref().unwrap().template,
            "abc",
            3,
            OwnerReference::default(),
        );
        d.metadata.generation = Some(2);
        d.status = Some(DeploymentStatus {
            observed_generation: Some(2),
            replicas: Some(3),
            updated_replicas: Some(3),
            ready_replicas: Some(3),
            ..Default::default()
        });
        assert_eq!(observe_track(&d).unwrap().ready, 3);
        d.status.as_mut().unwrap().updated_replicas = Some(1);
        assert_eq!(observe_track(&d).unwrap().ready, 0);
        d.status.as_mut().unwrap().observed_generation = Some(1);
        assert_eq!(observe_track(&d).unwrap().ready, 0);
    }
}

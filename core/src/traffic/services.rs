//! The tracks' Services under a router: `<service>-stable` and `<service>-canary`, built from
//! the user's Service (its ports, its selector plus the track label) and owned by the Rollout.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::api::keys::{MANAGED_BY, TRACK};
use crate::workload::TrackKind;

/// `<service>-stable` or `<service>-canary`.
pub fn name(service: &str, kind: TrackKind) -> String {
    format!("{service}-{}", kind.as_str())
}

/// The Service for one track. Until the Rollout has adopted a stable revision the stable
/// Service selects what the user's Service selects (the target's own pods serve until then,
/// and they carry no track label); from then on each selects its track only.
pub fn build(user: &Service, kind: TrackKind, adopted: bool, owner: OwnerReference) -> Service {
    let spec = user.spec.clone().unwrap_or_default();
    let mut selector = spec.selector.unwrap_or_default();
    if kind == TrackKind::Canary || adopted {
        selector.insert(TRACK.into(), kind.as_str().into());
    }
    let ports: Vec<ServicePort> = spec
        .ports
        .unwrap_or_default()
        .into_iter()
        .map(|p| ServicePort {
            node_port: None,
            ..p
        })
        .collect();
    let user_name = user.metadata.name.clone().unwrap_or_default();
    Service {
        metadata: ObjectMeta {
            name: Some(name(&user_name, kind)),
            namespace: user.metadata.namespace.clone(),
            labels: Some(BTreeMap::from([
                (TRACK.to_string(), kind.as_str().to_string()),
                (MANAGED_BY.to_string(), "rollgate".to_string()),
            ])),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            selector: Some(selector),
            ports: Some(ports),
            type_: Some("ClusterIP".into()),
            ..Default::default()
        }),
        status: None,
    }
}

/// Whether `live` is what [`build`] would write (selector and ports; the API server fills in
/// the rest).
pub fn as_built(live: &Service, built: &Service) -> bool {
    let (l, b) = (
        live.spec.clone().unwrap_or_default(),
        built.spec.clone().unwrap_or_default(),
    );
    let ports = |s: &ServiceSpec| {
        s.ports
            .iter()
            .flatten()
            .map(|p| {
                (
                    p.name.clone(),
                    p.port,
                    p.target_port.clone(),
                    p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                )
            })
            .collect::<Vec<_>>()
    };
    l.selector == b.selector && ports(&l) == ports(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

    fn user() -> Service {
        Service {
            metadata: ObjectMeta {
                name: Some("shop".into()),
                namespace: Some("ns".into()),
                ..Default::default()
            },
            spec: Some(ServiceSpec {
                selector: Some(BTreeMap::from([("app".into(), "shop".into())])),
                ports: Some(vec![ServicePort {
                    name: Some("http".into()),
                    port: 80,
                    target_port: Some(IntOrString::Int(8080)),
                    node_port: Some(30080),
                    ..Default::default()
                }]),
                type_: Some("NodePort".into()),
                ..Default::default()
            }),
            status: None,
        }
    }

    #[test]
    fn stable_selects_the_target_until_adoption_then_its_track() {
        let owner = OwnerReference::default();
        let before = build(&user(), TrackKind::Stable, false, owner.clone());
        let sel = before.spec.as_ref().unwrap().selector.clone().unwrap();
        assert_eq!(sel, BTreeMap::from([("app".into(), "shop".into())]));
        let after = build(&user(), TrackKind::Stable, true, owner.clone());
        assert_eq!(
            after.spec.as_ref().unwrap().selector.as_ref().unwrap()[TRACK],
            "stable"
        );
        let canary = build(&user(), TrackKind::Canary, false, owner);
        assert_eq!(canary.metadata.name.as_deref(), Some("shop-canary"));
        assert_eq!(
            canary.spec.as_ref().unwrap().selector.as_ref().unwrap()[TRACK],
            "canary"
        );
        let port = &canary.spec.as_ref().unwrap().ports.as_ref().unwrap()[0];
        assert_eq!((port.port, port.node_port), (80, None));
        assert!(as_built(&canary, &canary));
        assert!(!as_built(&before, &after));
    }
}

//! The workload adapter: the one place the controller names a workload kind. It watches the
//! kind, reads the target and its tracks as [`Object`]s, writes tracks, holds the target while
//! the tracks serve and hands it back. The rest of the controller sees only `Object`.
//!
//! A new kind (a StatefulSet, …) is a file beside `deployment.rs` (its I/O), its pure builder
//! in `core/src/workload/`, a [`Kind`] variant with its arms below, and the `TargetRef.kind`
//! value the API admits.

mod deployment;

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::Stream;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::runtime::reflector::ObjectRef;
use kube::{Client, ResourceExt};

use super::context::CacheReady;
use super::{Caches, Context, Error, Settings};
use crate::api::Rollout;
use crate::plan::Track;
use crate::workload::{TrackKind, track_name};

/// The workload kinds a Rollout can target (`spec.targetRef.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Deployment,
}

impl Kind {
    /// The kind named by `spec.targetRef.kind`; the API server admits only the kinds listed
    /// here (CEL on `TargetRef.kind`), so there is nothing else to read.
    fn of(_rollout: &Rollout) -> Kind {
        Kind::Deployment
    }
}

/// A target or track object, whatever its kind.
#[derive(Debug, Clone)]
pub struct Object(Raw);

#[derive(Debug, Clone)]
enum Raw {
    Deployment(Arc<k8s_openapi::api::apps::v1::Deployment>),
}

impl Object {
    pub fn name(&self) -> String {
        match &self.0 {
            Raw::Deployment(d) => d.name_any(),
        }
    }

    /// Its pod template (a track's is the revision it runs).
    pub fn template(&self) -> Option<&PodTemplateSpec> {
        match &self.0 {
            Raw::Deployment(d) => d.spec.as_ref().map(|s| &s.template),
        }
    }

    pub fn annotations(&self) -> &BTreeMap<String, String> {
        match &self.0 {
            Raw::Deployment(d) => d.annotations(),
        }
    }

    /// Replicas its spec asks for.
    pub fn replicas(&self) -> Option<i32> {
        match &self.0 {
            Raw::Deployment(d) => d.spec.as_ref().and_then(|s| s.replicas),
        }
    }

    /// Its pod selector as a label selector string (a track's pods carry the target's labels,
    /// so the target's selector finds both tracks' pods).
    pub fn selector(&self) -> Option<String> {
        match &self.0 {
            Raw::Deployment(d) => d
                .spec
                .as_ref()
                .map(|s| crate::workload::selector::to_string(&s.selector)),
        }
    }

    /// How a `scaleTargetRef` (an HPA's) names this object.
    pub fn scale_ref(&self) -> ScaleRef {
        match &self.0 {
            Raw::Deployment(d) => ScaleRef {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: d.name_any(),
            },
        }
    }

    /// Its `metadata.generation`: a hub that applied a release waits for a Rollout that has
    /// observed it.
    pub fn generation(&self) -> i64 {
        match &self.0 {
            Raw::Deployment(d) => d.metadata.generation.unwrap_or(0),
        }
    }

    pub fn resource_version(&self) -> Option<String> {
        match &self.0 {
            Raw::Deployment(d) => d.resource_version(),
        }
    }

    fn owned_by(&self, rollout: &Rollout) -> bool {
        let owners = match &self.0 {
            Raw::Deployment(d) => d.owner_references(),
        };
        owners
            .iter()
            .any(|o| Some(&o.uid) == rollout.uid().as_ref())
    }

    /// A track as the planner sees it: its revision, desired and ready pods.
    pub fn track(&self) -> Option<Track> {
        match &self.0 {
            Raw::Deployment(d) => crate::workload::deployment::observe_track(d),
        }
    }
}

/// An object as a `scaleTargetRef` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

impl ScaleRef {
    /// The Rollout itself, which HPAs scale through its `scale` subresource.
    pub fn rollout(rollout: &Rollout) -> ScaleRef {
        use kube::Resource;
        ScaleRef {
            api_version: Rollout::api_version(&()).into_owned(),
            kind: Rollout::kind(&()).into_owned(),
            name: rollout.name_any(),
        }
    }

    /// Whether a `scaleTargetRef` with these fields names this object: the same kind and name,
    /// and the same API group (any version of it).
    pub fn matches(&self, api_version: Option<&str>, kind: &str, name: &str) -> bool {
        let group = |v: &str| v.rsplit_once('/').map_or("", |(g, _)| g).to_string();
        kind == self.kind
            && name == self.name
            && group(api_version.unwrap_or_default()) == group(&self.api_version)
    }
}

/// The caches of every workload kind, and whether they are filled.
pub struct Stores {
    deployments: deployment::Store,
    pub ready: CacheReady,
}

/// Watches every workload kind; the stream names the Rollout each change concerns (the owner
/// of a track, or the driver of an annotated target).
pub fn watch(
    client: &Client,
    settings: &Settings,
    filled: &Caches,
) -> (
    Stores,
    impl Stream<Item = ObjectRef<Rollout>> + Send + 'static,
) {
    let (deployments, changes) = deployment::watch(client, settings, filled);
    let ready = CacheReady::of(deployments.clone());
    (Stores { deployments, ready }, changes)
}

/// The Rollout's target, from the cache.
pub fn target(ctx: &Context, rollout: &Rollout) -> Option<Object> {
    let name = &rollout.spec.target_ref.name;
    get(ctx, rollout, name)
}

/// The Rollout's `kind` track from the cache: `Ok(None)` when there is none, an error naming
/// the field when an object of that name exists and is not the Rollout's.
pub fn track(
    ctx: &Context,
    rollout: &Rollout,
    kind: TrackKind,
) -> Result<Option<Object>, crate::plan::SpecError> {
    let name = track_name(&rollout.spec.target_ref.name, kind);
    match get(ctx, rollout, &name) {
        None => Ok(None),
        Some(o) if o.owned_by(rollout) => Ok(Some(o)),
        Some(_) => Err(crate::plan::SpecError::new(
            "spec.targetRef.name",
            format!(
                "{} {name:?} exists and is not owned by this Rollout; rename or remove it",
                rollout.spec.target_ref.kind
            ),
        )),
    }
}

fn get(ctx: &Context, rollout: &Rollout, name: &str) -> Option<Object> {
    let ns = rollout.namespace().unwrap_or_default();
    let at = ObjectRef::new(name).within(&ns);
    match Kind::of(rollout) {
        Kind::Deployment => ctx
            .workloads
            .deployments
            .get(&at)
            .map(|d| Object(Raw::Deployment(d))),
    }
}

/// What a track should be.
pub struct TrackSpec<'a> {
    pub kind: TrackKind,
    pub template: &'a PodTemplateSpec,
    pub revision: &'a str,
    pub replicas: i32,
}

/// Writes a track built from `target`. An `edited` track (changed by hand) is replaced,
/// conditional on the version read, so it becomes exactly the recorded revision again; any
/// other is applied, keeping fields other managers added.
pub async fn write_track(
    ctx: &Context,
    rollout: &Rollout,
    target: &Object,
    track: TrackSpec<'_>,
    edited: Option<&Object>,
) -> Result<Object, Error> {
    match &target.0 {
        Raw::Deployment(d) => deployment::write_track(ctx, rollout, d, track, edited).await,
    }
}

/// Sets the target's annotations (rollgate's) and, if given, its replicas.
pub async fn hold_target(
    ctx: &Context,
    target: &Object,
    annotations: &BTreeMap<&str, String>,
    replicas: Option<i32>,
) -> Result<(), Error> {
    match &target.0 {
        Raw::Deployment(d) => deployment::hold(ctx, d, annotations, replicas).await,
    }
}

/// Gives the target `replicas` back and removes rollgate's annotations, as a plain update under
/// another field manager: the replicas stay when rollgate's apply ownership goes, and Git can
/// take the field over again.
pub async fn release_target(ctx: &Context, target: &Object, replicas: i32) -> Result<(), Error> {
    match &target.0 {
        Raw::Deployment(d) => deployment::release(ctx, d, replicas).await,
    }
}

/// The target's own ready pods (not the tracks'), counted from the pods themselves.
pub async fn target_ready_pods(ctx: &Context, target: &Object) -> Result<usize, Error> {
    match &target.0 {
        Raw::Deployment(d) => deployment::own_ready_pods(ctx, d).await,
    }
}

/// A member cluster's target, as the hub of a Release sees it: through the member's own
/// client and credential, never the hub's caches.
pub mod member {
    use kube::Client;

    use super::{Kind, deployment};
    use crate::api::{ContainerImage, Rollout};

    /// The images of the member Rollout's target; `None` when the target does not exist.
    pub async fn images(
        client: &Client,
        rollout: &Rollout,
    ) -> Result<Option<Vec<ContainerImage>>, kube::Error> {
        match Kind::of(rollout) {
            Kind::Deployment => deployment::member_images(client, rollout).await,
        }
    }

    /// Server-side applies `images` to the member Rollout's target under `manager`, owning
    /// only those image fields; returns the generation the target reached.
    pub async fn apply_images(
        client: &Client,
        rollout: &Rollout,
        images: &[ContainerImage],
        manager: &str,
    ) -> Result<i64, kube::Error> {
        match Kind::of(rollout) {
            Kind::Deployment => {
                deployment::apply_member_images(client, rollout, images, manager).await
            }
        }
    }
}

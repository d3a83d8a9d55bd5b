//! The HTTPRoute router's reads and writes. The route is read as plain JSON (the published
//! Gateway API crate is built for an older kube); what to write is decided by the core's
//! `traffic::http_route`. rollgate never writes a route's status: its Gateway does.

use k8s_openapi::api::core::v1::Service;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde_json::{Value, json};

use crate::api::keys::MANAGED_BY;
use crate::api::{HttpRouteRef, Rollout};
use crate::controller::{Context, Error};
use crate::plan::SpecError;
use crate::traffic::http_route::{accepted, managed_spec, share_of, with_share};
use crate::traffic::{Share, services};
use crate::workload::{FIELD_MANAGER, TrackKind};

/// A user's route is retried this many times when another writer changed it in between.
const CONFLICT_ATTEMPTS: usize = 3;

/// The route and the Services as read before the decision.
pub struct Seen {
    namespace: String,
    config: HttpRouteRef,
    route: Option<DynamicObject>,
    user_service: Service,
    stable: Option<Service>,
    canary: Option<Service>,
}

impl Seen {
    /// The share the route carries once every parent Gateway accepted its generation.
    pub fn routed(&self) -> Option<Share> {
        let route = serde_json::to_value(self.route.as_ref()?).ok()?;
        accepted(&route, &self.namespace)
            .then(|| share_of(&route["spec"], &self.config.service))
            .flatten()
    }
}

fn routes(ctx: &Context, namespace: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute");
    let resource = ApiResource::from_gvk_with_plural(&gvk, "httproutes");
    Api::namespaced_with(ctx.client.clone(), namespace, &resource)
}

/// Reads the route and the Services. A missing or unusable one is the spec's error, named by
/// its field, as a missing target is.
pub async fn read(ctx: &Context, rollout: &Rollout) -> Result<Result<Seen, SpecError>, Error> {
    let config = rollout
        .spec
        .traffic
        .as_ref()
        .expect("Router::HttpRoute comes from spec.traffic")
        .http_route
        .clone();
    let namespace = rollout.namespace().unwrap_or_default();
    let services: Api<Service> = Api::namespaced(ctx.client.clone(), &namespace);
    let Some(user_service) = services.get_opt(&config.service).await? else {
        return Ok(Err(SpecError::new(
            "spec.traffic.httpRoute.service",
            format!(
                "Service {:?} not found in namespace {namespace:?}",
                config.service
            ),
        )));
    };
    let stable = services
        .get_opt(&services::name(&config.service, TrackKind::Stable))
        .await?;
    let canary = services
        .get_opt(&services::name(&config.service, TrackKind::Canary))
        .await?;
    let route = match routes(ctx, &namespace).get_opt(&config.name).await {
        Ok(route) => route,
        Err(kube::Error::Api(e)) if e.code == 404 => {
            return Ok(Err(SpecError::new(
                "spec.traffic",
                "the Gateway API's HTTPRoute is not installed in this cluster",
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let field = "spec.traffic.httpRoute.name";
    match (&route, &config.managed) {
        (None, None) => {
            return Ok(Err(SpecError::new(
                field,
                format!(
                    "HTTPRoute {:?} not found in namespace {namespace:?} (set managed to have rollgate create it)",
                    config.name
                ),
            )));
        }
        (Some(r), Some(_)) if !owned(r, rollout) => {
            return Ok(Err(SpecError::new(
                field,
                format!(
                    "HTTPRoute {:?} exists and is not owned by this Rollout; remove managed to use it as yours, or rename",
                    config.name
                ),
            )));
        }
        (Some(r), None) => {
            // Every share the stages will ask for must fit the route as written.
            let spec = &r.data["spec"];
            for (i, stage) in rollout.spec.stages.iter().enumerate() {
                let share = Share {
                    weight: stage.weight,
                    header: stage.header.clone(),
                };
                if let Err(m) = with_share(spec, &config.service, &share) {
                    let at = if stage.header.is_some() {
                        format!("spec.stages[{i}].header")
                    } else {
                        field.to_string()
                    };
                    return Ok(Err(SpecError::new(
                        at,
                        format!("HTTPRoute {:?}: {m}", config.name),
                    )));
                }
            }
        }
        _ => {}
    }
    Ok(Ok(Seen {
        namespace,
        config,
        route,
        user_service,
        stable,
        canary,
    }))
}

fn owned(route: &DynamicObject, rollout: &Rollout) -> bool {
    route
        .owner_references()
        .iter()
        .any(|o| Some(&o.uid) == rollout.uid().as_ref())
}

/// The tracks' Services first (a route naming them must find them), then the share.
pub async fn write(
    ctx: &Context,
    rollout: &Rollout,
    seen: &Seen,
    share: Option<&Share>,
    adopted: bool,
) -> Result<(), Error> {
    let owner = rollout
        .controller_owner_ref(&())
        .expect("a stored Rollout has a name and uid");
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &seen.namespace);
    for (kind, live) in [
        (TrackKind::Stable, &seen.stable),
        (TrackKind::Canary, &seen.canary),
    ] {
        let built = services::build(&seen.user_service, kind, adopted, owner.clone());
        if live.as_ref().is_some_and(|l| services::as_built(l, &built)) {
            continue;
        }
        let mut value = serde_json::to_value(&built).expect("Services serialize");
        value["apiVersion"] = json!("v1");
        value["kind"] = json!("Service");
        api.patch(
            &built.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(value),
        )
        .await?;
    }
    let Some(share) = share else {
        return Ok(());
    };
    let service = &seen.config.service;
    let current = seen.route.as_ref().map(|r| &r.data["spec"]);
    match &seen.config.managed {
        Some(managed) => {
            let spec = managed_spec(managed, service, share);
            let same = current.is_some_and(|c| {
                share_of(c, service).as_ref() == Some(share)
                    && c["parentRefs"] == spec["parentRefs"]
                    && c.get("hostnames").unwrap_or(&json!([])) == &spec["hostnames"]
            });
            if same {
                return Ok(());
            }
            let route = json!({
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "HTTPRoute",
                "metadata": {
                    "name": seen.config.name,
                    "namespace": seen.namespace,
                    "labels": {MANAGED_BY: "rollgate"},
                    "ownerReferences": [owner],
                },
                "spec": spec,
            });
            routes(ctx, &seen.namespace)
                .patch(
                    &seen.config.name,
                    &PatchParams::apply(FIELD_MANAGER).force(),
                    &Patch::Apply(route),
                )
                .await?;
            Ok(())
        }
        None => write_user_route(ctx, seen, share).await,
    }
}

/// Sets the weights in the user's route with an update conditional on the version read: a
/// concurrent edit makes it fail, and the next attempt starts from that edit, so another
/// writer's change is never overwritten.
async fn write_user_route(ctx: &Context, seen: &Seen, share: &Share) -> Result<(), Error> {
    let api = routes(ctx, &seen.namespace);
    let name = &seen.config.name;
    let mut route = seen.route.clone();
    for _ in 0..CONFLICT_ATTEMPTS {
        let Some(mut current) = route.take() else {
            return Err(Error::RouteUnusable(format!("HTTPRoute {name:?} is gone")));
        };
        let spec: Value = current.data["spec"].clone();
        let wanted = with_share(&spec, &seen.config.service, share)
            .map_err(|m| Error::RouteUnusable(format!("HTTPRoute {name:?}: {m}")))?;
        if wanted == spec {
            return Ok(());
        }
        current.data["spec"] = wanted;
        // The status is the Gateway's: a PUT on the route leaves it alone.
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        match api.replace(name, &params, &current).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(e)) if e.code == 409 => {
                route = api.get_opt(name).await?;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Error::RouteConflict(name.clone()))
}

//! Whether the API server serves rollgate's CRDs. A controller started before they are
//! installed says so (log and `/readyz`) and starts its watches once they are served, without
//! a restart: kube's watchers would only retry a missing resource in silence, and the
//! Controller's runner, held until its cache fills, would never see a shutdown.

use std::time::{Duration, Instant};

use kube::{Client, CustomResourceExt, Resource};
use tokio::sync::watch;

use super::serve::{Health, INSTALL_CRDS, Readiness};
use crate::api::{Freeze, Incident, IncidentChannel, Release, Rollout};

/// How often the API server is asked while a CRD is missing.
const CHECK_EVERY: Duration = Duration::from_secs(2);
/// How often the missing CRDs are logged again while they are missing.
const LOG_EVERY: Duration = Duration::from_secs(30);

/// The CRDs the controller watches or reads, by name (`<plural>.<group>`), with their plurals.
fn required() -> [(String, String); 5] {
    [
        (Rollout::crd_name().to_owned(), Rollout::plural(&()).into()),
        (
            Incident::crd_name().to_owned(),
            Incident::plural(&()).into(),
        ),
        (
            IncidentChannel::crd_name().to_owned(),
            IncidentChannel::plural(&()).into(),
        ),
        (Freeze::crd_name().to_owned(), Freeze::plural(&()).into()),
        (Release::crd_name().to_owned(), Release::plural(&()).into()),
    ]
}

/// The names of the required CRDs whose resources are not among `served` (the resource names
/// the API server lists for rollgate's group version).
pub fn missing(served: &[String]) -> Vec<String> {
    required()
        .into_iter()
        .filter(|(_, plural)| !served.contains(plural))
        .map(|(name, _)| name)
        .collect()
}

/// The resources the API server serves in rollgate's group version (none if it serves no
/// such group version).
async fn served(client: &Client) -> Result<Vec<String>, kube::Error> {
    match client
        .list_api_group_resources(&Rollout::api_version(&()))
        .await
    {
        Ok(list) => Ok(list.resources.into_iter().map(|r| r.name).collect()),
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(vec![]),
        Err(e) => Err(e),
    }
}

/// Returns true once every CRD is served, false if `stop` comes first. Meanwhile `/readyz`
/// says what is missing, and the log names it at once and every [`LOG_EVERY`].
pub async fn wait_until_served(
    client: &Client,
    health: &Health,
    stop: &mut watch::Receiver<bool>,
) -> bool {
    let mut logged: Option<(Instant, Readiness)> = None;
    loop {
        let readiness = match served(client).await {
            Ok(served) => match missing(&served) {
                names if names.is_empty() => {
                    if logged.is_some() {
                        tracing::info!("the CRDs are served now: starting");
                    }
                    return true;
                }
                names => Readiness::MissingCrds(names),
            },
            Err(e) => Readiness::Unchecked(e.to_string()),
        };
        let due = logged.as_ref().is_none_or(|(at, last)| {
            at.elapsed() >= LOG_EVERY
                || std::mem::discriminant(last) != std::mem::discriminant(&readiness)
        });
        if due {
            match &readiness {
                Readiness::MissingCrds(names) => tracing::warn!(
                    missing = %names.join(", "),
                    "the rollgate CRDs are not installed ({}): {INSTALL_CRDS}; waiting for them, \
                     not ready until then",
                    names.join(", ")
                ),
                other => tracing::warn!(
                    problem = %other.probe().1,
                    "cannot check that the rollgate CRDs are installed; retrying"
                ),
            }
            logged = Some((Instant::now(), readiness.clone()));
        }
        health.set(readiness);
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return false,
        }
    }
}

/// Applies every CRD (server-side, field manager `manager`) and waits until each is
/// established: what the chart does, for the demo, the tests and scripts.
pub async fn install(client: &kube::Client, manager: &str) -> Result<(), kube::Error> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Api, Patch, PatchParams};
    use kube::runtime::wait::{await_condition, conditions::is_crd_established};
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in crate::api::crds() {
        let name = kube::ResourceExt::name_any(&crd);
        api.patch(
            &name,
            &PatchParams::apply(manager).force(),
            &Patch::Apply(&crd),
        )
        .await?;
        let established = await_condition(api.clone(), &name, is_crd_established());
        // The API server establishes a CRD within a second or two; a minute means it will not.
        match tokio::time::timeout(std::time::Duration::from_secs(60), established).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(kube::Error::Service(Box::new(e))),
            Err(_) => {
                return Err(kube::Error::Service(
                    format!("CRD {name} not established within 60 s").into(),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn names_every_crd_whose_resource_is_not_served() {
        assert_eq!(
            missing(&[]),
            [
                "rollouts.rollgate.dev",
                "incidents.rollgate.dev",
                "incidentchannels.rollgate.dev",
                "freezes.rollgate.dev",
                "releases.rollgate.dev"
            ]
        );
        assert_eq!(
            missing(&served(&["rollouts", "rollouts/status", "incidents"])),
            [
                "incidentchannels.rollgate.dev",
                "freezes.rollgate.dev",
                "releases.rollgate.dev"
            ]
        );
        assert!(
            missing(&served(&[
                "rollouts",
                "rollouts/status",
                "incidents",
                "incidents/status",
                "incidentchannels",
                "freezes",
                "releases"
            ]))
            .is_empty()
        );
    }
}

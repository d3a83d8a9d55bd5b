//! The router's I/O: reads the share of requests in effect before a decision, and sets the
//! share the decision asks for. What a router means (its capacity rule, when a share is in
//! effect) is the core's `traffic::Router`; each router's reads and writes are a file here.

mod http_route;

use super::{Context, Error};
use crate::api::Rollout;
use crate::plan::SpecError;
use crate::traffic::{Router, Share};

/// What the router saw before the decision: the share in effect, and what the write needs.
pub enum Reading {
    Pods,
    HttpRoute(Box<http_route::Seen>),
}

impl Reading {
    /// The canary's share the router reports in effect; `None` when it reports none.
    pub fn routed(&self) -> Option<Share> {
        match self {
            // Requests follow ready pods; there is nothing to read beyond the tracks.
            Reading::Pods => None,
            Reading::HttpRoute(seen) => seen.routed(),
        }
    }
}

/// Reads what the router needs; a missing or unusable object of the router's is the spec's
/// error (named by its field), as a missing target is.
pub async fn read(
    ctx: &Context,
    rollout: &Rollout,
    router: &Router,
) -> Result<Result<Reading, SpecError>, Error> {
    Ok(match router {
        Router::Pods => Ok(Reading::Pods),
        Router::HttpRoute(_) => http_route::read(ctx, rollout)
            .await?
            .map(|seen| Reading::HttpRoute(Box::new(seen))),
    })
}

/// Sets the canary's share, if the decision names one. `adopted`: the Rollout has a stable
/// revision (the tracks serve, not the target).
pub async fn route(
    ctx: &Context,
    rollout: &Rollout,
    reading: &Reading,
    share: Option<&Share>,
    adopted: bool,
) -> Result<(), Error> {
    match reading {
        // The tracks' pod counts are the split; `apply` writes them.
        Reading::Pods => Ok(()),
        Reading::HttpRoute(seen) => http_route::write(ctx, rollout, seen, share, adopted).await,
    }
}

//! The router's I/O: sets the canary's share of requests a decision asks for, and reads the
//! share in effect for the next one. Which router, and what "in effect" means for it, is the
//! core's `traffic::Router`.

use super::{Context, Error};
use crate::api::Rollout;
use crate::traffic::Router;

/// The canary's share (percent) the router reports in effect; `None` when it reports none.
pub fn routed(ctx: &Context, rollout: &Rollout, router: &Router) -> Option<i32> {
    let _ = (ctx, rollout);
    match router {
        // Requests follow ready pods; there is nothing to read beyond the tracks.
        Router::Pods => None,
    }
}

/// Sets the canary's share, if the decision names one.
pub async fn route(
    ctx: &Context,
    rollout: &Rollout,
    router: &Router,
    weight: Option<i32>,
) -> Result<(), Error> {
    let _ = (ctx, rollout, weight);
    match router {
        // The tracks' pod counts are the split; `apply` writes them.
        Router::Pods => Ok(()),
    }
}

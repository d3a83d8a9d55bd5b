//! Crash points for tests: `ROLLGATE_CRASH_AT=<point>` makes the controller abort the moment it
//! reaches `<point>`, exactly between two writes, the way a SIGKILL or a node loss would. Unset
//! (always, outside tests) it costs one atomic load.

use std::sync::OnceLock;

/// Between writing a rollback decision to the Rollout's status and creating its Incident.
pub const AFTER_ROLLBACK_STATUS: &str = "after-rollback-status";
/// Between creating an Incident and anything else the reconcile does.
pub const AFTER_INCIDENT_CREATED: &str = "after-incident-created";

/// Between writing a Release's decided status (a member's previous images) and its first act.
pub const AFTER_RELEASE_STATUS: &str = "after-release-status";
/// Between a hub's apply to a member and recording it in the Release's status.
pub const AFTER_MEMBER_APPLY: &str = "after-member-apply";

pub fn point(name: &str) {
    static AT: OnceLock<Option<String>> = OnceLock::new();
    let at = AT.get_or_init(|| std::env::var("ROLLGATE_CRASH_AT").ok());
    if at.as_deref() == Some(name) {
        eprintln!("ROLLGATE_CRASH_AT: aborting at {name}");
        std::process::abort();
    }
}

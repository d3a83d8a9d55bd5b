//! The stable and canary workloads: revisions, how the tracks are built from the user's
//! Deployment, and how they are read back (DESIGN.md §7).
//!
//! The user's Deployment is the desired release. The controller owns `<target>-stable` and
//! `<target>-canary`, Deployments whose pods keep the target's labels (so an existing Service
//! selects both and the ready-pod share is the traffic share) plus `rollgate.dev/track`.

pub mod config;
pub mod deployment;
pub mod record;
pub mod retention;
mod revision;
pub mod selector;
mod tracks;

pub use revision::revision_of;
pub use tracks::{FIELD_MANAGER, TrackKind, clean_template, serving, track_name};

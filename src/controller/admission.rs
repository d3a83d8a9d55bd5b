//! The concurrency cap: at most N Rollouts in a canary phase at once, cluster-wide and per
//! namespace; the rest wait `Queued`, first come first served.
//!
//! The decision is the planner's ([`crate::plan::admission`]); this is the controller's memory
//! of slots it granted moments ago that the cache may not show yet (reservations), so two
//! reconciles racing for the last slot cannot both take it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

pub use crate::plan::admission::{Caps, Slot, SlotState, admitted, in_flight};

/// A reservation is trusted this long; by then the Rollout's status shows it in flight.
const RESERVATION_TTL: Duration = Duration::from_secs(30);

/// Slots granted by this controller and not yet visible in the cache: each remembers the
/// resourceVersion the granting reconcile started from.
#[derive(Default)]
pub struct Reservations(HashMap<(String, String), (Option<String>, Instant)>);

impl Reservations {
    pub fn grant(&mut self, namespace: &str, name: &str, from_version: Option<String>) {
        self.0.insert(
            (namespace.into(), name.into()),
            (from_version, Instant::now()),
        );
    }

    /// The cache's view plus live reservations (counted as in flight). A reservation ends once
    /// the cache shows a newer version of its Rollout: from then on the cache tells the truth,
    /// including a canary that has already finished (holding its slot for the whole TTL would
    /// throttle a queue to one canary per slot per TTL).
    pub fn overlay(&mut self, mut slots: Vec<Slot>) -> Vec<Slot> {
        self.0.retain(|(ns, name), (from, at)| {
            let caught_up = slots
                .iter()
                .find(|s| s.namespace == *ns && s.name == *name)
                .is_some_and(|s| s.version != *from);
            !caught_up && at.elapsed() < RESERVATION_TTL
        });
        for (ns, name) in self.0.keys() {
            match slots
                .iter_mut()
                .find(|s| s.namespace == *ns && s.name == *name)
            {
                Some(s) => s.state = SlotState::InFlight,
                None => slots.push(Slot {
                    namespace: ns.clone(),
                    name: name.clone(),
                    state: SlotState::InFlight,
                    version: None,
                }),
            }
        }
        slots
    }
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }
    fn slot(ns: &str, name: &str, state: SlotState) -> Slot {
        Slot {
            namespace: ns.into(),
            name: name.into(),
            state,
            version: Some("1".into()),
        }
    }
    #[test]
    fn reservations_count_until_the_cache_catches_up() {
        let mut r = Reservations::default();
        r.grant("a", "x", Some("1".into()));
        let slots = r.overlay(vec![slot("a", "x", SlotState::Queued(t(1)))]);
        assert_eq!(
            slots[0].state,
            SlotState::InFlight,
            "the cache still shows version 1"
        );
        let slots = r.overlay(vec![]);
        assert_eq!(slots.len(), 1, "not in the cache yet: reserved");
        assert_eq!(slots[0].state, SlotState::InFlight);
    }

    #[test]
    fn a_newer_version_in_the_cache_ends_the_reservation() {
        let mut r = Reservations::default();
        r.grant("a", "x", Some("1".into()));
        let finished = Slot {
            version: Some("7".into()),
            ..slot("a", "x", SlotState::Idle)
        };
        let slots = r.overlay(vec![finished.clone()]);
        assert_eq!(
            slots[0].state,
            SlotState::Idle,
            "the canary already finished"
        );
        let busy = [finished, slot("a", "y", SlotState::InFlight)];
        let caps = Caps {
            total: 2,
            per_namespace: 2,
        };
        assert!(
            admitted(("a", "next"), t(9), &r.overlay(busy.to_vec()), caps),
            "the finished canary's slot is free again"
        );
    }
}

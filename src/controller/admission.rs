//! The concurrency cap: at most N Rollouts in a canary phase at once, cluster-wide and per
//! namespace; the rest wait `Queued`, first come first served.
//!
//! The decision is pure ([`admitted`]) over what the Rollout cache shows plus the slots this
//! controller granted moments ago that the cache may not show yet (reservations), so two
//! reconciles racing for the last slot cannot both take it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jiff::Timestamp;

use crate::api::{Phase, RolloutStatus};

/// A reservation is trusted this long; by then the Rollout's status shows it in flight.
const RESERVATION_TTL: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
pub struct Caps {
    pub total: usize,
    pub per_namespace: usize,
}

impl Default for Caps {
    /// Generous enough not to get in the way of a team; tight enough that one shared config
    /// edit cannot put a whole cluster in canary at once.
    fn default() -> Self {
        Caps {
            total: 50,
            per_namespace: 10,
        }
    }
}

/// One Rollout as the cap sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Slot {
    pub namespace: String,
    pub name: String,
    pub state: SlotState,
    /// The cached object's resourceVersion: tells whether the cache has caught up with a grant.
    pub version: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SlotState {
    InFlight,
    Queued(Timestamp),
    /// Neither holds nor waits for a slot (Healthy, Degraded, new...).
    Idle,
}

/// Whether a status holds a canary slot.
pub fn in_flight(st: &RolloutStatus) -> bool {
    match st.phase {
        Phase::Progressing | Phase::RollingBack => true,
        Phase::Paused => st.stage.is_some(),
        _ => false,
    }
}

/// Whether `me` (queued since `since`) may start a canary now. Earlier arrivals go first; one
/// whose namespace is full does not block others.
pub fn admitted(me: (&str, &str), since: Timestamp, others: &[Slot], caps: Caps) -> bool {
    let mut total = 0;
    let mut per_ns: HashMap<&str, usize> = HashMap::new();
    let mut queue: Vec<(Timestamp, &str, &str)> = vec![(since, me.0, me.1)];
    for s in others
        .iter()
        .filter(|s| (s.namespace.as_str(), s.name.as_str()) != me)
    {
        match s.state {
            SlotState::InFlight => {
                total += 1;
                *per_ns.entry(&s.namespace).or_default() += 1;
            }
            SlotState::Queued(t) => queue.push((t, &s.namespace, &s.name)),
            SlotState::Idle => {}
        }
    }
    queue.sort();
    for (_, ns, name) in queue {
        let used = per_ns.entry(ns).or_default();
        if total < caps.total && *used < caps.per_namespace {
            if (ns, name) == me {
                return true;
            }
            total += 1;
            *used += 1;
        }
    }
    false
}

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
    const CAPS: Caps = Caps {
        total: 3,
        per_namespace: 2,
    };

    #[test]
    fn free_slots_admit_and_full_ones_queue() {
        assert!(admitted(("a", "r1"), t(10), &[], CAPS));
        let busy = [
            slot("a", "x", SlotState::InFlight),
            slot("a", "y", SlotState::InFlight),
        ];
        assert!(!admitted(("a", "r1"), t(10), &busy, CAPS), "namespace cap");
        assert!(
            admitted(("b", "r1"), t(10), &busy, CAPS),
            "another namespace still has room"
        );
        let full = [
            slot("b", "x", SlotState::InFlight),
            slot("c", "y", SlotState::InFlight),
            slot("d", "z", SlotState::InFlight),
        ];
        assert!(!admitted(("a", "r1"), t(10), &full, CAPS), "cluster cap");
    }

    #[test]
    fn first_come_first_served() {
        let others = [
            slot("a", "x", SlotState::InFlight),
            slot("b", "early", SlotState::Queued(t(5))),
        ];
        let caps = Caps {
            total: 2,
            per_namespace: 2,
        };
        assert!(
            !admitted(("c", "late"), t(9), &others, caps),
            "the earlier arrival takes the last slot"
        );
        assert!(admitted(("b", "early"), t(5), &others, caps));
    }

    #[test]
    fn a_full_namespace_does_not_block_the_queue() {
        let others = [
            slot("a", "x", SlotState::InFlight),
            slot("a", "y", SlotState::InFlight),
            slot("a", "early", SlotState::Queued(t(1))),
        ];
        assert!(admitted(("b", "late"), t(9), &others, CAPS));
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

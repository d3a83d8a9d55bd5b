//! The concurrency cap: at most N Rollouts in a canary phase at once, cluster-wide and per
//! namespace; the rest wait `Queued`, first come first served. Decided purely, over what the
//! Rollout cache shows plus the slots the controller granted moments ago that the cache may
//! not show yet, so two reconciles racing for the last slot cannot both take it.

use std::collections::HashMap;

use jiff::Timestamp;

use crate::api::{Phase, RolloutStatus};

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
}

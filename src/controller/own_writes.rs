//! The controller's own status writes against a cache that has not seen them yet.
//!
//! A reconcile that wrote a Rollout's status often triggers another at once (its tracks
//! patches come back as events) before the watch has delivered the new status. Acting on the
//! old status would decide again from stale memory: a rollback decided twice, a history entry
//! lost when the older status is written back over the newer one. So a reconcile that finds
//! the very version an earlier reconcile already wrote past waits for the newer one; its
//! watch event wakes the Rollout again within milliseconds.

use std::collections::HashMap;
use std::sync::Mutex;

type Key = (String, String);

#[derive(Default)]
pub struct OwnWrites(Mutex<HashMap<Key, String>>);

impl OwnWrites {
    /// A reconcile that started from version `from` wrote a status with version `to`.
    pub fn wrote(&self, namespace: &str, name: &str, from: Option<String>, to: Option<String>) {
        let (Some(from), true) = (from, to.is_some()) else {
            return;
        };
        if to.as_deref() == Some(from.as_str()) {
            return; // nothing changed: the cache is not behind
        }
        self.0
            .lock()
            .expect("own writes lock")
            .insert((namespace.into(), name.into()), from);
    }

    /// Whether `current` (the cached version) is one this controller already wrote past.
    pub fn is_stale(&self, namespace: &str, name: &str, current: Option<&str>) -> bool {
        let mut writes = self.0.lock().expect("own writes lock");
        let key = (namespace.to_string(), name.to_string());
        match writes.get(&key) {
            Some(from) if Some(from.as_str()) == current => true,
            Some(_) => {
                writes.remove(&key);
                false
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Option<String> {
        Some(s.into())
    }

    #[test]
    fn the_version_written_past_is_stale_until_a_newer_one_arrives() {
        let w = OwnWrites::default();
        w.wrote("ns", "app", v("10"), v("11"));
        assert!(w.is_stale("ns", "app", Some("10")));
        assert!(w.is_stale("ns", "app", Some("10")), "still the old one");
        assert!(!w.is_stale("ns", "app", Some("11")));
        assert!(
            !w.is_stale("ns", "app", Some("10")),
            "forgotten once caught up"
        );
        assert!(!w.is_stale("ns", "other", Some("10")));
    }

    #[test]
    fn a_write_that_changed_nothing_leaves_the_cache_current() {
        let w = OwnWrites::default();
        w.wrote("ns", "app", v("10"), v("10"));
        assert!(!w.is_stale("ns", "app", Some("10")));
        w.wrote("ns", "app", None, v("11"));
        assert!(!w.is_stale("ns", "app", None));
    }
}

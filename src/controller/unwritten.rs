//! Gate evaluations this controller made but did not write to status: fresher passes of an
//! unchanged standing (see `plan::evaluations`). Lost on restart, by design: the next reconcile
//! then evaluates again from what status says.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::api::GateStatus;

type Key = (String, String);

#[derive(Default)]
pub struct Unwritten(Mutex<HashMap<Key, Vec<GateStatus>>>);

impl Unwritten {
    /// The latest evaluations of a Rollout's gates, as last decided.
    pub fn get(&self, namespace: &str, name: &str) -> Vec<GateStatus> {
        self.lock()
            .get(&(namespace.into(), name.into()))
            .cloned()
            .unwrap_or_default()
    }

    pub fn keep(&self, namespace: &str, name: &str, gates: &[GateStatus]) {
        let key = (namespace.to_string(), name.to_string());
        if gates.is_empty() {
            self.lock().remove(&key);
        } else {
            self.lock().insert(key, gates.to_vec());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Vec<GateStatus>>> {
        self.0.lock().expect("unwritten evaluations lock")
    }
}

//! Which config snapshots stay: every snapshot a track or a kept revision mounts, and the
//! newest few others per live object (a retry of a recent revision finds its config still
//! there). Decided here, from plain names and times; the controller deletes the rest.

use std::collections::{BTreeSet, HashMap};

use jiff::Timestamp;
use k8s_openapi::api::core::v1::PodTemplateSpec;

use super::config::references;

/// Snapshots kept per live object beyond those in use.
pub const SNAPSHOT_HISTORY: usize = 3;

/// One snapshot as the cache knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub name: String,
    /// The live ConfigMap or Secret it copies.
    pub of: String,
    pub created: Option<Timestamp>,
}

/// Names of everything the given templates mount (snapshots among them).
pub fn mounted<'a>(templates: impl IntoIterator<Item = &'a PodTemplateSpec>) -> BTreeSet<String> {
    templates
        .into_iter()
        .flat_map(references)
        .map(|r| r.name)
        .collect()
}

/// The snapshots to delete: not in use, and older than the newest [`SNAPSHOT_HISTORY`] unused
/// ones of the same live object.
pub fn doomed(mut snapshots: Vec<Snapshot>, in_use: &BTreeSet<String>) -> Vec<String> {
    snapshots.sort_by_key(|s| std::cmp::Reverse(s.created));
    let mut kept: HashMap<String, usize> = HashMap::new();
    let mut out = vec![];
    for s in snapshots {
        if in_use.contains(&s.name) {
            continue;
        }
        let n = kept.entry(s.of).or_default();
        if *n < SNAPSHOT_HISTORY {
            *n += 1;
        } else {
            out.push(s.name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(name: &str, of: &str, minute: i64) -> Snapshot {
        Snapshot {
            name: name.into(),
            of: of.into(),
            created: Some(Timestamp::from_second(minute * 60).unwrap()),
        }
    }

    fn used(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn snapshots_in_use_are_never_doomed_however_old() {
        let all: Vec<Snapshot> = (0..8).map(|i| snap(&format!("a-{i}"), "a", i)).collect();
        let doomed = doomed(all, &used(&["a-0", "a-1"]));
        assert!(!doomed.contains(&"a-0".to_string()));
        assert!(!doomed.contains(&"a-1".to_string()));
    }

    #[test]
    fn the_newest_unused_few_stay_per_live_object() {
        // Table: (snapshots of "a" by minute, in use) → doomed.
        let cases: [(&[i64], &[&str], &[&str]); 4] = [
            (&[1, 2, 3], &[], &[]),
            (&[1, 2, 3, 4], &[], &["a-1"]),
            (&[1, 2, 3, 4, 5], &["a-1"], &["a-2"]),
            (&[1, 2, 3, 4, 5, 6], &["a-6"], &["a-1", "a-2"]),
        ];
        for (minutes, in_use, want) in cases {
            let all = minutes
                .iter()
                .map(|m| snap(&format!("a-{m}"), "a", *m))
                .collect();
            let mut got = doomed(all, &used(in_use));
            got.sort();
            assert_eq!(got, want, "minutes {minutes:?}, in use {in_use:?}");
        }
    }

    #[test]
    fn each_live_object_keeps_its_own_history() {
        let all = vec![
            snap("a-1", "a", 1),
            snap("a-2", "a", 2),
            snap("a-3", "a", 3),
            snap("b-1", "b", 4),
            snap("b-2", "b", 5),
            snap("b-3", "b", 6),
            snap("b-4", "b", 7),
        ];
        assert_eq!(doomed(all, &BTreeSet::new()), ["b-1"]);
    }
}

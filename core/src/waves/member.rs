//! One member cluster's step: what the hub knows of it (its record in status) plus what it
//! sees of it now gives its next record and the side effect it needs, if any.

use jiff::Timestamp;

use super::{Action, MemberRollout, Observation};
use crate::api::{ContainerImage, MemberSeen, MemberState, MemberStatus, Phase};

impl MemberStatus {
    pub fn waiting(cluster: &str) -> Self {
        Self {
            cluster: cluster.to_string(),
            state: MemberState::Waiting,
            previous: vec![],
            applied_generation: None,
            restored_generation: None,
            revision: None,
            started_at: None,
            healthy_at: None,
            incident: None,
            seen: None,
            message: None,
        }
    }

    /// Holds a slot of its wave: the release is being applied or run there.
    pub fn in_flight(&self) -> bool {
        matches!(self.state, MemberState::Applying | MemberState::Progressing)
    }

    /// Received the release (its apply may have landed): what a rollback must undo.
    /// Its previous images are on record before any apply, so they say it.
    pub fn received(&self) -> bool {
        self.state != MemberState::Waiting && !self.previous.is_empty()
    }
}

/// Starts `m`: records the target's images before the release, so a rollback can apply them
/// again, then asks for the apply. `None` when the member cannot be started now (unreachable,
/// no Rollout there): it waits, holding its wave.
pub(super) fn start(
    m: &mut MemberStatus,
    observation: Option<&Observation>,
    release: &[ContainerImage],
    now: Timestamp,
) -> Option<()> {
    let Some(Observation::Seen(seen)) = observation else {
        return None;
    };
    seen.rollout.as_ref()?;
    let mut previous = Vec::new();
    for c in release {
        match seen.images.iter().find(|i| i.name == c.name) {
            Some(found) => previous.push(found.clone()),
            None => {
                m.state = MemberState::Failed;
                m.message = Some(format!(
                    "the target has no container {:?}: the release cannot be applied",
                    c.name
                ));
                return Some(());
            }
        }
    }
    m.previous = previous;
    m.state = MemberState::Applying;
    m.started_at = Some(now);
    m.message = Some("applying the release".into());
    Some(())
}

/// Follows `m` from what is seen of it now; returns the side effect it still needs.
pub(super) fn follow(
    m: &mut MemberStatus,
    observation: Option<&Observation>,
    release: &[ContainerImage],
    now: Timestamp,
) -> Option<Action> {
    // `at` says when the member last looked like this: a member that looks the same is not a
    // status write every poll.
    let seen = seen_of(observation, now);
    let same = m.seen.as_ref().is_some_and(|old| {
        MemberSeen {
            at: now,
            ..old.clone()
        } == seen
    });
    if !same {
        m.seen = Some(seen);
    }
    match m.state {
        MemberState::Applying if m.applied_generation.is_none() => {
            return Some(Action::Apply {
                cluster: m.cluster.clone(),
                images: release.to_vec(),
            });
        }
        MemberState::Restoring if m.restored_generation.is_none() => {
            return Some(Action::Restore {
                cluster: m.cluster.clone(),
                images: m.previous.clone(),
            });
        }
        _ => {}
    }
    let rollout = match observation {
        Some(Observation::Seen(s)) => s.rollout.as_ref()?,
        // Unreachable: nothing is concluded, the record stands (never a pass).
        _ => return None,
    };
    match m.state {
        MemberState::Progressing | MemberState::Healthy => judge(m, rollout, now),
        MemberState::Restoring => {
            let fresh = fresh(rollout, m.restored_generation);
            let back = rollout.phase == Phase::Healthy
                && rollout.target.as_ref().map(|t| &t.revision) == rollout.stable_revision.as_ref();
            if fresh && back {
                m.state = MemberState::Restored;
                m.message = Some("back on the images it ran before the release".into());
            }
        }
        _ => {}
    }
    None
}

/// Judges a member given the release: only once its Rollout has observed the applied
/// generation (never on stale status) does its revision stand for this release.
fn judge(m: &mut MemberStatus, r: &MemberRollout, now: Timestamp) {
    if !fresh(r, m.applied_generation) {
        m.message = Some(format!(
            "waiting for the member's Rollout to observe generation {}",
            m.applied_generation.unwrap_or_default()
        ));
        return;
    }
    let revision = match &m.revision {
        Some(rev) => rev.clone(),
        None => {
            let Some(t) = &r.target else { return };
            m.revision = Some(t.revision.clone());
            t.revision.clone()
        }
    };
    let rolled_back = matches!(r.phase, Phase::RollingBack | Phase::RolledBack)
        && r.rolled_back_revision.as_deref() == Some(revision.as_str());
    if rolled_back {
        m.state = MemberState::Failed;
        m.incident = r.incident.clone();
        m.message = Some(format!("its Rollout rolled back revision {revision}"));
    } else if r.phase == Phase::Healthy && r.stable_revision.as_deref() == Some(&revision) {
        if m.state != MemberState::Healthy {
            m.healthy_at = Some(now);
        }
        m.state = MemberState::Healthy;
        m.message = Some(format!("Healthy on revision {revision}"));
    } else {
        m.message = Some(format!("{} on revision {revision}", r.phase.as_str()));
    }
}

fn fresh(r: &MemberRollout, applied: Option<i64>) -> bool {
    match (r.target.as_ref(), applied) {
        (Some(t), Some(g)) => t.generation >= g,
        _ => false,
    }
}

fn seen_of(observation: Option<&Observation>, now: Timestamp) -> MemberSeen {
    match observation {
        None => MemberSeen {
            error: Some("no cluster Secret of this name".into()),
            at: now,
            ..Default::default()
        },
        Some(Observation::Unreachable(e)) => MemberSeen {
            error: Some(e.clone()),
            at: now,
            ..Default::default()
        },
        Some(Observation::Seen(s)) => match &s.rollout {
            None => MemberSeen {
                error: Some("no such Rollout in the member".into()),
                at: now,
                ..Default::default()
            },
            Some(r) => MemberSeen {
                phase: Some(r.phase.as_str().into()),
                stage: r.stage.clone(),
                gates: r.gates.clone(),
                error: None,
                at: now,
            },
        },
    }
}

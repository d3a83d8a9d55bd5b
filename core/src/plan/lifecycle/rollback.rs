//! Rolling back, and watching stable afterwards.

use super::*;

impl Planner<'_> {
    pub(super) fn start_rollback(
        &mut self,
        spec: &Spec,
        stable: &Track,
        canary: &str,
        reason: &str,
        message: String,
    ) -> Workloads {
        self.start_rollback_with(spec, stable, canary, reason, message, vec![])
    }

    pub(super) fn start_rollback_with(
        &mut self,
        spec: &Spec,
        stable: &Track,
        canary: &str,
        reason: &str,
        message: String,
        failed: Vec<GateStatus>,
    ) -> Workloads {
        // A rollback decided now must not wait for other evaluations.
        self.wants.clear();
        self.effect(Effect::RollbackStarted);
        let (index, weight) = self
            .st
            .stage
            .as_ref()
            .map_or((0, 0), |s| (s.index, s.weight));
        self.st.rollback = Some(RollbackRecord {
            revision: canary.into(),
            reason: reason.into(),
            message: message.clone(),
            at: self.now,
            stage_index: index,
            weight,
            gates: failed,
        });
        self.st.verification = Some(Verification {
            revision: stable.revision.clone(),
            until: after(self.now, spec.verify_after_rollback),
            stable_healthy: None,
            message: None,
        });
        self.st.stage = None;
        if let Some(e) = self.st.exposure.as_mut() {
            e.weight = 0;
        }
        self.transition(
            Phase::RollingBack,
            reason,
            format!("rolling back revision {canary}: {message}"),
        );
        self.wake_at(self.now);
        self.retire_canary(spec, stable, canary.into())
    }

    /// Stable at full capacity; the canary's share to zero first, then its pods.
    fn retire_canary(&mut self, spec: &Spec, stable: &Track, revision: String) -> Workloads {
        let mut w = self.hold(spec, stable);
        let running = self
            .input
            .observed
            .canary
            .as_ref()
            .map_or(0, |c| c.replicas);
        w.canary = Some(TrackPlan {
            revision,
            replicas: self.unrouted(spec, running),
        });
        w
    }

    pub(super) fn rolling_back(&mut self, spec: &Spec, stable: &Track) -> Workloads {
        let canary = self.st.canary_revision.clone().unwrap_or_default();
        let gone = self
            .input
            .observed
            .canary
            .as_ref()
            .is_none_or(|c| c.replicas == 0 && c.ready == 0);
        if gone && stable.ready >= spec.replicas {
            let record = self.st.rollback.clone();
            let reason = record
                .as_ref()
                .map_or("RolledBack".to_string(), |r| r.reason.clone());
            let why = record.map(|r| r.message).unwrap_or_default();
            self.transition(
                Phase::RolledBack,
                &reason,
                format!("revision {canary} rolled back: {why}"),
            );
        }
        self.verify(spec, stable);
        self.retire_canary(spec, stable, canary)
    }

    pub(super) fn rolled_back(&mut self, spec: &Spec, stable: &Track) -> Workloads {
        self.verify(spec, stable);
        self.hold(spec, stable)
    }

    /// After a rollback, the gates watch stable until the verification window ends.
    pub(super) fn verify(&mut self, spec: &Spec, stable: &Track) {
        let Some(v) = self.st.verification.clone() else {
            return;
        };
        if self.now >= v.until || v.revision != stable.revision {
            return;
        }
        self.wake_at(v.until);
        // Comparisons need a canary; after a rollback only absolute gates make sense.
        let absolute: Vec<_> = spec
            .gates
            .iter()
            .enumerate()
            .filter(|(_, g)| !g.is_comparison())
            .collect();
        self.evaluate(
            absolute.iter().copied(),
            Purpose::Verification,
            &stable.revision,
        );
        let summary = tally::summarize(
            absolute.iter().map(|(_, g)| *g),
            &self.st.gates,
            &stable.revision,
            None,
        );
        // Unhealthy needs failures with data: no data alone never escalates an incident.
        let failed_with_data = summary.failed.iter().find(|g| g.verdict == Verdict::Fail);
        let verdict = if let Some(g) = failed_with_data {
            Some((
                false,
                format!(
                    "stable revision {} is unhealthy too: {}",
                    stable.revision,
                    describe_failure(g, spec)
                ),
            ))
        } else if summary.all_pass {
            Some((
                true,
                format!("stable revision {} passes every gate", stable.revision),
            ))
        } else {
            None
        };
        // The latest verdict stands: a stable that recovers inside the window is healthy again.
        if let Some((healthy, message)) = verdict.filter(|(h, _)| v.stable_healthy != Some(*h)) {
            let (t, reason) = if healthy {
                (EventType::Normal, "StableHealthy")
            } else {
                (EventType::Warning, "StableUnhealthy")
            };
            self.event(t, reason, message.clone());
            if let Some(v) = self.st.verification.as_mut() {
                v.stable_healthy = Some(healthy);
                v.message = Some(message);
            }
        }
    }
}

/// Values in prose are rounded as everywhere else; status keeps the exact value.
use crate::gates::number;

pub(super) fn describe_failure(g: &GateStatus, spec: &Spec) -> String {
    let limit = spec
        .gates
        .iter()
        .find(|s| s.name() == g.name)
        .map_or(0, |s| s.failure_limit);
    if let Some(e) = &g.evidence {
        return format!(
            "gate {} failed {}/{limit} times: {}",
            g.name, g.consecutive_failures, e.summary
        );
    }
    let value = match (g.value, g.stable_value) {
        (Some(v), Some(s)) => format!("{} (stable {})", number(v), number(s)),
        (Some(v), None) => number(v),
        (None, _) => g.verdict.as_str().to_string(),
    };
    format!(
        "gate {} failed {}/{limit} times: value {value}, threshold {}, query {}",
        g.name,
        g.consecutive_failures,
        g.threshold.as_deref().unwrap_or("-"),
        g.query.as_deref().unwrap_or("-"),
    )
}

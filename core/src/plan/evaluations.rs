//! Which gate evaluations are worth a status write.
//!
//! Every evaluation used to be written to status: for a bake longer than the gate interval, a
//! write every interval per Rollout, mostly to say "still passing" (1,000 writes a second for
//! 1,000 Rollouts baking with a 1 s interval). So an evaluation whose standing (verdict, failure
//! and error counters, query, threshold) is unchanged is kept in the controller's memory and
//! written only with the next real change, or once the written one is [`HEARTBEAT`] old.
//!
//! Safety does not depend on that memory: every failure and error is a counter change and is
//! written, so a controller that restarts (and forgets) never loses a count towards a rollback;
//! it only evaluates again sooner.

use std::time::Duration;

use crate::api::{GateStatus, RolloutStatus};

/// An unchanged evaluation reaches status at least this often (what `rollgate get` shows).
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// The written status with each gate replaced by the newer evaluation of the same gate and
/// revision that memory holds. Memory never adds a gate nor changes a standing: a remembered
/// evaluation that differs in standing was written already, or memory is older than status.
pub fn recall(written: &RolloutStatus, remembered: &[GateStatus]) -> RolloutStatus {
    let mut status = written.clone();
    for gate in &mut status.gates {
        if let Some(newer) = remembered
            .iter()
            .find(|m| same_standing(gate, m) && m.evaluated_at > gate.evaluated_at)
        {
            *gate = newer.clone();
        }
    }
    status
}

/// Whether `next` says more than `written` does: anything other than fresher evaluations of
/// unchanged standing, or a written evaluation older than [`HEARTBEAT`].
pub fn worth_writing(written: &RolloutStatus, next: &RolloutStatus) -> bool {
    if written.gates.len() != next.gates.len() {
        return true;
    }
    let only_fresher = written.gates.iter().zip(&next.gates).all(|(old, new)| {
        same_standing(old, new)
            && new.evaluated_at >= old.evaluated_at
            && new
                .evaluated_at
                .duration_since(old.evaluated_at)
                .unsigned_abs()
                < HEARTBEAT
    });
    if !only_fresher {
        return true;
    }
    let without_gates = |s: &RolloutStatus| RolloutStatus {
        gates: Vec::new(),
        ..s.clone()
    };
    without_gates(written) != without_gates(next)
}

/// Same gate, same revision, same verdict and counters: the decision-relevant part.
fn same_standing(a: &GateStatus, b: &GateStatus) -> bool {
    a.name == b.name
        && a.revision == b.revision
        && a.verdict == b.verdict
        && a.consecutive_failures == b.consecutive_failures
        && a.consecutive_errors == b.consecutive_errors
        && a.recovered_at == b.recovered_at
        && a.threshold == b.threshold
        && a.query == b.query
}

#[cfg(test)]
mod tests {
    use jiff::Timestamp;

    use super::*;
    use crate::api::Verdict;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn gate(verdict: Verdict, failures: i32, value: f64, s: i64) -> GateStatus {
        GateStatus {
            name: "error-ratio".into(),
            revision: Some("v2".into()),
            verdict,
            value: Some(value),
            stable_value: None,
            threshold: Some("<= 0.05".into()),
            query: Some("q".into()),
            message: None,
            evidence: None,
            dry_run: false,
            consecutive_failures: failures,
            consecutive_errors: 0,
            recovered_at: None,
            evaluated_at: at(s),
        }
    }

    fn status(gates: Vec<GateStatus>) -> RolloutStatus {
        RolloutStatus {
            message: Some("baking".into()),
            gates,
            ..RolloutStatus::default()
        }
    }

    #[test]
    fn a_fresher_pass_is_kept_in_memory_until_the_heartbeat() {
        let written = status(vec![gate(Verdict::Pass, 0, 0.01, 0)]);
        assert!(!worth_writing(
            &written,
            &status(vec![gate(Verdict::Pass, 0, 0.02, 2)])
        ));
        assert!(worth_writing(
            &written,
            &status(vec![gate(Verdict::Pass, 0, 0.02, 30)])
        ));
    }

    #[test]
    fn every_change_of_standing_or_of_anything_else_is_written() {
        let written = status(vec![gate(Verdict::Pass, 0, 0.01, 0)]);
        for next in [
            status(vec![gate(Verdict::Fail, 1, 0.2, 2)]),
            status(vec![gate(Verdict::NoData, 0, 0.0, 2)]),
            status(vec![]),
            RolloutStatus {
                message: Some("stage 2".into()),
                ..status(vec![gate(Verdict::Pass, 0, 0.01, 2)])
            },
        ] {
            assert!(worth_writing(&written, &next), "{next:?}");
        }
        let failing = status(vec![gate(Verdict::Fail, 1, 0.2, 0)]);
        assert!(
            worth_writing(&failing, &status(vec![gate(Verdict::Fail, 2, 0.2, 2)])),
            "each failure counts towards the limit and must survive a restart"
        );
    }

    #[test]
    fn recall_takes_newer_evaluations_of_the_same_standing_only() {
        let written = status(vec![gate(Verdict::Pass, 0, 0.01, 0)]);
        let newer = gate(Verdict::Pass, 0, 0.02, 4);
        assert_eq!(
            recall(&written, std::slice::from_ref(&newer)).gates,
            vec![newer]
        );
        // Older memory (status was written since), or another standing: status wins.
        for m in [
            gate(Verdict::Pass, 0, 0.03, -2),
            gate(Verdict::Fail, 1, 0.3, 6),
        ] {
            assert_eq!(recall(&written, &[m]), written);
        }
        assert_eq!(
            recall(&status(vec![]), &[gate(Verdict::Pass, 0, 0.0, 9)]).gates,
            vec![]
        );
    }
}

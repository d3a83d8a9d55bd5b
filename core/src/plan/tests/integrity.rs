//! The tracks are rollgate's record: a deleted or hand-edited track is restored to the verified
//! revision, never rebuilt from the target (whose template is the unverified release).

use super::*;

fn mid_canary_of_a_bad_release() -> World {
    let spec = rollout_spec(&[(10, "30s"), (100, "0s")], vec![gate("errors")]);
    let mut w = World::new(validated(&spec), bad_canary()).adopted_then_release("v2");
    w.run_until(3, |w| w.canary.as_ref().is_some_and(|c| c.ready > 0));
    assert_eq!(w.status.phase, Phase::Progressing);
    w
}

#[test]
fn a_deleted_stable_track_is_restored_to_the_verified_revision_not_the_release() {
    let mut w = mid_canary_of_a_bad_release();
    w.stable = None;
    let d = w.reconcile();
    let stable = d.workloads.stable.as_ref().expect("stable is planned");
    assert_eq!(
        stable.revision, "v1",
        "restored from the record, not the target"
    );
    assert_eq!(w.status.stable_revision.as_deref(), Some("v1"));
    assert!(w.reasons().contains(&"TrackDrift".to_string()));
    w.run_until(60, World::settled);
    assert_eq!(
        w.status.phase,
        Phase::RolledBack,
        "the bad canary is still caught"
    );
    assert_eq!(w.stable.as_ref().unwrap().revision, "v1");
    assert!(w.status.drift.is_none(), "drift clears once restored");
    assert!(w.reasons().contains(&"TrackRestored".to_string()));
    for d in &w.decisions {
        assert!(
            d.workloads
                .stable
                .as_ref()
                .is_none_or(|s| s.revision == "v1"),
            "stable is never pointed at the unverified v2"
        );
        assert!(!d.events.iter().any(|e| e.reason == "Promoted"));
    }
}

#[test]
fn a_stable_track_deleted_after_a_rollback_does_not_promote_the_rolled_back_revision() {
    let mut w = mid_canary_of_a_bad_release();
    w.run_until(60, World::settled);
    assert_eq!(w.status.phase, Phase::RolledBack);
    w.stable = None;
    w.run_until(20, World::settled);
    assert_eq!(w.stable.as_ref().unwrap().revision, "v1");
    assert_eq!(w.status.stable_revision.as_deref(), Some("v1"));
    assert_eq!(w.status.phase, Phase::RolledBack);
}

#[test]
fn a_hand_edited_stable_track_counts_no_ready_pods_and_is_restored() {
    let mut w = mid_canary_of_a_bad_release();
    let s = w.stable.as_mut().unwrap();
    s.drift = Some("container app image changed by hand".into());
    let d = w.reconcile();
    assert_eq!(d.workloads.stable.as_ref().unwrap().revision, "v1");
    let drift = w.status.drift.clone().expect("drift recorded");
    assert!(
        drift.restorable && drift.message.contains("by hand"),
        "{drift:?}"
    );
    assert_eq!(
        w.condition("TracksIntact"),
        ("False".into(), "Restoring".into())
    );
}

#[test]
fn a_stable_track_pointed_at_another_revision_is_drift() {
    let mut w = mid_canary_of_a_bad_release();
    w.stable.as_mut().unwrap().revision = "v666".into();
    let d = w.reconcile();
    assert_eq!(d.workloads.stable.as_ref().unwrap().revision, "v1");
    assert!(w.status.drift.as_ref().unwrap().message.contains("v666"));
}

#[test]
fn without_a_kept_template_nothing_is_changed_and_the_rollout_says_so() {
    let mut w = mid_canary_of_a_bad_release();
    w.stable = None;
    w.kept.retain(|k| k != "v1");
    let d = w.reconcile();
    assert_eq!(d.workloads, Workloads::default(), "no workload is touched");
    let drift = w.status.drift.clone().unwrap();
    assert!(!drift.restorable);
    assert!(w.reasons().contains(&"TrackLost".to_string()));
    assert_eq!(w.condition("Stalled").0, "True");
}

#[test]
fn a_promotion_switching_the_stable_track_is_not_drift() {
    let spec = rollout_spec(&[(50, "1s"), (100, "1s")], vec![gate("errors")]);
    let mut w = World::new(validated(&spec), always(Verdict::Pass)).adopted_then_release("v2");
    w.run_until(60, World::settled);
    assert_eq!(w.status.phase, Phase::Healthy);
    assert_eq!(w.stable.as_ref().unwrap().revision, "v2");
    assert!(
        !w.reasons()
            .iter()
            .any(|r| r == "TrackDrift" || r == "TrackLost")
    );
}

#[test]
fn a_missing_channel_shows_at_once_as_a_condition_and_one_event() {
    let spec = rollout_spec(&[(100, "0s")], vec![gate("errors")]);
    let mut w = World::new(validated(&spec), always(Verdict::Pass));
    w.channel_problems = vec!["IncidentChannel ns/pager does not exist".into()];
    w.run_until(5, |_| false);
    let (status, reason) = w.condition("ChannelsReady");
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "ChannelMissing")
    );
    let told = w
        .reasons()
        .iter()
        .filter(|r| *r == "ChannelsNotReady")
        .count();
    assert_eq!(told, 1, "told once, not every reconcile");
    w.channel_problems.clear();
    w.run_until(2, |_| false);
    assert_eq!(w.condition("ChannelsReady").0, "True");
}

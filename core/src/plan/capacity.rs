//! How stage weights become pod counts, keeping total ready capacity at or above `replicas`.
//!
//! The canary gets `ceil(replicas × weight / 100)` pods (at least one). Stable gives up only as
//! many pods as the canary has *ready*, so while canary pods start, both tracks run side by side
//! (a surge) and ready capacity never drops below `replicas`.

/// Canary pods for a stage weight.
pub fn canary_pods(replicas: i32, weight: i32) -> i32 {
    if weight <= 0 || replicas <= 0 {
        return 0;
    }
    let pods = (i64::from(replicas) * i64::from(weight.min(100)) + 99) / 100;
    (pods as i32).clamp(1, replicas)
}

/// Stable pods while the canary aims for `canary_target` pods and has `canary_ready` ready.
pub fn stable_pods(replicas: i32, canary_target: i32, canary_ready: i32) -> i32 {
    (replicas - canary_ready.clamp(0, canary_target.max(0))).max(0)
}

/// Pods a retiring track keeps while the other track takes over (promotion, adoption).
pub fn retiring_pods(replicas: i32, successor_ready: i32) -> i32 {
    (replicas - successor_ready.max(0)).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn weights_round_up_to_whole_pods() {
        assert_eq!(canary_pods(10, 10), 1);
        assert_eq!(canary_pods(10, 15), 2);
        assert_eq!(canary_pods(3, 10), 1);
        assert_eq!(canary_pods(3, 50), 2);
        assert_eq!(canary_pods(3, 100), 3);
        assert_eq!(canary_pods(1, 1), 1);
    }

    #[test]
    fn stable_shrinks_only_by_ready_canary_pods() {
        assert_eq!(stable_pods(10, 5, 0), 10);
        assert_eq!(stable_pods(10, 5, 3), 7);
        assert_eq!(stable_pods(10, 5, 9), 5);
    }

    proptest! {
        #[test]
        fn ready_capacity_never_drops_below_replicas(replicas in 1..500i32, weight in 1..=100i32, ready in 0..600i32) {
            let target = canary_pods(replicas, weight);
            let canary_ready = ready.min(target);
            // Stable pods are ready before the split starts; canary pods count only when ready.
            prop_assert!(stable_pods(replicas, target, canary_ready) + canary_ready >= replicas);
            prop_assert!((1..=replicas).contains(&target));
        }

        /// An HPA raising `replicas` mid-canary never makes a track smaller: the canary's
        /// target only grows, and stable gives up no more than the canary has ready.
        #[test]
        fn a_rising_replicas_shrinks_no_track(replicas in 1..500i32, more in 0..500i32, weight in 1..=100i32, ready in 0..600i32) {
            let before = canary_pods(replicas, weight);
            let after = canary_pods(replicas + more, weight);
            prop_assert!(after >= before);
            let canary_ready = ready.min(before);
            prop_assert!(
                stable_pods(replicas + more, after, canary_ready) >= stable_pods(replicas, before, canary_ready)
            );
            // Stable's ready pods and the canary's ready pods cover the new total.
            prop_assert!(stable_pods(replicas + more, after, canary_ready) + canary_ready >= replicas + more);
        }
    }
}

//! The wave planner as specifications: a simulated hub (status written, actions carried out,
//! outcomes folded back) drives simulated members, all in plain values.

use std::collections::BTreeMap;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use proptest::prelude::*;

use super::fixture::{images, release};
use super::*;

fn t0() -> Timestamp {
    "2026-12-01T10:00:00Z".parse().unwrap()
}

fn clusters() -> Vec<Cluster> {
    [("hub", "0"), ("eu", "1"), ("us", "2"), ("ap", "2")]
        .iter()
        .map(|(n, ring)| Cluster {
            name: n.to_string(),
            labels: [("ring".to_string(), ring.to_string())].into(),
        })
        .collect()
}

/// A member cluster as its own rollgate would run it: a target with images and a generation,
/// and a Rollout that reaches a verdict on a new revision some time after observing it.
#[derive(Clone, Debug)]
struct Sim {
    reachable: bool,
    images: Vec<ContainerImage>,
    generation: i64,
    /// The Rollout has observed this generation.
    observed: i64,
    stable: String,
    phase: Phase,
    rolled_back: Option<String>,
    /// Whether a new release here passes its gates.
    good: bool,
    /// Every apply ever made here, in order (images).
    applies: Vec<Vec<ContainerImage>>,
}

fn revision(images: &[ContainerImage]) -> String {
    images
        .iter()
        .map(|i| i.image.clone())
        .collect::<Vec<_>>()
        .join(",")
}

impl Sim {
    fn new(good: bool) -> Self {
        Sim {
            reachable: true,
            images: images("1"),
            generation: 1,
            observed: 1,
            stable: revision(&images("1")),
            phase: Phase::Healthy,
            rolled_back: None,
            good,
            applies: vec![],
        }
    }

    fn apply(&mut self, imgs: &[ContainerImage]) -> i64 {
        self.applies.push(imgs.to_vec());
        if self.images != imgs {
            self.images = imgs.to_vec();
            self.generation += 1;
        }
        self.generation
    }

    /// The member's controller reconciles: observes the target and judges it at once.
    fn reconcile(&mut self) {
        self.observed = self.generation;
        let desired = revision(&self.images);
        if desired == self.stable {
            self.phase = Phase::Healthy;
        } else if self.good || self.images == images("1") {
            self.stable = desired;
            self.phase = Phase::Healthy;
        } else {
            self.phase = Phase::RolledBack;
            self.rolled_back = Some(desired);
        }
    }

    fn observation(&self) -> Observation {
        if !self.reachable {
            return Observation::Unreachable("connection refused".into());
        }
        Observation::Seen(Member {
            images: self.images.clone(),
            rollout: Some(MemberRollout {
                phase: self.phase,
                target: Some(ObservedTarget {
                    generation: self.observed,
                    revision: revision(&self.images),
                }),
                stable_revision: Some(self.stable.clone()),
                rolled_back_revision: self.rolled_back.clone(),
                incident: self.rolled_back.as_ref().map(|r| format!("web-{r}")),
                stage: None,
                gates: None,
            }),
        })
    }
}

struct Hub {
    release: Release,
    members: BTreeMap<String, Sim>,
    now: Timestamp,
    incidents_opened: usize,
    request: Option<Request>,
    /// Every Event reason decided, in order.
    told: Vec<String>,
}

impl Hub {
    fn new(on_failure: OnFailure, bad: &[&str]) -> Self {
        Hub {
            release: release(on_failure),
            members: clusters()
                .into_iter()
                .map(|c| {
                    let good = !bad.contains(&c.name.as_str());
                    (c.name, Sim::new(good))
                })
                .collect(),
            now: t0(),
            incidents_opened: 0,
            request: None,
            told: vec![],
        }
    }

    fn observations(&self) -> BTreeMap<String, Observation> {
        self.members
            .iter()
            .map(|(n, s)| (n.clone(), s.observation()))
            .collect()
    }

    fn plan(&self) -> Decision {
        self.plan_with(&self.observations(), self.now)
    }

    fn plan_with(&self, observations: &BTreeMap<String, Observation>, now: Timestamp) -> Decision {
        decide(Input {
            release: &self.release,
            clusters: &clusters(),
            observations,
            request: self.request.as_ref(),
            freeze: None,
            now,
        })
    }

    /// One reconcile: decide, write status, act, fold the outcomes in (as the controller does).
    fn step(&mut self) -> Vec<Action> {
        let d = self.plan();
        self.told.extend(d.events.iter().map(|e| e.reason.clone()));
        let mut status = d.status;
        for a in &d.actions {
            match a {
                Action::Apply { cluster, images } => {
                    let sim = self.members.get_mut(cluster).unwrap();
                    if sim.reachable {
                        let g = sim.apply(images);
                        applied(&mut status, cluster, g);
                    }
                }
                Action::Restore { cluster, images } => {
                    let sim = self.members.get_mut(cluster).unwrap();
                    if sim.reachable {
                        let g = sim.apply(images);
                        restored(&mut status, cluster, g);
                    }
                }
                Action::OpenIncident { .. } => {
                    self.incidents_opened += 1;
                    incident_opened(&mut status);
                }
            }
        }
        self.release.status = Some(status);
        for sim in self.members.values_mut().filter(|s| s.reachable) {
            sim.reconcile();
        }
        self.now += Duration::from_secs(5);
        d.actions
    }

    fn status(&self) -> &ReleaseStatus {
        self.release.status.as_ref().unwrap()
    }

    fn run(&mut self, steps: usize) {
        for _ in 0..steps {
            self.step();
        }
    }
}

#[test]
fn a_good_release_passes_every_wave_in_order_with_its_bake() {
    let mut hub = Hub::new(OnFailure::Halt, &[]);
    hub.run(40);
    let st = hub.status();
    assert_eq!(st.phase, ReleasePhase::Healthy, "{st:#?}");
    assert_eq!(st.waves.len(), 3);
    for pair in st.waves.windows(2) {
        assert!(pair[0].finished_at.unwrap() <= pair[1].started_at.unwrap());
    }
    for w in &st.waves {
        let (start, end) = (w.started_at.unwrap(), w.finished_at.unwrap());
        assert!(
            end.duration_since(start).as_secs() >= 10,
            "bake held: {w:?}"
        );
    }
    for sim in hub.members.values() {
        assert_eq!(sim.images, images("2"));
    }
    assert_eq!(st.columns.as_ref().unwrap().clusters, "4/4");
    let waves: Vec<&String> = hub.told.iter().filter(|r| r.starts_with("Wave")).collect();
    assert_eq!(
        waves,
        ["WaveStarted", "WaveBaking", "WavePassed"]
            .repeat(3)
            .iter()
            .collect::<Vec<_>>()
    );
    assert_eq!(hub.told.last().map(String::as_str), Some("ReleaseHealthy"));
    assert!(
        st.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    );
}

#[test]
fn max_concurrent_limits_the_members_in_flight() {
    let mut hub = Hub::new(OnFailure::Halt, &[]);
    // Wave 3 holds two clusters, one at a time: never both applied in one reconcile.
    for _ in 0..40 {
        let applies = hub
            .step()
            .iter()
            .filter(|a| matches!(a, Action::Apply { .. }))
            .count();
        assert!(applies <= 1);
    }
}

#[test]
fn a_failure_in_wave_one_never_reaches_later_waves_and_opens_one_incident() {
    let mut hub = Hub::new(OnFailure::Halt, &["hub"]);
    hub.run(30);
    let st = hub.status();
    assert_eq!(st.phase, ReleasePhase::Failed, "{st:#?}");
    for name in ["eu", "us", "ap"] {
        assert!(hub.members[name].applies.is_empty(), "{name} got it");
    }
    assert_eq!(hub.incidents_opened, 1);
    assert_eq!(st.incident_ref.as_ref().unwrap().name, "web-2-ring0");
    let m = &st.waves[0].members[0];
    assert_eq!(m.state, MemberState::Failed);
    assert!(m.incident.is_some(), "the member's incident is linked");
    assert!(
        st.conditions
            .iter()
            .any(|c| c.type_ == "Stalled" && c.status == "True")
    );
}

#[test]
fn rollback_all_returns_every_wave_done_to_its_previous_images() {
    let mut hub = Hub::new(OnFailure::RollbackAll, &["eu"]);
    hub.run(40);
    let st = hub.status();
    assert_eq!(st.phase, ReleasePhase::RolledBack, "{st:#?}");
    assert_eq!(hub.members["hub"].images, images("1"));
    assert_eq!(hub.members["eu"].images, images("1"));
    assert!(hub.members["us"].applies.is_empty());
    assert_eq!(st.waves[0].members[0].state, MemberState::Restored);
}

#[test]
fn rollback_wave_returns_only_the_failed_wave() {
    let mut hub = Hub::new(OnFailure::RollbackWave, &["eu"]);
    hub.run(40);
    assert_eq!(hub.status().phase, ReleasePhase::RolledBack);
    assert_eq!(hub.members["hub"].images, images("2"));
    assert_eq!(hub.members["eu"].images, images("1"));
}

#[test]
fn an_unreachable_member_holds_its_wave_then_fails_it_at_the_timeout() {
    let mut hub = Hub::new(OnFailure::Halt, &[]);
    // Wave 1 passes; the eu member goes away right after its apply.
    while hub.members["eu"].applies.is_empty() {
        hub.step();
    }
    hub.members.get_mut("eu").unwrap().reachable = false;
    // Its Rollout never observed the release: it is not counted, however long it waits.
    hub.members.get_mut("eu").unwrap().observed = 1;
    let started = hub.status().waves[1].started_at.unwrap();
    while hub.now < started + Duration::from_secs(299) {
        hub.step();
        assert_ne!(hub.status().waves[1].phase, WavePhase::Passed);
        assert_ne!(hub.status().waves[1].phase, WavePhase::Failed);
    }
    hub.run(3);
    let st = hub.status();
    assert_eq!(st.waves[1].phase, WavePhase::Failed, "{st:#?}");
    assert_eq!(st.phase, ReleasePhase::Failed);
    assert!(hub.members["us"].applies.is_empty());
}

#[test]
fn stale_status_never_counts() {
    let mut hub = Hub::new(OnFailure::Halt, &[]);
    hub.step();
    // The hub member has the release applied; its Rollout shows the new revision Healthy but
    // says it observed the old generation: never a pass.
    hub.members.get_mut("hub").unwrap().observed = 1;
    let d = hub.plan();
    assert_eq!(d.status.waves[0].members[0].state, MemberState::Progressing);
}

#[test]
fn a_member_that_looks_the_same_is_not_written_again() {
    let mut hub = Hub::new(OnFailure::Halt, &[]);
    hub.release.spec.waves[1].approval = WaveApproval::Manual;
    hub.run(20);
    // Waiting for approval, nothing moves: re-deciding later changes no status.
    let written = hub.status().clone();
    hub.now += Duration::from_secs(30);
    let d = hub.plan();
    assert!(d.actions.is_empty());
    assert_eq!(d.status, written);
}

#[test]
fn a_manual_wave_waits_for_a_promote_request() {
    let mut hub = Hub::new(OnFailure::Halt, &[]);
    hub.release.spec.waves[1].approval = WaveApproval::Manual;
    hub.run(20);
    assert_eq!(hub.status().phase, ReleasePhase::AwaitingApproval);
    assert!(hub.members["eu"].applies.is_empty());
    hub.request = Some(Request::new(Verb::Promote, "1"));
    hub.run(30);
    assert_eq!(hub.status().phase, ReleasePhase::Healthy);
}

#[test]
fn an_abort_returns_every_member() {
    let mut hub = Hub::new(OnFailure::Halt, &[]);
    while hub.members["eu"].applies.is_empty() {
        hub.step();
    }
    hub.request = Some(Request::new(Verb::Abort, "1"));
    hub.run(10);
    let st = hub.status();
    assert_eq!(st.phase, ReleasePhase::RolledBack, "{st:#?}");
    assert_eq!(hub.members["hub"].images, images("1"));
    assert_eq!(hub.members["eu"].images, images("1"));
    assert!(hub.members["us"].applies.is_empty());
}

#[test]
fn a_freeze_stops_every_wave() {
    let hub = Hub::new(OnFailure::Halt, &[]);
    let freeze = FrozenBy {
        name: "stop".into(),
        by: None,
        reason: None,
        abort: false,
    };
    let d = decide(Input {
        release: &hub.release,
        clusters: &clusters(),
        observations: &hub.observations(),
        request: None,
        freeze: Some(&freeze),
        now: hub.now,
    });
    assert!(d.actions.is_empty());
    assert_eq!(d.status.phase, ReleasePhase::Frozen);
}

#[test]
fn a_bad_duration_is_invalid_naming_its_field() {
    let mut hub = Hub::new(OnFailure::Halt, &[]);
    hub.release.spec.waves[1].bake = Some("soon".into());
    let d = hub.plan();
    assert_eq!(d.status.phase, ReleasePhase::Invalid);
    assert!(d.status.message.unwrap().starts_with("spec.waves[1].bake"));
    assert!(d.actions.is_empty());
}

#[test]
fn a_cluster_belongs_to_the_first_wave_that_selects_it() {
    let mut spec = release(OnFailure::Halt).spec;
    spec.waves[1].selector = LabelSelector::default();
    assert_eq!(members_of(&spec, &clusters(), 0), ["hub"]);
    assert_eq!(members_of(&spec, &clusters(), 1), ["ap", "eu", "us"]);
    assert!(members_of(&spec, &clusters(), 2).is_empty());
}

fn sim_good(hub: &Hub, cluster: &str) -> bool {
    hub.members[cluster].good
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever fails or goes away, and whenever the hub restarts (re-planning from what it
    /// wrote), later waves never receive a release before earlier ones passed; failed or
    /// unreachable members never count as passed; RollbackAll returns every member that got it;
    /// and re-planning the written status with the same observations repeats no side effect.
    #[test]
    fn waves_hold_their_promises(
        bad in proptest::collection::vec(any::<bool>(), 4),
        gone in proptest::collection::vec(0usize..60, 4),
        policy in prop_oneof![Just(OnFailure::Halt), Just(OnFailure::RollbackWave), Just(OnFailure::RollbackAll)],
        steps in 5usize..90,
    ) {
        let names = ["hub", "eu", "us", "ap"];
        let bad_names: Vec<&str> = names.iter().zip(&bad).filter(|(_, b)| **b).map(|(n, _)| *n).collect();
        let mut hub = Hub::new(policy, &bad_names);
        for step in 0..steps {
            for (i, n) in names.iter().enumerate() {
                if gone[i] == step {
                    hub.members.get_mut(*n).unwrap().reachable = false;
                }
            }
            let (seen, at) = (hub.observations(), hub.now);
            hub.step();
            let st = hub.status().clone();
            // Order: a wave started only after every earlier one passed.
            for (i, w) in st.waves.iter().enumerate().skip(1) {
                if w.started_at.is_some() {
                    prop_assert_eq!(st.waves[i - 1].phase, WavePhase::Passed);
                }
            }
            // Idempotence: the written status, re-planned, asks for nothing already done.
            let again = hub.plan_with(&seen, at);
            for a in &again.actions {
                match a {
                    // An apply that could not reach its member is asked again, and only that.
                    Action::Apply { cluster, .. } | Action::Restore { cluster, .. } => {
                        prop_assert!(!hub.members[cluster].reachable, "{a:?} repeated for a reachable member");
                    }
                    Action::OpenIncident { .. } => prop_assert!(false, "incident asked twice"),
                }
            }
            for w in &st.waves {
                for m in &w.members {
                    let sim = &hub.members[&m.cluster];
                    if m.state == MemberState::Healthy {
                        prop_assert!(sim.good, "a failing member counted as passed");
                    }
                    // Never counted Healthy from the moment it went away.
                    let i = names.iter().position(|n| *n == m.cluster).unwrap();
                    if let Some(h) = m.healthy_at {
                        prop_assert!(h < t0() + Duration::from_secs(5 * gone[i] as u64));
                    }
                }
                // A passed wave had every member Healthy (a later rollback may return them since).
                if w.phase == WavePhase::Passed {
                    for m in &w.members {
                        prop_assert!(m.healthy_at.is_some() && sim_good(&hub, &m.cluster));
                    }
                }
            }
        }
        let st = hub.status();
        prop_assert!(hub.incidents_opened <= 1);
        // Members of waves never started never received anything.
        for (i, _) in hub.release.spec.waves.iter().enumerate().skip(st.waves.len()) {
            for c in members_of(&hub.release.spec, &clusters(), i) {
                prop_assert!(hub.members[&c].applies.is_empty());
            }
        }
        if policy == OnFailure::RollbackAll && st.phase == ReleasePhase::RolledBack {
            for w in &st.waves {
                for m in w.members.iter().filter(|m| m.received()) {
                    prop_assert_eq!(m.state, MemberState::Restored);
                    prop_assert_eq!(&hub.members[&m.cluster].images, &images("1"));
                }
            }
        }
    }
}

#[test]
fn the_hub_incident_links_the_failed_members_incident_and_is_keyed_by_release_and_wave() {
    let mut hub = Hub::new(OnFailure::Halt, &["hub"]);
    hub.run(30);
    let st = hub.status();
    let spec = incident::draft(&hub.release, st, 0, vec!["pd".into()], hub.now);
    let linked = spec.release.clone().unwrap();
    assert_eq!(
        (linked.name.as_str(), linked.wave.as_str()),
        ("web-2", "ring0")
    );
    assert_eq!(linked.members.len(), 1);
    assert_eq!(linked.members[0].cluster, "hub");
    assert_eq!(linked.members[0].namespace, "shop");
    assert_eq!(
        linked.members[0].name.as_deref(),
        st.waves[0].members[0].incident.as_deref()
    );
    assert_eq!(spec.dedup_key, "rollgate/release/fleet/web-2/ring0");
    assert_eq!(spec.channels, ["pd"]);
    assert!(
        spec.title
            .starts_with("Release web-2 stopped at wave ring0"),
        "{}",
        spec.title
    );
}

//! The simulated world the planner's specification runs in: tracks whose pods become ready one
//! tick after they are asked for, gates that answer what a test says, crashes that drop a
//! status write, all driven by `decide` once a simulated second.

use jiff::Timestamp;

use super::super::*;
use crate::api::{Gate, Phase, RolloutSpec, RolloutStatus, Stage, TargetRef, Verdict};

pub(super) fn gate(name: &str) -> Gate {
    Gate {
        name: name.into(),
        query: format!("{name}{{rollgate_track=\"{{{{track}}}}\"}}"),
        min: None,
        max: Some(0.01),
        compare: None,
        interval: Some("1s".into()),
        failure_limit: Some(2),
        on_no_data: None,
        sequential: None,
        alert: None,
        msprt: None,
        kayenta: None,
        dry_run: false,
        error_limit: Some(3),
    }
}

pub(super) fn rollout_spec(stages: &[(i32, &str)], gates: Vec<Gate>) -> RolloutSpec {
    RolloutSpec {
        target_ref: TargetRef {
            kind: "Deployment".into(),
            name: "app".into(),
        },
        replicas: 10,
        stages: stages
            .iter()
            .map(|(w, bake)| Stage {
                weight: *w,
                header: None,
                bake: Some(bake.to_string()),
                approval: None,
            })
            .collect(),
        gates,
        prometheus: None,
        incident: None,
        progress_deadline: Some("1m".into()),
        verify_after_rollback: Some("10s".into()),
        paused: false,
        traffic: None,
    }
}

/// `spec` routed through an HTTPRoute, the canary running at least `min` pods.
pub(super) fn with_route(mut spec: RolloutSpec, min: i32) -> RolloutSpec {
    use crate::api::{CanaryCapacity, HttpRouteRef, Traffic};
    spec.traffic = Some(Traffic {
        http_route: HttpRouteRef {
            name: "app".into(),
            service: "app".into(),
            managed: None,
        },
        canary_capacity: Some(CanaryCapacity {
            replicas: None,
            min_replicas: Some(min),
        }),
    });
    spec
}

pub(super) fn validated(spec: &RolloutSpec) -> Spec {
    spec::validate(spec, |_| Ok(())).expect("valid spec")
}

/// What gates answer: (gate name, purpose, revision, seconds since start) → verdict.
pub(super) type Oracle = Box<dyn Fn(&str, Purpose, &str, u64) -> Verdict>;

pub(super) struct World {
    pub(super) spec: Spec,
    pub(super) status: RolloutStatus,
    pub(super) desired: String,
    pub(super) stable: Option<Track>,
    pub(super) canary: Option<Track>,
    pub(super) start: Timestamp,
    pub(super) now: Timestamp,
    pub(super) oracle: Oracle,
    pub(super) request: Option<Request>,
    pub(super) freeze: Option<crate::api::FrozenBy>,
    pub(super) admitted: bool,
    pub(super) channel_problems: Vec<String>,
    pub(super) decisions: Vec<Decision>,
    /// Simulates a controller killed between applying workloads and writing status.
    pub(super) drop_status: Box<dyn FnMut(usize) -> bool>,
    /// Evaluations the controller keeps in memory instead of writing (lost in a crash).
    pub(super) remembered: Vec<crate::api::GateStatus>,
    /// Status writes made.
    pub(super) writes: usize,
    /// Revisions whose template the controller keeps (every revision it wrote to a track).
    pub(super) kept: Vec<String>,
    /// The share a router reports in effect (a router only): what was asked two decisions
    /// ago, as a Gateway that takes its time to accept a route.
    pub(super) routed: Option<crate::traffic::Share>,
    pub(super) routing: Option<crate::traffic::Share>,
}

impl World {
    pub(super) fn new(spec: Spec, oracle: Oracle) -> Self {
        let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        World {
            spec,
            status: RolloutStatus::default(),
            desired: "v1".into(),
            stable: None,
            canary: None,
            start,
            now: start,
            oracle,
            request: None,
            freeze: None,
            admitted: true,
            channel_problems: vec![],
            decisions: vec![],
            drop_status: Box::new(|_| false),
            remembered: vec![],
            writes: 0,
            kept: vec![],
            routed: None,
            routing: None,
        }
    }

    pub(super) fn secs(&self) -> u64 {
        self.now.duration_since(self.start).as_secs() as u64
    }

    pub(super) fn observed(&self) -> Observed {
        Observed {
            desired_revision: self.desired.clone(),
            stable: self.stable.clone(),
            canary: self.canary.clone(),
            kept: self.kept.clone(),
            routed: self.routed.clone(),
            selector: Some("app=app".into()),
        }
    }

    pub(super) fn input<'a>(
        &'a self,
        obs: &'a Observed,
        status: &'a RolloutStatus,
        readings: &'a [Reading],
    ) -> Input<'a> {
        Input {
            spec: Ok(&self.spec),
            generation: 1,
            status,
            observed: obs,
            readings,
            request: self.request.as_ref(),
            freeze: self.freeze.as_ref(),
            admitted: self.admitted,
            channel_problems: &self.channel_problems,
            now: self.now,
        }
    }

    pub(super) fn decide_once(&self, readings: &[Reading]) -> Decision {
        let obs = self.observed();
        let status = super::evaluations::recall(&self.status, &self.remembered);
        decide(self.input(&obs, &status, readings))
    }

    /// One reconcile as the controller does it: ask which gates are due, evaluate them, decide
    /// once with the readings, apply. `due` must have foreseen every evaluation read.
    pub(super) fn reconcile(&mut self) -> Decision {
        let obs = self.observed();
        let status = super::evaluations::recall(&self.status, &self.remembered);
        let due = super::due(&self.input(&obs, &status, &[]));
        let readings: Vec<Reading> = due
            .iter()
            .map(|due| {
                let g = &self.spec.gates[due.gate];
                let verdict = (self.oracle)(g.name(), due.purpose, &due.revision, self.secs());
                Reading {
                    gate: g.name().into(),
                    purpose: due.purpose,
                    revision: due.revision.clone(),
                    verdict,
                    value: (verdict == Verdict::Pass)
                        .then_some(0.0)
                        .or((verdict == Verdict::Fail).then_some(0.5)),
                    stable_value: None,
                    threshold: Some("<= 0.01".into()),
                    query: g.def.query.clone(),
                    message: String::new(),
                    evidence: None,
                    bad_query: false,
                }
            })
            .collect();
        let d = decide(self.input(&obs, &status, &readings));
        assert!(
            d.wants.is_empty(),
            "due missed evaluations the decision read: {:?} (due said {due:?}; phase {:?})",
            d.wants,
            d.status.phase
        );
        self.apply(&d);
        let n = self.decisions.len();
        if (self.drop_status)(n) {
            self.remembered.clear();
        } else {
            if super::evaluations::worth_writing(&self.status, &d.status) {
                self.status = d.status.clone();
                self.writes += 1;
            }
            self.remembered = d.status.gates.clone();
        }
        self.decisions.push(d.clone());
        d
    }

    pub(super) fn apply(&mut self, d: &Decision) {
        fn step(track: &mut Option<Track>, plan: &Option<TrackPlan>) {
            let Some(p) = plan else { return };
            match track {
                Some(t) if t.revision == p.revision => {
                    // Pods asked for last time are ready now; scale-downs are immediate.
                    t.ready = t.replicas.min(p.replicas);
                    t.replicas = p.replicas;
                }
                _ => {
                    *track = Some(Track {
                        revision: p.revision.clone(),
                        replicas: p.replicas,
                        ready: 0,
                        drift: None,
                    })
                }
            }
        }
        step(&mut self.stable, &d.workloads.stable);
        step(&mut self.canary, &d.workloads.canary);
        if self.spec.router != crate::traffic::Router::Pods {
            self.routed = self.routing.clone();
            if let Some(share) = &d.workloads.share {
                self.routing = Some(share.clone());
            }
        }
        for t in [&self.stable, &self.canary].into_iter().flatten() {
            if !self.kept.contains(&t.revision) {
                self.kept.push(t.revision.clone());
            }
        }
    }

    /// Reconciles every second until `done` or `limit` seconds.
    pub(super) fn run_until(&mut self, limit: u64, done: impl Fn(&World) -> bool) {
        for _ in 0..limit {
            self.reconcile();
            if done(self) {
                return;
            }
            self.now += jiff::SignedDuration::from_secs(1);
        }
    }

    pub(super) fn settled(&self) -> bool {
        matches!(self.status.phase, Phase::Healthy | Phase::RolledBack)
            && self
                .canary
                .as_ref()
                .is_none_or(|c| c.replicas == 0 && c.ready == 0)
            && self
                .stable
                .as_ref()
                .is_some_and(|s| s.ready == self.spec.replicas)
    }

    /// The condition `type_` as (status, reason).
    pub(super) fn condition(&self, type_: &str) -> (String, String) {
        let c = self
            .status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .unwrap_or_else(|| panic!("condition {type_}"));
        (c.status.clone(), c.reason.clone())
    }

    pub(super) fn reasons(&self) -> Vec<String> {
        self.decisions
            .iter()
            .flat_map(|d| d.events.iter().map(|e| e.reason.clone()))
            .collect()
    }

    /// Adopts revision v1, then asks for `to`.
    pub(super) fn adopted_then_release(mut self, to: &str) -> Self {
        self.run_until(10, |w| w.status.phase == Phase::Healthy);
        assert_eq!(self.status.phase, Phase::Healthy, "adoption finishes");
        self.desired = to.into();
        self
    }
}

pub(super) fn always(v: Verdict) -> Oracle {
    Box::new(move |_, _, _, _| v)
}

/// Stable has data (the preflight passes); the canary has none.
pub(super) fn canary_without_data() -> Oracle {
    Box::new(|_, p, _, _| {
        if p == Purpose::Stage {
            Verdict::NoData
        } else {
            Verdict::Pass
        }
    })
}

/// Canary fails, stable passes (a bad release).
pub(super) fn bad_canary() -> Oracle {
    Box::new(|_, p, _, _| {
        if p == Purpose::Stage {
            Verdict::Fail
        } else {
            Verdict::Pass
        }
    })
}

//! The Rollout lifecycle (DESIGN.md §5) as one pure pass over the previous status.

use std::time::Duration;

use jiff::Timestamp;

use super::capacity::{canary_pods, retiring_pods, stable_pods};
use super::gates::{self, Due, Purpose, after};
use super::{
    Action, Decision, Event, EventType, HISTORY_LIMIT, Input, Spec, SpecError, Track, TrackPlan,
    Workloads,
};
use crate::api::{
    Exposure, GateStatus, Phase, Preflight, RollbackRecord, RolloutStatus, StageStatus, Transition,
    Verdict, Verification,
};

/// Look again at least this often, even when nothing is scheduled.
const RESYNC: Duration = Duration::from_secs(300);
/// While a canary is in flight, look again at least this often.
const IN_FLIGHT_RESYNC: Duration = Duration::from_secs(30);
/// Retry a preflight that Prometheus could not answer.
const PREFLIGHT_RETRY: Duration = Duration::from_secs(5);
const MIN_REQUEUE: Duration = Duration::from_millis(100);
/// A queued rollout looks for a free canary slot this often.
const QUEUE_RECHECK: Duration = Duration::from_secs(2);

pub(super) fn decide(input: Input<'_>) -> Decision {
    let mut p = Planner {
        now: input.now,
        st: input.status.clone(),
        events: Vec::new(),
        wants: Vec::new(),
        wake: None,
        input: &input,
    };
    let workloads = match input.spec {
        Ok(spec) => p.run(spec),
        Err(e) => p.invalid(e),
    };
    p.finish(workloads)
}

struct Planner<'a> {
    input: &'a Input<'a>,
    now: Timestamp,
    st: RolloutStatus,
    events: Vec<Event>,
    wants: Vec<Due>,
    wake: Option<Timestamp>,
}

impl Planner<'_> {
    fn finish(mut self, workloads: Workloads) -> Decision {
        self.st.observed_generation = Some(self.input.generation);
        super::conditions::derive(&mut self.st, self.input.generation, self.now);
        let in_flight = matches!(
            self.st.phase,
            Phase::Progressing | Phase::RollingBack | Phase::Pending
        ) || self
            .st
            .verification
            .as_ref()
            .is_some_and(|v| v.until > self.now);
        let cap = if in_flight { IN_FLIGHT_RESYNC } else { RESYNC };
        let requeue_after = self
            .wake
            .map(|w| self.now.duration_until(w).unsigned_abs())
            .map_or(cap, |d| d.min(cap))
            .max(MIN_REQUEUE);
        Decision {
            status: self.st,
            workloads,
            events: self.events,
            requeue_after,
            wants: self.wants,
        }
    }

    fn wake_at(&mut self, t: Timestamp) {
        self.wake = Some(self.wake.map_or(t, |w| w.min(t)));
    }

    fn event(&mut self, type_: EventType, reason: &str, note: impl Into<String>) {
        self.events.push(Event {
            type_,
            reason: reason.to_string(),
            note: note.into(),
        });
    }

    /// Moves to `to`, recording history and an Event when the phase changes.
    fn transition(&mut self, to: Phase, reason: &str, message: impl Into<String>) {
        let message = message.into();
        if self.st.phase != to {
            let type_ = match to {
                Phase::RollingBack | Phase::RolledBack | Phase::Invalid => EventType::Warning,
                _ => EventType::Normal,
            };
            self.record(to, reason, &message);
            self.event(type_, reason, message.clone());
            self.st.phase = to;
        }
        self.st.message = Some(message);
    }

    /// A milestone inside a phase (a new stage, a new canary): history and an Event.
    fn milestone(&mut self, type_: EventType, reason: &str, message: impl Into<String>) {
        let message = message.into();
        self.record(self.st.phase, reason, &message);
        self.event(type_, reason, message.clone());
        self.st.message = Some(message);
    }

    fn record(&mut self, to: Phase, reason: &str, message: &str) {
        let h = &mut self.st.history;
        h.push(Transition {
            at: self.now,
            from: self.st.phase,
            to,
            reason: reason.into(),
            message: message.into(),
        });
        if h.len() > HISTORY_LIMIT {
            h.drain(..h.len() - HISTORY_LIMIT);
        }
    }

    fn invalid(&mut self, e: &SpecError) -> Workloads {
        self.transition(Phase::Invalid, "InvalidSpec", e.to_string());
        // Leave every workload as it is: a typo must not disturb what serves.
        Workloads::default()
    }

    /// Records the freeze (or its end) with an Event, once.
    fn note_freeze(&mut self) {
        let now = self.input.freeze.cloned();
        if now == self.st.frozen {
            return;
        }
        match &now {
            Some(f) => self.event(EventType::Warning, "Frozen", freeze_note(f)),
            None => self.event(
                EventType::Normal,
                "Unfrozen",
                "the freeze was lifted; rollouts resume",
            ),
        }
        self.st.frozen = now;
    }

    /// Why transitions are held: a freeze, a pause request, or `spec.paused`.
    fn hold_reason(&self) -> String {
        match &self.st.frozen {
            Some(f) => freeze_note(f),
            None => "paused".to_string(),
        }
    }

    /// A request not handled before, once.
    fn take_request(&mut self) -> Option<Action> {
        let r = self.input.request?;
        if self.st.last_request_id.as_deref() == Some(r.id.as_str()) {
            return None;
        }
        self.st.last_request_id = Some(r.id.clone());
        self.event(
            EventType::Normal,
            "RequestReceived",
            format!("{} (id {})", r.action.as_str(), r.id),
        );
        Some(r.action)
    }

    fn run(&mut self, spec: &Spec) -> Workloads {
        let obs = self.input.observed;
        let desired = obs.desired_revision.clone();
        let request = self.take_request();
        match request {
            Some(Action::Pause) => self.st.paused_by_request = true,
            Some(Action::Resume) => self.st.paused_by_request = false,
            _ => {}
        }
        self.note_freeze();
        let paused = spec.paused || self.st.paused_by_request || self.st.frozen.is_some();

        let Some(stable) = obs.stable.clone() else {
            self.transition(
                Phase::Pending,
                "Adopting",
                "creating the stable workload from the target's template",
            );
            return Workloads {
                stable: Some(TrackPlan {
                    revision: desired,
                    replicas: spec.replicas,
                }),
                ..Default::default()
            };
        };
        if self.st.stable_revision.is_none() {
            if stable.ready < spec.replicas {
                self.transition(
                    Phase::Pending,
                    "Adopting",
                    format!(
                        "waiting for stable pods before handing over: {}/{} ready",
                        stable.ready, spec.replicas
                    ),
                );
                return Workloads {
                    stable: Some(TrackPlan {
                        revision: desired,
                        replicas: spec.replicas,
                    }),
                    ..Default::default()
                };
            }
            self.st.stable_revision = Some(stable.revision.clone());
            self.transition(
                Phase::Healthy,
                "Adopted",
                format!(
                    "stable revision {} serves; the target is held at 0",
                    stable.revision
                ),
            );
        }
        self.st.stable_revision = Some(stable.revision.clone());
        let mut w = self.serving(spec, &stable, &desired, request, paused);
        w.target_replicas = Some(0);
        w
    }

    /// Everything after adoption: the tracks serve and the target is held at 0.
    fn serving(
        &mut self,
        spec: &Spec,
        stable: &Track,
        desired: &str,
        request: Option<Action>,
        paused: bool,
    ) -> Workloads {
        if self.st.phase == Phase::RollingBack {
            return self.rolling_back(spec, stable);
        }
        let retry = request == Some(Action::Retry);
        if self.st.phase == Phase::RolledBack
            && desired != stable.revision
            && self.st.canary_revision.as_deref() == Some(desired)
            && !retry
        {
            return self.rolled_back(spec, stable);
        }
        if desired == stable.revision {
            return self.settle(spec, stable, paused);
        }
        // Preflight found a broken query for this revision and nothing changed since.
        if self.st.phase == Phase::Invalid
            && self.st.observed_generation == Some(self.input.generation)
            && self
                .st
                .preflight
                .as_ref()
                .is_some_and(|p| p.revision == desired && !p.errors.is_empty())
        {
            return self.hold(spec, stable);
        }
        let in_flight = self.st.canary_revision.clone().filter(|c| {
            // Invalid keeps the canary in flight: a spec fixed (or a cache caught up) resumes
            // where it was instead of starting over.
            matches!(
                self.st.phase,
                Phase::Progressing | Phase::Paused | Phase::Invalid
            ) && *c != stable.revision
        });
        match in_flight {
            Some(c) if c == desired || paused => self.progress(spec, stable, &c, request, paused),
            _ if paused => {
                let why = self.hold_reason();
                self.transition(
                    Phase::Paused,
                    "Paused",
                    format!("revision {desired} waits: {why}"),
                );
                self.hold(spec, stable)
            }
            _ if !self.input.admitted => {
                let since = *self.st.queued_since.get_or_insert(self.now);
                self.transition(
                    Phase::Queued,
                    "Queued",
                    format!("revision {desired} waits for a canary slot (queued since {since})"),
                );
                self.wake_at(after(self.now, QUEUE_RECHECK));
                self.hold(spec, stable)
            }
            _ => {
                self.st.queued_since = None;
                self.start_canary(desired, retry);
                self.progress(spec, stable, desired, request, paused)
            }
        }
    }

    /// Stable at full capacity, any canary at zero.
    fn hold(&self, spec: &Spec, stable: &Track) -> Workloads {
        let canary = self.input.observed.canary.as_ref().map(|c| TrackPlan {
            revision: c.revision.clone(),
            replicas: 0,
        });
        Workloads {
            stable: Some(TrackPlan {
                revision: stable.revision.clone(),
                replicas: spec.replicas,
            }),
            canary,
            target_replicas: None,
        }
    }

    fn start_canary(&mut self, revision: &str, retry: bool) {
        self.st.canary_revision = Some(revision.to_string());
        self.st.stage = None;
        self.st.exposure = None;
        self.st.gates.clear();
        self.st.verification = None;
        if self
            .st
            .preflight
            .as_ref()
            .is_some_and(|p| p.revision != revision || retry)
        {
            self.st.preflight = None;
        }
        let why = if retry {
            "retry requested"
        } else {
            "new revision"
        };
        self.transition(
            Phase::Progressing,
            "CanaryStarted",
            format!("revision {revision}: {why}"),
        );
        if self
            .events
            .last()
            .is_none_or(|e| e.reason != "CanaryStarted")
        {
            self.milestone(
                EventType::Normal,
                "CanaryStarted",
                format!("revision {revision}: {why}"),
            );
        }
    }

    /// Runs every gate once against stable before the canary gets any share.
    /// Returns false while the preflight is not complete (the caller holds).
    fn preflight(&mut self, spec: &Spec, stable: &Track, canary: &str) -> bool {
        if spec.gates.is_empty()
            || self
                .st
                .preflight
                .as_ref()
                .is_some_and(|p| p.revision == canary && p.errors.is_empty())
        {
            return true;
        }
        let readings: Vec<_> = self
            .input
            .readings
            .iter()
            .filter(|r| r.purpose == Purpose::Preflight)
            .collect();
        if readings.len() < spec.gates.len() {
            self.wants = (0..spec.gates.len())
                .map(|gate| Due {
                    gate,
                    purpose: Purpose::Preflight,
                    revision: stable.revision.clone(),
                })
                .collect();
            self.st.message = Some(format!(
                "revision {canary}: preflight of every gate against stable"
            ));
            return false;
        }
        let named = |pred: &dyn Fn(&&super::Reading) -> bool| -> Vec<String> {
            readings
                .iter()
                .filter(|r| pred(r))
                .map(|r| r.gate.clone())
                .collect()
        };
        let errors: Vec<String> = readings
            .iter()
            .filter(|r| r.bad_query)
            .map(|r| {
                let i = spec
                    .gates
                    .iter()
                    .position(|g| g.name() == r.gate)
                    .unwrap_or(0);
                format!("spec.gates[{i}].query ({}): {}", r.gate, r.message)
            })
            .collect();
        if !errors.is_empty() {
            self.st.preflight = Some(Preflight {
                revision: canary.into(),
                at: self.now,
                no_data: vec![],
                errors: errors.clone(),
            });
            self.transition(
                Phase::Invalid,
                "PreflightFailed",
                format!("gate query rejected by Prometheus: {}", errors.join("; ")),
            );
            return false;
        }
        let unreachable = named(&|r| r.verdict == Verdict::Error);
        if !unreachable.is_empty() {
            self.st.message = Some(format!(
                "preflight waits for Prometheus (gates {})",
                unreachable.join(", ")
            ));
            self.wake_at(after(self.now, PREFLIGHT_RETRY));
            return false;
        }
        let no_data = named(&|r| r.verdict == Verdict::NoData);
        if !no_data.is_empty() {
            self.event(
                EventType::Warning,
                "GateNoData",
                format!(
                    "gates {} return no data against the stable revision {}; check their queries (by default no data fails the gate)",
                    no_data.join(", "),
                    stable.revision
                ),
            );
        }
        self.st.preflight = Some(Preflight {
            revision: canary.into(),
            at: self.now,
            no_data,
            errors: vec![],
        });
        true
    }

    fn progress(
        &mut self,
        spec: &Spec,
        stable: &Track,
        canary: &str,
        request: Option<Action>,
        paused: bool,
    ) -> Workloads {
        let r = spec.replicas;
        let hold = |p: &Self| {
            let mut w = p.hold(spec, stable);
            w.canary = Some(TrackPlan {
                revision: canary.to_string(),
                replicas: 0,
            });
            w
        };
        if request == Some(Action::Abort) {
            return self.start_rollback(
                spec,
                stable,
                canary,
                "Aborted",
                "aborted by request".into(),
            );
        }
        if let Some(f) = self.st.frozen.clone().filter(|f| f.abort) {
            let why = format!("aborted: {}", freeze_note(&f));
            return self.start_rollback(spec, stable, canary, "FreezeAbort", why);
        }
        if !self.preflight(spec, stable, canary) {
            return hold(self);
        }
        let last = spec.stages.len() - 1;
        let mut stage = match self.st.stage.clone() {
            Some(s) => s,
            None if paused => {
                self.transition(
                    Phase::Paused,
                    "Paused",
                    format!(
                        "revision {canary} waits before stage 1: {}",
                        self.hold_reason()
                    ),
                );
                return hold(self);
            }
            None => {
                let s = self.enter_stage(spec, 0);
                self.st.exposure = Some(Exposure {
                    weight: s.weight,
                    canary_pods: 0,
                    since: self.now,
                });
                s
            }
        };
        match request {
            Some(Action::Promote) => stage.approved = true,
            Some(Action::PromoteFull) if (stage.index as usize) < last && !paused => {
                stage = self.enter_stage(spec, last);
                stage.approved = true;
            }
            Some(Action::PromoteFull) => stage.approved = true,
            _ => {}
        }
        let sspec = &spec.stages[stage.index as usize];
        let target = canary_pods(r, stage.weight);
        let ready = self
            .input
            .observed
            .canary
            .as_ref()
            .filter(|c| c.revision == canary)
            .map_or(0, |c| c.ready.min(target));
        if stage.ready_at.is_none() && ready >= target {
            stage.ready_at = Some(self.now);
            stage.bake_until = Some(after(self.now, sspec.bake));
        }
        self.st.stage = Some(stage.clone());
        if let Some(e) = self.st.exposure.as_mut() {
            e.weight = stage.weight;
            e.canary_pods = ready;
        }
        let workloads = Workloads {
            stable: Some(TrackPlan {
                revision: stable.revision.clone(),
                replicas: stable_pods(r, target, ready),
            }),
            canary: Some(TrackPlan {
                revision: canary.to_string(),
                replicas: target,
            }),
            target_replicas: None,
        };

        // Gates watch the canary once its pods for this stage are ready.
        if let Some(ready_at) = stage.ready_at {
            self.evaluate(spec.gates.iter().enumerate(), Purpose::Stage, canary);
            let summary =
                gates::summarize(spec.gates.iter(), &self.st.gates, canary, Some(ready_at));
            if let Some(g) = summary.failed.first() {
                let msg = describe_failure(g, spec);
                return self.start_rollback_with(
                    spec,
                    stable,
                    canary,
                    "GateFailed",
                    msg,
                    summary.failed.clone(),
                );
            }
            if let Some(g) = summary.errored.first() {
                let msg = format!(
                    "gate {} could not be evaluated {} times in a row: {}",
                    g.name,
                    g.consecutive_errors,
                    g.message.clone().unwrap_or_default()
                );
                return self.start_rollback_with(
                    spec,
                    stable,
                    canary,
                    "GateError",
                    msg,
                    summary.errored.clone(),
                );
            }
            let baked = stage.approved || stage.bake_until.is_some_and(|b| self.now >= b);
            let approved = !sspec.manual || stage.approved;
            if !paused && baked && approved && summary.all_pass {
                return self.advance(spec, canary, &stage, workloads);
            }
            if let Some(b) = stage.bake_until.filter(|_| !stage.approved) {
                self.wake_at(b);
            }
            // A stage that stops making progress after its bake (gates flapping, errors that
            // come and go, no data held) must not hold forever: the progress deadline ends it.
            if baked && !paused && !summary.all_pass {
                let stuck_since = stage
                    .bake_until
                    .filter(|_| !stage.approved)
                    .unwrap_or(ready_at);
                let deadline = after(stuck_since, spec.progress_deadline);
                if self.now >= deadline {
                    let msg = format!(
                        "stage {} made no progress within the progress deadline: gates never passed together",
                        stage.index + 1
                    );
                    let gates = self
                        .st
                        .gates
                        .iter()
                        .filter(|g| g.revision.as_deref() == Some(canary))
                        .cloned()
                        .collect();
                    return self.start_rollback_with(
                        spec,
                        stable,
                        canary,
                        "ProgressDeadlineExceeded",
                        msg,
                        gates,
                    );
                }
                self.wake_at(deadline);
            }
            let waiting = if !summary.all_pass {
                "waiting for every gate to pass".to_string()
            } else if !baked {
                format!(
                    "baking until {}",
                    stage.bake_until.map(|b| b.to_string()).unwrap_or_default()
                )
            } else if !approved {
                "waiting for manual approval (rollgate promote)".to_string()
            } else {
                String::new()
            };
            self.set_progress_phase(paused, &stage, spec, &waiting);
        } else {
            let deadline = after(stage.started_at, spec.progress_deadline);
            if self.now >= deadline {
                let msg = format!(
                    "stage {} canary pods not ready within the progress deadline: {ready}/{target} ready",
                    stage.index
                );
                return self.start_rollback_with(
                    spec,
                    stable,
                    canary,
                    "ProgressDeadlineExceeded",
                    msg,
                    vec![],
                );
            }
            self.wake_at(deadline);
            self.set_progress_phase(
                paused,
                &stage,
                spec,
                &format!("waiting for canary pods: {ready}/{target} ready"),
            );
        }
        workloads
    }

    fn set_progress_phase(
        &mut self,
        paused: bool,
        stage: &StageStatus,
        spec: &Spec,
        waiting: &str,
    ) {
        let at = format!(
            "stage {}/{} at {}%",
            stage.index + 1,
            spec.stages.len(),
            stage.weight
        );
        if paused {
            let why = self.hold_reason();
            self.transition(Phase::Paused, "Paused", format!("{at}: {why}"));
        } else {
            self.transition(Phase::Progressing, "Resumed", format!("{at}: {waiting}"));
        }
    }

    fn enter_stage(&mut self, spec: &Spec, index: usize) -> StageStatus {
        let s = StageStatus {
            index: index as i32,
            weight: spec.stages[index].weight,
            started_at: self.now,
            ready_at: None,
            bake_until: None,
            approved: false,
        };
        self.milestone(
            EventType::Normal,
            "StageStarted",
            format!(
                "stage {}/{}: canary weight {}%",
                index + 1,
                spec.stages.len(),
                s.weight
            ),
        );
        self.st.stage = Some(s.clone());
        s
    }

    fn advance(
        &mut self,
        spec: &Spec,
        canary: &str,
        stage: &StageStatus,
        mut w: Workloads,
    ) -> Workloads {
        let next = stage.index as usize + 1;
        self.transition(
            Phase::Progressing,
            "Resumed",
            format!("stage {next}/{} passed", spec.stages.len()),
        );
        if next < spec.stages.len() {
            let s = self.enter_stage(spec, next);
            w.canary = Some(TrackPlan {
                revision: canary.into(),
                replicas: canary_pods(spec.replicas, s.weight),
            });
            self.wake_at(self.now);
            return w;
        }
        // Promotion: stable takes the canary's revision; the canary retires once stable is ready.
        self.milestone(
            EventType::Normal,
            "Promoting",
            format!("every stage passed: revision {canary} becomes stable"),
        );
        self.st.stable_revision = Some(canary.into());
        w.stable = Some(TrackPlan {
            revision: canary.into(),
            replicas: spec.replicas,
        });
        w.canary = Some(TrackPlan {
            revision: canary.into(),
            replicas: spec.replicas,
        });
        w
    }

    /// Evaluates due gates for `purpose` on `revision`, folding readings in or asking for them.
    fn evaluate<'g>(
        &mut self,
        gates_: impl Iterator<Item = (usize, &'g super::GateSpec)>,
        purpose: Purpose,
        revision: &str,
    ) {
        for (i, g) in gates_ {
            let prev = self.st.gates.iter().position(|s| s.name == g.name());
            let prev_status = prev.map(|p| self.st.gates[p].clone());
            let reading = self
                .input
                .readings
                .iter()
                .find(|r| r.purpose == purpose && r.gate == g.name() && r.revision == revision);
            if let Some(reading) = reading {
                let folded = gates::fold(g, prev_status.as_ref(), reading, self.now);
                match prev {
                    Some(p) => self.st.gates[p] = folded,
                    None => self.st.gates.push(folded),
                }
                self.wake_at(after(self.now, g.interval));
            } else if gates::is_due(g, prev_status.as_ref(), revision, self.now) {
                self.wants.push(Due {
                    gate: i,
                    purpose,
                    revision: revision.to_string(),
                });
            } else if let Some(p) = &prev_status {
                self.wake_at(after(p.evaluated_at, g.interval));
            }
        }
    }

    fn start_rollback(
        &mut self,
        spec: &Spec,
        stable: &Track,
        canary: &str,
        reason: &str,
        message: String,
    ) -> Workloads {
        self.start_rollback_with(spec, stable, canary, reason, message, vec![])
    }

    fn start_rollback_with(
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
        let mut w = self.hold(spec, stable);
        w.canary = Some(TrackPlan {
            revision: canary.into(),
            replicas: 0,
        });
        w
    }

    fn rolling_back(&mut self, spec: &Spec, stable: &Track) -> Workloads {
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
        let mut w = self.hold(spec, stable);
        w.canary = Some(TrackPlan {
            revision: canary,
            replicas: 0,
        });
        w
    }

    fn rolled_back(&mut self, spec: &Spec, stable: &Track) -> Workloads {
        self.verify(spec, stable);
        self.hold(spec, stable)
    }

    /// After a rollback, the gates watch stable until the verification window ends.
    fn verify(&mut self, spec: &Spec, stable: &Track) {
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
        let summary = gates::summarize(
            absolute.iter().map(|(_, g)| *g),
            &self.st.gates,
            &stable.revision,
            None,
        );
        let verdict = if let Some(g) = summary.failed.first() {
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

    /// No canary is wanted: stable serves the desired revision. A canary still running (a
    /// promotion completing, or a revert) retires as stable becomes ready.
    fn settle(&mut self, spec: &Spec, stable: &Track, paused: bool) -> Workloads {
        let promoting = self.st.canary_revision.as_deref() == Some(stable.revision.as_str())
            && matches!(self.st.phase, Phase::Progressing | Phase::Paused);
        let canary_obs = self.input.observed.canary.clone();
        let canary = canary_obs.as_ref().map(|c| TrackPlan {
            revision: c.revision.clone(),
            replicas: retiring_pods(spec.replicas, stable.ready),
        });
        let done = stable.ready >= spec.replicas
            && canary_obs
                .as_ref()
                .is_none_or(|c| c.replicas == 0 && c.ready == 0);
        if done {
            self.st.stage = None;
            self.st.exposure = None;
            if paused {
                self.transition(
                    Phase::Paused,
                    "Paused",
                    format!(
                        "revision {} serves; {}",
                        stable.revision,
                        self.hold_reason()
                    ),
                );
            } else if promoting {
                self.transition(
                    Phase::Healthy,
                    "Promoted",
                    format!("revision {} promoted and serving", stable.revision),
                );
            } else {
                self.transition(
                    Phase::Healthy,
                    "UpToDate",
                    format!("revision {} serves", stable.revision),
                );
            }
        } else if promoting || self.st.phase != Phase::Healthy {
            self.transition(
                Phase::Progressing,
                "Settling",
                format!(
                    "stable revision {} taking over: {}/{} ready",
                    stable.revision, stable.ready, spec.replicas
                ),
            );
        }
        self.verify(spec, stable);
        Workloads {
            stable: Some(TrackPlan {
                revision: stable.revision.clone(),
                replicas: spec.replicas,
            }),
            canary,
            target_replicas: None,
        }
    }
}

fn freeze_note(f: &crate::api::FrozenBy) -> String {
    let by = f.by.as_deref().unwrap_or("someone");
    let reason = f
        .reason
        .as_deref()
        .map(|r| format!(": {r}"))
        .unwrap_or_default();
    format!("frozen by {by} (Freeze {}){reason}", f.name)
}

fn describe_failure(g: &GateStatus, spec: &Spec) -> String {
    let limit = spec
        .gates
        .iter()
        .find(|s| s.name() == g.name)
        .map_or(0, |s| s.failure_limit);
    let value = match (g.value, g.stable_value) {
        (Some(v), Some(s)) => format!("{v} (stable {s})"),
        (Some(v), None) => v.to_string(),
        (None, _) => format!("{:?}", g.verdict),
    };
    format!(
        "gate {} failed {}/{limit} times: value {value}, threshold {}, query {}",
        g.name,
        g.consecutive_failures,
        g.threshold.as_deref().unwrap_or("-"),
        g.query.as_deref().unwrap_or("-"),
    )
}

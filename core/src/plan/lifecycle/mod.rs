//! The Rollout lifecycle (DESIGN.md §5) as one pure pass over the previous status.

mod due;
mod rollback;
mod route;
mod stage;

use crate::traffic::Share;
pub use due::due;
use route::{
    StagePods, Way, drift_of, held, new_request, paused_by_request, restorable, route, stage_share,
};

use std::time::Duration;

use jiff::Timestamp;

use super::capacity::{retiring_pods, stable_pods};
use super::tally::{self, Due, Purpose, after};
use super::{
    Decision, Effect, Event, EventType, HISTORY_LIMIT, Input, Spec, SpecError, Track, TrackPlan,
    Verb, Workloads,
};
use crate::api::{
    Drift, Exposure, GateStatus, Phase, Preflight, RollbackRecord, RolloutStatus, StageStatus,
    Transition, Verdict, Verification,
};

/// Look again at least this often, even when nothing is scheduled.
const RESYNC: Duration = Duration::from_secs(300);
/// While a canary is in flight, look again at least this often.
const IN_FLIGHT_RESYNC: Duration = Duration::from_secs(30);
/// Retry a preflight that Prometheus could not answer.
const PREFLIGHT_RETRY: Duration = Duration::from_secs(5);
/// The shortest wait before the next look at a Rollout.
pub const MIN_REQUEUE: Duration = Duration::from_millis(100);
/// How soon to read a router's report again while a share is not yet in effect.
const ROUTER_RECHECK: Duration = Duration::from_secs(1);
/// A queued rollout looks for a free canary slot this often.
const QUEUE_RECHECK: Duration = Duration::from_secs(2);

pub(super) fn decide(input: Input<'_>) -> Decision {
    let mut p = Planner {
        now: input.now,
        st: input.status.clone(),
        events: Vec::new(),
        effects: Vec::new(),
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
    effects: Vec<Effect>,
    wants: Vec<Due>,
    wake: Option<Timestamp>,
}

impl Planner<'_> {
    fn finish(mut self, workloads: Workloads) -> Decision {
        self.st.observed_generation = Some(self.input.generation);
        self.scale_status();
        // The status this pass started from is what is on record: a rollback found there in
        // flight is one a killed controller may not have opened the incident of yet.
        let rolling_back = |s: &RolloutStatus| s.phase == Phase::RollingBack;
        if self.st.rollback.is_some() && (rolling_back(self.input.status) || rolling_back(&self.st))
        {
            self.effect(Effect::OpenIncident);
        }
        let told = condition_is(&self.st, "ChannelsReady", "False");
        super::conditions::derive(
            &mut self.st,
            self.input.generation,
            self.now,
            self.input.channel_problems,
        );
        // Told once, when the channels stop being ready.
        if !told && !self.input.channel_problems.is_empty() {
            self.event(
                EventType::Warning,
                "ChannelsNotReady",
                format!(
                    "incidents would not reach every channel: {}",
                    self.input.channel_problems.join("; ")
                ),
            );
        }
        let in_flight = matches!(
            self.st.phase,
            Phase::Progressing | Phase::RollingBack | Phase::Pending
        ) || self
            .st
            .verification
            .as_ref()
            .is_some_and(|v| v.until > self.now);
        let cap = if in_flight { IN_FLIGHT_RESYNC } else { RESYNC };
        let stages = self.input.spec.map_or(0, |s| s.stages.len());
        self.st.columns = Some(self.st.columns_for(stages));
        // An evaluation `due` did not foresee: this decision held without it; look again now.
        if !self.wants.is_empty() {
            self.wake_at(self.now);
        }
        // A wake time already past means "now", never "as long ago as it was".
        let requeue_after = self
            .wake
            .map(|w| Duration::try_from(self.now.duration_until(w)).unwrap_or(Duration::ZERO))
            .map_or(cap, |d| d.min(cap))
            .max(MIN_REQUEUE);
        Decision {
            status: self.st,
            workloads,
            events: self.events,
            effects: self.effects,
            requeue_after,
            wants: self.wants,
        }
    }

    /// The `scale` subresource's status, from what was observed (kept as it was when the
    /// workloads could not be read): the pods of both tracks and the selector that finds them.
    fn scale_status(&mut self) {
        let obs = self.input.observed;
        if obs.selector.is_none() {
            return;
        }
        let pods = [&obs.stable, &obs.canary]
            .into_iter()
            .flatten()
            .map(|t| t.replicas.max(0))
            .sum();
        self.st.replicas = Some(pods);
        self.st.selector = obs.selector.clone();
    }

    fn effect(&mut self, e: Effect) {
        if !self.effects.contains(&e) {
            self.effects.push(e);
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
            if matches!(to, Phase::Healthy | Phase::RolledBack) {
                self.effect(Effect::Settled);
            }
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
            // Which of the two, so the reader knows what lifts it.
            None if self.st.paused_by_request => {
                "paused by request (`rollgate resume` lifts it)".to_string()
            }
            None => "paused by the spec (spec.paused: true)".to_string(),
        }
    }

    /// A request not handled before, once.
    fn take_request(&mut self) -> Option<Verb> {
        let r = new_request(&self.st, self.input.request)?;
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
        self.st.paused_by_request = paused_by_request(&self.st, request);
        self.note_freeze();
        let paused = held(spec, &self.st, self.input.freeze);

        let stable = match self.st.stable_revision.clone() {
            None => match self.adopt(spec, &desired) {
                Ok(stable) => stable,
                Err(waiting) => return *waiting,
            },
            Some(recorded) => match self.stable_of(spec, &recorded) {
                Some(stable) => stable,
                // Nothing verified to restore: leave every workload as it is, visibly.
                None => return Workloads::default(),
            },
        };
        let mut w = self.serving(spec, &stable, &desired, request, paused);
        w.target_replicas = Some(0);
        w
    }

    /// Before any revision is verified: the stable track is built from the target's template
    /// (the running release), and serves once its pods are ready.
    fn adopt(&mut self, spec: &Spec, desired: &str) -> Result<Track, Box<Workloads>> {
        let waiting = match &self.input.observed.stable {
            None => Some("creating the stable workload from the target's template".to_string()),
            Some(s) if s.ready < spec.replicas => Some(format!(
                "waiting for stable pods before handing over: {}/{} ready",
                s.ready, spec.replicas
            )),
            Some(_) => None,
        };
        if let Some(message) = waiting {
            self.transition(Phase::Pending, "Adopting", message);
            return Err(Box::new(Workloads {
                stable: Some(TrackPlan {
                    revision: desired.to_string(),
                    replicas: spec.replicas,
                }),
                ..Default::default()
            }));
        }
        let stable = self.input.observed.stable.clone().expect("checked above");
        self.st.stable_revision = Some(stable.revision.clone());
        self.transition(
            Phase::Healthy,
            "Adopted",
            format!(
                "stable revision {} serves; the target is held at 0",
                stable.revision
            ),
        );
        Ok(stable)
    }

    /// The stable track as rollgate recorded it. A deleted, re-pointed or hand-edited track is
    /// restored to the recorded revision from rollgate's copy of its template — never rebuilt
    /// from the target, whose template is the unverified release. `None` when no copy exists.
    fn stable_of(&mut self, spec: &Spec, recorded: &str) -> Option<Track> {
        let obs = self.input.observed;
        let drift = drift_of(&self.st, obs, recorded);
        let restoring = Track {
            revision: recorded.to_string(),
            replicas: spec.replicas,
            ready: 0,
            drift: None,
        };
        let Some(why) = drift else {
            if self.st.drift.take().is_some() {
                self.event(
                    EventType::Normal,
                    "TrackRestored",
                    format!("the stable track runs the verified revision {recorded} again"),
                );
            }
            return Some(
                obs.stable
                    .clone()
                    .filter(|t| t.revision == recorded)
                    .unwrap_or(restoring),
            );
        };
        let restorable = restorable(obs, recorded);
        let message = if restorable {
            format!("{why}; restoring revision {recorded} from rollgate's record")
        } else {
            format!(
                "{why}, and rollgate holds no copy of revision {recorded}'s template: nothing is changed (re-create the Rollout to adopt what runs)"
            )
        };
        if self.st.drift.as_ref().is_none_or(|d| d.message != message) {
            let reason = if restorable {
                "TrackDrift"
            } else {
                "TrackLost"
            };
            self.event(EventType::Warning, reason, message.clone());
            self.st.drift = Some(Drift {
                at: self.now,
                message: message.clone(),
                restorable,
            });
        }
        if !restorable {
            self.st.message = Some(message);
            return None;
        }
        Some(restoring)
    }

    /// Everything after adoption: the tracks serve and the target is held at 0.
    fn serving(
        &mut self,
        spec: &Spec,
        stable: &Track,
        desired: &str,
        request: Option<Verb>,
        paused: bool,
    ) -> Workloads {
        let retry = request == Some(Verb::Retry);
        let route = route(
            &self.st,
            &stable.revision,
            desired,
            retry,
            paused,
            self.input.admitted,
            self.input.generation,
        );
        // Preflight stopped this revision (a broken query, or no data by the deadline): it
        // stays stopped until something changes — the spec, or a retry, which preflights anew.
        if route.again {
            self.st.preflight = None;
            let why = if retry {
                "retry requested"
            } else {
                "the spec changed"
            };
            self.transition(
                Phase::Progressing,
                "PreflightAgain",
                format!("revision {desired}: {why}; every gate is asked of stable again"),
            );
        }
        match route.way {
            Way::RollingBack => self.rolling_back(spec, stable),
            Way::RolledBack => self.rolled_back(spec, stable),
            Way::Settle => self.settle(spec, stable),
            Way::Stopped => self.hold(spec, stable),
            Way::Progress { canary } => self.progress(spec, stable, &canary, request, paused),
            Way::Paused => {
                let why = self.hold_reason();
                self.transition(
                    Phase::Paused,
                    "Paused",
                    format!("revision {desired} waits: {why}"),
                );
                self.hold(spec, stable)
            }
            Way::Queued => {
                let since = *self.st.queued_since.get_or_insert(self.now);
                self.transition(
                    Phase::Queued,
                    "Queued",
                    format!(
                        "revision {desired} waits for a canary slot (queued since {})",
                        super::instant(since)
                    ),
                );
                self.wake_at(after(self.now, QUEUE_RECHECK));
                self.hold(spec, stable)
            }
            Way::Start => {
                self.st.queued_since = None;
                self.start_canary(desired, retry);
                self.progress(spec, stable, desired, request, paused)
            }
        }
    }

    /// Stable at full capacity, no share for any canary, and its pods gone once the router
    /// no longer sends it requests.
    fn hold(&mut self, spec: &Spec, stable: &Track) -> Workloads {
        let canary = self.input.observed.canary.as_ref().map(|c| TrackPlan {
            revision: c.revision.clone(),
            replicas: self.unrouted(spec, c.replicas),
        });
        Workloads {
            stable: Some(TrackPlan {
                revision: stable.revision.clone(),
                replicas: spec.replicas,
            }),
            canary,
            target_replicas: None,
            share: Some(Share::none()),
        }
    }

    /// Pods a canary with `replicas` keeps while its share goes to zero: `then` once no
    /// request reaches it, all of them until then (a rollback moves requests before pods).
    fn unrouted_then(&mut self, spec: &Spec, replicas: i32, then: i32) -> i32 {
        if spec
            .router
            .carries(&Share::none(), self.input.observed.routed.as_ref())
        {
            then
        } else {
            // The router's report is read, not watched: look again soon.
            self.wake_at(after(self.now, ROUTER_RECHECK));
            replicas
        }
    }

    fn unrouted(&mut self, spec: &Spec, replicas: i32) -> i32 {
        self.unrouted_then(spec, replicas, 0)
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
        self.effect(Effect::CanaryStarted);
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

    /// No canary is wanted: stable serves the desired revision. A canary still running (a
    /// promotion completing, or a revert) retires as stable becomes ready.
    fn settle(&mut self, spec: &Spec, stable: &Track) -> Workloads {
        let promoting = self.st.canary_revision.as_deref() == Some(stable.revision.as_str())
            && matches!(self.st.phase, Phase::Progressing | Phase::Paused);
        let canary_obs = self.input.observed.canary.clone();
        // Requests move to stable once all of it is ready; the canary retires behind them.
        let stable_ready = stable.ready >= spec.replicas;
        let canary = canary_obs.as_ref().map(|c| TrackPlan {
            revision: c.revision.clone(),
            replicas: self.unrouted_then(
                spec,
                c.replicas,
                retiring_pods(spec.replicas, stable.ready),
            ),
        });
        let done = stable_ready
            && canary_obs
                .as_ref()
                .is_none_or(|c| c.replicas == 0 && c.ready == 0);
        if done {
            self.st.stage = None;
            self.st.exposure = None;
            // Nothing is held back while nothing is in flight: a freeze or pause of an idle
            // rollout is the Frozen condition and column, never a phase hiding Healthy.
            if promoting {
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
            share: stable_ready.then(Share::none),
        }
    }
}

fn condition_is(st: &RolloutStatus, type_: &str, status: &str) -> bool {
    st.conditions
        .iter()
        .any(|c| c.type_ == type_ && c.status == status)
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

//! Inside a canary: the preflight, stages, bakes, approvals and the gates that watch them.

use super::rollback::describe_failure;
use super::*;

impl Planner<'_> {
    /// Runs every gate once against stable before the canary gets any share.
    /// Returns false while the preflight is not complete (the caller holds).
    pub(super) fn preflight(&mut self, spec: &Spec, stable: &Track, canary: &str) -> bool {
        if spec.gates.is_empty() || super::route::preflight_complete(&self.st, canary) {
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
        // A dry-run gate never holds a release, not even before exposure.
        let readings: Vec<_> = readings
            .into_iter()
            .filter(|r| {
                spec.gates
                    .iter()
                    .find(|g| g.name() == r.gate)
                    .is_none_or(|g| !g.dry_run())
            })
            .collect();
        let named = |pred: &dyn Fn(&&crate::plan::Reading) -> bool| -> Vec<String> {
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
                waiting_since: None,
            });
            self.transition(
                Phase::Invalid,
                "PreflightFailed",
                format!("gate query rejected by Prometheus: {}", errors.join("; ")),
            );
            return false;
        }
        // Whatever the preflight waits for, it waits within the progress deadline.
        let waiting_since = self
            .st
            .preflight
            .as_ref()
            .filter(|p| p.revision == canary)
            .and_then(|p| p.waiting_since)
            .unwrap_or(self.now);
        let deadline = after(waiting_since, spec.progress_deadline);
        let unreachable = named(&|r| r.verdict == Verdict::Error);
        // A gate that may not pass on no data holds the release before any exposure: a typo'd
        // label must not expose the canary and then page someone for a rollback.
        let no_data: Vec<String> = readings
            .iter()
            .filter(|r| r.verdict == Verdict::NoData)
            .filter(|r| {
                spec.gates
                    .iter()
                    .find(|g| g.name() == r.gate)
                    .is_none_or(|g| g.on_no_data != crate::api::NoDataPolicy::Pass)
            })
            .map(|r| r.gate.clone())
            .collect();
        if unreachable.is_empty() && no_data.is_empty() {
            self.st.preflight = Some(Preflight {
                revision: canary.into(),
                at: self.now,
                no_data: vec![],
                errors: vec![],
                waiting_since: None,
            });
            return true;
        }
        let (what, gates) = if unreachable.is_empty() {
            ("return no data against the stable revision", &no_data)
        } else {
            ("cannot reach Prometheus", &unreachable)
        };
        if self.now >= deadline {
            let errors: Vec<String> = gates
                .iter()
                .map(|g| {
                    let i = spec.gates.iter().position(|s| s.name() == g).unwrap_or(0);
                    format!("spec.gates[{i}].query ({g}): {what} within the progress deadline")
                })
                .collect();
            self.st.preflight = Some(Preflight {
                revision: canary.into(),
                at: self.now,
                no_data: no_data.clone(),
                errors: errors.clone(),
                waiting_since: Some(waiting_since),
            });
            self.transition(
                Phase::Invalid,
                "PreflightNoData",
                format!(
                    "revision {canary} was never exposed: {}; fix the gates or `rollgate retry`",
                    errors.join("; ")
                ),
            );
            return false;
        }
        let newly = self
            .st
            .preflight
            .as_ref()
            .filter(|p| p.revision == canary)
            .is_none_or(|p| p.no_data != no_data);
        if newly && !no_data.is_empty() {
            self.event(
                EventType::Warning,
                "GateNoData",
                format!(
                    "gates {} return no data against the stable revision {}: the canary waits, unexposed, until they do (check their queries; progress deadline {})",
                    no_data.join(", "),
                    stable.revision,
                    super::super::instant(deadline)
                ),
            );
        }
        self.st.preflight = Some(Preflight {
            revision: canary.into(),
            at: self.now,
            no_data: no_data.clone(),
            errors: vec![],
            waiting_since: Some(waiting_since),
        });
        self.st.message = Some(format!(
            "revision {canary} waits before exposure: gates {} {what} (no canary pod until they do; deadline {})",
            gates.join(", "),
            super::super::instant(deadline)
        ));
        self.wake_at(after(self.now, PREFLIGHT_RETRY).min(deadline));
        false
    }

    pub(super) fn progress(
        &mut self,
        spec: &Spec,
        stable: &Track,
        canary: &str,
        request: Option<Verb>,
        paused: bool,
    ) -> Workloads {
        let r = spec.replicas;
        let hold = |p: &mut Self| {
            let mut w = p.hold(spec, stable);
            w.canary = Some(TrackPlan {
                revision: canary.to_string(),
                replicas: 0,
            });
            w
        };
        if request == Some(Verb::Abort) {
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
                    routed: None,
                    since: self.now,
                });
                s
            }
        };
        match request {
            Some(Verb::Promote) => stage.approved = true,
            Some(Verb::PromoteFull) if (stage.index as usize) < last && !paused => {
                stage = self.enter_stage(spec, last);
                stage.approved = true;
            }
            Some(Verb::PromoteFull) => stage.approved = true,
            _ => {}
        }
        let sspec = &spec.stages[stage.index as usize];
        let share = stage_share(spec, stage.index as usize);
        let pods = StagePods::of(spec, &share, canary, self.input.observed);
        let (target, ready) = (pods.target, pods.ready);
        if stage.ready_at.is_none() && pods.exposed() {
            stage.ready_at = Some(self.now);
            stage.bake_until = Some(after(self.now, sspec.bake));
        }
        self.st.stage = Some(stage.clone());
        if let Some(e) = self.st.exposure.as_mut() {
            e.weight = stage.weight;
            e.canary_pods = ready;
            e.routed = self.input.observed.routed.as_ref().map(|r| r.weight);
        }
        if pods.ready() && !pods.routed {
            // The router's report is read, not watched: look again soon.
            self.wake_at(after(self.now, ROUTER_RECHECK));
        }
        let stable_pods = if spec.router.stable_keeps_all() {
            r
        } else {
            stable_pods(r, target, ready)
        };
        let workloads = Workloads {
            stable: Some(TrackPlan {
                revision: stable.revision.clone(),
                replicas: stable_pods,
            }),
            canary: Some(TrackPlan {
                revision: canary.to_string(),
                replicas: target,
            }),
            target_replicas: None,
            // The share is routed once its pods are ready; until then the last one stays.
            share: pods.ready().then_some(share),
        };

        // Gates watch the canary once its pods for this stage are ready.
        if let Some(ready_at) = stage.ready_at {
            let judging = stage.index as usize;
            self.evaluate(spec.stage_gates(judging), Purpose::Stage, canary);
            let gates = || spec.stage_gates(judging).map(|(_, g)| g);
            let summary = tally::summarize(gates(), &self.st.gates, canary, Some(ready_at));
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
            // A bake still running ends the wait; one already over is no reason to look again.
            if let Some(b) = stage
                .bake_until
                .filter(|b| !stage.approved && *b > self.now)
            {
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
                format!(
                    "waiting for every gate to pass: {}",
                    tally::holding(gates(), &self.st.gates, canary, ready_at).join("; ")
                )
            } else if !baked {
                format!(
                    "baking until {}",
                    stage
                        .bake_until
                        .map(super::super::instant)
                        .unwrap_or_default()
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
                    stage.index + 1
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

    pub(super) fn set_progress_phase(
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

    pub(super) fn enter_stage(&mut self, spec: &Spec, index: usize) -> StageStatus {
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

    pub(super) fn advance(
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
                replicas: spec.router.canary_pods(spec.replicas, s.weight),
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
    pub(super) fn evaluate<'g>(
        &mut self,
        gates_: impl Iterator<Item = (usize, &'g crate::plan::GateSpec)>,
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
                // After a rollback, stable's windows may hold no samples for a moment.
                let settling = (purpose == Purpose::Verification)
                    .then(|| self.st.rollback.as_ref().map(|r| r.at))
                    .flatten();
                let folded = tally::fold(g, prev_status.as_ref(), reading, self.now, settling);
                match prev {
                    Some(p) => self.st.gates[p] = folded,
                    None => self.st.gates.push(folded),
                }
                self.wake_at(after(self.now, g.interval));
            } else if tally::is_due(g, prev_status.as_ref(), revision, self.now) {
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
}

//! Supervisor behaviour: plans (sequential starts and stops), the mailbox,
//! restart decisions, intensity, auto_shutdown, escalation and ending.

use std::sync::Arc;
use std::time::Duration;

use crate::injected_bug::InjectedBug;
use crate::plan::{Bound, Mail, Mode, PendingReply, Phase, Plan, PlanKind, SupEvent};
use crate::time::duration_nanos;
use crate::tree::{flag, NodeState, StopCause, SupId, TimerPurpose};
use crate::{
    AutoShutdown, Engine, ExitReason, Lifespan, NodeId, Notice, Outcome, Reply, RequestError, Restart, RestartAllMode,
    ShutdownOrder, Strategy,
};

impl Engine {
    /// Process supervisor-to-parent events until none is left.
    pub(crate) fn settle(&mut self) {
        while let Some(ev) = self.sup_events.pop_front() {
            let s = match &ev {
                SupEvent::Started(s) | SupEvent::StartFailed(s, _) | SupEvent::Exited(s, _) => *s,
            };
            // Only a child supervisor sends news; the root has no parent.
            let Some(p) = self.tree.parent(s) else { continue };
            match ev {
                SupEvent::Started(s) => {
                    let now = self.now;
                    if let Some(ext) = self.tree.node_mut(s).ext.as_deref_mut() {
                        ext.up_since = Some(now);
                    }
                    self.tree.set_state(s, NodeState::Running);
                    self.advance(p);
                }
                SupEvent::StartFailed(s, error) => {
                    self.tree.node_mut(s).cause = StopCause::None;
                    self.tree.set_state(s, NodeState::Stopped);
                    self.on_start_failed(p, s, error);
                }
                SupEvent::Exited(s, reason) => self.child_sup_exited(p, s, reason),
            }
        }
    }

    /// Child supervisor `c` of `s` ended with `reason`.
    fn child_sup_exited(&mut self, s: SupId, c: NodeId, reason: ExitReason) {
        self.record_uptime(c);
        self.runs.cancel(&mut self.tree, c);
        let n = self.tree.node_mut(c);
        n.flags &= !flag::KILLING;
        let cause = std::mem::replace(&mut n.cause, StopCause::None);
        if cause == StopCause::Plan {
            self.tree.set_state(c, NodeState::Stopped);
            self.advance(s);
        } else {
            self.child_exited_by_itself(s, c, reason.is_normal(), Some(reason));
        }
    }

    /// Start supervisor `s`: build its static children and start them in order
    /// (the root's were built by `Engine::new`; its spec no longer lists them).
    pub(crate) fn start_sup(&mut self, s: SupId) {
        let generation = self.runs.new_generation();
        let n = self.tree.node_mut(s.node());
        n.generation = generation;
        n.cause = StopCause::None;
        n.flags &= !flag::KILLING;
        if let Some(ext) = n.ext.as_deref_mut() {
            ext.up_since = None;
        }
        self.tree.set_state(s.node(), NodeState::Spawned);
        self.notices.push_back(Notice::SupStarting { sup: s.node() });
        let spec = Arc::clone(&self.tree.sup(s).spec);
        self.tree.sup_mut(s).window.clear();
        let mut full = None;
        for child in &spec.children {
            if let Err(e) = self.tree.add_child(s, child, false) {
                full = Some(e);
                break;
            }
        }
        let first = self.tree.sup(s).first;
        let plan = match full {
            None => Plan::start(PlanKind::Init, first, Bound::Last),
            Some(full) => {
                // Not one more node fits: the start fails before any child starts.
                let path = self.path(s.node()).unwrap_or_default();
                let reason = ExitReason::Shutdown(format!("failed_to_start: {}", full.at(path)));
                let last = self.tree.sup(s).last;
                Plan::stop(
                    PlanKind::InitAbort {
                        reason: Box::new(reason),
                    },
                    last,
                    Bound::First,
                    None,
                )
            }
        };
        self.tree.sup_mut(s).mode = Mode::Busy(plan);
        self.advance(s);
    }

    /// Issue the start of child `c` (a worker's `Spawn`, or a supervisor's init).
    fn start_node(&mut self, c: NodeId) {
        match self.tree.as_sup(c) {
            Some(cs) => self.start_sup(cs),
            None => self.runs.spawn(&mut self.tree, &mut self.notices, c),
        }
    }

    fn plan_mut(&mut self, s: SupId) -> Option<&mut Plan> {
        match &mut self.tree.sup_mut(s).mode {
            Mode::Busy(p) => Some(p),
            _ => None,
        }
    }

    /// Move supervisor `s` forward as far as it can go without waiting: run
    /// its plan, and when idle, handle its mailbox. Idempotent; called after
    /// every change that may concern `s`.
    pub(crate) fn advance(&mut self, s: SupId) {
        loop {
            let sup = self.tree.sup_mut(s);
            let plan = match &mut sup.mode {
                Mode::Dormant => return,
                Mode::Idle => match sup.mailbox.pop_front() {
                    Some(mail) => {
                        self.process_mail(s, mail);
                        continue;
                    }
                    None => return,
                },
                Mode::Busy(plan) => plan,
            };
            let (phase, initiated) = (plan.phase, plan.initiated);
            let marked_only = matches!(plan.kind, PlanKind::RestartAll { .. });
            let Some(c) = plan.cursor else {
                if phase == Phase::Stop {
                    self.stop_phase_done(s);
                } else if matches!(plan.kind, PlanKind::Restart) {
                    // What `plan_done` does for an automatic restart, without the call.
                    sup.mode = Mode::Idle;
                } else {
                    self.plan_done(s);
                }
                continue;
            };
            let at_end = if phase == Phase::Stop {
                plan.stop_to
            } else {
                plan.start_to
            }
            .ends_at(c);
            let n = self.tree.node(c);
            let (state, next, prev) = (n.state, n.next, n.prev);
            let selected = !marked_only || n.has(flag::MARK);
            if phase == Phase::Stop {
                if selected && state.is_live() {
                    self.ensure_stopping(s, c);
                    if self.tree.node(c).state.is_live() {
                        return; // waiting for it to exit
                    }
                    continue;
                }
                self.set_cursor(s, if at_end { None } else { prev }, false);
                if selected {
                    self.after_stop(s, c);
                }
            } else if !initiated {
                if selected && state == NodeState::Stopped && !self.held_back(s, c) {
                    self.set_cursor(s, Some(c), true);
                    self.tree.node_mut(c).flags &= !flag::MARK;
                    self.start_node(c);
                    // A start never completes within the call that issues it
                    // (a worker waits for `Started`, a supervisor's news is queued).
                    return;
                } else {
                    self.set_cursor(s, if at_end { None } else { next }, false);
                }
            } else if state == NodeState::Running {
                self.set_cursor(s, if at_end { None } else { next }, false);
            } else {
                return; // waiting for it to start
            }
        }
    }

    /// Whether the start walk of `s` passes over its `autostart = false`
    /// child `c`: in its supervisor's start, and in a strategy's restart
    /// while `c` has never run (an operator's start is never held back).
    /// Out of line: the restart path never comes here.
    fn held_back(&self, s: SupId, c: NodeId) -> bool {
        if !self.tree.node(c).has(flag::NO_AUTOSTART) {
            return false;
        }
        match &self.tree.sup(s).mode {
            Mode::Busy(plan) => match plan.kind {
                PlanKind::Init => true,
                PlanKind::Restart => self.tree.node(c).generation == 0,
                _ => false,
            },
            _ => false,
        }
    }

    fn set_cursor(&mut self, s: SupId, cursor: Option<NodeId>, initiated: bool) {
        if let Some(plan) = self.plan_mut(s) {
            plan.cursor = cursor;
            plan.initiated = initiated;
        }
    }

    /// Child `c` of `s` is not live any more and the stop phase has passed it.
    fn after_stop(&mut self, s: SupId, c: NodeId) {
        let Mode::Busy(plan) = &self.tree.sup(s).mode else {
            return;
        };
        if self.tree.node(c).state == NodeState::Removed {
            // A temporary child whose start failed during this plan: already gone.
            return;
        }
        let remove_temporary = matches!(plan.kind, PlanKind::Restart | PlanKind::Terminate { .. });
        if matches!(plan.kind, PlanKind::RestartAll { .. }) && self.tree.node(c).state != NodeState::Stopped {
            // It ended by itself before its turn: its own exit (in the mailbox)
            // decides what happens to it, not this restart_all.
            self.tree.node_mut(c).flags &= !flag::MARK;
            return;
        }
        self.runs.cancel(&mut self.tree, c);
        if remove_temporary && self.tree.node(c).restart == Restart::Temporary {
            self.remove_child(c);
        } else if self.tree.node(c).state != NodeState::Stopped {
            // An exit waiting in the mailbox is absorbed by this stop.
            self.tree.set_state(c, NodeState::Stopped);
        }
    }

    /// The stop phase of the plan of `s` is over: finish, or start from
    /// `start_from` (resolved now: the first child may have changed).
    fn stop_phase_done(&mut self, s: SupId) {
        let (first, last) = (self.tree.sup(s).first, self.tree.sup(s).last);
        let Some(plan) = self.plan_mut(s) else { return };
        if !plan.then_start {
            return self.plan_done(s);
        }
        plan.phase = Phase::Start;
        plan.cursor = plan.start_from.resolve(first, last);
        plan.initiated = false;
    }

    /// The plan of `s` finished all its steps.
    fn plan_done(&mut self, s: SupId) {
        let Mode::Busy(plan) = std::mem::replace(&mut self.tree.sup_mut(s).mode, Mode::Idle) else {
            return;
        };
        match plan.kind {
            PlanKind::Init => {
                // Reported now, before the supervisor handles what waited in its
                // mailbox during its start; its parent hears of it after this step.
                self.notices.push_back(Notice::SupStarted { sup: s.node() });
                if s == SupId::ROOT {
                    self.tree.set_state(s.node(), NodeState::Running);
                } else {
                    self.sup_events.push_back(SupEvent::Started(s.node()));
                }
            }
            PlanKind::Restart => {}
            PlanKind::StartChild { req, child } | PlanKind::RestartChild { req, child } => {
                let run = self.current_run(child);
                self.reply(*req, Ok(Reply::Started { node: child, run }));
            }
            PlanKind::Terminate { req } => self.reply(*req, Ok(Reply::Ok)),
            PlanKind::RestartAll { req, mode, error } => {
                let next = match plan.start_to {
                    Bound::Child(done) if mode == RestartAllMode::Rolling && error.is_none() => {
                        self.next_marked(self.tree.node(done).next)
                    }
                    _ => None,
                };
                if let Some(next) = next {
                    let one = Bound::Child(next);
                    let kind = PlanKind::RestartAll { req, mode, error };
                    self.tree.sup_mut(s).mode = Mode::Busy(Plan::stop(kind, Some(next), one, Some((one, one))));
                } else {
                    self.reply(*req, error.map_or(Ok(Reply::Ok), |e| Err(*e)));
                }
            }
            PlanKind::End { reason } => self.finish(s, *reason, false),
            PlanKind::InitAbort { reason } => self.finish(s, *reason, true),
        }
    }

    /// The first marked child at or after `from`.
    pub(crate) fn next_marked(&self, from: Option<NodeId>) -> Option<NodeId> {
        std::iter::successors(from, |&c| self.tree.node(c).next).find(|&c| self.tree.node(c).has(flag::MARK))
    }

    /// Child `c` of `s` failed to start (a worker's `StartFailed` or early
    /// exit, a start timeout, or a child supervisor's failed init).
    pub(crate) fn on_start_failed(&mut self, s: SupId, c: NodeId, error: String) {
        let mode = std::mem::replace(&mut self.tree.sup_mut(s).mode, Mode::Idle);
        let Mode::Busy(mut plan) = mode else {
            self.tree.sup_mut(s).mode = mode;
            self.tree.set_state(c, NodeState::Stopped);
            return;
        };
        if plan.phase == Phase::Start && plan.cursor == Some(c) {
            plan.initiated = false;
        }
        let failed = |engine: &Engine| RequestError::StartFailed {
            path: engine.path(c).unwrap_or_default(),
            error: error.clone(),
        };
        match plan.kind {
            PlanKind::Init => {
                self.tree.set_state(c, NodeState::Stopped);
                let mut reason = String::from("failed_to_start_child ");
                self.tree.write_path(c, &mut reason);
                reason.push_str(": ");
                reason.push_str(&error);
                let last = self.tree.sup(s).last;
                let kind = PlanKind::InitAbort {
                    reason: Box::new(ExitReason::Shutdown(reason)),
                };
                self.tree.sup_mut(s).mode = Mode::Busy(Plan::stop(kind, last, Bound::First, None));
                self.stop_all_at_once_if_parallel(s);
            }
            PlanKind::Restart if self.tree.node(c).restart == Restart::Temporary => {
                // Never restarted: a failed start ends a temporary child.
                self.end_failed_start(c);
            }
            PlanKind::Restart => {
                // Retried after whatever is already waiting (OTP's try_again_restart).
                self.tree.set_state(c, NodeState::FailedStart);
                let generation = self.tree.node(c).generation;
                self.tree
                    .sup_mut(s)
                    .mailbox
                    .push_back(Mail::Retry { child: c, generation });
            }
            PlanKind::StartChild { req, .. } => {
                let err = failed(self);
                self.remove_child(c);
                self.reply(*req, Err(err));
            }
            PlanKind::RestartChild { req, .. } => {
                let err = failed(self);
                self.end_failed_start(c);
                self.reply(*req, Err(err));
            }
            PlanKind::RestartAll {
                req,
                mode,
                error: first,
            } => {
                let err = first.unwrap_or_else(|| Box::new(failed(self)));
                // A removed child keeps its links until the next call: the
                // plan's cursor moves on from it like from any other.
                self.end_failed_start(c);
                if mode == RestartAllMode::Rolling {
                    // A rolling reload stops at the first failure; the rest keep running.
                    self.clear_marks(s);
                    self.reply(*req, Err(*err));
                } else {
                    // All at once: everything is down already, so start the rest anyway.
                    plan.kind = PlanKind::RestartAll {
                        req,
                        mode,
                        error: Some(err),
                    };
                    self.tree.sup_mut(s).mode = Mode::Busy(plan);
                }
            }
            kind @ PlanKind::Terminate { .. } => {
                self.end_failed_start(c);
                plan.kind = kind;
                self.tree.sup_mut(s).mode = Mode::Busy(plan);
            }
            kind @ (PlanKind::End { .. } | PlanKind::InitAbort { .. }) => {
                // The supervisor ends: all its children are removed when it does.
                self.tree.set_state(c, NodeState::Stopped);
                plan.kind = kind;
                self.tree.sup_mut(s).mode = Mode::Busy(plan);
            }
        }
        self.advance(s);
    }

    /// The start of child `c` failed and nothing will retry it: a temporary
    /// child is removed (a failed start is an end, and a temporary child's spec
    /// goes when it ends, as in OTP); any other child stays, stopped.
    fn end_failed_start(&mut self, c: NodeId) {
        let keep = self.has_bug(InjectedBug::KeepFailedTemporary);
        if self.tree.node(c).restart == Restart::Temporary && !keep {
            self.remove_child(c);
        } else {
            self.tree.set_state(c, NodeState::Stopped);
        }
    }

    /// Child `c` of `s` ended without being asked to.
    /// `reason` is the exit reason when the supervisor needs it (one_terminate_all).
    pub(crate) fn child_exited_by_itself(&mut self, s: SupId, c: NodeId, normal: bool, reason: Option<ExitReason>) {
        let sup = self.tree.sup(s);
        if matches!(&sup.mode, Mode::Busy(p) if p.kind.is_ending()) || matches!(sup.mode, Mode::Dormant) {
            // The supervisor is ending anyway: the exit is part of its stop.
            self.tree.set_state(c, NodeState::Stopped);
            return self.advance(s);
        }
        let one_terminate_all = sup.spec.strategy == Strategy::OneTerminateAll;
        self.tree.set_state(c, NodeState::Exited);
        let sup = self.tree.sup(s);
        if !one_terminate_all && matches!(sup.mode, Mode::Idle) && sup.mailbox.is_empty() {
            // Nothing is waiting: decide now, exactly as if the exit had passed
            // through the empty mailbox (the common restart path; the mail
            // would be current: `c` was just set `Exited`, in this generation).
            self.decide_exit(s, c, normal);
            return self.advance(s);
        }
        let generation = self.tree.node(c).generation;
        let mail = if one_terminate_all {
            let reason = reason.unwrap_or(if normal {
                ExitReason::Normal
            } else {
                ExitReason::Error(String::new())
            });
            Mail::TerminateAll {
                child: c,
                generation,
                reason,
            }
        } else {
            Mail::Exit {
                child: c,
                generation,
                normal,
            }
        };
        let sup = self.tree.sup_mut(s);
        if matches!(sup.mode, Mode::Idle) && sup.mailbox.is_empty() {
            // Nothing is waiting: handle it now, exactly as if it had passed
            // through the empty mailbox (the common restart path).
            self.process_mail(s, mail);
        } else {
            sup.mailbox.push_back(mail);
        }
        self.advance(s);
    }

    /// Whether `c` is still a child of `s` in `state` with the given generation.
    fn mail_is_current(&self, s: SupId, c: NodeId, generation: u64, state: NodeState) -> bool {
        self.tree
            .get(c)
            .is_some_and(|n| n.parent == Some(s) && n.generation == generation && n.state == state)
    }

    fn process_mail(&mut self, s: SupId, mail: Mail) {
        match mail {
            Mail::Exit {
                child,
                generation,
                normal,
            } => {
                if self.mail_is_current(s, child, generation, NodeState::Exited) {
                    self.decide_exit(s, child, normal);
                }
            }
            Mail::TerminateAll {
                child,
                generation,
                reason,
            } => {
                if self.mail_is_current(s, child, generation, NodeState::Exited) {
                    if self.tree.node(child).restart == Restart::Temporary {
                        self.remove_child(child);
                    } else {
                        self.tree.set_state(child, NodeState::Stopped);
                    }
                    self.end_sup(s, reason);
                }
            }
            Mail::Retry { child, generation } => {
                if self.mail_is_current(s, child, generation, NodeState::FailedStart) {
                    self.restart_decision(s, child);
                }
            }
            Mail::Queued { child, generation } => {
                if self.mail_is_current(s, child, generation, NodeState::Queued) {
                    self.begin_restart(s, child);
                }
            }
            Mail::Request(queued) => {
                let (reply, request) = *queued;
                let result = self.execute_request(s, &reply, request);
                if !matches!(result, Ok(Reply::Pending(_))) {
                    self.reply(reply, result);
                }
            }
        }
    }

    /// The restart table, auto_shutdown and lifespan for child `c` of `s` that ended by itself.
    fn decide_exit(&mut self, s: SupId, c: NodeId, normal: bool) {
        let n = self.tree.node(c);
        let restart = match n.restart {
            Restart::Permanent => true,
            Restart::Transient => !normal || self.has_bug(InjectedBug::RestartTransientAlways),
            Restart::Temporary => false,
        };
        if restart {
            return self.restart_decision(s, c);
        }
        let significant = n.significant;
        if n.restart == Restart::Temporary {
            self.remove_child(c);
        } else {
            self.tree.set_state(c, NodeState::Stopped);
        }
        let sup = self.tree.sup(s);
        let end = if significant {
            match sup.spec.auto_shutdown {
                AutoShutdown::Never => None,
                AutoShutdown::AnySignificant => Some(ExitReason::shutdown()),
                AutoShutdown::AllSignificant => (sup.n_significant_active == 0).then(ExitReason::shutdown),
            }
        } else {
            None
        };
        let end = end
            .or_else(|| (sup.spec.lifespan == Lifespan::Transient && sup.n_active == 0).then_some(ExitReason::Normal));
        if let Some(reason) = end {
            self.end_sup(s, reason);
        }
    }

    /// An automatic restart decision for child `c` of `s`: intensity, then the strategy.
    fn restart_decision(&mut self, s: SupId, c: NodeId) {
        self.stats.restart_decisions += 1;
        let now = self.now;
        let sup = self.tree.sup_mut(s);
        let (intensity, period, strategy) = (sup.spec.intensity, sup.spec.period, sup.spec.strategy);
        let exceeded = sup.window.record(now, intensity, period);
        if exceeded && !self.has_bug(InjectedBug::SkipIntensity) {
            self.stats.give_ups += 1;
            self.root_gave_up |= s == SupId::ROOT;
            self.notices.push_back(Notice::GiveUp { sup: s.node() });
            return self.end_sup(s, ExitReason::shutdown());
        }
        self.notices.push_back(Notice::Restart {
            sup: s.node(),
            child: c,
            strategy,
        });
        let delay = self.backoff_delay(c);
        if delay > 0 {
            // The restart waits; meanwhile the supervisor keeps serving its other
            // children and requests. When the delay ends the restart joins the mailbox.
            self.notices.push_back(Notice::Backoff {
                child: c,
                delay_ns: delay,
            });
            self.tree.set_state(c, NodeState::Backoff);
            let at = now.saturating_add(Duration::from_nanos(delay));
            self.runs.arm(&mut self.tree, c, at, TimerPurpose::Backoff);
        } else {
            self.begin_restart(s, c);
        }
    }

    /// Carry out the restart of failed child `c` of `s` by the strategy.
    fn begin_restart(&mut self, s: SupId, c: NodeId) {
        self.tree.set_state(c, NodeState::Stopped);
        let sup = self.tree.sup(s);
        let plan = match sup.spec.strategy {
            Strategy::OneForOne | Strategy::OneTerminateAll => Plan::start(PlanKind::Restart, Some(c), Bound::Child(c)),
            Strategy::OneForAll => Plan::stop(
                PlanKind::Restart,
                sup.last,
                Bound::First,
                Some((Bound::First, Bound::Last)),
            ),
            Strategy::RestForOne => {
                // Stop the children after `c`, last first (none if it is the
                // last), then start from `c` on.
                let after = self.tree.node(c).next;
                let from = after.and(sup.last);
                let to = after.map_or(Bound::First, Bound::Child);
                Plan::stop(PlanKind::Restart, from, to, Some((Bound::Child(c), Bound::Last)))
            }
        };
        self.tree.sup_mut(s).mode = Mode::Busy(plan);
        if self.has_bug(InjectedBug::ParallelRoundStops) {
            self.stop_round_at_once(s);
        }
    }

    /// The deliberate bug `ParallelRoundStops`: a parallel supervisor's
    /// restart round asks every child it stops to stop at once.
    fn stop_round_at_once(&mut self, s: SupId) {
        if self.tree.sup(s).spec.shutdown_order != ShutdownOrder::Parallel {
            return;
        }
        let Some(plan) = self.plan_mut(s) else { return };
        let (mut at, to) = (plan.cursor, plan.stop_to);
        if plan.phase != Phase::Stop {
            return;
        }
        while let Some(c) = at {
            at = if to.ends_at(c) { None } else { self.tree.node(c).prev };
            self.ensure_stopping(s, c);
        }
    }

    /// The delay before restarting `c` (0 without backoff).
    fn backoff_delay(&mut self, c: NodeId) -> u64 {
        let Some(ext) = self.tree.node_mut(c).ext.as_deref_mut() else {
            return 0;
        };
        let lived = ext.lived.take();
        match ext.backoff.as_mut() {
            Some(b) => duration_nanos(b.next_delay(lived, &mut self.rng)),
            None => 0,
        }
    }

    /// Supervisor `s` decides to end with `reason`: whatever it was doing is
    /// dropped, and it stops all its children (reverse order), then ends.
    pub(crate) fn end_sup(&mut self, s: SupId, reason: ExitReason) {
        self.notices.push_back(Notice::SupEnding {
            sup: s.node(),
            reason: reason.clone(),
        });
        let last = self.tree.sup(s).last;
        let old = std::mem::replace(
            &mut self.tree.sup_mut(s).mode,
            Mode::Busy(Plan::stop(
                PlanKind::End {
                    reason: Box::new(reason),
                },
                last,
                Bound::First,
                None,
            )),
        );
        if let Mode::Busy(plan) = old {
            if let PlanKind::RestartAll { .. } = plan.kind {
                self.clear_marks(s);
            }
            if let Some(req) = plan.kind.take_request() {
                self.reply(*req, Err(RequestError::ShuttingDown));
            }
        }
        while let Some(mail) = self.tree.sup_mut(s).mailbox.pop_front() {
            if let Mail::Request(queued) = mail {
                self.reply(queued.0, Err(RequestError::ShuttingDown));
            }
        }
        if s != SupId::ROOT || self.tree.node(s.node()).state == NodeState::Running {
            self.tree.set_state(s.node(), NodeState::Stopping);
        }
        self.stop_all_at_once_if_parallel(s);
        self.advance(s);
    }

    /// A supervisor with the parallel shutdown order that begins its end
    /// asks every live child to stop now, last first (each by its own
    /// policy from this instant on). Its end's reverse walk then only waits:
    /// it passes each child once that child has ended, so the supervisor ends
    /// when the last one has, in O(1) amortised per child.
    fn stop_all_at_once_if_parallel(&mut self, s: SupId) {
        if self.tree.sup(s).spec.shutdown_order != ShutdownOrder::Parallel {
            return;
        }
        let mut at = self.tree.sup(s).last;
        while let Some(c) = at {
            at = self.tree.node(c).prev;
            self.ensure_stopping(s, c);
        }
    }

    pub(crate) fn clear_marks(&mut self, s: SupId) {
        let mut m = self.tree.sup(s).first;
        while let Some(c) = m {
            let n = self.tree.node_mut(c);
            n.flags &= !flag::MARK;
            m = n.next;
        }
    }

    /// Every child of `s` is stopped: remove them and end `s` (or fail its start).
    fn finish(&mut self, s: SupId, reason: ExitReason, start_failed: bool) {
        let mut next = self.tree.sup(s).first;
        while let Some(c) = next {
            next = self.tree.node(c).next;
            self.tree.remove(c);
        }
        while let Some(mail) = self.tree.sup_mut(s).mailbox.pop_front() {
            if let Mail::Request(queued) = mail {
                self.reply(queued.0, Err(RequestError::ShuttingDown));
            }
        }
        let sup = self.tree.sup_mut(s);
        sup.mode = Mode::Dormant;
        sup.window.clear();
        self.notices.push_back(Notice::SupExit {
            sup: s.node(),
            reason: reason.clone(),
        });
        if s == SupId::ROOT {
            self.tree.set_state(s.node(), NodeState::Stopped);
            self.outcome = if start_failed {
                Outcome::StartFailed
            } else if self.root_gave_up {
                Outcome::RootGaveUp
            } else {
                Outcome::ShutDown
            };
            self.runs.clear_timers();
            self.notices.push_back(Notice::TreeDown { reason });
            for req in std::mem::take(&mut self.shutdown_waiters) {
                self.reply(req, Ok(Reply::Ok));
            }
        } else if start_failed {
            self.sup_events
                .push_back(SupEvent::StartFailed(s.node(), reason.to_string()));
        } else {
            self.sup_events.push_back(SupEvent::Exited(s.node(), reason));
        }
    }

    /// Make sure child `c` of `s` is on its way down (idempotent).
    pub(crate) fn ensure_stopping(&mut self, s: SupId, c: NodeId) {
        let killing = self.tree.node(s.node()).has(flag::KILLING);
        let n = self.tree.node_mut(c);
        if !n.state.is_live() {
            return;
        }
        let state = n.state;
        let first_time = n.cause != StopCause::Plan;
        n.cause = StopCause::Plan;
        let Some(cs) = self.tree.as_sup(c) else {
            return self.ensure_worker_stopping(c, state, killing);
        };
        let n = self.tree.node_mut(c);
        let shutdown = n.shutdown;
        let kill_now = (killing || shutdown == 0) && !n.has(flag::KILLING);
        if kill_now {
            // Set before its stop walk begins, so that walk kills instead of stopping.
            n.flags |= flag::KILLING;
        }
        if first_time {
            self.notices.push_back(Notice::SupStop { sup: c });
        }
        let ending = matches!(&self.tree.sup(cs).mode, Mode::Busy(p) if matches!(p.kind, PlanKind::End { .. }));
        if first_time && !ending {
            self.end_sup(cs, ExitReason::shutdown());
        }
        if kill_now {
            self.kill_children(cs);
        } else if first_time && shutdown != 0 && shutdown != u64::MAX && self.tree.node(c).state.is_live() {
            let at = self.now.saturating_add(Duration::from_nanos(shutdown));
            self.runs.arm(&mut self.tree, c, at, TimerPurpose::Kill);
        }
    }

    /// Worker `c` (live, in `state`) must stop: by its policy, or killed when
    /// its supervisor's subtree is `killing`; one still spawning is stopped
    /// the moment it reports `Started`.
    fn ensure_worker_stopping(&mut self, c: NodeId, state: NodeState, killing: bool) {
        match state {
            NodeState::Spawned => {
                self.tree.node_mut(c).flags |= if killing {
                    flag::KILL_ON_START
                } else {
                    flag::STOP_ON_START
                };
            }
            NodeState::AwaitingReady | NodeState::Running if !killing => {
                self.runs.stop(&mut self.tree, &mut self.notices, c, self.now);
            }
            NodeState::Stopping if !killing => {}
            _ => self.runs.kill(&mut self.tree, &mut self.notices, c),
        }
    }

    /// The shutdown deadline of supervisor `s` expired: kill everything under it now.
    pub(crate) fn kill_subtree(&mut self, s: SupId) {
        self.tree.node_mut(s.node()).flags |= flag::KILLING;
        self.kill_children(s);
    }

    /// Kill every live run under `s` (which has `KILLING` set): depth-first,
    /// reverse start order, each run once.
    fn kill_children(&mut self, s: SupId) {
        let mut at = self.tree.sup(s).last;
        while let Some(c) = at {
            at = self.tree.node(c).prev;
            match self.tree.as_sup(c) {
                Some(cs) if self.tree.node(c).has(flag::KILLING) => {
                    // Already killing on its own (its deadline fired); make sure its runs are all hit.
                    self.tree.node_mut(c).cause = StopCause::Plan;
                    self.kill_children(cs);
                }
                _ => self.ensure_stopping(s, c),
            }
        }
    }

    /// Remove child `c` from the tree and say so.
    pub(crate) fn remove_child(&mut self, c: NodeId) {
        self.runs.cancel(&mut self.tree, c);
        self.tree.remove(c);
        self.notices.push_back(Notice::Removed { child: c });
    }

    /// Answer a request.
    pub(crate) fn reply(&mut self, req: PendingReply, result: Result<Reply, RequestError>) {
        self.notices.push_back(Notice::Reply {
            id: req.id,
            op: req.op,
            path: req.path,
            result: Box::new(result),
        });
    }
}

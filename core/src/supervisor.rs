//! Supervisor behaviour: plans (sequential starts and stops), the mailbox,
//! restart decisions, intensity, auto_shutdown, escalation and ending.

use std::sync::Arc;
use std::time::Duration;

use crate::engine::SupEvent;
use crate::plan::{Mail, Mode, PendingReply, Phase, Plan, PlanKind};
use crate::time::duration_nanos;
use crate::tree::{flag, NodeState, StopCause, TimerPurpose, NONE};
use crate::{
    AutoShutdown, Engine, ExitReason, Lifespan, NodeId, Notice, Reply, RequestError, Restart, RestartAllMode, Strategy,
};

impl Engine {
    /// Start supervisor `s`: build its static children and start them in order
    /// (the root's were built by `Engine::new`; its spec no longer lists them).
    pub(crate) fn start_sup(&mut self, s: u32) {
        self.next_generation += 1;
        let generation = self.next_generation - 1;
        let n = self.tree.node_mut(s);
        n.generation = generation;
        n.cause = StopCause::None;
        n.flags &= !flag::KILLING;
        if let Some(ext) = n.ext.as_deref_mut() {
            ext.up_since = None;
        }
        self.tree.set_state(s, NodeState::Spawned);
        self.notices.push_back(Notice::SupStarting { sup: NodeId(s) });
        let spec = Arc::clone(&self.tree.sup(s).spec);
        self.tree.sup_mut(s).window.clear();
        for child in &spec.children {
            self.tree.add_child(s, child, false);
        }
        let first = self.tree.sup(s).first;
        self.tree.sup_mut(s).mode = Mode::Busy(Plan::start(PlanKind::Init, first, NONE));
        self.advance(s);
    }

    /// Issue the start of child `c` (a worker's `Spawn`, or a supervisor's init).
    fn start_node(&mut self, c: u32) {
        if self.tree.is_sup(c) {
            self.start_sup(c);
        } else {
            self.emit_spawn(c);
        }
    }

    fn plan_mut(&mut self, s: u32) -> Option<&mut Plan> {
        match &mut self.tree.sup_mut(s).mode {
            Mode::Busy(p) => Some(p),
            _ => None,
        }
    }

    /// Move supervisor `s` forward as far as it can go without waiting: run
    /// its plan, and when idle, handle its mailbox. Idempotent; called after
    /// every change that may concern `s`.
    pub(crate) fn advance(&mut self, s: u32) {
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
            let (phase, c, initiated) = (plan.phase, plan.cursor, plan.initiated);
            let marked_only = matches!(plan.kind, PlanKind::RestartAll { .. });
            let at_end = c
                == if phase == Phase::Stop {
                    plan.stop_to
                } else {
                    plan.start_to
                };
            if c == NONE {
                if phase == Phase::Stop {
                    self.stop_phase_done(s);
                } else {
                    self.plan_done(s);
                }
                continue;
            }
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
                self.set_cursor(s, if at_end { NONE } else { prev }, false);
                if selected {
                    self.after_stop(s, c);
                }
            } else if !initiated {
                if selected && state == NodeState::Stopped {
                    self.set_cursor(s, c, true);
                    self.tree.node_mut(c).flags &= !flag::MARK;
                    self.start_node(c);
                    // A start never completes within the call that issues it
                    // (a worker waits for `Started`, a supervisor's news is queued).
                    return;
                } else {
                    self.set_cursor(s, if at_end { NONE } else { next }, false);
                }
            } else if state == NodeState::Running {
                self.set_cursor(s, if at_end { NONE } else { next }, false);
            } else {
                return; // waiting for it to start
            }
        }
    }

    fn set_cursor(&mut self, s: u32, cursor: u32, initiated: bool) {
        if let Some(plan) = self.plan_mut(s) {
            plan.cursor = cursor;
            plan.initiated = initiated;
        }
    }

    /// Child `c` of `s` is not live any more and the stop phase has passed it.
    fn after_stop(&mut self, s: u32, c: u32) {
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
        self.cancel_timer(c);
        if remove_temporary && self.tree.node(c).restart == Restart::Temporary {
            self.remove_child(c);
        } else if self.tree.node(c).state != NodeState::Stopped {
            // An exit waiting in the mailbox is absorbed by this stop.
            self.tree.set_state(c, NodeState::Stopped);
        }
    }

    /// The stop phase of the plan of `s` is over: finish, or start (`start_from == NONE`: the first child now).
    fn stop_phase_done(&mut self, s: u32) {
        let first = self.tree.sup(s).first;
        let Some(plan) = self.plan_mut(s) else { return };
        if !plan.then_start {
            return self.plan_done(s);
        }
        plan.phase = Phase::Start;
        plan.cursor = if plan.start_from == NONE {
            first
        } else {
            plan.start_from
        };
        plan.initiated = false;
    }

    /// The plan of `s` finished all its steps.
    fn plan_done(&mut self, s: u32) {
        let Mode::Busy(plan) = std::mem::replace(&mut self.tree.sup_mut(s).mode, Mode::Idle) else {
            return;
        };
        match plan.kind {
            PlanKind::Init => {
                // Reported now, before the supervisor handles what waited in its
                // mailbox during its start; its parent hears of it after this step.
                self.notices.push_back(Notice::SupStarted { sup: NodeId(s) });
                if s == self.root {
                    self.tree.set_state(s, NodeState::Running);
                } else {
                    self.sup_events.push_back(SupEvent::Started(s));
                }
            }
            PlanKind::Restart => {}
            PlanKind::StartChild { req, child } | PlanKind::RestartChild { req, child } => {
                let run = self.current_run(NodeId(child));
                self.reply(
                    *req,
                    Ok(Reply::Started {
                        node: NodeId(child),
                        run,
                    }),
                );
            }
            PlanKind::Terminate { req } => self.reply(*req, Ok(Reply::Ok)),
            PlanKind::RestartAll { req, mode, error } => {
                let next = if mode == RestartAllMode::Rolling && error.is_none() {
                    self.next_marked(self.tree.node(plan.start_to).next)
                } else {
                    NONE
                };
                if next != NONE {
                    self.tree.sup_mut(s).mode = Mode::Busy(Plan::stop(
                        PlanKind::RestartAll { req, mode, error },
                        next,
                        next,
                        Some((next, next)),
                    ));
                } else {
                    self.reply(*req, error.map_or(Ok(Reply::Ok), |e| Err(*e)));
                }
            }
            PlanKind::End { reason } => self.finish(s, reason, false),
            PlanKind::InitAbort { reason } => self.finish(s, reason, true),
        }
    }

    /// The first marked child at or after `from`.
    pub(crate) fn next_marked(&self, mut from: u32) -> u32 {
        while from != NONE && !self.tree.node(from).has(flag::MARK) {
            from = self.tree.node(from).next;
        }
        from
    }

    /// Child `c` of `s` failed to start (a worker's `StartFailed` or early
    /// exit, a start timeout, or a child supervisor's failed init).
    pub(crate) fn on_start_failed(&mut self, s: u32, c: u32, error: String) {
        let mode = std::mem::replace(&mut self.tree.sup_mut(s).mode, Mode::Idle);
        let Mode::Busy(mut plan) = mode else {
            self.tree.sup_mut(s).mode = mode;
            self.tree.set_state(c, NodeState::Stopped);
            return;
        };
        if plan.phase == Phase::Start && plan.cursor == c {
            plan.initiated = false;
        }
        let failed = |engine: &Engine| RequestError::StartFailed {
            path: engine.path(NodeId(c)).unwrap_or_default(),
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
                    reason: ExitReason::Shutdown(reason),
                };
                self.tree.sup_mut(s).mode = Mode::Busy(Plan::stop(kind, last, NONE, None));
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
    fn end_failed_start(&mut self, c: u32) {
        let keep = self.has_bug(crate::injected_bug::InjectedBug::KeepFailedTemporary);
        if self.tree.node(c).restart == Restart::Temporary && !keep {
            self.remove_child(c);
        } else {
            self.tree.set_state(c, NodeState::Stopped);
        }
    }

    /// Child `c` of `s` ended without being asked to.
    /// `reason` is the exit reason when the supervisor needs it (one_terminate_all).
    pub(crate) fn child_exited_by_itself(&mut self, s: u32, c: u32, normal: bool, reason: Option<ExitReason>) {
        let sup = self.tree.sup(s);
        if matches!(&sup.mode, Mode::Busy(p) if p.kind.is_ending()) || matches!(sup.mode, Mode::Dormant) {
            // The supervisor is ending anyway: the exit is part of its stop.
            self.tree.set_state(c, NodeState::Stopped);
            return self.advance(s);
        }
        let one_terminate_all = sup.spec.strategy == Strategy::OneTerminateAll;
        self.tree.set_state(c, NodeState::Exited);
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
    fn mail_is_current(&self, s: u32, c: u32, generation: u64, state: NodeState) -> bool {
        self.tree
            .get(c)
            .is_some_and(|n| n.parent == s && n.generation == generation && n.state == state)
    }

    fn process_mail(&mut self, s: u32, mail: Mail) {
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

    /// The restart table, auto_shutdown and lifespan for a child that ended by itself.
    fn decide_exit(&mut self, s: u32, c: u32, normal: bool) {
        let n = self.tree.node(c);
        let restart = match n.restart {
            Restart::Permanent => true,
            Restart::Transient => !normal || self.has_bug(crate::injected_bug::InjectedBug::RestartTransientAlways),
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
    fn restart_decision(&mut self, s: u32, c: u32) {
        self.stats.restart_decisions += 1;
        let now = self.now;
        let sup = self.tree.sup_mut(s);
        let (intensity, period, strategy) = (sup.spec.intensity, sup.spec.period, sup.spec.strategy);
        let exceeded = sup.window.record(now, intensity, period);
        if exceeded && !self.has_bug(crate::injected_bug::InjectedBug::SkipIntensity) {
            self.stats.give_ups += 1;
            self.stats.root_gave_up |= s == self.root;
            self.notices.push_back(Notice::GiveUp { sup: NodeId(s) });
            return self.end_sup(s, ExitReason::shutdown());
        }
        self.notices.push_back(Notice::Restart {
            sup: NodeId(s),
            child: NodeId(c),
            strategy,
        });
        let delay = self.backoff_delay(c);
        if delay > 0 {
            // The restart waits; meanwhile the supervisor keeps serving its other
            // children and requests. When the delay ends the restart joins the mailbox.
            self.notices.push_back(Notice::Backoff {
                child: NodeId(c),
                delay_ns: delay,
            });
            self.tree.set_state(c, NodeState::Backoff);
            self.arm(
                c,
                now.saturating_add(Duration::from_nanos(delay)),
                TimerPurpose::Backoff,
            );
        } else {
            self.begin_restart(s, c);
        }
    }

    /// Carry out the restart of failed child `c` of `s` by the strategy.
    fn begin_restart(&mut self, s: u32, c: u32) {
        self.tree.set_state(c, NodeState::Stopped);
        let sup = self.tree.sup(s);
        let plan = match sup.spec.strategy {
            Strategy::OneForOne | Strategy::OneTerminateAll => Plan::start(PlanKind::Restart, c, c),
            Strategy::OneForAll => Plan::stop(PlanKind::Restart, sup.last, NONE, Some((NONE, NONE))),
            Strategy::RestForOne => {
                let after = self.tree.node(c).next;
                // Stop the children after `c` (none if it is the last), then start from `c`.
                let from = if after == NONE { NONE } else { sup.last };
                Plan::stop(PlanKind::Restart, from, after, Some((c, NONE)))
            }
        };
        self.tree.sup_mut(s).mode = Mode::Busy(plan);
    }

    /// The delay before restarting `c` (0 without backoff).
    fn backoff_delay(&mut self, c: u32) -> u64 {
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
    pub(crate) fn end_sup(&mut self, s: u32, reason: ExitReason) {
        self.notices.push_back(Notice::SupEnding {
            sup: NodeId(s),
            reason: reason.clone(),
        });
        let last = self.tree.sup(s).last;
        let old = std::mem::replace(
            &mut self.tree.sup_mut(s).mode,
            Mode::Busy(Plan::stop(PlanKind::End { reason }, last, NONE, None)),
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
        if s != self.root || self.tree.node(s).state == NodeState::Running {
            self.tree.set_state(s, NodeState::Stopping);
        }
        self.advance(s);
    }

    fn clear_marks(&mut self, s: u32) {
        let mut m = self.tree.sup(s).first;
        while m != NONE {
            self.tree.node_mut(m).flags &= !flag::MARK;
            m = self.tree.node(m).next;
        }
    }

    /// Every child of `s` is stopped: remove them and end `s` (or fail its start).
    fn finish(&mut self, s: u32, reason: ExitReason, start_failed: bool) {
        let mut c = self.tree.sup(s).first;
        while c != NONE {
            let next = self.tree.node(c).next;
            self.tree.remove(c);
            c = next;
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
            sup: NodeId(s),
            reason: reason.clone(),
        });
        if s == self.root {
            self.tree.set_state(s, NodeState::Stopped);
            self.down = true;
            self.start_failed = start_failed;
            self.timers.clear();
            self.notices.push_back(Notice::TreeDown { reason });
            for req in std::mem::take(&mut self.shutdown_waiters) {
                self.reply(req, Ok(Reply::Ok));
            }
        } else if start_failed {
            self.sup_events.push_back(SupEvent::StartFailed(s, reason.to_string()));
        } else {
            self.sup_events.push_back(SupEvent::Exited(s, reason));
        }
    }

    /// Make sure child `c` of `s` is on its way down (idempotent).
    pub(crate) fn ensure_stopping(&mut self, s: u32, c: u32) {
        let killing = self.tree.node(s).has(flag::KILLING);
        let n = self.tree.node_mut(c);
        if !n.state.is_live() {
            return;
        }
        let state = n.state;
        let first_time = n.cause != StopCause::Plan;
        n.cause = StopCause::Plan;
        if n.sup.is_none() {
            match state {
                NodeState::Spawned => {
                    n.flags |= if killing {
                        flag::KILL_ON_START
                    } else {
                        flag::STOP_ON_START
                    };
                }
                NodeState::AwaitingReady | NodeState::Running if !killing => self.stop_run(c),
                NodeState::Stopping if !killing => {}
                _ => self.kill_run(c),
            }
            return;
        }
        let shutdown = n.shutdown;
        let kill_now = (killing || shutdown == 0) && !n.has(flag::KILLING);
        if kill_now {
            // Set before its stop walk begins, so that walk kills instead of stopping.
            n.flags |= flag::KILLING;
        }
        if first_time {
            self.notices.push_back(Notice::SupStop { sup: NodeId(c) });
        }
        let ending = matches!(&self.tree.sup(c).mode, Mode::Busy(p) if matches!(p.kind, PlanKind::End { .. }));
        if first_time && !ending {
            self.end_sup(c, ExitReason::shutdown());
        }
        if kill_now {
            self.kill_children(c);
        } else if first_time && shutdown != 0 && shutdown != u64::MAX && self.tree.node(c).state.is_live() {
            let at = self.now.saturating_add(Duration::from_nanos(shutdown));
            self.arm(c, at, TimerPurpose::Kill);
        }
    }

    /// The shutdown deadline of supervisor `s` expired: kill everything under it now.
    pub(crate) fn kill_subtree(&mut self, s: u32) {
        self.tree.node_mut(s).flags |= flag::KILLING;
        self.kill_children(s);
    }

    /// Kill every live run under `s` (which has `KILLING` set): depth-first,
    /// reverse start order, each run once.
    fn kill_children(&mut self, s: u32) {
        let mut c = self.tree.sup(s).last;
        while c != NONE {
            let prev = self.tree.node(c).prev;
            if self.tree.is_sup(c) && self.tree.node(c).has(flag::KILLING) {
                // Already killing on its own (its deadline fired); make sure its runs are all hit.
                self.tree.node_mut(c).cause = StopCause::Plan;
                self.kill_children(c);
            } else {
                self.ensure_stopping(s, c);
            }
            c = prev;
        }
    }

    /// Remove child `c` from the tree and say so.
    pub(crate) fn remove_child(&mut self, c: u32) {
        self.cancel_timer(c);
        self.tree.remove(c);
        self.notices.push_back(Notice::Removed { child: NodeId(c) });
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

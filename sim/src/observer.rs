//! What watches a [`World`](crate::World): the oracle, the trace, a test's
//! log, the tour's printer. An observer sees every notice in order, right
//! after the engine call that produced it, and hears what only the world can
//! tell: which inputs it knew to be stale, the rules it saw broken itself,
//! and when a call has settled.

use vigil_core::{Engine, Instant, Notice, Request};
use vigil_trace::TraceWriter;

use crate::oracle::{Oracle, Rule, Violation};

/// Hooks a [`World`](crate::World) calls while it drives its engine. Every
/// hook but [`Observer::notice`] does nothing by default.
pub trait Observer {
    /// One notice, in order, right after the engine call that produced it
    /// (resolve its ids with `engine` now: they may be reused later).
    fn notice(&mut self, engine: &Engine, notice: &Notice, now: Instant);

    /// The world is about to send `request` to the engine (its notices
    /// follow): what a `start_child` or `replace_child` asks for is known
    /// only here.
    fn request(&mut self, _request: &Request) {}

    /// The world delivered an input it knows to be stale: the engine must
    /// ignore and count it.
    fn stale_input(&mut self) {}

    /// The world saw a rule broken that only it can see (a `Spawn` for a live
    /// run, a `Stop` or `Kill` for a run that is not live and started, a run
    /// live after the tree is down).
    fn flag(&mut self, _at: Instant, _rule: Rule, _detail: String) {}

    /// An engine call and every command it caused have been handled.
    fn settled(&mut self, _engine: &Engine, _now: Instant) {}

    /// `handle_timeout(now)` has settled; `next` is the deadline
    /// `poll_timeout` gives now.
    fn deadlines_fired(&mut self, _now: Instant, _next: Option<Instant>) {}

    /// The first broken rule this observer knows of.
    fn violation(&self) -> Option<&Violation> {
        None
    }
}

/// Nothing watches.
impl Observer for () {
    fn notice(&mut self, _engine: &Engine, _notice: &Notice, _now: Instant) {}
}

/// The trace records every notice.
impl Observer for TraceWriter {
    fn notice(&mut self, engine: &Engine, notice: &Notice, now: Instant) {
        TraceWriter::notice(self, engine, now, notice);
    }
}

/// The oracle checks every notice, the world's findings and every step.
impl Observer for Oracle {
    fn notice(&mut self, engine: &Engine, notice: &Notice, now: Instant) {
        self.observe(engine, notice, now);
    }

    fn request(&mut self, request: &Request) {
        self.request_sent(request);
    }

    fn stale_input(&mut self) {
        self.injected_stale();
    }

    fn flag(&mut self, at: Instant, rule: Rule, detail: String) {
        Oracle::flag(self, at, rule, detail);
    }

    fn settled(&mut self, engine: &Engine, now: Instant) {
        self.end_step(now);
        self.check_temporaries(engine, now);
    }

    fn deadlines_fired(&mut self, now: Instant, next: Option<Instant>) {
        self.check_next_deadline(now, next);
    }

    fn violation(&self) -> Option<&Violation> {
        Oracle::violation(self)
    }
}

/// Two observers, the first one first at every hook.
impl<A: Observer, B: Observer> Observer for (A, B) {
    fn notice(&mut self, engine: &Engine, notice: &Notice, now: Instant) {
        self.0.notice(engine, notice, now);
        self.1.notice(engine, notice, now);
    }

    fn request(&mut self, request: &Request) {
        self.0.request(request);
        self.1.request(request);
    }

    fn stale_input(&mut self) {
        self.0.stale_input();
        self.1.stale_input();
    }

    fn flag(&mut self, at: Instant, rule: Rule, detail: String) {
        self.0.flag(at, rule, detail.clone());
        self.1.flag(at, rule, detail);
    }

    fn settled(&mut self, engine: &Engine, now: Instant) {
        self.0.settled(engine, now);
        self.1.settled(engine, now);
    }

    fn deadlines_fired(&mut self, now: Instant, next: Option<Instant>) {
        self.0.deadlines_fired(now, next);
        self.1.deadlines_fired(now, next);
    }

    fn violation(&self) -> Option<&Violation> {
        self.0.violation().or_else(|| self.1.violation())
    }
}

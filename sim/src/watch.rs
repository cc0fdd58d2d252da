//! What a simulation watches: the oracle, the trace, and the two facts the
//! scenario learns from the notices (the root has booted; which children an
//! operator stopped on purpose).

use std::collections::BTreeSet;

use vigil_core::{Engine, Instant, Notice, Request, RequestError, SupervisorSpec};
use vigil_trace::TraceWriter;

use crate::observer::Observer;
use crate::oracle::{Oracle, Rule, Violation};

/// The observer of a simulated run.
pub(crate) struct Watch {
    pub(crate) oracle: Oracle,
    pub(crate) trace: TraceWriter,
    /// The root has finished its first start.
    pub(crate) booted: bool,
    /// Paths an operator stopped or deleted on purpose (liveness ignores them).
    pub(crate) operator_stopped: BTreeSet<String>,
}

impl Watch {
    /// The watch of a tree built from `spec`.
    pub(crate) fn new(trace: TraceWriter, spec: &SupervisorSpec) -> Self {
        Watch {
            oracle: Oracle::new(spec),
            trace,
            booted: false,
            operator_stopped: BTreeSet::new(),
        }
    }
}

impl Observer for Watch {
    fn notice(&mut self, engine: &Engine, n: &Notice, now: Instant) {
        self.oracle.observe(engine, n, now);
        self.trace.notice(engine, now, n);
        if let Notice::SupStarted { sup } = n {
            self.booted |= *sup == engine.root();
        }
        // An operator restart whose start failed leaves that child stopped
        // on purpose (docs/SEMANTICS.md); liveness does not expect it up.
        if let Notice::Reply { result, .. } = n {
            if let Err(RequestError::StartFailed { path, .. }) = result.as_ref() {
                self.operator_stopped.insert(path.clone());
            }
        }
    }

    fn request(&mut self, request: &Request) {
        self.oracle.request_sent(request);
    }

    fn stale_input(&mut self) {
        self.oracle.stale_input();
    }

    fn flag(&mut self, at: Instant, rule: Rule, detail: String) {
        self.oracle.flag(at, rule, detail);
    }

    fn settled(&mut self, engine: &Engine, now: Instant) {
        Observer::settled(&mut self.oracle, engine, now);
    }

    fn deadlines_fired(&mut self, now: Instant, next: Option<Instant>) {
        self.oracle.deadlines_fired(now, next);
    }

    fn violation(&self) -> Option<&Violation> {
        self.oracle.violation()
    }
}

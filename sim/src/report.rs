//! What one run did: its outcome and its report.

use std::fmt;
use std::time::Duration;

use vigil_core::{Engine, Stats};

use crate::fault_plan::FaultPlan;
use crate::oracle::Violation;

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// The tree was still up at the end.
    Up,
    /// The root gave up (too many restarts): the whole tree went down.
    RootGaveUp,
    /// The tree was shut down (a shutdown request, or the root ended by
    /// auto_shutdown, lifespan or one_terminate_all).
    ShutDown,
    /// The tree could not start.
    StartFailed,
    /// The run stopped at a broken invariant.
    Violation,
    /// The run stopped at its step budget ([`SimOptions::max_steps`](crate::SimOptions::max_steps)).
    StepBudget,
}

impl Outcome {
    pub(crate) fn of(engine: &Engine) -> Outcome {
        if !engine.is_down() {
            return Outcome::Up;
        }
        if engine.start_failed() {
            Outcome::StartFailed
        } else if engine.stats().root_gave_up {
            Outcome::RootGaveUp
        } else {
            Outcome::ShutDown
        }
    }

    /// A short name for summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Up => "tree up at the end",
            Outcome::RootGaveUp => "root gave up",
            Outcome::ShutDown => "tree shut down",
            Outcome::StartFailed => "tree failed to start",
            Outcome::Violation => "stopped at a broken invariant",
            Outcome::StepBudget => "stopped at its step budget",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What one run did.
#[derive(Clone, Debug, PartialEq)]
pub struct SeedReport {
    /// Its seed.
    pub seed: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// The first broken rule, if any.
    pub violation: Option<Violation>,
    /// World events and engine timeouts processed.
    pub events: u64,
    /// Virtual time covered.
    pub virtual_time: Duration,
    /// Hash of the trace (identical for identical runs).
    pub trace_hash: u64,
    /// Lines in the trace.
    pub trace_lines: u64,
    /// The engine's counters.
    pub stats: Stats,
    /// The faults the seed picked.
    pub faults: FaultPlan,
}

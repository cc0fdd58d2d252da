//! What one run did: its outcome and its report.

use std::fmt;
use std::time::Duration;

use vigil_core::{Outcome, Stats};

use crate::fault_plan::FaultPlan;
use crate::oracle::Violation;

/// How a simulated run ended: the tree's own [`Outcome`] (the engine's), or
/// a stop of the simulator itself.
///
/// The order is the summary's: the tree's outcomes in their order, then
/// `Violation`, then `StepBudget`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SeedOutcome {
    /// The run went to its end; the tree stood as the engine says
    /// ([`Outcome::Up`]: still up at the end).
    Tree(Outcome),
    /// The run stopped at a broken invariant.
    Violation,
    /// The run stopped at its step budget ([`SimOptions::max_steps`](crate::SimOptions::max_steps)).
    StepBudget,
}

impl SeedOutcome {
    /// A short name for summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            SeedOutcome::Tree(o) => o.as_str(),
            SeedOutcome::Violation => "stopped at a broken invariant",
            SeedOutcome::StepBudget => "stopped at its step budget",
        }
    }
}

impl From<Outcome> for SeedOutcome {
    fn from(outcome: Outcome) -> Self {
        SeedOutcome::Tree(outcome)
    }
}

impl fmt::Display for SeedOutcome {
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
    pub outcome: SeedOutcome,
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

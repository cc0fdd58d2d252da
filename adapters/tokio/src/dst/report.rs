//! What one simulated seed gave ([`DstReport`]), and a sweep ([`DstSummary`]).

use std::fmt;
use std::time::Duration;

use vigil_core::Outcome;
use vigil_sim::{SeedOutcome, Violation};

use super::faults::DstFaults;
use super::world::Injected;

/// The result of one seed of an own-code simulation.
#[derive(Clone, Debug)]
pub struct DstReport {
    /// The seed.
    pub seed: u64,
    /// How the run ended: the tree's outcome (up, gave up, failed to
    /// start ...), a broken rule, or the step budget.
    pub outcome: SeedOutcome,
    /// The first broken rule, if any (the oracle's rules, docs/SIMULATION.md,
    /// plus `determinism` when the seed was run twice).
    pub violation: Option<Violation>,
    /// The tree was required to be up at the end (`Dst::require_up`) and
    /// is not: how it ended, and when.
    pub went_down: Option<(Outcome, Duration)>,
    /// The hash of the trace (the same seed gives the same hash).
    pub trace_hash: u64,
    /// Lines in the trace (its meta line included).
    pub trace_lines: u64,
    /// Virtual time covered.
    pub virtual_time: Duration,
    /// Wall time the run took (not part of the result: it varies).
    pub wall_time: Duration,
    /// The faults the seed injected (picked per seed unless set).
    pub faults: DstFaults,
    /// How many of each fault were injected.
    pub injected: Injected,
    /// What the runner noticed that may make the run nondeterministic (a
    /// task that held the thread without virtual time moving).
    pub warnings: Vec<String>,
    /// One line that runs this seed again, alone.
    pub reproduction: String,
}

impl DstReport {
    /// Whether the seed passed: no rule broken, and the tree up at the end
    /// if that was required.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.violation.is_none() && self.went_down.is_none()
    }

    /// Why the seed failed, in one line (`None` if it passed).
    #[must_use]
    pub fn failure(&self) -> Option<String> {
        if let Some(v) = &self.violation {
            return Some(v.to_string());
        }
        self.went_down.map(|(outcome, at)| {
            format!(
                "the tree went down ({}) at {at:?}, and it must stay up",
                outcome_name(outcome)
            )
        })
    }
}

/// How an outcome reads in a report.
pub(crate) fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Up => "tree up",
        Outcome::ShutDown => "tree shut down",
        Outcome::RootGaveUp => "root gave up",
        Outcome::StartFailed => "tree failed to start",
    }
}

fn seed_outcome_name(outcome: &SeedOutcome) -> &'static str {
    match outcome {
        SeedOutcome::Tree(o) => outcome_name(*o),
        SeedOutcome::Violation => "stopped at a broken rule",
        SeedOutcome::StepBudget => "stopped at its step budget",
    }
}

/// One paragraph: the seed, how it ended, why it failed, the reproduction.
impl fmt::Display for DstReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.passed() { "passed" } else { "FAILED" };
        writeln!(
            f,
            "seed {}: {verdict} ({}, {:?} of virtual time, trace {} lines, hash {:016x})",
            self.seed,
            seed_outcome_name(&self.outcome),
            self.virtual_time,
            self.trace_lines,
            self.trace_hash
        )?;
        writeln!(f, "  faults: {}", self.faults)?;
        if let Some(why) = self.failure() {
            writeln!(f, "  {why}")?;
        }
        for w in &self.warnings {
            writeln!(f, "  warning: {w}")?;
        }
        write!(f, "  reproduce: {}", self.reproduction)
    }
}

/// The results of a sweep over seeds, in seed order.
#[derive(Clone, Debug)]
pub struct DstSummary {
    /// One report per seed, in seed order.
    pub reports: Vec<DstReport>,
    /// Threads used.
    pub jobs: usize,
    /// Wall time of the whole sweep.
    pub wall_time: Duration,
}

impl DstSummary {
    /// The seeds that failed.
    pub fn failures(&self) -> impl Iterator<Item = &DstReport> {
        self.reports.iter().filter(|r| !r.passed())
    }

    /// The first failing seed, if any.
    #[must_use]
    pub fn first_failure(&self) -> Option<&DstReport> {
        self.failures().next()
    }

    /// Virtual time covered by all the seeds.
    #[must_use]
    pub fn virtual_time(&self) -> Duration {
        self.reports.iter().map(|r| r.virtual_time).sum()
    }

    /// Panic, with the first failing seed's report and its reproduction
    /// line, if any seed failed (for `#[test]`s).
    ///
    /// # Panics
    ///
    /// If a seed failed.
    pub fn assert_ok(&self) {
        if let Some(first) = self.first_failure() {
            let count = self.failures().count();
            panic!("{count} of {} seed(s) failed; the first:\n{first}", self.reports.len());
        }
    }
}

/// How many failing seeds a summary describes in full.
const SHOWN: usize = 3;

/// The totals, then the first failing seeds in full and the others' numbers.
impl fmt::Display for DstSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let virt = self.virtual_time();
        let wall = self.wall_time.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "{} seed(s) on {} thread(s) in {:.2}s: {:.0} virtual seconds per wall second, {:.0} seeds/s",
            self.reports.len(),
            self.jobs,
            self.wall_time.as_secs_f64(),
            virt.as_secs_f64() / wall,
            self.reports.len() as f64 / wall
        )?;
        let failed = self.failures().count();
        if failed == 0 {
            return write!(f, "ok: every seed passed");
        }
        writeln!(f, "{failed} seed(s) failed; the first {}:", failed.min(SHOWN))?;
        for r in self.failures().take(SHOWN) {
            writeln!(f, "{r}")?;
        }
        let seeds: Vec<String> = self.failures().skip(SHOWN).map(|r| r.seed.to_string()).collect();
        if !seeds.is_empty() {
            writeln!(f, "and seeds {}", seeds.join(", "))?;
        }
        Ok(())
    }
}

//! Many seeds on all cores, and the summary that answers "what if".

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::options::SimOptions;
use crate::report::{SeedOutcome, SeedReport};
use crate::run::run_seed;
use crate::sim_tree::SimTree;
use vigil_trace::TraceWriter;

/// What a range of seeds did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Seeds run.
    pub seeds: u64,
    /// Reports of the runs that broke a rule, by seed.
    pub violations: Vec<SeedReport>,
    /// Total virtual time simulated.
    pub virtual_time: Duration,
    /// Total events processed.
    pub events: u64,
    /// How the runs ended.
    pub outcomes: BTreeMap<SeedOutcome, u64>,
    /// Automatic restart decisions, all runs.
    pub restart_decisions: u64,
    /// Supervisor give-ups, all runs.
    pub give_ups: u64,
    /// Spawns, all runs.
    pub spawns: u64,
}

impl Summary {
    fn add(&mut self, r: &SeedReport) {
        self.seeds += 1;
        self.virtual_time = self.virtual_time.saturating_add(r.virtual_time);
        self.events += r.events;
        *self.outcomes.entry(r.outcome).or_default() += 1;
        self.restart_decisions += r.stats.restart_decisions;
        self.give_ups += r.stats.give_ups;
        self.spawns += r.stats.spawns;
        if r.violation.is_some() {
            self.violations.push(r.clone());
        }
    }

    /// Add the totals of `other`, a summary of other seeds: the result is
    /// the summary of both sets of seeds, whatever the order of the merges
    /// (counts are sums, saturating; violations stay sorted by seed). This
    /// is how threads, and shards run on other machines (`vigil merge`),
    /// combine.
    pub fn merge(&mut self, other: Summary) {
        self.seeds = self.seeds.saturating_add(other.seeds);
        self.virtual_time = self.virtual_time.saturating_add(other.virtual_time);
        self.events = self.events.saturating_add(other.events);
        for (k, v) in other.outcomes {
            let n = self.outcomes.entry(k).or_default();
            *n = n.saturating_add(v);
        }
        self.restart_decisions = self.restart_decisions.saturating_add(other.restart_decisions);
        self.give_ups = self.give_ups.saturating_add(other.give_ups);
        self.spawns = self.spawns.saturating_add(other.spawns);
        self.violations.extend(other.violations);
        self.violations.sort_by_key(|r| r.seed);
    }
}

/// Run every seed of `seeds` over `jobs` threads (at least one), without
/// rendering traces (rerun a seed with a [`TraceWriter`] to see one). `progress`
/// is called after each run, from the thread that ran it. Violations are
/// sorted by seed; everything else is a total, so the summary does not
/// depend on scheduling.
pub fn run_seeds(
    tree: &SimTree,
    seeds: Range<u64>,
    opts: &SimOptions,
    jobs: usize,
    progress: &(dyn Fn(&SeedReport) + Sync),
) -> Summary {
    let next = AtomicU64::new(seeds.start);
    let total = Mutex::new(Summary::default());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| {
                let mut local = Summary::default();
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= seeds.end {
                        break;
                    }
                    let report = run_seed(tree, seed, opts, TraceWriter::off());
                    progress(&report);
                    local.add(&report);
                }
                let mut t = total.lock().unwrap_or_else(|e| e.into_inner());
                t.merge(local);
            });
        }
    });
    total.into_inner().unwrap_or_else(|e| e.into_inner())
}

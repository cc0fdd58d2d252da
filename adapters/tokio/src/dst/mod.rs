//! # Deterministic simulation of your own task code (feature `dst`)
//!
//! The runner (`Dst`) needs the feature `dst`, which adds tokio's paused
//! clock (`test-util`) to `sim`; the injector is in `sim` alone, for
//! `vigil run --chaos`.
//!
//! `Dst` runs the tree you start in production, built by your own
//! function with your own task closures, in virtual time: one seed at a
//! time, each on a fresh single-threaded tokio runtime whose clock is
//! paused (it jumps to the next timer whenever every task waits), with the
//! real driver and engine on the same thread, the simulator's
//! [`Oracle`](vigil_sim::Oracle) checking every notice, and a seeded
//! [`FaultInjector`] that crashes or panics runs at their
//! [`checkpoint`](crate::RunContext::checkpoint)s, delays starts and
//! readiness, makes runs ignore their stop, fails starts and kills runs at
//! random. After the faulty phase the faults stop, and every permanent child
//! must come back (liveness). The same seed gives the same trace, byte for
//! byte; a failing seed prints one line that runs it again.
//!
//! ```
//! use std::time::Duration;
//! use vigil_core::{ChildSpec, SupervisorSpec};
//! use vigil_tokio::dst::Dst;
//! use vigil_tokio::Tree;
//!
//! fn my_tree() -> Tree {
//!     Tree::new(SupervisorSpec::new().intensity(50)).task(ChildSpec::worker("ticker"), |ctx| async move {
//!         loop {
//!             tokio::select! {
//!                 biased;
//!                 _ = ctx.stopped() => return Ok::<(), String>(()),
//!                 _ = tokio::time::sleep(Duration::from_secs(1)) => ctx.checkpoint().await,
//!             }
//!         }
//!     })
//! }
//!
//! let summary = Dst::new(my_tree).duration(Duration::from_secs(600)).run(0..8).unwrap();
//! summary.assert_ok(); // panics with the first failing seed and its reproduction line
//! ```
//!
//! What cannot be made deterministic (real I/O, other threads, the wall
//! clock, blocking code, process children) and how it is refused or
//! detected: docs/SIMULATION.md, "Simulating your own task code".

// Under feature `sim` alone (what `vigil run --chaos` needs: the injector)
// the runner is left out (it needs tokio's paused clock: feature `dst`),
// and what only the runner uses is unused.
#![cfg_attr(not(feature = "dst"), allow(dead_code, unused_imports))]

pub(crate) mod draw;
mod error;
mod faults;
mod injector;
mod report;
#[cfg(feature = "dst")]
mod runner;
#[cfg(feature = "dst")]
mod watchdog;
mod world;

use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

pub use error::DstError;
pub use faults::DstFaults;
pub use injector::{CheckpointFault, FaultInjector, StartFault};
pub use report::{DstReport, DstSummary};
pub use world::Injected;
pub(crate) use world::Shared as SharedWorld;

use crate::builder::Tree;
#[cfg(feature = "dst")]
use runner::{run_one, TraceText};
use vigil_sim::{Rule, TraceWriter, Violation};

/// The environment variable that makes `Dst::run` run one seed only.
pub const SEED_VARIABLE: &str = "VIGIL_DST_SEED";

/// How each seed runs.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub(crate) duration: Duration,
    /// `None`: each seed picks its faults.
    pub(crate) faults: Option<DstFaults>,
    pub(crate) liveness: Option<Duration>,
    pub(crate) require_up: bool,
    pub(crate) max_steps: u64,
    pub(crate) stall_warning: Option<Duration>,
    pub(crate) check_determinism: bool,
    pub(crate) jobs: usize,
    pub(crate) reproduce_with: Option<String>,
}

/// An own-code simulation of the tree `factory` builds (see the module
/// documentation). The factory is called once per run, so that no state
/// captured by one seed's closures leaks into the next.
#[cfg(feature = "dst")]
#[must_use = "a simulation does nothing until run"]
pub struct Dst<F> {
    factory: F,
    settings: Settings,
}

#[cfg(feature = "dst")]
impl<F: Fn() -> Tree + Sync> Dst<F> {
    /// A simulation of `factory`'s tree: 10 minutes of virtual time with
    /// faults per seed, then the liveness phase; every core; the first seed
    /// of a sweep run twice to check determinism.
    pub fn new(factory: F) -> Self {
        Dst {
            factory,
            settings: Settings {
                duration: Duration::from_secs(600),
                faults: None,
                liveness: None,
                require_up: false,
                max_steps: vigil_sim::DEFAULT_MAX_STEPS,
                stall_warning: Some(Duration::from_secs(2)),
                check_determinism: true,
                jobs: std::thread::available_parallelism().map_or(1, usize::from),
                reproduce_with: None,
            },
        }
    }

    /// Virtual time with faults on (default 10 minutes).
    pub fn duration(mut self, duration: Duration) -> Self {
        self.settings.duration = duration;
        self
    }

    /// Inject exactly these faults in every seed (default: each seed picks
    /// its own, swarm testing). [`DstFaults::none`] injects nothing.
    pub fn faults(mut self, faults: DstFaults) -> Self {
        self.settings.faults = Some(faults);
        self
    }

    /// How long the faults stay off before every permanent child must be
    /// running (default: one minute plus twice every backoff maximum,
    /// startup and shutdown timeout, and the longest injected delay). Raise
    /// it if your tasks take longer than that to come up.
    pub fn liveness_bound(mut self, bound: Duration) -> Self {
        self.settings.liveness = Some(bound);
        self
    }

    /// Whether a seed whose tree went down (the root gave up, the first
    /// start failed) fails (default: no, as in `vigil sim`, where a give-up
    /// under heavy faults is an outcome, not a broken rule).
    pub fn require_up(mut self, on: bool) -> Self {
        self.settings.require_up = on;
        self
    }

    /// The step budget of a seed (inputs and notices; default 10,000,000).
    pub fn max_steps(mut self, steps: u64) -> Self {
        self.settings.max_steps = steps;
        self
    }

    /// Warn when this much wall time passes without a supervision step (a
    /// task holding the thread); `None`: no watchdog (default 2 s).
    pub fn stall_warning(mut self, after: Option<Duration>) -> Self {
        self.settings.stall_warning = after;
        self
    }

    /// Whether [`Dst::run`] runs its first seed twice and compares the
    /// traces (default: yes). [`Dst::run_seed`] never does; see
    /// [`Dst::check_determinism`].
    pub fn determinism_check(mut self, on: bool) -> Self {
        self.settings.check_determinism = on;
        self
    }

    /// Threads for [`Dst::run`], one runtime per seed on each (default:
    /// every core; at least 1).
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.settings.jobs = jobs.max(1);
        self
    }

    /// The command a failing seed's reproduction line runs (after
    /// `VIGIL_DST_SEED=<seed>`). Default: `cargo test -p <package> <test>
    /// -- --exact`, from `CARGO_PKG_NAME` and the name of the test's thread.
    pub fn reproduce_with(mut self, command: impl Into<String>) -> Self {
        self.settings.reproduce_with = Some(command.into());
        self
    }

    /// Run one seed.
    pub fn run_seed(&self, seed: u64) -> Result<DstReport, DstError> {
        let command = self.command();
        run_one(
            &self.factory,
            seed,
            &self.settings,
            reproduction(seed, &command),
            TraceWriter::hashing(),
        )
    }

    /// Run one seed and return its trace as text (the meta line, then one
    /// line per notice: docs/TRACE.md).
    pub fn trace_seed(&self, seed: u64) -> Result<(DstReport, String), DstError> {
        let command = self.command();
        let text = TraceText::default();
        let trace = TraceWriter::to_sink(Box::new(text.clone()));
        let report = run_one(&self.factory, seed, &self.settings, reproduction(seed, &command), trace)?;
        Ok((report, text.text()))
    }

    /// Run `seed` twice and compare the traces line by line: a difference
    /// is a `determinism` violation in the returned report, naming the
    /// first differing line.
    pub fn check_determinism(&self, seed: u64) -> Result<DstReport, DstError> {
        let (mut first, a) = self.trace_seed(seed)?;
        let (_, b) = self.trace_seed(seed)?;
        if let Some(detail) = first_difference(seed, &a, &b) {
            first.outcome = vigil_sim::SeedOutcome::Violation;
            first.violation = Some(Violation {
                at: vigil_core::Instant::ZERO,
                rule: Rule::Determinism,
                detail,
            });
        }
        Ok(first)
    }

    /// Run every seed of `seeds` on [`Dst::jobs`] threads (the first twice,
    /// unless [`Dst::determinism_check`] is off), or only the seed in
    /// `VIGIL_DST_SEED` when it is set. A tree the simulation refuses is an
    /// error (it would be refused for every seed).
    pub fn run(&self, seeds: Range<u64>) -> Result<DstSummary, DstError> {
        let wall = std::time::Instant::now();
        // The first seed and how many: `u64::MAX` alone is a seed too.
        let (first, count) = match std::env::var(SEED_VARIABLE) {
            Ok(value) => {
                let seed = value
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| DstError::BadSeedVariable { value })?;
                (seed, 1)
            }
            Err(_) => (seeds.start, seeds.end.saturating_sub(seeds.start)),
        };
        let command = self.command();
        let mut reports = self.sweep(first, count, &command)?;
        if self.settings.check_determinism && count > 0 {
            let checked = self.check_determinism(first)?;
            if let Some(first) = reports.first_mut().filter(|r| r.violation.is_none()) {
                if checked.violation.as_ref().is_some_and(|v| v.rule == Rule::Determinism) {
                    first.outcome = checked.outcome;
                    first.violation = checked.violation;
                }
            }
        }
        Ok(DstSummary {
            reports,
            jobs: self.settings.jobs,
            wall_time: wall.elapsed(),
        })
    }

    /// `count` seeds from `first`, spread over the threads; in seed order.
    fn sweep(&self, first: u64, count: u64, command: &str) -> Result<Vec<DstReport>, DstError> {
        let next = AtomicU64::new(0);
        let results: Mutex<Vec<Result<DstReport, DstError>>> = Mutex::new(Vec::new());
        let worker = || loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= count {
                return;
            }
            let seed = first.wrapping_add(i);
            let report = run_one(
                &self.factory,
                seed,
                &self.settings,
                reproduction(seed, command),
                TraceWriter::hashing(),
            );
            let failed = report.is_err();
            results
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(report);
            if failed {
                // Refused for one seed, refused for all: stop early.
                next.store(count, Ordering::Relaxed);
                return;
            }
        };
        let jobs = self.settings.jobs.min(usize::try_from(count).unwrap_or(usize::MAX));
        if jobs <= 1 {
            worker();
        } else {
            std::thread::scope(|s| {
                for _ in 0..jobs {
                    s.spawn(worker);
                }
            });
        }
        let mut reports = results
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        reports.sort_by_key(|r| r.seed);
        Ok(reports)
    }

    /// The command of the reproduction line, read on the caller's thread
    /// (a test's thread is named after the test).
    fn command(&self) -> String {
        if let Some(c) = &self.settings.reproduce_with {
            return c.clone();
        }
        let package = std::env::var("CARGO_PKG_NAME").unwrap_or_else(|_| "<your package>".to_owned());
        match std::thread::current().name().filter(|n| *n != "main") {
            Some(test) => format!("cargo test -p {package} {test} -- --exact"),
            None => format!("cargo test -p {package}"),
        }
    }
}

/// The one line that runs `seed` again.
#[cfg(feature = "dst")]
fn reproduction(seed: u64, command: &str) -> String {
    format!("{SEED_VARIABLE}={seed} {command}")
}

/// The first line where two traces of `seed` differ, described.
#[cfg(feature = "dst")]
fn first_difference(seed: u64, a: &str, b: &str) -> Option<String> {
    if a == b {
        return None;
    }
    let (mut la, mut lb) = (a.lines(), b.lines());
    let mut n = 0usize;
    loop {
        n += 1;
        let (x, y) = (la.next(), lb.next());
        if x != y {
            return Some(format!(
                "seed {seed} run twice gave different traces; first difference at line {n}: {} vs {} \
                 (something outside the simulation steered it: another thread, real I/O, the wall clock, \
                 a select! without `biased;`, or state shared across runs)",
                x.unwrap_or("<end of trace>"),
                y.unwrap_or("<end of trace>")
            ));
        }
        x?;
    }
}

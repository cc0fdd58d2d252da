//! One simulation run: options in, report out.

use std::fmt;
use std::time::Duration;

use vigil_config::{Script, TreeConfig};
use vigil_core::{Engine, Stats};

use crate::fault_plan::FaultPlan;
use crate::oracle::{Rule, Violation};
use crate::world::World;
use vigil_trace::TraceWriter;

/// The default step budget of one run: world events plus engine timeouts
/// (a typical hour of a small tree takes about a thousand).
pub const DEFAULT_MAX_STEPS: u64 = 10_000_000;

/// How to simulate.
#[derive(Clone, Debug, PartialEq)]
pub struct SimOptions {
    /// How long the faulty phase lasts (virtual time).
    pub duration: Duration,
    /// Whether the seed picks random faults (off: only behaviour models and the script).
    pub random_faults: bool,
    /// Scripted actions.
    pub script: Option<Script>,
    /// Whether to run the liveness phase after the faulty one.
    pub liveness: bool,
    /// The most steps (world events plus engine timeouts) the run may take;
    /// past it the run stops with a [`Rule::StepBudget`] violation and the
    /// outcome [`Outcome::StepBudget`] instead of running on.
    pub max_steps: u64,
    /// Test-only: run a deliberately broken engine, to prove the oracle notices.
    #[cfg(feature = "bug-injection")]
    pub inject_bug: Option<vigil_core::InjectedBug>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            duration: Duration::from_secs(3600),
            random_faults: true,
            script: None,
            liveness: true,
            max_steps: DEFAULT_MAX_STEPS,
            #[cfg(feature = "bug-injection")]
            inject_bug: None,
        }
    }
}

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
    /// The run stopped at its step budget ([`SimOptions::max_steps`]).
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
pub struct RunReport {
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

/// Simulate `cfg` with `seed`, writing the trace to `trace`.
pub fn run_seed(cfg: &TreeConfig, seed: u64, opts: &SimOptions, trace: TraceWriter) -> RunReport {
    World::new(cfg, seed, opts, trace).run(seed)
}

/// Run `seed` twice and compare the traces; on a mismatch the report carries
/// a [`Rule::Determinism`] violation.
pub fn run_seed_checked(cfg: &TreeConfig, seed: u64, opts: &SimOptions, trace: TraceWriter) -> RunReport {
    let mut first = run_seed(cfg, seed, opts, trace);
    let second = run_seed(cfg, seed, opts, TraceWriter::hashing());
    if first.violation.is_none() && (first.trace_hash, first.trace_lines) != (second.trace_hash, second.trace_lines) {
        first.violation = Some(Violation {
            at: vigil_core::Instant::ZERO,
            rule: Rule::Determinism,
            detail: format!(
                "two runs of seed {seed} gave different traces ({} lines, hash {:016x} vs {} lines, hash {:016x})",
                first.trace_lines, first.trace_hash, second.trace_lines, second.trace_hash
            ),
        });
    }
    first
}

/// The first trace line: everything needed to replay the run. Keys follow
/// the trace's order: `t`, `ev`, then the run's own fields.
pub fn meta_line(cfg: &TreeConfig, seed: u64, opts: &SimOptions) -> String {
    let text = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    let script = opts.script.as_ref().map_or("null".to_owned(), |s| text(&s.source));
    let mut line = format!(
        "{{\"t\":0,\"ev\":\"meta\",\"seed\":{seed},\"config\":{},\"duration_ns\":{},\"random_faults\":{},\"script\":{script},\"liveness\":{},\"vigil\":{}",
        text(&cfg.source),
        u64::try_from(opts.duration.as_nanos()).unwrap_or(u64::MAX),
        opts.random_faults,
        opts.liveness,
        text(env!("CARGO_PKG_VERSION")),
    );
    // Only a budget other than the default is recorded (older traces stay valid).
    if opts.max_steps != DEFAULT_MAX_STEPS {
        line.push_str(&format!(",\"max_steps\":{}", opts.max_steps));
    }
    #[cfg(feature = "bug-injection")]
    if let Some(bug) = opts.inject_bug {
        line.push_str(&format!(",\"inject_bug\":{}", text(bug.name())));
    }
    line.push('}');
    line
}

/// The command line that replays a run.
pub fn replay_command(cfg: &TreeConfig, seed: u64, opts: &SimOptions) -> String {
    let mut cmd = format!(
        "vigil sim {} --seed {seed} --duration {}",
        shell_word(&cfg.source),
        vigil_config::format_duration(opts.duration)
    );
    if let Some(s) = &opts.script {
        cmd.push_str(&format!(" --script {}", shell_word(&s.source)));
    }
    if !opts.random_faults {
        cmd.push_str(" --no-random-faults");
    }
    if opts.max_steps != DEFAULT_MAX_STEPS {
        cmd.push_str(&format!(" --max-steps {}", opts.max_steps));
    }
    cmd
}

fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+:=".contains(c)) {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

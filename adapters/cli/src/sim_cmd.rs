//! `vigil sim`: simulate a tree config in virtual time (docs/CLI.md).
//!
//! The arguments are parsed and validated here: by the time [`sim`] runs,
//! `--seed` and `--seeds` are not both given, the seed range is non-empty, the
//! duration is positive and `--jobs` is at least 1. The simulation itself is
//! `vigil-sim`'s.

use std::num::NonZeroUsize;
use std::ops::Range;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use clap::Args;
use vigil_config::{format_duration, TreeConfig};
use vigil_core::InjectedBug;
use vigil_sim::{
    run_seed_checked, run_seeds, DeterminismCheck, Shard, SimOptions, SimTree, Sweep, SweepSetup, TraceWriter,
};

use vigil_trace::{Flush, TraceFile, TraceFileStatus};

use crate::args::{parse_jobs, parse_positive_duration, parse_seed, parse_seed_range, parse_shard};
use crate::exit::{OUTPUT_FAILED, STEP_BUDGET};
use crate::sweep_text;

/// The seed used when neither `--seed` nor `--seeds` is given.
pub const DEFAULT_SEED: u64 = 0;

/// The options of `vigil sim`.
#[derive(Clone, Debug, Args)]
#[command(after_help = "\
Seeds: --seed N runs one seed; --seeds A..B runs seeds A to B-1 (half-open, like a \
Rust range; A..=B includes B), spread over --jobs threads. Without either: --seed 0.
Sweeps: --shard K/N runs only the K-th (from 0) of N contiguous blocks of --seeds; \
--json FILE writes the summary as a sweep file that `vigil merge` combines.
Exit codes: 0 every run passed, 1 an invariant failed (the seed and the command \
that replays it are printed), 2 bad usage or bad input, 3 a run exceeded its step \
budget (--max-steps) and no invariant failed, 74 the trace or the output could not \
be written (a full disk), 141 the output's reader went away (`| head`).")]
pub struct SimArgs {
    /// The tree config (TOML).
    #[arg(value_name = "CONFIG")]
    pub config: PathBuf,

    /// Simulate this one seed.
    #[arg(long, value_name = "N", conflicts_with = "seeds", value_parser = parse_seed)]
    pub seed: Option<u64>,

    /// Simulate every seed of this range: A..B (B excluded) or A..=B.
    #[arg(long, value_name = "A..B", value_parser = parse_seed_range)]
    pub seeds: Option<Range<u64>>,

    /// How much virtual time each run lasts.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse_positive_duration)]
    pub duration: Duration,

    /// A scenario script of timed actions (TOML).
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,

    /// No random exits, start failures or hung stops: only the script makes things fail.
    #[arg(long)]
    pub no_random_faults: bool,

    /// Write the run's trace (JSON lines) to FILE (one seed only).
    #[arg(long, value_name = "FILE", conflicts_with = "seeds")]
    pub trace: Option<PathBuf>,

    /// How many seeds run in parallel (default: all cores).
    #[arg(long, short = 'j', value_name = "N", value_parser = parse_jobs)]
    pub jobs: Option<NonZeroUsize>,

    /// Replay TRACE and check that the engine writes the same trace: a
    /// `vigil sim --trace` file is run again from the seed and options of its
    /// first line; a `vigil run --trace` file has its recorded inputs fed,
    /// at their recorded times, to an engine built from CONFIG.
    #[arg(
        long,
        value_name = "TRACE",
        conflicts_with_all = ["seed", "seeds", "duration", "no_random_faults", "trace", "max_steps"]
    )]
    pub replay: Option<PathBuf>,

    /// Run only shard K of N of --seeds: the K-th of N contiguous blocks,
    /// K from 0 to N-1 (docs/SIMULATION.md, "Sweeps on a cluster").
    #[arg(long, value_name = "K/N", requires = "seeds", value_parser = parse_shard)]
    pub shard: Option<Shard>,

    /// Also write the summary as a sweep file (JSON) to FILE, for `vigil merge`.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["trace", "replay"])]
    pub json: Option<PathBuf>,

    /// With --replay: replay even if CONFIG's digest is not the one the
    /// trace was recorded with.
    #[arg(long, requires = "replay")]
    pub ignore_digest: bool,

    /// The most steps (world events plus engine timeouts) one run may take
    /// before it is stopped with exit code 3.
    #[arg(long, value_name = "N", default_value_t = vigil_sim::DEFAULT_MAX_STEPS, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_steps: u64,

    /// Print only the summary (and failures), not progress.
    #[arg(long, short = 'q')]
    pub quiet: bool,

    /// Test builds only: run a deliberately broken engine (skip_intensity,
    /// early_kill, restart_transient_always, keep_failed_temporary,
    /// transient_recorded_permanent, parallel_round_stops) to prove the checks
    /// catch it.
    #[cfg(feature = "bug-injection")]
    #[arg(long, hide = true, value_name = "BUG", value_parser = parse_bug)]
    pub inject_bug: Option<InjectedBug>,
}

/// The value of the hidden `--inject-bug`, which only a build with the
/// feature `bug-injection` has.
#[cfg(feature = "bug-injection")]
fn parse_bug(s: &str) -> Result<InjectedBug, String> {
    InjectedBug::from_name(s).ok_or_else(|| {
        format!(
            "unknown bug `{s}` (expected skip_intensity, early_kill, restart_transient_always, \
             keep_failed_temporary, transient_recorded_permanent or parallel_round_stops)"
        )
    })
}

impl SimArgs {
    /// The deliberate engine bug asked for with the hidden `--inject-bug`.
    #[cfg(feature = "bug-injection")]
    pub fn injected_bug(&self) -> Option<InjectedBug> {
        self.inject_bug
    }

    /// Never one: a build without the feature `bug-injection` has no `--inject-bug`.
    #[cfg(not(feature = "bug-injection"))]
    pub fn injected_bug(&self) -> Option<InjectedBug> {
        None
    }

    /// The seeds to run, never empty: this shard's block of `--seeds A..B`
    /// (the whole range without `--shard`), `--seed N` (`N..N+1`), or
    /// [`DEFAULT_SEED`] alone. Fails when the range has fewer seeds than shards.
    pub fn shard_seeds(&self) -> Result<Range<u64>, vigil_sim::ShardError> {
        match self.shard {
            Some(shard) => shard.seeds(&self.seeds()),
            None => Ok(self.seeds()),
        }
    }

    /// The whole range of seeds (all shards): `--seeds A..B`, `--seed N`
    /// (`N..N+1`), or [`DEFAULT_SEED`] alone.
    pub fn seeds(&self) -> Range<u64> {
        match (&self.seeds, self.seed) {
            (Some(range), _) => range.clone(),
            // `--seed` is below u64::MAX: `parse_seed` says so.
            (None, Some(seed)) => seed..seed + 1,
            (None, None) => DEFAULT_SEED..DEFAULT_SEED + 1,
        }
    }

    /// How many threads to run seeds on: `--jobs`, else the available cores,
    /// never more than there are seeds.
    pub fn jobs(&self) -> usize {
        let wanted = self
            .jobs
            .or_else(|| std::thread::available_parallelism().ok())
            .map_or(1, NonZeroUsize::get);
        let seeds = self.shard_seeds().unwrap_or_else(|_| self.seeds());
        let count = usize::try_from(seeds.end - seeds.start).unwrap_or(usize::MAX);
        wanted.min(count).max(1)
    }
}

/// Run `vigil sim`.
pub fn sim(args: SimArgs) -> ExitCode {
    let cfg = match vigil_config::load_tree(&args.config) {
        Ok(c) => c,
        Err(e) => return bad_input(&e),
    };
    let tree = match sim_tree(&cfg) {
        Ok(t) => t,
        Err(e) => return bad_input(&e),
    };
    let script_path = args.script.clone();
    if let Some(trace) = &args.replay {
        return replay(&args, &cfg, &tree, trace);
    }

    let script = match script_path.as_deref().map(vigil_config::load_script).transpose() {
        Ok(s) => s,
        Err(e) => return bad_input(&e),
    };
    let opts = SimOptions {
        duration: args.duration,
        random_faults: !args.no_random_faults,
        script,
        liveness: true,
        max_steps: args.max_steps,
        inject_bug: args.injected_bug(),
    };
    let seeds = match args.shard_seeds() {
        Ok(s) => s,
        Err(e) => return bad_input(&format!("--shard: {e}")),
    };
    if seeds.end - seeds.start == 1 && args.shard.is_none() && args.json.is_none() {
        single(&args, &tree, seeds.start, &opts)
    } else {
        range(&args, &tree, seeds, &opts)
    }
}

/// The tree `vigil sim` simulates: the config is one way to build a `Tree`
/// (the same value `vigil run` starts), simulated with each worker's `sim`
/// table as its model.
fn sim_tree(cfg: &vigil_config::TreeConfig) -> Result<SimTree, vigil_tokio::SimulationError> {
    let tree =
        vigil_tokio::Tree::from_config(cfg).simulation(&cfg.source, &vigil_sim::SimModels::from_config(cfg))?;
    Ok(tree.with_digest(cfg.digest))
}

fn bad_input(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::from(2)
}

fn single(args: &SimArgs, cfg: &SimTree, seed: u64, opts: &SimOptions) -> ExitCode {
    let (writer, trace_status) = match &args.trace {
        // A write error is reported when it happens and stops the trace (whole lines only).
        Some(path) => match TraceFile::create(path, Flush::Blocks) {
            Ok(f) => {
                let f = f.on_error(|e| eprintln!("error: {e}"));
                let status = f.status();
                (TraceWriter::to_sink(Box::new(f)), Some(status))
            }
            Err(e) => return bad_input(&format!("cannot write the trace to {}: {e}", path.display())),
        },
        None => (TraceWriter::hashing(), None),
    };
    let started = Instant::now();
    // Runs the seed twice and compares the traces: the determinism self-check.
    let report = run_seed_checked(cfg, seed, opts, writer);
    let wall = started.elapsed();
    let trace_error = trace_status.as_ref().and_then(TraceFileStatus::error);
    let s = &report.stats;
    println!(
        "seed {seed}: {} after {} of virtual time ({} events, {} spawns, {} restart decisions, {} give-ups)",
        report.outcome,
        format_duration(report.virtual_time),
        report.events,
        s.spawns,
        s.restart_decisions,
        s.give_ups
    );
    if !args.quiet {
        println!("  faults: {}", report.faults);
        println!(
            "  trace: {} lines, hash {:016x}; the same seed gave the same trace twice{}",
            report.trace_lines,
            report.trace_hash,
            match (&args.trace, &trace_error) {
                (Some(p), None) => format!("; written to {}", p.display()),
                (Some(p), Some(_)) => format!("; NOT written whole to {} (see the error)", p.display()),
                (None, _) => String::new(),
            }
        );
        println!("  wall time: {:.3}s for both runs", wall.as_secs_f64());
    }
    match &report.violation {
        // The trace's error was printed when it happened.
        None if trace_error.is_some() => {
            println!("ok: every invariant held");
            ExitCode::from(OUTPUT_FAILED)
        }
        None => {
            println!("ok: every invariant held");
            ExitCode::SUCCESS
        }
        Some(v) => {
            let what = if v.rule == vigil_sim::Rule::StepBudget {
                "STOPPED"
            } else {
                "VIOLATION"
            };
            println!("{what} {v}");
            println!("replay: {}", vigil_sim::replay_command(cfg, seed, opts));
            failure_code(std::slice::from_ref(&report))
        }
    }
}

fn range(args: &SimArgs, cfg: &SimTree, seeds: Range<u64>, opts: &SimOptions) -> ExitCode {
    // What the sweep file records of the inputs: read before the run, so a
    // file that cannot be read fails at once.
    let setup = match sweep_setup(args, cfg, opts) {
        Ok(s) => s,
        Err(e) => return bad_input(&e),
    };
    let jobs = args.jobs();
    let started = Instant::now();
    let progress = progress_printer(seeds.end - seeds.start, args.quiet, started);
    let summary = run_seeds(cfg, seeds.clone(), opts, jobs, &progress);
    let wall = started.elapsed();
    // The determinism self-check, on the first seed of the range (or shard).
    let check = run_seed_checked(cfg, seeds.start, opts, TraceWriter::hashing());
    let identical = check
        .violation
        .as_ref()
        .is_none_or(|v| v.rule != vigil_sim::Rule::Determinism);
    let sweep = Sweep {
        setup,
        range: args.seeds(),
        shard: args.shard,
        seeds: seeds.clone(),
        jobs: jobs as u64,
        wall,
        determinism: DeterminismCheck {
            seed: seeds.start,
            identical,
        },
        replays: Sweep::replays_of(cfg, opts, &summary),
        summary,
    };
    print!("{}", sweep_text::render(&sweep));
    let code = sweep_text::exit_code(&sweep);
    if let Some(path) = &args.json {
        let text = format!("{}\n", sweep.to_json());
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("error: cannot write the sweep file {}: {e}", path.display());
            return if code == ExitCode::SUCCESS {
                ExitCode::from(OUTPUT_FAILED)
            } else {
                code
            };
        }
    }
    code
}

/// The setup a sweep file records: the config's and script's digests are
/// of the files' bytes as they are now.
fn sweep_setup(args: &SimArgs, cfg: &SimTree, opts: &SimOptions) -> Result<SweepSetup, String> {
    let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| format!("cannot read {}: {e}", p.display()));
    let config_text = read(&args.config)?;
    let script_text = args.script.as_deref().map(read).transpose()?;
    Ok(SweepSetup::new(cfg, &config_text, opts, script_text.as_deref()))
}

/// Progress on stderr every 2 s (not with --quiet), and every violation as it is found.
fn progress_printer(total: u64, quiet: bool, started: Instant) -> impl Fn(&vigil_sim::SeedReport) + Sync {
    let done = AtomicU64::new(0);
    let last_progress = Mutex::new(Instant::now());
    move |r: &vigil_sim::SeedReport| {
        let n = done.fetch_add(1, Ordering::Relaxed) + 1;
        if let Some(v) = &r.violation {
            eprintln!("seed {}: VIOLATION {v}", r.seed);
        }
        if quiet {
            return;
        }
        let mut last = last_progress.lock().unwrap_or_else(|e| e.into_inner());
        if last.elapsed() >= std::time::Duration::from_secs(2) || n == total {
            *last = Instant::now();
            eprintln!(
                "  {n}/{total} seeds ({:.0}%), {:.1}s",
                n as f64 * 100.0 / total as f64,
                started.elapsed().as_secs_f64()
            );
        }
    }
}

/// 3 when every failed run only exceeded its step budget, else 1.
fn failure_code(failed: &[vigil_sim::SeedReport]) -> ExitCode {
    let budget_only = failed.iter().all(|r| {
        r.violation
            .as_ref()
            .is_some_and(|v| v.rule == vigil_sim::Rule::StepBudget)
    });
    ExitCode::from(if budget_only { STEP_BUDGET } else { 1 })
}

fn replay(args: &SimArgs, cfg: &TreeConfig, tree: &SimTree, trace: &std::path::Path) -> ExitCode {
    let text = match std::fs::read_to_string(trace) {
        Ok(t) => t,
        Err(e) => return bad_input(&format!("cannot read {}: {e}", trace.display())),
    };
    let recorded = match vigil_sim::parse_recorded_meta(text.lines().next().unwrap_or_default()) {
        Ok(m) => m,
        Err(e) => return bad_input(&format!("{}: {e}", trace.display())),
    };
    if !args.ignore_digest {
        if let Err(e) = vigil_sim::check_digest(recorded.digest(), cfg.digest) {
            return bad_input(&format!("{}: {e}", trace.display()));
        }
    }
    let mut meta = match recorded {
        vigil_sim::RecordedMeta::Sim(m) => m,
        vigil_sim::RecordedMeta::Run(m) => return replay_run(args, cfg, trace, &m, &text),
    };
    let script_path = args.script.clone().or_else(|| meta.script.clone().map(PathBuf::from));
    let script = match script_path.as_deref().map(vigil_config::load_script).transpose() {
        Ok(s) => s,
        Err(e) => return bad_input(&e),
    };
    // The run replays with the bug of this command line, not of the trace.
    meta.inject_bug = args.injected_bug();
    match vigil_sim::replay(tree, &meta, script, &text) {
        Ok(lines) => {
            println!(
                "replayed seed {} of {}: all {lines} lines identical to {}",
                meta.seed,
                tree.name(),
                trace.display()
            );
            ExitCode::SUCCESS
        }
        Err(e @ vigil_sim::ReplayError::BadMeta(_)) => bad_input(&e),
        Err(e) => {
            println!("{e}");
            ExitCode::from(1)
        }
    }
}

/// Replay a real run's trace (`"origin":"run"`): its inputs into an engine
/// built from `cfg`.
fn replay_run(
    args: &SimArgs,
    cfg: &TreeConfig,
    trace: &std::path::Path,
    meta: &vigil_sim::RunTraceMeta,
    text: &str,
) -> ExitCode {
    if args.script.is_some() {
        return bad_input(&format!(
            "{} is the trace of a real run: it has no script to replace (--script)",
            trace.display()
        ));
    }
    match vigil_sim::replay_run(&cfg.spec, meta.seed, text) {
        Ok(r) => {
            println!(
                "replayed a real run of {} (started {}): all {} lines identical to {}",
                cfg.source,
                meta.t0_utc,
                r.lines,
                trace.display()
            );
            if let Some(bytes) = r.partial_tail {
                println!(
                    "the trace ends in a partial line ({bytes} bytes: a write cut short, vigil killed or a full disk): \
                     replayed up to line {}, its last whole line",
                    r.lines
                );
            }
            ExitCode::SUCCESS
        }
        Err(e @ vigil_sim::ReplayError::BadConfig(_)) => bad_input(&e),
        Err(e) => {
            println!("{e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        sim: SimArgs,
    }

    fn parse(args: &[&str]) -> Result<SimArgs, clap::Error> {
        T::try_parse_from(std::iter::once("sim").chain(args.iter().copied())).map(|t| t.sim)
    }

    #[test]
    fn defaults_are_one_seed_for_an_hour() {
        let a = parse(&["web.toml"]).unwrap();
        assert_eq!(a.seeds(), DEFAULT_SEED..DEFAULT_SEED + 1);
        assert_eq!(a.duration, Duration::from_secs(3600));
        assert_eq!(a.jobs(), 1, "one seed needs one thread");
        assert!(!a.no_random_faults && !a.quiet);
        assert!(a.script.is_none() && a.trace.is_none() && a.replay.is_none());
    }

    #[test]
    fn every_option_parses() {
        let a = parse(&[
            "web.toml",
            "--seeds",
            "10..20",
            "--duration",
            "90s",
            "--script",
            "my script.toml",
            "--no-random-faults",
            "--jobs",
            "4",
            "--quiet",
        ])
        .unwrap();
        assert_eq!(a.seeds(), 10..20);
        assert_eq!(a.jobs(), 4);
        assert_eq!(a.duration, Duration::from_secs(90));
        assert_eq!(a.script.as_deref(), Some(std::path::Path::new("my script.toml")));
        assert!(a.no_random_faults && a.quiet);
        let b = parse(&["w.toml", "--seed", "7", "--trace", "t.jsonl"]).unwrap();
        assert_eq!(b.seeds(), 7..8);
        assert_eq!(b.trace.as_deref(), Some(std::path::Path::new("t.jsonl")));
        let c = parse(&["w.toml", "--replay", "old.jsonl", "--script", "s.toml"]).unwrap();
        assert_eq!(c.replay.as_deref(), Some(std::path::Path::new("old.jsonl")));
        let d = parse(&["w.toml", "--seed", "18446744073709551614"]).unwrap();
        assert_eq!(d.seeds(), u64::MAX - 1..u64::MAX);
    }

    #[test]
    fn jobs_never_exceed_the_seeds() {
        assert_eq!(parse(&["w.toml", "--seeds", "0..3", "-j", "16"]).unwrap().jobs(), 3);
        assert_eq!(parse(&["w.toml", "--seeds", "0..100", "-j", "2"]).unwrap().jobs(), 2);
    }

    #[test]
    fn usage_errors_exit_2() {
        for args in [
            &["w.toml", "--seed", "1", "--seeds", "1..2"][..],
            &["w.toml", "--seeds", "5..5"],
            &["w.toml", "--seeds", "0..10", "--trace", "t.jsonl"],
            &["w.toml", "--replay", "t.jsonl", "--seeds", "0..10"],
            &["w.toml", "--replay", "t.jsonl", "--seed", "1"],
            &["w.toml", "--replay", "t.jsonl", "--duration", "1m"],
            &["w.toml", "--replay", "t.jsonl", "--no-random-faults"],
            &["w.toml", "--replay", "t.jsonl", "--trace", "u.jsonl"],
            &["w.toml", "--duration", "10"],
            &["w.toml", "--duration", "0s"],
            &["w.toml", "--jobs", "0"],
            &["w.toml", "--seed", "-1"],
            &["w.toml", "--seed", "18446744073709551615"],
            &["--seed", "1"],
        ] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}: {e}");
        }
    }
}

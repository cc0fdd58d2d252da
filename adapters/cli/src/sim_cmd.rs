//! `vigil sim`: simulate a tree config in virtual time (CONTRACTS section 4).
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

use clap::Args;
use vigil_config::format_duration;

use crate::args::{parse_jobs, parse_positive_duration, parse_seed, parse_seed_range};

/// The seed used when neither `--seed` nor `--seeds` is given.
pub const DEFAULT_SEED: u64 = 0;

/// The options of `vigil sim`.
#[derive(Clone, Debug, Args)]
#[command(after_help = "\
Seeds: --seed N runs one seed; --seeds A..B runs seeds A to B-1 (half-open, like a \
Rust range; A..=B includes B), spread over --jobs threads. Without either: --seed 0.
Exit codes: 0 every run passed, 1 an invariant failed (the seed and the command \
that replays it are printed), 2 bad usage or bad input.")]
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

    /// Run the run recorded in TRACE (a --trace file) again, with the seed and
    /// options of its first line, and check it writes the same trace.
    #[arg(
        long,
        value_name = "TRACE",
        conflicts_with_all = ["seed", "seeds", "duration", "no_random_faults", "trace"]
    )]
    pub replay: Option<PathBuf>,

    /// Print only the summary (and failures), not every run.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

impl SimArgs {
    /// The seeds to run, never empty: `--seeds A..B`, `--seed N` (`N..N+1`),
    /// or [`DEFAULT_SEED`] alone.
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
        let seeds = self.seeds();
        let count = usize::try_from(seeds.end - seeds.start).unwrap_or(usize::MAX);
        wanted.min(count).max(1)
    }
}

/// Run `vigil sim`. Not wired to `vigil-sim` yet: says so and exits 2, after
/// describing the (validated) request.
pub fn sim(args: SimArgs) -> ExitCode {
    let seeds = args.seeds();
    eprintln!("vigil sim: the simulator is not wired in yet");
    let mut what = format!(
        "  would simulate {} for {} of virtual time: seeds {}..{} on {} thread(s), random faults {}",
        args.config.display(),
        format_duration(args.duration),
        seeds.start,
        seeds.end,
        args.jobs(),
        if args.no_random_faults { "off" } else { "on" },
    );
    for (label, file) in [
        ("script", &args.script),
        ("trace to", &args.trace),
        ("replaying", &args.replay),
    ] {
        if let Some(f) = file {
            what.push_str(&format!(", {label} {}", f.display()));
        }
    }
    if args.quiet {
        what.push_str(", quiet");
    }
    eprintln!("{what}");
    ExitCode::from(2)
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

//! `vigil`: the command-line tool. Every command, option and exit code is
//! in docs/CLI.md.
//!
//! - `vigil tour [--quiet]`: a built-in tree driven through scripted failures in
//!   virtual time, every engine event printed.
//! - `vigil check CONFIG [--script FILE]`: validate a tree config (and a
//!   scenario script for it) and print the tree.
//! - `vigil sim CONFIG [--seed N | --seeds A..B] [--duration 1h] [--script FILE]
//!   [--no-random-faults] [--trace FILE] [--jobs N] [--replay TRACE]
//!   [--max-steps N] [--shard K/N] [--json FILE] [--quiet]`: simulate the tree in virtual time.
//! - `vigil merge FILE... [--json FILE]`: combine the sweep files of shards.
//! - `vigil explain CONFIG TRACE [--json] [--path PREFIX] [--from T] [--to T]`:
//!   every restart, give-up and shutdown of a trace, with its cause.
//! - `vigil run CONFIG [--trace FILE] [--output-dir DIR] [--chaos SEED
//!   [--chaos-kill-every D] [--chaos-start-fail P%] ...]`: supervise the
//!   tree's processes for real (with `--chaos`, injecting faults).
//! - `vigil ctl [--socket PATH | --config CONFIG] [--json] [--timeout DURATION]
//!   status|tree|start|stop|restart|delete|restart-all|shutdown|workers|
//!   metrics|subscribe|call|reload|start-child|logs`: talk to a running
//!   `vigil run` over its control socket.
//!
//! - `vigil completions SHELL`, `vigil man`: the shell completions and the
//!   man page, generated from this definition.
//!
//! Exit codes: 0 ok, 1 a check or invariant failed, 2 bad usage or bad input
//! (clap's own usage errors exit 2 too), and the codes of `exit.rs`: 3, 4, 70,
//! 74, 124, 141; `vigil run` also exits 130 after a second signal.

mod args;
mod chaos_args;
mod check_cmd;
mod config_snapshot;
mod control_group;
mod ctl_cmd;
mod ctl_error;
mod ctl_human;
mod ctl_render;
mod exit;
mod explain_cmd;
mod generated_docs;
mod host_check;
mod http_endpoint;
mod init_mode;
mod keep_running;
mod merge_cmd;
mod no_color;
mod operator;
mod output;
mod reload;
mod reload_diff;
mod replica_ops;
mod run_cmd;
mod sim_cmd;
mod socket_path;
mod sweep_text;
mod systemd_notify;
mod tour;
mod worker_processes;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use crate::sim_cmd::SimArgs;

/// vigil: a deterministic supervision engine.
#[derive(Debug, Parser)]
#[command(name = "vigil", version, about = "vigil: a deterministic supervision engine", long_about = None)]
#[command(
    after_help = "Exit codes: 0 ok, 1 a check or invariant failed, 2 bad usage or bad input, \
3 a simulated run exceeded its step budget, 4 `vigil merge` is missing shards, 70 vigil's driver panicked (a bug; every child was killed), 74 the trace or the output could not be written (a full disk), 141 the output's reader went away (`| head`), \
124 `vigil ctl` got no answer within --timeout."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the built-in demo tree through scripted failures in virtual time.
    Tour {
        /// Print only the closing summary, not every event.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Validate a tree config and print the tree.
    Check {
        /// The tree config (TOML).
        #[arg(value_name = "CONFIG")]
        config: PathBuf,
        /// Also validate this scenario script (TOML) against the tree.
        #[arg(long, value_name = "FILE")]
        script: Option<PathBuf>,
    },
    /// Simulate a tree config in virtual time, checking every invariant.
    Sim(SimArgs),
    /// Supervise a tree config's processes for real (SIGTERM/SIGINT: ordered
    /// shutdown, twice: kill now; SIGHUP: reload the config).
    Run(run_cmd::RunArgs),
    /// Talk to a running `vigil run` over its control socket.
    Ctl(ctl_cmd::CtlArgs),
    /// Combine the sweep files of `vigil sim --json` (the shards of a seed
    /// range) into the summary of the whole range.
    Merge(merge_cmd::MergeArgs),
    /// Explain a trace: every restart, give-up, timeout, request and
    /// shutdown as a timeline with its cause.
    Explain(explain_cmd::ExplainArgs),
    /// Print the shell completion script for SHELL (bash, zsh, fish,
    /// elvish, powershell).
    Completions {
        /// The shell.
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff, section 1).
    Man,
}

fn main() -> ExitCode {
    // `vigil run` starts every process under a guard that is this binary
    // executed again: in a guard, this never returns.
    vigil_tokio::guard::enter_if_guard();
    // A closed or failing stdout/stderr ends any command cleanly (141 or 74).
    output::install();
    let cli = Cli::try_parse().unwrap_or_else(|e| ctl_error::usage(e));
    match cli.command {
        Some(Cmd::Tour { quiet }) => tour::run(quiet),
        Some(Cmd::Check { config, script }) => check_cmd::check(&config, script.as_deref()),
        Some(Cmd::Sim(args)) => sim_cmd::sim(args),
        Some(Cmd::Run(args)) => run_cmd::run(args),
        Some(Cmd::Ctl(args)) => ctl_cmd::ctl(args),
        Some(Cmd::Merge(args)) => merge_cmd::merge(args),
        Some(Cmd::Explain(args)) => explain_cmd::explain(args),
        Some(Cmd::Completions { shell }) => generated_docs::completions(Cli::command(), shell),
        Some(Cmd::Man) => generated_docs::man(Cli::command()),
        None => {
            // `vigil` alone is a usage error, as for any command that needs
            // a subcommand: the help on stderr, exit 2 (`vigil --help`: 0).
            eprint!("{}", Cli::command().render_help());
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// The shipped systemd unit's vigil command lines parse as the CLI
    /// means them (examples/systemd/vigil.service).
    #[test]
    fn the_systemd_unit_runs_the_config_it_checks() {
        let unit = include_str!("../../../examples/systemd/vigil.service");
        let line = |key: &str| -> Vec<&str> {
            let l = unit
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key}"));
            l.split_whitespace().collect()
        };
        let start = Cli::try_parse_from(line("ExecStart=")).expect("ExecStart parses");
        let check = Cli::try_parse_from(line("ExecStartPre=")).expect("ExecStartPre parses");
        let (Some(Cmd::Run(run)), Some(Cmd::Check { config, .. })) = (start.command, check.command) else {
            panic!("ExecStart runs, ExecStartPre checks");
        };
        assert_eq!(run.config.as_deref(), Some(config.as_path()), "the same config");
        assert!(run.trace.is_none() && run.output_dir.is_none());
    }

    /// The `vigil` command lines of a shipped cluster example, with its
    /// variables given values, split into words (the examples quote nothing
    /// but whole variables).
    fn vigil_lines(text: &str) -> Vec<Vec<String>> {
        let values = [
            ("$JOB_COMPLETION_INDEX", "7"),
            ("$SLURM_ARRAY_TASK_ID", "7"),
            ("$SLURM_CPUS_PER_TASK", "2"),
            ("{}", "7"),
            ("$SHARDS", "8"),
            ("$SEEDS", "0..100000"),
            ("$OUT", "out"),
        ];
        text.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .filter_map(|l| l.find("vigil ").map(|at| &l[at..]))
            .map(|l| {
                let mut l = l.split(';').next().unwrap_or_default().replace('"', "");
                for (var, value) in values {
                    l = l.replace(var, value);
                }
                l.split_whitespace().map(str::to_owned).collect()
            })
            .collect()
    }

    #[test]
    fn the_cluster_examples_run_valid_sharded_sweeps_and_a_merge() {
        for (name, text) in [
            (
                "sweep-job.yaml",
                include_str!("../../../examples/cluster/sweep-job.yaml"),
            ),
            (
                "sweep-parallel.sh",
                include_str!("../../../examples/cluster/sweep-parallel.sh"),
            ),
            (
                "sweep-slurm.sh",
                include_str!("../../../examples/cluster/sweep-slurm.sh"),
            ),
        ] {
            let lines = vigil_lines(text);
            let mut sims = 0;
            for words in &lines {
                let cli = Cli::try_parse_from(words).unwrap_or_else(|e| panic!("{name}: {words:?}: {e}"));
                if let Some(Cmd::Sim(args)) = cli.command {
                    let shard = args.shard.unwrap_or_else(|| panic!("{name}: no --shard"));
                    assert_eq!(shard.index(), 7, "{name}: K is the index variable");
                    assert!(args.json.is_some(), "{name}: no --json");
                    assert!(args.shard_seeds().is_ok(), "{name}: {:?}", args.shard_seeds());
                    sims += 1;
                }
            }
            assert_eq!(sims, 1, "{name}: {lines:?}");
            assert!(
                lines.iter().any(|w| w.get(1).map(String::as_str) == Some("merge")) || name != "sweep-parallel.sh",
                "{name}: no vigil merge"
            );
        }
    }
}

//! `vigil`: the command-line tool. Every command, option and exit code is
//! in docs/CLI.md.
//!
//! - `vigil tour [--quiet]`: a built-in tree driven through scripted failures in
//!   virtual time, every engine event printed.
//! - `vigil check CONFIG [--script FILE]`: validate a tree config (and a
//!   scenario script for it) and print the tree.
//! - `vigil sim CONFIG [--seed N | --seeds A..B] [--duration 1h] [--script FILE]
//!   [--no-random-faults] [--trace FILE] [--jobs N] [--replay TRACE]
//!   [--max-steps N] [--quiet]`: simulate the tree in virtual time.
//! - `vigil run CONFIG [--trace FILE] [--output-dir DIR]`: supervise the tree's
//!   processes for real.
//! - `vigil ctl [--socket PATH | --config CONFIG] [--json] [--timeout DURATION]
//!   status|tree|start|stop|restart|delete|restart-all|shutdown|workers|
//!   metrics|subscribe|call`: talk to a running `vigil run` over its control
//!   socket.
//!
//! Exit codes: 0 ok, 1 a check or invariant failed, 2 bad usage or bad input
//! (clap's own usage errors exit 2 too), and the codes of `exit.rs`: 3, 70,
//! 74, 124, 141; `vigil run` also exits 130 after a second signal.

mod args;
mod check_cmd;
mod config_snapshot;
mod ctl_cmd;
mod ctl_render;
mod exit;
mod output;
mod reload;
mod run_cmd;
mod sim_cmd;
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
3 a simulated run exceeded its step budget, 70 vigil's driver panicked (a bug; every child was killed), 74 the trace or the output could not be written (a full disk), 141 the output's reader went away (`| head`), \
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
}

fn main() -> ExitCode {
    // `vigil run` starts every process under a guard that is this binary
    // executed again: in a guard, this never returns.
    vigil_tokio::guard::enter_if_guard();
    // A closed or failing stdout/stderr ends any command cleanly (141 or 74).
    output::install();
    let cli = Cli::parse();
    match cli.command {
        Some(Cmd::Tour { quiet }) => tour::run(quiet),
        Some(Cmd::Check { config, script }) => check_cmd::check(&config, script.as_deref()),
        Some(Cmd::Sim(args)) => sim_cmd::sim(args),
        Some(Cmd::Run(args)) => run_cmd::run(args),
        Some(Cmd::Ctl(args)) => ctl_cmd::ctl(args),
        None => {
            // `vigil` alone: the help, as before clap (not a usage error).
            let _ = Cli::command().print_help();
            ExitCode::SUCCESS
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
}

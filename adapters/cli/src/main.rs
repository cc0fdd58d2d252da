//! `vigil`: the command-line tool.
//!
//! This build has one subcommand, `vigil tour`: it runs a built-in supervision
//! tree through a scripted sequence of failures in virtual time and prints every
//! engine event, so a newcomer sees the engine's behaviour in a second. The
//! `run`, `ctl`, `sim` and `check` subcommands of the contract are built on the
//! same engine by later milestones (see the README).

mod tour;

use std::process::ExitCode;

const USAGE: &str = "\
vigil: a deterministic supervision engine

USAGE:
    vigil tour [--quiet]    run the built-in demo tree through scripted failures in virtual time
    vigil --version         print the version
    vigil --help            print this help
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["tour"] => tour::run(false),
        ["tour", "--quiet"] | ["tour", "-q"] => tour::run(true),
        ["--version"] | ["-V"] => {
            println!("vigil {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        ["--help"] | ["-h"] | [] => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => {
            eprint!("error: unrecognised arguments: {}\n\n{USAGE}", args.join(" "));
            ExitCode::from(2)
        }
    }
}

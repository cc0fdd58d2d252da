//! `vigil merge FILE...`: combine the sweep files of `vigil sim --json`
//! (the shards of one range, run anywhere) into the summary of the whole
//! range, printed exactly as `vigil sim --seeds A..B` prints it
//! (docs/CLI.md; docs/SIMULATION.md, "Sweeps on a cluster").

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use vigil_sim::{merge_sweeps, Sweep, SweepError};

use crate::exit::{OUTPUT_FAILED, SHARDS_MISSING};
use crate::sweep_text;

/// The options of `vigil merge`.
#[derive(Clone, Debug, Args)]
#[command(after_help = "\
Exit codes: 0 every run passed, 1 an invariant failed in some run (each seed and its \
replay command are printed), 2 bad input (a file that cannot be read, is damaged or \
edited, or belongs to another sweep; two files covering the same seeds), 3 a run \
exceeded its step budget and no invariant failed, 4 seeds of the range are in no \
file (the missing shards are named), 74 the --json file could not be written.")]
pub struct MergeArgs {
    /// Sweep files written by `vigil sim --seeds A..B [--shard K/N] --json FILE`.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,

    /// Also write the merged sweep file (JSON) to FILE; `-`: to the standard
    /// output, instead of the text summary.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
}

/// Run `vigil merge`.
pub fn merge(args: MergeArgs) -> ExitCode {
    let mut sweeps = Vec::with_capacity(args.files.len());
    for path in &args.files {
        match read(path) {
            Ok(s) => sweeps.push(s),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let merged = match merge_sweeps(&sweeps) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {}", name_files(&e, &args.files));
            let missing = matches!(e, SweepError::Missing { .. });
            return ExitCode::from(if missing { SHARDS_MISSING } else { 2 });
        }
    };
    let code = sweep_text::exit_code(&merged);
    let json = format!("{}\n", merged.to_json());
    match args.json.as_deref() {
        Some(p) if p == Path::new("-") => print!("{json}"),
        Some(p) => {
            print!("{}", sweep_text::render(&merged));
            if let Err(e) = std::fs::write(p, json) {
                eprintln!("error: cannot write {}: {e}", p.display());
                return if code == ExitCode::SUCCESS {
                    ExitCode::from(OUTPUT_FAILED)
                } else {
                    code
                };
            }
        }
        None => print!("{}", sweep_text::render(&merged)),
    }
    code
}

fn read(path: &Path) -> Result<Sweep, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Sweep::from_json_text(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The error, with files named by their path rather than their position.
fn name_files(e: &SweepError, files: &[PathBuf]) -> String {
    let name = |i: usize| {
        files
            .get(i)
            .map_or_else(|| format!("file {i}"), |p| p.display().to_string())
    };
    match e {
        SweepError::Disagree {
            key,
            expected,
            found,
            other,
        } => format!(
            "{} does not belong with {}: `{key}` is {found} there, {expected} in {}",
            name(*other),
            name(0),
            name(0)
        ),
        SweepError::Overlap { first, second, seeds } => format!(
            "{} and {} both cover seeds {}..{} (the same shard twice?)",
            name(*first),
            name(*second),
            seeds.start,
            seeds.end
        ),
        other => other.to_string(),
    }
}

//! One simulation run: options in, report out; and the command that replays it.

use crate::options::{SimOptions, DEFAULT_MAX_STEPS};
use crate::oracle::{Rule, Violation};
use crate::report::SeedReport;
use crate::sim_tree::SimTree;
use crate::simulation::Simulation;
use vigil_trace::TraceWriter;

/// Simulate `tree` with `seed`, writing the trace to `trace`.
pub fn run_seed(tree: &SimTree, seed: u64, opts: &SimOptions, trace: TraceWriter) -> SeedReport {
    Simulation::new(tree, seed, opts, trace).run(seed)
}

/// Run `seed` twice and compare the traces; on a mismatch the report carries
/// a [`Rule::Determinism`] violation.
pub fn run_seed_checked(tree: &SimTree, seed: u64, opts: &SimOptions, trace: TraceWriter) -> SeedReport {
    let mut first = run_seed(tree, seed, opts, trace);
    let second = run_seed(tree, seed, opts, TraceWriter::hashing());
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

/// The command line that replays a run: `vigil sim` on the tree's name
/// (a config's path; for a tree built in Rust, the name it was given).
pub fn replay_command(tree: &SimTree, seed: u64, opts: &SimOptions) -> String {
    let mut cmd = format!(
        "vigil sim {} --seed {seed} --duration {}",
        shell_word(tree.name()),
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
    if let Some(bug) = opts.injected_bug() {
        cmd.push_str(&format!(" --inject-bug {}", bug.name()));
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

//! What is compared after every step, rendered the same way on both sides:
//! one line per command (time, verb, path, generation), the answer of the
//! step's request, and `which_children` and `count_children` of every supervisor.

use vigil_core::Instant;

/// A command as one line: `12.000000000s stop web/db gen=4`.
pub fn command_line(now: Instant, verb: &str, path: &str, generation: u64) -> String {
    let ns = now.as_nanos();
    format!(
        "{}.{:09}s {verb} {path} gen={generation}",
        ns / 1_000_000_000,
        ns % 1_000_000_000
    )
}

/// A supervisor's path as shown in views (`/` for the root).
pub fn shown(path: &str) -> String {
    if path.is_empty() {
        "/".to_owned()
    } else {
        path.to_owned()
    }
}

/// The header line of one supervisor's `which_children`.
pub fn which_children_line(sup_path: &str) -> String {
    format!("which_children {}:", shown(sup_path))
}

/// One child in a `which_children` answer.
pub fn child_line(name: &str, supervisor: bool, dynamic: bool, state: &str, generation: u64) -> String {
    let kind = if supervisor { "supervisor" } else { "worker" };
    let origin = if dynamic { "dynamic" } else { "static" };
    format!("  {name} {kind} {origin} {state} gen={generation}")
}

/// A `count_children` answer.
pub fn counts_line(sup_path: &str, specs: usize, active: usize, supervisors: usize, workers: usize) -> String {
    format!(
        "count_children {}: specs={specs} active={active} supervisors={supervisors} workers={workers}",
        shown(sup_path)
    )
}

/// What one step showed: the commands emitted during it, the answer to its
/// request (if it made one), and the live view of the whole tree after it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Observation {
    /// Commands, in order.
    pub commands: Vec<String>,
    /// The request's final answer (`ok`, `started gen=7`, `error(not_found)`...).
    pub reply: Option<String>,
    /// `which_children` and `count_children` of the root and of every
    /// supervisor below it.
    pub children: Vec<String>,
}

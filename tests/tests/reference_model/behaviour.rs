//! How the scripted world answers the engine's commands. The model and the
//! engine's driver read the same behaviour, so both worlds act alike: a spawn
//! is answered at once (`Started`, or a failure while `fail_starts` says so),
//! a `Stop` ends the run with `shutdown` at once unless that very run hangs,
//! and a `Kill` ends it with `killed`.

use std::collections::{BTreeMap, BTreeSet};

/// How a scripted failed start reaches the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailMode {
    /// `Input::StartFailed`.
    StartFailed,
    /// `Input::Exited` before `Started` (also a failed start, docs/SEMANTICS.md §6).
    ExitBeforeStarted,
}

/// The world's script: which starts fail and which runs ignore `Stop`.
#[derive(Clone, Debug, Default)]
pub struct Behaviour {
    /// Paths whose next starts fail: how many, and how.
    fail_starts: BTreeMap<String, (u32, FailMode)>,
    /// Runs (path, generation) that ignore `Stop` and end only when killed.
    hanging: BTreeSet<(String, u64)>,
}

impl Behaviour {
    /// The next `count` starts of `path` fail, as `mode` says.
    pub fn fail_starts(&mut self, path: &str, count: u32, mode: FailMode) {
        self.fail_starts.insert(path.to_owned(), (count, mode));
    }

    /// The run `generation` of `path` ignores `Stop`.
    pub fn hang_on_stop(&mut self, path: &str, generation: u64) {
        self.hanging.insert((path.to_owned(), generation));
    }

    /// A start of `path` is being answered: whether it fails, and how
    /// (consumes one scripted failure).
    pub fn take_start_failure(&mut self, path: &str) -> Option<FailMode> {
        let (count, mode) = self.fail_starts.get_mut(path)?;
        if *count == 0 {
            return None;
        }
        *count -= 1;
        Some(*mode)
    }

    /// Whether the run `generation` of `path` ignores `Stop`.
    pub fn ignores_stop(&self, path: &str, generation: u64) -> bool {
        self.hanging.contains(&(path.to_owned(), generation))
    }
}

//! How the tree ended, as the control server's collector saw it: the
//! supervisors that gave up (the give-up chain) and the last failed runs.
//! What `status` shows of a tree that is down (`vigil run --keep-running`).

use std::collections::VecDeque;

use serde::Serialize;

use crate::events::{EventKind, TreeEvent};

/// Failed runs remembered, newest last.
pub(crate) const LAST_FAILURES: usize = 10;

/// The end of a tree so far (empty while nothing failed).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct TreeEnd {
    /// Supervisors that gave up, in order; `""` is the root.
    pub(crate) gave_up: Vec<String>,
    /// The last runs that failed (an exit that was not normal, or a start
    /// that failed), oldest first, at most [`LAST_FAILURES`].
    pub(crate) last_failures: VecDeque<Failed>,
}

/// One failed run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Failed {
    pub(crate) path: String,
    pub(crate) generation: u64,
    /// `error(exit code 3)`, `start_failed: cannot start ...`.
    pub(crate) reason: String,
}

impl TreeEnd {
    /// Take one event into account.
    pub(crate) fn record(&mut self, e: &TreeEvent) {
        let failed = match &e.kind {
            EventKind::GiveUp => {
                self.gave_up.push(e.path.clone());
                return;
            }
            EventKind::Exited { generation, reason } if !reason.is_normal() => (*generation, reason.to_string()),
            EventKind::StartFailed { generation, error } => (*generation, format!("start_failed: {error}")),
            _ => return,
        };
        if self.last_failures.len() == LAST_FAILURES {
            self.last_failures.pop_front();
        }
        self.last_failures.push_back(Failed {
            path: e.path.clone(),
            generation: failed.0,
            reason: failed.1,
        });
    }
}

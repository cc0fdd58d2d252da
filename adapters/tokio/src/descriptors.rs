//! File descriptors: vigil's limit, who may use how many, and what a spawn
//! that fails for lack of them says.
//!
//! Every process child costs vigil descriptors for as long as it runs (up to
//! [`PER_CHILD`]: the two output pipes, the notify socket, and without the
//! guard its pidfd), and every control connection costs one. Both
//! come out of the same `RLIMIT_NOFILE`. So that control clients can never
//! take the descriptors a restart needs, the control server admits only as
//! many connections as the [`DescriptorBudget`] leaves: the soft limit,
//! minus [`PER_CHILD`] for every process child of the tree, minus
//! [`RESERVE`] for vigil itself. docs/ADAPTER.md ("Descriptor and memory
//! cost") has the measured numbers. (A spawn that fails for lack of
//! descriptors in vigil is named as such by `process.rs`.)

use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};
use vigil_core::{Engine, NodeId};

use crate::output::OutputMode;
use crate::process::ProcessSpec;

/// Descriptors a running process child holds in vigil, at most: the read
/// ends of the stdout and stderr pipes (output forwarded to the log), the
/// notify socket (`readiness = "notify"`), and, without the guard
/// (`Tree::process_guard(false)`), the pidfd tokio waits on. With the guard
/// (the tree's process spawner forks it, `src/spawner.rs`) vigil holds no
/// descriptor for the guard: 2 per child in the default tracing mode, 0 with
/// `--output-dir`, one more with notify. The spawner's socket is one per tree.
pub const PER_CHILD: usize = 4;

/// Descriptors kept for vigil itself whatever the tree: its standard
/// streams, the runtime's epoll, event and signal descriptors, the
/// listening socket, the trace file (12 to 13 measured at start), and the
/// transient ones: one spawn (a socket pair, pipes, `/dev/null`, output
/// files), `/proc` reads of the process monitor, a config read on reload,
/// and the one connection being refused.
pub const RESERVE: usize = 48;

/// Below this soft limit, `vigil run` warns at start: a few dozen process
/// children and connections would already exhaust it.
pub const LOW_LIMIT: u64 = 1024;

/// What [`raise_nofile_limit`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NofileLimit {
    /// The soft limit before.
    pub before: u64,
    /// The soft limit now.
    pub soft: u64,
    /// The hard limit (the most the soft limit may be raised to).
    pub hard: u64,
}

/// Why the descriptor limit could not be read or raised.
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// `getrlimit(RLIMIT_NOFILE)` failed.
    #[error("cannot read the open-files limit (RLIMIT_NOFILE): {0}")]
    Read(nix::errno::Errno),
    /// `setrlimit(RLIMIT_NOFILE)` failed.
    #[error("cannot raise the open-files limit from {from} to {to}: {source}")]
    Raise {
        /// The soft limit it stays at.
        from: u64,
        /// The soft limit asked for.
        to: u64,
        /// Why.
        source: nix::errno::Errno,
    },
}

/// The highest soft limit the kernel accepts for an unlimited hard limit
/// (`/proc/sys/fs/nr_open`, 1 Mi by default).
fn nr_open() -> u64 {
    std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1 << 20)
}

/// Raise the soft `RLIMIT_NOFILE` of this process to its hard limit (or to
/// `/proc/sys/fs/nr_open` when the hard limit is unlimited), as a server
/// that needs many descriptors should. Logs what it did at debug level, and
/// warns when the result is below [`LOW_LIMIT`]. The process children
/// inherit the raised limit.
///
/// ```
/// use vigil_tokio::descriptors::{raise_nofile_limit, soft_limit};
/// if let Ok(limit) = raise_nofile_limit() {
///     assert!(limit.soft >= limit.before && limit.soft <= limit.hard);
///     assert_eq!(soft_limit(), limit.soft);
/// }
/// ```
pub fn raise_nofile_limit() -> Result<NofileLimit, LimitError> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(LimitError::Read)?;
    let target = if hard == RLIM_INFINITY { nr_open() } else { hard };
    let mut now = soft;
    if soft < target {
        match setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
            Ok(()) => now = target,
            Err(source) => {
                return Err(LimitError::Raise {
                    from: soft,
                    to: target,
                    source,
                })
            }
        }
    }
    let limit = NofileLimit {
        before: soft,
        soft: now,
        hard,
    };
    tracing::debug!(before = soft, soft = now, hard, "open-files limit (RLIMIT_NOFILE)");
    if now < LOW_LIMIT {
        tracing::warn!(
            limit = now,
            hard,
            "the open-files limit is low: each process child needs up to {PER_CHILD} descriptors in vigil \
             and each control connection one; raise the hard limit (`ulimit -Hn`, LimitNOFILE=)"
        );
    }
    Ok(limit)
}

/// The current soft `RLIMIT_NOFILE` (`u64::MAX` if unlimited or unreadable).
///
/// ```
/// assert!(vigil_tokio::descriptors::soft_limit() > 0);
/// ```
#[must_use]
pub fn soft_limit() -> u64 {
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, _)) if soft != RLIM_INFINITY => soft,
        _ => u64::MAX,
    }
}

/// How many descriptors control connections may use, given how many the
/// tree's process children need. Shared by the driver (which counts the
/// process children whenever the tree changes) and the control server
/// (which admits connections within what is left).
///
/// ```
/// use vigil_tokio::descriptors::{DescriptorBudget, PER_CHILD, RESERVE};
/// let budget = DescriptorBudget::with_limit(1024);
/// budget.set_process_children(10, 10 * PER_CHILD);
/// let allowance = budget.allowance();
/// assert_eq!(allowance.connections, 1024 - 10 * PER_CHILD - RESERVE);
/// ```
#[derive(Debug, Default)]
pub struct DescriptorBudget {
    /// Process children, and the descriptors they need together.
    children: std::sync::Mutex<(usize, usize)>,
    /// The limit to budget against instead of the real one (tests).
    limit: Option<u64>,
}

/// What the budget allows at one moment, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allowance {
    /// The soft open-files limit.
    pub limit: u64,
    /// Process children in the tree.
    pub children: usize,
    /// Descriptors reserved for them.
    pub reserved: usize,
    /// Connections the budget leaves room for.
    pub connections: usize,
}

impl DescriptorBudget {
    /// A budget against the process's real soft limit, read at each check.
    pub fn new() -> Self {
        DescriptorBudget::default()
    }

    /// A budget against a fixed `limit` instead of the real one.
    pub fn with_limit(limit: u64) -> Self {
        DescriptorBudget {
            children: std::sync::Mutex::default(),
            limit: Some(limit),
        }
    }

    /// The tree now has `children` process children, which need `reserved`
    /// descriptors when they all run (each at most [`PER_CHILD`]).
    pub fn set_process_children(&self, children: usize, reserved: usize) {
        let before = {
            let mut c = self.children.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            std::mem::replace(&mut *c, (children, reserved)).1
        };
        if reserved > before {
            let a = self.allowance();
            if a.connections == 0 {
                tracing::warn!(
                    limit = a.limit,
                    children,
                    reserved,
                    "the open-files limit leaves no descriptor for control connections: every connection \
                     is refused (process children need {reserved}, vigil itself {RESERVE}); raise `ulimit -n`"
                );
            }
        }
    }

    /// What is left for connections now.
    #[must_use]
    pub fn allowance(&self) -> Allowance {
        let limit = self.limit.unwrap_or_else(soft_limit);
        let (children, reserved) = *self.children.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let needed = reserved.saturating_add(RESERVE);
        let left = limit.saturating_sub(u64::try_from(needed).unwrap_or(u64::MAX));
        Allowance {
            limit,
            children,
            reserved,
            connections: usize::try_from(left).unwrap_or(usize::MAX),
        }
    }
}

/// Descriptors one run of `spec` holds in vigil: its pidfd (not `guarded`:
/// a guarded run's guard is the spawner's child), the two output pipes
/// (output forwarded to the log; with log files, the two files too) and its notify socket (`notify`: its
/// readiness is `notify`).
pub(crate) fn process_cost(spec: &ProcessSpec, guarded: bool, notify: bool) -> usize {
    let pipes = match spec.output {
        OutputMode::Tracing => 2,
        // The pipes, and the two files once written.
        OutputMode::Log(_) => 4,
        _ => 0,
    };
    usize::from(!guarded) + pipes + usize::from(notify)
}

/// The process workers of the tree the engine holds, and the descriptors
/// they need together: `cost` gives a worker's, `None` for a worker that
/// needs none (a task).
pub(crate) fn process_workers(engine: &Engine, cost: impl Fn(NodeId) -> Option<usize>) -> (usize, usize) {
    let mut supervisors: Vec<NodeId> = vec![engine.root()];
    let (mut n, mut reserved) = (0usize, 0usize);
    while let Some(sup) = supervisors.pop() {
        for child in engine.children(sup) {
            if engine.is_supervisor(child) {
                supervisors.push(child);
            } else if let Some(c) = cost(child) {
                n = n.saturating_add(1);
                reserved = reserved.saturating_add(c);
            }
        }
    }
    (n, reserved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_reserves_for_children_and_vigil_first() {
        let b = DescriptorBudget::with_limit(1024);
        assert_eq!(b.allowance().connections, 1024 - RESERVE);
        b.set_process_children(100, 400);
        assert_eq!(b.allowance().connections, 1024 - RESERVE - 400);
        assert_eq!((b.allowance().children, b.allowance().reserved), (100, 400));
        b.set_process_children(1000, 4000);
        assert_eq!(b.allowance().connections, 0);
        // Saturates instead of overflowing.
        let huge = DescriptorBudget::with_limit(u64::MAX);
        huge.set_process_children(usize::MAX, usize::MAX);
        assert_eq!(huge.allowance().connections, 0);
    }

    #[test]
    fn a_childs_cost_is_what_vigil_holds_for_it() {
        let mut spec = ProcessSpec::new(["sleep", "1"]);
        assert_eq!(process_cost(&spec, true, false), 2);
        assert_eq!(process_cost(&spec, true, true), 3);
        assert_eq!(process_cost(&spec, false, true), PER_CHILD);
        spec.output = OutputMode::Null;
        assert_eq!(process_cost(&spec, true, false), 0);
        assert_eq!(process_cost(&spec, true, true), 1);
        assert_eq!(process_cost(&spec, false, false), 1);
    }

    #[test]
    fn raising_reaches_the_hard_limit() {
        let l = raise_nofile_limit().unwrap();
        assert!(l.soft >= l.before);
        assert_eq!(soft_limit(), l.soft);
        assert!(l.hard == RLIM_INFINITY || l.soft == l.hard);
    }
}

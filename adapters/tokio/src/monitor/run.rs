//! A run as monitors are told about it: which run, where in the tree, what
//! kind of runner.

use std::sync::Arc;

use vigil_core::RunId;

/// One run of a worker, as a [`Monitor`](super::Monitor) is told about it
/// when it [registers](super::Monitor::register).
///
/// ```
/// use vigil_tokio::monitor::{MonitoredRun, RunKind};
///
/// fn describe(run: &MonitoredRun) -> String {
///     match run.kind {
///         RunKind::Process { pgid, memory_limit } => {
///             format!("{} (generation {}): process group {pgid}, limit {memory_limit:?}", run.path, run.run.generation)
///         }
///         RunKind::Task => format!("{} (generation {}): a task", run.path, run.run.generation),
///         _ => format!("{}: another kind of run", run.path),
///     }
/// }
/// # let _ = describe;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitoredRun {
    /// The run: its node and generation. [`MonitorContext::evict`](super::MonitorContext::evict)
    /// takes it, and [`Monitor::remove`](super::Monitor::remove) names it.
    pub run: RunId,
    /// The worker's path in the tree (`web/w1`).
    pub path: Arc<str>,
    /// What runs it.
    pub kind: RunKind,
    /// When it came up: the driver handed its `started` to the engine (tokio's clock).
    pub started: tokio::time::Instant,
}

/// What a monitored run is (see [`MonitoredRun`] for a `match` on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunKind {
    /// A task worker ([`Tree::task`](crate::Tree::task)).
    Task,
    /// A blocking worker, a closure on a thread of its own
    /// ([`Tree::blocking`](crate::Tree::blocking)).
    Blocking,
    /// An OS process worker ([`Tree::process`](crate::Tree::process)).
    Process {
        /// The run's process group, which is also the pid of its leader:
        /// the program itself, or its process guard when the tree runs
        /// processes under guards (`vigil run` does; docs/ADAPTER.md, "The
        /// process guard"). The program and everything it starts stay in
        /// this group unless they leave it (`setsid`).
        pgid: u32,
        /// The child's own memory limit in bytes
        /// ([`ProcessSpec::memory_limit`](crate::ProcessSpec)), if any.
        memory_limit: Option<u64>,
    },
}

impl RunKind {
    /// The process group of a process run; `None` for other runs.
    ///
    /// ```
    /// use vigil_tokio::monitor::RunKind;
    /// assert_eq!(RunKind::Task.pgid(), None);
    /// assert_eq!(RunKind::Process { pgid: 42, memory_limit: None }.pgid(), Some(42));
    /// ```
    pub fn pgid(&self) -> Option<u32> {
        match self {
            RunKind::Process { pgid, .. } => Some(*pgid),
            RunKind::Task | RunKind::Blocking => None,
        }
    }

    /// The memory limit of a process run; `None` for other runs and for
    /// processes without one.
    ///
    /// ```
    /// use vigil_tokio::monitor::RunKind;
    /// assert_eq!(RunKind::Process { pgid: 42, memory_limit: Some(1 << 30) }.memory_limit(), Some(1 << 30));
    /// ```
    pub fn memory_limit(&self) -> Option<u64> {
        match self {
            RunKind::Process { memory_limit, .. } => *memory_limit,
            RunKind::Task | RunKind::Blocking => None,
        }
    }
}

/// Which runs a monitor is told about ([`Monitor::watches`](super::Monitor::watches)).
///
/// ```
/// use vigil_tokio::monitor::{RunKind, Watch};
/// assert!(Watch::AllRuns.includes(&RunKind::Task));
/// assert!(!Watch::ProcessRuns.includes(&RunKind::Task));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Watch {
    /// Every run, whatever runs it.
    AllRuns,
    /// OS process runs only. A monitor that has nothing to do with tasks
    /// says so, and task restarts then cost it nothing.
    ProcessRuns,
}

impl Watch {
    /// Whether a run of `kind` is watched.
    pub fn includes(self, kind: &RunKind) -> bool {
        self.covers(matches!(kind, RunKind::Process { .. }))
    }

    /// Whether a run is watched that is a process run, or not.
    pub(crate) fn covers(self, process: bool) -> bool {
        match self {
            Watch::AllRuns => true,
            Watch::ProcessRuns => process,
        }
    }
}

//! What the driver tells the engine about runs.

use crate::{ExitReason, RunId};

/// An event reported by the driver about one run. Each echoes the [`RunId`] of
/// the `Spawn` it answers; an input for an unknown node, an old generation or
/// a run in a state where it makes no sense is ignored and counted
/// ([`Stats::stale_inputs`](crate::Stats::stale_inputs)), never an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The run is up (for an `immediate` worker: started).
    Started(RunId),
    /// The run could not be started at all.
    StartFailed(RunId, String),
    /// \[ext\] A `notify` run reports ready.
    Ready(RunId),
    /// \[ext\] A run proves it is alive (resets its health deadline).
    Heartbeat(RunId),
    /// The run ended.
    Exited(RunId, ExitReason),
    /// \[ext\] A monitor asks the engine to restart an up run (for example
    /// the memory monitor, for a run over its `memory_limit`). The engine
    /// stops the run with its shutdown policy; the exit that follows counts as
    /// a failure with the eviction's reason ([`Eviction::reason`]: `memory`,
    /// or `evicted(<the monitor's reason>)`), so restart intensity and backoff
    /// apply as for a crash. Ignored and counted as stale unless the run is up
    /// or awaiting readiness.
    Evict(RunId, Eviction),
}

/// \[ext\] Why a monitor evicts a run ([`Input::Evict`]).
///
/// ```
/// use vigil_core::{Eviction, ExitReason};
/// assert_eq!(Eviction::Memory.reason(), ExitReason::Memory);
/// assert_eq!(Eviction::Health.reason(), ExitReason::Health);
/// let queue = Eviction::Monitor("queue depth 120 > 100 for 3 checks".into());
/// assert_eq!(queue.reason().to_string(), "evicted(queue depth 120 > 100 for 3 checks)");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Eviction {
    /// The run used more memory than it may (the built-in memory monitor).
    Memory,
    /// Any other monitor's reason, in its own words (a user's monitor, or
    /// an external one on the control socket).
    Monitor(String),
    /// The run failed its health probe `retries` times in a row (an
    /// adapter's probe: docs/CONFIG.md, "Health probes"). The run is stopped
    /// with its shutdown policy, and its exit reads as `health`, whatever its
    /// own status, as a missed heartbeat's does.
    Health,
}

impl Eviction {
    /// The exit reason the evicted run's exit is reported with.
    pub fn reason(&self) -> ExitReason {
        match self {
            Eviction::Memory => ExitReason::Memory,
            Eviction::Monitor(why) => ExitReason::Evicted(why.clone()),
            Eviction::Health => ExitReason::Health,
        }
    }
}

impl Input {
    /// The run this input is about.
    pub fn run(&self) -> RunId {
        match self {
            Input::Started(r)
            | Input::StartFailed(r, _)
            | Input::Ready(r)
            | Input::Heartbeat(r)
            | Input::Exited(r, _)
            | Input::Evict(r, _) => *r,
        }
    }

    /// The kind of input, without its payload.
    pub fn kind(&self) -> InputKind {
        match self {
            Input::Started(_) => InputKind::Started,
            Input::StartFailed(..) => InputKind::StartFailed,
            Input::Ready(_) => InputKind::Ready,
            Input::Heartbeat(_) => InputKind::Heartbeat,
            Input::Exited(..) => InputKind::Exited,
            Input::Evict(..) => InputKind::Evict,
        }
    }
}

/// The kind of an [`Input`] (for counting and tracing stale inputs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InputKind {
    /// [`Input::Started`].
    Started,
    /// [`Input::StartFailed`].
    StartFailed,
    /// [`Input::Ready`].
    Ready,
    /// [`Input::Heartbeat`].
    Heartbeat,
    /// [`Input::Exited`].
    Exited,
    /// [`Input::Evict`].
    Evict,
}

impl InputKind {
    /// The trace name of this kind.
    pub fn as_str(self) -> &'static str {
        match self {
            InputKind::Started => "started",
            InputKind::StartFailed => "start_failed",
            InputKind::Ready => "ready",
            InputKind::Heartbeat => "heartbeat",
            InputKind::Exited => "exited",
            InputKind::Evict => "evict",
        }
    }
}

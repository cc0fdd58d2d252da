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
}

impl Input {
    /// The run this input is about.
    pub fn run(&self) -> RunId {
        match self {
            Input::Started(r)
            | Input::StartFailed(r, _)
            | Input::Ready(r)
            | Input::Heartbeat(r)
            | Input::Exited(r, _) => *r,
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
        }
    }
}

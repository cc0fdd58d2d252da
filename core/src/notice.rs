//! What happened, for traces, logs and metrics.

use crate::{ExitReason, InputKind, NodeId, Reply, RequestError, RequestId, RequestOp, RunId, Strategy};

/// Everything that happened inside the engine, in order: the commands it
/// emitted, the inputs it accepted, and its decisions. Drained with
/// [`Engine::poll_notice`](crate::Engine::poll_notice); the notice stream alone
/// is the trace.
///
/// Notices name nodes by [`NodeId`]. Resolve them with
/// [`Engine::path`](crate::Engine::path) **before the next call that changes the
/// engine**: a node removed during a call (a temporary child that ended) stays
/// resolvable until then.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    /// Command emitted: start a run.
    Spawn(RunId),
    /// Command emitted: ask a run to stop.
    Stop(RunId),
    /// Command emitted: kill a run.
    Kill(RunId),
    /// Input accepted: the run is up.
    Started(RunId),
    /// Input accepted: the run failed to start.
    StartFailed(RunId, String),
    /// Input accepted: the run is ready.
    Ready(RunId),
    /// Input accepted: heartbeat.
    Heartbeat(RunId),
    /// Input accepted: the run ended. `reason` is the one the engine acts on
    /// (`health` / `start_timeout` when the engine killed it for that).
    Exited(RunId, ExitReason),
    /// An input was ignored: unknown node, old generation, or meaningless in the
    /// run's state.
    Stale(RunId, InputKind),
    /// A supervisor decided an automatic restart because `child` ended (or
    /// failed to restart).
    Restart {
        /// The supervisor.
        sup: NodeId,
        /// The child that caused it.
        child: NodeId,
        /// The supervisor's strategy.
        strategy: Strategy,
    },
    /// \[ext\] An automatic restart of `child` waits `delay_ns` first.
    Backoff {
        /// The child.
        child: NodeId,
        /// The delay in nanoseconds.
        delay_ns: u64,
    },
    /// A supervisor exceeded its intensity; it now stops its children and ends.
    GiveUp {
        /// The supervisor.
        sup: NodeId,
    },
    /// The engine killed a run for missing its readiness or heartbeat deadline.
    Timeout {
        /// The run.
        run: RunId,
        /// `start_timeout` or `health`.
        reason: ExitReason,
    },
    /// \[ext\] A monitor evicted a run ([`Input::Evict`](crate::Input::Evict));
    /// the engine stops it and its exit will read as `reason`.
    Evicted {
        /// The run.
        run: RunId,
        /// The reason its exit will be reported with (`memory`).
        reason: ExitReason,
    },
    /// A supervisor begins its start (it starts its children in order).
    SupStarting {
        /// The supervisor.
        sup: NodeId,
    },
    /// A supervisor's parent asks it to stop: its shutdown policy (and its
    /// deadline, for a timeout) counts from now.
    SupStop {
        /// The supervisor.
        sup: NodeId,
    },
    /// A supervisor decided to end (gave up, shut down, auto_shutdown,
    /// lifespan, one_terminate_all, or asked by its parent): it now stops its
    /// children in reverse order and spawns nothing more.
    SupEnding {
        /// The supervisor.
        sup: NodeId,
        /// The reason it will end with.
        reason: ExitReason,
    },
    /// A supervisor started all its children.
    SupStarted {
        /// The supervisor.
        sup: NodeId,
    },
    /// A supervisor ended.
    SupExit {
        /// The supervisor.
        sup: NodeId,
        /// Why.
        reason: ExitReason,
    },
    /// A child spec was removed (temporary child ended, delete_child, failed
    /// start_child). When a supervisor ends, its children are removed with
    /// it and no `Removed` is emitted for each: its `SupExit` covers them
    /// (a restarted supervisor builds them again from its own spec).
    Removed {
        /// The child.
        child: NodeId,
    },
    /// The root ended: nothing runs any more.
    TreeDown {
        /// Why the root ended.
        reason: ExitReason,
    },
    /// An operator request was received.
    Request {
        /// Its id.
        id: RequestId,
        /// The operation.
        op: RequestOp,
        /// The path it names.
        path: String,
    },
    /// The answer to a request (immediately after `Request`, or later for
    /// requests answered [`Reply::Pending`]).
    Reply {
        /// The request.
        id: RequestId,
        /// The operation.
        op: RequestOp,
        /// The path it named.
        path: String,
        /// The answer (boxed: large and rare, and notices stay small).
        result: Box<Result<Reply, RequestError>>,
    },
}

impl Notice {
    /// The run this notice is about, for the notices about one run (its
    /// commands, its inputs, its timeouts and evictions); `None` for the
    /// others.
    ///
    /// ```
    /// use vigil_core::{NodeId, Notice, RunId};
    /// let run = RunId { node: NodeId::ROOT, generation: 3 };
    /// assert_eq!(Notice::Started(run).run(), Some(run));
    /// assert_eq!(Notice::GiveUp { sup: NodeId::ROOT }.run(), None);
    /// ```
    pub fn run(&self) -> Option<RunId> {
        match self {
            Notice::Spawn(r)
            | Notice::Stop(r)
            | Notice::Kill(r)
            | Notice::Started(r)
            | Notice::StartFailed(r, _)
            | Notice::Ready(r)
            | Notice::Heartbeat(r)
            | Notice::Exited(r, _)
            | Notice::Stale(r, _) => Some(*r),
            Notice::Timeout { run, .. } | Notice::Evicted { run, .. } => Some(*run),
            _ => None,
        }
    }
}

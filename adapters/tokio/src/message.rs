//! What handles send the driver task: the driver's side of the
//! [`TreeHandle`](crate::TreeHandle).

use tokio::sync::oneshot;
use vigil_core::{Reply, Request, RequestError, RunId};

use crate::monitor::EvictMsg;
use crate::payloads::{ByTag, Payload};
use crate::pool::PoolStart;
use crate::report::RunnerReport;

/// A message from a handle to the driver.
pub(crate) enum Msg {
    /// An operator request (boxed: a `Request` is large, `KillAll` tiny).
    Request(Box<RequestMsg>),
    /// Kill every live run now and stop supervising (a second signal).
    KillAll { done: oneshot::Sender<()> },
    /// A report for a run that did not come from its runner: a worker's
    /// `ready` or `heartbeat` through the control socket.
    Report(RunId, RunnerReport),
    /// What is at a path: no node (`None`), or the node's payload (for
    /// `TreeHandle::child` and `TreeHandle::pool`).
    Lookup {
        path: String,
        reply: oneshot::Sender<Option<Option<Payload>>>,
    },
    /// A pool's start: admitted against the pool's bound, then a `start_child`.
    PoolStart(Box<PoolStart>),
    /// A monitor's eviction (an in-process monitor's, or the control
    /// socket's `evict`), answered with the engine's verdict.
    Evict(Box<EvictMsg>),
    /// LIFECYCLE: a signal for a process child's program (`ctl signal`, `ctl reload PATH`).
    Signal(Box<crate::child_signal::SignalMsg>),
    /// LIFECYCLE: the pids and health of every live run (`status`).
    RunFacts {
        reply: oneshot::Sender<Vec<crate::child_signal::RunFacts>>,
    },
}

/// An operator request and where to answer it.
pub(crate) struct RequestMsg {
    pub(crate) request: Request,
    /// For `start_child` and `replace_child`: what the new spec's workers
    /// run, by their tags (see [`crate::payloads`]).
    pub(crate) payloads: ByTag,
    pub(crate) reply: oneshot::Sender<Result<Reply, RequestError>>,
}

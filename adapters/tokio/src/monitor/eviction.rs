//! An eviction on its way from a monitor (in-process, or on the control
//! socket) to the driver, and the driver's answer.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::oneshot;
use vigil_core::{ChildState, Eviction, RunId};

use super::status::MonitorShared;

/// Why an eviction did nothing.
///
/// ```
/// use vigil_tokio::monitor::EvictError;
/// assert_eq!(EvictError::TreeDown.to_string(), "the tree is down");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvictError {
    /// No child at that path (an eviction by path: the control socket's `evict`).
    #[error("no child at `{path}`")]
    NotFound {
        /// The path asked for.
        path: String,
    },
    /// The path names a supervisor, which has no run of its own to evict.
    #[error("`{path}` is a supervisor: only a worker's run can be evicted")]
    NotAWorker {
        /// The path asked for.
        path: String,
    },
    /// The run is not up: it has ended (a later run may be up), it is not
    /// yet started, or it is already being stopped. Stale and harmless:
    /// nothing was done, and the engine counted a stale input.
    #[error("{}", stale_message(*.generation, *.state, *.current))]
    Stale {
        /// The generation of the run asked for.
        generation: u64,
        /// The child's state now; `None` if the child no longer exists.
        state: Option<ChildState>,
        /// The generation of the child's current run, if it has one.
        current: Option<u64>,
    },
    /// The tree is down: nothing runs any more.
    #[error("the tree is down")]
    TreeDown,
}

fn stale_message(generation: u64, state: Option<ChildState>, current: Option<u64>) -> String {
    let head = format!("run {generation} was not evicted");
    match (state, current) {
        (None, _) => format!("{head}: its child no longer exists"),
        (Some(ChildState::Starting), Some(g)) if g == generation => {
            format!("{head}: it is not up yet (starting); evict it once it is up")
        }
        (Some(_), Some(g)) if g == generation => format!("{head}: it is already being stopped"),
        (Some(state), Some(g)) => {
            format!(
                "{head}: it has ended; the child's current run is {g} ({})",
                state.as_str()
            )
        }
        (Some(state), None) => format!("{head}: it has ended; the child is {}", state.as_str()),
    }
}

/// How an eviction reaches the driver: `false` when the driver is gone.
pub(crate) type Forward = Arc<dyn Fn(EvictMsg) -> bool + Send + Sync>;

/// Which run a monitor evicts.
pub(crate) enum EvictTarget {
    /// A run a monitor was told about.
    Run(RunId),
    /// A run named on the control socket.
    Path { path: String, generation: u64 },
}

/// Who asks for an eviction.
pub(crate) enum EvictBy {
    /// An in-process monitor (its counters).
    Monitor(Arc<MonitorShared>),
    /// A worker on the control socket (an external monitor), by its run.
    Worker(RunId),
}

impl EvictBy {
    /// Count the engine's verdict for the monitor that asked. The driver
    /// does it before it answers and before it publishes the eviction, so
    /// a listener that saw the `evicted` event finds it counted.
    pub(crate) fn count(&self, answer: &Result<RunId, EvictError>) {
        let EvictBy::Monitor(shared) = self else { return };
        match answer {
            Ok(_) => shared.evictions.fetch_add(1, Ordering::Relaxed),
            Err(EvictError::Stale { .. }) => shared.stale_evictions.fetch_add(1, Ordering::Relaxed),
            Err(_) => 0,
        };
    }
}

/// A monitor's eviction and where to answer it.
pub(crate) struct EvictMsg {
    pub(crate) target: EvictTarget,
    pub(crate) why: Eviction,
    /// Who asks, for the log.
    pub(crate) by: EvictBy,
    /// The run evicted, or why nothing was.
    pub(crate) reply: oneshot::Sender<Result<RunId, EvictError>>,
}

/// Send an eviction to the driver and wait for its answer (the run evicted).
/// `forward` hands the message to the driver (`false`: the driver is gone).
pub(crate) async fn evict_through(
    forward: &(dyn Fn(EvictMsg) -> bool + Send + Sync),
    target: EvictTarget,
    why: Eviction,
    by: EvictBy,
) -> Result<RunId, EvictError> {
    let (reply, answer) = oneshot::channel();
    if !forward(EvictMsg { target, why, by, reply }) {
        return Err(EvictError::TreeDown);
    }
    answer.await.unwrap_or(Err(EvictError::TreeDown))
}

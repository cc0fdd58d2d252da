//! A monitor's one way to act on the tree: an eviction through the engine.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use vigil_core::{ChildState, Eviction, RunId};

use super::status::MonitorShared;
use crate::message::{EvictBy, EvictMsg, EvictTarget, Msg};

/// What a [`Monitor`](super::Monitor)'s methods are given: its way to ask
/// for evictions. Cheap to clone; a clone may be moved into a task of the
/// monitor's own.
///
/// See the [`Monitor`](super::Monitor) example for a monitor that evicts.
#[derive(Clone, Debug)]
pub struct MonitorContext {
    shared: Arc<MonitorShared>,
    tx: mpsc::UnboundedSender<Msg>,
}

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

impl MonitorContext {
    pub(crate) fn new(shared: Arc<MonitorShared>, tx: mpsc::UnboundedSender<Msg>) -> Self {
        MonitorContext { shared, tx }
    }

    /// The monitor's name, as [`Monitor::name`](super::Monitor::name) gave it.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Ask the engine to restart `run`, for `reason`: the engine stops the
    /// run with its shutdown policy, its exit reads
    /// `evicted(<reason>)` ([`ExitReason::Evicted`](vigil_core::ExitReason::Evicted))
    /// whatever its own status, and its supervisor restarts it as after a
    /// crash (restart intensity and backoff apply; a supervisor over its
    /// intensity gives up). Answers once the engine has decided:
    /// `Ok(())` when the run is being stopped, [`EvictError::Stale`] when it
    /// was not up (it ended meanwhile, say: harmless, nothing happens),
    /// [`EvictError::TreeDown`] when the tree is down. Counted in the
    /// monitor's [status](super::MonitorStatus), and logged at WARN with the
    /// monitor's name.
    pub async fn evict(&self, run: RunId, reason: impl Into<String>) -> Result<(), EvictError> {
        self.evict_with(run, Eviction::Monitor(reason.into())).await
    }

    /// [`evict`](Self::evict) with an eviction of any kind (the memory
    /// monitor's is `Eviction::Memory`).
    pub(crate) async fn evict_with(&self, run: RunId, why: Eviction) -> Result<(), EvictError> {
        let by = EvictBy::Monitor(Arc::clone(&self.shared.name));
        let answer = evict_through(&self.tx, EvictTarget::Run(run), why, by).await;
        match &answer {
            Ok(_) => {
                self.shared.evictions.fetch_add(1, Ordering::Relaxed);
            }
            Err(EvictError::Stale { .. }) => {
                self.shared.stale_evictions.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {}
        }
        answer.map(|_| ())
    }
}

/// Send an eviction to the driver and wait for its answer (the run evicted).
pub(crate) async fn evict_through(
    tx: &mpsc::UnboundedSender<Msg>,
    target: EvictTarget,
    why: Eviction,
    by: EvictBy,
) -> Result<RunId, EvictError> {
    let (reply, answer) = oneshot::channel();
    let msg = EvictMsg { target, why, by, reply };
    tx.send(Msg::Evict(Box::new(msg))).map_err(|_| EvictError::TreeDown)?;
    answer.await.unwrap_or(Err(EvictError::TreeDown))
}

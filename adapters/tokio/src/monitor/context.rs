//! A monitor's one way to act on the tree: an eviction through the engine.

use std::sync::Arc;

use vigil_core::{Eviction, RunId};

use super::eviction::{evict_through, EvictBy, EvictError, EvictTarget, Forward};
use super::status::MonitorShared;

/// What a [`Monitor`](super::Monitor)'s methods are given: its way to ask
/// for evictions. Cheap to clone; a clone may be moved into a task of the
/// monitor's own.
///
/// See the [`Monitor`](super::Monitor) example for a monitor that evicts.
#[derive(Clone)]
pub struct MonitorContext {
    shared: Arc<MonitorShared>,
    forward: Forward,
}

impl MonitorContext {
    pub(crate) fn new(shared: Arc<MonitorShared>, forward: Forward) -> Self {
        MonitorContext { shared, forward }
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
        let by = EvictBy::Monitor(Arc::clone(&self.shared));
        evict_through(&*self.forward, EvictTarget::Run(run), why, by)
            .await
            .map(|_| ())
    }
}

impl std::fmt::Debug for MonitorContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorContext")
            .field("monitor", &self.shared.name)
            .finish()
    }
}

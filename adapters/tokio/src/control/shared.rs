//! What every connection of a serving control server shares: the tree's
//! handle, the worker registry, the counters, the settings, the connection
//! count and the descriptor budget.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::counters::Counters;
use super::operator::OperatorSlot;
use super::options::ControlOptions;
use super::registry::Registry;
use super::run_feed::RunFeed;
use crate::descriptors::DescriptorBudget;
use crate::handle::TreeHandle;

/// What every connection of a serving server shares.
pub(crate) struct Shared {
    pub(crate) sup: TreeHandle,
    pub(crate) registry: Arc<Registry>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) options: ControlOptions,
    pub(crate) open: Arc<AtomicUsize>,
    /// Cancelled when the server closes: connections stop reading.
    pub(crate) closed: CancellationToken,
    pub(crate) budget: Arc<DescriptorBudget>,
    /// The tree's live runs, and their registers and removes.
    pub(crate) runs: Arc<RunFeed>,
    /// What carries out `reload` and `start_child`.
    pub(crate) operator: Arc<OperatorSlot>,
    /// The id of the next connection admitted.
    pub(crate) next_conn: AtomicU64,
}

impl Shared {
    /// A new connection's id, unique per server.
    pub(crate) fn next_connection_id(&self) -> u64 {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }
}

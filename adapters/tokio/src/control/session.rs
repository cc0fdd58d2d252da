//! What the server knows about one connection while it is open: its id,
//! its registration, its writer's inbox, and what it has running.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use vigil_core::RunId;

/// What the server knows about one connection.
pub(crate) struct Conn {
    /// Unique per server.
    pub(crate) id: u64,
    /// The run this connection registered as, if it is a worker.
    pub(crate) registered: Option<RunId>,
    /// Its writer's inbox.
    pub(crate) out: mpsc::Sender<Bytes>,
    /// Cancelled when the client is gone (it closed its socket, or the
    /// socket failed): its calls and its subscription end at once.
    pub(crate) gone: CancellationToken,
    /// Its calls in flight.
    pub(crate) calls: Arc<AtomicUsize>,
    /// Its calls and subscriptions running beside it.
    pub(crate) streams: Arc<AtomicUsize>,
}

impl Conn {
    /// Nothing in progress: no registration, no call, no subscription.
    pub(crate) fn is_idle(&self) -> bool {
        self.registered.is_none() && self.streams.load(Ordering::SeqCst) == 0
    }
}

/// One unit counted while it runs (a call, a stream); uncounted when dropped.
pub(crate) struct Counted(Arc<AtomicUsize>);

impl Counted {
    pub(crate) fn new(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Counted(Arc::clone(counter))
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

//! The driver's two inbound queues: reports from runs (tasks, processes'
//! watchers, notify readers, blocking threads) and messages from handles.
//!
//! An unbounded FIFO, like the tokio `mpsc` channel it replaces, cheaper on
//! the task restart path, where every run sends one `Exited` and the driver
//! polls both queues at every turn of its loop (most of those polls find
//! nothing): a lock around a `VecDeque` (no allocation once it has grown),
//! a length the receiver reads without the lock (an empty queue costs it
//! one load), and an `AtomicWaker`. Receiving spends tokio's cooperative budget, as the
//! channel did, so that a flood of reports cannot starve the runtime; and
//! as with the channel, the receiver learns when every sender is gone.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;
use vigil_core::RunId;

use crate::report::RunnerReport;

/// One report and the run it is about.
pub(crate) type Report = (RunId, RunnerReport);

/// Where runs send their reports.
pub(crate) type ReportSender = DriverSender<Report>;

/// Something was sent after the driver was gone: nobody will read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the driver is gone")]
pub(crate) struct DriverGone;

/// A new queue: its sending side (cloned by every run, or handle) and its
/// one receiver (the driver's).
pub(crate) fn driver_queue<T>() -> (DriverSender<T>, DriverReceiver<T>) {
    let queue = Arc::new(Queue {
        inner: Mutex::new(Inner {
            items: VecDeque::new(),
            closed: false,
        }),
        len: AtomicUsize::new(0),
        senders: AtomicUsize::new(1),
        waker: AtomicWaker::new(),
    });
    (
        DriverSender {
            queue: Arc::clone(&queue),
        },
        DriverReceiver { queue },
    )
}

struct Queue<T> {
    inner: Mutex<Inner<T>>,
    /// How many reports are queued (written under the lock): the receiver
    /// reads it without the lock.
    len: AtomicUsize,
    /// How many senders exist: when the last goes, the receiver is woken,
    /// and its `recv` ends once the queue is empty.
    senders: AtomicUsize,
    /// The receiver's waker, woken by every send (and the last sender's drop).
    waker: AtomicWaker,
}

struct Inner<T> {
    items: VecDeque<T>,
    /// The receiver is gone: sends fail.
    closed: bool,
}

impl<T> Queue<T> {
    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        // Nothing panics while holding it; a poisoned queue is still whole.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sending side of a queue (cheap to clone: one pointer and a count).
pub(crate) struct DriverSender<T> {
    queue: Arc<Queue<T>>,
}

impl<T> Clone for DriverSender<T> {
    fn clone(&self) -> Self {
        self.queue.senders.fetch_add(1, Ordering::Relaxed);
        DriverSender {
            queue: Arc::clone(&self.queue),
        }
    }
}

impl<T> Drop for DriverSender<T> {
    fn drop(&mut self) {
        if self.queue.senders.fetch_sub(1, Ordering::SeqCst) == 1 {
            // The last one: a waiting receiver learns that nothing more comes.
            self.queue.waker.wake();
        }
    }
}

impl<T> std::fmt::Debug for DriverSender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverSender")
            .field("queued", &self.queue.len.load(Ordering::Relaxed))
            .finish()
    }
}

impl<T> DriverSender<T> {
    /// Queue `item` for the driver and wake it; fails only once the driver
    /// is gone (the item is dropped).
    pub(crate) fn send(&self, item: T) -> Result<(), DriverGone> {
        {
            let mut inner = self.queue.lock();
            if inner.closed {
                return Err(DriverGone);
            }
            inner.items.push_back(item);
            self.queue.len.store(inner.items.len(), Ordering::SeqCst);
        }
        // After the length: a receiver that registered its waker and then
        // read nothing is woken here (AtomicWaker's protocol).
        self.queue.waker.wake();
        Ok(())
    }
}

/// The driver's end of a queue. Dropping it fails later sends and drops
/// what is queued.
pub(crate) struct DriverReceiver<T> {
    queue: Arc<Queue<T>>,
}

impl<T> DriverReceiver<T> {
    /// The next item, waiting for one; `None` once every sender is gone and
    /// nothing is queued (never for reports: the driver holds a sender).
    pub(crate) async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next item if one is queued.
    pub(crate) fn try_recv(&mut self) -> Option<T> {
        if self.queue.len.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let mut inner = self.queue.lock();
        let report = inner.items.pop_front();
        self.queue.len.store(inner.items.len(), Ordering::SeqCst);
        report
    }

    /// How many items are queued now.
    pub(crate) fn len(&self) -> usize {
        self.queue.len.load(Ordering::SeqCst)
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let coop = std::task::ready!(tokio::task::coop::poll_proceed(cx));
        if let Some(report) = self.try_recv() {
            coop.made_progress();
            return Poll::Ready(Some(report));
        }
        // Registered before the second look: a send (or the last sender's
        // drop) after it wakes us.
        self.queue.waker.register(cx.waker());
        // The senders before the queue: a report sent by the last sender
        // right before it went is still read.
        let senders = self.queue.senders.load(Ordering::SeqCst);
        match self.try_recv() {
            Some(report) => {
                coop.made_progress();
                Poll::Ready(Some(report))
            }
            None if senders == 0 => Poll::Ready(None),
            None => Poll::Pending,
        }
    }
}

impl<T> Drop for DriverReceiver<T> {
    fn drop(&mut self) {
        let queued = {
            let mut inner = self.queue.lock();
            inner.closed = true;
            self.queue.len.store(0, Ordering::SeqCst);
            std::mem::take(&mut inner.items)
        };
        // Outside the lock: what an item holds is dropped with it.
        drop(queued);
    }
}

#[cfg(test)]
mod tests {
    use vigil_core::{ExitReason, NodeId};

    use super::*;

    fn run(generation: u64) -> RunId {
        RunId {
            node: NodeId::from_index(1),
            generation,
        }
    }

    #[tokio::test]
    async fn reports_arrive_in_order_and_a_waiting_receiver_is_woken() {
        let (tx, mut rx) = driver_queue::<Report>();
        assert_eq!(rx.len(), 0);
        assert!(rx.try_recv().is_none());
        let waiter = tokio::spawn(async move {
            let first = rx.recv().await;
            let second = rx.recv().await;
            let end = rx.recv().await;
            (first, second, end)
        });
        tokio::task::yield_now().await;
        tx.send((run(1), RunnerReport::Ready)).unwrap();
        let other = tx.clone();
        drop(tx);
        other.send((run(2), RunnerReport::Exited(ExitReason::Normal))).unwrap();
        tokio::task::yield_now().await;
        drop(other);
        let (first, second, end) = waiter.await.unwrap();
        assert_eq!(first, Some((run(1), RunnerReport::Ready)));
        assert_eq!(second, Some((run(2), RunnerReport::Exited(ExitReason::Normal))));
        assert_eq!(end, None, "every sender is gone: the queue ends");
    }

    #[tokio::test]
    async fn what_the_last_sender_sent_before_it_went_is_still_received() {
        let (tx, mut rx) = driver_queue::<Report>();
        tx.send((run(1), RunnerReport::Heartbeat)).unwrap();
        drop(tx);
        assert_eq!(rx.len(), 1);
        assert_eq!(rx.recv().await, Some((run(1), RunnerReport::Heartbeat)));
        assert_eq!(rx.recv().await, None);
    }

    #[test]
    fn after_the_receiver_is_gone_sends_fail_and_nothing_queued_is_kept() {
        let (tx, mut rx) = driver_queue::<Report>();
        tx.send((run(1), RunnerReport::Heartbeat)).unwrap();
        assert_eq!(rx.len(), 1);
        assert_eq!(rx.try_recv(), Some((run(1), RunnerReport::Heartbeat)));
        tx.send((run(2), RunnerReport::Heartbeat)).unwrap();
        drop(rx);
        assert_eq!(tx.queue.lock().items.len(), 0, "the queued report was dropped");
        assert_eq!(tx.send((run(3), RunnerReport::Heartbeat)), Err(DriverGone));
    }

    #[test]
    fn reports_from_many_threads_all_arrive_each_threads_in_its_order() {
        let (tx, mut rx) = driver_queue::<Report>();
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        tx.send((run(t * 1000 + i), RunnerReport::Heartbeat)).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let mut last = [None::<u64>; 4];
        let mut n = 0;
        while let Some((r, _)) = rx.try_recv() {
            let t = (r.generation / 1000) as usize;
            assert!(last[t].is_none_or(|l| l < r.generation), "in order per thread");
            last[t] = Some(r.generation);
            n += 1;
        }
        assert_eq!(n, 4000);
    }

    #[tokio::test]
    async fn a_flood_of_reports_spends_the_cooperative_budget() {
        // With reports always queued, the receiver still yields now and then
        // (tokio's budget), so another task on the same thread runs.
        let (tx, mut rx) = driver_queue::<Report>();
        for i in 0..1000 {
            tx.send((run(i), RunnerReport::Heartbeat)).unwrap();
        }
        let other = tokio::spawn(async {});
        for _ in 0..1000 {
            assert!(rx.recv().await.is_some());
        }
        assert!(other.is_finished(), "the other task ran while the receiver drained");
    }
}

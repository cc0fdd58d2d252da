//! The notices waiting for one monitor: runs registered and removed, in
//! the driver's order, never blocking the driver.
//!
//! The driver pushes and never waits; the monitor's task takes what is
//! there between its calls. A monitor that falls far behind (its `check`
//! awaits something that never comes, say) must not make the queue grow
//! for ever while children restart: once [`MAX_BACKLOG`] notices wait, the
//! queue drops every run whose register and remove are both still waiting
//! (the monitor was told nothing of it, and is told nothing), and counts
//! them. What is left is at most one register per live run and one remove
//! per run the monitor was told about, so memory stays bounded by the
//! tree, whatever the monitor does; the threshold then doubles with what
//! is left, so the work stays O(1) per notice, amortised.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::Poll;

use futures_util::task::AtomicWaker;
use vigil_core::RunId;

use super::run::MonitoredRun;
use super::status::MonitorShared;

/// How many notices may wait for a monitor before runs that came and went
/// unseen are dropped from its queue (see [`MonitorStatus::skipped_runs`](super::MonitorStatus::skipped_runs)).
pub const MAX_BACKLOG: usize = 65_536;

/// One notice for a monitor.
#[derive(Debug)]
pub(crate) enum RunNotice {
    /// A run started.
    Register(MonitoredRun),
    /// A run ended.
    Remove(RunId),
}

/// What [`RunQueue::take`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Taken {
    /// Notices were moved out (perhaps none); more may come.
    Open,
    /// The last notices were moved out: the tree is down, nothing more
    /// comes. The monitor ends once it has been told them.
    Last,
}

/// The queue between the driver and one monitor.
#[derive(Debug, Default)]
pub(crate) struct RunQueue {
    inner: Mutex<Inner>,
    /// Set by [`wake`](Self::wake), cleared by [`changed`](Self::changed).
    woken: AtomicBool,
    /// The monitor's task, while it waits.
    waiter: AtomicWaker,
}

#[derive(Debug, Default)]
struct Inner {
    notices: VecDeque<RunNotice>,
    /// Compact when this many notices wait (0: [`MAX_BACKLOG`]).
    compact_at: usize,
    /// The driver will push nothing more.
    closed: bool,
    /// The monitor is gone: pushes are dropped.
    stopped: bool,
}

impl RunQueue {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queue a notice for the monitor; `false` if the monitor is gone (the
    /// driver then stops telling it anything). Never waits, and does not
    /// wake the monitor: [`wake`](Self::wake) does, once the driver's step
    /// is over.
    pub(crate) fn push(&self, notice: RunNotice, shared: &MonitorShared) -> bool {
        let mut q = self.lock();
        if q.stopped {
            return false;
        }
        q.notices.push_back(notice);
        if q.notices.len() >= q.compact_at.max(MAX_BACKLOG) {
            let skipped = compact(&mut q.notices);
            shared.skipped_runs.fetch_add(skipped, Ordering::Relaxed);
            if skipped > 0 {
                tracing::warn!(target: "vigil::monitor", monitor = &*shared.name, skipped,
                    waiting = q.notices.len(),
                    "a monitor is far behind: runs that started and ended meanwhile are not shown to it");
            }
            q.compact_at = q.notices.len().saturating_mul(2);
        }
        true
    }

    /// Wake the monitor to take what was pushed (kept until it waits, if
    /// it is not waiting).
    pub(crate) fn wake(&self) {
        self.woken.store(true, Ordering::Release);
        self.waiter.wake();
    }

    /// The tree is down: nothing more will be pushed. The monitor takes
    /// what is left, then ends.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.wake();
    }

    /// The monitor is gone (it panicked): drop what waits, refuse the rest.
    pub(crate) fn stop(&self) {
        let mut q = self.lock();
        q.stopped = true;
        q.notices = VecDeque::new();
    }

    /// Move every waiting notice to `into` (empty), in order: the two
    /// buffers are swapped, so neither allocates once both have grown.
    pub(crate) fn take(&self, into: &mut VecDeque<RunNotice>) -> Taken {
        let mut q = self.lock();
        std::mem::swap(into, &mut q.notices);
        if q.closed {
            Taken::Last
        } else {
            Taken::Open
        }
    }

    /// Wait until the next [`wake`](Self::wake) since the last wait (at
    /// once if there was one meanwhile).
    pub(crate) async fn changed(&self) {
        std::future::poll_fn(|cx| {
            self.waiter.register(cx.waker());
            if self.woken.swap(false, Ordering::AcqRel) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
}

/// Drop every run whose register and remove both wait in `notices`;
/// returns how many runs were dropped.
fn compact(notices: &mut VecDeque<RunNotice>) -> u64 {
    let mut registered = BTreeSet::new();
    let mut unseen = BTreeSet::new();
    for n in notices.iter() {
        match n {
            RunNotice::Register(r) => {
                registered.insert(r.run);
            }
            RunNotice::Remove(run) => {
                if registered.contains(run) {
                    unseen.insert(*run);
                }
            }
        }
    }
    notices.retain(|n| match n {
        RunNotice::Register(r) => !unseen.contains(&r.run),
        RunNotice::Remove(run) => !unseen.contains(run),
    });
    unseen.len() as u64
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::monitor::RunKind;
    use vigil_core::NodeId;

    fn run(generation: u64) -> RunId {
        RunId {
            node: NodeId::from_index(1),
            generation,
        }
    }

    fn register(generation: u64) -> RunNotice {
        RunNotice::Register(MonitoredRun {
            run: run(generation),
            path: "w".into(),
            kind: RunKind::Task,
            started: tokio::time::Instant::now(),
        })
    }

    fn order(q: &RunQueue) -> Vec<(char, u64)> {
        let mut out = VecDeque::new();
        assert_eq!(q.take(&mut out), Taken::Open);
        out.into_iter()
            .map(|n| match n {
                RunNotice::Register(r) => ('+', r.run.generation),
                RunNotice::Remove(r) => ('-', r.generation),
            })
            .collect()
    }

    #[tokio::test]
    async fn notices_come_out_in_order_and_the_end_after_the_last_one() {
        let shared = MonitorShared::new(Arc::from("m"));
        let q = RunQueue::default();
        assert!(q.push(register(1), &shared));
        assert!(q.push(RunNotice::Remove(run(1)), &shared));
        assert!(q.push(register(2), &shared));
        q.wake();
        q.close();
        q.changed().await; // a permit was stored: no wait
        let mut out = VecDeque::new();
        assert_eq!(q.take(&mut out), Taken::Last, "what is left, then the end");
        let got: Vec<u64> = out
            .iter()
            .map(|n| match n {
                RunNotice::Register(r) => r.run.generation,
                RunNotice::Remove(r) => r.generation,
            })
            .collect();
        assert_eq!(got, [1, 1, 2]);
        assert!(matches!(out[1], RunNotice::Remove(_)));
        assert_eq!(shared.skipped_runs.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_monitor_far_behind_skips_runs_it_never_saw_and_keeps_the_rest() {
        let shared = MonitorShared::new(Arc::from("m"));
        let q = RunQueue::default();
        // Run 0 was taken (seen) by the monitor; its remove must stay.
        q.push(register(0), &shared);
        assert_eq!(order(&q), [('+', 0)]);
        q.push(RunNotice::Remove(run(0)), &shared);
        // A child restarting for ever while the monitor never takes anything.
        let mut g = 1;
        while shared.skipped_runs.load(Ordering::Relaxed) == 0 {
            q.push(register(g), &shared);
            q.push(RunNotice::Remove(run(g)), &shared);
            g += 1;
            assert!(g < 10 * MAX_BACKLOG as u64, "never compacted");
        }
        q.push(register(g), &shared);
        // The compaction came with the register of run g - 1: runs 1 to
        // g - 2 were dropped, in pairs; what came after waits, in order,
        // and the seen run's remove is kept.
        let left = order(&q);
        assert_eq!(left, [('-', 0), ('+', g - 1), ('-', g - 1), ('+', g)]);
        assert_eq!(shared.skipped_runs.load(Ordering::Relaxed), g - 2);
    }

    #[test]
    fn the_backlog_stays_bounded_by_the_live_runs_whatever_the_churn() {
        let shared = MonitorShared::new(Arc::from("m"));
        let q = RunQueue::default();
        for g in 0..(4 * MAX_BACKLOG as u64) {
            q.push(register(g), &shared);
            q.push(RunNotice::Remove(run(g)), &shared);
            assert!(q.lock().notices.len() <= MAX_BACKLOG, "at {g}");
        }
    }

    #[test]
    fn a_stopped_queue_refuses_and_holds_nothing() {
        let shared = MonitorShared::new(Arc::from("m"));
        let q = RunQueue::default();
        q.push(register(1), &shared);
        q.stop();
        assert!(!q.push(register(2), &shared));
        assert!(q.lock().notices.is_empty());
    }
}

//! Deadlines: a binary heap with lazy cancellation.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::{Instant, NodeId};

/// One armed deadline. It is valid only while its node's timer epoch still
/// equals `epoch`; re-arming or cancelling bumps the epoch, so cancelled
/// entries are simply skipped when they surface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerEntry {
    pub(crate) at: Instant,
    /// Insertion order: entries due at the same instant fire in arming order.
    pub(crate) seq: u64,
    pub(crate) node: NodeId,
    pub(crate) epoch: u32,
}

/// Min-heap of [`TimerEntry`] ordered by (time, sequence).
#[derive(Debug, Default)]
pub(crate) struct TimerQueue {
    heap: BinaryHeap<Reverse<TimerEntry>>,
    seq: u64,
}

impl TimerQueue {
    pub(crate) fn push(&mut self, at: Instant, node: NodeId, epoch: u32) {
        self.seq += 1;
        self.heap.push(Reverse(TimerEntry {
            at,
            seq: self.seq,
            node,
            epoch,
        }));
    }

    pub(crate) fn peek(&self) -> Option<TimerEntry> {
        self.heap.peek().map(|r| r.0)
    }

    pub(crate) fn pop(&mut self) -> Option<TimerEntry> {
        self.heap.pop().map(|r| r.0)
    }

    pub(crate) fn clear(&mut self) {
        self.heap.clear();
    }
}

//! The simulator's happening queue: what happens next in the virtual world,
//! ordered by (time, class, sequence).
//!
//! At one instant the world's own reactions (class [`WORLD`]: a run starting,
//! stopping, exiting) are settled before scripted and injected actions
//! ([`ACTION`]), which come before the end of a phase ([`END`]). The sequence
//! number keeps insertion order within a class.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use vigil_core::{Instant, RunId};

/// A world reaction.
pub(crate) const WORLD: u8 = 0;
/// A scripted or injected action.
pub(crate) const ACTION: u8 = 1;
/// The end of a phase.
pub(crate) const END: u8 = 2;

/// What happens.
#[derive(Debug)]
pub(crate) enum HappeningKind {
    /// The run is up (answers a `Spawn`).
    Started(RunId),
    /// The run failed to start.
    StartFailed(RunId),
    /// A `notify` run reports ready.
    Ready(RunId),
    /// A periodic heartbeat.
    Heartbeat(RunId),
    /// The run ends by itself (lifetime, exit before start, injected crash).
    Exit(RunId, Why),
    /// The run ends after a `Stop` (stop latency elapsed).
    StopDone(RunId),
    /// The run ends after a `Kill`.
    Killed(RunId),
    /// The run stops sending heartbeats.
    Silence(RunId),
    /// The script's action at this index.
    Script(usize),
    /// A random crash of some running worker; reschedules itself.
    Crash,
    /// A burst of crashes.
    Storm,
    /// Several workers exit at once.
    Simultaneous,
    /// Deliver a stale input; reschedules itself.
    Stale,
    /// A random operator request; reschedules itself.
    RandomRequest,
    /// The faulty phase ends: faults off, liveness phase begins.
    EndOfFaults,
    /// The liveness bound.
    EndOfLiveness,
}

/// Why a run ends by itself; resolved to an exit reason only when it
/// happens, so that queued happenings stay small.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Why {
    /// Its lifetime ended: the worker's configured exit reason.
    Lifetime,
    /// It exited before it started.
    Early,
    /// An injected crash, with the index of its reason in the crash menu.
    Crash(u8),
}

#[derive(Debug)]
struct Happening {
    at: Instant,
    class: u8,
    seq: u64,
    kind: HappeningKind,
}

impl PartialEq for Happening {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.class, self.seq) == (o.at, o.class, o.seq)
    }
}
impl Eq for Happening {}
impl PartialOrd for Happening {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Happening {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.class, self.seq).cmp(&(o.at, o.class, o.seq))
    }
}

/// The queue.
#[derive(Debug, Default)]
pub(crate) struct HappeningQueue {
    heap: BinaryHeap<Reverse<Happening>>,
    seq: u64,
}

impl HappeningQueue {
    /// Schedule `kind` at `at` in `class`.
    pub(crate) fn at(&mut self, at: Instant, class: u8, kind: HappeningKind) {
        self.seq += 1;
        self.heap.push(Reverse(Happening {
            at,
            class,
            seq: self.seq,
            kind,
        }));
    }

    /// When the next happening happens.
    pub(crate) fn next_at(&self) -> Option<Instant> {
        self.heap.peek().map(|e| e.0.at)
    }

    /// The next happening.
    pub(crate) fn pop(&mut self) -> Option<(Instant, HappeningKind)> {
        self.heap.pop().map(|Reverse(e)| (e.at, e.kind))
    }

    /// How many happenings were ever scheduled (names dynamic children uniquely).
    pub(crate) fn scheduled(&self) -> u64 {
        self.seq
    }
}

//! Run transitions and node deadlines: the only code that emits commands and
//! arms timers.
//!
//! [`Runs`] works on the node arena it is handed and on nothing else of the
//! engine, as quinn-proto's `TimerTable` works on its own slots: the
//! supervisor logic decides *that* a run starts, stops or is killed, or that a
//! deadline is armed; `Runs` does it (generation, flags, state, timer slot,
//! command, notice and counter) the one way it is done.

use std::collections::VecDeque;
use std::time::Duration;

use crate::injected_bug::{Bugs, InjectedBug};
use crate::timer_queue::TimerQueue;
use crate::tree::{flag, NodeArena, NodeState, StopCause, TimerPurpose};
use crate::{Command, Instant, NodeId, Notice, RunId};

/// The per-run flags a new run (or a run that ended) starts without.
const RUN_FLAGS: u8 = flag::STOP_ON_START | flag::KILL_ON_START | flag::STOP_SENT | flag::KILL_SENT;

/// The commands for the driver, the deadline heap and the generation counter.
#[derive(Debug)]
pub(crate) struct Runs {
    timers: TimerQueue,
    commands: VecDeque<Command>,
    next_generation: u64,
    spawns: u64,
    stops: u64,
    kills: u64,
    /// A copy of the engine's deliberate bugs (empty without the feature).
    pub(crate) bugs: Bugs,
}

impl Runs {
    pub(crate) fn new() -> Self {
        Runs {
            timers: TimerQueue::default(),
            commands: VecDeque::new(),
            next_generation: 1,
            spawns: 0,
            stops: 0,
            kills: 0,
            bugs: Bugs::default(),
        }
    }

    /// A generation never handed out before (runs and supervisor incarnations
    /// draw from the same counter).
    pub(crate) fn new_generation(&mut self) -> u64 {
        let g = self.next_generation;
        self.next_generation = g.saturating_add(1);
        g
    }

    /// The next command for the driver.
    #[inline]
    pub(crate) fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// `Spawn`, `Stop` and `Kill` commands emitted so far.
    pub(crate) fn counts(&self) -> (u64, u64, u64) {
        (self.spawns, self.stops, self.kills)
    }

    /// Start a new run of worker `c`.
    #[inline]
    pub(crate) fn spawn(&mut self, tree: &mut NodeArena, notices: &mut VecDeque<Notice>, c: NodeId) {
        let generation = self.new_generation();
        let n = tree.node_mut(c);
        n.generation = generation;
        n.cause = StopCause::None;
        n.flags &= !RUN_FLAGS;
        if let Some(ext) = n.ext.as_deref_mut() {
            ext.up_since = None;
            ext.lived = None;
            ext.evicted = None;
        }
        tree.set_state(c, NodeState::Spawned);
        let run = RunId { node: c, generation };
        self.spawns += 1;
        self.commands.push_back(Command::Spawn(run));
        notices.push_back(Notice::Spawn(run));
    }

    /// Kill the current run of worker `c` (once).
    pub(crate) fn kill(&mut self, tree: &mut NodeArena, notices: &mut VecDeque<Notice>, c: NodeId) {
        let n = tree.node(c);
        if n.has(flag::KILL_SENT) {
            return;
        }
        let run = RunId {
            node: c,
            generation: n.generation,
        };
        self.cancel(tree, c);
        tree.node_mut(c).flags |= flag::KILL_SENT;
        tree.set_state(c, NodeState::Stopping);
        self.kills += 1;
        self.commands.push_back(Command::Kill(run));
        notices.push_back(Notice::Kill(run));
    }

    /// Stop the current run of worker `c` by its shutdown policy (once): a
    /// brutal one kills, a timeout arms the kill deadline.
    pub(crate) fn stop(&mut self, tree: &mut NodeArena, notices: &mut VecDeque<Notice>, c: NodeId, now: Instant) {
        let n = tree.node(c);
        if n.has(flag::STOP_SENT | flag::KILL_SENT) {
            return;
        }
        let shutdown = n.shutdown;
        if shutdown == 0 {
            return self.kill(tree, notices, c);
        }
        let run = RunId {
            node: c,
            generation: n.generation,
        };
        self.cancel(tree, c);
        tree.node_mut(c).flags |= flag::STOP_SENT;
        tree.set_state(c, NodeState::Stopping);
        self.stops += 1;
        self.commands.push_back(Command::Stop(run));
        notices.push_back(Notice::Stop(run));
        if shutdown != u64::MAX {
            let at = now.saturating_add(Duration::from_nanos(self.kill_delay(shutdown)));
            self.arm(tree, c, at, TimerPurpose::Kill);
        }
    }

    /// How long after its `Stop` a run is killed.
    fn kill_delay(&self, shutdown: u64) -> u64 {
        if self.bugs.has(InjectedBug::EarlyKill) {
            shutdown / 2
        } else {
            shutdown
        }
    }

    /// The run of worker `c` no longer exists: clear its per-run state.
    #[inline]
    pub(crate) fn gone(&mut self, tree: &mut NodeArena, c: NodeId) {
        self.cancel(tree, c);
        let n = tree.node_mut(c);
        n.flags &= !RUN_FLAGS;
        n.cause = StopCause::None;
    }

    /// Arm `c`'s timer for `purpose` at `at`. A deadline at [`Instant::MAX`]
    /// (a computation that saturated: the end of the engine's time, about 584
    /// years) never comes: it is recorded but never fires, so an engine given
    /// `Instant::MAX` as `now` cannot fire a re-armed deadline at the same
    /// instant for ever (docs/SEMANTICS.md, "Saturation and bounds").
    pub(crate) fn arm(&mut self, tree: &mut NodeArena, c: NodeId, at: Instant, purpose: TimerPurpose) {
        let n = tree.node_mut(c);
        n.timer_epoch = n.timer_epoch.wrapping_add(1);
        n.deadline = at;
        n.timer = purpose;
        let epoch = n.timer_epoch;
        if at < Instant::MAX {
            self.timers.push(at, c, epoch);
        }
    }

    /// Disarm `c`'s timer (its heap entry is skipped when it surfaces).
    #[inline]
    pub(crate) fn cancel(&mut self, tree: &mut NodeArena, c: NodeId) {
        let n = tree.node_mut(c);
        if n.timer != TimerPurpose::None {
            n.timer_epoch = n.timer_epoch.wrapping_add(1);
            n.timer = TimerPurpose::None;
            n.deadline = Instant::MAX;
        }
    }

    /// The next deadline due at or before `now`: its node, whose timer slot
    /// is emptied, and what it was armed for. Cancelled entries are dropped; a
    /// heartbeat deadline that moved re-arms itself at its new time.
    pub(crate) fn pop_due(&mut self, tree: &mut NodeArena, now: Instant) -> Option<(NodeId, TimerPurpose)> {
        while let Some(e) = self.timers.peek() {
            if e.at > now {
                return None;
            }
            self.timers.pop();
            let Some(n) = tree.get(e.node) else { continue };
            if n.timer_epoch != e.epoch {
                continue;
            }
            if n.timer == TimerPurpose::Health && n.deadline > e.at {
                // A heartbeat moved the deadline; wait for the new one (which
                // never comes if it saturated at the end of time).
                let (at, epoch) = (n.deadline, n.timer_epoch);
                if at < Instant::MAX {
                    self.timers.push(at, e.node, epoch);
                }
                continue;
            }
            let n = tree.node_mut(e.node);
            let purpose = std::mem::replace(&mut n.timer, TimerPurpose::None);
            return Some((e.node, purpose));
        }
        None
    }

    /// Drop cancelled entries from the top of the heap, so that
    /// [`Runs::next_deadline`] reads the next live one. Called at the end of
    /// every engine call that may have changed a timer.
    pub(crate) fn purge(&mut self, tree: &NodeArena) {
        while let Some(e) = self.timers.peek() {
            match tree.get(e.node) {
                Some(n) if n.timer_epoch == e.epoch => return,
                _ => {
                    self.timers.pop();
                }
            }
        }
    }

    /// The next deadline (after [`Runs::purge`]); `None` if none is armed.
    pub(crate) fn next_deadline(&self, tree: &NodeArena) -> Option<Instant> {
        let e = self.timers.peek()?;
        let n = tree.get(e.node)?;
        Some(if n.timer == TimerPurpose::Health {
            e.at.min(n.deadline)
        } else {
            e.at
        })
    }

    /// Forget every deadline (the tree is down).
    pub(crate) fn clear_timers(&mut self) {
        self.timers.clear();
    }
}

//! The engine: the public sans-IO API, inputs and timers.

use std::collections::VecDeque;
use std::sync::Arc;

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::plan::{Mail, PendingReply};
use crate::timer_queue::TimerQueue;
use crate::tree::{flag, NodeState, StopCause, TimerPurpose, Tree, NONE};
use crate::{
    ChildState, Command, ExitReason, Input, InputKind, Instant, NodeId, Notice, Readiness, RunId, SpecError, Stats,
    Strategy, SupervisorSpec,
};

/// Something a supervisor tells its parent, processed in order after the
/// step that caused it (this keeps the engine free of deep recursion).
#[derive(Debug)]
pub(crate) enum SupEvent {
    Started(u32),
    StartFailed(u32, String),
    Exited(u32, ExitReason),
}

/// The supervision engine: a pure state machine over a tree of supervisors
/// and workers.
///
/// Feed it timed inputs ([`Engine::handle`], [`Engine::handle_timeout`],
/// [`Engine::request`]); after every call drain [`Engine::poll_command`] (work
/// for the driver) and [`Engine::poll_notice`] (what happened), and sleep until
/// [`Engine::poll_timeout`]. It never reads a clock, never does I/O and draws
/// randomness (backoff jitter) only from the seed it was built with, so the same
/// spec, seed and timed inputs give the same commands and notices.
///
/// See the crate documentation for an example.
#[derive(Debug)]
pub struct Engine {
    pub(crate) tree: Tree,
    pub(crate) root: u32,
    pub(crate) timers: TimerQueue,
    pub(crate) commands: VecDeque<Command>,
    pub(crate) notices: VecDeque<Notice>,
    pub(crate) sup_events: VecDeque<SupEvent>,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) now: Instant,
    pub(crate) started: bool,
    pub(crate) down: bool,
    pub(crate) next_generation: u64,
    pub(crate) next_request: u64,
    pub(crate) stats: Stats,
    pub(crate) shutdown_waiters: Vec<PendingReply>,
    pub(crate) start_failed: bool,
    pub(crate) bug: Option<crate::injected_bug::InjectedBug>,
}

impl Engine {
    /// Validate `spec` and build an engine for it. Nothing starts until
    /// [`Engine::start`]. `seed` feeds the backoff jitter generator.
    pub fn new(spec: SupervisorSpec, seed: u64) -> Result<Engine, SpecError> {
        spec.validate()?;
        let mut spec = spec;
        // The root is never restarted, so its static children are built now and
        // their specs not kept (nested supervisors keep theirs, to restart).
        let children = std::mem::take(&mut spec.children);
        let mut tree = Tree::default();
        let root = tree.new_root(Arc::new(spec));
        for child in &children {
            tree.add_child(root, child, false);
        }
        Ok(Engine {
            tree,
            root,
            timers: TimerQueue::default(),
            commands: VecDeque::new(),
            notices: VecDeque::new(),
            sup_events: VecDeque::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            now: Instant::ZERO,
            started: false,
            down: false,
            next_generation: 1,
            next_request: 1,
            stats: Stats::default(),
            shutdown_waiters: Vec::new(),
            start_failed: false,
            bug: None,
        })
    }

    /// Test-only: make this engine deliberately wrong (feature `bug-injection`).
    #[cfg(feature = "bug-injection")]
    pub fn inject_bug(&mut self, bug: crate::InjectedBug) {
        self.bug = Some(bug);
    }

    /// Whether a deliberate bug is switched on (never without the feature).
    #[inline]
    pub(crate) fn has_bug(&self, bug: crate::injected_bug::InjectedBug) -> bool {
        self.bug == Some(bug)
    }

    /// Start the tree: the root starts its children in order. Calling it again
    /// does nothing.
    pub fn start(&mut self, now: Instant) {
        self.begin_call(now);
        if self.started || self.down {
            return;
        }
        self.started = true;
        self.start_sup(self.root);
        self.settle();
    }

    /// Handle an input about a run. Inputs for unknown nodes, old generations,
    /// or runs in a state where the input means nothing are ignored: counted in
    /// [`Stats::stale_inputs`] and reported as [`Notice::Stale`].
    pub fn handle(&mut self, input: Input, now: Instant) {
        self.begin_call(now);
        let run = input.run();
        let c = run.node.0;
        let state = match self.tree.get(c) {
            Some(n) if !self.down && n.sup.is_none() && n.generation == run.generation => n.state,
            _ => return self.stale(run, input.kind()),
        };
        match (input, state) {
            (Input::Started(_), NodeState::Spawned) => self.on_started(c, run),
            (Input::Ready(_), NodeState::AwaitingReady) => {
                self.notices.push_back(Notice::Ready(run));
                self.on_up(c);
            }
            (Input::Heartbeat(_), NodeState::AwaitingReady | NodeState::Running | NodeState::Stopping) => {
                self.notices.push_back(Notice::Heartbeat(run));
                if state == NodeState::Running {
                    self.on_heartbeat(c);
                }
            }
            (Input::StartFailed(_, error), NodeState::Spawned) => {
                self.notices.push_back(Notice::StartFailed(run, error.clone()));
                self.worker_gone(c);
                self.on_start_failed(self.tree.node(c).parent, c, error);
            }
            (Input::Exited(_, reason), NodeState::Spawned | NodeState::AwaitingReady) => {
                let reason = self.substitute(c, reason);
                let error = reason.to_string();
                self.notices.push_back(Notice::Exited(run, reason));
                self.worker_gone(c);
                self.on_start_failed(self.tree.node(c).parent, c, error);
            }
            (Input::Exited(_, reason), NodeState::Running | NodeState::Stopping) => {
                self.on_exited(c, run, reason);
            }
            (Input::Evict(_, why), NodeState::Running | NodeState::AwaitingReady) => {
                self.tree.node_mut(c).cause = StopCause::Memory;
                self.notices.push_back(Notice::Evicted {
                    run,
                    reason: why.reason(),
                });
                self.stop_run(c);
            }
            (input, _) => self.stale(run, input.kind()),
        }
        self.settle();
    }

    /// Fire every deadline due at or before `now` (readiness and heartbeat
    /// deadlines, shutdown kills, backoff restarts), in deadline order.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.begin_call(now);
        while let Some(e) = self.timers.peek() {
            if e.at > self.now {
                break;
            }
            self.timers.pop();
            let Some(n) = self.tree.get(e.node) else { continue };
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
            self.fire(e.node);
            self.settle();
        }
    }

    /// The next command for the driver.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// The next notice (everything that happened, in order).
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop_front()
    }

    /// When to call [`Engine::handle_timeout`] next; `None` if no deadline is armed.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(e) = self.timers.peek() {
            match self.tree.get(e.node) {
                Some(n) if n.timer_epoch == e.epoch => {
                    return Some(if n.timer == TimerPurpose::Health {
                        e.at.min(n.deadline)
                    } else {
                        e.at
                    });
                }
                _ => {
                    self.timers.pop();
                }
            }
        }
        None
    }

    /// Whether the root has ended (gave up, shut down, or failed to start).
    /// Nothing runs any more and every further input is stale.
    pub fn is_down(&self) -> bool {
        self.down
    }

    /// Whether the tree could not start (the root's first start failed).
    pub fn start_failed(&self) -> bool {
        self.start_failed
    }

    /// Counters since creation.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The latest instant the engine has been given.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The root supervisor.
    pub fn root(&self) -> NodeId {
        NodeId(self.root)
    }

    /// The path of a node (`""` for the root). Nodes removed during the latest
    /// call still resolve; `None` for an id the engine never issued.
    pub fn path(&self, node: NodeId) -> Option<String> {
        let mut out = String::new();
        self.write_path(node, &mut out).then_some(out)
    }

    /// Append the path of `node` to `out` (no allocation if `out` has room);
    /// returns `false` for an id the engine never issued.
    pub fn write_path(&self, node: NodeId, out: &mut String) -> bool {
        if node.index() >= self.tree.nodes.len() {
            return false;
        }
        self.tree.write_path(node.0, out);
        true
    }

    /// The node at `path`, if it exists now.
    pub fn lookup(&self, path: &str) -> Option<NodeId> {
        self.tree.lookup(self.root, path).map(NodeId)
    }

    /// A node's name (empty for the root).
    pub fn name(&self, node: NodeId) -> Option<&str> {
        self.tree.nodes.get(node.index()).map(|n| &*n.name)
    }

    /// A node's parent (`None` for the root or an unknown id). Like
    /// [`Engine::path`], this and the other structural queries (restart type,
    /// shutdown policy, readiness, supervisor spec, tag) also resolve nodes
    /// removed during the latest call, so notices can be interpreted.
    pub fn parent(&self, node: NodeId) -> Option<NodeId> {
        let p = self.tree.nodes.get(node.index())?.parent;
        (p != NONE).then_some(NodeId(p))
    }

    /// Whether the node is a supervisor.
    pub fn is_supervisor(&self, node: NodeId) -> bool {
        self.tree.get(node.0).is_some_and(|n| n.sup.is_some())
    }

    /// The driver tag from the node's spec.
    pub fn tag(&self, node: NodeId) -> Option<u64> {
        self.tree.nodes.get(node.index()).map(|n| n.tag)
    }

    /// The node's restart type (`None` for an unknown node; the root reads as permanent).
    pub fn restart_type(&self, node: NodeId) -> Option<crate::Restart> {
        self.tree.nodes.get(node.index()).map(|n| n.restart)
    }

    /// The node's effective shutdown policy (`None` for an unknown node).
    pub fn shutdown_policy(&self, node: NodeId) -> Option<crate::Shutdown> {
        self.tree
            .nodes
            .get(node.index())
            .map(|n| crate::tree::unpack_shutdown(n.shutdown))
    }

    /// A worker's readiness mode (`None` for a supervisor or an unknown node).
    pub fn readiness(&self, node: NodeId) -> Option<Readiness> {
        self.tree
            .nodes
            .get(node.index())
            .filter(|n| n.sup.is_none())
            .map(|n| n.readiness)
    }

    /// Whether the node is significant.
    pub fn is_significant(&self, node: NodeId) -> bool {
        self.tree.get(node.0).is_some_and(|n| n.significant)
    }

    /// A supervisor's spec: strategy, intensity, period, auto_shutdown,
    /// lifespan (the root's lists no children: they were built into the tree).
    pub fn supervisor_spec(&self, node: NodeId) -> Option<&SupervisorSpec> {
        self.tree.nodes.get(node.index())?.sup.as_ref().map(|s| &*s.spec)
    }

    /// The node's state as operators see it.
    pub fn state(&self, node: NodeId) -> Option<ChildState> {
        self.tree.get(node.0).map(|n| n.state.public())
    }

    /// The run a worker currently has (spawned, up or stopping), if any.
    pub fn current_run(&self, node: NodeId) -> Option<RunId> {
        let n = self.tree.get(node.0)?;
        (n.sup.is_none() && n.state.is_live()).then_some(RunId {
            node,
            generation: n.generation,
        })
    }

    /// The children of a supervisor, in start order (empty for a worker).
    pub fn children(&self, sup: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        let first = match self.tree.get(sup.0) {
            Some(n) => n.sup.as_ref().map_or(NONE, |s| s.first),
            None => NONE,
        };
        std::iter::successors((first != NONE).then_some(first), |&i| {
            let next = self.tree.node(i).next;
            (next != NONE).then_some(next)
        })
        .map(NodeId)
    }

    // ----- internals shared by the other modules -----

    pub(crate) fn begin_call(&mut self, now: Instant) {
        // Time never goes backwards: an earlier `now` is read as the latest one.
        self.now = self.now.max(now);
        self.tree.recycle();
    }

    /// Process supervisor-to-parent events until none is left.
    pub(crate) fn settle(&mut self) {
        while let Some(ev) = self.sup_events.pop_front() {
            match ev {
                SupEvent::Started(s) => {
                    let p = self.tree.node(s).parent;
                    let now = self.now;
                    if let Some(ext) = self.tree.node_mut(s).ext.as_deref_mut() {
                        ext.up_since = Some(now);
                    }
                    self.tree.set_state(s, NodeState::Running);
                    self.advance(p);
                }
                SupEvent::StartFailed(s, error) => {
                    let p = self.tree.node(s).parent;
                    self.tree.node_mut(s).cause = StopCause::None;
                    self.tree.set_state(s, NodeState::Stopped);
                    self.on_start_failed(p, s, error);
                }
                SupEvent::Exited(s, reason) => {
                    let p = self.tree.node(s).parent;
                    self.record_uptime(s);
                    self.cancel_timer(s);
                    let n = self.tree.node_mut(s);
                    n.flags &= !flag::KILLING;
                    let cause = std::mem::replace(&mut n.cause, StopCause::None);
                    if cause == StopCause::Plan {
                        self.tree.set_state(s, NodeState::Stopped);
                        self.advance(p);
                    } else {
                        self.child_exited_by_itself(p, s, reason.is_normal(), Some(reason));
                    }
                }
            }
        }
    }

    fn stale(&mut self, run: RunId, kind: InputKind) {
        self.stats.stale_inputs += 1;
        self.notices.push_back(Notice::Stale(run, kind));
    }

    /// The reason the engine acts on: a kill the engine ordered for a missed
    /// deadline reads as that deadline's reason.
    fn substitute(&self, c: u32, reason: ExitReason) -> ExitReason {
        match (self.tree.node(c).cause, &reason) {
            (StopCause::Health, ExitReason::Killed) => ExitReason::Health,
            (StopCause::StartTimeout, ExitReason::Killed) => ExitReason::StartTimeout,
            // Whatever the evicted run's own status, it ended because it was evicted.
            (StopCause::Memory, _) => ExitReason::Memory,
            _ => reason,
        }
    }

    fn on_started(&mut self, c: u32, run: RunId) {
        self.notices.push_back(Notice::Started(run));
        let n = self.tree.node(c);
        if n.has(flag::KILL_ON_START | flag::STOP_ON_START) {
            let kill = n.has(flag::KILL_ON_START);
            self.tree.set_state(c, NodeState::Running);
            if kill {
                self.kill_run(c);
            } else {
                self.stop_run(c);
            }
            return;
        }
        if n.readiness == Readiness::Notify {
            let startup_timeout = n.ext.as_ref().and_then(|e| e.startup_timeout);
            self.tree.set_state(c, NodeState::AwaitingReady);
            if let Some(t) = startup_timeout {
                self.arm(c, self.now + t, TimerPurpose::Startup);
            }
            return;
        }
        self.on_up(c);
    }

    /// The worker is up (started, and ready if it must be).
    fn on_up(&mut self, c: u32) {
        self.cancel_timer(c);
        self.tree.set_state(c, NodeState::Running);
        let now = self.now;
        let mut health = None;
        if let Some(ext) = self.tree.node_mut(c).ext.as_deref_mut() {
            ext.up_since = Some(now);
            health = ext.health_timeout;
        }
        if let Some(t) = health {
            self.arm(c, now + t, TimerPurpose::Health);
        }
        self.advance(self.tree.node(c).parent);
    }

    fn on_heartbeat(&mut self, c: u32) {
        let now = self.now;
        let n = self.tree.node_mut(c);
        if n.timer == TimerPurpose::Health {
            if let Some(t) = n.ext.as_ref().and_then(|e| e.health_timeout) {
                // Move the deadline without touching the heap; the old entry
                // re-arms itself when it surfaces.
                n.deadline = now + t;
            }
        }
    }

    fn on_exited(&mut self, c: u32, run: RunId, reason: ExitReason) {
        let reason = self.substitute(c, reason);
        let (state, cause, parent) = {
            let n = self.tree.node(c);
            (n.state, n.cause, n.parent)
        };
        if state == NodeState::Running {
            self.record_uptime(c);
        }
        match cause {
            StopCause::Plan => {
                self.notices.push_back(Notice::Exited(run, reason));
                self.worker_gone(c);
                self.tree.set_state(c, NodeState::Stopped);
                self.advance(parent);
            }
            StopCause::StartTimeout => {
                let error = reason.to_string();
                self.notices.push_back(Notice::Exited(run, reason));
                self.worker_gone(c);
                self.on_start_failed(parent, c, error);
            }
            StopCause::Health | StopCause::Memory | StopCause::None => {
                // The reason moves into the notice; only one_terminate_all needs
                // its own copy (it becomes the supervisor's reason). No clone on
                // the hot path.
                let normal = reason.is_normal();
                let own = (self.tree.sup(parent).spec.strategy == Strategy::OneTerminateAll).then(|| reason.clone());
                self.notices.push_back(Notice::Exited(run, reason));
                self.worker_gone(c);
                self.child_exited_by_itself(parent, c, normal, own);
            }
        }
    }

    /// Remember how long `c`'s run was up (for backoff's `reset_after`).
    fn record_uptime(&mut self, c: u32) {
        let now = self.now;
        if let Some(ext) = self.tree.node_mut(c).ext.as_deref_mut() {
            ext.lived = ext.up_since.take().map(|t| now - t);
        }
    }

    /// The run of worker `c` no longer exists: clear its per-run state.
    fn worker_gone(&mut self, c: u32) {
        self.cancel_timer(c);
        let n = self.tree.node_mut(c);
        n.flags &= !(flag::STOP_ON_START | flag::KILL_ON_START | flag::STOP_SENT | flag::KILL_SENT);
        n.cause = StopCause::None;
    }

    fn fire(&mut self, c: u32) {
        let purpose = self.tree.node(c).timer;
        self.tree.node_mut(c).timer = TimerPurpose::None;
        let run = RunId {
            node: NodeId(c),
            generation: self.tree.node(c).generation,
        };
        match purpose {
            TimerPurpose::None => {}
            TimerPurpose::Startup => {
                self.tree.node_mut(c).cause = StopCause::StartTimeout;
                self.notices.push_back(Notice::Timeout {
                    run,
                    reason: ExitReason::StartTimeout,
                });
                self.kill_run(c);
            }
            TimerPurpose::Health => {
                self.tree.node_mut(c).cause = StopCause::Health;
                self.notices.push_back(Notice::Timeout {
                    run,
                    reason: ExitReason::Health,
                });
                self.kill_run(c);
            }
            TimerPurpose::Kill => {
                if self.tree.is_sup(c) {
                    self.kill_subtree(c);
                } else {
                    self.kill_run(c);
                }
            }
            TimerPurpose::Backoff => {
                let p = self.tree.node(c).parent;
                self.tree.set_state(c, NodeState::Queued);
                self.tree.sup_mut(p).mailbox.push_back(Mail::Queued {
                    child: c,
                    generation: run.generation,
                });
                self.advance(p);
            }
        }
    }

    // ----- timers and commands -----

    /// Arm `c`'s timer for `purpose` at `at`. A deadline at [`Instant::MAX`]
    /// (a computation that saturated: the end of the engine's time, about 584
    /// years) never comes: it is recorded but never fires, so an engine given
    /// `Instant::MAX` as `now` cannot fire a re-armed deadline at the same
    /// instant for ever (docs/SEMANTICS.md, "Saturation and bounds").
    pub(crate) fn arm(&mut self, c: u32, at: Instant, purpose: TimerPurpose) {
        let n = self.tree.node_mut(c);
        n.timer_epoch = n.timer_epoch.wrapping_add(1);
        n.deadline = at;
        n.timer = purpose;
        let epoch = n.timer_epoch;
        if at < Instant::MAX {
            self.timers.push(at, c, epoch);
        }
    }

    pub(crate) fn cancel_timer(&mut self, c: u32) {
        let n = self.tree.node_mut(c);
        if n.timer != TimerPurpose::None {
            n.timer_epoch = n.timer_epoch.wrapping_add(1);
            n.timer = TimerPurpose::None;
            n.deadline = Instant::MAX;
        }
    }

    pub(crate) fn emit_spawn(&mut self, c: u32) {
        let generation = self.next_generation;
        self.next_generation += 1;
        let n = self.tree.node_mut(c);
        n.generation = generation;
        n.cause = StopCause::None;
        n.flags &= !(flag::STOP_ON_START | flag::KILL_ON_START | flag::STOP_SENT | flag::KILL_SENT);
        if let Some(ext) = n.ext.as_deref_mut() {
            ext.up_since = None;
            ext.lived = None;
        }
        self.tree.set_state(c, NodeState::Spawned);
        let run = RunId {
            node: NodeId(c),
            generation,
        };
        self.stats.spawns += 1;
        self.commands.push_back(Command::Spawn(run));
        self.notices.push_back(Notice::Spawn(run));
    }

    /// Kill the current run of worker `c` (once).
    pub(crate) fn kill_run(&mut self, c: u32) {
        let n = self.tree.node(c);
        if n.has(flag::KILL_SENT) {
            return;
        }
        let run = RunId {
            node: NodeId(c),
            generation: n.generation,
        };
        self.cancel_timer(c);
        self.tree.node_mut(c).flags |= flag::KILL_SENT;
        self.tree.set_state(c, NodeState::Stopping);
        self.stats.kills += 1;
        self.commands.push_back(Command::Kill(run));
        self.notices.push_back(Notice::Kill(run));
    }

    /// Stop the current run of worker `c` by its shutdown policy.
    pub(crate) fn stop_run(&mut self, c: u32) {
        let n = self.tree.node(c);
        if n.has(flag::STOP_SENT | flag::KILL_SENT) {
            return;
        }
        let shutdown = n.shutdown;
        if shutdown == 0 {
            return self.kill_run(c);
        }
        let run = RunId {
            node: NodeId(c),
            generation: n.generation,
        };
        self.cancel_timer(c);
        self.tree.node_mut(c).flags |= flag::STOP_SENT;
        self.tree.set_state(c, NodeState::Stopping);
        self.stats.stops += 1;
        self.commands.push_back(Command::Stop(run));
        self.notices.push_back(Notice::Stop(run));
        if shutdown != u64::MAX {
            let early = self.has_bug(crate::injected_bug::InjectedBug::EarlyKill);
            let at = self.now.saturating_add(std::time::Duration::from_nanos(if early {
                shutdown / 2
            } else {
                shutdown
            }));
            self.arm(c, at, TimerPurpose::Kill);
        }
    }
}

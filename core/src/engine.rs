//! The engine: the public sans-IO API, inputs and timers.
//!
//! Inputs and fired deadlines are read here; what they mean for a supervisor
//! is decided in `supervisor.rs`, and every command and deadline goes through
//! [`Runs`](crate::runs::Runs).

use std::collections::VecDeque;
use std::sync::Arc;

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::injected_bug::{Bugs, InjectedBug};
use crate::plan::{Mail, PendingReply, SupEvent};
use crate::runs::Runs;
use crate::tree::{flag, NodeArena, NodeState, StopCause, SupId, TimerPurpose};
use crate::{
    ChildState, Command, Eviction, ExitReason, Input, InputKind, Instant, NodeId, Notice, Outcome, Readiness, RunId,
    SpecError, Stats, Strategy, SupervisorSpec,
};

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
    pub(crate) tree: NodeArena,
    pub(crate) runs: Runs,
    pub(crate) notices: VecDeque<Notice>,
    pub(crate) sup_events: VecDeque<SupEvent>,
    pub(crate) rng: ChaCha8Rng,
    pub(crate) now: Instant,
    pub(crate) started: bool,
    /// `Up` until the root ends, then how the tree ended; never changes after.
    pub(crate) outcome: Outcome,
    /// The root gave up and is ending: read once, when it has ended, to
    /// decide [`Outcome::RootGaveUp`].
    pub(crate) root_gave_up: bool,
    pub(crate) next_request: u64,
    pub(crate) stats: Stats,
    pub(crate) shutdown_waiters: Vec<PendingReply>,
    /// Deliberate bugs: no field at all without the feature `bug-injection`.
    pub(crate) bugs: Bugs,
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
        let mut tree = NodeArena::new(Arc::new(spec));
        for child in &children {
            tree.add_child(SupId::ROOT, child, false).map_err(|full| full.at(""))?;
        }
        Ok(Engine {
            tree,
            runs: Runs::new(),
            notices: VecDeque::new(),
            sup_events: VecDeque::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
            now: Instant::ZERO,
            started: false,
            outcome: Outcome::Up,
            root_gave_up: false,
            next_request: 1,
            stats: Stats::default(),
            shutdown_waiters: Vec::new(),
            bugs: Bugs::default(),
        })
    }

    /// Test-only: make this engine deliberately wrong. Only a build with the
    /// feature `bug-injection` can be ([`InjectedBug::ENABLED`]); in any other
    /// this does nothing.
    pub fn inject_bug(&mut self, bug: InjectedBug) {
        self.bugs = Bugs::with(bug);
        self.runs.bugs = self.bugs;
    }

    /// Whether deliberate bug `bug` is switched on (never without the feature:
    /// then this is the constant `false`).
    #[inline(always)]
    pub(crate) fn has_bug(&self, bug: InjectedBug) -> bool {
        self.bugs.has(bug)
    }

    /// Start the tree: the root starts its children in order. Calling it again
    /// does nothing.
    pub fn start(&mut self, now: Instant) {
        self.begin_call(now);
        if self.started || self.is_down() {
            return;
        }
        self.started = true;
        if self.has_bug(InjectedBug::TransientRecordedPermanent) {
            for n in &mut self.tree.nodes {
                if n.restart == crate::Restart::Transient {
                    n.restart = crate::Restart::Permanent;
                }
            }
        }
        self.start_sup(SupId::ROOT);
        self.end_call();
    }

    /// Handle an input about a run. Inputs for unknown nodes, old generations,
    /// or runs in a state where the input means nothing are ignored: counted in
    /// [`Stats::stale_inputs`] and reported as [`Notice::Stale`].
    pub fn handle(&mut self, input: Input, now: Instant) {
        self.begin_call(now);
        let run = input.run();
        let c = run.node;
        let (state, parent) = match self.tree.get(c) {
            Some(n) if !self.is_down() && n.sup.is_none() && n.generation == run.generation => (n.state, n.parent),
            _ => return self.stale(run, input.kind()),
        };
        // A worker always has a parent; the root is a supervisor.
        let Some(parent) = parent else {
            return self.stale(run, input.kind());
        };
        match (input, state) {
            (Input::Started(_), NodeState::Spawned) => self.on_started(c, run),
            (Input::Ready(_), NodeState::AwaitingReady) => {
                self.notices.push_back(Notice::Ready(run));
                self.on_up(parent, c);
            }
            (Input::Heartbeat(_), NodeState::AwaitingReady | NodeState::Running | NodeState::Stopping) => {
                self.notices.push_back(Notice::Heartbeat(run));
                if state == NodeState::Running {
                    self.on_heartbeat(c);
                }
            }
            (Input::StartFailed(_, error), NodeState::Spawned) => {
                self.notices.push_back(Notice::StartFailed(run, error.clone()));
                self.runs.gone(&mut self.tree, c);
                self.on_start_failed(parent, c, error);
            }
            (Input::Exited(_, reason), NodeState::Spawned | NodeState::AwaitingReady) => {
                let reason = self.substitute(c, reason);
                let error = reason.to_string();
                self.notices.push_back(Notice::Exited(run, reason));
                self.runs.gone(&mut self.tree, c);
                self.on_start_failed(parent, c, error);
            }
            (Input::Exited(_, reason), NodeState::Running | NodeState::Stopping) => {
                self.on_exited(parent, c, run, reason);
            }
            (Input::Evict(_, why), NodeState::Running | NodeState::AwaitingReady) => {
                let reason = why.reason();
                let n = self.tree.node_mut(c);
                n.cause = match why {
                    Eviction::Memory => StopCause::Memory,
                    // A rare input: the node's extras are boxed now if it had none.
                    Eviction::Monitor(_) | Eviction::Health => {
                        n.ext.get_or_insert_with(Box::default).evicted = Some(reason.clone());
                        StopCause::Evicted
                    }
                };
                self.notices.push_back(Notice::Evicted { run, reason });
                self.runs.stop(&mut self.tree, &mut self.notices, c, self.now);
            }
            (input, _) => self.stale(run, input.kind()),
        }
        self.end_call();
    }

    /// Fire every deadline due at or before `now` (readiness and heartbeat
    /// deadlines, shutdown kills, backoff restarts), in deadline order.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.begin_call(now);
        while let Some((c, purpose)) = self.runs.pop_due(&mut self.tree, self.now) {
            self.fire(c, purpose);
            self.settle();
        }
        self.end_call();
    }

    /// The next command for the driver.
    #[inline]
    pub fn poll_command(&mut self) -> Option<Command> {
        self.runs.poll_command()
    }

    /// The next notice (everything that happened, in order).
    #[inline]
    pub fn poll_notice(&mut self) -> Option<Notice> {
        self.notices.pop_front()
    }

    /// When to call [`Engine::handle_timeout`] next; `None` if no deadline is armed.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.runs.next_deadline(&self.tree)
    }

    /// Whether the root has ended (gave up, shut down, or failed to start).
    /// Nothing runs any more and every further input is stale.
    pub fn is_down(&self) -> bool {
        self.outcome.is_down()
    }

    /// How the tree stands: [`Outcome::Up`] until the root ends, then why it
    /// ended (gave up, shut down, failed to start), for good.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Counters since creation.
    pub fn stats(&self) -> Stats {
        let (spawns, stops, kills) = self.runs.counts();
        Stats {
            spawns,
            stops,
            kills,
            ..self.stats
        }
    }

    /// The latest instant the engine has been given.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The root supervisor.
    pub fn root(&self) -> NodeId {
        NodeId::ROOT
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
        if self.tree.get_any(node).is_none() {
            return false;
        }
        self.tree.write_path(node, out);
        true
    }

    /// The node at `path`, if it exists now.
    pub fn lookup(&self, path: &str) -> Option<NodeId> {
        self.tree.lookup(path)
    }

    /// A node's name (empty for the root).
    pub fn name(&self, node: NodeId) -> Option<&str> {
        self.tree.get_any(node).map(|n| &*n.name)
    }

    /// A node's parent (`None` for the root or an unknown id). Like
    /// [`Engine::path`], this and the other structural queries (restart type,
    /// shutdown policy, readiness, supervisor spec, tag) also resolve nodes
    /// removed during the latest call, so notices can be interpreted.
    pub fn parent(&self, node: NodeId) -> Option<NodeId> {
        self.tree.get_any(node)?.parent.map(SupId::node)
    }

    /// Whether the node is a supervisor.
    pub fn is_supervisor(&self, node: NodeId) -> bool {
        self.tree.as_sup(node).is_some()
    }

    /// The driver tag from the node's spec.
    pub fn tag(&self, node: NodeId) -> Option<u64> {
        self.tree.get_any(node).map(|n| n.tag)
    }

    /// The node's restart type (`None` for an unknown node; the root reads as permanent).
    pub fn restart_type(&self, node: NodeId) -> Option<crate::Restart> {
        self.tree.get_any(node).map(|n| n.restart)
    }

    /// The node's effective shutdown policy (`None` for an unknown node).
    pub fn shutdown_policy(&self, node: NodeId) -> Option<crate::Shutdown> {
        self.tree
            .get_any(node)
            .map(|n| crate::tree::unpack_shutdown(n.shutdown))
    }

    /// A worker's readiness mode (`None` for a supervisor or an unknown node).
    pub fn readiness(&self, node: NodeId) -> Option<Readiness> {
        self.tree.get_any(node).filter(|n| n.sup.is_none()).map(|n| n.readiness)
    }

    /// A worker's heartbeat deadline (`health_timeout`), if it has one
    /// (`None` for a supervisor or an unknown node).
    pub fn health_timeout(&self, node: NodeId) -> Option<core::time::Duration> {
        self.tree
            .get_any(node)
            .filter(|n| n.sup.is_none())
            .and_then(|n| n.ext.as_ref())
            .and_then(|e| e.health_timeout)
    }

    /// Whether the node is significant.
    pub fn is_significant(&self, node: NodeId) -> bool {
        self.tree.get(node).is_some_and(|n| n.significant)
    }

    /// A supervisor's spec: strategy, intensity, period, auto_shutdown,
    /// lifespan (the root's lists no children: they were built into the tree).
    pub fn supervisor_spec(&self, node: NodeId) -> Option<&SupervisorSpec> {
        self.tree.get_any(node)?.sup.as_ref().map(|s| &*s.spec)
    }

    /// The node's state as operators see it.
    pub fn state(&self, node: NodeId) -> Option<ChildState> {
        self.tree.get(node).map(|n| n.state.public())
    }

    /// \[ext\] A running worker's heartbeat deadline and its
    /// `health_timeout`: when the engine stops it with reason `health` unless
    /// a heartbeat comes first. `None` for a worker without a health timeout,
    /// one that is not up, or a supervisor (for `status`'s health column).
    pub fn health_deadline(&self, node: NodeId) -> Option<(Instant, std::time::Duration)> {
        let n = self.tree.get(node)?;
        let timeout = n.ext.as_ref()?.health_timeout?;
        (n.state == NodeState::Running && n.timer == TimerPurpose::Health).then_some((n.deadline, timeout))
    }

    /// \[ext\] Whether the worker's run, spawned and not yet started, is
    /// to be stopped or killed as soon as it reports `Started` (its
    /// supervisor is ending, or the child was terminated meanwhile): a driver
    /// that delays a start may then skip the program.
    pub fn stop_pending(&self, node: NodeId) -> bool {
        self.tree
            .get(node)
            .is_some_and(|n| n.has(flag::STOP_ON_START) || n.has(flag::KILL_ON_START))
    }

    /// The run a worker currently has (spawned, up or stopping), if any.
    pub fn current_run(&self, node: NodeId) -> Option<RunId> {
        let n = self.tree.get(node)?;
        (n.sup.is_none() && n.state.is_live()).then_some(RunId {
            node,
            generation: n.generation,
        })
    }

    /// The children of a supervisor, in start order (empty for a worker).
    pub fn children(&self, sup: NodeId) -> impl Iterator<Item = NodeId> + '_ {
        let first = self.tree.as_sup(sup).and_then(|s| self.tree.sup(s).first);
        std::iter::successors(first, |&c| self.tree.node(c).next)
    }

    // ----- the call boundary -----

    pub(crate) fn begin_call(&mut self, now: Instant) {
        // Time never goes backwards: an earlier `now` is read as the latest one.
        self.now = self.now.max(now);
        self.tree.recycle();
    }

    /// Finish a call that may have changed the tree: settle the supervisors'
    /// news, and drop cancelled deadlines so [`Engine::poll_timeout`] can read
    /// the next one without changing anything.
    pub(crate) fn end_call(&mut self) {
        if !self.sup_events.is_empty() {
            self.settle();
        }
        self.runs.purge(&self.tree);
    }

    fn stale(&mut self, run: RunId, kind: InputKind) {
        self.stats.stale_inputs += 1;
        self.notices.push_back(Notice::Stale(run, kind));
    }

    // ----- what an accepted input means for the worker -----

    /// The reason the engine acts on: a kill the engine ordered for a missed
    /// deadline reads as that deadline's reason.
    fn substitute(&mut self, c: NodeId, reason: ExitReason) -> ExitReason {
        match (self.tree.node(c).cause, &reason) {
            (StopCause::Health, ExitReason::Killed) => ExitReason::Health,
            (StopCause::StartTimeout, ExitReason::Killed) => ExitReason::StartTimeout,
            // Whatever the evicted run's own status, it ended because it was evicted.
            (StopCause::Memory, _) => ExitReason::Memory,
            (StopCause::Evicted, _) => {
                let kept = self.tree.node_mut(c).ext.as_deref_mut().and_then(|e| e.evicted.take());
                kept.unwrap_or_else(|| ExitReason::Evicted(String::new()))
            }
            _ => reason,
        }
    }

    fn on_started(&mut self, c: NodeId, run: RunId) {
        self.notices.push_back(Notice::Started(run));
        let n = self.tree.node(c);
        if n.has(flag::KILL_ON_START | flag::STOP_ON_START) {
            let kill = n.has(flag::KILL_ON_START);
            self.tree.set_state(c, NodeState::Running);
            if kill {
                self.runs.kill(&mut self.tree, &mut self.notices, c);
            } else {
                self.runs.stop(&mut self.tree, &mut self.notices, c, self.now);
            }
            return;
        }
        if n.readiness == Readiness::Notify {
            let startup_timeout = n.ext.as_ref().and_then(|e| e.startup_timeout);
            self.tree.set_state(c, NodeState::AwaitingReady);
            if let Some(t) = startup_timeout {
                self.runs.arm(&mut self.tree, c, self.now + t, TimerPurpose::Startup);
            }
            return;
        }
        let Some(parent) = self.tree.parent(c) else { return };
        self.on_up(parent, c);
    }

    /// Worker `c` of `s` is up (started, and ready if it must be).
    fn on_up(&mut self, s: SupId, c: NodeId) {
        self.runs.cancel(&mut self.tree, c);
        self.tree.set_state(c, NodeState::Running);
        let now = self.now;
        let mut health = None;
        if let Some(ext) = self.tree.node_mut(c).ext.as_deref_mut() {
            ext.up_since = Some(now);
            health = ext.health_timeout;
        }
        if let Some(t) = health {
            self.runs.arm(&mut self.tree, c, now + t, TimerPurpose::Health);
        }
        self.advance(s);
    }

    fn on_heartbeat(&mut self, c: NodeId) {
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

    fn on_exited(&mut self, s: SupId, c: NodeId, run: RunId, reason: ExitReason) {
        let reason = self.substitute(c, reason);
        let (state, cause) = {
            let n = self.tree.node(c);
            (n.state, n.cause)
        };
        if state == NodeState::Running {
            self.record_uptime(c);
        }
        match cause {
            StopCause::Plan => {
                self.notices.push_back(Notice::Exited(run, reason));
                self.runs.gone(&mut self.tree, c);
                self.tree.set_state(c, NodeState::Stopped);
                self.advance(s);
            }
            StopCause::StartTimeout => {
                let error = reason.to_string();
                self.notices.push_back(Notice::Exited(run, reason));
                self.runs.gone(&mut self.tree, c);
                self.on_start_failed(s, c, error);
            }
            StopCause::Health | StopCause::Memory | StopCause::Evicted | StopCause::None => {
                // The reason moves into the notice; only one_terminate_all needs
                // its own copy (it becomes the supervisor's reason). No clone on
                // the hot path.
                let normal = reason.is_normal();
                let own = (self.tree.sup(s).spec.strategy == Strategy::OneTerminateAll).then(|| reason.clone());
                self.notices.push_back(Notice::Exited(run, reason));
                self.runs.gone(&mut self.tree, c);
                self.child_exited_by_itself(s, c, normal, own);
            }
        }
    }

    /// Remember how long `c`'s run was up (for backoff's `reset_after`).
    pub(crate) fn record_uptime(&mut self, c: NodeId) {
        let now = self.now;
        if let Some(ext) = self.tree.node_mut(c).ext.as_deref_mut() {
            ext.lived = ext.up_since.take().map(|t| now - t);
        }
    }

    /// Act on `c`'s deadline, armed for `purpose`, that just came.
    fn fire(&mut self, c: NodeId, purpose: TimerPurpose) {
        let run = RunId {
            node: c,
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
                self.runs.kill(&mut self.tree, &mut self.notices, c);
            }
            TimerPurpose::Health => {
                self.tree.node_mut(c).cause = StopCause::Health;
                self.notices.push_back(Notice::Timeout {
                    run,
                    reason: ExitReason::Health,
                });
                self.runs.kill(&mut self.tree, &mut self.notices, c);
            }
            TimerPurpose::Kill => match self.tree.as_sup(c) {
                Some(s) => self.kill_subtree(s),
                None => self.runs.kill(&mut self.tree, &mut self.notices, c),
            },
            TimerPurpose::Backoff => {
                let Some(p) = self.tree.parent(c) else { return };
                self.tree.set_state(c, NodeState::Queued);
                self.tree.sup_mut(p).mailbox.push_back(Mail::Queued {
                    child: c,
                    generation: run.generation,
                });
                self.advance(p);
            }
        }
    }
}

//! The arena of nodes: storage, sibling order, names, paths and per-supervisor counters.
//!
//! Nodes live in one `Vec` indexed by [`NodeId`]. Siblings form an intrusive
//! doubly linked list (start order), so appending and removing a dynamic child
//! is O(1); names are looked up in a per-supervisor `BTreeMap` (O(log n),
//! deterministic). Removed slots are not reused until the next public call of
//! the engine, so notices queued during a call can still be resolved to paths.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use std::time::Duration;

use crate::backoff::BackoffState;
use crate::plan::{Mail, Mode};
use crate::restart_window::RestartWindow;
use crate::{
    ChildKind, ChildSpec, ChildState, ExitReason, Instant, NodeId, Readiness, Restart, Shutdown, SupervisorSpec,
};

/// A node known to be a supervisor.
///
/// Only the tree mints one, from a node that has supervisor state, so
/// functions that act on a supervisor and one of its children take a `SupId`
/// and a [`NodeId`], and the two cannot be swapped. A `SupId` stays valid while
/// any node links to it as its parent: a supervisor's slot is only retired
/// after all its children were removed (docs/ARCHITECTURE.md, "Typed ids").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SupId(NodeId);

impl SupId {
    /// The root supervisor (slot 0, created first and never removed).
    pub(crate) const ROOT: SupId = SupId(NodeId::ROOT);

    /// The supervisor as a node.
    pub(crate) fn node(self) -> NodeId {
        self.0
    }
}

/// Where a node is in its life, as its parent sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeState {
    /// Not running; started again only by a restart round or an operator.
    Stopped,
    /// Ended by itself; its exit waits in the parent's mailbox.
    Exited,
    /// One-for-one restart waiting for its backoff timer.
    Backoff,
    /// Backoff elapsed; its start waits in the parent's mailbox.
    Queued,
    /// A restart's start failed; the retry waits in the parent's mailbox.
    FailedStart,
    /// Worker: `Spawn` emitted, no answer yet. Supervisor: starting its children.
    Spawned,
    /// Worker started, waiting for `Ready`.
    AwaitingReady,
    /// Up.
    Running,
    /// Worker: `Stop` or `Kill` emitted. Supervisor: stopping its children.
    Stopping,
    /// Removed from the tree (slot waiting to be reused).
    Removed,
}

impl NodeState {
    /// Whether a run (or a supervisor) exists that must end before the node counts as stopped.
    pub(crate) fn is_live(self) -> bool {
        matches!(
            self,
            NodeState::Spawned | NodeState::AwaitingReady | NodeState::Running | NodeState::Stopping
        )
    }

    /// Whether it is running or will be restarted (for auto_shutdown / lifespan).
    pub(crate) fn is_active(self) -> bool {
        !matches!(self, NodeState::Stopped | NodeState::Removed)
    }

    pub(crate) fn public(self) -> ChildState {
        match self {
            NodeState::Stopped | NodeState::Removed => ChildState::Stopped,
            NodeState::Exited | NodeState::Backoff | NodeState::Queued | NodeState::FailedStart => {
                ChildState::Restarting
            }
            NodeState::Spawned | NodeState::AwaitingReady => ChildState::Starting,
            NodeState::Running => ChildState::Running,
            NodeState::Stopping => ChildState::Stopping,
        }
    }
}

/// What the node's single timer slot is armed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimerPurpose {
    None,
    /// A `notify` worker must be ready by then.
    Startup,
    /// A running worker must heartbeat by then (the deadline moves without re-arming).
    Health,
    /// Stop deadline: kill the run (worker) or the subtree (supervisor).
    Kill,
    /// Backoff before an automatic restart.
    Backoff,
}

/// Why the engine is ending a run; decides how its exit is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StopCause {
    None,
    /// Its supervisor (or a plan of it) is stopping it: the exit completes that stop.
    Plan,
    /// Killed for a missed heartbeat: the exit is a failure with reason `health`.
    Health,
    /// Killed for not being ready in time: the exit is a failed start.
    StartTimeout,
    /// Stopped because a monitor evicted it: the exit is a failure with reason `memory`.
    Memory,
    /// Stopped because a monitor evicted it with a reason of its own, kept
    /// in [`NodeExt::evicted`] until the exit reads it.
    Evicted,
}

pub(crate) mod flag {
    /// Stop the run as soon as it reports `Started`.
    pub(crate) const STOP_ON_START: u8 = 1;
    /// Kill the run as soon as it reports `Started`.
    pub(crate) const KILL_ON_START: u8 = 2;
    /// `Stop` already emitted for the current run.
    pub(crate) const STOP_SENT: u8 = 4;
    /// `Kill` already emitted for the current run.
    pub(crate) const KILL_SENT: u8 = 8;
    /// Selected by the current `restart_all`.
    pub(crate) const MARK: u8 = 16;
    /// Supervisor whose whole subtree is being killed: stop children with `Kill`.
    pub(crate) const KILLING: u8 = 32;
    /// Added at run time (start_child), not part of the parent's static spec.
    pub(crate) const DYNAMIC: u8 = 64;
    /// Its spec says `autostart = false`.
    pub(crate) const NO_AUTOSTART: u8 = 128;
}

/// Shutdown policy packed in 8 bytes: 0 = brutal, `u64::MAX` = infinity, else a timeout in ns.
pub(crate) fn pack_shutdown(s: Shutdown) -> u64 {
    match s {
        Shutdown::Brutal => 0,
        Shutdown::Infinity => u64::MAX,
        Shutdown::Timeout(d) => crate::time::duration_nanos(d).clamp(1, u64::MAX - 1),
    }
}

pub(crate) fn unpack_shutdown(v: u64) -> Shutdown {
    match v {
        0 => Shutdown::Brutal,
        u64::MAX => Shutdown::Infinity,
        ns => Shutdown::Timeout(std::time::Duration::from_nanos(ns)),
    }
}

/// Per-worker extras that most children do not have; boxed to keep nodes small.
#[derive(Clone, Debug, Default)]
pub(crate) struct NodeExt {
    pub(crate) startup_timeout: Option<Duration>,
    pub(crate) health_timeout: Option<Duration>,
    pub(crate) backoff: Option<BackoffState>,
    /// When the current run became running (for `reset_after`).
    pub(crate) up_since: Option<Instant>,
    /// How long the run that just ended had been up (`None` after a failed start).
    pub(crate) lived: Option<Duration>,
    /// The reason of a monitor's eviction of the current run
    /// ([`StopCause::Evicted`]), until its exit reads it.
    pub(crate) evicted: Option<ExitReason>,
}

/// One node of the tree.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) name: Box<str>,
    pub(crate) ext: Option<Box<NodeExt>>,
    pub(crate) sup: Option<Box<Sup>>,
    /// Current or last run (workers); 0 before the first run.
    pub(crate) generation: u64,
    /// When the timer slot fires (for health: the current heartbeat deadline).
    pub(crate) deadline: Instant,
    pub(crate) shutdown: u64,
    pub(crate) tag: u64,
    /// The supervisor this node is a child of (`None` for the root).
    pub(crate) parent: Option<SupId>,
    /// The sibling started just before (`None` for the first child).
    pub(crate) prev: Option<NodeId>,
    /// The sibling started just after (`None` for the last child).
    pub(crate) next: Option<NodeId>,
    pub(crate) timer_epoch: u32,
    pub(crate) state: NodeState,
    pub(crate) timer: TimerPurpose,
    pub(crate) cause: StopCause,
    pub(crate) flags: u8,
    pub(crate) restart: Restart,
    pub(crate) readiness: Readiness,
    pub(crate) significant: bool,
}

impl Node {
    /// A removed, nameless node with no links (slot 0 of the arena, and the
    /// base the root is built from).
    fn placeholder() -> Node {
        Node {
            name: "".into(),
            ext: None,
            sup: None,
            generation: 0,
            deadline: Instant::MAX,
            shutdown: 0,
            tag: 0,
            parent: None,
            prev: None,
            next: None,
            timer_epoch: 0,
            state: NodeState::Removed,
            timer: TimerPurpose::None,
            cause: StopCause::None,
            flags: 0,
            restart: Restart::Permanent,
            readiness: Readiness::Immediate,
            significant: false,
        }
    }

    pub(crate) fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
}

/// Supervisor-only state.
#[derive(Debug)]
pub(crate) struct Sup {
    pub(crate) spec: Arc<SupervisorSpec>,
    /// The first child in start order.
    pub(crate) first: Option<NodeId>,
    /// The last child in start order.
    pub(crate) last: Option<NodeId>,
    pub(crate) names: BTreeMap<Box<str>, NodeId>,
    pub(crate) window: RestartWindow,
    pub(crate) mode: Mode,
    pub(crate) mailbox: VecDeque<Mail>,
    /// Children whose state is active (running or restart pending).
    pub(crate) n_active: usize,
    /// Significant children whose state is active.
    pub(crate) n_significant_active: usize,
    /// Child specs.
    pub(crate) n_children: usize,
    /// Child specs that are supervisors.
    pub(crate) n_supervisors: usize,
}

/// Why the arena refused a node: it holds as many as an id can name
/// (`NodeId::MAX_INDEX + 1`; memory runs out long before).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ArenaFull;

impl ArenaFull {
    /// The spec error that reports it, for the supervisor at `path`.
    pub(crate) fn at(self, path: impl Into<String>) -> crate::SpecError {
        crate::SpecError {
            path: path.into(),
            kind: crate::SpecErrorKind::TooManyNodes {
                max: u64::from(NodeId::MAX_INDEX) + 1,
            },
        }
    }
}

/// The node storage. Node `id` lives in slot `id.slot()` (its index plus
/// one): slot 0 holds a placeholder that no id names, and slot 1 the root
/// supervisor, created with the tree and never removed.
#[derive(Debug)]
pub(crate) struct NodeArena {
    pub(crate) nodes: Vec<Node>,
    free: Vec<NodeId>,
    /// Removed during the current call; reusable from the next call on.
    graveyard: Vec<NodeId>,
}

impl NodeArena {
    /// A tree holding only the root supervisor ([`SupId::ROOT`]), with `spec`.
    pub(crate) fn new(spec: Arc<SupervisorSpec>) -> NodeArena {
        let root = Node {
            sup: Some(Box::new(new_sup(spec))),
            shutdown: u64::MAX,
            state: NodeState::Stopped,
            ..Node::placeholder()
        };
        NodeArena {
            nodes: vec![Node::placeholder(), root],
            free: Vec::new(),
            graveyard: Vec::new(),
        }
    }

    pub(crate) fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.slot()]
    }

    pub(crate) fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id.slot()]
    }

    /// The node `id` if it exists and is not removed.
    pub(crate) fn get(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id.slot()).filter(|n| n.state != NodeState::Removed)
    }

    /// The node `id`, removed or not, if the engine ever issued it.
    pub(crate) fn get_any(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id.slot())
    }

    /// `id` as a supervisor, if it is one (and exists).
    pub(crate) fn as_sup(&self, id: NodeId) -> Option<SupId> {
        self.get(id).filter(|n| n.sup.is_some()).map(|_| SupId(id))
    }

    /// The supervisor `id` is a child of (`None` for the root).
    pub(crate) fn parent(&self, id: NodeId) -> Option<SupId> {
        self.node(id).parent
    }

    /// Supervisor state of `s`.
    pub(crate) fn sup(&self, s: SupId) -> &Sup {
        // Invariant: a `SupId` is only minted for a node with supervisor state
        // (see `SupId`).
        self.nodes[s.0.slot()].sup.as_deref().expect("supervisor node")
    }

    pub(crate) fn sup_mut(&mut self, s: SupId) -> &mut Sup {
        // Invariant: as in `sup`.
        self.nodes[s.0.slot()].sup.as_deref_mut().expect("supervisor node")
    }

    pub(crate) fn is_sup(&self, id: NodeId) -> bool {
        self.nodes[id.slot()].sup.is_some()
    }

    /// Make slots removed in earlier calls reusable.
    pub(crate) fn recycle(&mut self) {
        if !self.graveyard.is_empty() {
            self.free.append(&mut self.graveyard);
        }
    }

    fn alloc(&mut self, mut node: Node) -> Result<NodeId, ArenaFull> {
        if let Some(i) = self.free.pop() {
            // Continue the slot's timer epochs: heap entries armed by the
            // previous occupant must never match the new one.
            node.timer_epoch = self.node(i).timer_epoch.wrapping_add(1);
            *self.node_mut(i) = node;
            Ok(i)
        } else {
            let id = NodeId::from_slot(self.nodes.len()).ok_or(ArenaFull)?;
            self.nodes.push(node);
            Ok(id)
        }
    }

    /// Append a child built from `spec` at the end of `parent`'s children.
    pub(crate) fn add_child(&mut self, parent: SupId, spec: &ChildSpec, dynamic: bool) -> Result<NodeId, ArenaFull> {
        let ext = node_ext(spec);
        let sup = match &spec.kind {
            ChildKind::Worker => None,
            ChildKind::Supervisor(s) => Some(Box::new(new_sup(Arc::clone(s)))),
        };
        let is_sup = sup.is_some();
        let last = self.sup(parent).last;
        let node = Node {
            name: spec.name.as_str().into(),
            ext,
            sup,
            generation: 0,
            deadline: Instant::MAX,
            shutdown: pack_shutdown(spec.shutdown_policy()),
            tag: spec.tag,
            parent: Some(parent),
            prev: last,
            next: None,
            timer_epoch: 0,
            state: NodeState::Stopped,
            timer: TimerPurpose::None,
            cause: StopCause::None,
            flags: if dynamic { flag::DYNAMIC } else { 0 } | if spec.autostart { 0 } else { flag::NO_AUTOSTART },
            restart: spec.restart,
            readiness: spec.readiness,
            significant: spec.significant,
        };
        let id = self.alloc(node)?;
        match last {
            None => self.sup_mut(parent).first = Some(id),
            Some(last) => self.node_mut(last).next = Some(id),
        }
        let s = self.sup_mut(parent);
        s.last = Some(id);
        s.names.insert(spec.name.as_str().into(), id);
        s.n_children += 1;
        if is_sup {
            s.n_supervisors += 1;
        }
        Ok(id)
    }

    /// Give the stopped child `id` of `parent` the attributes of `spec`,
    /// keeping its name, position, links and slot (its timer epoch continues).
    pub(crate) fn replace_spec(&mut self, parent: SupId, id: NodeId, spec: &ChildSpec) {
        let was_sup = self.is_sup(id);
        let ext = node_ext(spec);
        let sup = match &spec.kind {
            ChildKind::Worker => None,
            ChildKind::Supervisor(s) => Some(Box::new(new_sup(Arc::clone(s)))),
        };
        let is_sup = sup.is_some();
        let n = self.node_mut(id);
        n.ext = ext;
        n.sup = sup;
        n.shutdown = pack_shutdown(spec.shutdown_policy());
        n.tag = spec.tag;
        n.restart = spec.restart;
        n.readiness = spec.readiness;
        n.significant = spec.significant;
        n.flags = (n.flags & !flag::NO_AUTOSTART) | if spec.autostart { 0 } else { flag::NO_AUTOSTART };
        if was_sup != is_sup {
            let s = self.sup_mut(parent);
            if is_sup {
                s.n_supervisors += 1;
            } else {
                s.n_supervisors -= 1;
            }
        }
    }

    /// Unlink `id` from its parent and retire its slot. Its data stays readable
    /// until the next call (see [`NodeArena::recycle`]).
    pub(crate) fn remove(&mut self, id: NodeId) {
        self.set_state(id, NodeState::Removed);
        let (parent, prev, next, is_sup) = {
            let n = self.node(id);
            (n.parent, n.prev, n.next, n.sup.is_some())
        };
        if let Some(prev) = prev {
            self.node_mut(prev).next = next;
        }
        if let Some(next) = next {
            self.node_mut(next).prev = prev;
        }
        let name = std::mem::take(&mut self.node_mut(id).name);
        if let Some(parent) = parent {
            let s = self.sup_mut(parent);
            if s.first == Some(id) {
                s.first = next;
            }
            if s.last == Some(id) {
                s.last = prev;
            }
            s.names.remove(&name);
            s.n_children -= 1;
            if is_sup {
                s.n_supervisors -= 1;
            }
        }
        // Keep the name for path rendering until the slot is reused.
        let n = self.node_mut(id);
        n.name = name;
        n.timer_epoch = n.timer_epoch.wrapping_add(1);
        self.graveyard.push(id);
    }

    /// Change a node's state, keeping its parent's active counters right.
    pub(crate) fn set_state(&mut self, id: NodeId, state: NodeState) {
        let n = self.node_mut(id);
        let was = n.state.is_active();
        n.state = state;
        let now = state.is_active();
        if was == now {
            return;
        }
        let Some(parent) = n.parent else { return };
        let significant = n.significant;
        let s = self.sup_mut(parent);
        if now {
            s.n_active += 1;
            if significant {
                s.n_significant_active += 1;
            }
        } else {
            s.n_active -= 1;
            if significant {
                s.n_significant_active -= 1;
            }
        }
    }

    /// The child of supervisor `sup` named `name`.
    pub(crate) fn child_named(&self, sup: SupId, name: &str) -> Option<NodeId> {
        self.sup(sup).names.get(name).copied()
    }

    /// Resolve a path (`""` is the root, `a/b` a descendant).
    pub(crate) fn lookup(&self, path: &str) -> Option<NodeId> {
        let mut at = SupId::ROOT.node();
        if path.is_empty() {
            return Some(at);
        }
        for name in path.split('/') {
            at = self.child_named(self.as_sup(at)?, name)?;
        }
        Some(at)
    }

    /// Write the path of `id` into `out` (empty for the root).
    pub(crate) fn write_path(&self, id: NodeId, out: &mut String) {
        let n = self.node(id);
        let Some(parent) = n.parent else { return };
        if self.node(parent.node()).parent.is_some() {
            self.write_path(parent.node(), out);
            out.push('/');
        }
        out.push_str(&n.name);
    }

    /// Depth of `id` (the root is 0).
    pub(crate) fn depth(&self, id: NodeId) -> usize {
        std::iter::successors(self.node(id).parent, |p| self.node(p.node()).parent).count()
    }

    /// The children of `s` in start order.
    pub(crate) fn children(&self, s: SupId) -> impl Iterator<Item = NodeId> + '_ {
        std::iter::successors(self.sup(s).first, |&c| self.node(c).next)
    }
}

/// The rarely used per-worker settings of `spec`, boxed only when present.
fn node_ext(spec: &ChildSpec) -> Option<Box<NodeExt>> {
    if spec.startup_timeout.is_some() || spec.health_timeout.is_some() || spec.backoff.is_some() {
        Some(Box::new(NodeExt {
            startup_timeout: spec.startup_timeout,
            health_timeout: spec.health_timeout,
            backoff: spec.backoff.map(BackoffState::new),
            up_since: None,
            lived: None,
            evicted: None,
        }))
    } else {
        None
    }
}

fn new_sup(spec: Arc<SupervisorSpec>) -> Sup {
    Sup {
        spec,
        first: None,
        last: None,
        names: BTreeMap::new(),
        window: RestartWindow::new(),
        mode: Mode::Dormant,
        mailbox: VecDeque::new(),
        n_active: 0,
        n_significant_active: 0,
        n_children: 0,
        n_supervisors: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Mail, Plan};
    use crate::{Command, Notice};

    /// The types on the restart path stay small: every restart copies a few of
    /// each, and a smaller node means fewer cache lines per event.
    #[test]
    fn hot_path_types_stay_within_their_size_budget() {
        let sizes = [
            ("Node", std::mem::size_of::<Node>(), 88),
            ("Notice", std::mem::size_of::<Notice>(), 56),
            ("Command", std::mem::size_of::<Command>(), 24),
            ("Mail", std::mem::size_of::<Mail>(), 48),
            ("Plan", std::mem::size_of::<Plan>(), 56),
            ("Mode", std::mem::size_of::<Mode>(), 56),
            ("Option<NodeId>", std::mem::size_of::<Option<NodeId>>(), 4),
            ("Bound", std::mem::size_of::<crate::plan::Bound>(), 8),
        ];
        for (name, size, budget) in sizes {
            assert!(size <= budget, "{name} is {size} bytes, budget {budget}");
        }
    }
}

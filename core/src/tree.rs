//! The arena of nodes: storage, sibling order, names, paths and per-supervisor counters.
//!
//! Nodes live in one `Vec` indexed by [`NodeId`]. Siblings form an intrusive
//! doubly linked list (start order), so appending and removing a dynamic child
//! is O(1); names are looked up in a per-supervisor `BTreeMap` (O(log n),
//! deterministic). Removed slots are not reused until the next public call of
//! the engine, so notices queued during a call can still be resolved to paths.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use crate::backoff::{BackoffState, NodeExt};
use crate::plan::{Mail, Mode};
use crate::restart_window::RestartWindow;
use crate::{ChildKind, ChildSpec, ChildState, Instant, Readiness, Restart, Shutdown, SupervisorSpec};

/// "No node" in links.
pub(crate) const NONE: u32 = u32::MAX;

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
    pub(crate) parent: u32,
    pub(crate) prev: u32,
    pub(crate) next: u32,
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
    pub(crate) fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
}

/// Supervisor-only state.
#[derive(Debug)]
pub(crate) struct Sup {
    pub(crate) spec: Arc<SupervisorSpec>,
    pub(crate) first: u32,
    pub(crate) last: u32,
    pub(crate) names: BTreeMap<Box<str>, u32>,
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

/// The node storage.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    pub(crate) nodes: Vec<Node>,
    free: Vec<u32>,
    /// Removed during the current call; reusable from the next call on.
    graveyard: Vec<u32>,
}

impl Tree {
    pub(crate) fn node(&self, i: u32) -> &Node {
        &self.nodes[i as usize]
    }

    pub(crate) fn node_mut(&mut self, i: u32) -> &mut Node {
        &mut self.nodes[i as usize]
    }

    /// The node at `i` if it exists and is not removed.
    pub(crate) fn get(&self, i: u32) -> Option<&Node> {
        self.nodes.get(i as usize).filter(|n| n.state != NodeState::Removed)
    }

    /// Supervisor state of `i`. Callers only pass supervisor nodes.
    pub(crate) fn sup(&self, i: u32) -> &Sup {
        // Invariant: only called with ids of supervisor nodes.
        self.nodes[i as usize].sup.as_deref().expect("supervisor node")
    }

    pub(crate) fn sup_mut(&mut self, i: u32) -> &mut Sup {
        // Invariant: only called with ids of supervisor nodes.
        self.nodes[i as usize].sup.as_deref_mut().expect("supervisor node")
    }

    pub(crate) fn is_sup(&self, i: u32) -> bool {
        self.nodes[i as usize].sup.is_some()
    }

    /// Make slots removed in earlier calls reusable.
    pub(crate) fn recycle(&mut self) {
        self.free.append(&mut self.graveyard);
    }

    /// Create the root supervisor node.
    pub(crate) fn new_root(&mut self, spec: Arc<SupervisorSpec>) -> u32 {
        let node = Node {
            name: "".into(),
            ext: None,
            sup: Some(Box::new(new_sup(spec))),
            generation: 0,
            deadline: Instant::MAX,
            shutdown: u64::MAX,
            tag: 0,
            parent: NONE,
            prev: NONE,
            next: NONE,
            timer_epoch: 0,
            state: NodeState::Stopped,
            timer: TimerPurpose::None,
            cause: StopCause::None,
            flags: 0,
            restart: Restart::Permanent,
            readiness: Readiness::Immediate,
            significant: false,
        };
        self.alloc(node)
    }

    fn alloc(&mut self, mut node: Node) -> u32 {
        if let Some(i) = self.free.pop() {
            // Continue the slot's timer epochs: heap entries armed by the
            // previous occupant must never match the new one.
            node.timer_epoch = self.nodes[i as usize].timer_epoch.wrapping_add(1);
            self.nodes[i as usize] = node;
            i
        } else {
            self.nodes.push(node);
            (self.nodes.len() - 1) as u32
        }
    }

    /// Append a child built from `spec` at the end of `parent`'s children.
    pub(crate) fn add_child(&mut self, parent: u32, spec: &ChildSpec, dynamic: bool) -> u32 {
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
            parent,
            prev: last,
            next: NONE,
            timer_epoch: 0,
            state: NodeState::Stopped,
            timer: TimerPurpose::None,
            cause: StopCause::None,
            flags: if dynamic { flag::DYNAMIC } else { 0 },
            restart: spec.restart,
            readiness: spec.readiness,
            significant: spec.significant,
        };
        let id = self.alloc(node);
        if last == NONE {
            self.sup_mut(parent).first = id;
        } else {
            self.node_mut(last).next = id;
        }
        let s = self.sup_mut(parent);
        s.last = id;
        s.names.insert(spec.name.as_str().into(), id);
        s.n_children += 1;
        if is_sup {
            s.n_supervisors += 1;
        }
        id
    }

    /// Give the stopped node `id` the attributes of `spec`, keeping its name,
    /// position, links and slot (its timer epoch continues).
    pub(crate) fn replace_spec(&mut self, id: u32, spec: &ChildSpec) {
        let (parent, was_sup) = (self.node(id).parent, self.is_sup(id));
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
    /// until the next call (see [`Tree::recycle`]).
    pub(crate) fn remove(&mut self, id: u32) {
        self.set_state(id, NodeState::Removed);
        let (parent, prev, next, is_sup) = {
            let n = self.node(id);
            (n.parent, n.prev, n.next, n.sup.is_some())
        };
        if prev != NONE {
            self.node_mut(prev).next = next;
        }
        if next != NONE {
            self.node_mut(next).prev = prev;
        }
        let name = std::mem::take(&mut self.node_mut(id).name);
        let s = self.sup_mut(parent);
        if s.first == id {
            s.first = next;
        }
        if s.last == id {
            s.last = prev;
        }
        s.names.remove(&name);
        s.n_children -= 1;
        if is_sup {
            s.n_supervisors -= 1;
        }
        // Keep the name for path rendering until the slot is reused.
        self.node_mut(id).name = name;
        self.node_mut(id).timer_epoch = self.node(id).timer_epoch.wrapping_add(1);
        self.graveyard.push(id);
    }

    /// Change a node's state, keeping its parent's active counters right.
    pub(crate) fn set_state(&mut self, id: u32, state: NodeState) {
        let n = self.node_mut(id);
        let was = n.state.is_active();
        n.state = state;
        let now = state.is_active();
        if was == now || n.parent == NONE {
            return;
        }
        let (parent, significant) = (n.parent, n.significant);
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
    pub(crate) fn child_named(&self, sup: u32, name: &str) -> Option<u32> {
        self.sup(sup).names.get(name).copied()
    }

    /// Resolve a path (`""` is the root, `a/b` a descendant).
    pub(crate) fn lookup(&self, root: u32, path: &str) -> Option<u32> {
        let mut at = root;
        if path.is_empty() {
            return Some(at);
        }
        for name in path.split('/') {
            self.nodes[at as usize].sup.as_ref()?;
            at = self.child_named(at, name)?;
        }
        Some(at)
    }

    /// Write the path of `id` into `out` (empty for the root).
    pub(crate) fn write_path(&self, id: u32, out: &mut String) {
        let n = &self.nodes[id as usize];
        if n.parent == NONE {
            return;
        }
        let p = &self.nodes[n.parent as usize];
        if p.parent != NONE {
            self.write_path(n.parent, out);
            out.push('/');
        }
        out.push_str(&n.name);
    }

    /// Depth of `id` (the root is 0).
    pub(crate) fn depth(&self, mut id: u32) -> usize {
        let mut d = 0;
        while self.nodes[id as usize].parent != NONE {
            id = self.nodes[id as usize].parent;
            d += 1;
        }
        d
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
        }))
    } else {
        None
    }
}

fn new_sup(spec: Arc<SupervisorSpec>) -> Sup {
    Sup {
        spec,
        first: NONE,
        last: NONE,
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
            ("Mail", std::mem::size_of::<Mail>(), 56),
            ("Plan", std::mem::size_of::<Plan>(), 64),
            ("Mode", std::mem::size_of::<Mode>(), 64),
        ];
        for (name, size, budget) in sizes {
            assert!(size <= budget, "{name} is {size} bytes, budget {budget}");
        }
    }
}

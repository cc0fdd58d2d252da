//! What the tree's workers run, by tag: the one place that assigns the tags
//! the engine sees.
//!
//! Whoever hands the driver a spec (the builder, [`Tree::start_processes`],
//! `start_child`, `replace_child`) gives its payloads as a list, and each
//! worker's [`ChildSpec::tag`] as its index in that list ([`used_by`] takes
//! from a list only what a spec uses). The registry gives each worker a
//! fresh tag (never reused) and keeps its payload under it: a `Spawn` finds
//! what to run from the node's tag. A supervisor has a payload only if it is
//! a pool (its [`Payload::Pool`]); every other supervisor's tag is
//! [`NO_PAYLOAD`], so that a tag a caller left on a supervisor can never
//! pick up a worker's payload.
//!
//! The payloads of one such spec form a **grant**, anchored at the node the
//! spec became (each top-level child of the first tree; the child a
//! `start_child` added; the child a `replace_child` gave a new spec). A
//! grant ends, and its payloads are dropped, when its node is removed, when
//! its node gets another spec, or when its request fails. A node is removed
//! when [`Notice::Removed`] says so (deleted, a temporary child that ended,
//! a failed `start_child`) and, without a notice of its own, with every
//! other child of its supervisor when that supervisor ends
//! ([`Notice::SupExit`]). A grant covers the whole subtree of its spec: the
//! workers of a nested supervisor are built again from that spec whenever
//! the supervisor restarts, so their own removals end nothing.
//!
//! [`Tree::start_processes`]: crate::Tree::start_processes

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Arc;

use vigil_core::{ChildKind, ChildSpec, Engine, NodeId, Notice, Reply, RequestError};

use crate::blocking::BlockingPayload;
use crate::inbox::InboxTask;
use crate::pool::PoolPort;
use crate::process::ProcessSpec;
use crate::task::TaskFn;

/// The tag of a node that has no payload (a supervisor that is not a pool).
pub(crate) const NO_PAYLOAD: u64 = u64::MAX;

/// What a worker runs (or, for a pool supervisor, what its children run).
#[derive(Clone)]
pub(crate) enum Payload {
    /// A task: the closure called for each run.
    Task(TaskFn),
    /// A task with an inbox (`adapters/tokio/src/inbox.rs`): the inbox lives
    /// as long as this payload, and closes when it is dropped.
    InboxTask(InboxTask),
    /// An OS process.
    Process(Box<ProcessSpec>),
    /// A pool supervisor's template and bound (`adapters/tokio/src/pool.rs`).
    Pool(Arc<dyn PoolPort>),
    /// A blocking closure, run on its own thread each run.
    Blocking(BlockingPayload),
}

/// Payloads by the tag a spec handed to the driver gives them: their index
/// in the caller's list.
pub(crate) type ByTag = BTreeMap<u64, Payload>;

/// The payloads the workers of `spec` (and its subtree) use, taken from
/// the caller's list by their tags; a tag that indexes nothing is left out.
pub(crate) fn used_by(spec: &ChildSpec, list: &dyn Fn(usize) -> Option<Payload>) -> ByTag {
    fn walk(spec: &ChildSpec, list: &dyn Fn(usize) -> Option<Payload>, out: &mut ByTag) {
        match &spec.kind {
            ChildKind::Worker => {
                if let Some(p) = usize::try_from(spec.tag).ok().and_then(list) {
                    out.insert(spec.tag, p);
                }
            }
            ChildKind::Supervisor(s) => {
                for c in &s.children {
                    walk(c, list, out);
                }
            }
        }
    }
    let mut out = ByTag::new();
    walk(spec, list, &mut out);
    out
}

/// The tags one spec was given (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use = "a grant must be anchored or released, or its payloads stay forever"]
pub(crate) struct Grant(Range<u64>);

/// A registered payload, with the path of the worker its tag names once a
/// run of it was spawned.
struct Kept {
    payload: Payload,
    /// The worker's path, rendered at its first spawn: a tag names one
    /// worker of one spec, at one path (a nested supervisor's restart builds
    /// its workers again at the same paths; a new spec, or a new child,
    /// gets new tags), so every later run shares it.
    path: Option<Arc<str>>,
}

impl Kept {
    fn new(payload: Payload) -> Self {
        Kept { payload, path: None }
    }
}

/// The payloads of every spec the engine may still start a worker from.
#[derive(Default)]
pub(crate) struct PayloadRegistry {
    payloads: BTreeMap<u64, Kept>,
    next_tag: u64,
    /// The node whose removal, or new spec, ends a grant, with its parent.
    anchors: BTreeMap<NodeId, (NodeId, Grant)>,
    /// The anchored nodes under each supervisor (removed with it when it ends).
    anchored_under: BTreeMap<NodeId, BTreeSet<NodeId>>,
}

impl PayloadRegistry {
    /// Register the first tree: each top-level child of `spec` is a grant,
    /// returned in start order (anchor them with [`anchor_first_tree`]
    /// once the engine has built the tree).
    ///
    /// [`anchor_first_tree`]: Self::anchor_first_tree
    pub(crate) fn register_tree(&mut self, spec: &mut vigil_core::SupervisorSpec, payloads: &[Payload]) -> Vec<Grant> {
        let given = |tag: u64| usize::try_from(tag).ok().and_then(|i| payloads.get(i)).cloned();
        spec.children.iter_mut().map(|c| self.register(c, &given)).collect()
    }

    /// Anchor the grants of [`register_tree`](Self::register_tree) at the
    /// root's children, which the engine built in the same order.
    pub(crate) fn anchor_first_tree(&mut self, engine: &Engine, grants: Vec<Grant>) {
        let children: Vec<NodeId> = engine.children(engine.root()).collect();
        let mut grants = grants.into_iter();
        for (node, grant) in children.into_iter().zip(grants.by_ref()) {
            self.anchor(engine, node, grant);
        }
        for left in grants {
            self.release(left);
        }
    }

    /// Give every worker of `spec` (and its subtree) a fresh tag, keeping the
    /// payload `given` has for its old tag under it. A worker `given` has
    /// nothing for gets a tag with no payload: its runs fail to start.
    pub(crate) fn register(&mut self, spec: &mut ChildSpec, given: &dyn Fn(u64) -> Option<Payload>) -> Grant {
        let first = self.next_tag;
        self.tag_subtree(spec, given);
        Grant(first..self.next_tag)
    }

    fn tag_subtree(&mut self, spec: &mut ChildSpec, given: &dyn Fn(u64) -> Option<Payload>) {
        match &mut spec.kind {
            ChildKind::Worker => {
                let tag = self.next_tag;
                self.next_tag = self.next_tag.saturating_add(1);
                if let Some(p) = given(spec.tag) {
                    self.payloads.insert(tag, Kept::new(p));
                }
                spec.tag = tag;
            }
            ChildKind::Supervisor(s) => {
                match given(spec.tag) {
                    Some(pool @ Payload::Pool(_)) => {
                        let tag = self.next_tag;
                        self.next_tag = self.next_tag.saturating_add(1);
                        self.payloads.insert(tag, Kept::new(pool));
                        spec.tag = tag;
                    }
                    _ => spec.tag = NO_PAYLOAD,
                }
                for c in &mut Arc::make_mut(s).children {
                    self.tag_subtree(c, given);
                }
            }
        }
    }

    /// What the worker with `tag` runs.
    pub(crate) fn get(&self, tag: u64) -> Option<&Payload> {
        self.payloads.get(&tag).map(|k| &k.payload)
    }

    /// What a run of the worker `node` runs, and the worker's path (built
    /// at its tag's first spawn, shared by its later runs: no allocation
    /// per restart). `None` if the node has no payload.
    pub(crate) fn run_of(&mut self, engine: &Engine, node: NodeId) -> Option<(Payload, Arc<str>)> {
        let kept = self.payloads.get_mut(&engine.tag(node)?)?;
        let path = kept
            .path
            .get_or_insert_with(|| engine.path(node).unwrap_or_default().into());
        debug_assert_eq!(Some(&**path), engine.path(node).as_deref(), "a tag names one path");
        Some((kept.payload.clone(), Arc::clone(path)))
    }

    /// The payload of `node` (a worker's, or a pool supervisor's); none for
    /// the root, whose tag the registry never gave.
    pub(crate) fn of_node(&self, engine: &Engine, node: NodeId) -> Option<&Payload> {
        engine.parent(node)?;
        self.get(engine.tag(node)?)
    }

    /// How many payloads are kept (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.payloads.len()
    }

    /// The answer to the request that brought `grant`, the spec for the
    /// child at `path`: anchored at that child if it was accepted, released
    /// if it was refused.
    pub(crate) fn answered(&mut self, engine: &Engine, path: &str, result: &Result<Reply, RequestError>, grant: Grant) {
        match (result, engine.lookup(path)) {
            (Ok(_), Some(node)) => self.anchor(engine, node, grant),
            // Refused, or the child is gone already.
            _ => self.release(grant),
        }
    }

    /// End the grants anchored at removed nodes: the one `Removed` names,
    /// or every child of a supervisor that ended.
    pub(crate) fn observe(&mut self, notice: &Notice) {
        match notice {
            Notice::Removed { child } => self.unanchor(*child),
            Notice::SupExit { sup, .. } => {
                for child in self.anchored_under.remove(sup).unwrap_or_default() {
                    self.unanchor(child);
                }
            }
            _ => {}
        }
    }

    /// `node` runs `grant`'s spec from now on; the grant it had ends.
    fn anchor(&mut self, engine: &Engine, node: NodeId, grant: Grant) {
        let Some(parent) = engine.parent(node) else {
            // The root: it runs no payload, and is never removed.
            return self.release(grant);
        };
        match self.anchors.insert(node, (parent, grant)) {
            Some((_, old)) => self.release(old),
            None => {
                self.anchored_under.entry(parent).or_default().insert(node);
            }
        }
    }

    /// End the grant anchored at `node`, if any.
    fn unanchor(&mut self, node: NodeId) {
        let Some((parent, grant)) = self.anchors.remove(&node) else {
            return;
        };
        if let Some(siblings) = self.anchored_under.get_mut(&parent) {
            siblings.remove(&node);
            if siblings.is_empty() {
                self.anchored_under.remove(&parent);
            }
        }
        self.release(grant);
    }

    /// Drop the payloads of `grant`.
    pub(crate) fn release(&mut self, grant: Grant) {
        let Grant(tags) = grant;
        // O(size of the grant × log n): the other payloads are not touched.
        let granted: Vec<u64> = self.payloads.range(tags).map(|(tag, _)| *tag).collect();
        for tag in granted {
            self.payloads.remove(&tag);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use vigil_core::{Command, Input, Instant, Request, Restart, SupervisorSpec};

    fn process(name: &str) -> Payload {
        Payload::Process(Box::new(ProcessSpec::new([name])))
    }

    fn command_of(r: &PayloadRegistry, engine: &Engine, path: &str) -> Option<String> {
        let tag = engine.tag(engine.lookup(path)?)?;
        match r.get(tag)? {
            Payload::Process(p) => Some(p.command[0].clone()),
            _ => None,
        }
    }

    /// An engine and a registry, driven as the driver drives them: every
    /// `Spawn` answered `Started`, every `Stop` or `Kill` with its exit.
    struct Rig {
        engine: Engine,
        registry: PayloadRegistry,
        pending: Vec<(vigil_core::RequestId, String, Grant)>,
        t: u64,
    }

    impl Rig {
        fn new(mut spec: SupervisorSpec, payloads: &[Payload]) -> Rig {
            let mut registry = PayloadRegistry::default();
            let grants = registry.register_tree(&mut spec, payloads);
            let engine = Engine::new(spec, 0).expect("valid");
            registry.anchor_first_tree(&engine, grants);
            let mut rig = Rig {
                engine,
                registry,
                pending: Vec::new(),
                t: 0,
            };
            rig.engine.start(Instant::ZERO);
            rig.settle();
            rig
        }

        fn now(&mut self) -> Instant {
            self.t += 1_000;
            Instant::from_nanos(self.t)
        }

        fn settle(&mut self) {
            loop {
                while let Some(n) = self.engine.poll_notice() {
                    if let Notice::Reply { id, path, result, .. } = &n {
                        if let Some(i) = self.pending.iter().position(|(p, _, _)| p == id) {
                            let (_, _, grant) = self.pending.remove(i);
                            self.registry.answered(&self.engine, path, result, grant);
                        }
                    }
                    self.registry.observe(&n);
                }
                let Some(cmd) = self.engine.poll_command() else { return };
                let now = self.now();
                let input = match cmd {
                    Command::Spawn(run) => Input::Started(run),
                    Command::Stop(run) => Input::Exited(run, vigil_core::ExitReason::Shutdown(String::new())),
                    Command::Kill(run) => Input::Exited(run, vigil_core::ExitReason::Killed),
                };
                self.engine.handle(input, now);
            }
        }

        fn request(&mut self, mut request: Request, payloads: &[Payload]) {
            let grant = match &mut request {
                Request::StartChild { spec, .. } | Request::ReplaceChild { spec, .. } => {
                    let given = used_by(spec, &|i| payloads.get(i).cloned());
                    Some(self.registry.register(spec, &|t| given.get(&t).cloned()))
                }
                _ => None,
            };
            let path = request.target_path();
            let now = self.now();
            let answer = self.engine.request(request, now);
            match (answer, grant) {
                (Ok(Reply::Pending(id)), Some(g)) => self.pending.push((id, path, g)),
                (answer, Some(g)) => self.registry.answered(&self.engine, &path, &answer, g),
                _ => {}
            }
            self.settle();
        }

        fn crash(&mut self, path: &str) {
            let node = self.engine.lookup(path).expect("exists");
            let run = self.engine.current_run(node).expect("runs");
            let now = self.now();
            self.engine
                .handle(Input::Exited(run, vigil_core::ExitReason::Error("boom".into())), now);
            self.settle();
        }
    }

    fn tree() -> SupervisorSpec {
        let nested = SupervisorSpec::new().intensity(0).child(ChildSpec::worker("w").tag(1));
        SupervisorSpec::new()
            .intensity(10)
            .period(Duration::from_secs(60))
            .child(ChildSpec::worker("a").tag(0))
            .child(ChildSpec::supervisor("s", nested))
    }

    #[test]
    fn every_worker_finds_its_payload_and_supervisor_tags_are_not_read() {
        let rig = Rig::new(tree(), &[process("a"), process("w")]);
        assert_eq!(command_of(&rig.registry, &rig.engine, "a").as_deref(), Some("a"));
        assert_eq!(command_of(&rig.registry, &rig.engine, "s/w").as_deref(), Some("w"));
        assert_eq!(rig.registry.len(), 2);
    }

    #[test]
    fn a_nested_supervisors_restart_keeps_its_workers_payloads() {
        let mut rig = Rig::new(tree(), &[process("a"), process("w")]);
        // `s` gives up (intensity 0), its `w` is removed, the root restarts `s`.
        rig.crash("s/w");
        let w = rig.engine.lookup("s/w").expect("rebuilt");
        assert!(rig.engine.current_run(w).is_some(), "s/w runs again");
        assert_eq!(command_of(&rig.registry, &rig.engine, "s/w").as_deref(), Some("w"));
        assert_eq!(rig.registry.len(), 2);
    }

    #[test]
    fn a_deleted_or_ended_temporary_child_drops_its_payloads() {
        let mut rig = Rig::new(tree(), &[process("a"), process("w")]);
        rig.request(
            Request::StartChild {
                parent: String::new(),
                spec: ChildSpec::worker("d").tag(0),
            },
            &[process("d")],
        );
        assert_eq!(command_of(&rig.registry, &rig.engine, "d").as_deref(), Some("d"));
        assert_eq!(rig.registry.len(), 3);
        rig.request(Request::TerminateChild { path: "d".into() }, &[]);
        rig.request(Request::DeleteChild { path: "d".into() }, &[]);
        assert_eq!(rig.registry.len(), 2);

        rig.request(
            Request::StartChild {
                parent: "s".into(),
                spec: ChildSpec::worker("t").restart(Restart::Temporary).tag(0),
            },
            &[process("t")],
        );
        assert_eq!(rig.registry.len(), 3);
        let t = rig.engine.lookup("s/t").expect("started");
        let run = rig.engine.current_run(t).expect("runs");
        let now = rig.now();
        rig.engine
            .handle(Input::Exited(run, vigil_core::ExitReason::Normal), now);
        rig.settle();
        assert!(
            rig.engine.lookup("s/t").is_none(),
            "a temporary child that ended is removed"
        );
        assert_eq!(rig.registry.len(), 2);
    }

    #[test]
    fn a_supervisors_end_drops_the_payloads_of_the_children_added_to_it() {
        let mut rig = Rig::new(tree(), &[process("a"), process("w")]);
        rig.request(
            Request::StartChild {
                parent: "s".into(),
                spec: ChildSpec::worker("d").tag(0),
            },
            &[process("d")],
        );
        assert_eq!(command_of(&rig.registry, &rig.engine, "s/d").as_deref(), Some("d"));
        assert_eq!(rig.registry.len(), 3);
        // `s` gives up and ends: its children go without a `Removed` each,
        // and it restarts without `d` (not in its spec).
        rig.crash("s/w");
        assert!(rig.engine.lookup("s/d").is_none());
        assert_eq!(rig.registry.len(), 2);
        assert_eq!(command_of(&rig.registry, &rig.engine, "s/w").as_deref(), Some("w"));
    }

    #[test]
    fn a_refused_request_drops_its_payloads() {
        let mut rig = Rig::new(tree(), &[process("a"), process("w")]);
        rig.request(
            Request::StartChild {
                parent: String::new(),
                spec: ChildSpec::worker("a").tag(0),
            },
            &[process("again")],
        );
        rig.request(
            Request::StartChild {
                parent: "nowhere".into(),
                spec: ChildSpec::worker("x").tag(0),
            },
            &[process("x")],
        );
        assert_eq!(rig.registry.len(), 2);
        assert_eq!(command_of(&rig.registry, &rig.engine, "a").as_deref(), Some("a"));
    }

    #[test]
    fn a_new_spec_replaces_the_payloads_of_the_old_one() {
        let mut rig = Rig::new(tree(), &[process("a"), process("w")]);
        rig.request(Request::TerminateChild { path: "a".into() }, &[]);
        rig.request(
            Request::ReplaceChild {
                path: "a".into(),
                spec: ChildSpec::worker("a").tag(0),
            },
            &[process("a2")],
        );
        assert_eq!(command_of(&rig.registry, &rig.engine, "a").as_deref(), Some("a2"));
        assert_eq!(rig.registry.len(), 2, "the old `a` is dropped");
        // Replacing a child built from its supervisor's spec keeps that spec's
        // payload: the supervisor builds the child from it again when it restarts.
        rig.request(Request::TerminateChild { path: "s/w".into() }, &[]);
        rig.request(
            Request::ReplaceChild {
                path: "s/w".into(),
                spec: ChildSpec::worker("w").tag(0),
            },
            &[process("w2")],
        );
        rig.request(Request::RestartChild { path: "s/w".into() }, &[]);
        assert_eq!(command_of(&rig.registry, &rig.engine, "s/w").as_deref(), Some("w2"));
        assert_eq!(rig.registry.len(), 3);
        rig.crash("s/w");
        assert_eq!(command_of(&rig.registry, &rig.engine, "s/w").as_deref(), Some("w"));
        assert_eq!(rig.registry.len(), 2, "w2 went with the node it was given to");
    }
}

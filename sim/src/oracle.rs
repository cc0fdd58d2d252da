//! The oracle: docs/SEMANTICS.md checked after every step, from the notice
//! stream (its rules: docs/SIMULATION.md, "The oracle").
//!
//! It keeps its own small model of every node, fed only by what the engine
//! reported (its notices), what the world did (its inputs and requests) and
//! the specs it was given (restart types, readiness, shutdown policies,
//! intensity and sibling order: `given_specs.rs`), never by the engine's own
//! record of those, and flags the first notice that breaks a rule. Each check
//! is O(1) per notice, except finding a child in its supervisor's list the
//! first time it starts, and a supervisor's start or end (O(n) in the number
//! of nodes; simulated trees are small).

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use vigil_core::{
    ChildState, Engine, Instant, NodeId, Notice, Readiness, Reply, Request, RequestError, RequestId, RequestOp,
    Restart, RunId, Shutdown, ShutdownOrder, Strategy, SupervisorSpec, MAX_EXACT_INTENSITY,
};

use crate::given_specs::{split_path, Facts, Family, GivenSpecs};

/// Which rule was broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// At most one live run per worker.
    OneLiveRun,
    /// Commands only for the current, started run.
    CommandForLiveRun,
    /// `Kill` only at or after its deadline, and once.
    KillDeadline,
    /// `Stop` once per run.
    StopOnce,
    /// Starts are sequential: one child of a supervisor starting at a time.
    SequentialStart,
    /// The first start goes in start order.
    StartOrder,
    /// Stops are sequential, and in reverse start order, except the end of a
    /// supervisor whose shutdown order is parallel (all at once, any order);
    /// either way every child has ended before its supervisor ends.
    StopOrder,
    /// Restarts follow the restart table.
    RestartTable,
    /// Never more than `intensity` decisions in a period without giving up,
    /// and no give-up before that.
    Intensity,
    /// No spawn under a supervisor that decided to end.
    SpawnAfterEnd,
    /// After the tree is down nothing runs and nothing is commanded.
    TreeDown,
    /// Valid inputs are accepted; only stale ones are reported stale.
    Stale,
    /// Faults off: every permanent child runs again within the bound.
    Liveness,
    /// `handle_timeout(now)` fires every deadline due at or before `now`
    /// (a driver that sleeps until `poll_timeout` would otherwise spin).
    Deadlines,
    /// The same seed gives the same trace.
    Determinism,
    /// A temporary child that ended (by itself, or by a failed start) is
    /// removed, never kept stopped, never started again.
    TemporaryRemoved,
    /// A run of the simulator exceeded its step budget (no progress in
    /// virtual time, or far more events than the budget allows).
    StepBudget,
}

impl Rule {
    /// A short stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::OneLiveRun => "one_live_run",
            Rule::CommandForLiveRun => "command_for_live_run",
            Rule::KillDeadline => "kill_deadline",
            Rule::StopOnce => "stop_once",
            Rule::SequentialStart => "sequential_start",
            Rule::StartOrder => "start_order",
            Rule::StopOrder => "stop_order",
            Rule::RestartTable => "restart_table",
            Rule::Intensity => "intensity",
            Rule::SpawnAfterEnd => "spawn_after_end",
            Rule::TreeDown => "tree_down",
            Rule::Stale => "stale",
            Rule::Liveness => "liveness",
            Rule::Deadlines => "deadlines",
            Rule::Determinism => "determinism",
            Rule::TemporaryRemoved => "temporary_removed",
            Rule::StepBudget => "step_budget",
        }
    }
}

/// A broken rule, with when and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Virtual time of the offending event.
    pub at: Instant,
    /// The rule.
    pub rule: Rule,
    /// What happened, with paths.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "at {}: {}: {}",
            vigil_trace::format_time(self.at),
            self.rule.as_str(),
            self.detail
        )
    }
}

/// Which sibling may start (or stop) next while a supervisor starts its
/// children in order (or stops them in reverse order).
///
/// Positions in the supervisor's list of children (the oracle's own, from
/// the specs it was given), where a removed child keeps its place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Window {
    /// Nothing started (stopped) yet: any child may go first.
    Open,
    /// The last child started was at `pos`, of `len`: only those after it, up
    /// to `len`, may start next.
    After { pos: u32, len: u32 },
    /// The last child stopped was at this position: only those before it may
    /// stop next.
    Before(u32),
}

/// Where a node sits: its supervisor and its position in its list (`None`
/// for the root, or a node the oracle's lists lack).
#[derive(Clone, Copy, Debug)]
struct Home {
    parent: Option<NodeId>,
    pos: Option<u32>,
}

/// How a node's last run (or incarnation) ended, for the restart table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    None,
    ByItself { normal: bool },
    Stopped,
    StartFailed,
}

#[derive(Clone, Debug)]
struct NodeView {
    parent: Option<NodeId>,
    /// Its position in its supervisor's list of children.
    pos: Option<u32>,
    generation: u64,
    starting: bool,
    up: bool,
    stop_at: Option<Instant>,
    stop_sent: bool,
    kill_sent: bool,
    /// The kill was the engine's own, for a missed readiness or heartbeat
    /// deadline (right after a `timeout` notice): a failure, not a stop.
    failure_kill: bool,
    /// The stop (or, under brutal shutdown, the kill) was the engine's answer
    /// to a monitor's eviction (right after an `evict` notice): a failure,
    /// not part of any plan.
    evicted: bool,
    last_end: End,
    /// The restart type of the spec this run (or incarnation) started from:
    /// the spec may be replaced later in the same call (`replace_child`).
    restart: Option<Restart>,
    /// A worker's readiness mode, from its spec.
    readiness: Option<Readiness>,
    /// Its shutdown policy, from its spec.
    shutdown: Option<Shutdown>,
    // Supervisors only.
    /// Intensity, period and children, from its spec and accepted requests.
    family: Option<Family>,
    ending: bool,
    dormant: bool,
    initialising: bool,
    restarts: VecDeque<Instant>,
    starting_children: u32,
    graceful_stops: u32,
    /// Of `graceful_stops`, those already in flight when the supervisor
    /// decided to end (a pre-empted plan's stop keeps running).
    inherited_stops: u32,
    /// This node's own stop was in flight when its supervisor decided to end.
    stop_inherited: bool,
    stop_window: Option<Window>,
    start_window: Option<Window>,
}

impl Default for NodeView {
    fn default() -> Self {
        NodeView {
            parent: None,
            pos: None,
            generation: 0,
            starting: false,
            up: false,
            stop_at: None,
            stop_sent: false,
            kill_sent: false,
            failure_kill: false,
            evicted: false,
            last_end: End::None,
            restart: None,
            readiness: None,
            shutdown: None,
            family: None,
            ending: false,
            dormant: true,
            initialising: false,
            restarts: VecDeque::new(),
            starting_children: 0,
            graceful_stops: 0,
            inherited_stops: 0,
            stop_inherited: false,
            stop_window: None,
            start_window: None,
        }
    }
}

/// The invariant checker. Feed it every notice, in order, right after the
/// engine call that produced it.
#[derive(Debug, Default)]
pub struct Oracle {
    nodes: Vec<NodeView>,
    /// Restart types, readiness, shutdown policies, intensity and sibling
    /// order: from the specs given, never asked of the engine under test.
    specs: GivenSpecs,
    /// The node of each supervisor path's current incarnation.
    sup_at: BTreeMap<String, NodeId>,
    /// The path being resolved (kept to reuse its allocation).
    path_buf: String,
    /// Where each node (by index) sits, once resolved from its path: its
    /// supervisor and position. Kept until the node is removed (a `removed`
    /// notice, or its supervisor's end or new incarnation).
    homes: Vec<Option<Home>>,
    injected_stale: u64,
    seen_stale: u64,
    tree_down: bool,
    timeout_kill: Option<RunId>,
    /// The run of the latest `evict` notice, until its stop or kill is seen.
    evicted: Option<RunId>,
    /// The run whose `Started` was the latest notice: a stop ordered while it
    /// was starting is sent now, out of the walk's order by necessity.
    just_started: Option<RunId>,
    /// Temporary children that ended by themselves or failed to start and
    /// have not been removed yet, with their supervisor.
    ended_temporaries: Vec<(NodeId, Option<NodeId>)>,
    violation: Option<Violation>,
}

impl Oracle {
    /// A fresh oracle for a tree built from `spec`.
    pub fn new(spec: &SupervisorSpec) -> Self {
        Oracle {
            specs: GivenSpecs::new(spec),
            ..Self::default()
        }
    }

    /// The world is about to send `request`: the spec of a `start_child` or
    /// `replace_child` takes effect in the oracle's model once accepted.
    pub fn request_sent(&mut self, request: &Request) {
        self.specs.offer(request);
    }

    /// The first violation seen, if any.
    pub fn violation(&self) -> Option<&Violation> {
        self.violation.as_ref()
    }

    /// Record a violation found outside the notice stream (by the world or
    /// the liveness check). Only the first one is kept.
    pub fn flag(&mut self, at: Instant, rule: Rule, detail: String) {
        if self.violation.is_none() {
            self.violation = Some(Violation { at, rule, detail });
        }
    }

    /// The world delivered an input it knows to be stale.
    pub fn injected_stale(&mut self) {
        self.injected_stale += 1;
    }

    /// Whether the tree is down.
    pub fn is_tree_down(&self) -> bool {
        self.tree_down
    }

    /// Right after `engine.handle_timeout(now)`: no deadline may still be due.
    pub fn check_deadlines(&mut self, engine: &mut Engine, now: Instant) {
        let next = engine.poll_timeout();
        self.check_next_deadline(now, next);
    }

    /// Right after `handle_timeout(now)`: `next`, what `poll_timeout` gives
    /// now, must not be at or before `now`.
    pub fn check_next_deadline(&mut self, now: Instant, next: Option<Instant>) {
        if let Some(at) = next.filter(|&at| at <= now) {
            let detail = format!(
                "a deadline at {} is still due after handle_timeout",
                vigil_trace::format_time(at)
            );
            self.flag(now, Rule::Deadlines, detail);
        }
    }

    /// After a step (with [`Oracle::end_step`]): a temporary child that ended
    /// or failed to start must not be sitting stopped in the tree of a
    /// supervisor that is still running. (It may wait, `restarting`, while its
    /// exit is queued behind a busy supervisor; a supervisor that is ending or
    /// failing its own start removes all its children when it is done.)
    pub fn check_temporaries(&mut self, engine: &Engine, at: Instant) {
        for i in 0..self.ended_temporaries.len() {
            let (node, parent) = self.ended_temporaries[i];
            let exempt = parent.is_some_and(|p| {
                self.nodes
                    .get(p.index())
                    .is_some_and(|v| v.ending || v.dormant || v.initialising)
            });
            if !exempt && engine.state(node) == Some(ChildState::Stopped) {
                let detail = format!(
                    "temporary child {} ended but is kept as a stopped child",
                    Self::path(engine, node)
                );
                return self.flag(at, Rule::TemporaryRemoved, detail);
            }
        }
    }

    /// `c` (temporary or not) ended by itself or failed to start.
    fn ended(&mut self, c: NodeId) {
        let v = self.view(c);
        if v.restart == Some(Restart::Temporary) {
            let parent = v.parent;
            self.ended_temporaries.push((c, parent));
        }
    }

    /// A new run or incarnation of `c` begins: it must not be a temporary child that ended.
    fn check_not_ended_temporary(&mut self, engine: &Engine, c: NodeId, now: Instant) {
        if self.ended_temporaries.iter().any(|&(n, _)| n == c) {
            let detail = format!(
                "temporary child {} is started again after it ended",
                Self::path(engine, c)
            );
            self.flag(now, Rule::TemporaryRemoved, detail);
        }
    }

    /// Check the stale accounting after a step.
    pub fn end_step(&mut self, at: Instant) {
        self.just_started = None;
        if self.seen_stale != self.injected_stale {
            let detail = format!(
                "{} inputs reported stale, {} stale inputs delivered: a valid input was ignored or a stale one accepted",
                self.seen_stale, self.injected_stale
            );
            self.flag(at, Rule::Stale, detail);
        }
    }

    fn view(&mut self, n: NodeId) -> &mut NodeView {
        let i = n.index();
        if i >= self.nodes.len() {
            self.nodes.resize_with(i + 1, NodeView::default);
        }
        &mut self.nodes[i]
    }

    fn path(engine: &Engine, n: NodeId) -> String {
        match engine.path(n) {
            Some(p) if p.is_empty() => "/".to_owned(),
            Some(p) => p,
            None => n.to_string(),
        }
    }

    /// Whether `n` or one of its ancestors is being killed outright at `now`
    /// (its parent asked it to stop and its policy is brutal, or its deadline passed).
    fn in_kill_mode(&self, mut n: Option<NodeId>, now: Instant) -> bool {
        while let Some(id) = n {
            let Some(v) = self.nodes.get(id.index()) else {
                return false;
            };
            if let Some(at) = v.stop_at {
                match v.shutdown {
                    Some(Shutdown::Brutal) => return true,
                    Some(Shutdown::Timeout(t)) if now >= at + t => return true,
                    _ => {}
                }
            }
            n = v.parent;
        }
        false
    }

    /// The start of a child `c` of `parent` begins.
    fn start_begins(&mut self, engine: &Engine, c: NodeId, parent: Option<NodeId>, now: Instant) {
        if let Some(p) = parent {
            if self.view(p).starting_children > 0 {
                let detail = format!(
                    "{} starts while another child of {} is still starting",
                    Self::path(engine, c),
                    Self::path(engine, p)
                );
                self.flag(now, Rule::SequentialStart, detail);
            }
            let pv = self.view(p);
            pv.starting_children += 1;
            if let Some(window) = pv.start_window {
                let pos = self.child_pos(p, c);
                let out_of_order = match (window, pos) {
                    (Window::After { pos: at, len }, Some(cp)) => cp <= at || cp >= len,
                    _ => false,
                };
                if out_of_order {
                    let detail = format!(
                        "{} started out of start order during its supervisor's first start",
                        Self::path(engine, c)
                    );
                    self.flag(now, Rule::StartOrder, detail);
                }
                let window = match pos {
                    Some(cp) => Window::After {
                        pos: cp,
                        len: self.family_len(p),
                    },
                    None => Window::Open,
                };
                self.view(p).start_window = Some(window);
            }
            // A start closes a round's stop phase.
            self.view(p).stop_window = None;
            // The supervisor that starts it must not have decided to end. (Its
            // own descendant supervisors keep supervising until it reaches them
            // in its reverse-order stop, as in OTP.)
            let v = self.view(p);
            if v.ending || v.dormant {
                let what = if v.ending { "decided to end" } else { "is not running" };
                let detail = format!(
                    "{} started although {} {what}",
                    Self::path(engine, c),
                    Self::path(engine, p)
                );
                self.flag(now, Rule::SpawnAfterEnd, detail);
            }
        }
        let v = self.view(c);
        v.parent = parent;
        v.starting = true;
        v.up = false;
    }

    /// The start of `c` is over (up, or failed).
    fn start_ends(&mut self, c: NodeId) {
        let v = self.view(c);
        if !v.starting {
            return;
        }
        v.starting = false;
        if let Some(p) = v.parent {
            let pv = self.view(p);
            pv.starting_children = pv.starting_children.saturating_sub(1);
        }
    }

    /// A graceful stop (worker `Stop`, supervisor `sup_stop`) or an ordered
    /// kill of child `c` is issued.
    fn stop_issued(&mut self, engine: &Engine, c: NodeId, graceful: bool, on_start: bool, now: Instant) {
        let Some(p) = self.view(c).parent else { return };
        if self.stops_all_at_once(p) {
            // Its end asks every child at the same instant, in no order the
            // rule checks; each stop still ends before the supervisor does.
            if graceful {
                self.view(p).graceful_stops += 1;
            }
            return;
        }
        let kill_mode = self.in_kill_mode(Some(p), now);
        if graceful {
            let pv = self.view(p);
            if pv.graceful_stops > pv.inherited_stops && !kill_mode {
                let detail = format!(
                    "{} is asked to stop while another child of {} is still stopping",
                    Self::path(engine, c),
                    Self::path(engine, p)
                );
                self.flag(now, Rule::StopOrder, detail);
            }
            self.view(p).graceful_stops += 1;
        }
        if let Some(window) = self.view(p).stop_window.filter(|_| !on_start) {
            let pos = self.child_pos(p, c);
            if matches!((window, pos), (Window::Before(at), Some(cp)) if cp >= at) {
                let detail = format!("{} stopped out of reverse start order", Self::path(engine, c));
                self.flag(now, Rule::StopOrder, detail);
            }
            if let Some(cp) = pos {
                self.view(p).stop_window = Some(Window::Before(cp));
            }
        }
    }

    /// Whether supervisor `p` is ending (or failing its first start) with the
    /// parallel shutdown order, by its spec.
    fn stops_all_at_once(&self, p: NodeId) -> bool {
        let Some(v) = self.nodes.get(p.index()) else {
            return false;
        };
        let parallel = v
            .family
            .as_ref()
            .is_some_and(|f| f.shutdown_order == ShutdownOrder::Parallel);
        // During its first start the only stops are those of a failed start's end.
        parallel && (v.ending || v.initialising)
    }

    /// A child of `sup` whose run (or incarnation) is still live, if any.
    fn live_child(&self, sup: NodeId) -> Option<NodeId> {
        let i = self
            .nodes
            .iter()
            .position(|v| v.parent == Some(sup) && (v.up || v.starting))?;
        u32::try_from(i).ok().map(NodeId::from_index)
    }

    /// The position of `c` among the children of `p`, if it is one (and not removed).
    fn child_pos(&self, p: NodeId, c: NodeId) -> Option<u32> {
        let v = self.nodes.get(c.index()).filter(|v| v.parent == Some(p))?;
        let pos = v.pos?;
        let kid = self.family(p)?.kids.get(usize::try_from(pos).ok()?)?;
        (!kid.removed).then_some(pos)
    }

    fn family(&self, sup: NodeId) -> Option<&Family> {
        self.nodes.get(sup.index())?.family.as_ref()
    }

    fn family_mut(&mut self, sup: NodeId) -> Option<&mut Family> {
        self.nodes.get_mut(sup.index())?.family.as_mut()
    }

    /// How many children `sup` has had in this incarnation, removed ones included.
    fn family_len(&self, sup: NodeId) -> u32 {
        self.family(sup)
            .map_or(0, |f| u32::try_from(f.kids.len()).unwrap_or(u32::MAX))
    }

    fn graceful_stop_over(&mut self, c: NodeId) {
        let inherited = std::mem::take(&mut self.view(c).stop_inherited);
        if let Some(p) = self.view(c).parent {
            let pv = self.view(p);
            pv.graceful_stops = pv.graceful_stops.saturating_sub(1);
            if inherited {
                pv.inherited_stops = pv.inherited_stops.saturating_sub(1);
            }
        }
    }

    /// Observe one notice, produced by the latest engine call at `now`: one
    /// handler per notice.
    pub fn observe(&mut self, engine: &Engine, n: &Notice, now: Instant) {
        if self.tree_down {
            if let Notice::Spawn(r) | Notice::Stop(r) | Notice::Kill(r) = n {
                let detail = format!("command for {} after tree_down", Self::path(engine, r.node));
                self.flag(now, Rule::TreeDown, detail);
            }
        }
        match n {
            Notice::Spawn(r) => self.observe_spawn(engine, r, now),
            Notice::Started(r) => self.observe_started(*r),
            Notice::Ready(r) => self.start_ends(r.node),
            Notice::StartFailed(r, _) => self.observe_start_failed(*r),
            Notice::Removed { child } => self.observe_removed(engine, *child),
            Notice::Evicted { run, .. } => self.evicted = Some(*run),
            Notice::Stop(r) => self.observe_stop(engine, *r, now),
            Notice::Timeout { run, .. } => self.timeout_kill = Some(*run),
            Notice::Kill(r) => self.observe_kill(engine, *r, now),
            Notice::Exited(r, reason) => self.observe_exited(r, reason),
            Notice::Stale(..) => self.seen_stale += 1,
            Notice::SupStarting { sup } => self.observe_sup_starting(engine, sup, now),
            Notice::SupStarted { sup } => self.observe_sup_started(*sup),
            Notice::SupStop { sup } => self.observe_sup_stop(engine, *sup, now),
            Notice::SupEnding { sup, .. } => self.observe_sup_ending(sup),
            Notice::SupExit { sup, reason } => self.observe_sup_exit(engine, sup, reason, now),
            Notice::Restart { sup, child, strategy } => self.observe_restart(engine, *sup, *child, *strategy, now),
            Notice::GiveUp { sup } => self.observe_give_up(engine, sup, now),
            Notice::Backoff { child, .. } => self.observe_backoff(*child),
            Notice::TreeDown { .. } => self.tree_down = true,
            Notice::Request { id, op, path } => {
                if matches!(op, RequestOp::StartChild | RequestOp::ReplaceChild) {
                    self.specs.requested(*id, path);
                }
            }
            Notice::Reply { id, result, .. } => self.observe_reply(*id, result),
            Notice::Heartbeat(_) => {}
        }
    }

    /// A run reported `Started`: up, and its start is over unless it must
    /// also report ready.
    fn observe_started(&mut self, r: RunId) {
        self.just_started = Some(r);
        if self.view(r.node).readiness != Some(Readiness::Notify) {
            self.start_ends(r.node);
        }
        self.view(r.node).up = true;
    }

    /// A run's start failed.
    fn observe_start_failed(&mut self, r: RunId) {
        self.start_ends(r.node);
        let v = self.view(r.node);
        v.up = false;
        v.last_end = End::StartFailed;
        self.ended(r.node);
    }

    /// A `Stop` for a run: once per run, and in its supervisor's stop order
    /// (unless it answers a monitor's eviction).
    fn observe_stop(&mut self, engine: &Engine, r: RunId, now: Instant) {
        if self.evicted == Some(r) {
            // A monitor's eviction: the run fails, as if it crashed; its
            // stop is no plan's and takes no place in any stop order.
            self.evicted = None;
            let v = self.view(r.node);
            v.stop_sent = true;
            v.stop_at = Some(now);
            v.evicted = true;
            return;
        }
        if self.view(r.node).stop_sent {
            let detail = format!("second stop for {} gen {}", Self::path(engine, r.node), r.generation);
            self.flag(now, Rule::StopOnce, detail);
        }
        let v = self.view(r.node);
        v.stop_sent = true;
        v.stop_at = Some(now);
        let on_start = self.just_started == Some(r);
        self.stop_issued(engine, r.node, true, on_start, now);
    }

    /// A supervisor started all its children.
    fn observe_sup_started(&mut self, sup: NodeId) {
        self.start_ends(sup);
        let v = self.view(sup);
        v.initialising = false;
        v.start_window = None;
        v.up = true;
    }

    /// A supervisor's parent asks it to stop.
    fn observe_sup_stop(&mut self, engine: &Engine, sup: NodeId, now: Instant) {
        self.view(sup).stop_at = Some(now);
        self.stop_issued(engine, sup, true, false, now);
        self.view(sup).stop_sent = true;
    }

    /// A restart waits for a backoff.
    fn observe_backoff(&mut self, child: NodeId) {
        // The round waits; its stops come later, after whatever the
        // supervisor does meanwhile: not checked against this window.
        if let Some(p) = self.view(child).parent {
            self.view(p).stop_window = None;
        }
    }

    /// A worker's new run is spawned.
    fn observe_spawn(&mut self, engine: &Engine, r: &RunId, now: Instant) {
        let v = self.view(r.node);
        if v.starting || v.up {
            let detail = format!(
                "{} spawned while its previous run is still live",
                Self::path(engine, r.node)
            );
            self.flag(now, Rule::OneLiveRun, detail);
        }
        self.check_not_ended_temporary(engine, r.node, now);
        // A new run: nothing of an earlier run (or an earlier node in
        // this arena slot) carries over.
        *self.view(r.node) = NodeView::default();
        let (parent, _) = self.resolve(engine, r.node, false);
        self.start_begins(engine, r.node, parent, now);
        let v = self.view(r.node);
        v.generation = r.generation;
        v.dormant = false;
    }

    /// A run or incarnation of `n` begins: learn its path (the one thing
    /// asked of the engine: ids are its to allocate), and from the specs
    /// given its restart type, readiness and shutdown policy, and from the
    /// supervisors seen starting its parent (`is_sup`: it is a supervisor
    /// starting an incarnation). Returns the parent and, for a supervisor,
    /// its spec.
    fn resolve(&mut self, engine: &Engine, n: NodeId, is_sup: bool) -> (Option<NodeId>, Option<Arc<SupervisorSpec>>) {
        let home = match self.homes.get(n.index()).copied().flatten() {
            Some(home) => home,
            None => self.find_home(engine, n, is_sup),
        };
        let facts = match (home.parent, home.pos) {
            (Some(p), Some(i)) => self
                .family(p)
                .and_then(|f| f.kids.get(i as usize))
                .map(|k| k.facts.clone()),
            _ => None,
        };
        let v = self.view(n);
        v.pos = home.pos;
        let sup = facts.and_then(|f: Facts| {
            v.restart = f.restart;
            v.readiness = f.readiness;
            v.shutdown = Some(f.shutdown);
            f.sup
        });
        (home.parent, sup)
    }

    /// Where `n` sits, by its path (written by the engine), and remember it;
    /// a supervisor's path now names it.
    fn find_home(&mut self, engine: &Engine, n: NodeId, is_sup: bool) -> Home {
        let mut path = std::mem::take(&mut self.path_buf);
        path.clear();
        engine.write_path(n, &mut path);
        let (parent, pos) = self.place(&path, true);
        let home = Home {
            parent,
            pos: pos.and_then(|i| u32::try_from(i).ok()),
        };
        if is_sup {
            self.sup_at.insert(path.clone(), n);
        }
        self.path_buf = path;
        let i = n.index();
        if i >= self.homes.len() {
            self.homes.resize(i + 1, None);
        }
        self.homes[i] = Some(home);
        home
    }

    /// The children of `sup` are gone (its end, or a new incarnation):
    /// forget where they sat.
    fn forget_children(&mut self, sup: NodeId) {
        for h in &mut self.homes {
            if h.is_some_and(|h| h.parent == Some(sup)) {
                *h = None;
            }
        }
    }

    /// The supervisor of the node at `path` (by the incarnations seen
    /// starting) and the node's position in its list; with `starting`, a
    /// pending `start_child` for a path the list lacks takes effect now (its
    /// child starts before its reply is noticed).
    fn place(&mut self, path: &str, starting: bool) -> (Option<NodeId>, Option<usize>) {
        let Some((parent_path, name)) = split_path(path) else {
            return (None, None);
        };
        let Some(&p) = self.sup_at.get(parent_path) else {
            return (None, None);
        };
        let mut pos = self.family(p).and_then(|f| f.position(name));
        if pos.is_none() && starting {
            if let Some(spec) = self.specs.take_start(path) {
                pos = self.family_mut(p).and_then(|f| {
                    f.apply(&spec);
                    f.position(name)
                });
            }
        }
        (Some(p), pos)
    }

    /// A child was removed from its supervisor: it keeps its place in the
    /// oracle's list, marked removed.
    fn observe_removed(&mut self, engine: &Engine, child: NodeId) {
        self.ended_temporaries.retain(|&(n, _)| n != child);
        let known = self.nodes.get(child.index()).and_then(|v| Some((v.parent?, v.pos?)));
        let place = match known {
            Some((p, pos)) => Some((p, usize::try_from(pos).unwrap_or(usize::MAX))),
            None => {
                // Never seen starting: find it by its path.
                let path = engine.path(child).unwrap_or_default();
                match self.place(&path, false) {
                    (Some(p), Some(pos)) => Some((p, pos)),
                    _ => None,
                }
            }
        };
        if let Some((p, pos)) = place {
            if let Some(kid) = self.family_mut(p).and_then(|f| f.kids.get_mut(pos)) {
                kid.removed = true;
            }
        }
        let v = self.view(child);
        v.pos = None;
        v.parent = None;
        if let Some(h) = self.homes.get_mut(child.index()) {
            *h = None;
        }
    }

    /// A request was answered: an accepted `start_child` or `replace_child`
    /// takes effect in its supervisor's list.
    fn observe_reply(&mut self, id: RequestId, result: &Result<Reply, RequestError>) {
        let Some((path, spec)) = self.specs.answered(id, result) else {
            return;
        };
        if let Some((parent_path, _)) = split_path(&path) {
            if let Some(&p) = self.sup_at.get(parent_path) {
                if let Some(f) = self.family_mut(p) {
                    f.apply(&spec);
                }
            }
        }
    }

    /// A supervisor decided to end.
    fn observe_sup_ending(&mut self, sup: &NodeId) {
        // Stops already in flight (from a plan the end pre-empted) keep
        // running; the end's own walk is checked on top of them.
        let in_flight: Vec<NodeId> = (0..self.nodes.len())
            .filter(|&i| {
                let v = &self.nodes[i];
                v.parent == Some(*sup) && v.stop_sent && (v.up || v.starting)
            })
            .filter_map(|i| u32::try_from(i).ok().map(NodeId::from_index))
            .collect();
        for c in &in_flight {
            self.view(*c).stop_inherited = true;
        }
        self.view(*sup).inherited_stops = in_flight.len() as u32;
        let v = self.view(*sup);
        v.ending = true;
        v.start_window = None;
        v.stop_window = Some(Window::Open);
    }

    /// A supervisor gave up: only after more than `intensity` decisions.
    fn observe_give_up(&mut self, engine: &Engine, sup: &NodeId, now: Instant) {
        let (count, intensity) = self.window_after(*sup, now);
        // Above MAX_EXACT_INTENSITY the engine's window is bounded and may
        // count a decision a little longer than its period: an early
        // give-up is allowed there, a late one never.
        if count < intensity && intensity <= MAX_EXACT_INTENSITY {
            let detail = format!(
                "{} gave up after {} decisions within its period (intensity {intensity})",
                Self::path(engine, *sup),
                count + 1
            );
            self.flag(now, Rule::Intensity, detail);
        }
    }
    /// A run ended: how, for the restart table; a graceful stop is over.
    fn observe_exited(&mut self, r: &RunId, reason: &vigil_core::ExitReason) {
        let was_starting = self.view(r.node).starting;
        self.start_ends(r.node);
        let v = self.view(r.node);
        let graceful = v.stop_sent && !v.evicted;
        // A kill for a missed deadline is a failure, not a stop: the
        // run ends with the reason reported (`health` when the world
        // reports it killed, or whatever it ended with before the kill
        // landed), as if by itself.
        let ordered_kill = v.kill_sent && !v.failure_kill && !v.evicted;
        v.up = false;
        v.last_end = if was_starting {
            End::StartFailed
        } else if graceful || ordered_kill {
            End::Stopped
        } else {
            End::ByItself {
                normal: reason.is_normal(),
            }
        };
        if graceful {
            self.graceful_stop_over(r.node);
        }
        // A run the engine itself was ending (evicted, or killed for a missed
        // deadline) may have been taken over by a plan's stop before it
        // exited (a restart_all reaching it): its end is then that plan's,
        // which may start it again. Only a failed start or an exit nobody
        // asked for certainly ends a temporary child.
        let v = self.view(r.node);
        let taken_over = v.evicted || v.failure_kill;
        match v.last_end {
            End::StartFailed => self.ended(r.node),
            End::ByItself { .. } if !taken_over => self.ended(r.node),
            _ => {}
        }
    }

    /// A supervisor starts a new incarnation.
    fn observe_sup_starting(&mut self, engine: &Engine, sup: &NodeId, now: Instant) {
        self.check_not_ended_temporary(engine, *sup, now);
        // Its children of an earlier incarnation were removed when it ended.
        self.ended_temporaries.retain(|&(_, p)| p != Some(*sup));
        // A new incarnation (possibly in a reused arena slot): start afresh.
        *self.view(*sup) = NodeView::default();
        let (parent, spec) = self.resolve(engine, *sup, true);
        self.forget_children(*sup);
        if parent.is_some() {
            self.start_begins(engine, *sup, parent, now);
        } else {
            self.view(*sup).starting = true;
        }
        // Its children anew: its spec's (the root's, as given).
        let family = match spec {
            Some(spec) => Family::of(&spec),
            None if *sup == NodeId::ROOT => self.specs.root.clone(),
            None => Family::default(),
        };
        let v = self.view(*sup);
        v.family = Some(family);
        v.ending = false;
        v.dormant = false;
        v.initialising = true;
        v.restarts.clear();
        v.stop_at = None;
        v.stop_window = None;
        v.start_window = Some(Window::Open);
        v.starting_children = 0;
        v.graceful_stops = 0;
    }

    /// A supervisor ended (or failed its start): after all its children.
    fn observe_sup_exit(&mut self, engine: &Engine, sup: &NodeId, reason: &vigil_core::ExitReason, now: Instant) {
        if let Some(c) = self.live_child(*sup) {
            let detail = format!(
                "{} ended while its child {} was still live",
                Self::path(engine, *sup),
                Self::path(engine, c)
            );
            self.flag(now, Rule::StopOrder, detail);
        }
        self.forget_children(*sup);
        let was_starting = self.view(*sup).starting;
        self.start_ends(*sup);
        let v = self.view(*sup);
        let asked = v.stop_sent;
        v.stop_sent = false;
        v.stop_at = None;
        v.ending = false;
        v.dormant = true;
        v.up = false;
        v.stop_window = None;
        v.last_end = if was_starting {
            End::StartFailed
        } else if asked {
            End::Stopped
        } else {
            End::ByItself {
                normal: reason.is_normal(),
            }
        };
        if asked {
            self.graceful_stop_over(*sup);
        }
        // Its children were removed with it, without a `removed` each.
        self.ended_temporaries.retain(|&(_, p)| p != Some(*sup));
        if !matches!(self.view(*sup).last_end, End::Stopped) {
            self.ended(*sup);
        }
    }
    fn observe_kill(&mut self, engine: &Engine, r: RunId, now: Instant) {
        if self.evicted == Some(r) {
            // Brutal shutdown: the eviction's stop is a kill at once.
            self.evicted = None;
            let v = self.view(r.node);
            v.kill_sent = true;
            v.evicted = true;
            return;
        }
        let timeout = self.timeout_kill.take() == Some(r);
        let parent = self.view(r.node).parent;
        let v = self.view(r.node);
        if v.kill_sent {
            let detail = format!("second kill for {} gen {}", Self::path(engine, r.node), r.generation);
            self.flag(now, Rule::KillDeadline, detail);
            return;
        }
        v.kill_sent = true;
        if timeout {
            v.failure_kill = true;
            return;
        }
        let stop_at = v.stop_at;
        let legal = match self.view(r.node).shutdown {
            Some(Shutdown::Brutal) => true,
            Some(Shutdown::Timeout(t)) => stop_at.is_some_and(|s| now >= s + t),
            _ => false,
        } || self.in_kill_mode(parent, now);
        if !legal {
            let detail = format!(
                "kill of {} gen {} before its deadline (stopped at {:?})",
                Self::path(engine, r.node),
                r.generation,
                stop_at.map(vigil_trace::format_time)
            );
            self.flag(now, Rule::KillDeadline, detail);
        }
        if stop_at.is_none() {
            self.view(r.node).stop_at = Some(now);
            let on_start = self.just_started == Some(r);
            self.stop_issued(engine, r.node, false, on_start, now);
        }
    }

    /// Prune the restart window of `sup` at `now`; (entries kept, intensity).
    fn window_after(&mut self, sup: NodeId, now: Instant) -> (u32, u32) {
        let v = self.view(sup);
        let (intensity, period) = v.family.as_ref().map_or((u32::MAX, Duration::ZERO), |f| f.intensity);
        let oldest = now.saturating_sub(period);
        while v.restarts.front().is_some_and(|&t| t < oldest) {
            v.restarts.pop_front();
        }
        (v.restarts.len() as u32, intensity)
    }

    fn observe_restart(&mut self, engine: &Engine, sup: NodeId, child: NodeId, strategy: Strategy, now: Instant) {
        let (count, intensity) = self.window_after(sup, now);
        if count >= intensity {
            let detail = format!(
                "{} took decision {} within its period without giving up (intensity {intensity})",
                Self::path(engine, sup),
                count + 1
            );
            self.flag(now, Rule::Intensity, detail);
        }
        self.view(sup).restarts.push_back(now);
        if matches!(strategy, Strategy::OneForAll | Strategy::RestForOne) {
            self.view(sup).stop_window = Some(Window::Open);
        }
        // A child the oracle never saw start: its spec, by its path.
        let restart = self.view(child).restart.or_else(|| {
            let path = engine.path(child).unwrap_or_default();
            match self.place(&path, false) {
                (Some(p), Some(i)) => self.family(p)?.kids.get(i)?.facts.restart,
                _ => None,
            }
        });
        let end = self.view(child).last_end;
        let legal = strategy != Strategy::OneTerminateAll
            && match (restart, end) {
                (_, End::StartFailed) => restart != Some(Restart::Temporary),
                (Some(Restart::Permanent), End::ByItself { .. }) => true,
                (Some(Restart::Transient), End::ByItself { normal }) => !normal,
                _ => false,
            };
        if !legal {
            let detail = format!(
                "{} restarts {} ({:?}) after {:?}",
                Self::path(engine, sup),
                Self::path(engine, child),
                restart,
                end
            );
            self.flag(now, Rule::RestartTable, detail);
        }
    }
}

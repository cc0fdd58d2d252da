//! The reference model: the supervision rules of docs/SEMANTICS.md written as
//! the plainest program that could state them. It is the specification the
//! engine is compared with, not an engine: a tree of owned nodes, recursion,
//! no mailbox, no plans, no timers.
//!
//! It can be this simple because the world it lives in answers at once
//! (`behaviour.rs`): a spawn is up or has failed before anything else happens,
//! and a stop is over (at once, or killed at its deadline) before the next
//! one begins. Every operation below therefore runs to its end in one go, as
//! OTP's supervisor does with its blocking `start_link` and `shutdown` calls,
//! and each step leaves a settled tree.
//!
//! Modelled: one_for_one, one_for_all and rest_for_one; permanent, transient
//! and temporary children; intensity and period (an inclusive sliding window
//! of decisions) with give-up and escalation through any depth; failed
//! starts (first start, restart rounds with retries, operator starts);
//! ordered shutdown with brutal, timeout (and a kill at the deadline) and
//! infinity, for workers and for supervisor children (whose policy bounds
//! their subtree); significant children and auto_shutdown; start_child,
//! terminate_child, restart_child, delete_child, which_children,
//! count_children and shutdown; and the simple extensions one_terminate_all,
//! lifespan transient, restart_all, replace_child and the parallel shutdown
//! order (of a supervisor of workers). What it leaves out is listed in
//! `main.rs`.

use std::time::Duration;

use vigil_core::{
    AutoShutdown, ChildKind, ChildSpec, ExitReason, Instant, Lifespan, Restart, Shutdown, ShutdownOrder, Strategy,
    SupervisorSpec,
};

use crate::behaviour::Behaviour;
use crate::observation::{child_line, command_line, counts_line, which_children_line};
use crate::transition::{Op, Transition};

/// One child, as its supervisor knows it.
#[derive(Clone)]
pub struct Child {
    /// Its spec (name, restart type, shutdown, significance, kind).
    pub spec: ChildSpec,
    /// Added by `start_child`.
    pub dynamic: bool,
    /// Up (otherwise stopped: never started, ended, terminated).
    pub running: bool,
    /// Of its current or last start (0 if never started).
    pub generation: u64,
    /// A supervisor child's own state; `None` for a worker.
    pub sup: Option<Sup>,
}

/// A supervisor: its spec, its children (none while it is stopped), and the
/// times of its automatic restart decisions.
#[derive(Clone)]
pub struct Sup {
    /// Its spec.
    pub spec: SupervisorSpec,
    /// Its children, in start order.
    pub children: Vec<Child>,
    /// When it decided each automatic restart still inside its period.
    pub restarts: Vec<Instant>,
}

/// Everything around the tree: the clock, the generation counter, the
/// world's behaviour, and the commands emitted during the current step.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// Virtual time.
    pub now: Instant,
    /// The next generation (one counter for every start, supervisors too).
    pub next_generation: u64,
    /// How the world answers.
    pub behaviour: Behaviour,
    /// Commands of the current step, rendered.
    pub commands: Vec<String>,
    /// Shutdown deadlines of the supervisor children being stopped now,
    /// outermost first.
    pub deadlines: Vec<Instant>,
    /// The one of them that expired: every stop under it is now a kill.
    pub expired: Option<usize>,
}

/// The whole model: the root supervisor and its world.
#[derive(Clone)]
pub struct Model {
    /// The root.
    pub root: Sup,
    /// How the world behaved before the first start.
    pub initial: Behaviour,
    /// The world around it.
    pub ctx: Ctx,
    /// The root has ended: nothing runs any more.
    pub down: bool,
    /// The answer to the last step's request.
    pub reply: Option<String>,
}

impl Child {
    fn new(spec: &ChildSpec, dynamic: bool) -> Child {
        let sup = match &spec.kind {
            ChildKind::Supervisor(s) => Some(Sup::new((**s).clone())),
            ChildKind::Worker => None,
        };
        Child {
            spec: spec.clone(),
            dynamic,
            running: false,
            generation: 0,
            sup,
        }
    }

    fn temporary(&self) -> bool {
        self.spec.restart == Restart::Temporary
    }
}

impl Sup {
    fn new(spec: SupervisorSpec) -> Sup {
        Sup {
            spec,
            children: Vec::new(),
            restarts: Vec::new(),
        }
    }
}

impl Ctx {
    fn generation(&mut self) -> u64 {
        self.next_generation += 1;
        self.next_generation - 1
    }

    fn emit(&mut self, verb: &str, path: &str, generation: u64) {
        self.commands.push(command_line(self.now, verb, path, generation));
    }
}

/// `parent/name`, or `name` under the root.
pub fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

/// `normal`, `shutdown` and `shutdown(..)` are normal (§3).
fn is_normal(reason: &ExitReason) -> bool {
    matches!(reason, ExitReason::Normal | ExitReason::Shutdown(_))
}

// ---------------------------------------------------------------- starting

/// Start child `i` of the supervisor at `path` (§1, §6). A worker's start is
/// one `Spawn`; a supervisor's starts its own children. A failed start
/// leaves the child stopped and returns the error.
fn start_child(ctx: &mut Ctx, path: &str, sup: &mut Sup, i: usize) -> Result<(), String> {
    let child = &mut sup.children[i];
    let child_path = join(path, &child.spec.name);
    child.generation = ctx.generation();
    let result = match &mut child.sup {
        None => {
            ctx.emit("spawn", &child_path, child.generation);
            match ctx.behaviour.take_start_failure(&child_path) {
                Some(_) => Err(format!("{child_path} failed to start")),
                None => Ok(()),
            }
        }
        Some(inner) => start_sup(ctx, &child_path, inner),
    };
    child.running = result.is_ok();
    result
}

/// A supervisor's (first) start: its static children, afresh, in order, with
/// an empty restart history (§5, §11). The first failure stops the children
/// already started, last first, and fails the whole start (§6).
fn start_sup(ctx: &mut Ctx, path: &str, sup: &mut Sup) -> Result<(), String> {
    sup.children = sup.spec.children.iter().map(|c| Child::new(c, false)).collect();
    sup.restarts.clear();
    for i in 0..sup.children.len() {
        if let Err(e) = start_child(ctx, path, sup, i) {
            stop_all(ctx, path, sup);
            sup.children.clear();
            return Err(e);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- stopping

/// Stop child `i` of the supervisor at `path` if it runs, by its shutdown
/// policy (§7). A supervisor child stops its own children in order; brutal,
/// it has every run under it killed at once; with a timeout, every run
/// still alive under it when the timeout expires is killed then.
fn stop_child(ctx: &mut Ctx, path: &str, sup: &mut Sup, i: usize) {
    let child = &mut sup.children[i];
    if !child.running {
        return;
    }
    child.running = false;
    let child_path = join(path, &child.spec.name);
    let policy = child.spec.shutdown_policy();
    let Some(inner) = &mut child.sup else {
        return stop_worker(ctx, &child_path, child.generation, policy);
    };
    match policy {
        Shutdown::Brutal => kill_all(ctx, &child_path, inner),
        Shutdown::Infinity => stop_all(ctx, &child_path, inner),
        Shutdown::Timeout(t) => {
            ctx.deadlines.push(ctx.now.saturating_add(t));
            stop_all(ctx, &child_path, inner);
            ctx.deadlines.pop();
            if ctx.expired == Some(ctx.deadlines.len()) {
                ctx.expired = None;
            }
        }
    }
    inner.children.clear();
}

/// Stop one worker run (§7): brutal, or under an expired deadline, a `Kill`;
/// a timeout, a `Stop`, and if the run ignores it a `Kill` at exactly its
/// deadline, or earlier at the deadline of a supervisor above it, which then
/// kills everything still alive under that supervisor; infinity, a `Stop`.
fn stop_worker(ctx: &mut Ctx, path: &str, generation: u64, policy: Shutdown) {
    if ctx.expired.is_some() || policy == Shutdown::Brutal {
        return ctx.emit("kill", path, generation);
    }
    ctx.emit("stop", path, generation);
    let Shutdown::Timeout(t) = policy else { return };
    if !ctx.behaviour.ignores_stop(path, generation) {
        return;
    }
    let own = ctx.now.saturating_add(t);
    let first = ctx.deadlines.iter().copied().enumerate().min_by_key(|&(_, d)| d);
    match first {
        Some((k, d)) if d < own => {
            ctx.now = d;
            ctx.expired = Some(k);
        }
        _ => ctx.now = own,
    }
    ctx.emit("kill", path, generation);
}

/// Stop every running child of the supervisor at `path` as it ends, by its
/// shutdown order (§7): last first, each after the one before it has ended;
/// or \[ext\] all at once.
fn stop_all(ctx: &mut Ctx, path: &str, sup: &mut Sup) {
    if sup.spec.shutdown_order == ShutdownOrder::Parallel {
        return stop_all_at_once(ctx, path, sup);
    }
    for i in (0..sup.children.len()).rev() {
        stop_child(ctx, path, sup, i);
    }
}

/// \[ext\] The parallel shutdown order (§7): every running child is asked at
/// this instant, last first (brutal, or under an expired deadline, a `Kill`;
/// otherwise a `Stop`). Each run that ignores its stop is killed at its own
/// deadline, now + its timeout, earliest first (equal deadlines in the order
/// the stops went out), unless the deadline of a supervisor above comes
/// first: then every run still alive is killed at that deadline, last first.
/// Only workers are modelled under a parallel supervisor (`strategies.rs`
/// generates no other).
fn stop_all_at_once(ctx: &mut Ctx, path: &str, sup: &mut Sup) {
    let now = ctx.now;
    // (deadline, path, generation) of the runs that ignore their stop, in stop order.
    let mut hanging: Vec<(Instant, String, u64)> = Vec::new();
    for child in sup.children.iter_mut().rev().filter(|c| c.running) {
        assert!(child.sup.is_none(), "a supervisor under a parallel one is not modelled");
        child.running = false;
        let child_path = join(path, &child.spec.name);
        let policy = child.spec.shutdown_policy();
        if ctx.expired.is_some() || policy == Shutdown::Brutal {
            ctx.emit("kill", &child_path, child.generation);
            continue;
        }
        ctx.emit("stop", &child_path, child.generation);
        if let Shutdown::Timeout(t) = policy {
            if ctx.behaviour.ignores_stop(&child_path, child.generation) {
                hanging.push((now.saturating_add(t), child_path, child.generation));
            }
        }
    }
    let mut by_deadline: Vec<usize> = (0..hanging.len()).collect();
    by_deadline.sort_by_key(|&i| hanging[i].0); // stable: ties keep the stop order
    let outer = ctx.deadlines.iter().copied().enumerate().min_by_key(|&(_, d)| d);
    for (n, &i) in by_deadline.iter().enumerate() {
        let (own, child_path, generation) = &hanging[i];
        if let Some((k, d)) = outer.filter(|&(_, d)| d < *own) {
            ctx.now = d;
            ctx.expired = Some(k);
            let mut left: Vec<usize> = by_deadline[n..].to_vec();
            left.sort_unstable();
            for j in left {
                ctx.emit("kill", &hanging[j].1, hanging[j].2);
            }
            return;
        }
        ctx.now = *own;
        ctx.emit("kill", child_path, *generation);
    }
}

/// Kill every run under the supervisor at `path` at once: depth-first, last
/// child first (a brutal supervisor child, §7).
fn kill_all(ctx: &mut Ctx, path: &str, sup: &mut Sup) {
    for child in sup.children.iter_mut().rev().filter(|c| c.running) {
        child.running = false;
        let child_path = join(path, &child.spec.name);
        match &mut child.sup {
            None => ctx.emit("kill", &child_path, child.generation),
            Some(inner) => kill_all(ctx, &child_path, inner),
        }
    }
    sup.children.clear();
}

/// The supervisor at `path` ends with `reason`: it stops all its children,
/// last first, and forgets them (§4, §5, §7, §8).
fn end(ctx: &mut Ctx, path: &str, sup: &mut Sup, reason: ExitReason) -> ExitReason {
    stop_all(ctx, path, sup);
    sup.children.clear();
    reason
}

// ---------------------------------------------------------------- exits

/// Child `i` of the supervisor at `path` ended by itself with `reason` (§3,
/// §4, §8). Returns the reason the supervisor itself ends with, if it ends.
fn child_ended(ctx: &mut Ctx, path: &str, sup: &mut Sup, i: usize, reason: &ExitReason) -> Option<ExitReason> {
    let child = &mut sup.children[i];
    child.running = false;
    if sup.spec.strategy == Strategy::OneTerminateAll {
        return Some(end(ctx, path, sup, reason.clone()));
    }
    let restart = match child.spec.restart {
        Restart::Permanent => true,
        Restart::Transient => !is_normal(reason),
        Restart::Temporary => false,
    };
    if restart {
        return restart_round(ctx, path, sup, i);
    }
    let significant = child.spec.significant;
    if child.temporary() {
        sup.children.remove(i);
    }
    let auto_shutdown = match sup.spec.auto_shutdown {
        AutoShutdown::Never => false,
        AutoShutdown::AnySignificant => true,
        AutoShutdown::AllSignificant => !sup.children.iter().any(|c| c.spec.significant && c.running),
    };
    let nothing_left = !sup.children.iter().any(|c| c.running);
    if significant && auto_shutdown {
        Some(end(ctx, path, sup, ExitReason::shutdown()))
    } else if sup.spec.lifespan == Lifespan::Transient && nothing_left {
        Some(end(ctx, path, sup, ExitReason::Normal))
    } else {
        None
    }
}

/// One more automatic restart decision at `now` (§5): the window keeps the
/// decisions at most `period` old (inclusive); more than `intensity` of them
/// means give up.
fn gives_up(sup: &mut Sup, now: Instant) -> bool {
    let period: Duration = sup.spec.period;
    sup.restarts.retain(|t| t.saturating_add(period) >= now);
    sup.restarts.push(now);
    sup.restarts.len() > sup.spec.intensity as usize
}

/// Restart after child `i` ended, by the strategy (§4), retrying after every
/// failed start (§6) until the round succeeds or the supervisor gives up.
fn restart_round(ctx: &mut Ctx, path: &str, sup: &mut Sup, i: usize) -> Option<ExitReason> {
    let mut failed = sup.children[i].spec.name.clone();
    let position = |sup: &Sup, name: &str| sup.children.iter().position(|c| c.spec.name == name);
    loop {
        if gives_up(sup, ctx.now) {
            return Some(end(ctx, path, sup, ExitReason::shutdown()));
        }
        let i = position(sup, &failed)?;
        let stop_from = match sup.spec.strategy {
            Strategy::OneForOne => sup.children.len(),
            Strategy::OneForAll => 0,
            Strategy::RestForOne => i + 1,
            Strategy::OneTerminateAll => panic!("one_terminate_all is not modelled"),
        };
        // Temporary children in the part the round stops are gone (§4), even
        // one that was already stopped (a replace_child made it temporary):
        // OTP's terminate_children removes every temporary child it walks.
        let stopped = &sup.children[stop_from..];
        let gone: Vec<String> = stopped
            .iter()
            .filter(|c| c.temporary())
            .map(|c| c.spec.name.clone())
            .collect();
        for j in (stop_from..sup.children.len()).rev() {
            stop_child(ctx, path, sup, j);
        }
        sup.children.retain(|c| !gone.contains(&c.spec.name));
        let i = position(sup, &failed)?;
        let starts = match sup.spec.strategy {
            Strategy::OneForOne => i..i + 1,
            Strategy::OneForAll => 0..sup.children.len(),
            _ => i..sup.children.len(),
        };
        match start_stopped(ctx, path, sup, starts) {
            Ok(()) => return None,
            Err(name) => failed = name,
        }
    }
}

/// Start every stopped child in `range`, in order; the name of the first
/// that fails to start.
fn start_stopped(ctx: &mut Ctx, path: &str, sup: &mut Sup, range: std::ops::Range<usize>) -> Result<(), String> {
    for j in range {
        if !sup.children[j].running && start_child(ctx, path, sup, j).is_err() {
            return Err(sup.children[j].spec.name.clone());
        }
    }
    Ok(())
}

/// The child at `idx` (indices from the root) ended with `reason`; a
/// supervisor that ends because of it is an ended child of its own parent,
/// up to the root (escalation, §5).
fn exit_at(ctx: &mut Ctx, path: &str, sup: &mut Sup, idx: &[usize], reason: &ExitReason) -> Option<ExitReason> {
    let (&i, rest) = idx.split_first()?;
    if rest.is_empty() {
        return child_ended(ctx, path, sup, i, reason);
    }
    let child_path = join(path, &sup.children[i].spec.name);
    let inner = sup.children[i].sup.as_mut()?;
    let ended = exit_at(ctx, &child_path, inner, rest, reason)?;
    child_ended(ctx, path, sup, i, &ended)
}

// ---------------------------------------------------------------- the model

/// Where a path leads in the live tree (through running supervisors only:
/// a stopped supervisor has no children, §13).
pub enum Found {
    /// The root (`""`).
    Root,
    /// A child: its indices from the root.
    Child(Vec<usize>),
    /// Nothing.
    Missing,
}

impl Model {
    /// The tree of `spec`, started at time zero in a world that behaves as
    /// `behaviour` says (a first start may fail).
    pub fn start(spec: SupervisorSpec, behaviour: Behaviour) -> Model {
        let mut model = Model {
            root: Sup::new(spec),
            initial: behaviour.clone(),
            ctx: Ctx {
                now: Instant::ZERO,
                next_generation: 1,
                behaviour,
                commands: Vec::new(),
                deadlines: Vec::new(),
                expired: None,
            },
            down: false,
            reply: None,
        };
        model.ctx.generation();
        if start_sup(&mut model.ctx, "", &mut model.root).is_err() {
            model.down = true;
        }
        model
    }

    /// Apply one transition; the commands it caused are in `ctx.commands`,
    /// the answer to a request in `reply`.
    pub fn apply(&mut self, transition: &Transition) {
        self.ctx.commands.clear();
        self.reply = None;
        match transition {
            Transition::Exit { path, reason } => {
                if let Found::Child(idx) = self.find(path) {
                    if exit_at(&mut self.ctx, "", &mut self.root, &idx, reason).is_some() {
                        self.down = true;
                    }
                }
            }
            Transition::FailStarts { path, count, mode } => self.ctx.behaviour.fail_starts(path, *count, *mode),
            Transition::HangOnStop { path } => {
                if let Some(child) = self.child(path) {
                    let generation = child.generation;
                    self.ctx.behaviour.hang_on_stop(path, generation);
                }
            }
            Transition::Advance(d) => self.ctx.now = self.ctx.now.saturating_add(*d),
            Transition::Request(op) => self.reply = Some(self.request(op)),
        }
    }

    /// Find `path` in the live tree.
    pub fn find(&self, path: &str) -> Found {
        if path.is_empty() {
            return Found::Root;
        }
        let names: Vec<&str> = path.split('/').collect();
        let mut sup = &self.root;
        let mut idx = Vec::new();
        for (k, name) in names.iter().enumerate() {
            let Some(i) = sup.children.iter().position(|c| c.spec.name == *name) else {
                return Found::Missing;
            };
            idx.push(i);
            if k + 1 < names.len() {
                match &sup.children[i].sup {
                    Some(inner) if sup.children[i].running => sup = inner,
                    _ => return Found::Missing,
                }
            }
        }
        Found::Child(idx)
    }

    /// The child at `path`, if the live tree has one.
    pub fn child(&self, path: &str) -> Option<&Child> {
        let Found::Child(idx) = self.find(path) else {
            return None;
        };
        let (last, parents) = idx.split_last()?;
        Some(&self.sup_at(parents).children[*last])
    }

    fn sup_at(&self, idx: &[usize]) -> &Sup {
        idx.iter().fold(&self.root, |sup, &i| {
            sup.children[i].sup.as_ref().expect("indices through supervisors")
        })
    }

    /// An operator request (§11); its final answer.
    fn request(&mut self, op: &Op) -> String {
        if self.down {
            return "error(tree_down)".into();
        }
        match op {
            Op::StartChild { parent, spec } => self.start_child(parent, spec),
            Op::Shutdown => {
                end(&mut self.ctx, "", &mut self.root, ExitReason::shutdown());
                self.down = true;
                "ok".into()
            }
            Op::RestartAll { path, rolling } => match self.supervisor_at(path) {
                Ok(idx) => restart_all(&mut self.ctx, path, descend(&mut self.root, &idx), *rolling),
                Err(e) => e,
            },
            Op::TerminateChild(path)
            | Op::RestartChild(path)
            | Op::DeleteChild(path)
            | Op::ReplaceChild { path, .. } => {
                let idx = match self.find(path) {
                    Found::Root => return "error(root_not_allowed)".into(),
                    Found::Missing => return "error(not_found)".into(),
                    Found::Child(idx) => idx,
                };
                let (&i, parent) = idx.split_last().expect("a child has indices");
                let parent_path = path.rsplit_once('/').map_or("", |(p, _)| p).to_owned();
                let (ctx, sup) = (&mut self.ctx, descend(&mut self.root, parent));
                match op {
                    Op::TerminateChild(_) => terminate_child(ctx, &parent_path, sup, i),
                    Op::RestartChild(_) => restart_child(ctx, &parent_path, sup, i),
                    Op::ReplaceChild { spec, .. } => replace_child(sup, i, spec),
                    _ => delete_child(sup, i),
                }
            }
        }
    }

    /// `start_child(parent, spec)` (§11): a new dynamic child at the end of
    /// start order; a failed start keeps nothing.
    fn start_child(&mut self, parent: &str, spec: &ChildSpec) -> String {
        let idx = match self.supervisor_at(parent) {
            Ok(idx) => idx,
            Err(e) => return e,
        };
        let (ctx, sup) = (&mut self.ctx, descend(&mut self.root, &idx));
        if let Some(other) = sup.children.iter().find(|c| c.spec.name == spec.name) {
            let code = if other.running {
                "already_started"
            } else {
                "already_present"
            };
            return format!("error({code})");
        }
        sup.children.push(Child::new(spec, true));
        let i = sup.children.len() - 1;
        match start_child(ctx, parent, sup, i) {
            Ok(()) => started(&sup.children[i]),
            Err(_) => {
                sup.children.remove(i);
                "error(start_failed)".into()
            }
        }
    }

    /// The running supervisor at `path` (a request's target), or the answer
    /// for a path that names none.
    fn supervisor_at(&self, path: &str) -> Result<Vec<usize>, String> {
        let idx = match self.find(path) {
            Found::Missing => return Err("error(not_found)".into()),
            Found::Root => Vec::new(),
            Found::Child(idx) => idx,
        };
        if let Some((&last, up)) = idx.split_last() {
            let child = &self.sup_at(up).children[last];
            if child.sup.is_none() {
                return Err("error(not_a_supervisor)".into());
            }
            if !child.running {
                return Err("error(not_running)".into());
            }
        }
        Ok(idx)
    }

    /// `which_children` of every supervisor, root first, each before the
    /// supervisors below it (a stopped supervisor has no children: an empty
    /// list, docs/SEMANTICS.md §11).
    pub fn children_view(&self) -> Vec<String> {
        if self.down {
            return vec!["tree down".into()];
        }
        let mut out = Vec::new();
        view(&self.root, "", &mut out);
        out
    }
}

// ---------------------------------------------------------------- queries

impl Model {
    /// Every child in the live tree with its path, parents before children.
    fn walk(&self) -> Vec<(String, &Child)> {
        fn go<'a>(sup: &'a Sup, path: &str, out: &mut Vec<(String, &'a Child)>) {
            for c in &sup.children {
                let child_path = join(path, &c.spec.name);
                out.push((child_path.clone(), c));
                if let Some(inner) = &c.sup {
                    go(inner, &child_path, out);
                }
            }
        }
        let mut out = Vec::new();
        if !self.down {
            go(&self.root, "", &mut out);
        }
        out
    }

    /// The running workers and their shutdown policies.
    pub fn running_workers(&self) -> Vec<(String, Shutdown)> {
        let running = self.walk().into_iter().filter(|(_, c)| c.running && c.sup.is_none());
        running.map(|(p, c)| (p, c.spec.shutdown_policy())).collect()
    }

    /// Every node's path (the root excluded).
    pub fn paths(&self) -> Vec<String> {
        self.walk().into_iter().map(|(p, _)| p).collect()
    }

    /// The paths of the children that are stopped.
    pub fn stopped_paths(&self) -> Vec<String> {
        self.walk()
            .into_iter()
            .filter(|(_, c)| !c.running)
            .map(|(p, _)| p)
            .collect()
    }

    /// Every worker's path, running or not.
    pub fn worker_paths(&self) -> Vec<String> {
        let workers = self.walk().into_iter().filter(|(_, c)| c.sup.is_none());
        workers.map(|(p, _)| p).collect()
    }

    /// Whether the supervisor at `path` (running, or the root) has the
    /// parallel shutdown order.
    pub fn is_parallel(&self, path: &str) -> bool {
        let spec = match self.find(path) {
            Found::Root => &self.root.spec,
            Found::Child(idx) => match idx.split_last() {
                Some((&last, up)) => match &self.sup_at(up).children[last].sup {
                    Some(inner) => &inner.spec,
                    None => return false,
                },
                None => return false,
            },
            Found::Missing => return false,
        };
        spec.shutdown_order == ShutdownOrder::Parallel
    }

    /// The root's path and every supervisor child's.
    pub fn supervisor_paths(&self) -> Vec<String> {
        let sups = self.walk().into_iter().filter(|(_, c)| c.sup.is_some());
        std::iter::once(String::new()).chain(sups.map(|(p, _)| p)).collect()
    }
}

/// The supervisor at `idx` (indices from the root, through supervisors).
fn descend<'a>(root: &'a mut Sup, idx: &[usize]) -> &'a mut Sup {
    idx.iter().fold(root, |sup, &i| {
        sup.children[i].sup.as_mut().expect("indices through supervisors")
    })
}

fn view(sup: &Sup, path: &str, out: &mut Vec<String>) {
    let supervisors = sup.children.iter().filter(|c| c.sup.is_some()).count();
    let active = sup.children.iter().filter(|c| c.running).count();
    let total = sup.children.len();
    out.push(counts_line(path, total, active, supervisors, total - supervisors));
    out.push(which_children_line(path));
    for c in &sup.children {
        let state = if c.running { "running" } else { "stopped" };
        out.push(child_line(
            &c.spec.name,
            c.sup.is_some(),
            c.dynamic,
            state,
            c.generation,
        ));
    }
    for c in &sup.children {
        let child_path = join(path, &c.spec.name);
        if let Some(inner) = &c.sup {
            view(inner, &child_path, out);
        }
    }
}

/// The answer to a start: `started gen=N` for a worker, `started` for a supervisor.
fn started(child: &Child) -> String {
    match child.sup {
        None => format!("started gen={}", child.generation),
        Some(_) => "started".into(),
    }
}

/// `terminate_child` (§11): stop it if it runs; a temporary child is removed;
/// never a restart, never auto_shutdown.
fn terminate_child(ctx: &mut Ctx, path: &str, sup: &mut Sup, i: usize) -> String {
    stop_child(ctx, path, sup, i);
    if sup.children[i].temporary() {
        sup.children.remove(i);
    }
    "ok".into()
}

/// `restart_child` (§11): only a stopped child is started; a failed start
/// leaves it stopped (a temporary one removed, §3).
fn restart_child(ctx: &mut Ctx, path: &str, sup: &mut Sup, i: usize) -> String {
    if sup.children[i].running {
        return "error(running)".into();
    }
    match start_child(ctx, path, sup, i) {
        Ok(()) => started(&sup.children[i]),
        Err(_) => {
            if sup.children[i].temporary() {
                sup.children.remove(i);
            }
            "error(start_failed)".into()
        }
    }
}

/// `delete_child` (§11): only a stopped child's spec is removed.
fn delete_child(sup: &mut Sup, i: usize) -> String {
    if sup.children[i].running {
        return "error(running)".into();
    }
    sup.children.remove(i);
    "ok".into()
}

/// \[ext\] `replace_child` (§11): a stopped child gets the new spec in
/// place, keeping its position; it stays stopped.
fn replace_child(sup: &mut Sup, i: usize, spec: &ChildSpec) -> String {
    let child = &mut sup.children[i];
    if child.running {
        return "error(running)".into();
    }
    if spec.name != child.spec.name {
        return "error(name_mismatch)".into();
    }
    let replaced = Child::new(spec, child.dynamic);
    *child = Child {
        generation: child.generation,
        ..replaced
    };
    "ok".into()
}

/// \[ext\] `restart_all` (§11): the children running now are restarted,
/// all at once (stopped last first, then started in order, every one even
/// after a failure) or rolling (each stopped and started before the next;
/// the first failure ends the rollout). A temporary child whose start
/// fails is removed (§3). No restart decision is counted. The answer is the
/// first failure, if any.
fn restart_all(ctx: &mut Ctx, path: &str, sup: &mut Sup, rolling: bool) -> String {
    let names: Vec<String> = sup
        .children
        .iter()
        .filter(|c| c.running)
        .map(|c| c.spec.name.clone())
        .collect();
    let position = |sup: &Sup, name: &str| sup.children.iter().position(|c| c.spec.name == name);
    if !rolling {
        for name in names.iter().rev() {
            let i = position(sup, name).expect("stopping removes nothing");
            stop_child(ctx, path, sup, i);
        }
    }
    let mut answer = "ok".to_owned();
    for name in &names {
        let i = position(sup, name).expect("only a failed start removes a child");
        if rolling {
            stop_child(ctx, path, sup, i);
        }
        if start_child(ctx, path, sup, i).is_err() {
            if sup.children[i].temporary() {
                sup.children.remove(i);
            }
            if answer == "ok" {
                answer = "error(start_failed)".into();
            }
            if rolling {
                break;
            }
        }
    }
    answer
}

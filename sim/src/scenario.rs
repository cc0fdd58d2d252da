//! What the simulated world does: the behaviour model of every worker, the
//! faults the seed picked and the script, as a [`Policy`] over the one
//! [`World`]. It answers the engine's commands by scheduling happenings, and
//! applies those happenings when their time comes.

use std::collections::BTreeMap;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use vigil_config::{Action, SimBehaviour};
use vigil_core::{
    Command, Engine, ExitReason, Input, Instant, NodeId, Readiness, Request, Restart, RestartAllMode, RunId,
};

use crate::behaviour::{chance, exponential, index, lifetime, uniform};
use crate::fault_plan::FaultPlan;
use crate::happening_queue::{HappeningKind, HappeningQueue, Why, ACTION, WORLD};
use crate::options::SimOptions;
use crate::runs::RunPhase;
use crate::sim_tree::SimTree;
use crate::watch::Watch;
use crate::world::{Policy, World};

/// The world of a simulated run.
pub(crate) type SimWorld = World<Watch>;

/// The tag the simulator gives children it adds at run time: default behaviour.
const DYNAMIC_TAG: u64 = u64::MAX - 1;

/// Reasons for injected crashes, weighted by repetition.
const CRASH_REASONS: [&str; 10] = [
    "error(simulated crash)",
    "error(simulated crash)",
    "error(simulated crash)",
    "error(simulated crash)",
    "error(simulated crash)",
    "panic(simulated panic)",
    "killed",
    "normal",
    "shutdown",
    "memory",
];

/// What the scenario adds to the world's truth about a live run.
#[derive(Clone, Copy, Debug, Default)]
struct Quirks {
    /// Ignores `Stop`.
    hang: bool,
    /// A `Stop` arrived and was ignored (released when faults end).
    stop_ignored: bool,
    /// Stopped sending heartbeats.
    silent: bool,
}

/// The simulated world's policy.
pub(crate) struct Scenario<'a> {
    tree: &'a SimTree,
    opts: &'a SimOptions,
    rng: ChaCha8Rng,
    pub(crate) faults: FaultPlan,
    pub(crate) queue: HappeningQueue,
    /// By node index; meaningful for the node's live run only (reset at its spawn).
    quirks: Vec<Quirks>,
    fail_starts: BTreeMap<String, u32>,
    /// Reused buffers (no allocation per fault).
    scratch_nodes: Vec<NodeId>,
    scratch_runs: Vec<RunId>,
    /// Faults are on (the faulty phase).
    pub(crate) faulty: bool,
    /// The liveness phase runs and will be judged.
    pub(crate) liveness: bool,
    /// The run is over.
    pub(crate) finished: bool,
}

impl Policy<Watch> for Scenario<'_> {
    fn command(&mut self, w: &mut SimWorld, cmd: Command) {
        match cmd {
            Command::Spawn(run) => self.spawned(w, run),
            Command::Stop(run) => {
                let latency = self.behaviour(w.engine(), run.node).stop_latency;
                let q = self.quirks(run.node);
                if q.hang {
                    q.stop_ignored = true;
                } else {
                    self.after(w, latency, HappeningKind::StopDone(run));
                }
            }
            Command::Kill(run) => self.after(w, Duration::ZERO, HappeningKind::Killed(run)),
        }
    }
}

impl<'a> Scenario<'a> {
    pub(crate) fn new(tree: &'a SimTree, opts: &'a SimOptions, rng: ChaCha8Rng, faults: FaultPlan) -> Self {
        Scenario {
            tree,
            opts,
            rng,
            faults,
            queue: HappeningQueue::default(),
            quirks: Vec::new(),
            fail_starts: BTreeMap::new(),
            scratch_nodes: Vec::new(),
            scratch_runs: Vec::new(),
            faulty: true,
            liveness: false,
            finished: false,
        }
    }

    /// Schedule the script, the faults and the end of the faulty phase.
    pub(crate) fn schedule_initial(&mut self) {
        if let Some(script) = &self.opts.script {
            for (i, a) in script.actions.iter().enumerate() {
                self.queue.at(Instant::ZERO + a.time, ACTION, HappeningKind::Script(i));
            }
        }
        let end = Instant::ZERO + self.opts.duration;
        let f = self.faults.clone();
        if let Some(d) = f.crash_every {
            let t = exponential(&mut self.rng, d);
            self.queue.at(Instant::ZERO + t, ACTION, HappeningKind::Crash);
        }
        for _ in 0..f.storms {
            let t = uniform(&mut self.rng, Duration::ZERO, self.opts.duration);
            self.queue.at(Instant::ZERO + t, ACTION, HappeningKind::Storm);
        }
        for _ in 0..f.simultaneous {
            let t = uniform(&mut self.rng, Duration::ZERO, self.opts.duration);
            self.queue.at(Instant::ZERO + t, ACTION, HappeningKind::Simultaneous);
        }
        if let Some(d) = f.stale_every {
            let t = exponential(&mut self.rng, d);
            self.queue.at(Instant::ZERO + t, ACTION, HappeningKind::Stale);
        }
        if let Some(d) = f.requests_every {
            let t = exponential(&mut self.rng, d);
            self.queue.at(Instant::ZERO + t, ACTION, HappeningKind::RandomRequest);
        }
        self.queue
            .at(end, crate::happening_queue::END, HappeningKind::EndOfFaults);
    }

    /// Schedule a world reaction `d` from now (saturating at the end of
    /// virtual time, `Instant::MAX`, where it still happens, once).
    fn after(&mut self, w: &SimWorld, d: Duration, kind: HappeningKind) {
        self.queue.at(w.now() + d, WORLD, kind);
    }

    fn after_action(&mut self, w: &SimWorld, d: Duration, kind: HappeningKind) {
        self.queue.at(w.now() + d, ACTION, kind);
    }

    /// Schedule `run`'s next heartbeat `d` from now, unless that is the end of
    /// virtual time (`Instant::MAX`, about 584 years, reached only by
    /// saturated durations): there a heartbeat would re-arm itself at the same
    /// instant for ever, so it never comes.
    fn heartbeat_after(&mut self, w: &SimWorld, d: Duration, run: RunId) {
        let at = w.now() + d;
        if at < Instant::MAX {
            self.queue.at(at, WORLD, HappeningKind::Heartbeat(run));
        }
    }

    fn quirks(&mut self, node: NodeId) -> &mut Quirks {
        let i = node.index();
        if i >= self.quirks.len() {
            self.quirks.resize_with(i + 1, Quirks::default);
        }
        &mut self.quirks[i]
    }

    fn behaviour(&self, engine: &Engine, node: NodeId) -> &SimBehaviour {
        self.tree.model(engine.tag(node))
    }

    fn health_timeout(&self, engine: &Engine, node: NodeId) -> Option<Duration> {
        self.tree.health_timeout(engine.tag(node))
    }

    /// The engine spawned `run`: decide how its start goes.
    fn spawned(&mut self, w: &mut SimWorld, run: RunId) {
        *self.quirks(run.node) = Quirks::default();
        let b = self.behaviour(w.engine(), run.node);
        let (start_fail, ignore_stop, start_latency) = (b.start_fail, b.ignore_stop, b.start_latency);
        let scripted_fail = self.take_scripted_failure(w.engine(), run.node);
        let faulty = self.faulty;
        // Injected start faults spare the first boot unless the plan says otherwise.
        let injected = faulty && (w.observer().booted || self.faults.boot_faults);
        let fail = scripted_fail
            || (faulty && chance(&mut self.rng, start_fail))
            || (injected && chance(&mut self.rng, self.faults.start_fail));
        let early = !fail && injected && chance(&mut self.rng, self.faults.early_exit);
        let hang = faulty && (chance(&mut self.rng, ignore_stop) || chance(&mut self.rng, self.faults.hang_on_stop));
        self.quirks(run.node).hang = hang;
        let kind = if fail {
            HappeningKind::StartFailed(run)
        } else if early {
            HappeningKind::Exit(run, Why::Early)
        } else {
            HappeningKind::Started(run)
        };
        self.after(w, start_latency, kind);
    }

    fn take_scripted_failure(&mut self, engine: &Engine, node: NodeId) -> bool {
        if self.fail_starts.is_empty() {
            return false;
        }
        let path = engine.path(node).unwrap_or_else(|| node.to_string());
        match self.fail_starts.get_mut(&path) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }

    /// The run ends in the world; tell the engine.
    fn end_run(&mut self, w: &mut SimWorld, run: RunId, reason: ExitReason) {
        if w.runs().is_live(run) {
            w.deliver(Input::Exited(run, reason), self);
        }
    }

    /// Apply a happening whose time has come (the world's clock is at it).
    pub(crate) fn apply(&mut self, w: &mut SimWorld, kind: HappeningKind) {
        match kind {
            HappeningKind::Script(i) => self.script_action(w, i),
            HappeningKind::Crash
            | HappeningKind::Storm
            | HappeningKind::Simultaneous
            | HappeningKind::Stale
            | HappeningKind::RandomRequest => {
                if self.faulty {
                    self.fault(w, kind);
                }
            }
            HappeningKind::EndOfFaults => self.end_of_faults(w),
            HappeningKind::EndOfLiveness => self.finished = true,
            run_happening => self.run_happening(w, run_happening),
        }
    }

    /// Something happens to one run (nothing, if the run is no longer
    /// there for it).
    fn run_happening(&mut self, w: &mut SimWorld, kind: HappeningKind) {
        let phase = |w: &SimWorld, run| w.runs().phase(run);
        match kind {
            HappeningKind::Started(run) => self.started(w, run),
            HappeningKind::StartFailed(run) if w.runs().is_live(run) => {
                w.deliver(Input::StartFailed(run, "simulated start failure".into()), self);
            }
            HappeningKind::Ready(run) if matches!(phase(w, run), Some(RunPhase::Up { .. })) => {
                w.deliver(Input::Ready(run), self);
            }
            HappeningKind::Heartbeat(run) if phase(w, run).is_some_and(|p| p != RunPhase::Stopping) => {
                if !self.quirks(run.node).silent {
                    w.deliver(Input::Heartbeat(run), self);
                }
                if let Some(h) = self.health_timeout(w.engine(), run.node) {
                    self.heartbeat_after(w, heartbeat_every(h), run);
                }
            }
            HappeningKind::Silence(run) if w.runs().is_live(run) && self.faulty => self.quirks(run.node).silent = true,
            HappeningKind::Exit(run, why)
                if w.runs().is_live(run) && (self.faulty || phase(w, run) == Some(RunPhase::Spawning)) =>
            {
                let reason = match why {
                    Why::Lifetime => self.behaviour(w.engine(), run.node).exit.clone(),
                    Why::Early => ExitReason::Error("exited before it started".into()),
                    Why::Crash(i) => crash_reason(i),
                };
                self.end_run(w, run, reason);
            }
            HappeningKind::StopDone(run) => self.end_run(w, run, ExitReason::shutdown()),
            HappeningKind::Killed(run) => self.end_run(w, run, ExitReason::Killed),
            _ => {}
        }
    }

    /// `run` is up: report it, then schedule its readiness, its end and its heartbeats.
    fn started(&mut self, w: &mut SimWorld, run: RunId) {
        if !w.runs().is_live(run) {
            return;
        }
        w.deliver(Input::Started(run), self);
        let b = self.behaviour(w.engine(), run.node);
        let (ready_latency, life) = (b.ready_latency, b.lifetime);
        if w.engine().readiness(run.node) == Some(Readiness::Notify) {
            self.after(w, ready_latency, HappeningKind::Ready(run));
        }
        if self.faulty {
            if let Some(life) = lifetime(&mut self.rng, &life) {
                self.after(
                    w,
                    ready_latency.saturating_add(life),
                    HappeningKind::Exit(run, Why::Lifetime),
                );
            }
        }
        if let Some(h) = self.health_timeout(w.engine(), run.node) {
            let every = heartbeat_every(h);
            self.heartbeat_after(w, ready_latency.saturating_add(every), run);
            if self.faulty && chance(&mut self.rng, self.faults.missed_heartbeats) {
                let when = uniform(&mut self.rng, Duration::ZERO, h.saturating_mul(10));
                self.after(w, when, HappeningKind::Silence(run));
            }
        }
    }

    /// An injected fault (faults are on); the recurring ones reschedule themselves.
    fn fault(&mut self, w: &mut SimWorld, kind: HappeningKind) {
        match kind {
            HappeningKind::Crash => {
                self.crash_one(w, 0);
                if let Some(d) = self.faults.crash_every {
                    let t = exponential(&mut self.rng, d);
                    self.after_action(w, t, HappeningKind::Crash);
                }
            }
            HappeningKind::Storm => {
                let k = 2 + index(&mut self.rng, 8);
                for i in 0..k {
                    self.crash_one(w, i as u64);
                }
            }
            HappeningKind::Simultaneous => {
                let k = 2 + index(&mut self.rng, 3);
                for _ in 0..k {
                    self.crash_one(w, 0);
                }
            }
            HappeningKind::Stale => {
                self.inject_stale(w);
                if let Some(d) = self.faults.stale_every {
                    let t = exponential(&mut self.rng, d);
                    self.after_action(w, t, HappeningKind::Stale);
                }
            }
            HappeningKind::RandomRequest => {
                self.random_request(w);
                if let Some(d) = self.faults.requests_every {
                    let t = exponential(&mut self.rng, d);
                    self.after_action(w, t, HappeningKind::RandomRequest);
                }
            }
            _ => {}
        }
    }

    /// A random running worker exits now (or `delay_ms` ms from now) with a random reason.
    fn crash_one(&mut self, w: &mut SimWorld, delay_ms: u64) {
        let mut up = std::mem::take(&mut self.scratch_runs);
        up.clear();
        up.extend(
            w.runs()
                .iter()
                .filter(|(_, phase)| matches!(phase, RunPhase::Up { .. }))
                .map(|(run, _)| run),
        );
        let picked = (!up.is_empty()).then(|| up[index(&mut self.rng, up.len())]);
        self.scratch_runs = up;
        let Some(run) = picked else { return };
        let why = Why::Crash(index(&mut self.rng, CRASH_REASONS.len()) as u8);
        if delay_ms == 0 {
            self.run_happening(w, HappeningKind::Exit(run, why));
        } else {
            self.after(w, Duration::from_millis(delay_ms), HappeningKind::Exit(run, why));
        }
    }

    /// Deliver an input about an ended run or an unknown node (the world
    /// counts it stale).
    fn inject_stale(&mut self, w: &mut SimWorld) {
        let ended = w.runs().ended();
        let run = if ended.is_empty() || index(&mut self.rng, 4) == 0 {
            RunId {
                node: NodeId::from_index(u32::MAX - index(&mut self.rng, 1000) as u32),
                generation: 1,
            }
        } else {
            ended[index(&mut self.rng, ended.len())]
        };
        if w.runs().is_live(run) {
            return; // not stale after all
        }
        let input = match index(&mut self.rng, 4) {
            0 => Input::Started(run),
            1 => Input::Ready(run),
            2 => Input::Heartbeat(run),
            _ => Input::Exited(run, ExitReason::Error("stale".into())),
        };
        w.deliver(input, self);
    }

    /// Every node of the tree, the root first, into the scratch buffer.
    fn collect_nodes(&mut self, engine: &Engine) {
        let mut nodes = std::mem::take(&mut self.scratch_nodes);
        nodes.clear();
        nodes.push(engine.root());
        let mut i = 0;
        while i < nodes.len() {
            let n = nodes[i];
            nodes.extend(engine.children(n));
            i += 1;
        }
        self.scratch_nodes = nodes;
    }

    fn random_request(&mut self, w: &mut SimWorld) {
        self.collect_nodes(w.engine());
        let node = self.scratch_nodes[index(&mut self.rng, self.scratch_nodes.len())];
        let engine = w.engine();
        let is_sup = engine.is_supervisor(node);
        let path = engine.path(node).unwrap_or_default();
        let req = match index(&mut self.rng, 8) {
            0 | 1 if !path.is_empty() => Request::RestartChild { path },
            2 if !path.is_empty() => Request::TerminateChild { path },
            3 if !path.is_empty() => Request::DeleteChild { path },
            4 | 5 if is_sup => {
                let name = format!("dyn{}", self.queue.scheduled());
                let spec = vigil_core::ChildSpec::worker(name).restart(Restart::Temporary);
                Request::StartChild { parent: path, spec }
            }
            6 if is_sup => Request::RestartAll {
                path,
                mode: if index(&mut self.rng, 2) == 0 {
                    RestartAllMode::Rolling
                } else {
                    RestartAllMode::AllAtOnce
                },
            },
            _ => Request::WhichChildren { path },
        };
        self.request(w, req);
    }

    fn request(&mut self, w: &mut SimWorld, req: Request) {
        if let Request::TerminateChild { path } | Request::DeleteChild { path } = &req {
            w.observer_mut().operator_stopped.insert(path.clone());
        }
        let req = match req {
            Request::StartChild { parent, spec } => Request::StartChild {
                parent,
                spec: spec.tag(DYNAMIC_TAG),
            },
            r => r,
        };
        let _ = w.request(req, self);
    }

    fn script_action(&mut self, w: &mut SimWorld, i: usize) {
        let Some(script) = &self.opts.script else { return };
        let action = script.actions[i].action.clone();
        match action {
            Action::Exit { path, reason } => {
                if let Some(run) = w.engine().lookup(&path).and_then(|n| w.engine().current_run(n)) {
                    self.end_run(w, run, reason);
                }
            }
            Action::FailStarts { path, count } => *self.fail_starts.entry(path).or_default() += count,
            Action::HangOnStop { path } => {
                if let Some(node) = w.engine().lookup(&path) {
                    if w.runs().live_run(node).is_some() {
                        self.quirks(node).hang = true;
                    }
                }
            }
            Action::Request(req) => self.request(w, req),
        }
    }

    /// Faults off: no more crashes, lifetimes or hangs; hung stops complete.
    fn end_of_faults(&mut self, w: &mut SimWorld) {
        self.faulty = false;
        if !self.opts.liveness {
            self.finished = true;
            return;
        }
        self.liveness = true;
        let mut live = std::mem::take(&mut self.scratch_runs);
        live.clear();
        live.extend(w.runs().iter().map(|(run, _)| run));
        for &run in &live {
            let q = self.quirks(run.node);
            q.hang = false;
            q.silent = false;
            if q.stop_ignored {
                let latency = self.behaviour(w.engine(), run.node).stop_latency;
                self.after(w, latency, HappeningKind::StopDone(run));
            }
        }
        self.scratch_runs = live;
        let at = w.now() + self.tree.liveness_bound();
        if at == Instant::MAX {
            // The bound reaches the end of virtual time (backoffs or timeouts
            // of centuries): a deadline there never fires, so nothing can be
            // expected up by then. The phase runs without faults, unjudged.
            self.liveness = false;
        }
        self.queue
            .at(at, crate::happening_queue::END, HappeningKind::EndOfLiveness);
    }
}

/// How often a worker with health timeout `h` heartbeats: a third of it, and
/// never less than one nanosecond. (A zero period, from `h` under 3 ns, made a
/// heartbeat re-arm itself at the same instant for ever: virtual time never
/// advanced.)
fn heartbeat_every(h: Duration) -> Duration {
    (h / 3).max(Duration::from_nanos(1))
}

fn crash_reason(i: u8) -> ExitReason {
    let text = CRASH_REASONS[usize::from(i) % CRASH_REASONS.len()];
    text.parse().unwrap_or(ExitReason::Error(String::new()))
}

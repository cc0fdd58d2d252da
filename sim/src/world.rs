//! The simulated world: a virtual clock, an event queue ordered by
//! (time, class, sequence), one ChaCha8 generator from the seed, behaviour
//! models for every worker, injected faults and scripted actions, all driving
//! one [`Engine`] and checked by the [`Oracle`] after every step.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use vigil_config::{Action, SimBehaviour, TreeConfig};
use vigil_core::{
    ChildKind, Command, Engine, ExitReason, Input, Instant, NodeId, Notice, Readiness, Request, RequestError, Restart,
    RestartAllMode, RunId, Shutdown, SupervisorSpec,
};

use crate::behaviour::{chance, exponential, index, lifetime, uniform};
use crate::fault_plan::FaultPlan;
use crate::oracle::{Oracle, Rule};
use crate::run::{Outcome, RunReport, SimOptions};
use vigil_trace::TraceWriter;

/// The tag the simulator gives children it adds at run time: default behaviour.
const DYNAMIC_TAG: u64 = u64::MAX - 1;

/// Event classes at one instant: world reactions settle before scripted and
/// injected actions, which come before the end of the run.
const WORLD: u8 = 0;
const ACTION: u8 = 1;
const END: u8 = 2;

#[derive(Debug)]
enum Kind {
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

/// Why a run ends by itself; resolved to an [`ExitReason`] only when it
/// happens, so that queued events stay small.
#[derive(Clone, Copy, Debug)]
enum Why {
    /// Its lifetime ended: the worker's configured exit reason.
    Lifetime,
    /// It exited before it started.
    Early,
    /// An injected crash, with the index of its reason in [`CRASH_REASONS`].
    Crash(u8),
}

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

#[derive(Debug)]
struct Event {
    at: Instant,
    class: u8,
    seq: u64,
    kind: Kind,
}

impl PartialEq for Event {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.class, self.seq) == (o.at, o.class, o.seq)
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Event {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.class, self.seq).cmp(&(o.at, o.class, o.seq))
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    #[default]
    Idle,
    Spawning,
    Up,
}

/// The world's truth about one worker's current run.
#[derive(Clone, Debug, Default)]
struct Slot {
    run: Option<RunId>,
    phase: Phase,
    /// Ignores `Stop`.
    hang: bool,
    /// `Stop` or `Kill` received: no more `Ready` or heartbeats.
    stopping: bool,
    /// A `Stop` arrived and was ignored (released when faults end).
    stop_ignored: bool,
    /// Stopped sending heartbeats.
    silent: bool,
}

/// What the world knows of a worker's spec (by tag).
#[derive(Clone, Copy, Debug, Default)]
struct WorkerFacts {
    health_timeout: Option<Duration>,
}

/// One simulation run.
pub(crate) struct World<'a> {
    cfg: &'a TreeConfig,
    opts: &'a SimOptions,
    engine: Engine,
    oracle: Oracle,
    trace: TraceWriter,
    rng: ChaCha8Rng,
    faults: FaultPlan,
    now: Instant,
    queue: BinaryHeap<Reverse<Event>>,
    seq: u64,
    slots: Vec<Slot>,
    facts: Vec<WorkerFacts>,
    default_behaviour: SimBehaviour,
    fail_starts: BTreeMap<String, u32>,
    /// Paths an operator stopped or deleted on purpose (liveness ignores them).
    operator_stopped: BTreeSet<String>,
    /// Runs that ended, for stale injections (bounded).
    ended: Vec<RunId>,
    /// Reused buffers (no allocation per fault).
    scratch_nodes: Vec<NodeId>,
    scratch_runs: Vec<RunId>,
    faulty: bool,
    /// The root has finished its first start.
    booted: bool,
    liveness: bool,
    finished: bool,
    events: u64,
}

impl<'a> World<'a> {
    pub(crate) fn new(cfg: &'a TreeConfig, seed: u64, opts: &'a SimOptions, trace: TraceWriter) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let faults = if opts.random_faults {
            FaultPlan::pick(&mut rng)
        } else {
            FaultPlan::none()
        };
        let engine = Engine::new(cfg.spec.clone(), seed).unwrap_or_else(|_| {
            // A TreeConfig is validated when it is parsed; an invalid one is a
            // bug in its producer. Simulate an empty tree rather than panic.
            Engine::new(SupervisorSpec::new(), seed).expect("an empty tree is valid")
        });
        #[cfg(feature = "bug-injection")]
        let engine = {
            let mut engine = engine;
            if let Some(bug) = opts.inject_bug {
                engine.inject_bug(bug);
            }
            engine
        };
        let mut facts = vec![WorkerFacts::default(); cfg.workers.len()];
        collect_facts(&cfg.spec, &mut facts);
        World {
            cfg,
            opts,
            engine,
            oracle: Oracle::new(),
            trace,
            rng,
            faults,
            now: Instant::ZERO,
            queue: BinaryHeap::new(),
            seq: 0,
            slots: Vec::new(),
            facts,
            default_behaviour: SimBehaviour::default(),
            fail_starts: BTreeMap::new(),
            operator_stopped: BTreeSet::new(),
            ended: Vec::new(),
            scratch_nodes: Vec::new(),
            scratch_runs: Vec::new(),
            faulty: true,
            booted: false,
            liveness: false,
            finished: false,
            events: 0,
        }
    }

    fn at(&mut self, at: Instant, class: u8, kind: Kind) {
        self.seq += 1;
        self.queue.push(Reverse(Event {
            at,
            class,
            seq: self.seq,
            kind,
        }));
    }

    /// Schedule a world reaction `d` from now (saturating at the end of
    /// virtual time, `Instant::MAX`, where it still happens, once).
    fn after(&mut self, d: Duration, kind: Kind) {
        let at = self.now + d;
        self.at(at, WORLD, kind);
    }

    /// Schedule `run`'s next heartbeat `d` from now, unless that is the end of
    /// virtual time (`Instant::MAX`, about 584 years, reached only by
    /// saturated durations): there a heartbeat would re-arm itself at the same
    /// instant for ever, so it never comes.
    fn heartbeat_after(&mut self, d: Duration, run: RunId) {
        let at = self.now + d;
        if at < Instant::MAX {
            self.at(at, WORLD, Kind::Heartbeat(run));
        }
    }

    fn slot(&mut self, node: NodeId) -> &mut Slot {
        let i = node.index();
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, Slot::default);
        }
        &mut self.slots[i]
    }

    /// The slot of `node` for reading (no growth for ids the engine never issued).
    fn peek(&self, node: NodeId) -> Slot {
        self.slots.get(node.index()).cloned().unwrap_or_default()
    }

    fn behaviour(&self, node: NodeId) -> &SimBehaviour {
        match self.engine.tag(node) {
            Some(t) if (t as usize) < self.cfg.workers.len() => &self.cfg.workers[t as usize].sim,
            _ => &self.default_behaviour,
        }
    }

    fn facts(&self, node: NodeId) -> WorkerFacts {
        match self.engine.tag(node) {
            Some(t) if (t as usize) < self.facts.len() => self.facts[t as usize],
            _ => WorkerFacts::default(),
        }
    }

    /// The run's report. Runs the whole simulation.
    pub(crate) fn run(mut self, seed: u64) -> RunReport {
        if !self.trace.is_off() {
            self.trace.raw_line(&crate::run::meta_line(self.cfg, seed, self.opts));
        }
        self.schedule_initial();
        self.engine.start(self.now);
        self.after_call();
        while !self.finished && self.oracle.violation().is_none() {
            if self.events >= self.opts.max_steps {
                self.over_budget();
                break;
            }
            let next_event = self.queue.peek().map(|e| e.0.at);
            let next_timer = self.engine.poll_timeout();
            match (next_timer, next_event) {
                (Some(t), e) if e.is_none_or(|e| t <= e) => {
                    self.now = self.now.max(t);
                    self.events += 1;
                    self.engine.handle_timeout(self.now);
                    self.after_call();
                    self.oracle.check_deadlines(&mut self.engine, self.now);
                }
                _ => {
                    let Some(Reverse(ev)) = self.queue.pop() else { break };
                    self.now = self.now.max(ev.at);
                    self.events += 1;
                    self.apply(ev.kind);
                }
            }
            if self.engine.is_down() {
                self.check_down();
                break;
            }
        }
        if self.liveness && !self.engine.is_down() && self.oracle.violation().is_none() {
            self.check_liveness();
        }
        let _ = self.trace.finish();
        let outcome = if self.oracle.violation().is_some_and(|v| v.rule == Rule::StepBudget) {
            Outcome::StepBudget
        } else if self.oracle.violation().is_some() {
            Outcome::Violation
        } else {
            Outcome::of(&self.engine)
        };
        RunReport {
            seed,
            outcome,
            violation: self.oracle.violation().cloned(),
            events: self.events,
            virtual_time: self.now - Instant::ZERO,
            trace_hash: self.trace.hash(),
            trace_lines: self.trace.lines(),
            stats: self.engine.stats(),
            faults: self.faults.clone(),
        }
    }

    /// The run used up its step budget: stop it with a clear report of where
    /// virtual time stood (a run stuck at one instant is the usual cause).
    fn over_budget(&mut self) {
        let stuck = if self.now == Instant::ZERO {
            "virtual time never advanced".to_owned()
        } else {
            format!(
                "virtual time reached {}",
                vigil_config::format_duration(self.now - Instant::ZERO)
            )
        };
        let detail = format!(
            "the run took {} steps, its budget ({stuck}, of {} faulty and a liveness phase); \
             raise it with --max-steps if the tree is this busy",
            self.events,
            vigil_config::format_duration(self.opts.duration)
        );
        self.oracle.flag(self.now, Rule::StepBudget, detail);
    }

    fn schedule_initial(&mut self) {
        if let Some(script) = &self.opts.script {
            for i in 0..script.actions.len() {
                let at = Instant::ZERO + script.actions[i].time;
                self.at(at, ACTION, Kind::Script(i));
            }
        }
        let end = Instant::ZERO + self.opts.duration;
        let f = self.faults.clone();
        if let Some(d) = f.crash_every {
            let t = exponential(&mut self.rng, d);
            self.at(Instant::ZERO + t, ACTION, Kind::Crash);
        }
        for _ in 0..f.storms {
            let t = uniform(&mut self.rng, Duration::ZERO, self.opts.duration);
            self.at(Instant::ZERO + t, ACTION, Kind::Storm);
        }
        for _ in 0..f.simultaneous {
            let t = uniform(&mut self.rng, Duration::ZERO, self.opts.duration);
            self.at(Instant::ZERO + t, ACTION, Kind::Simultaneous);
        }
        if let Some(d) = f.stale_every {
            let t = exponential(&mut self.rng, d);
            self.at(Instant::ZERO + t, ACTION, Kind::Stale);
        }
        if let Some(d) = f.requests_every {
            let t = exponential(&mut self.rng, d);
            self.at(Instant::ZERO + t, ACTION, Kind::RandomRequest);
        }
        self.at(end, END, Kind::EndOfFaults);
    }

    /// Drain what the latest engine call produced: notices to the oracle and
    /// the trace, commands to the world.
    fn after_call(&mut self) {
        let now = self.now;
        while let Some(n) = self.engine.poll_notice() {
            self.oracle.observe(&self.engine, &n, now);
            self.trace.notice(&self.engine, now, &n);
            if let Notice::SupStarted { sup } = &n {
                self.booted |= *sup == self.engine.root();
            }
            // An operator restart whose start failed leaves that child stopped
            // on purpose (docs/SEMANTICS.md); liveness does not expect it up.
            if let Notice::Reply { result, .. } = &n {
                if let Err(RequestError::StartFailed { path, .. }) = result.as_ref() {
                    self.operator_stopped.insert(path.clone());
                }
            }
        }
        while let Some(cmd) = self.engine.poll_command() {
            self.command(cmd);
        }
        self.oracle.end_step(now);
        self.oracle.check_temporaries(&self.engine, now);
    }

    fn deliver(&mut self, input: Input) {
        self.engine.handle(input, self.now);
        self.after_call();
    }

    fn command(&mut self, cmd: Command) {
        let now = self.now;
        match cmd {
            Command::Spawn(run) => {
                let live = self.slot(run.node).run;
                if live.is_some() {
                    let detail = format!("spawn of {} while its run {live:?} is live", self.path(run.node));
                    self.oracle.flag(now, Rule::OneLiveRun, detail);
                    return;
                }
                *self.slot(run.node) = Slot {
                    run: Some(run),
                    phase: Phase::Spawning,
                    ..Slot::default()
                };
                let b = self.behaviour(run.node);
                let (start_fail, ignore_stop, start_latency) = (b.start_fail, b.ignore_stop, b.start_latency);
                let scripted_fail = self.take_scripted_failure(run.node);
                let faulty = self.faulty;
                // Injected start faults spare the first boot unless the plan says otherwise.
                let injected = faulty && (self.booted || self.faults.boot_faults);
                let fail = scripted_fail
                    || (faulty && chance(&mut self.rng, start_fail))
                    || (injected && chance(&mut self.rng, self.faults.start_fail));
                let early = !fail && injected && chance(&mut self.rng, self.faults.early_exit);
                let hang =
                    faulty && (chance(&mut self.rng, ignore_stop) || chance(&mut self.rng, self.faults.hang_on_stop));
                self.slot(run.node).hang = hang;
                let kind = if fail {
                    Kind::StartFailed(run)
                } else if early {
                    Kind::Exit(run, Why::Early)
                } else {
                    Kind::Started(run)
                };
                self.after(start_latency, kind);
            }
            Command::Stop(run) => {
                if !self.command_target_ok(run, "stop") {
                    return;
                }
                let latency = self.behaviour(run.node).stop_latency;
                let s = self.slot(run.node);
                s.stopping = true;
                if s.hang {
                    s.stop_ignored = true;
                } else {
                    self.after(latency, Kind::StopDone(run));
                }
            }
            Command::Kill(run) => {
                if !self.command_target_ok(run, "kill") {
                    return;
                }
                self.slot(run.node).stopping = true;
                self.after(Duration::ZERO, Kind::Killed(run));
            }
        }
    }

    /// A Stop or Kill must name the current, started run.
    fn command_target_ok(&mut self, run: RunId, what: &str) -> bool {
        let s = self.peek(run.node);
        if s.run == Some(run) && s.phase == Phase::Up {
            return true;
        }
        let detail = format!(
            "{what} for {} gen {} which is {}",
            self.path(run.node),
            run.generation,
            if s.run == Some(run) {
                "not started yet"
            } else {
                "not its live run"
            }
        );
        self.oracle.flag(self.now, Rule::CommandForLiveRun, detail);
        false
    }

    fn take_scripted_failure(&mut self, node: NodeId) -> bool {
        if self.fail_starts.is_empty() {
            return false;
        }
        let path = self.path(node);
        match self.fail_starts.get_mut(&path) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        }
    }

    fn path(&self, node: NodeId) -> String {
        self.engine.path(node).unwrap_or_else(|| node.to_string())
    }

    fn is_current(&self, run: RunId) -> bool {
        self.slots.get(run.node.index()).is_some_and(|s| s.run == Some(run))
    }

    /// The run ends in the world; tell the engine.
    fn end_run(&mut self, run: RunId, reason: ExitReason) {
        if !self.is_current(run) {
            return;
        }
        *self.slot(run.node) = Slot::default();
        self.remember_ended(run);
        self.deliver(Input::Exited(run, reason));
    }

    fn remember_ended(&mut self, run: RunId) {
        if self.ended.len() < 64 {
            self.ended.push(run);
        } else {
            let i = index(&mut self.rng, 64);
            self.ended[i] = run;
        }
    }

    fn apply(&mut self, kind: Kind) {
        match kind {
            Kind::Started(run) => {
                if !self.is_current(run) {
                    return;
                }
                self.slot(run.node).phase = Phase::Up;
                self.deliver(Input::Started(run));
                let b = self.behaviour(run.node);
                let (ready_latency, life) = (b.ready_latency, b.lifetime);
                if self.engine.readiness(run.node) == Some(Readiness::Notify) {
                    self.after(ready_latency, Kind::Ready(run));
                }
                if self.faulty {
                    if let Some(life) = lifetime(&mut self.rng, &life) {
                        self.after(ready_latency.saturating_add(life), Kind::Exit(run, Why::Lifetime));
                    }
                }
                if let Some(h) = self.facts(run.node).health_timeout {
                    let every = heartbeat_every(h);
                    self.heartbeat_after(ready_latency.saturating_add(every), run);
                    if self.faulty && chance(&mut self.rng, self.faults.missed_heartbeats) {
                        let when = uniform(&mut self.rng, Duration::ZERO, h.saturating_mul(10));
                        self.after(when, Kind::Silence(run));
                    }
                }
            }
            Kind::StartFailed(run) => {
                if self.is_current(run) {
                    *self.slot(run.node) = Slot::default();
                    self.remember_ended(run);
                    self.deliver(Input::StartFailed(run, "simulated start failure".into()));
                }
            }
            Kind::Ready(run) => {
                let s = self.slot(run.node).clone();
                if s.run == Some(run) && s.phase == Phase::Up && !s.stopping {
                    self.deliver(Input::Ready(run));
                }
            }
            Kind::Heartbeat(run) => {
                let s = self.slot(run.node).clone();
                if s.run == Some(run) && !s.stopping {
                    if !s.silent {
                        self.deliver(Input::Heartbeat(run));
                    }
                    if let Some(h) = self.facts(run.node).health_timeout {
                        self.heartbeat_after(heartbeat_every(h), run);
                    }
                }
            }
            Kind::Silence(run) => {
                if self.is_current(run) && self.faulty {
                    self.slot(run.node).silent = true;
                }
            }
            Kind::Exit(run, why) => {
                if self.is_current(run) && (self.faulty || self.peek(run.node).phase == Phase::Spawning) {
                    let reason = match why {
                        Why::Lifetime => self.behaviour(run.node).exit.clone(),
                        Why::Early => ExitReason::Error("exited before it started".into()),
                        Why::Crash(i) => crash_reason(i),
                    };
                    self.end_run(run, reason);
                }
            }
            Kind::StopDone(run) => self.end_run(run, ExitReason::shutdown()),
            Kind::Killed(run) => self.end_run(run, ExitReason::Killed),
            Kind::Script(i) => self.script_action(i),
            Kind::Crash => {
                if self.faulty {
                    self.crash_one(0);
                    if let Some(d) = self.faults.crash_every {
                        let t = exponential(&mut self.rng, d);
                        self.after_action(t, Kind::Crash);
                    }
                }
            }
            Kind::Storm => {
                if self.faulty {
                    let k = 2 + index(&mut self.rng, 8);
                    for i in 0..k {
                        self.crash_one(i as u64);
                    }
                }
            }
            Kind::Simultaneous => {
                if self.faulty {
                    let k = 2 + index(&mut self.rng, 3);
                    for _ in 0..k {
                        self.crash_one(0);
                    }
                }
            }
            Kind::Stale => {
                if self.faulty {
                    self.inject_stale();
                    if let Some(d) = self.faults.stale_every {
                        let t = exponential(&mut self.rng, d);
                        self.after_action(t, Kind::Stale);
                    }
                }
            }
            Kind::RandomRequest => {
                if self.faulty {
                    self.random_request();
                    if let Some(d) = self.faults.requests_every {
                        let t = exponential(&mut self.rng, d);
                        self.after_action(t, Kind::RandomRequest);
                    }
                }
            }
            Kind::EndOfFaults => self.end_of_faults(),
            Kind::EndOfLiveness => self.finished = true,
        }
    }

    fn after_action(&mut self, d: Duration, kind: Kind) {
        let at = self.now + d;
        self.at(at, ACTION, kind);
    }

    /// A random running worker exits now (or `delay_ms` ms from now) with a random reason.
    fn crash_one(&mut self, delay_ms: u64) {
        let mut up = std::mem::take(&mut self.scratch_runs);
        up.clear();
        up.extend(
            self.slots
                .iter()
                .filter(|s| s.phase == Phase::Up && !s.stopping)
                .filter_map(|s| s.run),
        );
        let picked = (!up.is_empty()).then(|| up[index(&mut self.rng, up.len())]);
        self.scratch_runs = up;
        let Some(run) = picked else { return };
        let why = Why::Crash(index(&mut self.rng, CRASH_REASONS.len()) as u8);
        if delay_ms == 0 {
            self.apply(Kind::Exit(run, why));
        } else {
            self.after(Duration::from_millis(delay_ms), Kind::Exit(run, why));
        }
    }

    fn inject_stale(&mut self) {
        let run = if self.ended.is_empty() || index(&mut self.rng, 4) == 0 {
            RunId {
                node: NodeId::from_index(u32::MAX - index(&mut self.rng, 1000) as u32),
                generation: 1,
            }
        } else {
            self.ended[index(&mut self.rng, self.ended.len())]
        };
        if self.peek(run.node).run == Some(run) {
            return; // not stale after all
        }
        let input = match index(&mut self.rng, 4) {
            0 => Input::Started(run),
            1 => Input::Ready(run),
            2 => Input::Heartbeat(run),
            _ => Input::Exited(run, ExitReason::Error("stale".into())),
        };
        self.oracle.injected_stale();
        self.deliver(input);
    }

    /// Every node of the tree, the root first, into the scratch buffer.
    fn collect_nodes(&mut self) {
        let mut nodes = std::mem::take(&mut self.scratch_nodes);
        nodes.clear();
        nodes.push(self.engine.root());
        let mut i = 0;
        while i < nodes.len() {
            let n = nodes[i];
            nodes.extend(self.engine.children(n));
            i += 1;
        }
        self.scratch_nodes = nodes;
    }

    fn random_request(&mut self) {
        self.collect_nodes();
        let node = self.scratch_nodes[index(&mut self.rng, self.scratch_nodes.len())];
        let is_sup = self.engine.is_supervisor(node);
        let path = self.engine.path(node).unwrap_or_default();
        let req = match index(&mut self.rng, 8) {
            0 | 1 if !path.is_empty() => Request::RestartChild { path },
            2 if !path.is_empty() => Request::TerminateChild { path },
            3 if !path.is_empty() => Request::DeleteChild { path },
            4 | 5 if is_sup => {
                let name = format!("dyn{}", self.seq);
                let spec = vigil_core::ChildSpec::worker(name)
                    .restart(Restart::Temporary)
                    .tag(DYNAMIC_TAG);
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
        self.request(req);
    }

    fn request(&mut self, req: Request) {
        if let Request::TerminateChild { path } | Request::DeleteChild { path } = &req {
            self.operator_stopped.insert(path.clone());
        }
        let req = match req {
            Request::StartChild { parent, spec } => Request::StartChild {
                parent,
                spec: spec.tag(DYNAMIC_TAG),
            },
            r => r,
        };
        let _ = self.engine.request(req, self.now);
        self.after_call();
    }

    fn script_action(&mut self, i: usize) {
        let Some(script) = &self.opts.script else { return };
        let action = script.actions[i].action.clone();
        match action {
            Action::Exit { path, reason } => {
                if let Some(run) = self.engine.lookup(&path).and_then(|n| self.engine.current_run(n)) {
                    if self.is_current(run) {
                        self.end_run(run, reason);
                    }
                }
            }
            Action::FailStarts { path, count } => *self.fail_starts.entry(path).or_default() += count,
            Action::HangOnStop { path } => {
                if let Some(node) = self.engine.lookup(&path) {
                    if self.slot(node).run.is_some() {
                        self.slot(node).hang = true;
                    }
                }
            }
            Action::Request(req) => self.request(req),
        }
    }

    /// Faults off: no more crashes, lifetimes or hangs; hung stops complete.
    fn end_of_faults(&mut self) {
        self.faulty = false;
        if !self.opts.liveness {
            self.finished = true;
            return;
        }
        self.liveness = true;
        for i in 0..self.slots.len() {
            let s = self.slots[i].clone();
            if let Some(run) = s.run {
                self.slots[i].hang = false;
                self.slots[i].silent = false;
                if s.stop_ignored {
                    let latency = self.behaviour(run.node).stop_latency;
                    self.after(latency, Kind::StopDone(run));
                }
            }
        }
        let bound = liveness_bound(self.cfg);
        let at = self.now + bound;
        if at == Instant::MAX {
            // The bound reaches the end of virtual time (backoffs or timeouts
            // of centuries): a deadline there never fires, so nothing can be
            // expected up by then. The phase runs without faults, unjudged.
            self.liveness = false;
        }
        self.at(at, END, Kind::EndOfLiveness);
    }

    fn check_down(&mut self) {
        if let Some(s) = self.slots.iter().find(|s| s.run.is_some()) {
            let detail = format!("tree is down but {:?} is still running", s.run);
            self.oracle.flag(self.now, Rule::TreeDown, detail);
        }
    }

    /// Faults have been off for the liveness bound: every permanent child of a
    /// running supervisor must be running (except what an operator stopped).
    fn check_liveness(&mut self) {
        let mut stack = vec![self.engine.root()];
        while let Some(sup) = stack.pop() {
            for c in self.engine.children(sup) {
                let path = self.path(c);
                // Exempt what an operator stopped, and its siblings: OTP's retry
                // semantics leave the rest of a one_for_all / rest_for_one round
                // stopped when the operator terminates the child being retried.
                let parent_path = path.rsplit_once('/').map_or("", |(p, _)| p);
                let touched = self.operator_stopped.iter().any(|p| {
                    path == *p
                        || path.starts_with(&format!("{p}/"))
                        || p.rsplit_once('/').map_or("", |(pp, _)| pp) == parent_path
                });
                if touched {
                    continue;
                }
                let state = self.engine.state(c);
                let running = state == Some(vigil_core::ChildState::Running);
                if self.engine.restart_type(c) == Some(Restart::Permanent) && !running {
                    let detail = format!(
                        "{path} is permanent but {:?} after faults were off for {:?}",
                        state,
                        liveness_bound(self.cfg)
                    );
                    self.oracle.flag(self.now, Rule::Liveness, detail);
                    return;
                }
                if running && self.engine.is_supervisor(c) {
                    stack.push(c);
                }
            }
        }
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

/// Per-tag facts from the spec the world needs (heartbeat periods).
fn collect_facts(spec: &SupervisorSpec, facts: &mut [WorkerFacts]) {
    for c in &spec.children {
        match &c.kind {
            ChildKind::Worker => {
                if let Some(f) = facts.get_mut(c.tag as usize) {
                    f.health_timeout = c.health_timeout;
                }
            }
            ChildKind::Supervisor(s) => collect_facts(s, facts),
        }
    }
}

/// How long faults must be off before every permanent child must be up again:
/// a minute, plus twice every latency, backoff, timeout and shutdown deadline
/// in the tree added together (generous; virtual time is cheap).
pub(crate) fn liveness_bound(cfg: &TreeConfig) -> Duration {
    let mut total = Duration::from_secs(60);
    let twice = |d: Duration| d.saturating_mul(2);
    for w in &cfg.workers {
        let latencies = w
            .sim
            .start_latency
            .saturating_add(w.sim.ready_latency)
            .saturating_add(w.sim.stop_latency);
        total = total.saturating_add(twice(latencies));
    }
    add_spec_bounds(&cfg.spec, &mut total);
    total
}

/// Adds twice every backoff maximum, startup timeout and shutdown timeout
/// under `spec`, saturating at `Duration::MAX`.
fn add_spec_bounds(spec: &SupervisorSpec, total: &mut Duration) {
    for c in &spec.children {
        let twice = |d: Duration| d.saturating_mul(2);
        if let Some(b) = &c.backoff {
            *total = total.saturating_add(twice(b.max));
        }
        if let Some(t) = c.startup_timeout {
            *total = total.saturating_add(twice(t));
        }
        if let Shutdown::Timeout(t) = c.shutdown_policy() {
            *total = total.saturating_add(twice(t));
        }
        if let ChildKind::Supervisor(s) = &c.kind {
            add_spec_bounds(s, total);
        }
    }
}

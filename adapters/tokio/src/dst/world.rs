//! The world of one own-code simulation: what the driver's hooks
//! (`src/sim_hooks.rs`) see and do. It keeps the world's truth about runs
//! (`vigil_sim::Runs`: which inputs are stale, which commands make sense),
//! feeds the oracle and the trace every notice in order, asks the fault
//! injector at every spawn, stop, `ready` and checkpoint, keeps its own
//! timers (delayed starts and readies, random kills, the end of the faulty
//! phase, the liveness judgement), and says when the run is over.
//!
//! One lock (`Shared`) holds it: the driver's hooks and the runs'
//! checkpoints take it in turn on the runtime's one thread, never across an
//! await, and a checkpoint releases it before it unwinds.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use vigil_core::{ChildState, Command, Engine, Input, Instant, Notice, Readiness, Request, Restart, RunId};
use vigil_sim::{Observer, Oracle, Refused, Rule, RunPhase, Runs, TraceWriter};

use super::injector::{CheckpointFault, FaultInjector, StartFault};
use crate::context::{CheckpointFate, FaultLink};
use crate::report::RunnerReport;
use crate::sim_hooks::{DriverHooks, Fate, HookAction};

/// Something the world has to do at a time of its own.
#[derive(Clone, Debug)]
enum Due {
    Spawn(RunId),
    Ready(RunId),
    Kill,
    FaultsOff,
    Judge,
}

/// How many of each fault were injected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Injected {
    /// Runs ended at a checkpoint with `error(injected at checkpoint)`.
    pub crashes: u64,
    /// Runs panicked at a checkpoint.
    pub panics: u64,
    /// Starts delayed.
    pub delayed_starts: u64,
    /// Starts failed.
    pub failed_starts: u64,
    /// `ready` reports delayed.
    pub delayed_readies: u64,
    /// Stops ignored.
    pub ignored_stops: u64,
    /// Runs killed at random.
    pub kills: u64,
}

/// The state of one simulated run.
pub(crate) struct World {
    pub(crate) oracle: Oracle,
    pub(crate) trace: TraceWriter,
    runs: Runs,
    pub(crate) injector: FaultInjector,
    pub(crate) injected: Injected,
    timers: BTreeMap<(Instant, u64), Due>,
    sequence: u64,
    ignored: Vec<RunId>,
    booted: bool,
    steps: u64,
    max_steps: u64,
    pub(crate) finished: bool,
    pub(crate) end: Instant,
    done: Arc<tokio::sync::Notify>,
    /// Steps taken, and the virtual time of the latest, for the watchdog.
    pub(crate) progress: Arc<Progress>,
}

/// What the watchdog thread reads (src/dst/watchdog.rs).
#[derive(Debug, Default)]
pub(crate) struct Progress {
    pub(crate) steps: AtomicU64,
    pub(crate) virtual_ns: AtomicU64,
}

/// How one run is set up.
pub(crate) struct Setup {
    pub(crate) duration: Duration,
    pub(crate) liveness: Duration,
    pub(crate) max_steps: u64,
}

impl World {
    pub(crate) fn new(oracle: Oracle, trace: TraceWriter, injector: FaultInjector, setup: &Setup) -> Self {
        let mut world = World {
            oracle,
            trace,
            runs: Runs::default(),
            injector,
            injected: Injected::default(),
            timers: BTreeMap::new(),
            sequence: 0,
            ignored: Vec::new(),
            booted: false,
            steps: 0,
            max_steps: setup.max_steps,
            finished: false,
            end: Instant::ZERO,
            done: Arc::new(tokio::sync::Notify::new()),
            progress: Arc::new(Progress::default()),
        };
        let off = Instant::ZERO.saturating_add(setup.duration);
        world.at(off, Due::FaultsOff);
        world.at(off.saturating_add(setup.liveness), Due::Judge);
        if let Some(gap) = world.injector.next_kill() {
            world.at(Instant::ZERO.saturating_add(gap), Due::Kill);
        }
        world
    }

    /// Resolves when the run is over (a violation, the step budget, the
    /// tree down, or the liveness judgement made).
    pub(crate) fn done(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.done)
    }

    fn at(&mut self, t: Instant, due: Due) {
        self.sequence += 1;
        self.timers.insert((t, self.sequence), due);
    }

    fn finish(&mut self, now: Instant) {
        if !self.finished {
            self.finished = true;
            self.end = now;
            self.injector.set_active(false);
            self.done.notify_one();
        }
    }

    /// One step: counted against the budget, shown to the watchdog.
    fn step(&mut self, now: Instant) {
        self.steps += 1;
        self.progress.steps.store(self.steps, Ordering::Relaxed);
        self.progress.virtual_ns.store(now.as_nanos(), Ordering::Relaxed);
        if self.steps > self.max_steps && !self.finished {
            let detail = format!(
                "the run took {} steps, its budget, by virtual time {}; raise it with Dst::max_steps if the tree is this busy",
                self.steps,
                vigil_sim::format_time(now)
            );
            self.oracle.flag(now, Rule::StepBudget, detail);
        }
    }

    /// After every hook: the first broken rule ends the run.
    fn check(&mut self, now: Instant) {
        if Observer::violation(&self.oracle).is_some() {
            self.finish(now);
        }
    }

    fn record_command(&mut self, engine: &Engine, cmd: Command, now: Instant) {
        let run = cmd.run();
        let refused = match cmd {
            Command::Spawn(_) => self.runs.spawn(run).err(),
            Command::Stop(_) => self.runs.stop(run, false).err(),
            Command::Kill(_) => self.runs.stop(run, true).err(),
        };
        let Some(refused) = refused else { return };
        let path = engine.path(run.node).unwrap_or_else(|| run.node.to_string());
        let (rule, detail) = match refused {
            Refused::AlreadyLive(live) => (
                Rule::OneLiveRun,
                format!("spawn of {path} while its run {live:?} is live"),
            ),
            Refused::NotStarted => (Rule::CommandForLiveRun, format!("{cmd:?} for {path}: not started yet")),
            Refused::NotItsLiveRun => (Rule::CommandForLiveRun, format!("{cmd:?} for {path}: not its live run")),
            Refused::NotLive => (Rule::CommandForLiveRun, format!("{cmd:?} for {path}: not live")),
        };
        self.oracle.flag(now, rule, detail);
    }

    /// The fate of a command while faults are on.
    fn fate(&mut self, cmd: Command, now: Instant) -> Fate {
        match cmd {
            Command::Spawn(run) => match self.injector.start(self.booted) {
                StartFault::None => Fate::Carry,
                StartFault::Delay(d) => {
                    self.injected.delayed_starts += 1;
                    self.at(now.saturating_add(d), Due::Spawn(run));
                    Fate::Delay
                }
                StartFault::Fail => {
                    self.injected.failed_starts += 1;
                    Fate::Fail("injected start failure".to_owned())
                }
            },
            Command::Stop(run) if self.injector.ignores_stop() => {
                self.injected.ignored_stops += 1;
                self.ignored.push(run);
                Fate::Ignore
            }
            Command::Stop(_) | Command::Kill(_) => Fate::Carry,
        }
    }

    /// Faults off: the ignored stops are carried out now.
    fn faults_off(&mut self, actions: &mut Vec<HookAction>) {
        self.injector.set_active(false);
        for run in std::mem::take(&mut self.ignored) {
            if self.runs.is_live(run) {
                actions.push(HookAction::Stop(run));
            }
        }
    }

    /// A random kill: one running run, chosen by the seed; then the next.
    fn kill(&mut self, now: Instant, actions: &mut Vec<HookAction>) {
        let up: Vec<RunId> = self
            .runs
            .iter()
            .filter(|(_, phase)| matches!(phase, RunPhase::Up { .. }))
            .map(|(run, _)| run)
            .collect();
        if !up.is_empty() {
            let victim = up[self.injector.choose(up.len())];
            self.injected.kills += 1;
            actions.push(HookAction::Kill(victim));
        }
        if let Some(gap) = self.injector.next_kill() {
            self.at(now.saturating_add(gap), Due::Kill);
        }
    }

    /// Faults have been off for the liveness bound: every permanent child
    /// of a running supervisor must be running.
    fn judge(&mut self, engine: &Engine, now: Instant) {
        if !engine.is_down() {
            if let Some(detail) = first_child_down(engine) {
                self.oracle.flag(now, Rule::Liveness, detail);
            }
        }
        self.finish(now);
    }
}

/// The first permanent child of a running supervisor that is not running.
fn first_child_down(engine: &Engine) -> Option<String> {
    let mut stack = vec![engine.root()];
    while let Some(sup) = stack.pop() {
        for c in engine.children(sup) {
            let state = engine.state(c);
            let running = state == Some(ChildState::Running);
            if engine.restart_type(c) == Some(Restart::Permanent) && !running {
                let path = engine.path(c).unwrap_or_else(|| c.to_string());
                return Some(format!(
                    "{path} is permanent but {state:?} after the faults were off for the liveness bound"
                ));
            }
            if running && engine.is_supervisor(c) {
                stack.push(c);
            }
        }
    }
    None
}

/// The world behind one lock, shared (as an `Arc`) by the driver's hooks
/// and the runs' checkpoints.
pub(crate) struct Shared(pub(crate) Mutex<World>);

impl Shared {
    pub(crate) fn lock(&self) -> MutexGuard<'_, World> {
        // A panic never happens under this lock; should one, the state is
        // still whole (every change is a single assignment).
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Shared {
    /// What the checkpoint of a run does now.
    pub(crate) fn checkpoint(&self, _run: RunId) -> CheckpointFate {
        let mut w = self.lock();
        if w.finished {
            return CheckpointFate::Continue;
        }
        match w.injector.checkpoint() {
            CheckpointFault::None => CheckpointFate::Continue,
            CheckpointFault::Crash => {
                w.injected.crashes += 1;
                CheckpointFate::Crash
            }
            CheckpointFault::Panic => {
                w.injected.panics += 1;
                CheckpointFate::Panic
            }
        }
    }
}

/// The hooks are the shared world itself: handing a run its link to the
/// injector clones an `Arc`, nothing more.
impl DriverHooks for Arc<Shared> {
    fn input(&mut self, engine: &Engine, input: &Input, now: Instant) {
        let mut w = self.lock();
        if w.finished {
            return;
        }
        w.step(now);
        let notify = || engine.readiness(input.run().node) == Some(Readiness::Notify);
        let valid = !engine.is_down() && w.runs.accept(input, notify);
        if !valid {
            w.oracle.injected_stale();
        }
    }

    fn hold(&mut self, run: RunId, report: &RunnerReport, now: Instant) -> bool {
        let mut w = self.lock();
        if w.finished || *report != RunnerReport::Ready {
            return false;
        }
        let Some(d) = w.injector.ready() else { return false };
        w.injected.delayed_readies += 1;
        w.at(now.saturating_add(d), Due::Ready(run));
        true
    }

    fn request(&mut self, request: &Request) {
        let mut w = self.lock();
        if !w.finished {
            w.oracle.request_sent(request);
        }
    }

    fn notice(&mut self, engine: &Engine, notice: &Notice, now: Instant) {
        let mut w = self.lock();
        if w.finished {
            return;
        }
        w.step(now);
        w.oracle.observe(engine, notice, now);
        w.trace.notice(engine, now, notice);
        if let Notice::SupStarted { sup } = notice {
            w.booted |= *sup == engine.root();
        }
        w.check(now);
    }

    fn command(&mut self, engine: &Engine, cmd: Command, now: Instant) -> Fate {
        let mut w = self.lock();
        if w.finished {
            return Fate::Carry;
        }
        w.record_command(engine, cmd, now);
        let fate = w.fate(cmd, now);
        w.check(now);
        fate
    }

    fn settled(&mut self, engine: &Engine, now: Instant) {
        let mut w = self.lock();
        if w.finished {
            return;
        }
        Observer::settled(&mut w.oracle, engine, now);
        if engine.is_down() {
            if let Some(run) = w.runs.in_spawn_order().first() {
                let detail = format!("tree is down but {run:?} is still live");
                w.oracle.flag(now, Rule::TreeDown, detail);
            }
            w.finish(now);
        }
        w.check(now);
    }

    fn deadlines_fired(&mut self, now: Instant, next: Option<Instant>) {
        let mut w = self.lock();
        if !w.finished {
            w.oracle.check_next_deadline(now, next);
            w.check(now);
        }
    }

    fn next_due(&self) -> Option<Instant> {
        let w = self.lock();
        if w.finished {
            return None;
        }
        w.timers.keys().next().map(|&(t, _)| t)
    }

    fn due(&mut self, engine: &Engine, now: Instant, actions: &mut Vec<HookAction>) {
        let mut w = self.lock();
        while !w.finished {
            let Some(entry) = w.timers.first_entry() else { break };
            if entry.key().0 > now {
                break;
            }
            let due = entry.remove();
            // A timer is a step too: a chain of kills 1 ns apart ends at the budget.
            w.step(now);
            match due {
                Due::Spawn(run) => actions.push(HookAction::Spawn(run)),
                Due::Ready(run) => actions.push(HookAction::Deliver(run, RunnerReport::Ready)),
                Due::Kill if w.injector.is_active() => w.kill(now, actions),
                Due::Kill => {}
                Due::FaultsOff => w.faults_off(actions),
                Due::Judge => w.judge(engine, now),
            }
        }
    }

    fn fault_link(&self) -> FaultLink {
        FaultLink {
            injector: Some(Arc::clone(self)),
        }
    }
}

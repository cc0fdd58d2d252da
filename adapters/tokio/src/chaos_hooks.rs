//! The driver's hooks on a real run with chaos (`src/chaos.rs`): the
//! second implementation of [`DriverHooks`] beside the own-code
//! simulation's world (`src/dst/world.rs`), without its oracle or trace.
//! It asks the shared [`FaultInjector`] what happens to each spawn and each
//! `ready`, keeps its own timers on the driver's clock (delayed starts and
//! readies, the next random kill), and hands the driver what is due: a
//! delayed spawn, a held `ready`, or a [`HookAction::Kill`], which the
//! driver carries out as it does a `Kill` command.
//!
//! Safety (docs/SIMULATION.md, "Chaos on a real run"): a kill names a run
//! the engine has up now (`Running`, its current run), and the driver acts
//! only on its own live handle of that exact run; nothing is injected once
//! shutdown has begun (a `shutdown` request, the root ending, the tree
//! down, or [`ChaosControl::stop`]), and at that moment the delayed starts
//! and readies are carried out at once.

use std::collections::{BTreeMap, BTreeSet};

use vigil_core::{ChildState, Command, Engine, Input, Instant, Notice, Request, RunId};

use crate::chaos::{Chaos, ChaosControl, MIN_KILL_GAP};
use crate::context::FaultLink;
use crate::dst::{FaultInjector, StartFault};
use crate::report::RunnerReport;
use crate::sim_hooks::{DriverHooks, Fate, HookAction};

/// Why chaos went off when its switch was thrown first.
const SHUTDOWN: &str = "shutdown began, or chaos was stopped";

/// Something chaos has to do at a time of its own.
#[derive(Clone, Copy, Debug)]
enum Due {
    Spawn(RunId),
    Ready(RunId),
    Kill,
}

/// The hooks of a chaos run.
pub(crate) struct ChaosHooks {
    seed: u64,
    injector: FaultInjector,
    control: ChaosControl,
    timers: BTreeMap<(Instant, u64), Due>,
    sequence: u64,
    /// Runs whose `Started` the engine accepted and whose end it has not
    /// seen: the candidates of a random kill.
    up: BTreeSet<RunId>,
    /// The root has started its children (start failures before that would
    /// end the tree: they are not injected).
    booted: bool,
    /// Switched off for good, and the delays released.
    off: bool,
}

impl ChaosHooks {
    /// Hooks for `chaos`, on a driver whose clock starts at 0 now.
    pub(crate) fn new(chaos: Chaos) -> Self {
        let (seed, injector, control) = chaos.into_parts();
        let mut hooks = ChaosHooks {
            seed,
            injector,
            control,
            timers: BTreeMap::new(),
            sequence: 0,
            up: BTreeSet::new(),
            booted: false,
            off: false,
        };
        hooks.arm_kill(Instant::ZERO);
        hooks
    }

    fn at(&mut self, t: Instant, due: Due) {
        self.sequence = self.sequence.wrapping_add(1);
        self.timers.insert((t, self.sequence), due);
    }

    fn arm_kill(&mut self, now: Instant) {
        if let Some(gap) = self.injector.next_kill() {
            self.at(now.saturating_add(gap.max(MIN_KILL_GAP)), Due::Kill);
        }
    }

    /// Whether faults are injected now.
    fn active(&self) -> bool {
        !self.off && self.control.is_on()
    }

    /// Shutdown began (or chaos was stopped): no fault from now on; the
    /// delayed starts and readies are due now, the kills dropped.
    fn switch_off(&mut self, now: Instant, why: &str) {
        if self.off {
            return;
        }
        self.off = true;
        self.control.stop();
        self.injector.set_active(false);
        let pending = std::mem::take(&mut self.timers);
        let mut released = 0u64;
        for due in pending.into_values() {
            if !matches!(due, Due::Kill) {
                released += 1;
                self.at(now, due);
            }
        }
        tracing::warn!(
            seed = self.seed,
            released_delays = released,
            "chaos is off ({why}): nothing more is injected"
        );
    }

    /// The fate of a `Spawn` while chaos is on.
    fn spawn_fate(&mut self, engine: &Engine, run: RunId, now: Instant) -> Fate {
        let path = || engine.path(run.node).unwrap_or_default();
        match self.injector.start(self.booted) {
            StartFault::None => Fate::Carry,
            StartFault::Delay(d) => {
                self.control.count(|i| i.delayed_starts += 1);
                tracing::info!(path = %path(), generation = run.generation, delay = ?d, seed = self.seed,
                    "chaos: start delayed (injected)");
                self.at(now.saturating_add(d), Due::Spawn(run));
                Fate::Delay
            }
            StartFault::Fail => {
                self.control.count(|i| i.failed_starts += 1);
                tracing::warn!(path = %path(), generation = run.generation, seed = self.seed,
                    "chaos: start failed (injected; nothing was started)");
                Fate::Fail(format!("injected start failure (chaos seed {})", self.seed))
            }
        }
    }

    /// A random kill: one running child, chosen by the seed; then the next.
    fn kill(&mut self, engine: &Engine, now: Instant, actions: &mut Vec<HookAction>) {
        // Only runs the engine has up now: its current run, `Running`.
        self.up
            .retain(|run| engine.current_run(run.node) == Some(*run) && engine.state(run.node).is_some());
        let running: Vec<RunId> = self
            .up
            .iter()
            .copied()
            .filter(|run| engine.state(run.node) == Some(ChildState::Running))
            .collect();
        if !running.is_empty() {
            let victim = running[self.injector.choose(running.len())];
            self.control.count(|i| i.kills += 1);
            tracing::warn!(path = %engine.path(victim.node).unwrap_or_default(), generation = victim.generation,
                seed = self.seed, "chaos: killing a running child (injected; SIGKILL to a process's group)");
            actions.push(HookAction::Kill(victim));
        }
        self.arm_kill(now);
    }

    /// What the hooks see of a notice: runs up and gone, the boot, the end.
    fn observe(&mut self, engine: &Engine, notice: &Notice, now: Instant) {
        match notice {
            Notice::Started(run) => {
                self.up.insert(*run);
            }
            Notice::StartFailed(run, _) | Notice::Exited(run, _) => {
                self.up.remove(run);
            }
            Notice::SupStarted { sup } if *sup == engine.root() => self.booted = true,
            Notice::SupEnding { sup, .. } if *sup == engine.root() => {
                let why = if self.control.is_on() {
                    "the root is ending"
                } else {
                    SHUTDOWN
                };
                self.switch_off(now, why);
            }
            Notice::TreeDown { .. } => self.switch_off(now, "the tree is down"),
            _ => {}
        }
    }
}

impl DriverHooks for ChaosHooks {
    fn input(&mut self, _engine: &Engine, _input: &Input, _now: Instant) {}

    fn hold(&mut self, run: RunId, report: &RunnerReport, now: Instant) -> bool {
        if !self.active() || *report != RunnerReport::Ready {
            return false;
        }
        let Some(d) = self.injector.ready() else { return false };
        self.control.count(|i| i.delayed_readies += 1);
        tracing::info!(generation = run.generation, delay = ?d, seed = self.seed, "chaos: readiness delayed (injected)");
        self.at(now.saturating_add(d), Due::Ready(run));
        true
    }

    fn request(&mut self, request: &Request) {
        // The switch is thrown now; the delays are released when the
        // request has been handled (`settled`, which knows the time).
        if matches!(request, Request::Shutdown) {
            self.control.stop();
        }
    }

    fn notice(&mut self, engine: &Engine, notice: &Notice, now: Instant) {
        self.observe(engine, notice, now);
    }

    fn command(&mut self, engine: &Engine, cmd: Command, now: Instant) -> Fate {
        match cmd {
            Command::Spawn(run) if self.active() => self.spawn_fate(engine, run, now),
            _ => Fate::Carry,
        }
    }

    fn settled(&mut self, _engine: &Engine, now: Instant) {
        if !self.off && !self.control.is_on() {
            self.switch_off(now, SHUTDOWN);
        }
    }

    fn deadlines_fired(&mut self, _now: Instant, _next: Option<Instant>) {}

    fn next_due(&self) -> Option<Instant> {
        self.timers.keys().next().map(|&(t, _)| t)
    }

    fn due(&mut self, engine: &Engine, now: Instant, actions: &mut Vec<HookAction>) {
        if !self.off && !self.control.is_on() {
            self.switch_off(now, SHUTDOWN);
        }
        while let Some(entry) = self.timers.first_entry() {
            if entry.key().0 > now {
                break;
            }
            // A delayed spawn or `ready` of a run that is no longer the
            // current one is dropped (the engine would ignore it).
            let current = |run: RunId| engine.current_run(run.node) == Some(run);
            match entry.remove() {
                Due::Spawn(run) if current(run) => actions.push(HookAction::Spawn(run)),
                Due::Ready(run) if current(run) => actions.push(HookAction::Deliver(run, RunnerReport::Ready)),
                Due::Kill if self.active() => self.kill(engine, now, actions),
                Due::Spawn(_) | Due::Ready(_) | Due::Kill => {}
            }
        }
    }

    fn fault_link(&self) -> FaultLink {
        // Checkpoints do nothing in a real run, chaos or not.
        FaultLink::default()
    }
}

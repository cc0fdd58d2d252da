//! A world driven by hand: the caller chooses every action (answers to spawns,
//! exits, heartbeats, stale and out-of-order inputs, operator requests, clock
//! advances) and the [`Oracle`] checks the engine after every step.
//!
//! This is how fuzzers and hand-written tests run the oracle over an arbitrary
//! input sequence. Every input the caller delivers is legal for a real world,
//! because the world classifies it before handing it to the engine:
//!
//! - **valid**: about a run the world has live, and meaningful in that run's
//!   phase: `Started` / `StartFailed` for a run not answered yet; `Ready` for
//!   a started `notify` run that has not reported ready and was not asked to
//!   stop or killed; `Heartbeat` for a started run; `Exited` for any live run
//!   (before it started it is a failed start, after a `Stop` the end of the
//!   stop, otherwise an exit by itself);
//! - **stale**: everything else (an ended or never-issued run, an unknown
//!   node, a supervisor node, a second `Started`, `Ready` before `Started` or
//!   twice, anything after the tree is down). The engine must ignore and
//!   count exactly these (docs/SEMANTICS.md section 1); the oracle's `stale`
//!   rule compares.
//!
//! The world also checks what only it can know, as the simulated world does:
//! no `Spawn` of a worker whose run is live, `Stop`/`Kill` only for a live,
//! started run, and nothing live once the tree is down.

use std::time::Duration;

use vigil_core::{
    Command, Engine, ExitReason, Input, Instant, Readiness, Reply, Request, RequestError, RunId, SpecError,
    SupervisorSpec,
};
use vigil_trace::TraceWriter;

use crate::oracle::{Oracle, Rule, Violation};

/// How many ended runs the world remembers for stale inputs.
const ENDED_KEPT: usize = 64;

/// Where a live run is, as far as the world knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunPhase {
    /// The engine sent `Spawn`; the world has not answered yet.
    Spawning,
    /// The world reported `Started`.
    Up {
        /// The world reported `Ready` (meaningful for `notify` workers only).
        ready: bool,
    },
    /// The engine sent `Stop` or `Kill`; the run has not exited yet.
    Stopping,
}

#[derive(Clone, Copy, Debug)]
struct Live {
    run: RunId,
    phase: RunPhase,
    /// The engine sent `Kill`.
    killed: bool,
}

/// An engine under an oracle, driven one caller-chosen action at a time.
///
/// ```
/// use std::time::Duration;
/// use vigil_core::{ChildSpec, ExitReason, Input, SupervisorSpec};
/// use vigil_sim::{ManualWorld, TraceWriter};
///
/// let spec = SupervisorSpec::new().child(ChildSpec::worker("db"));
/// let mut w = ManualWorld::new(spec, 0, TraceWriter::hashing()).unwrap();
/// w.start();
/// let db = w.live_runs().next().unwrap();
/// assert!(w.deliver(Input::Started(db)));
/// assert!(!w.deliver(Input::Started(db)), "a second Started is stale");
/// w.advance(Duration::from_secs(1));
/// assert!(w.deliver(Input::Exited(db, ExitReason::Error("boom".into()))));
/// assert!(!w.deliver(Input::Exited(db, ExitReason::Normal)), "the run has ended");
/// assert_eq!(w.ended_runs(), &[db]);
/// assert!(w.violation().is_none());
/// ```
pub struct ManualWorld {
    engine: Engine,
    oracle: Oracle,
    trace: TraceWriter,
    now: Instant,
    /// Live runs, in the order they were spawned.
    live: Vec<Live>,
    /// Runs that ended (the latest [`ENDED_KEPT`]), for stale inputs.
    ended: Vec<RunId>,
    ended_next: usize,
}

impl ManualWorld {
    /// A world around a new engine for `spec` (not started yet: see
    /// [`ManualWorld::start`]); the spec's validation error if it is invalid.
    pub fn new(spec: SupervisorSpec, seed: u64, trace: TraceWriter) -> Result<Self, SpecError> {
        Ok(ManualWorld {
            engine: Engine::new(spec, seed)?,
            oracle: Oracle::new(),
            trace,
            now: Instant::ZERO,
            live: Vec::new(),
            ended: Vec::new(),
            ended_next: 0,
        })
    }

    /// Start the tree at the current time.
    pub fn start(&mut self) {
        self.engine.start(self.now);
        self.after_call();
    }

    /// The engine (for paths, specs and state; drive it only through the world).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The world's clock.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The first broken rule, if any.
    pub fn violation(&self) -> Option<&Violation> {
        self.oracle.violation()
    }

    /// The trace written so far (its hash identifies the run).
    pub fn trace(&self) -> &TraceWriter {
        &self.trace
    }

    /// The runs that are live in the world, in spawn order.
    pub fn live_runs(&self) -> impl Iterator<Item = RunId> + '_ {
        self.live.iter().map(|l| l.run)
    }

    /// The phase of a live run; `None` if the world has no such live run.
    pub fn phase(&self, run: RunId) -> Option<RunPhase> {
        self.live.iter().find(|l| l.run == run).map(|l| l.phase)
    }

    /// Runs that ended (the latest 64, in no particular order).
    pub fn ended_runs(&self) -> &[RunId] {
        &self.ended
    }

    /// Whether `input` is valid now (see the module documentation); otherwise
    /// it is stale and the engine must ignore it.
    pub fn is_valid(&self, input: &Input) -> bool {
        if self.oracle.is_tree_down() {
            return false;
        }
        let Some(phase) = self.phase(input.run()) else {
            return false;
        };
        match input {
            Input::Started(_) | Input::StartFailed(..) => phase == RunPhase::Spawning,
            Input::Ready(r) => {
                phase == RunPhase::Up { ready: false } && self.engine.readiness(r.node) == Some(Readiness::Notify)
            }
            Input::Heartbeat(_) => phase != RunPhase::Spawning,
            Input::Exited(..) => true,
            // A monitor evicts a run that is up (ready or not), never one
            // already told to stop.
            Input::Evict(..) => matches!(phase, RunPhase::Up { .. }),
        }
    }

    /// Deliver any input at the current time. Returns whether it was valid;
    /// a stale one is expected to be ignored and counted.
    pub fn deliver(&mut self, input: Input) -> bool {
        let run = input.run();
        let valid = self.is_valid(&input);
        if valid {
            match input {
                Input::Started(_) => self.set_phase(run, RunPhase::Up { ready: false }),
                Input::Ready(_) => self.set_phase(run, RunPhase::Up { ready: true }),
                Input::Heartbeat(_) | Input::Evict(..) => {}
                Input::StartFailed(..) | Input::Exited(..) => self.end(run),
            }
        } else {
            self.oracle.injected_stale();
        }
        self.engine.handle(input, self.now);
        self.after_call();
        valid
    }

    /// Send an operator request at the current time.
    pub fn request(&mut self, request: Request) -> Result<Reply, RequestError> {
        let reply = self.engine.request(request, self.now);
        self.after_call();
        reply
    }

    /// Move the clock forward by `by` and fire every deadline now due: late,
    /// if the jump went past one (a busy driver).
    pub fn advance(&mut self, by: Duration) {
        self.now = self.now.saturating_add(by);
        self.engine.handle_timeout(self.now);
        self.after_call();
        self.oracle.check_deadlines(&mut self.engine, self.now);
    }

    /// Move the clock forward by `by` without firing deadlines: inputs
    /// delivered next arrive before the driver noticed its timer.
    pub fn advance_clock(&mut self, by: Duration) {
        self.now = self.now.saturating_add(by);
    }

    /// Jump to the engine's next deadline (if it is ahead) and fire it, as a
    /// punctual driver does. Returns false when no deadline is armed.
    pub fn fire_next_deadline(&mut self) -> bool {
        let Some(at) = self.engine.poll_timeout() else {
            return false;
        };
        self.now = self.now.max(at);
        self.engine.handle_timeout(self.now);
        self.after_call();
        self.oracle.check_deadlines(&mut self.engine, self.now);
        true
    }

    /// Request `shutdown`, then play a cooperative world until the tree is
    /// down: every pending spawn starts, every run asked to stop or killed
    /// exits at once (`shutdown` / `killed`), deadlines fire on time. If the
    /// tree is not down within `max_steps` such steps, or nothing is left to
    /// do while it is still up, that is a [`Rule::Liveness`] violation.
    pub fn shutdown_cooperatively(&mut self, max_steps: usize) {
        if !self.engine.is_down() {
            let _ = self.request(Request::Shutdown);
        }
        for _ in 0..max_steps {
            if self.engine.is_down() || self.oracle.violation().is_some() {
                return;
            }
            let next = self
                .live
                .iter()
                .find(|l| matches!(l.phase, RunPhase::Spawning | RunPhase::Stopping));
            match next.map(|l| (l.run, l.phase, l.killed)) {
                Some((run, RunPhase::Spawning, _)) => {
                    self.deliver(Input::Started(run));
                }
                Some((run, _, killed)) => {
                    let reason = if killed {
                        ExitReason::Killed
                    } else {
                        ExitReason::shutdown()
                    };
                    self.deliver(Input::Exited(run, reason));
                }
                None => {
                    if !self.fire_next_deadline() {
                        break;
                    }
                }
            }
        }
        if !self.engine.is_down() {
            let detail = format!(
                "the tree is not down after a shutdown request in a cooperative world ({} runs live)",
                self.live.len()
            );
            self.oracle.flag(self.now, Rule::Liveness, detail);
        }
    }

    fn set_phase(&mut self, run: RunId, phase: RunPhase) {
        if let Some(l) = self.live.iter_mut().find(|l| l.run == run) {
            l.phase = phase;
        }
    }

    fn end(&mut self, run: RunId) {
        self.live.retain(|l| l.run != run);
        if self.ended.len() < ENDED_KEPT {
            self.ended.push(run);
        } else {
            self.ended[self.ended_next] = run;
            self.ended_next = (self.ended_next + 1) % ENDED_KEPT;
        }
    }

    /// Drain what the latest engine call produced: notices to the oracle and
    /// the trace, commands to the world; then the end-of-step checks.
    fn after_call(&mut self) {
        let now = self.now;
        while let Some(n) = self.engine.poll_notice() {
            self.oracle.observe(&self.engine, &n, now);
            self.trace.notice(&self.engine, now, &n);
        }
        while let Some(cmd) = self.engine.poll_command() {
            self.command(cmd);
        }
        self.oracle.end_step(now);
        self.oracle.check_temporaries(&self.engine, now);
        if self.engine.is_down() {
            if let Some(l) = self.live.first() {
                let detail = format!("tree is down but {:?} is still live", l.run);
                self.oracle.flag(now, Rule::TreeDown, detail);
            }
        }
    }

    fn command(&mut self, cmd: Command) {
        let run = cmd.run();
        let live = self.live.iter().position(|l| l.run.node == run.node);
        match cmd {
            Command::Spawn(_) => match live {
                Some(i) => {
                    let detail = format!(
                        "spawn of {} while its run {:?} is live",
                        self.path(run),
                        self.live[i].run
                    );
                    self.oracle.flag(self.now, Rule::OneLiveRun, detail);
                }
                None => self.live.push(Live {
                    run,
                    phase: RunPhase::Spawning,
                    killed: false,
                }),
            },
            Command::Stop(_) | Command::Kill(_) => {
                let what = if matches!(cmd, Command::Stop(_)) {
                    "stop"
                } else {
                    "kill"
                };
                match live.map(|i| &mut self.live[i]) {
                    Some(l) if l.run == run && l.phase != RunPhase::Spawning => {
                        l.phase = RunPhase::Stopping;
                        l.killed |= matches!(cmd, Command::Kill(_));
                    }
                    Some(l) => {
                        let state = if l.run == run {
                            "not started yet"
                        } else {
                            "not its live run"
                        };
                        let detail = format!("{what} for {} gen {} which is {state}", self.path(run), run.generation);
                        self.oracle.flag(self.now, Rule::CommandForLiveRun, detail);
                    }
                    None => {
                        let detail = format!("{what} for {} gen {} which is not live", self.path(run), run.generation);
                        self.oracle.flag(self.now, Rule::CommandForLiveRun, detail);
                    }
                }
            }
        }
    }

    fn path(&self, run: RunId) -> String {
        self.engine.path(run.node).unwrap_or_else(|| run.node.to_string())
    }
}

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

use vigil_core::{Engine, ExitReason, Input, Instant, Reply, Request, RequestError, RunId, SpecError, SupervisorSpec};
use vigil_trace::TraceWriter;

use crate::oracle::{Oracle, Rule, Violation};
use crate::runs::RunPhase;
use crate::world::World;

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
    /// The one world, watched by the oracle and the trace; it answers no
    /// command by itself (its policy is `()`): the caller does.
    world: World<(Oracle, TraceWriter)>,
}

impl ManualWorld {
    /// A world around a new engine for `spec` (not started yet: see
    /// [`ManualWorld::start`]); the spec's validation error if it is invalid.
    pub fn new(spec: SupervisorSpec, seed: u64, trace: TraceWriter) -> Result<Self, SpecError> {
        Ok(ManualWorld {
            world: World::new(Engine::new(spec.clone(), seed)?, (Oracle::new(&spec), trace)),
        })
    }

    /// Start the tree at the current time.
    pub fn start(&mut self) {
        self.world.start(&mut ());
    }

    /// The engine (for paths, specs and state; drive it only through the world).
    pub fn engine(&self) -> &Engine {
        self.world.engine()
    }

    /// The world's clock.
    pub fn now(&self) -> Instant {
        self.world.now()
    }

    /// The first broken rule, if any.
    pub fn violation(&self) -> Option<&Violation> {
        self.world.observer().0.violation()
    }

    /// The trace written so far (its hash identifies the run).
    pub fn trace(&self) -> &TraceWriter {
        &self.world.observer().1
    }

    /// The runs that are live in the world, in spawn order.
    pub fn live_runs(&self) -> impl Iterator<Item = RunId> + '_ {
        self.world.runs().in_spawn_order().into_iter()
    }

    /// The phase of a live run; `None` if the world has no such live run.
    pub fn phase(&self, run: RunId) -> Option<RunPhase> {
        self.world.runs().phase(run)
    }

    /// Runs that ended (the latest 64, in no particular order).
    pub fn ended_runs(&self) -> &[RunId] {
        self.world.runs().ended()
    }

    /// Whether `input` is valid now (see the module documentation); otherwise
    /// it is stale and the engine must ignore it.
    pub fn is_valid(&self, input: &Input) -> bool {
        self.world.is_valid(input)
    }

    /// Deliver any input at the current time. Returns whether it was valid;
    /// a stale one is expected to be ignored and counted.
    pub fn deliver(&mut self, input: Input) -> bool {
        self.world.deliver(input, &mut ())
    }

    /// Send an operator request at the current time.
    pub fn request(&mut self, request: Request) -> Result<Reply, RequestError> {
        self.world.request(request, &mut ())
    }

    /// Move the clock forward by `by` and fire every deadline now due: late,
    /// if the jump went past one (a busy driver).
    pub fn advance(&mut self, by: Duration) {
        let at = self.world.now().saturating_add(by);
        self.world.fire_at(at, &mut ());
    }

    /// Move the clock forward by `by` without firing deadlines: inputs
    /// delivered next arrive before the driver noticed its timer.
    pub fn advance_clock(&mut self, by: Duration) {
        self.world.advance_clock(by);
    }

    /// Jump to the engine's next deadline (if it is ahead) and fire it, as a
    /// punctual driver does. Returns false when no deadline is armed.
    pub fn fire_next_deadline(&mut self) -> bool {
        let Some(at) = self.world.next_deadline() else {
            return false;
        };
        self.world.fire_at(at, &mut ());
        true
    }

    /// Request `shutdown`, then play a cooperative world until the tree is
    /// down: every pending spawn starts, every run asked to stop or killed
    /// exits at once (`shutdown` / `killed`), deadlines fire on time. If the
    /// tree is not down within `max_steps` such steps, or nothing is left to
    /// do while it is still up, that is a [`Rule::Liveness`] violation.
    pub fn shutdown_cooperatively(&mut self, max_steps: usize) {
        if !self.engine().is_down() {
            let _ = self.request(Request::Shutdown);
        }
        for _ in 0..max_steps {
            if self.engine().is_down() || self.violation().is_some() {
                return;
            }
            let runs = self.world.runs();
            let next = runs
                .in_spawn_order()
                .into_iter()
                .find(|&r| matches!(runs.phase(r), Some(RunPhase::Spawning | RunPhase::Stopping)));
            match next.map(|r| (r, runs.phase(r), runs.is_killed(r))) {
                Some((run, Some(RunPhase::Spawning), _)) => {
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
        if !self.engine().is_down() {
            let detail = format!(
                "the tree is not down after a shutdown request in a cooperative world ({} runs live)",
                self.world.runs().len()
            );
            let now = self.now();
            self.world.observer_mut().0.flag(now, Rule::Liveness, detail);
        }
    }
}

//! The one driver-side world: an engine, a virtual clock and the world's
//! truth about runs, driven by the same loop for every user of the engine in
//! virtual time (the simulator, [`ManualWorld`](crate::ManualWorld), the
//! test harness of `vigil-tests` and `vigil tour`).
//!
//! Every engine call goes through [`World`], which then runs the call to
//! quiescence: it hands each notice to its [`Observer`], then takes each
//! command, records what it does to the run it names (checking that the
//! command makes sense for that run), and hands it to the caller's
//! [`Policy`], which answers it now, later, or never; then it tells the
//! observer the call has settled and checks that nothing is live once the
//! tree is down. Inputs are classified as they are delivered: *valid*
//! (about a live run, and meaningful in its phase) or *stale*, which the
//! engine must ignore and count.

use std::time::Duration;

use vigil_core::{Command, Engine, Input, Instant, Readiness, Reply, Request, RequestError, RunId};

use crate::observer::Observer;
use crate::oracle::Rule;
use crate::runs::{Refused, Runs};

/// How a world answers the engine's commands: the part that differs between
/// the simulator, a hand-driven world, a test's scripted world and the tour.
pub trait Policy<O: Observer> {
    /// The engine sent `cmd`, and the world has recorded it (a command the
    /// world refused as broken never comes here). Answer it at once with
    /// [`World::answer`], schedule an answer, or keep it.
    fn command(&mut self, world: &mut World<O>, cmd: Command);
}

/// A world that answers no command: its caller answers them (with
/// [`World::deliver`]) as it pleases.
impl<O: Observer> Policy<O> for () {
    fn command(&mut self, _world: &mut World<O>, _cmd: Command) {}
}

/// An engine in a virtual world. See the module documentation.
pub struct World<O> {
    engine: Engine,
    now: Instant,
    runs: Runs,
    observer: O,
}

impl<O: Observer> World<O> {
    /// A world around `engine` (not started yet), at time zero.
    pub fn new(engine: Engine, observer: O) -> Self {
        World {
            engine,
            now: Instant::ZERO,
            runs: Runs::default(),
            observer,
        }
    }

    /// The engine (for paths, specs and state; drive it only through the world).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The world's clock.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The world's runs.
    pub fn runs(&self) -> &Runs {
        &self.runs
    }

    /// The observer.
    pub fn observer(&self) -> &O {
        &self.observer
    }

    /// The observer, to change.
    pub fn observer_mut(&mut self) -> &mut O {
        &mut self.observer
    }

    /// Move the clock to `at` (never backwards) without firing deadlines.
    pub fn set_clock(&mut self, at: Instant) {
        self.now = self.now.max(at);
    }

    /// Move the clock forward by `by` (saturating) without firing deadlines.
    pub fn advance_clock(&mut self, by: Duration) {
        self.now = self.now.saturating_add(by);
    }

    /// When the engine wants [`World::fire_at`] next.
    pub fn next_deadline(&mut self) -> Option<Instant> {
        self.engine.poll_timeout()
    }

    /// Start the tree now, and run to quiescence.
    pub fn start(&mut self, policy: &mut impl Policy<O>) {
        self.engine.start(self.now);
        self.settle(policy);
    }

    /// Deliver `input` now and run to quiescence. Returns whether it was
    /// valid; a stale one is expected to be ignored and counted.
    pub fn deliver(&mut self, input: Input, policy: &mut impl Policy<O>) -> bool {
        let valid = self.hand_over(input);
        self.settle(policy);
        valid
    }

    /// Send an operator request now and run to quiescence.
    pub fn request(&mut self, request: Request, policy: &mut impl Policy<O>) -> Result<Reply, RequestError> {
        self.observer.request(&request);
        let reply = self.engine.request(request, self.now);
        self.settle(policy);
        reply
    }

    /// Move the clock to `at` (never backwards), fire every deadline due by
    /// then and run to quiescence; the observer then hears which deadline is
    /// next.
    pub fn fire_at(&mut self, at: Instant, policy: &mut impl Policy<O>) {
        self.set_clock(at);
        self.engine.handle_timeout(self.now);
        self.settle(policy);
        let next = self.engine.poll_timeout();
        self.observer.deadlines_fired(self.now, next);
    }

    /// Whether `input` is valid now: about a live run, and meaningful in its
    /// phase (`Started` / `StartFailed` before any answer, `Ready` once for a
    /// started `notify` run not asked to stop, `Heartbeat` once started,
    /// `Evict` while up, `Exited` any time), and the tree not down.
    pub fn is_valid(&self, input: &Input) -> bool {
        let engine = &self.engine;
        !engine.is_down() && self.runs.is_valid(input, || is_notify(engine, input))
    }

    /// Deliver `input` now, from inside [`Policy::command`]: its notices
    /// are handed to the observer at once, and the commands it causes wait
    /// their turn behind the ones already sent. Returns whether it was valid.
    pub fn answer(&mut self, input: Input) -> bool {
        let valid = self.hand_over(input);
        self.drain_notices();
        valid
    }

    /// Classify and record `input`, then hand it to the engine.
    fn hand_over(&mut self, input: Input) -> bool {
        let engine = &self.engine;
        let valid = !engine.is_down() && self.runs.accept(&input, || is_notify(engine, &input));
        if !valid {
            self.observer.stale_input();
        }
        self.engine.handle(input, self.now);
        valid
    }

    /// Run the latest engine call to quiescence: notices to the observer,
    /// each command recorded and handed to `policy` (which may answer at
    /// once), until none is left; then the end-of-call checks.
    pub fn settle(&mut self, policy: &mut impl Policy<O>) {
        loop {
            self.drain_notices();
            let Some(cmd) = self.engine.poll_command() else { break };
            if self.record(cmd) {
                policy.command(self, cmd);
            }
        }
        self.observer.settled(&self.engine, self.now);
        if self.engine.is_down() {
            if let Some(run) = self.runs.in_spawn_order().first() {
                let detail = format!("tree is down but {run:?} is still live");
                self.observer.flag(self.now, Rule::TreeDown, detail);
            }
        }
    }

    fn drain_notices(&mut self) {
        while let Some(n) = self.engine.poll_notice() {
            self.observer.notice(&self.engine, &n, self.now);
        }
    }

    /// Record what `cmd` does to its run; flag and refuse one that breaks
    /// the world's rules.
    fn record(&mut self, cmd: Command) -> bool {
        let run = cmd.run();
        let (what, refused) = match cmd {
            Command::Spawn(_) => ("spawn", self.runs.spawn(run).err()),
            Command::Stop(_) => ("stop", self.runs.stop(run, false).err()),
            Command::Kill(_) => ("kill", self.runs.stop(run, true).err()),
        };
        let Some(refused) = refused else { return true };
        let (rule, detail) = match refused {
            Refused::AlreadyLive(live) => (
                Rule::OneLiveRun,
                format!("spawn of {} while its run {live:?} is live", self.path(run)),
            ),
            Refused::NotStarted => (
                Rule::CommandForLiveRun,
                self.command_detail(what, run, "not started yet"),
            ),
            Refused::NotItsLiveRun => (
                Rule::CommandForLiveRun,
                self.command_detail(what, run, "not its live run"),
            ),
            Refused::NotLive => (Rule::CommandForLiveRun, self.command_detail(what, run, "not live")),
        };
        self.observer.flag(self.now, rule, detail);
        false
    }

    fn command_detail(&self, what: &str, run: RunId, state: &str) -> String {
        format!("{what} for {} gen {} which is {state}", self.path(run), run.generation)
    }

    fn path(&self, run: RunId) -> String {
        self.engine.path(run.node).unwrap_or_else(|| run.node.to_string())
    }
}

/// Whether the worker `input` is about reports ready (`notify`).
fn is_notify(engine: &Engine, input: &Input) -> bool {
    engine.readiness(input.run().node) == Some(Readiness::Notify)
}

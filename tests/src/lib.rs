//! Test support for vigil: a small deterministic world around the engine.
//!
//! [`Harness`] drives a [`vigil_core::Engine`] the way a driver would, with
//! scripted worker behaviour: spawns succeed at once (unless told to fail),
//! `notify` workers become ready at once (unless told to hang), `Stop` ends a run
//! with `shutdown` at once (unless told to ignore it), and `Kill` ends it with
//! `killed`. Every notice is rendered as one readable line, which is what the
//! rule tests assert on and the snapshot tests record.
//!
//! ```
//! use vigil_core::{ChildSpec, SupervisorSpec};
//! use vigil_tests::Harness;
//! let mut h = Harness::new(SupervisorSpec::new().child(ChildSpec::worker("a")));
//! h.start();
//! h.crash("a");
//! assert_eq!(h.commands(), ["spawn a", "spawn a"]);
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::time::Duration;

use vigil_core::{
    Command, Engine, ExitReason, Input, Instant, Notice, Reply, Request, RequestError, RunId, SupervisorSpec,
};
use vigil_sim::{Observer, Policy, World};

/// A scripted world around one engine. See the crate docs.
///
/// It is the one [`vigil_sim::World`] (the simulator's), watched by a
/// [`Recorder`] and answering commands by a [`Script`].
pub struct Harness {
    world: World<Recorder>,
    script: Script,
}

/// What the harness watches: every notice, rendered.
#[derive(Debug, Default)]
pub struct Recorder {
    /// Every notice so far, rendered.
    log: Vec<String>,
}

impl Observer for Recorder {
    fn notice(&mut self, engine: &Engine, notice: &Notice, now: Instant) {
        self.log.push(render(engine, notice, now));
    }
}

/// How the harness's world answers commands: at once, by the scripted
/// behaviour of each path, or not at all while `auto` is off.
#[derive(Debug)]
pub struct Script {
    /// Every command so far, rendered (`spawn a/b`, `stop a/b`, `kill a/b`).
    cmds: Vec<String>,
    /// Paths whose next N starts fail.
    fail_starts: BTreeMap<String, u32>,
    /// Paths whose spawns get no answer at all (a start that hangs).
    hang_start: BTreeSet<String>,
    /// Paths that never report ready.
    never_ready: BTreeSet<String>,
    /// Paths whose runs ignore Stop.
    ignore_stop: BTreeSet<String>,
    /// Paths whose runs, asked to stop, exit with this reason instead of `shutdown`.
    stop_reason: BTreeMap<String, ExitReason>,
    /// Runs spawned and not answered (hanging starts), by path.
    hanging: BTreeMap<String, RunId>,
    /// Runs asked to stop that ignore it, by path.
    stopping: BTreeMap<String, RunId>,
    /// Whether to answer commands automatically.
    auto: bool,
    /// Commands not answered because `auto` was off.
    pending: VecDeque<Command>,
}

impl Policy<Recorder> for Script {
    fn command(&mut self, world: &mut World<Recorder>, cmd: Command) {
        self.cmds.push(render_command(world.engine(), &cmd));
        if self.auto {
            self.answer(world, cmd);
        } else {
            self.pending.push_back(cmd);
        }
    }
}

impl Script {
    /// Answer one command by the scripted behaviour.
    fn answer(&mut self, world: &mut World<Recorder>, cmd: Command) {
        let path = path_of(world.engine(), cmd.run());
        match cmd {
            Command::Spawn(run) => {
                if let Some(n) = self.fail_starts.get_mut(&path).filter(|n| **n > 0) {
                    *n -= 1;
                    world.answer(Input::StartFailed(run, "scripted".into()));
                } else if self.hang_start.contains(&path) {
                    self.hanging.insert(path, run);
                } else {
                    world.answer(Input::Started(run));
                    if !self.never_ready.contains(&path) {
                        // Ready is stale for immediate workers; only send it to notify ones.
                        let engine = world.engine();
                        if engine.state(run.node) == Some(vigil_core::ChildState::Starting)
                            && engine.current_run(run.node) == Some(run)
                        {
                            world.answer(Input::Ready(run));
                        }
                    }
                }
            }
            Command::Stop(run) => {
                if self.ignore_stop.contains(&path) {
                    self.stopping.insert(path, run);
                } else {
                    let reason = self.stop_reason.get(&path).cloned().unwrap_or(ExitReason::shutdown());
                    world.answer(Input::Exited(run, reason));
                }
            }
            Command::Kill(run) => {
                self.stopping.remove(&path);
                world.answer(Input::Exited(run, ExitReason::Killed));
            }
        }
    }
}

impl Harness {
    /// A harness for `spec`, seed 0, at time zero, not started.
    pub fn new(spec: SupervisorSpec) -> Self {
        Self::with_seed(spec, 0)
    }

    /// A harness with a given seed.
    pub fn with_seed(spec: SupervisorSpec, seed: u64) -> Self {
        Harness {
            world: World::new(Engine::new(spec, seed).expect("valid spec"), Recorder::default()),
            script: Script {
                cmds: Vec::new(),
                fail_starts: BTreeMap::new(),
                hang_start: BTreeSet::new(),
                never_ready: BTreeSet::new(),
                ignore_stop: BTreeSet::new(),
                stop_reason: BTreeMap::new(),
                hanging: BTreeMap::new(),
                stopping: BTreeMap::new(),
                auto: true,
                pending: VecDeque::new(),
            },
        }
    }

    /// The engine under test (drive it through the harness).
    pub fn engine(&self) -> &Engine {
        self.world.engine()
    }

    /// Every notice so far, rendered.
    pub fn log(&self) -> &[String] {
        &self.world.observer().log
    }

    /// Whether to answer commands automatically (on by default); while off,
    /// commands wait in [`Harness::pending`].
    pub fn set_auto(&mut self, auto: bool) -> &mut Self {
        self.script.auto = auto;
        self
    }

    /// Commands not answered because answering automatically was off.
    pub fn pending(&mut self) -> &mut VecDeque<Command> {
        &mut self.script.pending
    }

    /// Runs spawned and not answered (hanging starts), by path.
    pub fn hanging(&mut self) -> &mut BTreeMap<String, RunId> {
        &mut self.script.hanging
    }

    /// Runs asked to stop that ignore it, by path.
    pub fn stopping(&mut self) -> &mut BTreeMap<String, RunId> {
        &mut self.script.stopping
    }

    /// A harness for `spec`, started, with the start's commands and log
    /// forgotten, one second into virtual time: the usual starting point of a
    /// rule test.
    pub fn started(spec: SupervisorSpec) -> Self {
        let mut h = Self::new(spec);
        h.start();
        h.take_commands();
        h.take_log();
        h.advance(Duration::from_secs(1));
        h
    }

    /// Current virtual time.
    pub fn now(&self) -> Instant {
        self.world.now()
    }

    /// Start the tree and settle.
    pub fn start(&mut self) -> &mut Self {
        self.world.start(&mut self.script);
        self
    }

    /// The next `n` starts of `path` fail.
    pub fn fail_starts(&mut self, path: &str, n: u32) -> &mut Self {
        self.script.fail_starts.insert(path.to_owned(), n);
        self
    }

    /// Spawns of `path` get no answer (until [`Harness::answer_start`]).
    pub fn hang_start(&mut self, path: &str) -> &mut Self {
        self.script.hang_start.insert(path.to_owned());
        self
    }

    /// `path` never reports ready.
    pub fn never_ready(&mut self, path: &str) -> &mut Self {
        self.script.never_ready.insert(path.to_owned());
        self
    }

    /// Runs of `path` ignore `Stop` (only `Kill` ends them).
    pub fn ignore_stop(&mut self, path: &str) -> &mut Self {
        self.script.ignore_stop.insert(path.to_owned());
        self
    }

    /// Runs of `path` asked to stop exit with `reason`.
    pub fn stop_reason(&mut self, path: &str, reason: ExitReason) -> &mut Self {
        self.script.stop_reason.insert(path.to_owned(), reason);
        self
    }

    /// Move time forward by `d`, firing every deadline on the way, in order.
    pub fn advance(&mut self, d: Duration) -> &mut Self {
        let target = self.now() + d;
        while let Some(t) = self.world.next_deadline() {
            if t > target {
                break;
            }
            self.world.fire_at(t, &mut self.script);
        }
        self.world.set_clock(target);
        self
    }

    /// Fire the deadlines due at `at` (the clock moves to `at`, never back), and settle.
    pub fn fire_at(&mut self, at: Instant) -> &mut Self {
        self.world.fire_at(at, &mut self.script);
        self
    }

    /// The engine's next deadline (`poll_timeout`).
    pub fn next_deadline(&mut self) -> Option<Instant> {
        self.world.next_deadline()
    }

    /// The current run of the worker at `path`.
    pub fn run(&self, path: &str) -> RunId {
        let engine = self.engine();
        let node = engine.lookup(path).unwrap_or_else(|| panic!("no node {path}"));
        engine.current_run(node).unwrap_or_else(|| panic!("{path} has no run"))
    }

    /// The current run of `path` exits with `reason`.
    pub fn exit(&mut self, path: &str, reason: ExitReason) -> &mut Self {
        let run = self.run(path);
        self.input(Input::Exited(run, reason))
    }

    /// The current run of `path` crashes (`error(crash)`).
    pub fn crash(&mut self, path: &str) -> &mut Self {
        self.exit(path, ExitReason::Error("crash".into()))
    }

    /// Feed an input and settle.
    pub fn input(&mut self, input: Input) -> &mut Self {
        self.world.deliver(input, &mut self.script);
        self
    }

    /// Answer a hanging start of `path` with `Started`.
    pub fn answer_start(&mut self, path: &str) -> &mut Self {
        let run = self.script.hanging.remove(path).expect("a hanging start");
        self.input(Input::Started(run))
    }

    /// Send a request and settle; returns its immediate answer.
    pub fn request(&mut self, req: Request) -> Result<Reply, RequestError> {
        self.world.request(req, &mut self.script)
    }

    /// The commands emitted so far, rendered.
    pub fn commands(&self) -> &[String] {
        &self.script.cmds
    }

    /// Commands emitted so far, then forget them.
    pub fn take_commands(&mut self) -> Vec<String> {
        std::mem::take(&mut self.script.cmds)
    }

    /// The log so far, then forget it.
    pub fn take_log(&mut self) -> Vec<String> {
        std::mem::take(&mut self.world.observer_mut().log)
    }

    /// Log lines containing `needle`.
    pub fn log_lines(&self, needle: &str) -> Vec<&str> {
        self.log()
            .iter()
            .filter(|l| l.contains(needle))
            .map(|s| s.as_str())
            .collect()
    }

    /// The log without its time column.
    pub fn events(&self) -> Vec<String> {
        self.log().iter().map(|l| strip_time(l).to_owned()).collect()
    }

    /// Log lines (time column removed) that start with `prefix`.
    pub fn events_starting(&self, prefix: &str) -> Vec<String> {
        self.events().into_iter().filter(|e| e.starts_with(prefix)).collect()
    }

    /// The log without its time column, then forget the log and the commands.
    pub fn take_events(&mut self) -> Vec<String> {
        self.script.cmds.clear();
        self.take_log().iter().map(|l| strip_time(l).to_owned()).collect()
    }

    /// The operator-visible state of the node at `path` (panics if there is none).
    pub fn state(&self, path: &str) -> vigil_core::ChildState {
        let engine = self.engine();
        let node = engine.lookup(path).unwrap_or_else(|| panic!("no node {path}"));
        engine.state(node).expect("a live node has a state")
    }

    /// Commands emitted but not answered yet (with `auto` off), rendered.
    pub fn pending_commands(&self) -> Vec<String> {
        self.script
            .pending
            .iter()
            .map(|c| render_command(self.engine(), c))
            .collect()
    }

    /// Answer the oldest unanswered command by the script, settle, and return
    /// the commands now waiting.
    pub fn step(&mut self) -> Vec<String> {
        let cmd = self.script.pending.pop_front().expect("a pending command");
        self.script.answer(&mut self.world, cmd);
        self.settle();
        self.pending_commands()
    }

    /// Answer every unanswered command and go back to answering automatically.
    pub fn flush(&mut self) {
        self.script.auto = true;
        while let Some(cmd) = self.script.pending.pop_front() {
            self.script.answer(&mut self.world, cmd);
            self.settle();
        }
    }

    /// `spawn a/b`, `stop a/b` or `kill a/b`.
    pub fn render_command(&self, cmd: &Command) -> String {
        render_command(self.engine(), cmd)
    }

    /// Drain notices and commands, answering commands by the scripted behaviour,
    /// until nothing is left.
    pub fn settle(&mut self) {
        self.world.settle(&mut self.script);
    }

    /// One readable line for a notice: `<ms> <event> <path> <fields>`.
    pub fn render(&self, n: &Notice) -> String {
        render(self.engine(), n, self.now())
    }
}

/// `spawn a/b`, `stop a/b` or `kill a/b`.
fn render_command(engine: &Engine, cmd: &Command) -> String {
    let verb = match cmd {
        Command::Spawn(_) => "spawn",
        Command::Stop(_) => "stop",
        Command::Kill(_) => "kill",
    };
    format!("{verb} {}", path_of(engine, cmd.run()))
}

fn path_of(engine: &Engine, run: RunId) -> String {
    engine.path(run.node).unwrap_or_else(|| format!("{}", run.node))
}

/// One readable line for a notice at `now`: `<ms> <event> <path> <fields>`.
fn render(engine: &Engine, n: &Notice, now: Instant) -> String {
    let t = now.as_nanos() as f64 / 1e6;
    let mut s = format!("{t:>8.1}ms ");
    let p = |id| {
        engine
            .path(id)
            .map(|p| if p.is_empty() { "/".to_owned() } else { p })
            .unwrap_or_default()
    };
    let _ = match n {
        Notice::Spawn(r) => write!(s, "spawn {} gen={}", p(r.node), r.generation),
        Notice::Stop(r) => write!(s, "stop {} gen={}", p(r.node), r.generation),
        Notice::Kill(r) => write!(s, "kill {} gen={}", p(r.node), r.generation),
        Notice::Started(r) => write!(s, "started {} gen={}", p(r.node), r.generation),
        Notice::StartFailed(r, e) => write!(s, "start_failed {} gen={} error={e}", p(r.node), r.generation),
        Notice::Ready(r) => write!(s, "ready {} gen={}", p(r.node), r.generation),
        Notice::Heartbeat(r) => write!(s, "heartbeat {} gen={}", p(r.node), r.generation),
        Notice::Exited(r, reason) => write!(s, "exited {} gen={} reason={reason}", p(r.node), r.generation),
        Notice::Stale(r, k) => write!(s, "stale {} gen={} input={}", r.node, r.generation, k.as_str()),
        Notice::Restart { sup, child, strategy } => {
            write!(s, "restart {} child={} strategy={strategy:?}", p(*sup), p(*child))
        }
        Notice::Backoff { child, delay_ns } => {
            write!(s, "backoff {} delay={}ms", p(*child), *delay_ns as f64 / 1e6)
        }
        Notice::GiveUp { sup } => write!(s, "give_up {}", p(*sup)),
        Notice::Timeout { run, reason } => {
            write!(s, "timeout {} gen={} reason={reason}", p(run.node), run.generation)
        }
        Notice::Evicted { run, reason } => {
            write!(s, "evicted {} gen={} reason={reason}", p(run.node), run.generation)
        }
        Notice::SupStarting { sup } => write!(s, "sup_starting {}", p(*sup)),
        Notice::SupStop { sup } => write!(s, "sup_stop {}", p(*sup)),
        Notice::SupEnding { sup, reason } => write!(s, "sup_ending {} reason={reason}", p(*sup)),
        Notice::SupStarted { sup } => write!(s, "sup_started {}", p(*sup)),
        Notice::SupExit { sup, reason } => write!(s, "sup_exit {} reason={reason}", p(*sup)),
        Notice::Removed { child } => write!(s, "removed {}", p(*child)),
        Notice::TreeDown { reason } => write!(s, "tree_down reason={reason}"),
        Notice::Request { id, op, path } => write!(s, "request {id} {} path={path}", op.as_str()),
        Notice::Reply { id, op, path, result } => {
            let r = match result.as_ref() {
                Ok(Reply::Ok) => "ok".to_owned(),
                Ok(Reply::Started { .. }) => "started".to_owned(),
                Ok(Reply::Pending(_)) => "pending".to_owned(),
                Ok(Reply::Children(c)) => format!("children({})", c.len()),
                Ok(Reply::Counts(c)) => format!("counts({c:?})"),
                Err(e) => format!("error({})", e.code()),
            };
            write!(s, "reply {id} {} path={path} result={r}", op.as_str())
        }
    };
    s
}

/// A rendered log line without its time column.
fn strip_time(line: &str) -> &str {
    line.split_once("ms ").map_or(line, |(_, rest)| rest)
}

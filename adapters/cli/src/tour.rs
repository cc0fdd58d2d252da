//! `vigil tour`: a built-in tree driven through scripted failures in virtual time.
//!
//! The tree is a small web stack: a database that must report ready and send
//! heartbeats, a cache, and a `web` supervisor (rest_for_one) holding an HTTP
//! front and two workers. The script crashes things, hangs a heartbeat, floods
//! one worker until its supervisor gives up and escalates, and finally shuts
//! the tree down in order. The world answers commands after fixed latencies.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use vigil_core::{
    Backoff, ChildSpec, Command, Engine, ExitReason, Input, Instant, NodeId, Notice, Readiness, Reply, Request,
    Restart, RunId, Shutdown, Strategy, SupervisorSpec,
};

/// Something scheduled in the virtual world.
#[derive(Debug, Clone)]
enum Event {
    /// Deliver an input to the engine.
    Input(Input),
    /// The current run of `path` exits with `reason`.
    Crash(&'static str, ExitReason),
    /// The current run of `path` stops sending heartbeats.
    Silence(&'static str),
    /// An operator request.
    Request(Request),
}

fn spec() -> SupervisorSpec {
    let web = SupervisorSpec::new()
        .strategy(Strategy::RestForOne)
        .intensity(2)
        .period(Duration::from_secs(10))
        .child(ChildSpec::worker("http"))
        .child(ChildSpec::worker("w1").shutdown(Shutdown::Timeout(Duration::from_millis(500))))
        .child(ChildSpec::worker("w2").restart(Restart::Transient));
    SupervisorSpec::new()
        .strategy(Strategy::OneForOne)
        .intensity(3)
        .period(Duration::from_secs(30))
        .child(
            ChildSpec::worker("db")
                .readiness(Readiness::Notify)
                .startup_timeout(Duration::from_secs(5))
                .health_timeout(Duration::from_secs(2))
                .backoff(Backoff::exponential(Duration::from_millis(100), Duration::from_secs(5))),
        )
        .child(ChildSpec::worker("cache"))
        .child(ChildSpec::supervisor("web", web))
}

/// The scripted day: (time in ms, event).
fn script() -> Vec<(u64, Event)> {
    let segfault = || ExitReason::Error("segfault".into());
    vec![
        (1_000, Event::Crash("cache", ExitReason::Error("out of memory".into()))),
        (2_000, Event::Silence("db")),
        (6_000, Event::Crash("web/w2", ExitReason::Normal)),
        (7_000, Event::Crash("web/http", segfault())),
        (7_100, Event::Crash("web/w1", segfault())),
        (7_200, Event::Crash("web/w1", segfault())),
        (9_000, Event::Request(Request::Shutdown)),
    ]
}

/// Fixed latencies of the simulated world.
const START_LATENCY: Duration = Duration::from_millis(20);
const READY_LATENCY: Duration = Duration::from_millis(200);
const STOP_LATENCY: Duration = Duration::from_millis(30);
const HEARTBEAT_EVERY: Duration = Duration::from_millis(500);

struct World {
    engine: Engine,
    now: Instant,
    queue: BTreeMap<(Instant, u64), Event>,
    seq: u64,
    /// Runs that stopped sending heartbeats.
    silent: Vec<RunId>,
    heartbeats: u64,
    quiet: bool,
    lines: usize,
}

impl World {
    fn at(&mut self, t: Instant, e: Event) {
        self.seq += 1;
        self.queue.insert((t, self.seq), e);
    }

    fn path(&self, node: NodeId) -> String {
        match self.engine.path(node) {
            Some(p) if p.is_empty() => "/".into(),
            Some(p) => p,
            None => node.to_string(),
        }
    }

    fn print(&mut self, what: String) {
        self.lines += 1;
        if !self.quiet {
            let t = self.now.as_nanos() as f64 / 1e9;
            println!("{t:>9.3}s  {what}");
        }
    }

    /// Print notices, then turn commands into future inputs.
    fn drain(&mut self) {
        while let Some(n) = self.engine.poll_notice() {
            if matches!(n, Notice::Heartbeat(_)) {
                // Counted, not printed: they would drown the interesting lines.
                self.heartbeats += 1;
                continue;
            }
            let line = self.describe(&n);
            self.print(line);
        }
        while let Some(cmd) = self.engine.poll_command() {
            let now = self.now;
            match cmd {
                Command::Spawn(run) => {
                    self.at(now + START_LATENCY, Event::Input(Input::Started(run)));
                    if self.engine.name(run.node) == Some("db") {
                        self.at(now + START_LATENCY + READY_LATENCY, Event::Input(Input::Ready(run)));
                        let mut t = now + START_LATENCY + READY_LATENCY + HEARTBEAT_EVERY;
                        for _ in 0..40 {
                            self.at(t, Event::Input(Input::Heartbeat(run)));
                            t = t + HEARTBEAT_EVERY;
                        }
                    }
                }
                Command::Stop(run) => {
                    self.at(
                        now + STOP_LATENCY,
                        Event::Input(Input::Exited(run, ExitReason::shutdown())),
                    );
                }
                Command::Kill(run) => self.at(now, Event::Input(Input::Exited(run, ExitReason::Killed))),
            }
        }
    }

    fn describe(&self, n: &Notice) -> String {
        let run = |r: &RunId| format!("{} (run {})", self.path(r.node), r.generation);
        match n {
            Notice::Spawn(r) => format!("spawn     {}", run(r)),
            Notice::Stop(r) => format!("stop      {}", run(r)),
            Notice::Kill(r) => format!("kill      {}", run(r)),
            Notice::Started(r) => format!("started   {}", run(r)),
            Notice::StartFailed(r, e) => format!("failed    {}: {e}", run(r)),
            Notice::Ready(r) => format!("ready     {}", run(r)),
            Notice::Heartbeat(r) => format!("heartbeat {}", run(r)),
            Notice::Exited(r, why) => format!("exited    {} reason={why}", run(r)),
            Notice::Stale(r, k) => format!("stale     {} {}", r.node, k.as_str()),
            Notice::Restart { sup, child, strategy } => {
                format!(
                    "RESTART   {} decides to restart {} ({strategy:?})",
                    self.path(*sup),
                    self.path(*child)
                )
            }
            Notice::Backoff { child, delay_ns } => {
                format!(
                    "backoff   {} waits {:?}",
                    self.path(*child),
                    Duration::from_nanos(*delay_ns)
                )
            }
            Notice::GiveUp { sup } => format!("GIVE UP   {} exceeded its restart intensity", self.path(*sup)),
            Notice::Timeout { run: r, reason } => format!("timeout   {} ({reason})", run(r)),
            Notice::Evicted { run: r, reason } => format!("evicted   {} ({reason})", run(r)),
            Notice::SupStarting { sup } => format!("starting  supervisor {}", self.path(*sup)),
            Notice::SupStop { sup } => format!("stop      supervisor {}", self.path(*sup)),
            Notice::SupEnding { sup, reason } => format!("ending    supervisor {} ({reason})", self.path(*sup)),
            Notice::SupStarted { sup } => format!("up        supervisor {}", self.path(*sup)),
            Notice::SupExit { sup, reason } => format!("down      supervisor {} reason={reason}", self.path(*sup)),
            Notice::Removed { child } => format!("removed   {}", self.path(*child)),
            Notice::TreeDown { reason } => format!("TREE DOWN reason={reason}"),
            Notice::Request { op, path, .. } => format!("request   {} {path}", op.as_str()),
            Notice::Reply { op, result, .. } => match result.as_ref() {
                Ok(Reply::Pending(_)) | Ok(_) => format!("reply     {} ok", op.as_str()),
                Err(e) => format!("reply     {} error: {e}", op.as_str()),
            },
        }
    }

    fn apply(&mut self, e: Event) {
        let now = self.now;
        match e {
            Event::Input(input) => {
                let silenced = matches!(&input, Input::Heartbeat(r) if self.silent.contains(r));
                if !silenced {
                    self.engine.handle(input, now);
                }
            }
            Event::Crash(path, reason) => {
                if let Some(run) = self.engine.lookup(path).and_then(|n| self.engine.current_run(n)) {
                    self.engine.handle(Input::Exited(run, reason), now);
                }
            }
            Event::Silence(path) => {
                if let Some(run) = self.engine.lookup(path).and_then(|n| self.engine.current_run(n)) {
                    self.print(format!(
                        "(script)  {path} (run {}) stops sending heartbeats",
                        run.generation
                    ));
                    self.silent.push(run);
                }
            }
            Event::Request(r) => {
                let _ = self.engine.request(r, now);
            }
        }
        self.drain();
    }
}

/// Run the tour; exit code 0 when the tree came down as scripted.
pub fn run(quiet: bool) -> ExitCode {
    let engine = match Engine::new(spec(), 7) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut w = World {
        engine,
        now: Instant::ZERO,
        queue: BTreeMap::new(),
        seq: 0,
        silent: Vec::new(),
        heartbeats: 0,
        quiet,
        lines: 0,
    };
    for (ms, e) in script() {
        w.at(Instant::ZERO + Duration::from_millis(ms), e);
    }
    w.engine.start(w.now);
    w.drain();
    loop {
        let next_event = w.queue.keys().next().map(|k| k.0);
        let next_timer = w.engine.poll_timeout();
        let Some(t) = [next_event, next_timer].into_iter().flatten().min() else {
            break;
        };
        w.now = t;
        if next_timer.is_some_and(|nt| nt <= t) {
            w.engine.handle_timeout(t);
            w.drain();
        }
        while let Some(entry) = w.queue.first_entry() {
            if entry.key().0 > t {
                break;
            }
            let e = entry.remove();
            w.apply(e);
        }
        if w.engine.is_down() {
            break;
        }
    }
    let s = w.engine.stats();
    println!(
        "\n{} events ({} heartbeats not shown) in {:.3}s of virtual time: {} spawns, {} stops, {} kills, \
         {} restart decisions, {} give-ups, {} stale inputs ignored",
        w.lines + w.heartbeats as usize,
        w.heartbeats,
        w.now.as_nanos() as f64 / 1e9,
        s.spawns,
        s.stops,
        s.kills,
        s.restart_decisions,
        s.give_ups,
        s.stale_inputs
    );
    if w.engine.is_down() {
        ExitCode::SUCCESS
    } else {
        eprintln!("error: the tree did not come down");
        ExitCode::from(1)
    }
}

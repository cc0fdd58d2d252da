//! `vigil tour`: a built-in tree driven through scripted failures in virtual time.
//!
//! The tree is a small web stack: a database that must report ready and send
//! heartbeats, a cache, and a `web` supervisor (rest_for_one) holding an HTTP
//! front and two workers. The script crashes things, hangs a heartbeat, floods
//! one worker until its supervisor gives up and escalates, and finally shuts
//! the tree down in order. The world (the simulator's one `vigil_sim::World`)
//! answers commands after fixed latencies.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use vigil_core::{
    Backoff, ChildSpec, Command, Engine, ExitReason, Input, Instant, NodeId, Notice, Readiness, Reply, Request,
    Restart, RunId, Shutdown, Strategy, SupervisorSpec,
};
use vigil_sim::{Observer, Policy, World};

/// Something scheduled in the virtual world.
#[derive(Debug, Clone)]
enum Happening {
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

/// The scripted day: (time in ms, happening).
fn script() -> Vec<(u64, Happening)> {
    let segfault = || ExitReason::Error("segfault".into());
    vec![
        (
            1_000,
            Happening::Crash("cache", ExitReason::Error("out of memory".into())),
        ),
        (2_000, Happening::Silence("db")),
        (6_000, Happening::Crash("web/w2", ExitReason::Normal)),
        (7_000, Happening::Crash("web/http", segfault())),
        (7_100, Happening::Crash("web/w1", segfault())),
        (7_200, Happening::Crash("web/w1", segfault())),
        (9_000, Happening::Request(Request::Shutdown)),
    ]
}

/// Fixed latencies of the simulated world.
const START_LATENCY: Duration = Duration::from_millis(20);
const READY_LATENCY: Duration = Duration::from_millis(200);
const STOP_LATENCY: Duration = Duration::from_millis(30);
const HEARTBEAT_EVERY: Duration = Duration::from_millis(500);

/// What the tour watches: every notice is printed (heartbeats only counted).
struct Printer {
    heartbeats: u64,
    quiet: bool,
    lines: usize,
}

impl Printer {
    fn print(&mut self, now: Instant, what: String) {
        self.lines += 1;
        if !self.quiet {
            let t = now.as_nanos() as f64 / 1e9;
            println!("{t:>9.3}s  {what}");
        }
    }
}

impl Observer for Printer {
    fn notice(&mut self, engine: &Engine, n: &Notice, now: Instant) {
        if matches!(n, Notice::Heartbeat(_)) {
            // Counted, not printed: they would drown the interesting lines.
            self.heartbeats += 1;
            return;
        }
        let line = describe(engine, n);
        self.print(now, line);
    }
}

/// How the tour's world answers commands: with inputs after fixed latencies.
struct Tour {
    queue: BTreeMap<(Instant, u64), Happening>,
    seq: u64,
    /// Runs that stopped sending heartbeats.
    silent: Vec<RunId>,
}

impl Policy<Printer> for Tour {
    fn command(&mut self, world: &mut World<Printer>, cmd: Command) {
        let now = world.now();
        match cmd {
            Command::Spawn(run) => {
                self.at(now + START_LATENCY, Happening::Input(Input::Started(run)));
                if world.engine().name(run.node) == Some("db") {
                    self.at(now + START_LATENCY + READY_LATENCY, Happening::Input(Input::Ready(run)));
                    let mut t = now + START_LATENCY + READY_LATENCY + HEARTBEAT_EVERY;
                    for _ in 0..40 {
                        self.at(t, Happening::Input(Input::Heartbeat(run)));
                        t = t + HEARTBEAT_EVERY;
                    }
                }
            }
            Command::Stop(run) => {
                self.at(
                    now + STOP_LATENCY,
                    Happening::Input(Input::Exited(run, ExitReason::shutdown())),
                );
            }
            Command::Kill(run) => self.at(now, Happening::Input(Input::Exited(run, ExitReason::Killed))),
        }
    }
}

impl Tour {
    fn at(&mut self, t: Instant, e: Happening) {
        self.seq += 1;
        self.queue.insert((t, self.seq), e);
    }

    fn apply(&mut self, world: &mut World<Printer>, e: Happening) {
        let engine = world.engine();
        match e {
            Happening::Input(input) => {
                let silenced = matches!(&input, Input::Heartbeat(r) if self.silent.contains(r));
                if !silenced {
                    world.deliver(input, self);
                }
            }
            Happening::Crash(path, reason) => {
                if let Some(run) = engine.lookup(path).and_then(|n| engine.current_run(n)) {
                    world.deliver(Input::Exited(run, reason), self);
                }
            }
            Happening::Silence(path) => {
                if let Some(run) = engine.lookup(path).and_then(|n| engine.current_run(n)) {
                    let now = world.now();
                    let line = format!("(script)  {path} (run {}) stops sending heartbeats", run.generation);
                    world.observer_mut().print(now, line);
                    self.silent.push(run);
                }
            }
            Happening::Request(r) => {
                let _ = world.request(r, self);
            }
        }
    }
}

fn path(engine: &Engine, node: NodeId) -> String {
    match engine.path(node) {
        Some(p) if p.is_empty() => "/".into(),
        Some(p) => p,
        None => node.to_string(),
    }
}

fn describe(engine: &Engine, n: &Notice) -> String {
    let run = |r: &RunId| format!("{} (run {})", path(engine, r.node), r.generation);
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
                path(engine, *sup),
                path(engine, *child)
            )
        }
        Notice::Backoff { child, delay_ns } => {
            format!(
                "backoff   {} waits {:?}",
                path(engine, *child),
                Duration::from_nanos(*delay_ns)
            )
        }
        Notice::GiveUp { sup } => format!("GIVE UP   {} exceeded its restart intensity", path(engine, *sup)),
        Notice::Timeout { run: r, reason } => format!("timeout   {} ({reason})", run(r)),
        Notice::Evicted { run: r, reason } => format!("evicted   {} ({reason})", run(r)),
        Notice::SupStarting { sup } => format!("starting  supervisor {}", path(engine, *sup)),
        Notice::SupStop { sup } => format!("stop      supervisor {}", path(engine, *sup)),
        Notice::SupEnding { sup, reason } => format!("ending    supervisor {} ({reason})", path(engine, *sup)),
        Notice::SupStarted { sup } => format!("up        supervisor {}", path(engine, *sup)),
        Notice::SupExit { sup, reason } => format!("down      supervisor {} reason={reason}", path(engine, *sup)),
        Notice::Removed { child } => format!("removed   {}", path(engine, *child)),
        Notice::TreeDown { reason } => format!("TREE DOWN reason={reason}"),
        Notice::Request { op, path, .. } => format!("request   {} {path}", op.as_str()),
        Notice::Reply { op, result, .. } => match result.as_ref() {
            Ok(Reply::Pending(_)) | Ok(_) => format!("reply     {} ok", op.as_str()),
            Err(e) => format!("reply     {} error: {e}", op.as_str()),
        },
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
    let printer = Printer {
        heartbeats: 0,
        quiet,
        lines: 0,
    };
    let mut world = World::new(engine, printer);
    let mut tour = Tour {
        queue: BTreeMap::new(),
        seq: 0,
        silent: Vec::new(),
    };
    for (ms, e) in script() {
        tour.at(Instant::ZERO + Duration::from_millis(ms), e);
    }
    world.start(&mut tour);
    loop {
        let next_happening = tour.queue.keys().next().map(|k| k.0);
        let next_timer = world.next_deadline();
        let Some(t) = [next_happening, next_timer].into_iter().flatten().min() else {
            break;
        };
        if next_timer.is_some_and(|nt| nt <= t) {
            world.fire_at(t, &mut tour);
        } else {
            world.set_clock(t);
        }
        while let Some(entry) = tour.queue.first_entry() {
            if entry.key().0 > t {
                break;
            }
            let e = entry.remove();
            tour.apply(&mut world, e);
        }
        if world.engine().is_down() {
            break;
        }
    }
    let s = world.engine().stats();
    let p = world.observer();
    println!(
        "\n{} events ({} heartbeats not shown) in {:.3}s of virtual time: {} spawns, {} stops, {} kills, \
         {} restart decisions, {} give-ups, {} stale inputs ignored",
        p.lines + p.heartbeats as usize,
        p.heartbeats,
        world.now().as_nanos() as f64 / 1e9,
        s.spawns,
        s.stops,
        s.kills,
        s.restart_decisions,
        s.give_ups,
        s.stale_inputs
    );
    if world.engine().is_down() {
        ExitCode::SUCCESS
    } else {
        eprintln!("error: the tree did not come down");
        ExitCode::from(1)
    }
}

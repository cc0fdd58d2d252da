//! The `engine` target: an arbitrary tree, then an arbitrary sequence of world
//! actions (answers to spawns, exits with any reason, ready and heartbeat
//! inputs, stale and out-of-order inputs, operator requests, clock advances,
//! punctual and late deadlines), then a shutdown in a cooperative world.
//!
//! The engine must not panic, the simulator's oracle must hold after every
//! step (through [`vigil_sim::ManualWorld`], which also tells valid inputs from
//! the stale ones the engine must ignore and count), the tree must come down
//! after the final shutdown, and the same bytes must give the same trace.

use std::fmt::Write as _;
use std::time::Duration;

use arbitrary::{Result, Unstructured};
use vigil_core::{AutoShutdown, Eviction, ExitReason, Input, NodeId, Request, RestartAllMode, RunId};
use vigil_sim::{ManualWorld, RunPhase, TraceWriter, Violation};

use crate::engine_tree;

/// The most actions decoded from one input (keeps every execution short).
const MAX_ACTIONS: usize = 300;

/// The most steps of the cooperative world after the final shutdown.
const MAX_SHUTDOWN_STEPS: usize = 10_000;

/// One step of the world, decoded from the bytes against the world's state.
#[derive(Clone, Debug)]
pub enum Action {
    /// Deliver an input (valid or stale: the world classifies it).
    Deliver(Input),
    /// Answer every pending spawn `Started` and every started `notify` run `Ready`.
    AnswerAll,
    /// Move the clock and fire what is due (late if it jumped past a deadline).
    Advance(Duration),
    /// Move the clock without firing deadlines.
    AdvanceClock(Duration),
    /// Jump to the next deadline and fire it.
    FireNextDeadline,
    /// An operator request.
    Request(Request),
}

/// Run the target on `data`: `Err` describes the broken rule, with the tree,
/// the actions and the trace, ready to paste into a report.
pub fn run(data: &[u8]) -> std::result::Result<(), String> {
    let first = execute(data, TraceWriter::hashing(), None);
    let failure = match &first {
        Executed::Rejected => return Ok(()),
        Executed::Violation(v) => v.to_string(),
        Executed::Done { hash, lines } => {
            let again = execute(data, TraceWriter::hashing(), None);
            match again {
                Executed::Done { hash: h, lines: l } if (h, l) == (*hash, *lines) => return Ok(()),
                _ => "determinism: the same input gave a different trace the second time".to_owned(),
            }
        }
    };
    Err(describe(data, &failure))
}

/// The decoded tree, actions and full trace of `data`, under a headline.
pub fn describe(data: &[u8], headline: &str) -> String {
    let sink = SharedBuffer::default();
    let mut log = Vec::new();
    execute(data, TraceWriter::to_sink(Box::new(sink.clone())), Some(&mut log));
    let mut out = format!("{headline}\n--- tree\n");
    let mut u = Unstructured::new(data);
    let _ = writeln!(out, "{:#?}", engine_tree::tree(&mut u));
    out.push_str("--- actions\n");
    for a in &log {
        let _ = writeln!(out, "{a}");
    }
    out.push_str("--- trace\n");
    out.push_str(&sink.text());
    out
}

enum Executed {
    /// The bytes decode to a tree the engine rejects.
    Rejected,
    Violation(Violation),
    Done {
        hash: u64,
        lines: u64,
    },
}

fn execute(data: &[u8], trace: TraceWriter, mut log: Option<&mut Vec<String>>) -> Executed {
    let mut u = Unstructured::new(data);
    let Ok(spec) = engine_tree::tree(&mut u) else {
        return Executed::Rejected;
    };
    let seed = u.arbitrary::<u8>().map_or(0, u64::from);
    let Ok(mut w) = ManualWorld::new(spec, seed, trace) else {
        return Executed::Rejected;
    };
    w.start();
    for _ in 0..MAX_ACTIONS {
        if u.is_empty() || w.violation().is_some() {
            break;
        }
        let Ok(action) = decode(&mut u, &w) else { break };
        if let Some(log) = log.as_deref_mut() {
            log.push(format!("at {}: {action:?}", w.now()));
        }
        apply(&mut w, action);
    }
    if w.violation().is_none() {
        if let Some(log) = log {
            log.push(format!("at {}: shutdown, then a cooperative world", w.now()));
        }
        w.shutdown_cooperatively(MAX_SHUTDOWN_STEPS);
    }
    match w.violation() {
        Some(v) => Executed::Violation(v.clone()),
        None => Executed::Done {
            hash: w.trace().hash(),
            lines: w.trace().lines(),
        },
    }
}

fn apply(w: &mut ManualWorld, action: Action) {
    match action {
        Action::Deliver(input) => {
            w.deliver(input);
        }
        Action::AnswerAll => {
            let runs: Vec<RunId> = w.live_runs().collect();
            for run in runs {
                match w.phase(run) {
                    Some(RunPhase::Spawning) => {
                        w.deliver(Input::Started(run));
                    }
                    Some(RunPhase::Up { ready: false }) if w.is_valid(&Input::Ready(run)) => {
                        w.deliver(Input::Ready(run));
                    }
                    _ => {}
                }
            }
        }
        Action::Advance(d) => w.advance(d),
        Action::AdvanceClock(d) => w.advance_clock(d),
        Action::FireNextDeadline => {
            w.fire_next_deadline();
        }
        Action::Request(r) => {
            let _ = w.request(r);
        }
    }
}

fn decode(u: &mut Unstructured<'_>, w: &ManualWorld) -> Result<Action> {
    Ok(match u.int_in_range(0u8..=15)? {
        0..=6 => Action::Deliver(input(u, w)?),
        7 => Action::AnswerAll,
        8 | 9 => Action::Advance(duration(u)?),
        10 => Action::AdvanceClock(duration(u)?),
        11 | 12 => Action::FireNextDeadline,
        _ => Action::Request(request(u, w)?),
    })
}

fn duration(u: &mut Unstructured<'_>) -> Result<Duration> {
    let ms = if u.ratio(3, 4)? {
        *u.choose(&[0, 1, 2, 3, 5, 10, 20, 50, 100, 300, 1000, 5000])?
    } else {
        u64::from(u.arbitrary::<u16>()?)
    };
    Ok(Duration::from_millis(ms))
}

/// An input about a live run (mostly), an ended run, or any id at all.
fn input(u: &mut Unstructured<'_>, w: &ManualWorld) -> Result<Input> {
    let live: Vec<RunId> = w.live_runs().collect();
    let ended = w.ended_runs();
    let run = match u.int_in_range(0u8..=7)? {
        0..=5 if !live.is_empty() => *u.choose(&live)?,
        0..=6 if !ended.is_empty() => *u.choose(ended)?,
        _ => RunId {
            node: NodeId::from_index(u32::from(u.int_in_range(0u8..=20)?)),
            generation: u64::from(u.int_in_range(0u8..=40)?),
        },
    };
    Ok(match u.int_in_range(0u8..=9)? {
        0..=2 => Input::Started(run),
        3 => Input::StartFailed(run, "fuzz".to_owned()),
        4 | 5 => Input::Ready(run),
        6 => Input::Heartbeat(run),
        7 if u.arbitrary::<bool>()? => Input::Evict(run, Eviction::Memory),
        7 => Input::Evict(run, Eviction::Monitor("fuzz".to_owned())),
        _ => Input::Exited(run, reason(u)?),
    })
}

/// A reason a real world can report (`health` and `start_timeout` are the
/// engine's own substitutions, never reported by a driver).
fn reason(u: &mut Unstructured<'_>) -> Result<ExitReason> {
    Ok(match u.int_in_range(0u8..=6)? {
        0 => ExitReason::Normal,
        1 => ExitReason::shutdown(),
        2 => ExitReason::Shutdown("detail".to_owned()),
        3 => ExitReason::Error("fuzz".to_owned()),
        4 => ExitReason::Panic("fuzz".to_owned()),
        5 => ExitReason::Killed,
        _ => ExitReason::Memory,
    })
}

/// A request naming a node of the tree (mostly) or a path that names nothing.
fn request(u: &mut Unstructured<'_>, w: &ManualWorld) -> Result<Request> {
    let engine = w.engine();
    let mut nodes = vec![engine.root()];
    let mut i = 0;
    while i < nodes.len() {
        let n = nodes[i];
        nodes.extend(engine.children(n));
        i += 1;
    }
    let node = if u.ratio(7, 8)? { Some(*u.choose(&nodes)?) } else { None };
    let path = match node {
        Some(n) => engine.path(n).unwrap_or_default(),
        None => u.choose(&["zz", "c0/zz", "/", "c0/", "c0//c1"])?.to_string(),
    };
    let auto = node
        .and_then(|n| engine.supervisor_spec(n))
        .map_or(AutoShutdown::Never, |s| s.auto_shutdown);
    let depth = path.split('/').filter(|s| !s.is_empty()).count() + 1;
    Ok(match u.int_in_range(0u8..=9)? {
        0 | 1 => {
            let name = u.choose(&["d0", "d1", "c0"])?.to_string();
            Request::StartChild {
                parent: path,
                spec: engine_tree::child(u, name, depth, auto)?,
            }
        }
        2 => Request::TerminateChild { path },
        3 => Request::RestartChild { path },
        4 => Request::DeleteChild { path },
        5 => {
            let name = path.rsplit('/').next().unwrap_or_default().to_owned();
            let parent_auto = node
                .and_then(|n| engine.parent(n))
                .and_then(|p| engine.supervisor_spec(p))
                .map_or(AutoShutdown::Never, |s| s.auto_shutdown);
            Request::ReplaceChild {
                spec: engine_tree::child(u, name, depth, parent_auto)?,
                path,
            }
        }
        6 => Request::WhichChildren { path },
        7 => Request::CountChildren { path },
        8 => Request::RestartAll {
            path,
            mode: *u.choose(&[RestartAllMode::Rolling, RestartAllMode::AllAtOnce])?,
        },
        _ => Request::Shutdown,
    })
}

/// A cloneable in-memory trace sink.
#[derive(Clone, Default)]
struct SharedBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedBuffer {
    fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl std::io::Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.0.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

//! Replaying a real run's trace (`vigil run --trace`): the recorded inputs
//! are fed, at their recorded times, into an engine built from the config,
//! and every line the engine writes must be the recorded one
//! (docs/SIMULATION.md, "Replaying a production trace").
//!
//! The rule that decides what each recorded line is:
//!
//! 1. The first line after the meta line starts the engine (`Engine::start`)
//!    at its `t`.
//! 2. A line the replayed engine has already written (its queue of lines
//!    not yet matched is not empty) must be that line, byte for byte.
//! 3. Otherwise, an input line (`started`, `start_failed`, `ready`,
//!    `heartbeat`, `exited`, `stale`, `evict`, `request`) is fed to the
//!    engine at its `t`, and must then be the first line the engine writes.
//! 4. Otherwise, a `deadline` line fires the engine's deadlines at its `t`
//!    (the driver did, and nothing visible came of it), and a `kill` line
//!    with `"cause":"kill_all"` must name a live run (the second signal:
//!    no engine call; only such lines may follow it).
//! 5. Any other line fires the engine's deadlines at its `t`
//!    (`Engine::handle_timeout`) and must be the first line that writes.
//!
//! The driver stamps each line with the `now` of the engine call that
//! made it (adapters/tokio/src/driver.rs), which is what makes 3 and 5 exact.
//! Pure: no clock, no I/O.

use std::collections::VecDeque;

use serde_json::Value;
use vigil_core::{Engine, Instant, Notice, SupervisorSpec};
use vigil_trace::TraceWriter;

use crate::replay_error::ReplayError;
use crate::trace_replay_input::{fed, is_input, run_of, Fed};

/// How a replay of a real run's trace went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunReplay {
    /// Whole lines in the trace, the meta line included; every one matched.
    pub lines: usize,
    /// The trace ends in a partial line (a write cut short: vigil killed,
    /// a full disk) of this many bytes, which was not replayed; what the
    /// engine wrote after the last whole line is not compared either.
    pub partial_tail: Option<usize>,
}

/// Replay `recorded` (the whole trace text, meta line first) against an
/// engine built from `spec` with `seed`.
pub fn replay_run(spec: &SupervisorSpec, seed: u64, recorded: &str) -> Result<RunReplay, ReplayError> {
    let engine = Engine::new(spec.clone(), seed).map_err(|e| ReplayError::BadConfig(e.to_string()))?;
    let (whole, tail) = match recorded.rfind('\n') {
        Some(end) => recorded.split_at(end + 1),
        None => ("", recorded),
    };
    let mut r = Replayer {
        engine,
        writer: TraceWriter::hashing(),
        queue: VecDeque::new(),
        started: false,
        killed_all: false,
        last_t: 0,
    };
    let mut lines = 0;
    for (i, text) in whole.lines().enumerate() {
        lines = i + 1;
        if i > 0 {
            r.line(lines, text)?;
        }
    }
    let partial_tail = (!tail.is_empty()).then_some(tail.len());
    if partial_tail.is_none() {
        if let Some(extra) = r.queue.pop_front() {
            return Err(ReplayError::Diverged {
                line: lines + 1,
                recorded: None,
                replayed: Some(extra),
            });
        }
    }
    Ok(RunReplay { lines, partial_tail })
}

/// The replayed engine and the lines it wrote that are still to be matched.
struct Replayer {
    engine: Engine,
    writer: TraceWriter,
    queue: VecDeque<String>,
    started: bool,
    killed_all: bool,
    last_t: u64,
}

impl Replayer {
    /// Account for recorded line number `k` (see the module's rule).
    fn line(&mut self, k: usize, text: &str) -> Result<(), ReplayError> {
        if !self.queue.is_empty() {
            return self.expect(k, text);
        }
        let bad = |error: String| ReplayError::BadLine { line: k, error };
        let v: Value = serde_json::from_str(text).map_err(|e| bad(format!("not a JSON object: {e}")))?;
        let t = v.get("t").and_then(Value::as_u64).ok_or_else(|| bad("no `t`".into()))?;
        let ev = v
            .get("ev")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no `ev`".into()))?;
        if t < self.last_t {
            return Err(bad(format!("`t` goes back: {t} after {}", self.last_t)));
        }
        self.last_t = t;
        let now = Instant::from_nanos(t);
        if self.killed_all && !is_kill_all(ev, &v) {
            return Err(bad(
                "a line after the second signal's kills (nothing was supervised any more)".into(),
            ));
        }
        if !self.started {
            self.started = true;
            self.engine.start(now);
            self.drain(now, "");
            return self.expect(k, text);
        }
        if is_input(ev) {
            self.feed(now, ev, &v).map_err(bad)?;
            return self.expect(k, text);
        }
        if ev == "deadline" {
            self.fire(now);
            return Ok(());
        }
        if is_kill_all(ev, &v) {
            return self.kill_all(k, &v);
        }
        self.fire(now);
        if self.queue.is_empty() {
            return Err(ReplayError::NoCause {
                line: k,
                recorded: text.to_owned(),
            });
        }
        self.expect(k, text)
    }

    /// The next line the engine wrote must be `text`.
    fn expect(&mut self, k: usize, text: &str) -> Result<(), ReplayError> {
        match self.queue.pop_front() {
            Some(line) if line == text => Ok(()),
            replayed => Err(ReplayError::Diverged {
                line: k,
                recorded: Some(text.to_owned()),
                replayed,
            }),
        }
    }

    /// Feed the input or request a line records.
    fn feed(&mut self, now: Instant, ev: &str, v: &Value) -> Result<(), String> {
        match fed(&self.engine, ev, v)? {
            Fed::Input(input) => {
                self.engine.handle(input, now);
                self.drain(now, "");
            }
            Fed::Request(request) => {
                let fields = vigil_trace::request_fields(&request);
                // The answer is checked through the `reply` line it writes.
                let _ = self.engine.request(request, now);
                self.drain(now, &fields);
            }
        }
        Ok(())
    }

    /// The engine's deadlines due by `now` fire.
    fn fire(&mut self, now: Instant) {
        self.engine.handle_timeout(now);
        self.drain(now, "");
    }

    /// One of the kills of the second signal: the run must be live.
    fn kill_all(&mut self, k: usize, v: &Value) -> Result<(), ReplayError> {
        let run = run_of(&self.engine, v).map_err(|error| ReplayError::BadLine { line: k, error })?;
        if self.engine.current_run(run.node) != Some(run) {
            return Err(ReplayError::BadLine {
                line: k,
                error: format!(
                    "the second signal's kill names run {} of a node that does not run it",
                    run.generation
                ),
            });
        }
        self.killed_all = true;
        Ok(())
    }

    /// Render what the engine wrote at `now`; `fields` go on its `request`
    /// line. Commands are not kept: each is also a line.
    fn drain(&mut self, now: Instant, fields: &str) {
        while let Some(n) = self.engine.poll_notice() {
            let extra = if matches!(n, Notice::Request { .. }) {
                fields
            } else {
                ""
            };
            self.writer.notice_with(&self.engine, now, &n, extra);
            self.queue
                .push_back(String::from_utf8_lossy(self.writer.last_line()).into_owned());
        }
        while self.engine.poll_command().is_some() {}
    }
}

/// A `kill` line written by the second signal's `kill_all`.
fn is_kill_all(ev: &str, v: &Value) -> bool {
    ev == "kill" && v.get("cause").and_then(Value::as_str) == Some("kill_all")
}

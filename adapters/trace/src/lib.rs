//! # vigil-trace: the JSON-lines trace of an engine run
//!
//! One JSON object per line (docs/TRACE.md), keys in a fixed order:
//! `t`, `ev`, then `path`, `gen`, then the event's own fields. The simulator
//! and the real driver write the same format.
//!
//! ```
//! use vigil_core::{ChildSpec, Engine, Instant, SupervisorSpec};
//! use vigil_trace::TraceWriter;
//!
//! let mut engine = Engine::new(SupervisorSpec::new().child(ChildSpec::worker("db")), 0).unwrap();
//! engine.start(Instant::ZERO);
//! let mut w = TraceWriter::hashing();
//! while let Some(n) = engine.poll_notice() {
//!     w.notice(&engine, Instant::ZERO, &n);
//! }
//! assert_eq!(w.lines(), 2); // `sup_starting` of the root, then `spawn` of db
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::hash::Hasher;
use std::io::{self, Write};

use vigil_core::{Engine, Instant, Notice, Reply};

mod file;
mod memory;
mod request_line;
mod run_meta;
mod spec_json;

pub use file::{Flush, TraceFile, TraceFileError, TraceFileStatus};
pub use memory::SharedBuffer;
pub use request_line::{is_request_op, read_request, request_fields, RequestLineError};
pub use run_meta::{rfc3339_utc, RunMeta};
pub use spec_json::{read_child_spec, write_child_spec, SpecJsonError};

/// The key and value a real run adds to each `kill` line written by
/// `kill_all` (the second signal of `vigil run`): the engine did not order
/// those kills (docs/TRACE.md, "In a real run").
pub const KILL_ALL_FIELDS: &str = ",\"cause\":\"kill_all\"";

/// Renders notices as trace lines, feeding a running hash and an optional sink.
///
/// The hash (SipHash with fixed keys, `std`'s `DefaultHasher`) identifies a
/// trace within one build of vigil: the determinism self-check compares two
/// runs of the same seed by it.
pub struct TraceWriter {
    line: Vec<u8>,
    path: String,
    hasher: std::hash::DefaultHasher,
    sink: Option<Box<dyn Write + Send>>,
    lines: u64,
    error: Option<io::Error>,
    /// Render nothing (bulk runs that only need the report).
    off: bool,
}

impl std::fmt::Debug for TraceWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceWriter")
            .field("lines", &self.lines)
            .finish_non_exhaustive()
    }
}

impl TraceWriter {
    /// A writer that only hashes (and counts) lines.
    pub fn hashing() -> Self {
        TraceWriter {
            line: Vec::with_capacity(256),
            path: String::with_capacity(64),
            hasher: std::hash::DefaultHasher::new(),
            sink: None,
            lines: 0,
            error: None,
            off: false,
        }
    }

    /// A writer that renders nothing: no text, no hash (for seed ranges, where
    /// only the reports matter; rendering costs about half of a run).
    pub fn off() -> Self {
        TraceWriter {
            off: true,
            ..Self::hashing()
        }
    }

    /// A writer that also writes every line to `sink`.
    pub fn to_sink(sink: Box<dyn Write + Send>) -> Self {
        TraceWriter {
            sink: Some(sink),
            ..Self::hashing()
        }
    }

    /// Whether this writer renders nothing.
    pub fn is_off(&self) -> bool {
        self.off
    }

    /// The hash of every line so far.
    pub fn hash(&self) -> u64 {
        self.hasher.finish()
    }

    /// Lines written.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Flush the sink; report the first write error, if any.
    pub fn finish(&mut self) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if let Some(s) = self.sink.as_mut() {
            s.flush()?;
        }
        Ok(())
    }

    /// The last line written, without its newline (empty before the first,
    /// and for a writer that is [off](Self::off)). Lets a driver stream each
    /// line as it is rendered.
    pub fn last_line(&self) -> &[u8] {
        self.line.strip_suffix(b"\n").unwrap_or(&self.line)
    }

    /// Write a raw, already formatted line (the meta line).
    pub fn raw_line(&mut self, text: &str) {
        if self.off {
            return;
        }
        self.line.clear();
        self.line.extend_from_slice(text.as_bytes());
        self.emit();
    }

    fn emit(&mut self) {
        self.line.push(b'\n');
        self.hasher.write(&self.line);
        self.lines += 1;
        if let Some(s) = self.sink.as_mut() {
            if let Err(e) = s.write_all(&self.line) {
                if self.error.is_none() {
                    self.error = Some(e);
                }
                self.sink = None;
            }
        }
    }

    /// Write one notice, resolving node ids through `engine` (which must not
    /// have been called since the notice was produced).
    pub fn notice(&mut self, engine: &Engine, t: Instant, n: &Notice) {
        self.notice_with(engine, t, n, "");
    }

    /// Write a `deadline` line: a real driver fired the engine's deadlines
    /// at `t` and no notice came of it (docs/TRACE.md, "In a real run").
    pub fn deadline(&mut self, t: Instant) {
        if self.off {
            return;
        }
        self.line.clear();
        let _ = write!(self.line, "{{\"t\":{},\"ev\":\"deadline\"}}", t.as_nanos());
        self.emit();
    }

    /// As [`notice`](Self::notice), with `extra` (raw JSON fields, each
    /// `,"key":value`) after the notice's own fields: a request's
    /// [`request_fields`], or [`KILL_ALL_FIELDS`].
    pub fn notice_with(&mut self, engine: &Engine, t: Instant, n: &Notice, extra: &str) {
        if self.off {
            return;
        }
        self.line.clear();
        let _ = write!(self.line, "{{\"t\":{},\"ev\":\"{}\"", t.as_nanos(), event_name(n));
        match n {
            Notice::Spawn(r)
            | Notice::Stop(r)
            | Notice::Kill(r)
            | Notice::Started(r)
            | Notice::Ready(r)
            | Notice::Heartbeat(r) => self.run(engine, *r),
            Notice::StartFailed(r, e) => {
                self.run(engine, *r);
                self.field_str("error", e);
            }
            Notice::Exited(r, reason) => {
                self.run(engine, *r);
                self.field_display("reason", reason);
            }
            Notice::Stale(r, k) => {
                self.run(engine, *r);
                self.field_str("input", k.as_str());
            }
            Notice::Restart { sup, child, strategy } => {
                self.node(engine, *sup);
                self.path.clear();
                engine.write_path(*child, &mut self.path);
                let child = std::mem::take(&mut self.path);
                self.field_str("child", &child);
                self.path = child;
                self.field_str("strategy", strategy_name(*strategy));
            }
            Notice::Backoff { child, delay_ns } => {
                self.node(engine, *child);
                let _ = write!(self.line, ",\"delay_ns\":{delay_ns}");
            }
            Notice::Timeout { run, reason } | Notice::Evicted { run, reason } => {
                self.run(engine, *run);
                self.field_display("reason", reason);
            }
            Notice::GiveUp { sup }
            | Notice::SupStarting { sup }
            | Notice::SupStarted { sup }
            | Notice::SupStop { sup } => self.node(engine, *sup),
            Notice::SupEnding { sup, reason } | Notice::SupExit { sup, reason } => {
                self.node(engine, *sup);
                self.field_display("reason", reason);
            }
            Notice::Removed { child } => self.node(engine, *child),
            Notice::TreeDown { reason } => self.field_display("reason", reason),
            Notice::Request { id, op, path } => {
                self.field_str("path", path);
                self.field_str("op", op.as_str());
                let _ = write!(self.line, ",\"id\":{}", id.0);
            }
            Notice::Reply { id, op, path, result } => {
                self.field_str("path", path);
                self.field_str("op", op.as_str());
                let _ = write!(self.line, ",\"id\":{}", id.0);
                let r = match result.as_ref() {
                    Ok(Reply::Ok) => "ok",
                    Ok(Reply::Started { .. }) => "started",
                    Ok(Reply::Pending(_)) => "pending",
                    Ok(Reply::Children(_)) => "children",
                    Ok(Reply::Counts(_)) => "counts",
                    Err(e) => e.code(),
                };
                self.field_str("result", r);
            }
        }
        self.line.extend_from_slice(extra.as_bytes());
        self.line.push(b'}');
        self.emit();
    }

    fn run(&mut self, engine: &Engine, r: vigil_core::RunId) {
        self.node(engine, r.node);
        let _ = write!(self.line, ",\"gen\":{}", r.generation);
    }

    fn node(&mut self, engine: &Engine, n: vigil_core::NodeId) {
        self.path.clear();
        if !engine.write_path(n, &mut self.path) {
            use std::fmt::Write as _;
            let _ = write!(self.path, "{n}");
        }
        let p = std::mem::take(&mut self.path);
        self.field_str("path", &p);
        self.path = p;
    }

    fn field_str(&mut self, key: &str, value: &str) {
        let _ = write!(self.line, ",\"{key}\":");
        // serde_json escapes quotes, backslashes and control characters.
        let _ = serde_json::to_writer(&mut self.line, value);
    }

    fn field_display(&mut self, key: &str, value: &dyn std::fmt::Display) {
        let mut s = std::mem::take(&mut self.path);
        s.clear();
        use std::fmt::Write as _;
        let _ = write!(s, "{value}");
        self.field_str(key, &s);
        self.path = s;
    }
}

/// The trace name of a notice.
pub fn event_name(n: &Notice) -> &'static str {
    match n {
        Notice::Spawn(_) => "spawn",
        Notice::Stop(_) => "stop",
        Notice::Kill(_) => "kill",
        Notice::Started(_) => "started",
        Notice::StartFailed(..) => "start_failed",
        Notice::Ready(_) => "ready",
        Notice::Heartbeat(_) => "heartbeat",
        Notice::Exited(..) => "exited",
        Notice::Stale(..) => "stale",
        Notice::Restart { .. } => "restart",
        Notice::Backoff { .. } => "backoff",
        Notice::GiveUp { .. } => "give_up",
        Notice::Timeout { .. } => "timeout",
        Notice::Evicted { .. } => "evict",
        Notice::SupStarting { .. } => "sup_starting",
        Notice::SupStop { .. } => "sup_stop",
        Notice::SupEnding { .. } => "sup_ending",
        Notice::SupStarted { .. } => "sup_started",
        Notice::SupExit { .. } => "sup_exit",
        Notice::Removed { .. } => "removed",
        Notice::TreeDown { .. } => "tree_down",
        Notice::Request { .. } => "request",
        Notice::Reply { .. } => "reply",
    }
}

/// The config spelling of a strategy.
pub fn strategy_name(s: vigil_core::Strategy) -> &'static str {
    match s {
        vigil_core::Strategy::OneForOne => "one_for_one",
        vigil_core::Strategy::OneForAll => "one_for_all",
        vigil_core::Strategy::RestForOne => "rest_for_one",
        vigil_core::Strategy::OneTerminateAll => "one_terminate_all",
    }
}

/// A virtual instant as seconds with millisecond precision (`12.345s`).
pub fn format_time(t: Instant) -> String {
    let ns = t.as_nanos();
    format!("{}.{:03}s", ns / 1_000_000_000, (ns / 1_000_000) % 1000)
}

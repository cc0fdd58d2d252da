//! `vigil explain`: every restart, give-up, timeout, request and shutdown
//! of a trace, as a timeline with its cause (docs/SIMULATION.md,
//! "Explaining a trace").
//!
//! Pure: a supervisor spec and the trace's text in, an [`Explanation`] out.
//! From the spec it knows each supervisor's strategy, intensity and period,
//! and rebuilds every intensity window from the trace's decisions by the
//! engine's own rule, so that each restart shows the window it was judged
//! by, and each give-up the decisions that overflowed it. Where the trace
//! and the rebuilt window disagree (a trace of another config, or a broken
//! engine) the entry says so and [`Explanation::disagreements`] counts it.
//!
//! ```
//! use vigil_core::{ChildSpec, SupervisorSpec};
//! let spec = SupervisorSpec::new().intensity(1).child(ChildSpec::worker("w"));
//! let trace = concat!(
//!     r#"{"t":0,"ev":"spawn","path":"w","gen":2}"#, "\n",
//!     r#"{"t":1000000000,"ev":"exited","path":"w","gen":2,"reason":"error"}"#, "\n",
//!     r#"{"t":1000000000,"ev":"restart","path":"","child":"w","strategy":"one_for_one"}"#, "\n",
//!     r#"{"t":2000000000,"ev":"exited","path":"w","gen":3,"reason":"error"}"#, "\n",
//!     r#"{"t":2000000000,"ev":"give_up","path":""}"#, "\n",
//! );
//! let e = vigil_sim::explain(&spec, trace).unwrap();
//! assert_eq!(e.entries.len(), 2);
//! assert_eq!(e.disagreements, 0);
//! let text = e.to_text();
//! assert!(text.contains("2 restarts in 1s > intensity 1 in 5s: give up"), "{text}");
//! ```

mod error;
mod render;
mod timeline;
mod trace_line;
mod wall_clock;
mod window;

use std::collections::BTreeMap;
use std::time::Duration;

pub use error::ExplainError;
pub use wall_clock::format_utc as format_wall_clock;
pub use window::Decision;

/// What an entry of the timeline is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryKind {
    /// A supervisor decided an automatic restart.
    Restart,
    /// A supervisor exceeded its intensity and gave up.
    GiveUp,
    /// The engine killed a run for a missed deadline (`health`, `start_timeout`).
    Timeout,
    /// A monitor evicted a run.
    Evict,
    /// An operator request and what it did.
    Request,
    /// A supervisor ended for another reason than a give-up (a shutdown
    /// request, auto_shutdown, lifespan, a failed first start).
    Shutdown,
    /// The root ended: the tree is down.
    TreeDown,
}

impl EntryKind {
    /// The name in the text and the JSON (`restart`, `give_up`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Restart => "restart",
            EntryKind::GiveUp => "give_up",
            EntryKind::Timeout => "timeout",
            EntryKind::Evict => "evict",
            EntryKind::Request => "request",
            EntryKind::Shutdown => "shutdown",
            EntryKind::TreeDown => "tree_down",
        }
    }
}

/// Why a decision was taken: the child's failure the trace shows before it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cause {
    /// When.
    pub t: u64,
    /// The trace line.
    pub line: usize,
    /// The child.
    pub path: String,
    /// The run's generation (none for a nested supervisor).
    pub gen: Option<u64>,
    /// What happened: `exited`, `start_failed` or `ended` (a nested supervisor).
    pub what: &'static str,
    /// The exit reason or start error.
    pub reason: String,
    /// For a nested supervisor that gave up: its give-up's entry.
    pub gave_up: Option<usize>,
}

/// A supervisor's intensity window at a decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowView {
    /// The config's intensity.
    pub intensity: u32,
    /// The config's period.
    pub period: Duration,
    /// The decisions inside the window, this one last.
    pub decisions: Vec<Decision>,
    /// Whether the rebuilt window is exceeded (the engine should give up).
    pub exceeded: bool,
}

/// One entry of the timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// When (nanoseconds since the trace's origin).
    pub t: u64,
    /// The trace line it comes from.
    pub line: usize,
    /// What it is.
    pub kind: EntryKind,
    /// The supervisor (restart, give-up, shutdown), the run's path (timeout,
    /// evict), the request's path, or `""` (tree_down).
    pub path: String,
    /// The restarted child (restart).
    pub child: Option<String>,
    /// The run's generation (timeout, evict).
    pub gen: Option<u64>,
    /// The supervisor's strategy (restart, give-up).
    pub strategy: Option<String>,
    /// The failure that led to the decision, or to an auto_shutdown.
    pub cause: Option<Cause>,
    /// The intensity window (restart, give-up).
    pub window: Option<WindowView>,
    /// Whether the trace's decision agrees with the rebuilt window.
    pub agrees: bool,
    /// The children stopped (killed ones marked) by this round, request or end.
    pub stopped: Vec<String>,
    /// The children started by this round or request.
    pub started: Vec<String>,
    /// The delay before the restart (restart with backoff).
    pub backoff_ns: Option<u64>,
    /// An exit or end reason (timeout, evict, shutdown, tree_down, give-up's end).
    pub reason: Option<String>,
    /// The configured deadline a timeout enforced.
    pub deadline: Option<Duration>,
    /// Request: its op, id, result (none: no reply in the trace) and reply time.
    pub request: Option<RequestInfo>,
    /// tree_down: the chain of give-ups from the root down to the first failure.
    pub chain: Vec<String>,
}

/// An operator request as the trace shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestInfo {
    /// `restart_child`, `shutdown`, ...
    pub op: String,
    /// The request's number.
    pub id: u64,
    /// The reply's result, if the trace has the reply.
    pub result: Option<String>,
    /// When the reply came.
    pub reply_t: Option<u64>,
}

/// What the trace's meta line says, if it has one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetaInfo {
    /// The seed (a simulated run).
    pub seed: Option<u64>,
    /// The `origin` key (`run` for `vigil run`), if any.
    pub origin: Option<String>,
    /// The wall-clock time of `t = 0`, nanoseconds since 1970, when the
    /// meta line has an RFC 3339 time.
    pub wall_origin_ns: Option<u64>,
}

/// A trace explained.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Explanation {
    /// The timeline.
    pub entries: Vec<Entry>,
    /// How many lines of each event kind the trace has (`heartbeat`, `ready` ...).
    pub counts: BTreeMap<String, u64>,
    /// Lines read (the meta line included, a skipped last line not).
    pub lines: usize,
    /// The last line's time.
    pub last_t: u64,
    /// The meta line.
    pub meta: Option<MetaInfo>,
    /// The line number of a last line cut short (a trace still being
    /// written, or a killed writer), skipped.
    pub truncated_last_line: Option<usize>,
    /// Decisions where the trace and the rebuilt window disagree.
    pub disagreements: u64,
    /// Decisions of supervisors whose limits neither the config nor a
    /// `start_child`/`replace_child` request of the trace gives (a trace of
    /// another config, or a child added by a request that recorded no
    /// spec): shown without a window.
    pub unknown_windows: u64,
}

/// Explain `trace` (JSON lines: a `vigil sim` or `vigil run` trace, with or
/// without a meta line) of the tree `root`.
pub fn explain(root: &vigil_core::SupervisorSpec, trace: &str) -> Result<Explanation, ExplainError> {
    timeline::Builder::new(root).run(trace)
}

impl Explanation {
    /// Keep only the entries about `prefix` and below it (a path, its
    /// descendants; `tree_down` always stays), from `from` to `to`
    /// (nanoseconds, inclusive).
    pub fn focus(&mut self, prefix: Option<&str>, from: Option<u64>, to: Option<u64>) {
        let under = |p: &str, prefix: &str| prefix.is_empty() || p == prefix || p.starts_with(&format!("{prefix}/"));
        self.entries.retain(|e| {
            let about = prefix.is_none_or(|x| {
                e.kind == EntryKind::TreeDown || under(&e.path, x) || e.child.as_deref().is_some_and(|c| under(c, x))
            });
            about && from.is_none_or(|f| e.t >= f) && to.is_none_or(|l| e.t <= l)
        });
    }
}

//! Why a run (or a supervisor) ended.

use std::fmt;
use std::str::FromStr;

/// The reason a worker run or a supervisor ended.
///
/// `Normal`, `Shutdown` (with or without detail) are *normal* exits; everything
/// else is abnormal (see the restart table in `docs/SEMANTICS.md`).
/// A detail string may be empty: `Error(String::new())` renders as `error`.
///
/// ```
/// use vigil_core::ExitReason;
/// let r: ExitReason = "error(boom)".parse().unwrap();
/// assert_eq!(r, ExitReason::Error("boom".into()));
/// assert!(!r.is_normal());
/// assert!(ExitReason::Shutdown(String::new()).is_normal());
/// assert_eq!(ExitReason::StartTimeout.to_string(), "start_timeout");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ExitReason {
    /// Finished its work.
    Normal,
    /// Stopped on request; the detail is optional (empty for plain `shutdown`).
    Shutdown(String),
    /// Failed.
    Error(String),
    /// Panicked (a task) or crashed hard.
    Panic(String),
    /// Killed (SIGKILL, task abort).
    Killed,
    /// \[ext\] killed by the engine for missing its heartbeat deadline.
    Health,
    /// \[ext\] restarted by a memory monitor.
    Memory,
    /// \[ext\] restarted by another monitor, for the reason it gave
    /// ([`Eviction::Monitor`](crate::Eviction::Monitor)).
    Evicted(String),
    /// \[ext\] killed by the engine for not becoming ready in time.
    StartTimeout,
}

impl ExitReason {
    /// Plain `shutdown`, the reason a supervisor ends with when it gives up.
    pub const fn shutdown() -> Self {
        ExitReason::Shutdown(String::new())
    }

    /// Whether this is a normal exit (`normal`, `shutdown`, `shutdown(detail)`).
    pub fn is_normal(&self) -> bool {
        matches!(self, ExitReason::Normal | ExitReason::Shutdown(_))
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, detail) = match self {
            ExitReason::Normal => ("normal", ""),
            ExitReason::Shutdown(d) => ("shutdown", d.as_str()),
            ExitReason::Error(d) => ("error", d.as_str()),
            ExitReason::Panic(d) => ("panic", d.as_str()),
            ExitReason::Killed => ("killed", ""),
            ExitReason::Health => ("health", ""),
            ExitReason::Memory => ("memory", ""),
            ExitReason::Evicted(d) => ("evicted", d.as_str()),
            ExitReason::StartTimeout => ("start_timeout", ""),
        };
        if detail.is_empty() {
            f.write_str(name)
        } else {
            write!(f, "{name}({detail})")
        }
    }
}

/// The text was not an exit reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown exit reason `{0}` (expected normal, shutdown, shutdown(..), error, error(..), panic, panic(..), killed, health, memory, evicted, evicted(..) or start_timeout)")]
pub struct ParseExitReasonError(pub String);

impl FromStr for ExitReason {
    type Err = ParseExitReasonError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, detail) = match s.find('(') {
            Some(open) if s.ends_with(')') => (&s[..open], &s[open + 1..s.len() - 1]),
            Some(_) => return Err(ParseExitReasonError(s.to_owned())),
            None => (s, ""),
        };
        let detail = detail.to_owned();
        let no_detail = |r: ExitReason| {
            if detail.is_empty() {
                Ok(r)
            } else {
                Err(ParseExitReasonError(s.to_owned()))
            }
        };
        match name {
            "normal" => no_detail(ExitReason::Normal),
            "shutdown" => Ok(ExitReason::Shutdown(detail)),
            "error" => Ok(ExitReason::Error(detail)),
            "panic" => Ok(ExitReason::Panic(detail)),
            "killed" => no_detail(ExitReason::Killed),
            "health" => no_detail(ExitReason::Health),
            "memory" => no_detail(ExitReason::Memory),
            "evicted" => Ok(ExitReason::Evicted(detail)),
            "start_timeout" => no_detail(ExitReason::StartTimeout),
            _ => Err(ParseExitReasonError(s.to_owned())),
        }
    }
}

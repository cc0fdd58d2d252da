//! What a monitor has done, readable at any moment without asking it:
//! the framework counts for it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// A monitor's summary for status views ([`TreeHandle::monitors`](crate::TreeHandle::monitors)).
///
/// ```
/// use vigil_tokio::monitor::{MonitorState, MonitorStatus};
///
/// fn healthy(status: &[MonitorStatus]) -> bool {
///     status.iter().all(|m| m.state == MonitorState::Running && m.errors == 0)
/// }
/// # assert!(healthy(&[]));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MonitorStatus {
    /// The monitor's name ([`Monitor::name`](super::Monitor::name); the
    /// built-ins are `process` and `memory`, the control server's feed of
    /// runs `control`).
    pub name: String,
    /// Whether it still runs.
    pub state: MonitorState,
    /// How many runs it watches now (registered with it and not yet removed).
    pub runs: usize,
    /// Evictions it asked for that the engine accepted (each restarted a run).
    pub evictions: u64,
    /// Evictions it asked for that were stale: the run was not up any more
    /// (or not yet), so nothing happened.
    pub stale_evictions: u64,
    /// Errors its methods returned (each logged; the monitor went on).
    pub errors: u64,
    /// The last of those errors, as text.
    pub last_error: Option<String>,
    /// Runs that started and ended while it was too far behind to be told
    /// (more than [`MAX_BACKLOG`](super::MAX_BACKLOG) notices waiting): it
    /// was told neither their register nor their remove.
    pub skipped_runs: u64,
    /// One line on its settings and state, for people ([`Monitor::detail`](super::Monitor::detail)).
    pub detail: String,
}

/// Whether a monitor still runs.
///
/// ```
/// use vigil_tokio::monitor::MonitorState;
/// let state = MonitorState::Panicked("index out of bounds".into());
/// assert_eq!(serde_json::to_string(&state).unwrap(), r#"{"panicked":"index out of bounds"}"#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MonitorState {
    /// It is called as runs come and go, and at its interval.
    Running,
    /// One of its methods panicked (the message): it was stopped and
    /// dropped, and is called no more. The tree and the other monitors go on.
    Panicked(String),
    /// The tree is down: it was told every remove, then dropped.
    Stopped,
}

/// The counters of one monitor, shared by its task, its context and the
/// handles that read its status.
#[derive(Debug)]
pub(crate) struct MonitorShared {
    pub(crate) name: Arc<str>,
    pub(crate) runs: AtomicUsize,
    pub(crate) evictions: AtomicU64,
    pub(crate) stale_evictions: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) skipped_runs: AtomicU64,
    text: Mutex<Text>,
}

#[derive(Debug)]
struct Text {
    state: MonitorState,
    last_error: Option<String>,
    detail: String,
}

impl MonitorShared {
    pub(crate) fn new(name: Arc<str>) -> Self {
        MonitorShared {
            name,
            runs: AtomicUsize::new(0),
            evictions: AtomicU64::new(0),
            stale_evictions: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            skipped_runs: AtomicU64::new(0),
            text: Mutex::new(Text {
                state: MonitorState::Running,
                last_error: None,
                detail: String::new(),
            }),
        }
    }

    fn text(&self) -> std::sync::MutexGuard<'_, Text> {
        self.text.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn error(&self, error: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.text().last_error = Some(error);
    }

    pub(crate) fn set_detail(&self, detail: String) {
        let mut t = self.text();
        if t.detail != detail {
            t.detail = detail;
        }
    }

    pub(crate) fn set_state(&self, state: MonitorState) {
        self.text().state = state;
    }

    pub(crate) fn status(&self) -> MonitorStatus {
        let t = self.text();
        MonitorStatus {
            name: self.name.to_string(),
            state: t.state.clone(),
            runs: self.runs.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            stale_evictions: self.stale_evictions.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            last_error: t.last_error.clone(),
            skipped_runs: self.skipped_runs.load(Ordering::Relaxed),
            detail: t.detail.clone(),
        }
    }
}

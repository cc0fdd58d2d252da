//! What the control server counts from the event stream: runs started, exits
//! and evictions by reason, and since when each child is up.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use vigil_core::ExitReason;

use super::registry::Registry;
use super::tree_end::TreeEnd;
use crate::events::{EventKind, Events, Lagged, TreeEvent};

/// Per-child totals since the server started (which is the tree's start when
/// the server is given to the tree builder).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ChildCounters {
    /// Runs spawned.
    pub(crate) spawns: u64,
    /// Exits by reason name (`error`, `memory`, ...).
    pub(crate) exits: BTreeMap<&'static str, u64>,
    /// Evictions (a monitor's restart request) by reason name.
    pub(crate) evictions: BTreeMap<&'static str, u64>,
    /// When the current run started, if one is up.
    pub(crate) up_since: Option<std::time::Instant>,
    /// How its last run ended.
    pub(crate) last_exit: Option<String>,
}

impl ChildCounters {
    /// Restarts: every run after the first.
    pub(crate) fn restarts(&self) -> u64 {
        self.spawns.saturating_sub(1)
    }
}

/// The counters of every child, by path.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    children: HashMap<String, ChildCounters>,
    /// Events the collector missed because it fell behind.
    lost: u64,
    /// Give-ups and failed runs, for a tree that is down.
    end: TreeEnd,
}

impl Counters {
    /// Run `f` over the children's counters by path, under one lock.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&HashMap<String, ChildCounters>) -> R) -> R {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        f(&inner.children)
    }

    /// Events missed by falling behind.
    pub(crate) fn lost(&self) -> u64 {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).lost
    }

    /// The give-ups and failed runs seen so far.
    pub(crate) fn end(&self) -> TreeEnd {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).end.clone()
    }

    fn record(&self, e: &TreeEvent) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.end.record(e);
        let children = &mut inner.children;
        match &e.kind {
            EventKind::Spawn { .. } => children.entry(e.path.clone()).or_default().spawns += 1,
            EventKind::Started { .. } => {
                children.entry(e.path.clone()).or_default().up_since = Some(std::time::Instant::now())
            }
            EventKind::Exited { reason, .. } => {
                let c = children.entry(e.path.clone()).or_default();
                *c.exits.entry(reason_name(reason)).or_default() += 1;
                c.up_since = None;
                c.last_exit = Some(reason.to_string());
            }
            // LIFECYCLE: a supervisor's own starts, uptime and last end
            // (its restarts are its own, not its children's).
            // (Not the root's: `status` lists no root, and the tree's end has its own report.)
            EventKind::SupStarting if !e.path.is_empty() => children.entry(e.path.clone()).or_default().spawns += 1,
            EventKind::SupStarted if !e.path.is_empty() => {
                children.entry(e.path.clone()).or_default().up_since = Some(std::time::Instant::now())
            }
            EventKind::SupExit { reason } if !e.path.is_empty() => {
                let c = children.entry(e.path.clone()).or_default();
                c.up_since = None;
                c.last_exit = Some(reason.to_string());
            }
            EventKind::Evicted { reason, .. } => {
                *children
                    .entry(e.path.clone())
                    .or_default()
                    .evictions
                    .entry(reason_name(reason))
                    .or_default() += 1;
            }
            EventKind::Removed => {
                children.remove(&e.path);
                crate::recent_output::forget(&e.path);
            }
            _ => {}
        }
    }
}

/// The name of a reason without its detail (a metric label).
pub(crate) fn reason_name(r: &ExitReason) -> &'static str {
    match r {
        ExitReason::Normal => "normal",
        ExitReason::Shutdown(_) => "shutdown",
        ExitReason::Error(_) => "error",
        ExitReason::Panic(_) => "panic",
        ExitReason::Killed => "killed",
        ExitReason::Health => "health",
        ExitReason::Memory => "memory",
        ExitReason::Evicted(_) => "evicted",
        ExitReason::StartTimeout => "start_timeout",
    }
}

/// Count every event until the tree's event stream closes; a run's exit
/// also ends its worker registration.
pub(crate) fn spawn_collector(mut events: Events, counters: Arc<Counters>, registry: Arc<Registry>) {
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Some(Ok(e)) => {
                    counters.record(&e);
                    if let EventKind::Exited { generation, .. } = &e.kind {
                        registry.end_run(&e.path, *generation);
                    }
                }
                Some(Err(Lagged(n))) => {
                    counters.inner.lock().unwrap_or_else(PoisonError::into_inner).lost += n;
                    registry.sweep();
                }
                None => {
                    registry.sweep();
                    break;
                }
            }
        }
    });
}

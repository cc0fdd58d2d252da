//! The control server's monitor: it keeps the tree's live runs and streams
//! their registers and removes to the subscribers that ask for them
//! (`subscribe` with `runs`, docs/PROTOCOL.md "Monitors"), so that a
//! monitor outside vigil sees what an in-process one sees.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast;
use vigil_core::RunId;

use crate::monitor::{Monitor, MonitorContext, MonitoredRun, RunKind};

/// Run notices kept for a subscriber that reads slowly; one that falls
/// further behind gets a fresh `runs` snapshot instead.
const BUFFERED: usize = 4096;

/// The feed shared by the server (its subscribers) and its monitor.
#[derive(Debug)]
pub(crate) struct RunFeed {
    state: Mutex<FeedState>,
    /// Its monitor was given to a tree (only one tree feeds a server).
    attached: AtomicBool,
}

#[derive(Debug)]
struct FeedState {
    live: BTreeMap<RunId, MonitoredRun>,
    /// `None` once the tree is down and every remove was sent: receivers
    /// then end after what they hold.
    tx: Option<broadcast::Sender<Arc<str>>>,
}

/// What a subscriber starts from: every live run (the `runs` line), and
/// the notices that follow it. `None` when the feed has ended.
pub(crate) type Subscription = Option<(Arc<str>, broadcast::Receiver<Arc<str>>)>;

impl Default for RunFeed {
    fn default() -> Self {
        RunFeed {
            state: Mutex::new(FeedState {
                live: BTreeMap::new(),
                tx: Some(broadcast::channel(BUFFERED).0),
            }),
            attached: AtomicBool::new(false),
        }
    }
}

impl RunFeed {
    fn lock(&self) -> MutexGuard<'_, FeedState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The monitor that feeds this server, for the first tree that asks
    /// (`None` after that: a server serves one tree).
    pub(crate) fn monitor(self: &Arc<Self>) -> Option<FeedMonitor> {
        let first = !self.attached.swap(true, Ordering::SeqCst);
        first.then(|| FeedMonitor(Arc::clone(self)))
    }

    /// Whether a tree feeds it.
    pub(crate) fn is_attached(&self) -> bool {
        self.attached.load(Ordering::SeqCst)
    }

    /// The live runs now, and every notice after them (taken together, so
    /// that nothing falls between the two).
    pub(crate) fn subscribe(&self) -> Subscription {
        let state = self.lock();
        let rx = state.tx.as_ref()?.subscribe();
        let runs: Vec<RunLine<'_>> = state.live.values().map(RunLine::register).collect();
        let line = to_line(&RunsLine { ev: "runs", runs });
        Some((line, rx))
    }

    fn send(&self, state: &FeedState, line: impl FnOnce() -> Arc<str>) {
        if let Some(tx) = state.tx.as_ref().filter(|tx| tx.receiver_count() > 0) {
            let _ = tx.send(line());
        }
    }
}

/// The control server's feed as a monitor (named `control`).
#[derive(Debug)]
pub(crate) struct FeedMonitor(Arc<RunFeed>);

impl Monitor for FeedMonitor {
    type Error = Infallible;

    fn name(&self) -> &str {
        "control"
    }

    fn interval(&self) -> Option<Duration> {
        None
    }

    async fn register(&mut self, run: &MonitoredRun, _: &MonitorContext) -> Result<(), Infallible> {
        let mut state = self.0.lock();
        self.0.send(&state, || to_line(&RunLine::register(run)));
        state.live.insert(run.run, run.clone());
        Ok(())
    }

    async fn remove(&mut self, run: RunId, _: &MonitorContext) -> Result<(), Infallible> {
        let mut state = self.0.lock();
        if let Some(gone) = state.live.remove(&run) {
            self.0.send(&state, || to_line(&RunLine::remove(&gone)));
        }
        Ok(())
    }

    async fn check(&mut self, _: &MonitorContext) -> Result<(), Infallible> {
        Ok(())
    }

    fn detail(&self) -> String {
        let state = self.0.lock();
        let subscribers = state.tx.as_ref().map_or(0, |tx| tx.receiver_count());
        format!("{subscribers} subscriber(s) to runs")
    }
}

impl Drop for FeedMonitor {
    /// The tree is down and every remove was sent (or the monitor panicked):
    /// subscribers end after what they hold.
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.tx = None;
        state.live.clear();
    }
}

/// `{"ev":"register",...}` or `{"ev":"remove",...}`.
#[derive(Serialize)]
struct RunLine<'a> {
    ev: &'static str,
    path: &'a str,
    #[serde(rename = "gen")]
    generation: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pgid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    memory_limit: Option<u64>,
}

impl<'a> RunLine<'a> {
    fn register(run: &'a MonitoredRun) -> Self {
        RunLine {
            ev: "register",
            path: &run.path,
            generation: run.run.generation,
            kind: Some(match run.kind {
                RunKind::Process { .. } => "process",
                RunKind::Task => "task",
                RunKind::Blocking => "blocking",
            }),
            pgid: run.kind.pgid(),
            memory_limit: run.kind.memory_limit(),
        }
    }

    fn remove(run: &'a MonitoredRun) -> Self {
        RunLine {
            ev: "remove",
            path: &run.path,
            generation: run.run.generation,
            kind: None,
            pgid: None,
            memory_limit: None,
        }
    }
}

/// `{"ev":"runs","runs":[...]}`: every live run, as register lines.
#[derive(Serialize)]
struct RunsLine<'a> {
    ev: &'static str,
    runs: Vec<RunLine<'a>>,
}

fn to_line(value: &impl Serialize) -> Arc<str> {
    serde_json::to_string(value).map_or_else(|_| Arc::from("{}"), Arc::from)
}

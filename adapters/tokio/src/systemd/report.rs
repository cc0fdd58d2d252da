//! Following a tree for the service manager: `READY=1`, `STATUS=` and
//! `WATCHDOG=1` (see the [module docs](super)).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{interval, MissedTickBehavior};
use vigil_core::Request;

use super::SystemdNotify;
use crate::control::readout;
use crate::events::{EventKind, TreeEvent};
use crate::handle::TreeHandle;

/// `STATUS=` is sent at most this often (only when it changed).
pub const STATUS_INTERVAL: Duration = Duration::from_secs(1);

/// A task that reports one tree to the service manager; it stops when
/// dropped (or [`stop`](Self::stop)ped), so that a tree started again
/// gets a reporter of its own.
#[derive(Debug)]
#[must_use = "the reporter stops when dropped"]
pub struct Reporter {
    task: JoinHandle<()>,
    flush: Option<oneshot::Sender<()>>,
}

impl Reporter {
    /// Stop reporting.
    pub fn stop(self) {}

    /// For a tree that is down: send its last status (`tree down: ...`,
    /// with every event of its end read) now, rather than at the next
    /// interval, and stop. Waits at most `grace`.
    pub async fn finish(mut self, grace: Duration) {
        if let Some(flush) = self.flush.take() {
            let _ = flush.send(());
        }
        let _ = tokio::time::timeout(grace, &mut self.task).await;
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SystemdNotify {
    /// Report `sup` on the current runtime: `READY=1` once its root has
    /// started (at once if it already has), `STATUS=` summaries as the
    /// tree changes, `WATCHDOG=1` if the service has a watchdog. When the
    /// tree is down, the last status says why (`tree down: ...`) and the
    /// watchdog is still fed (vigil itself is alive).
    pub fn report(self: &Arc<Self>, sup: TreeHandle) -> Reporter {
        let (flush, flushed) = oneshot::channel();
        Reporter {
            task: tokio::spawn(follow(Arc::clone(self), sup, flushed)),
            flush: Some(flush),
        }
    }
}

/// What the reporter remembers of the tree's end.
#[derive(Default)]
struct Ending {
    /// Supervisors that gave up, in order (`""` is the root).
    gave_up: Vec<String>,
    /// The last worker exit that was not normal: path and reason.
    last_failure: Option<(String, String)>,
}

impl Ending {
    fn record(&mut self, e: &TreeEvent) {
        match &e.kind {
            EventKind::GiveUp => self.gave_up.push(e.path.clone()),
            EventKind::Exited { reason, .. } if !reason.is_normal() => {
                self.last_failure = Some((e.path.clone(), reason.to_string()));
            }
            _ => {}
        }
    }

    /// `tree down: ...`, with the give-up chain and the last failure.
    fn line(&self, sup: &TreeHandle) -> String {
        let mut line = format!("tree down: {}", sup.outcome());
        if !self.gave_up.is_empty() {
            let chain: Vec<&str> = self
                .gave_up
                .iter()
                .map(|p| if p.is_empty() { "the root" } else { p.as_str() })
                .collect();
            line.push_str(&format!(" (give-up of {})", chain.join(", then ")));
        }
        if let Some((path, reason)) = &self.last_failure {
            line.push_str(&format!("; last failure: {path} ({reason})"));
        }
        line
    }
}

async fn follow(notify: Arc<SystemdNotify>, sup: TreeHandle, mut flush: oneshot::Receiver<()>) {
    let mut events = sup.events();
    let mut ending = Ending::default();
    // Subscribed first, then looked: a root that started before the
    // subscription is seen by the look, one after it by its event.
    let mut ready = false;
    let mut status = interval(STATUS_INTERVAL);
    status.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut watchdog = interval(notify.watchdog_interval().unwrap_or(Duration::from_secs(3600)));
    watchdog.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut dirty = true;
    let mut events_open = true;
    let mut last = String::new();
    loop {
        tokio::select! {
            e = events.recv(), if events_open => match e {
                Some(Ok(e)) => {
                    if !ready && e.path.is_empty() && matches!(e.kind, EventKind::SupStarted) {
                        ready = send(&notify, "READY=1");
                    }
                    ending.record(&e);
                    dirty = true;
                }
                Some(Err(_lagged)) => dirty = true,
                None => { events_open = false; dirty = true; }
            },
            _ = status.tick(), if dirty => {
                dirty = false;
                let line = match readout::worker_counts(&sup).await {
                    Ok(c) => {
                        if !ready && c.starting == 0 {
                            ready = send(&notify, "READY=1");
                        }
                        c.line()
                    }
                    Err(_) => ending.line(&sup),
                };
                // The interval spaces the lines; one that did not go is tried again.
                if line != last {
                    match notify.status(&line) {
                        Ok(()) => last = line,
                        Err(_) => dirty = true,
                    }
                }
            },
            asked = &mut flush => {
                // Dropped without `finish`: the reporter is gone, and so is this task.
                if asked.is_err() {
                    return;
                }
                // The tree is down: its events end; read them all, then say why.
                while let Some(e) = events.recv().await {
                    if let Ok(e) = e {
                        ending.record(&e);
                    }
                }
                let line = ending.line(&sup);
                if line != last {
                    let _ = notify.status(&line);
                }
                return;
            },
            _ = watchdog.tick(), if notify.watchdog.is_some() => {
                if driver_answers(&sup, notify.watchdog_interval().unwrap_or_default()).await {
                    let _ = notify.watchdog();
                } else {
                    tracing::error!("the tree's driver did not answer in half the watchdog time: not feeding the watchdog");
                }
            },
        }
    }
}

/// Send `state`; whether it went.
fn send(notify: &SystemdNotify, state: &str) -> bool {
    match notify.send(state) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, state, "cannot notify systemd");
            false
        }
    }
}

/// Whether the driver answers a request within `within` (or the tree is
/// down: then there is no driver to hang, and vigil itself is alive).
async fn driver_answers(sup: &TreeHandle, within: Duration) -> bool {
    let ask = sup.request(Request::CountChildren { path: String::new() });
    // Any answer, `tree_down` included, comes from a live vigil.
    tokio::time::timeout(within, ask).await.is_ok()
}

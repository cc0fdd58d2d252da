//! The watchdog of one simulated seed: a thread of its own that reads the
//! world's progress (steps taken, virtual time) and warns when wall time
//! passes without a step: a task is holding the simulation's only thread
//! (`std::thread::sleep`, blocking I/O, a loop that never awaits). It only
//! reads, so it cannot change the run; and it cannot end a task that
//! blocks, only say so.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use super::world::Progress;

/// A running watchdog; [`Watchdog::stop`] ends it and returns its warnings.
pub(crate) struct Watchdog {
    thread: Option<JoinHandle<()>>,
    stop: Arc<(Mutex<bool>, std::sync::Condvar)>,
    warnings: Arc<Mutex<Vec<String>>>,
}

impl Watchdog {
    /// Watch `progress` of seed `seed`; warn after `after` of wall time
    /// without a step (`None`: no watchdog).
    pub(crate) fn start(seed: u64, progress: Arc<Progress>, after: Option<Duration>) -> Self {
        let stop = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let warnings = Arc::new(Mutex::new(Vec::new()));
        let thread = after.filter(|d| !d.is_zero()).and_then(|after| {
            let (stop, warnings) = (Arc::clone(&stop), Arc::clone(&warnings));
            std::thread::Builder::new()
                .name(format!("vigil-dst-watchdog-{seed}"))
                .spawn(move || watch(seed, &progress, after, &stop, &warnings))
                .ok()
        });
        Watchdog { thread, stop, warnings }
    }

    /// End the watchdog; what it warned about.
    pub(crate) fn stop(mut self) -> Vec<String> {
        {
            let (flag, wake) = &*self.stop;
            *flag.lock().unwrap_or_else(PoisonError::into_inner) = true;
            wake.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The watchdog's loop: wake every `after`, warn (once) when no step was
/// taken since the last wake.
fn watch(
    seed: u64,
    progress: &Progress,
    after: Duration,
    stop: &(Mutex<bool>, std::sync::Condvar),
    warnings: &Mutex<Vec<String>>,
) {
    let (flag, wake) = stop;
    let mut last = progress.steps.load(Ordering::Relaxed);
    let mut stopped = flag.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let (guard, _) = wake
            .wait_timeout_while(stopped, after, |s| !*s)
            .unwrap_or_else(PoisonError::into_inner);
        stopped = guard;
        if *stopped {
            return;
        }
        let now = progress.steps.load(Ordering::Relaxed);
        if now == last {
            let at = vigil_sim::format_time(vigil_core::Instant::from_nanos(
                progress.virtual_ns.load(Ordering::Relaxed),
            ));
            let text = format!(
                "seed {seed}: no supervision step for {after:?} of wall time (virtual time {at}): a task may be \
                 holding the simulation's only thread (std::thread::sleep, blocking I/O, a loop that never awaits)"
            );
            tracing::warn!("{text}");
            warnings.lock().unwrap_or_else(PoisonError::into_inner).push(text);
            return;
        }
        last = now;
    }
}

//! A process run waiting out its `start_delay` before its program is
//! started (docs/ADAPTER.md, "Signals and exit codes"): the engine sees a
//! spawned run that has not reported `Started`, so the next sibling waits
//! for it, as for any start; the driver is not blocked (a timer task sends
//! [`RunnerReport::DelayOver`] when the delay is over).

use std::time::Duration;

use tokio::task::AbortHandle;
use vigil_core::{ExitReason, RunId};

use crate::report::{ReportSender, RunnerReport};

/// A run in its start delay: its timer, and where its end is reported.
#[derive(Debug)]
pub(crate) struct DelayedStart {
    timer: AbortHandle,
    reports: ReportSender,
    run: RunId,
}

impl DelayedStart {
    /// Start the delay of `run`: after `delay`, `DelayOver` is reported.
    pub(crate) fn begin(run: RunId, delay: Duration, reports: &ReportSender) -> DelayedStart {
        let sender = reports.clone();
        let timer = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = sender.send((run, RunnerReport::DelayOver));
        })
        .abort_handle();
        DelayedStart {
            timer,
            reports: reports.clone(),
            run,
        }
    }

    /// The delay is cut short (the engine wants the run stopped): the
    /// timer is cancelled, and `DelayOver` reported at once.
    pub(crate) fn cut_short(&self) {
        self.timer.abort();
        let _ = self.reports.send((self.run, RunnerReport::DelayOver));
    }

    /// The run ends without its program ever starting (a Stop or Kill after
    /// the engine recorded its `Started`): the exit is reported with `reason`.
    pub(crate) fn end(&self, reason: ExitReason) {
        self.timer.abort();
        let _ = self.reports.send((self.run, RunnerReport::Exited(reason)));
    }
}

impl Drop for DelayedStart {
    fn drop(&mut self) {
        self.timer.abort();
    }
}

/// The reason of a run stopped before its start delay was over.
pub(crate) fn stopped_in_delay() -> ExitReason {
    ExitReason::Shutdown("stopped during its start delay".to_owned())
}

//! What a running child tells the driver.

use vigil_core::ExitReason;

/// One report from a run to the driver task. Every runner (task or process)
/// sends `Started` or `StartFailed` first, then any `Ready`/`Heartbeat`/
/// `Status`, and exactly one `Exited` when the run is gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RunnerReport {
    /// The run is up.
    Started,
    /// The run could not be started.
    StartFailed(String),
    /// The run reports ready (sd_notify `READY=1`, or `RunContext::ready`).
    Ready,
    /// The run is alive (sd_notify `WATCHDOG=1`, or `RunContext::heartbeat`).
    Heartbeat,
    /// Free-form status text (sd_notify `STATUS=...`), for logs and status views.
    Status(String),
    /// The run ended.
    Exited(ExitReason),
    /// The run's health probe failed `retries` times in a row (src/probe.rs);
    /// the detail says why the last one did. The driver evicts the run
    /// (`Eviction::Health`).
    Unhealthy(String),
    /// LIFECYCLE: a process run's `start_delay` is over (or cut short): the
    /// driver starts its program now (src/start_delay.rs).
    DelayOver,
}

/// Where runners send their reports: the driver's report queue
/// (src/driver_queue.rs).
pub(crate) use crate::driver_queue::ReportSender;

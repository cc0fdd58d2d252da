//! Monitors: watch the resources of process children and ask the engine to
//! restart a run that breaks a limit.
//!
//! Every monitor implements [`Monitor`]: runs are [registered](Monitor::register)
//! when they start and [removed](Monitor::remove) when they end; on every tick
//! the monitor [runs](Monitor::run) over one shared [`Sample`] of `/proc` and
//! may ask for evictions; [`status`](Monitor::status) summarises it for
//! operators. Two monitors exist:
//!
//! - [`ProcessMonitor`]: CPU % (from two samples), RSS/PSS, uptime and
//!   restart counts per child, for status views and metrics
//!   ([`TreeHandle::resources`](crate::TreeHandle::resources)).
//! - [`MemoryMonitor`]: per-child `memory_limit`, a limit over the whole tree,
//!   and leak detection. Its action is always an eviction through the engine
//!   ([`vigil_core::Input::Evict`], reason `memory`), so restart intensity and
//!   backoff apply as for a crash; it never signals a process itself, and
//!   never anything outside the tree.
//!
//! Sampling is periodic only while some monitor enforces something (a
//! memory limit, a tree limit, leak detection): otherwise `/proc` is read
//! only when [`TreeHandle::resources`](crate::TreeHandle::resources) asks,
//! at most once per [`MonitorSettings::min_sample_age`], and the CPU % is
//! the average between the last two such samples.
//!
//! A monitor is pure bookkeeping over samples: [`ProcSampler`] is the only
//! code that reads `/proc`, and the service (`MonitorService`) is the only code
//! that owns a timer, so monitors are tested with hand-made samples.

mod memory;
mod proc_sampler;
mod process_stats;
mod sample;
mod service;

use std::collections::BTreeSet;
use std::sync::Arc;

use vigil_core::{Eviction, RunId};

pub use memory::{LeakDetection, MemoryMonitor};
pub use proc_sampler::{Members, ProcSampler};
pub use process_stats::{ChildResources, ProcessMonitor};
pub use sample::{GroupUsage, Sample};
pub use service::MonitorSettings;
pub(crate) use service::{MonitorHandle, MonitorService};

/// One run of a process child, as monitors know it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitoredRun {
    /// The run.
    pub run: RunId,
    /// The child's path in the tree.
    pub path: Arc<str>,
    /// The run's process group (its leader's pid).
    pub pgid: u32,
    /// The child's own memory limit in bytes, if it has one.
    pub memory_limit: Option<u64>,
    /// When the run started.
    pub started: tokio::time::Instant,
}

/// What a monitor asks of the engine: restart this run, for this reason.
pub type EvictionRequest = (RunId, Eviction);

/// A monitor's summary for status views.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct MonitorStatus {
    /// The monitor's name (`process`, `memory`).
    pub name: &'static str,
    /// How many runs it watches now.
    pub runs: usize,
    /// How many evictions it asked for since the tree started.
    pub evictions: u64,
    /// One line on its settings and state, for people.
    pub detail: String,
}

/// A resource monitor (see the [module docs](self)).
pub trait Monitor: Send {
    /// A short name for status views and logs.
    fn name(&self) -> &'static str;

    /// A run started: watch it from the next sample on.
    fn register(&mut self, run: &MonitoredRun);

    /// A run ended: forget it.
    fn remove(&mut self, run: RunId);

    /// Look at a new sample; push the runs to restart onto `evict`.
    fn run(&mut self, sample: &Sample, evict: &mut Vec<EvictionRequest>);

    /// A summary for status views.
    fn status(&self) -> MonitorStatus;

    /// Which runs of `sample` (which has RSS and CPU, no PSS yet) this
    /// monitor needs the proportional set size (PSS) of, before
    /// [`run`](Self::run) sees the sample. PSS costs a read of
    /// `/proc/<pid>/smaps_rollup` per process, so ask only where it can
    /// change a decision.
    fn pss_wanted(&self, sample: &Sample, out: &mut BTreeSet<RunId>) {
        let _ = (sample, out);
    }

    /// Whether it must see a sample every interval (it enforces something).
    /// When no monitor does, `/proc` is read only when someone asks for the
    /// resources, so an unobserved tree without limits costs nothing.
    fn needs_periodic_samples(&self) -> bool {
        false
    }
}

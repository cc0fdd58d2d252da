//! Monitors: code of your own that watches the tree's runs and may ask the
//! engine to restart one (the seed's `Server(monitors: [...])`).
//!
//! A monitor is a type that implements [`Monitor`], added with
//! [`Tree::monitor`](crate::Tree::monitor) (any number of them). Each runs
//! in a tokio task of its own, where the framework calls it:
//!
//! - [`register`](Monitor::register) when a run is up (task and process
//!   runs; [`Monitor::watches`] may narrow it to processes), with its path,
//!   generation and kind ([`MonitoredRun`]); [`remove`](Monitor::remove)
//!   when it ends, however it ended. A monitor sees a run's register before
//!   its remove, in the driver's order, and every remove of a run it was
//!   told about (exited, killed, abandoned, evicted, the tree shut down or
//!   killed, the driver panicked); a run that never comes up is never
//!   registered;
//! - [`check`](Monitor::check) every [`interval`](Monitor::interval),
//!   between those calls: its own loop, where it may await I/O (a queue's
//!   depth, an HTTP health endpoint);
//! - from any of them it may ask for an eviction with
//!   [`MonitorContext::evict`]: a restart of one run, with a reason,
//!   through the engine ([`vigil_core::Input::Evict`]), so restart
//!   intensity and backoff apply as for a crash.
//!
//! A monitor never blocks the tree: the driver hands it notices through a
//! queue and never waits for it. An error a method returns is logged at
//! WARN and counted, and the monitor goes on; a method that panics stops
//! that monitor (logged at ERROR, its [status](MonitorStatus) says
//! [`MonitorState::Panicked`]), and the tree and the other monitors go on.
//! [`TreeHandle::monitors`](crate::TreeHandle::monitors) lists every
//! monitor's status.
//!
//! Two monitors are built in, always present, and implemented with the same
//! trait; [`MonitorSettings`] configures them
//! ([`Tree::monitor_settings`](crate::Tree::monitor_settings)):
//!
//! - `process`: RSS/PSS, CPU %, uptime and restarts of each process child,
//!   read from `/proc` when [`TreeHandle::resources`](crate::TreeHandle::resources)
//!   asks (at most once per [`MonitorSettings::min_sample_age`]; the CPU %
//!   is the average between the last two such samples);
//! - `memory`: each child's `memory_limit`, a limit over the whole tree,
//!   and leak detection; it samples `/proc` every
//!   [`MonitorSettings::interval`] while it has something to enforce, and
//!   evicts with reason `memory`.
//!
//! For `vigil run`, a monitor can also be an external program: it
//! subscribes to the same register/remove notices on the control socket and
//! sends `evict` (docs/PROTOCOL.md, "Monitors").

mod context;
mod eviction;
mod list;
mod memory;
mod monitor_task;
mod proc_sampler;
mod process_stats;
mod run;
mod run_queue;
mod sample;
mod settings;
mod status;

use std::future::Future;
use std::time::Duration;

use vigil_core::RunId;

pub use context::MonitorContext;
pub use eviction::EvictError;
pub use memory::LeakDetection;
pub use process_stats::ChildResources;
pub use run::{MonitoredRun, RunKind, Watch};
pub use run_queue::MAX_BACKLOG;
pub use settings::MonitorSettings;
pub use status::{MonitorState, MonitorStatus};

pub(crate) use eviction::{evict_through, EvictBy, EvictMsg, EvictTarget, Forward};
pub(crate) use list::{MonitorHandle, MonitorList, MonitorSet};
pub use monitor_task::MIN_INTERVAL;

/// A monitor of the tree's runs (see the [module docs](self)).
///
/// Each method gets the monitor's [`MonitorContext`], through which it may
/// evict a run. Methods are `async` and may await anything; while one
/// awaits, the notices for this monitor wait in its queue (the tree does
/// not), and none of its other methods is called. The futures must be
/// `Send` (the monitor runs in a task of its own).
///
/// A monitor that restarts a task whose queue stays too deep
/// (`adapters/tokio/examples/queue_depth_monitor.rs` is a longer version):
///
/// ```
/// use std::collections::BTreeMap;
/// use std::convert::Infallible;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// use vigil_core::{ChildSpec, ExitReason, RunId, SupervisorSpec};
/// use vigil_tokio::monitor::{Monitor, MonitorContext, MonitoredRun};
/// use vigil_tokio::{EventKind, Tree};
///
/// /// Restarts `worker` when its queue is deeper than `max` at a check.
/// struct QueueDepth {
///     depth: Arc<AtomicUsize>,
///     max: usize,
///     worker: Option<RunId>,
/// }
///
/// impl Monitor for QueueDepth {
///     type Error = Infallible;
///
///     fn name(&self) -> &str {
///         "queue-depth"
///     }
///
///     fn interval(&self) -> Option<Duration> {
///         Some(Duration::from_millis(100))
///     }
///
///     async fn register(&mut self, run: &MonitoredRun, _: &MonitorContext) -> Result<(), Infallible> {
///         if &*run.path == "worker" {
///             self.worker = Some(run.run);
///         }
///         Ok(())
///     }
///
///     async fn remove(&mut self, run: RunId, _: &MonitorContext) -> Result<(), Infallible> {
///         if self.worker == Some(run) {
///             self.worker = None;
///         }
///         Ok(())
///     }
///
///     async fn check(&mut self, ctx: &MonitorContext) -> Result<(), Infallible> {
///         let depth = self.depth.load(Ordering::Relaxed);
///         if let (Some(run), true) = (self.worker, depth > self.max) {
///             // Stale (the run ended meanwhile) is harmless: ignore it.
///             let _ = ctx.evict(run, format!("queue depth {depth} > {}", self.max)).await;
///         }
///         Ok(())
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
/// let depth = Arc::new(AtomicUsize::new(0));
/// let queue = Arc::clone(&depth);
/// let sup = Tree::new(SupervisorSpec::new().intensity(5))
///     .task(ChildSpec::worker("worker"), move |ctx| {
///         let queue = Arc::clone(&queue);
///         async move {
///             queue.store(1000, Ordering::Relaxed); // falls behind at once
///             ctx.stopped().await;
///             queue.store(0, Ordering::Relaxed); // a new run starts with an empty queue
///             Ok::<(), Infallible>(())
///         }
///     })
///     .monitor(QueueDepth { depth, max: 100, worker: None })
///     .start()
///     .expect("valid tree");
/// let mut events = sup.events();
/// let reason = loop {
///     let event = events.recv().await.expect("the tree is up").expect("no lag");
///     if let EventKind::Exited { reason, .. } = event.kind {
///         break reason;
///     }
/// };
/// assert_eq!(reason, ExitReason::Evicted("queue depth 1000 > 100".into()));
/// sup.shutdown().await;
/// # });
/// ```
pub trait Monitor: Send + 'static {
    /// What its methods may fail with: logged at WARN (with the monitor's
    /// name and the method), counted in its [status](MonitorStatus), and
    /// the monitor goes on. [`std::convert::Infallible`] for a monitor that
    /// cannot fail.
    type Error: std::fmt::Display + Send + 'static;

    /// A short name for logs and status views; read once, when the tree
    /// starts.
    fn name(&self) -> &str;

    /// How often [`check`](Self::check) is called; `None` for never.
    /// Read when the tree starts and again after every call, so it may
    /// change (the memory monitor checks only while it has a limit to
    /// enforce). The first check comes one interval after the start (or
    /// after the interval was set); each next one an interval after the
    /// previous one began, or, if that check took longer, an interval after
    /// it ended. Below [`MIN_INTERVAL`] reads as [`MIN_INTERVAL`]; an
    /// interval that does not fit in tokio's clock reads as `None`.
    fn interval(&self) -> Option<Duration>;

    /// Which runs it is told about ([`Watch::AllRuns`] unless it says
    /// otherwise); read once, when the tree starts.
    fn watches(&self) -> Watch {
        Watch::AllRuns
    }

    /// A run is up: the engine has accepted its `started` (a task as soon
    /// as it is spawned, a process once its program runs). A run that never
    /// comes up (its program cannot be executed, say) is never registered.
    /// An eviction from here finds the run up (or awaiting readiness),
    /// unless it is already being stopped.
    fn register(
        &mut self,
        run: &MonitoredRun,
        ctx: &MonitorContext,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// A run it was told about ended, however it ended. Every run
    /// registered with the monitor is removed exactly once, after its
    /// register.
    fn remove(&mut self, run: RunId, ctx: &MonitorContext) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// The monitor's own loop: called at its [`interval`](Self::interval).
    fn check(&mut self, ctx: &MonitorContext) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// One line on its settings and state for status views (empty unless
    /// it says something). Read after each check and after each batch of
    /// registers and removes.
    fn detail(&self) -> String {
        String::new()
    }
}

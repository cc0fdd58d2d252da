//! What a task worker gets: its identity, its stop signal, and a way to report.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::report::RunnerReport;
use crate::task::RunShared;

/// The handle a task worker receives for one run.
///
/// A task should watch [`RunContext::stopped`] and return soon after it fires
/// (that is `Stop`); if it does not return before its shutdown deadline, the
/// engine kills it (the future is dropped).
///
/// ```
/// use std::time::Duration;
/// use vigil_core::{ChildSpec, Readiness, SupervisorSpec};
/// use vigil_tokio::{RunContext, Tree};
///
/// async fn db(ctx: RunContext) -> Result<(), String> {
///     assert_eq!(ctx.path(), "db");
///     ctx.status(format!("connecting (run {})", ctx.generation()));
///     ctx.ready(); // readiness `notify`: the next sibling starts now
///     loop {
///         tokio::select! {
///             _ = ctx.stopped() => return Ok(()), // Stop: clean up and return
///             _ = tokio::time::sleep(Duration::from_millis(100)) => ctx.heartbeat(),
///         }
///     }
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let tree = Tree::new(SupervisorSpec::new())
///     .task(ChildSpec::worker("db").readiness(Readiness::Notify), db)
///     .start()
///     .expect("a valid tree");
/// assert!(tree.shutdown().await.is_normal());
/// # });
/// ```
#[derive(Clone)]
pub struct RunContext {
    /// The run's state, shared with the driver and the run's task: its
    /// identity, where it reports, its stop signal, and the fault injector
    /// of an own-code simulation (feature `sim`), which
    /// [`RunContext::checkpoint`] consults (none in a real run). One
    /// pointer: cloning a context costs one atomic increment.
    pub(crate) shared: Arc<RunShared>,
}

impl std::fmt::Debug for RunContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunContext")
            .field("path", &self.path())
            .field("generation", &self.generation())
            .field("stop_requested", &self.is_stop_requested())
            .field("faults", &self.shared.faults)
            .finish()
    }
}

/// A run's link to the fault injector of an own-code simulation: empty
/// (zero bytes) without the feature `sim`, `None` in a real run.
#[derive(Clone, Default)]
pub(crate) struct FaultLink {
    #[cfg(feature = "sim")]
    /// A thin pointer (8 bytes): the run's future holds its context, and
    /// every byte of it counts on the task restart path.
    pub(crate) injector: Option<Arc<crate::dst::SharedWorld>>,
}

impl std::fmt::Debug for FaultLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        #[cfg(feature = "sim")]
        let simulated = self.injector.is_some();
        #[cfg(not(feature = "sim"))]
        let simulated = false;
        f.debug_struct("FaultLink").field("simulated", &simulated).finish()
    }
}

/// What a checkpoint does under simulation.
#[cfg(feature = "sim")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CheckpointFate {
    /// Go on.
    Continue,
    /// End the run with `error(injected at checkpoint)`.
    Crash,
    /// Panic the run: `panic(injected panic at checkpoint)`.
    Panic,
}

/// The unwind payload of a crash injected at a checkpoint: the task's
/// runner reads it as the run's error (`error(injected at checkpoint)`),
/// not as a panic.
#[derive(Debug)]
pub(crate) struct InjectedCrash;

/// The reason a run crashed at a checkpoint ends with (`error(..)`).
pub(crate) const INJECTED_CRASH: &str = "injected at checkpoint";

/// The message of a panic injected at a checkpoint (`panic(..)`).
#[cfg(feature = "sim")]
const INJECTED_PANIC: &str = "injected panic at checkpoint";

impl RunContext {
    /// The worker's path in the tree (`web/db`).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.shared.path
    }

    /// This run's generation (it never repeats in a tree, and grows from one
    /// run of a worker to the next).
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.shared.run.generation
    }

    /// Resolves when the supervisor asks this run to stop.
    pub async fn stopped(&self) {
        self.shared.stop.wait().await
    }

    /// Whether the supervisor has asked this run to stop.
    #[must_use]
    pub fn is_stop_requested(&self) -> bool {
        self.shared.stop.is_requested()
    }

    /// The stop signal as a token, to hand to code that takes one: the
    /// same token at every call, cancelled when the run is asked to stop.
    /// Cancelling it yourself counts as that request
    /// ([`RunContext::stopped`] resolves, and an `Ok` return is `shutdown`).
    /// Made at the first call (a run that never asks for one pays nothing).
    #[must_use]
    pub fn stop_token(&self) -> CancellationToken {
        self.shared.stop.token()
    }

    /// Report ready (for `notify` workers: the next sibling starts only then).
    pub fn ready(&self) {
        let _ = self.shared.reports.send((self.shared.run, RunnerReport::Ready));
    }

    /// Report that the run is alive (resets its `health_timeout`).
    pub fn heartbeat(&self) {
        let _ = self.shared.reports.send((self.shared.run, RunnerReport::Heartbeat));
    }

    /// A point where an own-code simulation may inject a fault, in the
    /// spirit of FoundationDB's BUGGIFY: await it wherever your task could
    /// fail in production (after connecting, between two writes that must
    /// go together, before acknowledging).
    ///
    /// In a real run (and in any build without the feature `sim`) it does
    /// nothing: it never yields, allocates nothing and costs at most one
    /// branch (none without the feature; docs/BENCHMARKS.md measures it).
    /// Under simulation (`vigil_tokio::dst`, feature `dst`) the seeded fault
    /// injector may end the run here, with `error(injected at checkpoint)`,
    /// or panic it (`panic(injected panic at checkpoint)`): the run's
    /// future unwinds from this point (its locals are dropped), so await it
    /// in the run's own future, not in a task the run spawned, and not
    /// inside a `catch_unwind` of your own.
    ///
    /// ```
    /// use vigil_tokio::RunContext;
    ///
    /// async fn worker(ctx: RunContext) -> Result<(), String> {
    ///     // ... connect ...
    ///     ctx.checkpoint().await; // a crash right after connecting
    ///     ctx.stopped().await;
    ///     Ok(())
    /// }
    /// # let _ = worker;
    /// ```
    pub async fn checkpoint(&self) {
        #[cfg(feature = "sim")]
        if let Some(injector) = &self.shared.faults.injector {
            // Decided (and the injector's lock released) before unwinding.
            match injector.checkpoint(self.shared.run) {
                CheckpointFate::Continue => {}
                CheckpointFate::Crash => std::panic::resume_unwind(Box::new(InjectedCrash)),
                CheckpointFate::Panic => std::panic::resume_unwind(Box::new(INJECTED_PANIC)),
            }
        }
    }

    /// Publish a status line (shown in logs and status views).
    pub fn status(&self, text: impl Into<String>) {
        let _ = self
            .shared
            .reports
            .send((self.shared.run, RunnerReport::Status(text.into())));
    }
}

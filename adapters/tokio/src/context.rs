//! What a task worker gets: its identity, its stop signal, and a way to report.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;
use vigil_core::RunId;

use crate::report::{ReportSender, RunnerReport};

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
#[derive(Clone, Debug)]
pub struct RunContext {
    pub(crate) run: RunId,
    pub(crate) path: Arc<str>,
    pub(crate) stop: CancellationToken,
    pub(crate) reports: ReportSender,
}

impl RunContext {
    /// The worker's path in the tree (`web/db`).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// This run's generation (it never repeats in a tree, and grows from one
    /// run of a worker to the next).
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.run.generation
    }

    /// Resolves when the supervisor asks this run to stop.
    pub async fn stopped(&self) {
        self.stop.cancelled().await
    }

    /// Whether the supervisor has asked this run to stop.
    #[must_use]
    pub fn is_stop_requested(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// The stop signal as a token, to hand to code that takes one.
    #[must_use]
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Report ready (for `notify` workers: the next sibling starts only then).
    pub fn ready(&self) {
        let _ = self.reports.send((self.run, RunnerReport::Ready));
    }

    /// Report that the run is alive (resets its `health_timeout`).
    pub fn heartbeat(&self) {
        let _ = self.reports.send((self.run, RunnerReport::Heartbeat));
    }

    /// Publish a status line (shown in logs and status views).
    pub fn status(&self, text: impl Into<String>) {
        let _ = self.reports.send((self.run, RunnerReport::Status(text.into())));
    }
}

//! Blocking workers: synchronous closures, each run on its own OS thread
//! (Visor.jl's `thread=true`).
//!
//! `Stop` sets the run's stop flag, which the closure reads with
//! [`BlockingContext::is_stopping`] or sleeps on with
//! [`BlockingContext::sleep`]. A thread cannot be killed: at its kill (its
//! shutdown deadline, a `brutal` shutdown, a health kill, `kill_all`) the run
//! is **abandoned**: reported `killed` at once, its slot freed, and the tree
//! goes on without waiting, while the thread runs until the closure returns
//! (docs/ADAPTER.md, "Blocking children"). Exactly one `Exited` is reported
//! per run, by whichever side claims it first: the thread (the closure
//! returned or panicked) or the driver (it abandoned the run).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use vigil_core::{ChildSpec, ExitReason, Reply, RequestError, RunId};

use crate::builder::{Children, Tree};
use crate::handle::{TreeHandle, TreeStatus};
use crate::payloads::Payload;
use crate::report::{ReportSender, RunnerReport};
use crate::task::{panic_message, Killed};

/// The closure of a blocking worker, boxed: any `Display` error becomes
/// `error(<message>)`.
pub(crate) type BlockingFn = Arc<dyn Fn(BlockingContext) -> Result<(), String> + Send + Sync>;

/// What a blocking worker runs: its closure and its thread's settings.
#[derive(Clone)]
pub(crate) struct BlockingPayload {
    f: BlockingFn,
    options: BlockingOptions,
}

/// The payload of a blocking worker that runs `f` on threads made as `options` says.
fn blocking_payload<F, E>(options: BlockingOptions, f: F) -> Payload
where
    F: Fn(BlockingContext) -> Result<(), E> + Send + Sync + 'static,
    E: std::fmt::Display,
{
    let f: BlockingFn = Arc::new(move |ctx| f(ctx).map_err(|e| e.to_string()));
    Payload::Blocking(BlockingPayload { f, options })
}

/// How the threads of a blocking worker are made.
///
/// ```
/// use vigil_tokio::BlockingOptions;
/// let deep = BlockingOptions::new().stack_size(16 << 20);
/// assert_eq!(deep.stack(), Some(16 << 20));
/// assert_eq!(BlockingOptions::new().stack(), None, "the standard library's default");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct BlockingOptions {
    stack_size: Option<usize>,
}

impl BlockingOptions {
    /// The defaults: the standard library's stack size (2 MiB, or what the
    /// `RUST_MIN_STACK` environment variable says).
    pub fn new() -> Self {
        Self::default()
    }

    /// Each run's thread gets a stack of `bytes` (rounded up to 64 KiB; a
    /// size the system cannot give makes the start fail, with the reason).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// The stack size asked for, if any.
    #[must_use]
    pub fn stack(&self) -> Option<usize> {
        self.stack_size
    }
}

/// Stack sizes are whole multiples of this (every page size in use divides
/// it), so that the standard library never has to round one itself.
const STACK_GRAIN: usize = 64 << 10;

/// `bytes` rounded up to [`STACK_GRAIN`], saturating at the largest multiple.
fn stack_bytes(bytes: usize) -> usize {
    bytes
        .checked_next_multiple_of(STACK_GRAIN)
        .unwrap_or(usize::MAX - (usize::MAX % STACK_GRAIN))
}

/// The stop flag of one run, and the exit claim (see the module docs).
#[derive(Debug, Default)]
struct Signal {
    stopping: AtomicBool,
    /// Held only to set `stopping` and to wait on `wake`: no user code runs under it.
    lock: Mutex<()>,
    wake: Condvar,
    /// Someone reported (or is reporting) the run's `Exited`.
    exit_claimed: AtomicBool,
}

impl Signal {
    fn stop(&self) {
        let guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.stopping.store(true, Ordering::SeqCst);
        drop(guard);
        self.wake.notify_all();
    }

    /// Claim the right to report the run's exit; `true` for the first caller only.
    fn claim_exit(&self) -> bool {
        !self.exit_claimed.swap(true, Ordering::SeqCst)
    }
}

/// What a blocking worker gets for one run: its identity, its stop flag, and
/// a way to report.
///
/// It is `Clone` and `Send`: hand it to helper threads of the run. Reports
/// made after the run ended (or was abandoned) are ignored by the engine.
///
/// ```
/// use std::time::Duration;
/// use vigil_core::{ChildSpec, SupervisorSpec};
/// use vigil_tokio::Tree;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let tree = Tree::new(SupervisorSpec::new())
///     .blocking(ChildSpec::worker("indexer"), |ctx| {
///         assert_eq!(ctx.path(), "indexer");
///         // Work in slices; `sleep` returns `false` as soon as a stop is asked.
///         while ctx.sleep(Duration::from_millis(1)) {
///             ctx.heartbeat();
///         }
///         Ok::<(), String>(())
///     })
///     .start()
///     .expect("valid tree");
/// assert!(tree.shutdown().await.is_normal());
/// assert_eq!(tree.abandoned_runs(), 0, "it returned in time");
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct BlockingContext {
    run: RunId,
    path: Arc<str>,
    signal: Arc<Signal>,
    reports: ReportSender,
}

impl BlockingContext {
    /// The worker's path in the tree (`web/indexer`).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// This run's generation.
    #[must_use]
    pub fn generation(&self) -> u64 {
        self.run.generation
    }

    /// Whether the supervisor has asked this run to stop (or killed it: an
    /// abandoned run sees the flag too). The closure should return soon after.
    #[must_use]
    pub fn is_stopping(&self) -> bool {
        self.signal.stopping.load(Ordering::SeqCst)
    }

    /// Sleep for `duration`, or less if a stop is asked first. Returns `true`
    /// when the whole duration passed without a stop (go on working), `false`
    /// when the run is stopping (at once if it already was). `Duration::MAX`
    /// waits for the stop.
    pub fn sleep(&self, duration: Duration) -> bool {
        let until = std::time::Instant::now().checked_add(duration);
        let mut guard = self.signal.lock.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if self.is_stopping() {
                return false;
            }
            guard = match until {
                None => self.signal.wake.wait(guard).unwrap_or_else(PoisonError::into_inner),
                Some(at) => {
                    let now = std::time::Instant::now();
                    if now >= at {
                        return true;
                    }
                    let waited = self.signal.wake.wait_timeout(guard, at - now);
                    waited.unwrap_or_else(PoisonError::into_inner).0
                }
            };
        }
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

/// The driver's side of one blocking run.
#[derive(Debug)]
pub(crate) struct BlockingRun {
    signal: Arc<Signal>,
    /// The tree's status: its count of abandoned threads still running.
    status: Arc<TreeStatus>,
}

impl BlockingRun {
    /// `Stop`: set the flag and wake a sleeping closure.
    pub(crate) fn stop(&self) {
        self.signal.stop();
    }

    /// `Kill`: a thread cannot be killed, so the run is abandoned (the
    /// caller reports its `killed` exit) unless it already ended. The flag is
    /// set either way, so a closure that checks it still returns early.
    pub(crate) fn kill(&self) -> Killed {
        self.signal.stop();
        // Counted before the claim, so the thread's decrement (which needs
        // the claim to have been lost) can never come first.
        let threads = &self.status.abandoned_threads;
        threads.fetch_add(1, Ordering::SeqCst);
        if self.signal.claim_exit() {
            Killed::Abandoned
        } else {
            threads.fetch_sub(1, Ordering::SeqCst);
            Killed::AlreadyEnded
        }
    }
}

/// Start one run of a blocking worker on a new thread named after `path`.
/// The thread reports `Started` first and exactly one `Exited` (unless the
/// run is abandoned: see [`BlockingRun::kill`]). A thread the system cannot
/// make is the error, for a failed start.
pub(crate) fn spawn_blocking_run(
    payload: &BlockingPayload,
    run: RunId,
    path: Arc<str>,
    reports: ReportSender,
    status: Arc<TreeStatus>,
) -> Result<BlockingRun, String> {
    let signal = Arc::new(Signal::default());
    let ctx = BlockingContext {
        run,
        path: Arc::clone(&path),
        signal: Arc::clone(&signal),
        reports: reports.clone(),
    };
    // Paths are validated (no control characters); a NUL would make the
    // standard library panic, so it could never get this far.
    let mut builder = std::thread::Builder::new().name(path.replace('\0', "?"));
    if let Some(bytes) = payload.options.stack_size {
        builder = builder.stack_size(stack_bytes(bytes));
    }
    let f = Arc::clone(&payload.f);
    let (thread_signal, thread_status) = (Arc::clone(&signal), Arc::clone(&status));
    let span = tracing::info_span!("child", path = %path, generation = run.generation);
    let body = move || {
        let _entered = span.enter();
        let _ = reports.send((run, RunnerReport::Started));
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| f(ctx)));
        let stopping = thread_signal.stopping.load(Ordering::SeqCst);
        let reason = match result {
            Ok(Ok(())) if stopping => ExitReason::shutdown(),
            Ok(Ok(())) => ExitReason::Normal,
            Ok(Err(msg)) => ExitReason::Error(msg),
            Err(panic) => ExitReason::Panic(panic_message(panic.as_ref())),
        };
        if thread_signal.claim_exit() {
            let _ = reports.send((run, RunnerReport::Exited(reason)));
        } else {
            let threads = &thread_status.abandoned_threads;
            let left = threads.fetch_sub(1, Ordering::SeqCst).saturating_sub(1);
            tracing::warn!(
                %reason,
                abandoned_threads_left = left,
                "an abandoned blocking run returned; its result is ignored"
            );
        }
        // Dropping `f` here releases what the closure captured.
    };
    match builder.spawn(body) {
        Ok(_detached) => Ok(BlockingRun { signal, status }),
        Err(e) => Err(format!("cannot start a thread for {path}: {e}")),
    }
}

impl Children {
    /// Add a blocking worker: `f` is called for every run on a new OS thread
    /// (named after the child's path, with the standard library's stack
    /// size) with that run's [`BlockingContext`]. `Ok` ends the run normally
    /// (`shutdown` if it was asked to stop), `Err(e)` with `error(e)`, a
    /// panic with `panic(..)`. A run still going at its kill is abandoned:
    /// reported `killed`, and its thread left to return by itself
    /// (docs/ADAPTER.md, "Blocking children").
    ///
    /// ```
    /// use std::time::Duration;
    /// use vigil_core::{ChildSpec, Shutdown, SupervisorSpec};
    /// use vigil_tokio::Tree;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let tree = Tree::new(SupervisorSpec::new())
    ///     .blocking(
    ///         ChildSpec::worker("stuck").shutdown(Shutdown::Timeout(Duration::from_millis(10))),
    ///         |_ctx| -> Result<(), String> {
    ///             loop {
    ///                 std::thread::sleep(Duration::from_millis(1)); // never checks its flag
    ///             }
    ///         },
    ///     )
    ///     .start()
    ///     .expect("valid tree");
    /// tree.shutdown().await; // killed at 10 ms: the thread is not waited for
    /// assert_eq!(tree.abandoned_runs(), 1);
    /// assert_eq!(tree.abandoned_threads(), 1, "still looping");
    /// # });
    /// ```
    pub fn blocking<F, E>(self, spec: ChildSpec, f: F) -> Self
    where
        F: Fn(BlockingContext) -> Result<(), E> + Send + Sync + 'static,
        E: std::fmt::Display,
    {
        self.blocking_with(spec, BlockingOptions::new(), f)
    }

    /// [`Children::blocking`] with the threads made as `options` says.
    ///
    /// ```
    /// use vigil_core::{ChildSpec, SupervisorSpec};
    /// use vigil_tokio::{BlockingOptions, Tree};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let tree = Tree::new(SupervisorSpec::new())
    ///     .blocking_with(ChildSpec::worker("parser"), BlockingOptions::new().stack_size(8 << 20), |ctx| {
    ///         ctx.sleep(std::time::Duration::MAX); // until asked to stop
    ///         Ok::<(), String>(())
    ///     })
    ///     .start()
    ///     .expect("valid tree");
    /// assert!(tree.shutdown().await.is_normal());
    /// # });
    /// ```
    pub fn blocking_with<F, E>(self, spec: ChildSpec, options: BlockingOptions, f: F) -> Self
    where
        F: Fn(BlockingContext) -> Result<(), E> + Send + Sync + 'static,
        E: std::fmt::Display,
    {
        self.push_worker(spec, blocking_payload(options, f))
    }
}

impl Tree {
    /// Add a blocking worker to the root: see [`Children::blocking`].
    pub fn blocking<F, E>(self, spec: ChildSpec, f: F) -> Self
    where
        F: Fn(BlockingContext) -> Result<(), E> + Send + Sync + 'static,
        E: std::fmt::Display,
    {
        self.with_children(|c| c.blocking(spec, f))
    }

    /// Add a blocking worker to the root, its threads made as `options`
    /// says: see [`Children::blocking_with`].
    pub fn blocking_with<F, E>(self, spec: ChildSpec, options: BlockingOptions, f: F) -> Self
    where
        F: Fn(BlockingContext) -> Result<(), E> + Send + Sync + 'static,
        E: std::fmt::Display,
    {
        self.with_children(|c| c.blocking_with(spec, options, f))
    }
}

impl TreeHandle {
    /// Add a blocking worker under the supervisor at `parent` and start it
    /// (as [`Children::blocking_with`] does for a static one).
    ///
    /// ```
    /// use vigil_core::{ChildSpec, Reply, SupervisorSpec};
    /// use vigil_tokio::{BlockingOptions, Tree};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let tree = Tree::new(SupervisorSpec::new()).start().expect("valid tree");
    /// let started = tree
    ///     .start_blocking("", ChildSpec::worker("job"), BlockingOptions::new(), |ctx| {
    ///         ctx.sleep(std::time::Duration::MAX);
    ///         Ok::<(), String>(())
    ///     })
    ///     .await;
    /// assert!(matches!(started, Ok(Reply::Started { .. })));
    /// tree.shutdown().await;
    /// # });
    /// ```
    pub async fn start_blocking<F, E>(
        &self,
        parent: &str,
        spec: ChildSpec,
        options: BlockingOptions,
        f: F,
    ) -> Result<Reply, RequestError>
    where
        F: Fn(BlockingContext) -> Result<(), E> + Send + Sync + 'static,
        E: std::fmt::Display,
    {
        self.start_worker(parent, spec, blocking_payload(options, f)).await
    }

    /// How many abandoned blocking runs still have a thread running (their
    /// closure has not returned). Each is also counted, once, in
    /// [`TreeHandle::abandoned_runs`]; this one goes down again as they return.
    #[must_use]
    pub fn abandoned_threads(&self) -> u64 {
        self.status.abandoned_threads.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_sizes_round_up_to_the_grain_and_saturate() {
        assert_eq!(stack_bytes(1), STACK_GRAIN);
        assert_eq!(stack_bytes(STACK_GRAIN), STACK_GRAIN);
        assert_eq!(stack_bytes(STACK_GRAIN + 1), 2 * STACK_GRAIN);
        let top = stack_bytes(usize::MAX);
        assert_eq!(top % STACK_GRAIN, 0);
        assert!(top > usize::MAX - STACK_GRAIN);
    }

    #[test]
    fn a_sleep_is_cut_short_by_a_stop_and_reports_it() {
        let (reports, _rx) = crate::driver_queue::driver_queue();
        let signal = Arc::new(Signal::default());
        let ctx = BlockingContext {
            run: RunId {
                node: vigil_core::NodeId::from_index(1),
                generation: 1,
            },
            path: "w".into(),
            signal: Arc::clone(&signal),
            reports,
        };
        assert!(ctx.sleep(Duration::ZERO), "nothing asked yet");
        let sleeper = {
            let ctx = ctx.clone();
            std::thread::spawn(move || ctx.sleep(Duration::MAX))
        };
        signal.stop();
        assert!(!sleeper.join().expect("no panic"), "woken by the stop");
        assert!(ctx.is_stopping());
        assert!(!ctx.sleep(Duration::from_secs(3600)), "a stopping run does not sleep");
    }
}

//! Task workers: async closures run as tokio tasks.
//!
//! A run's future is wrapped so that a Kill can always end the run, even
//! when the future never yields (blocking code, an endless loop): see
//! [`TaskRun::kill`]. Exactly one `Exited` is reported per run, by whichever
//! side claims it first: the task (it returned, panicked, or was dropped at a
//! poll boundary) or the driver (it abandoned a run stuck inside a poll).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;

use futures_util::task::AtomicWaker;
use tracing::Instrument;
use vigil_core::{ExitReason, RunId};

use crate::context::{FaultLink, InjectedCrash, RunContext, INJECTED_CRASH};
use crate::inbox::InboxLink;
use crate::report::{ReportSender, RunnerReport};
use crate::stop_signal::StopSignal;

/// A task's future, boxed.
pub(crate) type TaskFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// What to run for each run of a task worker.
pub(crate) type TaskFn = Arc<dyn Fn(RunContext) -> TaskFuture + Send + Sync>;

/// Box a user's closure: any `Display` error becomes `error(<message>)`.
pub(crate) fn task_fn<F, Fut, E>(f: F) -> TaskFn
where
    F: Fn(RunContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    Arc::new(move |ctx| {
        let fut = f(ctx);
        Box::pin(async move { fut.await.map_err(|e| e.to_string()) })
    })
}

/// What the driver, a task run and its [`RunContext`] share: one
/// allocation per run (the context is this pointer, the spawned future
/// holds only the user's future and this).
#[derive(Debug)]
pub(crate) struct RunShared {
    pub(crate) run: RunId,
    /// The worker's path (`RunContext::path`, and the log of an abandoned run).
    pub(crate) path: Arc<str>,
    /// Where the run reports (its `Exited`, and the context's reports).
    pub(crate) reports: ReportSender,
    /// The run's link to an own-code simulation's fault injector.
    pub(crate) faults: FaultLink,
    /// The run's stop signal (src/stop_signal.rs).
    pub(crate) stop: StopSignal,
    /// The driver ordered a Kill.
    killed: AtomicBool,
    /// The task's waker, registered at each poll that leaves the run
    /// waiting: a Kill wakes the task so that it drops the future (between
    /// polls) and reports `killed`.
    waker: AtomicWaker,
    /// The task is inside a poll of the user's future right now.
    in_poll: AtomicBool,
    /// Someone reported (or is reporting) the run's `Exited`.
    exit_claimed: AtomicBool,
}

impl RunShared {
    /// Claim the right to report the run's exit; `true` for the first caller only.
    fn claim_exit(&self) -> bool {
        !self.exit_claimed.swap(true, Ordering::SeqCst)
    }
}

/// The stop (cancel) and kill (drop the future, or abandon it) signals of
/// one task run.
#[derive(Debug)]
pub(crate) struct TaskRun {
    shared: Arc<RunShared>,
    /// The child's inbox, if it has one: this run receives from it until
    /// its stop, its kill, or its teardown (when this handle is dropped).
    inbox: Option<InboxLink>,
}

/// What a Kill of a task run did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Killed {
    /// The future was between polls: the task drops it at its next poll,
    /// which the kill wakes, and reports `killed` itself.
    Dropping,
    /// The future is inside a poll that has not returned (blocking code or
    /// a loop that never yields): the run is abandoned. The caller reports
    /// its `killed` exit; the task reports nothing more, and drops the
    /// future as soon as that poll returns (if ever).
    Abandoned,
    /// The run had already reported its exit.
    AlreadyEnded,
}

impl TaskRun {
    /// The run's handle with the link to its child's inbox.
    pub(crate) fn with_inbox(mut self, link: InboxLink) -> Self {
        self.inbox = Some(link);
        self
    }

    /// Ask the run to stop: its stop token fires, and it receives nothing
    /// more from its inbox (what is queued stays for the next run).
    pub(crate) fn stop(&self) {
        self.shared.stop.stop();
        if let Some(inbox) = &self.inbox {
            inbox.stop();
        }
    }

    /// Kill the run. Never waits: a future that cannot be dropped now (it is
    /// inside a poll) is abandoned, see [`Killed::Abandoned`].
    pub(crate) fn kill(&self) -> Killed {
        // A killed run, even one stuck in a poll, takes no more messages.
        if let Some(inbox) = &self.inbox {
            inbox.end();
        }
        // Dekker with the task's poll (`TaskBody::poll_user`): either the task sees
        // `killed` before it polls the future again, or we see it in a poll.
        self.shared.killed.store(true, Ordering::SeqCst);
        self.shared.waker.wake();
        if self.shared.in_poll.load(Ordering::SeqCst) {
            if self.shared.claim_exit() {
                Killed::Abandoned
            } else {
                Killed::AlreadyEnded
            }
        } else if self.shared.exit_claimed.load(Ordering::SeqCst) {
            Killed::AlreadyEnded
        } else {
            Killed::Dropping
        }
    }
}

/// Start one run of a task worker. If its closure panics (before returning
/// the run's future), the start fails with the returned reason and nothing
/// runs. Else the run is up as soon as this returns: the driver records its
/// `Started` itself (no report, no wake-up, no extra trip through the
/// scheduler), and the task reports exactly one `Exited`: `Ok` is `normal`
/// (`shutdown` if it was asked to stop), `Err` is `error(msg)`, a panic is
/// `panic(msg)`, a kill is `killed` (reported by the driver when it abandons
/// the run, see [`TaskRun::kill`]). `faults` links the run's checkpoints to
/// an own-code simulation's injector (empty in a real run).
pub(crate) fn spawn_task(
    f: &TaskFn,
    run: RunId,
    path: Arc<str>,
    reports: ReportSender,
    faults: FaultLink,
) -> Result<TaskRun, String> {
    let shared = Arc::new(RunShared {
        run,
        path,
        reports,
        faults,
        stop: StopSignal::default(),
        killed: AtomicBool::new(false),
        waker: AtomicWaker::new(),
        in_poll: AtomicBool::new(false),
        exit_claimed: AtomicBool::new(false),
    });
    // The closure runs here, on the driver: a panic in it (before it
    // returns its future) is this run's failed start, not the driver's.
    let ctx = RunContext {
        shared: Arc::clone(&shared),
    };
    let fut = match std::panic::catch_unwind(AssertUnwindSafe(|| f(ctx))) {
        Ok(fut) => fut,
        Err(panic) => return Err(format!("its closure panicked: {}", panic_message(panic.as_ref()))),
    };
    let body = TaskBody {
        fut: Some(fut),
        shared: Arc::clone(&shared),
    };
    // Nothing is reported before the user's code runs: a report would wake
    // the driver into this worker's LIFO slot (which other workers cannot
    // steal), where code that blocks at once would hold it.
    let span = tracing::info_span!("child", path = %shared.path, generation = run.generation);
    if span.is_disabled() {
        // No subscriber takes it: the task is spawned without it, two words
        // (tokio copies the future into its task cell, and out of it).
        tokio::spawn(body);
    } else {
        tokio::spawn(body.instrument(span));
    }
    Ok(TaskRun { shared, inbox: None })
}

/// The spawned future of one run: the user's future, dropped instead of
/// polled once the run is killed (a Kill wakes it, see [`TaskRun::kill`]),
/// telling the driver (through [`RunShared::in_poll`]) when it is being
/// polled, and reporting the run's one `Exited` when it ends (unless the
/// driver abandoned it and reported it). Written by hand, not as an `async`
/// block around combinators: tokio moves the future into its task cell (and
/// its stage in and out of it), and this one is two words.
struct TaskBody {
    fut: Option<TaskFuture>,
    shared: Arc<RunShared>,
}

impl Future for TaskBody {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let reason = match std::panic::catch_unwind(AssertUnwindSafe(|| self.poll_user(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(Some(Ok(())))) if self.shared.stop.is_requested() => ExitReason::shutdown(),
            Ok(Poll::Ready(Some(Ok(())))) => ExitReason::Normal,
            Ok(Poll::Ready(Some(Err(msg)))) => ExitReason::Error(msg),
            Ok(Poll::Ready(None)) => ExitReason::Killed,
            // A crash injected at a checkpoint (own-code simulation).
            Err(panic) if panic.is::<InjectedCrash>() => ExitReason::Error(INJECTED_CRASH.to_owned()),
            Err(panic) => ExitReason::Panic(panic_message(panic.as_ref())),
        };
        // The user's future goes before the report (what it holds is free
        // for the next run); a panic in its drop loses nothing.
        let fut = self.fut.take();
        let _ = std::panic::catch_unwind(AssertUnwindSafe(move || drop(fut)));
        if self.shared.claim_exit() {
            let _ = self
                .shared
                .reports
                .send((self.shared.run, RunnerReport::Exited(reason)));
        }
        Poll::Ready(())
    }
}

impl TaskBody {
    /// Poll the user's future unless the run was killed. `Ready(None)`:
    /// killed (between polls, or abandoned in the poll that just returned).
    fn poll_user(&mut self, cx: &mut std::task::Context<'_>) -> Poll<Option<Result<(), String>>> {
        let Some(fut) = self.fut.as_mut() else {
            return Poll::Ready(None);
        };
        let shared = &*self.shared;
        // Dekker with `TaskRun::kill`: either we see `killed` here, or it
        // sees `in_poll`.
        shared.in_poll.store(true, Ordering::SeqCst);
        if shared.killed.load(Ordering::SeqCst) {
            shared.in_poll.store(false, Ordering::SeqCst);
            return Poll::Ready(None);
        }
        // A panic unwinds through here; `in_poll` then stays set, which only
        // matters to a Kill racing with the panic's report (either reports).
        let polled = fut.as_mut().poll(cx);
        shared.in_poll.store(false, Ordering::SeqCst);
        if shared.killed.load(Ordering::SeqCst) && shared.exit_claimed.load(Ordering::SeqCst) {
            // The driver abandoned this run while it was stuck in that poll.
            tracing::warn!(
                path = &*shared.path,
                generation = shared.run.generation,
                "an abandoned task run returned from its blocking poll; its future is dropped now"
            );
            return Poll::Ready(None);
        }
        if polled.is_pending() {
            // Registered only when the run waits (a run that ends in its
            // first poll never is), and before `killed` is read again: a
            // Kill after that read wakes this task (AtomicWaker's
            // protocol), one before it is seen here, and the future is
            // dropped now rather than at its next poll.
            shared.waker.register(cx.waker());
            if shared.killed.load(Ordering::SeqCst) {
                return Poll::Ready(None);
            }
        }
        polled.map(Some)
    }
}

pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_owned()
    }
}

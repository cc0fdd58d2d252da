//! Task workers: async closures run as tokio tasks.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use vigil_core::{ExitReason, RunId};

use crate::context::Context;
use crate::report::{Report, ReportSender};

/// A task's future, boxed.
pub(crate) type TaskFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// What to run for each run of a task worker.
pub(crate) type TaskFn = Arc<dyn Fn(Context) -> TaskFuture + Send + Sync>;

/// Box a user's closure: any `Display` error becomes `error(<message>)`.
pub(crate) fn task_fn<F, Fut, E>(f: F) -> TaskFn
where
    F: Fn(Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    Arc::new(move |ctx| {
        let fut = f(ctx);
        Box::pin(async move { fut.await.map_err(|e| e.to_string()) })
    })
}

/// The stop (cancel) and kill (drop the future) signals of one task run.
#[derive(Debug)]
pub(crate) struct TaskRun {
    pub(crate) stop: CancellationToken,
    pub(crate) kill: CancellationToken,
}

/// Start one run of a task worker. It reports `Started` at once and exactly
/// one `Exited`: `Ok` is `normal` (`shutdown` if it was asked to stop), `Err`
/// is `error(msg)`, a panic is `panic(msg)`, a kill is `killed`.
pub(crate) fn spawn_task(f: &TaskFn, run: RunId, path: Arc<str>, reports: ReportSender) -> TaskRun {
    let stop = CancellationToken::new();
    let kill = CancellationToken::new();
    let ctx = Context {
        run,
        path: Arc::clone(&path),
        stop: stop.clone(),
        reports: reports.clone(),
    };
    let fut = f(ctx);
    let span = tracing::info_span!("child", path = %path, generation = run.generation);
    let (stop2, kill2) = (stop.clone(), kill.clone());
    tokio::spawn(
        async move {
            let _ = reports.send((run, Report::Started));
            let reason = tokio::select! {
                biased;
                _ = kill2.cancelled() => ExitReason::Killed,
                r = AssertUnwindSafe(fut).catch_unwind() => match r {
                    Ok(Ok(())) if stop2.is_cancelled() => ExitReason::shutdown(),
                    Ok(Ok(())) => ExitReason::Normal,
                    Ok(Err(msg)) => ExitReason::Error(msg),
                    Err(panic) => ExitReason::Panic(panic_message(panic.as_ref())),
                },
            };
            let _ = reports.send((run, Report::Exited(reason)));
        }
        .instrument(span),
    );
    TaskRun { stop, kill }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_owned()
    }
}

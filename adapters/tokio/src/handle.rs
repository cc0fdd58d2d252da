//! The handle to a running tree: operator requests, events, shutdown.

use std::future::Future;

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use vigil_core::{ChildSpec, ExitReason, Instant, Notice, Reply, Request, RequestError};

use crate::context::RunContext;
use crate::driver_panic::DriverPanic;
use crate::message::{Msg, RequestMsg};
use crate::monitor::{ChildResources, MonitorHandle, MonitorStatus};
use crate::payloads::{used_by, ByTag, Payload};
use crate::process::ProcessSpec;
use crate::task::task_fn;

/// One thing that happened in the tree: an engine notice, when, and the path
/// of the node it is about (resolved when it happened).
#[derive(Clone, Debug, PartialEq)]
pub struct TreeEvent {
    /// Engine time (nanoseconds since the tree started).
    pub time: Instant,
    /// Path of the node the notice is about (`""` for the root or none).
    pub path: String,
    /// The notice.
    pub notice: Notice,
}

/// A cloneable handle to a running tree. Dropping every handle does not stop
/// the tree; [`TreeHandle::shutdown`] does.
#[derive(Clone, Debug)]
pub struct TreeHandle {
    pub(crate) tx: mpsc::UnboundedSender<Msg>,
    pub(crate) events: broadcast::Sender<TreeEvent>,
    pub(crate) trace_lines: broadcast::Sender<std::sync::Arc<str>>,
    pub(crate) down: watch::Receiver<Option<ExitReason>>,
    pub(crate) status: std::sync::Arc<TreeStatus>,
    pub(crate) monitors: MonitorHandle,
}

/// What the driver tells every handle besides events (each set before `down`).
#[derive(Debug, Default)]
pub(crate) struct TreeStatus {
    /// The tree went down because the root gave up.
    pub(crate) root_gave_up: std::sync::atomic::AtomicBool,
    /// Task and blocking runs abandoned at their kill (stuck inside a poll,
    /// or a thread still running).
    pub(crate) abandoned: std::sync::atomic::AtomicU64,
    /// Abandoned blocking runs whose thread has not returned yet.
    pub(crate) abandoned_threads: std::sync::atomic::AtomicU64,
    /// The driver panicked, with this message.
    pub(crate) driver_panic: std::sync::OnceLock<String>,
}

impl TreeHandle {
    /// Send an operator request and wait for its final answer (requests the
    /// engine answers later are awaited). After the tree is down: `TreeDown`.
    pub async fn request(&self, request: Request) -> Result<Reply, RequestError> {
        self.call(ByTag::new(), request).await
    }

    pub(crate) async fn call(&self, payloads: ByTag, request: Request) -> Result<Reply, RequestError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Msg::Request(Box::new(RequestMsg {
                request,
                payloads,
                reply,
            })))
            .map_err(|_| RequestError::TreeDown)?;
        rx.await.unwrap_or(Err(RequestError::TreeDown))
    }

    /// Add a task worker under the supervisor at `parent` and start it.
    pub async fn start_task<F, Fut, E>(&self, parent: &str, spec: ChildSpec, f: F) -> Result<Reply, RequestError>
    where
        F: Fn(RunContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let request = Request::StartChild {
            parent: parent.to_owned(),
            spec: spec.tag(0),
        };
        self.call(ByTag::from([(0, Payload::Task(task_fn(f)))]), request).await
    }

    /// Add an OS process worker under the supervisor at `parent` and start it.
    pub async fn start_process(
        &self,
        parent: &str,
        spec: ChildSpec,
        process: ProcessSpec,
    ) -> Result<Reply, RequestError> {
        let request = Request::StartChild {
            parent: parent.to_owned(),
            spec: spec.tag(0),
        };
        self.call(ByTag::from([(0, Payload::Process(process))]), request).await
    }

    /// Add a whole subtree of OS processes under `parent` and start it: `spec`
    /// is a supervisor (or worker) whose workers' tags index `processes` (as
    /// in a `vigil-config` tree, whose `workers` they index); only the
    /// processes `spec` uses are taken. Used by `vigil run` to apply a
    /// reloaded config.
    pub async fn start_processes(
        &self,
        parent: &str,
        spec: ChildSpec,
        processes: &[ProcessSpec],
    ) -> Result<Reply, RequestError> {
        let parent = parent.to_owned();
        self.call_processes(spec, processes, |spec| Request::StartChild { parent, spec })
            .await
    }

    /// Replace the spec of the stopped child at `path` in place (it keeps its
    /// position in start order and stays stopped): `spec`'s workers' tags
    /// index `processes`, as for [`start_processes`](Self::start_processes).
    /// What the old spec ran is dropped. Used by `vigil run` to apply a
    /// changed child on reload.
    pub async fn replace_processes(
        &self,
        path: &str,
        spec: ChildSpec,
        processes: &[ProcessSpec],
    ) -> Result<Reply, RequestError> {
        let path = path.to_owned();
        self.call_processes(spec, processes, |spec| Request::ReplaceChild { path, spec })
            .await
    }

    /// Send the request `make` builds from `spec`, with the processes of
    /// `processes` that `spec`'s workers use (their tags index it).
    async fn call_processes(
        &self,
        spec: ChildSpec,
        processes: &[ProcessSpec],
        make: impl FnOnce(ChildSpec) -> Request,
    ) -> Result<Reply, RequestError> {
        let payloads = used_by(&spec, &|i| processes.get(i).cloned().map(Payload::Process));
        self.call(payloads, make(spec)).await
    }

    /// Kill every live run now (SIGKILL to every process group, abort every
    /// task) and stop supervising: for a second SIGTERM/SIGINT. Returns when done.
    pub async fn kill_all(&self) {
        let (done, rx) = oneshot::channel();
        if self.tx.send(Msg::KillAll { done }).is_ok() {
            let _ = rx.await;
        }
    }

    /// Everything that happens from now on. A receiver that falls more than
    /// 4096 events behind loses the oldest ones (`RecvError::Lagged`).
    pub fn events(&self) -> broadcast::Receiver<TreeEvent> {
        self.events.subscribe()
    }

    /// Every trace line (docs/TRACE.md: one JSON object, no newline)
    /// from now on, as the driver renders them. Lines are rendered only while
    /// a receiver exists; one more than 4096 lines behind loses the oldest.
    pub fn trace(&self) -> broadcast::Receiver<std::sync::Arc<str>> {
        self.trace_lines.subscribe()
    }

    /// Feed a report for `run` to the engine, as if its runner had sent it
    /// (the control socket's `ready` and `heartbeat`). Reports for an ended
    /// run are stale and ignored by the engine.
    pub(crate) fn report(&self, run: vigil_core::RunId, report: crate::report::RunnerReport) {
        let _ = self.tx.send(Msg::Report(run, report));
    }

    /// Shut the tree down in order and wait until it is down; returns why the root ended.
    pub async fn shutdown(&self) -> ExitReason {
        let _ = self.request(Request::Shutdown).await;
        self.wait().await
    }

    /// Wait until the tree is down (given up, shut down, or failed to start).
    pub async fn wait(&self) -> ExitReason {
        let mut down = self.down.clone();
        loop {
            if let Some(r) = down.borrow_and_update().clone() {
                return r;
            }
            if down.changed().await.is_err() {
                return down.borrow().clone().unwrap_or(ExitReason::Killed);
            }
        }
    }

    /// The resources of every live process run (RSS, PSS, CPU %, uptime,
    /// restarts), sorted by path, from the process monitor: a new sample,
    /// unless the last one is younger than `MonitorSettings::min_sample_age`
    /// (1 s by default). Task workers have no entry. A run's entry goes in its
    /// one teardown, so the list is empty once the tree is down
    /// (`tests/teardown.rs`).
    pub async fn resources(&self) -> Vec<ChildResources> {
        self.monitors.resources().await
    }

    /// Every monitor's summary (what it watches, how many evictions it asked for).
    pub async fn monitors(&self) -> Vec<MonitorStatus> {
        self.monitors.status().await
    }

    /// Whether the tree went down because the root supervisor gave up (too
    /// many restarts). Known as soon as [`TreeHandle::wait`] returns, whenever
    /// this handle was created (unlike an event, which a receiver created too
    /// late would miss).
    pub fn root_gave_up(&self) -> bool {
        self.status.root_gave_up.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether the tree went down because the driver task panicked (a bug):
    /// every live run was killed first, and [`TreeHandle::wait`] returned
    /// `panic(driver panicked: <message>)`. Known as soon as `wait` returns.
    /// `vigil run` then exits 70 (docs/ADAPTER.md).
    pub fn driver_panic(&self) -> Option<DriverPanic> {
        self.status.driver_panic.get().map(|message| DriverPanic {
            message: message.clone(),
        })
    }

    /// How many runs were abandoned so far: task runs killed while inside a
    /// poll that did not return (blocking code, a loop that never yields),
    /// and blocking runs killed while their thread still ran. Each was
    /// reported `killed` and its slot freed at once; a task's future is
    /// dropped when that poll returns, and keeps its thread until then
    /// (docs/ADAPTER.md, "Task workers"); a blocking run's thread runs until
    /// its closure returns ([`TreeHandle::abandoned_threads`],
    /// docs/ADAPTER.md, "Blocking children").
    pub fn abandoned_runs(&self) -> u64 {
        self.status.abandoned.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the tree is down.
    pub fn is_down(&self) -> bool {
        self.down.borrow().is_some()
    }
}

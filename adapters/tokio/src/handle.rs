//! The handle to a running tree: operator requests, events, shutdown.

use std::future::Future;

use tokio::sync::{broadcast, oneshot, watch};
use vigil_core::{ChildSpec, ExitReason, Outcome, Reply, Request, RequestError, SpecError, SpecErrorKind};

use crate::context::RunContext;
use crate::driver_panic::DriverPanic;
use crate::events::{Events, TreeEvent};
use crate::message::{Msg, RequestMsg};
use crate::monitor::{ChildResources, MonitorHandle, MonitorStatus};
use crate::payloads::{used_by, ByTag, Payload};
use crate::process::ProcessSpec;
use crate::task::task_fn;

/// A cloneable handle to a running tree. Dropping every handle does not stop
/// the tree; [`TreeHandle::shutdown`] does.
#[derive(Clone, Debug)]
pub struct TreeHandle {
    pub(crate) tx: crate::driver_queue::DriverSender<Msg>,
    /// Weak: the driver holds the only sender, so every stream ends when
    /// the driver does, whatever handles are alive.
    pub(crate) events: broadcast::WeakSender<TreeEvent>,
    pub(crate) trace_lines: broadcast::WeakSender<std::sync::Arc<str>>,
    pub(crate) down: watch::Receiver<Option<Down>>,
    pub(crate) status: std::sync::Arc<TreeStatus>,
    pub(crate) monitors: MonitorHandle,
}

/// How the tree ended, as the driver publishes it once, when it is down.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Down {
    /// Why the root ended (`killed` after `kill_all`, `panic(..)` after a
    /// driver panic).
    pub(crate) reason: ExitReason,
    /// How the tree ended (never `Up`).
    pub(crate) outcome: Outcome,
}

/// What the driver tells every handle besides events and `down` (each set before `down`).
#[derive(Debug, Default)]
pub(crate) struct TreeStatus {
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
    /// engine answers later, such as a restart, are awaited). After the tree
    /// is down: [`RequestError::TreeDown`].
    ///
    /// ```
    /// use vigil_core::{ChildSpec, Reply, Request, SupervisorSpec};
    /// use vigil_tokio::Tree;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let tree = Tree::new(SupervisorSpec::new())
    ///     .task(ChildSpec::worker("db"), |ctx| async move {
    ///         ctx.stopped().await;
    ///         Ok::<(), String>(())
    ///     })
    ///     .start()
    ///     .expect("a valid tree");
    /// let stopped = tree.request(Request::TerminateChild { path: "db".into() }).await;
    /// assert_eq!(stopped, Ok(Reply::Ok)); // once db's run has ended
    /// let started = tree.request(Request::RestartChild { path: "db".into() }).await;
    /// assert!(matches!(started, Ok(Reply::Started { .. })), "{started:?}");
    /// tree.shutdown().await;
    /// # });
    /// ```
    pub async fn request(&self, request: Request) -> Result<Reply, RequestError> {
        self.call(ByTag::new(), request).await
    }

    /// Send `request` with the payloads its spec's tags name, and wait for
    /// its final answer.
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

    /// Add a task worker under the supervisor at `parent` (`""`: the root)
    /// and start it, as [`Children::task`](crate::Children::task) would; a
    /// dynamic child, which its supervisor's restart does not bring back
    /// (OTP's semantics).
    ///
    /// ```
    /// use vigil_core::{ChildSpec, Reply, Restart, SupervisorSpec};
    /// use vigil_tokio::Tree;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let tree = Tree::new(SupervisorSpec::new()).start().expect("a valid tree");
    /// let job = ChildSpec::worker("report").restart(Restart::Transient);
    /// let reply = tree.start_task("", job, |_ctx| async { Ok::<(), String>(()) }).await;
    /// assert!(matches!(reply, Ok(Reply::Started { .. })), "{reply:?}");
    /// tree.shutdown().await;
    /// # });
    /// ```
    pub async fn start_task<F, Fut, E>(&self, parent: &str, spec: ChildSpec, f: F) -> Result<Reply, RequestError>
    where
        F: Fn(RunContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        self.start_worker(parent, spec, Payload::Task(task_fn(f))).await
    }

    /// Add an OS process worker under the supervisor at `parent` (`""`: the
    /// root) and start it; a dynamic child, as for [`TreeHandle::start_task`].
    ///
    /// ```
    /// use vigil_core::{ChildSpec, Reply, SupervisorSpec};
    /// use vigil_tokio::{ProcessSpec, Tree};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let tree = Tree::new(SupervisorSpec::new()).start().expect("a valid tree");
    /// let sleeper = ProcessSpec::new(["sleep", "3600"]);
    /// let reply = tree.start_process("", ChildSpec::worker("sleeper"), sleeper).await;
    /// assert!(matches!(reply, Ok(Reply::Started { .. })), "{reply:?}");
    /// tree.shutdown().await; // SIGTERM to its process group
    /// # });
    /// ```
    pub async fn start_process(
        &self,
        parent: &str,
        spec: ChildSpec,
        process: ProcessSpec,
    ) -> Result<Reply, RequestError> {
        self.start_worker(parent, spec, Payload::Process(Box::new(process)))
            .await
    }

    /// Start a dynamic worker that runs `payload`: every `start_*` of one
    /// worker goes through here. A supervisor's spec is refused (it would
    /// run nothing of what was given): `BadSpec` with
    /// [`SpecErrorKind::NotAWorker`](vigil_core::SpecErrorKind::NotAWorker).
    pub(crate) async fn start_worker(
        &self,
        parent: &str,
        spec: ChildSpec,
        payload: Payload,
    ) -> Result<Reply, RequestError> {
        if spec.is_supervisor() {
            let path = crate::inbox::child_path(parent, &spec.name);
            return Err(RequestError::BadSpec(SpecError {
                path,
                kind: SpecErrorKind::NotAWorker,
            }));
        }
        let request = Request::StartChild {
            parent: parent.to_owned(),
            spec: spec.tag(0),
        };
        self.call(ByTag::from([(0, payload)]), request).await
    }

    /// Add a whole subtree of OS processes under `parent` and start it: `spec`
    /// is a supervisor (or worker) whose workers' tags index `processes` (as
    /// in a `vigil-config` tree, whose `workers` they index); only the
    /// processes `spec` uses are taken. Used by `vigil run` to apply a
    /// reloaded config.
    ///
    /// ```
    /// use vigil_core::{ChildSpec, Reply, SupervisorSpec};
    /// use vigil_tokio::{ProcessSpec, Tree};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let tree = Tree::new(SupervisorSpec::new()).start().expect("a valid tree");
    /// let pair = SupervisorSpec::new()
    ///     .child(ChildSpec::worker("a").tag(1))
    ///     .child(ChildSpec::worker("b").tag(1));
    /// let processes = [ProcessSpec::new(["false"]), ProcessSpec::new(["sleep", "3600"])];
    /// let reply = tree.start_processes("", ChildSpec::supervisor("pair", pair), &processes).await;
    /// assert!(matches!(reply, Ok(Reply::Started { .. })), "{reply:?}");
    /// tree.shutdown().await;
    /// # });
    /// ```
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
    ///
    /// ```
    /// use vigil_core::{ChildSpec, Reply, Request, SupervisorSpec};
    /// use vigil_tokio::{ProcessSpec, ProcessTreeOptions, Tree};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let spec = SupervisorSpec::new().child(ChildSpec::worker("w").tag(0));
    /// let old = vec![ProcessSpec::new(["sleep", "3600"])];
    /// let tree = Tree::start_processes(spec, old, ProcessTreeOptions::default()).expect("a valid spec");
    /// tree.request(Request::TerminateChild { path: "w".into() }).await.expect("stopped");
    /// let new = [ProcessSpec::new(["sleep", "7200"])];
    /// let reply = tree.replace_processes("w", ChildSpec::worker("w").tag(0), &new).await;
    /// assert_eq!(reply, Ok(Reply::Ok));
    /// tree.request(Request::RestartChild { path: "w".into() }).await.expect("runs the new command");
    /// tree.shutdown().await;
    /// # });
    /// ```
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
        let payloads = used_by(&spec, &|i| {
            processes.get(i).cloned().map(|p| Payload::Process(Box::new(p)))
        });
        self.call(payloads, make(spec)).await
    }

    /// Kill every live run now (SIGKILL to every process group, abort every
    /// task) and stop supervising: for a second SIGTERM/SIGINT. Returns once
    /// every killed run has ended (at most 5 s). The tree is then down:
    /// [`TreeHandle::wait`] returns `killed`, [`TreeHandle::outcome`] says
    /// [`Outcome::ShutDown`] (unless the root had already ended by itself),
    /// and every [`Events`] stream ends after the kills (no `TreeDown`
    /// event: the engine did not end the root).
    ///
    /// ```
    /// use vigil_core::{ChildSpec, ExitReason, Outcome, SupervisorSpec};
    /// use vigil_tokio::Tree;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let tree = Tree::new(SupervisorSpec::new())
    ///     .task(ChildSpec::worker("stubborn"), |_ctx| std::future::pending::<Result<(), String>>())
    ///     .start()
    ///     .expect("a valid tree");
    /// tree.kill_all().await;
    /// assert_eq!(tree.wait().await, ExitReason::Killed);
    /// assert_eq!(tree.outcome(), Outcome::ShutDown);
    /// # });
    /// ```
    pub async fn kill_all(&self) {
        let (done, rx) = oneshot::channel();
        if self.tx.send(Msg::KillAll { done }).is_ok() {
            let _ = rx.await;
        }
    }

    /// Every event from now on, until the tree is down: the stream ends
    /// then, even while handles are alive (see [`Events`], which also says
    /// what a listener that falls behind gets). Events are rendered (paths
    /// resolved) only while at least one stream exists.
    ///
    /// ```
    /// use vigil_core::{ChildSpec, SupervisorSpec};
    /// use vigil_tokio::{EventKind, Tree};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let tree = Tree::new(SupervisorSpec::new().intensity(0))
    ///     .task(ChildSpec::worker("doomed"), |_ctx| async { Err::<(), _>("no database") })
    ///     .start()
    ///     .expect("a valid tree");
    /// let mut events = tree.events();
    /// let mut gave_up = false;
    /// while let Some(event) = events.recv().await {
    ///     gave_up |= matches!(event.expect("no lag").kind, EventKind::GiveUp);
    /// }
    /// assert!(gave_up, "the root gave up at the first crash");
    /// # });
    /// ```
    pub fn events(&self) -> Events {
        if self.is_down() {
            return Events::ended();
        }
        match self.events.upgrade() {
            Some(sender) => Events::new(sender.subscribe()),
            None => Events::ended(),
        }
    }

    /// Every trace line (docs/TRACE.md: one JSON object, no newline) from
    /// now on, as the driver renders them, until the tree is down (then
    /// `RecvError::Closed`). Lines are rendered only while a receiver exists;
    /// one more than 4096 lines behind loses the oldest (`RecvError::Lagged`).
    ///
    /// ```
    /// use vigil_core::SupervisorSpec;
    /// use vigil_tokio::Tree;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let tree = Tree::new(SupervisorSpec::new()).start().expect("a valid tree");
    /// let mut lines = tree.trace();
    /// tree.shutdown().await;
    /// let mut last = None;
    /// while let Ok(line) = lines.recv().await {
    ///     last = Some(line);
    /// }
    /// assert!(last.expect("some lines").contains(r#""ev":"reply""#));
    /// # });
    /// ```
    #[must_use = "lines are only received through the receiver"]
    pub fn trace(&self) -> broadcast::Receiver<std::sync::Arc<str>> {
        match self.trace_lines.upgrade() {
            Some(sender) if !self.is_down() => sender.subscribe(),
            // A receiver whose sender is gone: it reports `Closed` at once.
            _ => broadcast::channel(1).1,
        }
    }

    /// Feed a report for `run` to the engine, as if its runner had sent it
    /// (the control socket's `ready` and `heartbeat`). Reports for an ended
    /// run are stale and ignored by the engine.
    pub(crate) fn report(&self, run: vigil_core::RunId, report: crate::report::RunnerReport) {
        let _ = self.tx.send(Msg::Report(run, report));
    }

    /// Shut the tree down in order (reverse start order, each child by its
    /// shutdown policy) and wait until it is down; returns why the root
    /// ended (`shutdown`, or the reason it had already ended with).
    ///
    /// ```
    /// use vigil_core::SupervisorSpec;
    /// use vigil_tokio::Tree;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let tree = Tree::new(SupervisorSpec::new()).start().expect("a valid tree");
    /// assert!(tree.shutdown().await.is_normal());
    /// # });
    /// ```
    pub async fn shutdown(&self) -> ExitReason {
        let _ = self.request(Request::Shutdown).await;
        self.wait().await
    }

    /// Wait until the tree is down (given up, shut down, failed to start,
    /// killed, or its driver panicked) and return why the root ended.
    ///
    /// ```
    /// use vigil_core::{ChildSpec, Outcome, SupervisorSpec};
    /// use vigil_tokio::Tree;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let tree = Tree::new(SupervisorSpec::new().intensity(0))
    ///     .task(ChildSpec::worker("doomed"), |_ctx| async { Err::<(), _>("no database") })
    ///     .start()
    ///     .expect("a valid tree");
    /// let reason = tree.wait().await; // the root gives up at the first crash
    /// assert_eq!(reason.to_string(), "shutdown");
    /// assert_eq!(tree.outcome(), Outcome::RootGaveUp);
    /// # });
    /// ```
    pub async fn wait(&self) -> ExitReason {
        let mut down = self.down.clone();
        loop {
            if let Some(d) = down.borrow_and_update().as_ref() {
                return d.reason.clone();
            }
            if down.changed().await.is_err() {
                // The driver is gone without a word (it always says, so
                // only if its runtime was dropped).
                return down.borrow().as_ref().map_or(ExitReason::Killed, |d| d.reason.clone());
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

    /// How the tree stands: [`Outcome::Up`] until it is down, then how it
    /// ended, for good: [`Outcome::RootGaveUp`], [`Outcome::StartFailed`],
    /// or [`Outcome::ShutDown`] (an ordered shutdown, the root ending by
    /// itself, and also [`TreeHandle::kill_all`] and a driver panic, unless
    /// the root had already ended otherwise: [`TreeHandle::driver_panic`]
    /// tells a panic apart). Known from the moment [`TreeHandle::wait`]
    /// returns, by every handle, whenever it was created.
    ///
    /// ```
    /// use vigil_core::{ChildSpec, Outcome, SupervisorSpec};
    /// use vigil_tokio::Tree;
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let tree = Tree::new(SupervisorSpec::new())
    ///     .task(ChildSpec::worker("db"), |ctx| async move {
    ///         ctx.stopped().await;
    ///         Ok::<(), String>(())
    ///     })
    ///     .start()
    ///     .expect("a valid tree");
    /// assert_eq!(tree.outcome(), Outcome::Up);
    /// tree.shutdown().await;
    /// assert_eq!(tree.outcome(), Outcome::ShutDown);
    /// # });
    /// ```
    #[must_use]
    pub fn outcome(&self) -> Outcome {
        let published = self.down.borrow().as_ref().map(|d| d.outcome);
        match published {
            Some(outcome) => outcome,
            // The driver is gone without a word: its runtime was dropped.
            None if self.driver_gone() => Outcome::ShutDown,
            None => Outcome::Up,
        }
    }

    /// Whether the driver task is gone (it says how the tree ended first,
    /// unless its runtime was dropped under it).
    fn driver_gone(&self) -> bool {
        self.down.has_changed().is_err()
    }

    /// Whether the tree went down because the driver task panicked (a bug):
    /// every live run was killed first, [`TreeHandle::wait`] returned
    /// `panic(driver panicked: <message>)`, and [`TreeHandle::outcome`] is
    /// what the engine had decided before the panic if the tree was already
    /// down, else [`Outcome::ShutDown`]. Known as soon as `wait` returns.
    /// `vigil run` then exits 70 (docs/ADAPTER.md).
    #[must_use]
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
    #[must_use]
    pub fn abandoned_runs(&self) -> u64 {
        self.status.abandoned.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether the tree is down (then [`TreeHandle::outcome`] says how). A
    /// tree whose runtime was dropped is down: it reads as killed
    /// ([`TreeHandle::wait`]) and shut down ([`TreeHandle::outcome`]).
    #[must_use]
    pub fn is_down(&self) -> bool {
        let published = self.down.borrow().is_some();
        published || self.driver_gone()
    }
}

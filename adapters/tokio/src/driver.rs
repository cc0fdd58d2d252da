//! The driver: one task that owns the engine and binds it to the world.
//!
//! Three rules hold whatever happens (docs/ADAPTER.md, "The driver"):
//!
//! - **Inputs before late deadlines.** When a deadline fires, the driver
//!   first handles every input already queued (reports, messages from
//!   handles), and only then lets the engine fire its timers; a deadline that
//!   fires late (vigil was suspended, or its runtime busy) first gives the
//!   reader tasks a moment to deliver, then reads the heartbeats still
//!   waiting in the runs' notify sockets.
//! - **One teardown per run.** Every way a run ends (it exited, its start
//!   failed at spawn or in its guard, it was abandoned, killed by
//!   `kill_all`, or the tree went down) goes through [`Driver::end_run`]:
//!   control token revoked, monitor entry removed, slot freed, handle
//!   dropped. A run holds no copy of what it runs: the payload lives in the
//!   [`PayloadRegistry`], which drops it when the node whose spec brought
//!   it is removed (`Notice::Removed`) or given another spec.
//! - **A panic ends the tree, never silently.** A panic inside the driver is
//!   caught: every live run is killed, the handles learn the
//!   [`DriverPanic`](crate::DriverPanic), and the tree is down.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{broadcast, oneshot, watch};
use vigil_core::{
    Command, Engine, Eviction, ExitReason, Input, Instant, NodeId, Notice, Outcome, Reply, Request, RequestError,
    RequestId, RequestOp, RunId, SpecError, SupervisorSpec,
};

use crate::blocking::{spawn_blocking_run, BlockingRun};
use crate::child_signal::{Health, RunFacts, SignalError, SignalMsg, SignalTarget};
use crate::clock::Clock;
use crate::control::{ControlServer, RunTokens};
use crate::descriptors::{self, DescriptorBudget};
use crate::driver_queue::{driver_queue, DriverReceiver, Report};
use crate::events::TreeEvent;
use crate::handle::{Down, TreeHandle, TreeStatus};
use crate::lifecycle::ChildSignal;
use crate::message::{Msg, RequestMsg};
use crate::monitor::{EvictBy, EvictError, EvictMsg, EvictTarget, Forward, MonitorList, MonitorSet, RunKind};
use crate::notice_log::{log_level, log_notice};
use crate::notify::NotifyPlan;
use crate::payloads::{ByTag, Grant, Payload, PayloadRegistry};
use crate::pool::{PoolStart, Seat};
use crate::process::{spawn_process, Launch, ProcessHandle};
use crate::report::{ReportSender, RunnerReport};
use crate::sim_hooks::{Fate, HookAction, Hooks};
use crate::start_delay::DelayedStart;
use crate::task::{panic_message, spawn_task, Killed, TaskRun};

/// A deadline that fires this much after its time is late: before the
/// engine sees it, reader tasks get [`SETTLE`] to deliver what they have.
const LATE: Duration = Duration::from_millis(20);

/// How long a late deadline waits for reader tasks (control connections,
/// notify readers) to deliver what the kernel already holds.
const SETTLE: Duration = Duration::from_millis(10);

/// Lateness from which the driver warns (vigil was suspended, or its
/// runtime blocked).
const WARN_LATE: Duration = Duration::from_secs(1);

/// How long `kill_all`, and the clean-up after a driver panic, wait for the
/// killed runs to report their end (a process in uninterruptible sleep may
/// take longer; the driver then stops waiting and says so).
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Driver settings.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) seed: u64,
    /// Where to write the JSON-lines trace (docs/SIMULATION.md describes the format).
    pub(crate) trace: Option<Box<dyn std::io::Write + Send>>,
    /// The control server to start with the tree: it sees every event from
    /// the first, and every process run gets its socket and a token.
    pub(crate) control: Option<ControlServer>,
    /// The built-in monitors' settings and the monitors added.
    pub(crate) monitors: MonitorList,
    /// Never start processes under a guard, even where the binary can be one.
    pub(crate) guard_off: bool,
    /// An own-code simulation's hooks (none in a real run: src/sim_hooks.rs).
    pub(crate) hooks: Hooks,
}

/// What process runs need to reach the control server.
struct ControlEnv {
    socket: String,
    tokens: Arc<RunTokens>,
    /// Told how many process children the tree has, so that control
    /// connections never take the descriptors they need.
    budget: Arc<DescriptorBudget>,
}

/// A live run, by how it is stopped.
enum RunHandle {
    Task(TaskRun),
    Process(ProcessHandle),
    Blocking(BlockingRun),
    /// LIFECYCLE: a process run in its `start_delay` (no program yet).
    Delayed(DelayedStart),
}

impl RunHandle {
    /// Carry out a `Kill`: a process is signalled (its exit follows), a task
    /// or blocking run that cannot end now is abandoned (the caller reports
    /// its `killed` exit).
    fn kill(&self) -> Killed {
        match self {
            RunHandle::Task(t) => t.kill(),
            RunHandle::Process(p) => {
                p.kill();
                Killed::Dropping
            }
            RunHandle::Blocking(b) => b.kill(),
            RunHandle::Delayed(d) => {
                d.end(ExitReason::Killed);
                Killed::Dropping
            }
        }
    }

    /// Carry out a `Stop`.
    fn stop(&self) {
        match self {
            RunHandle::Task(t) => t.stop(),
            RunHandle::Process(p) => p.stop(),
            RunHandle::Blocking(b) => b.stop(),
            RunHandle::Delayed(d) => d.end(crate::start_delay::stopped_in_delay()),
        }
    }

    /// What was left behind when this run was abandoned, for the log.
    fn left_behind(&self) -> &'static str {
        match self {
            RunHandle::Blocking(_) => {
                "a blocking run was still running at its kill: abandoned and reported killed; \
                 its thread runs until the closure returns, and its result is then ignored"
            }
            _ => {
                "a task run was inside a poll that did not return by its kill: abandoned and reported killed; \
                 its future is dropped when that poll returns, and holds its thread until then"
            }
        }
    }
}

/// Whether the driver goes on after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Go,
    /// `kill_all` ran: supervision is over.
    Stop,
}

/// A request the engine answers later: where the answer goes, and the
/// payloads it brought (for the child at `path`).
struct Pending {
    reply: oneshot::Sender<Result<Reply, RequestError>>,
    grant: Option<(String, Grant)>,
    /// For a pool's start: the seat it holds in its pool until answered.
    seat: Option<Seat>,
}

struct Driver {
    engine: Engine,
    clock: Clock,
    payloads: PayloadRegistry,
    runs: Vec<Option<(RunId, RunHandle)>>,
    /// Task runs spawned by the commands being carried out: each is up, and
    /// [`Driver::drain`] records its `Started` once the commands are done.
    started: Vec<RunId>,
    reports_tx: ReportSender,
    pending: BTreeMap<RequestId, Pending>,
    /// The only sender of the events (handles hold weak ones): the streams
    /// end when the driver does.
    events: broadcast::Sender<TreeEvent>,
    down: watch::Sender<Option<Down>>,
    path: String,
    trace: Option<vigil_trace::TraceWriter>,
    /// Live trace lines for subscribers (`TreeHandle::trace`), rendered only
    /// while someone listens; the only sender, as for `events`.
    trace_lines: broadcast::Sender<Arc<str>>,
    line_writer: vigil_trace::TraceWriter,
    control: Option<ControlEnv>,
    status: Arc<TreeStatus>,
    /// Told when each run starts and ends (adapters/tokio/src/monitor/list.rs).
    monitors: MonitorSet,
    launch: Launch,
    /// The tree's process spawner (guarded launches), started at the first
    /// process start.
    spawner: crate::spawner::Spawner,
    injected_panic: crate::driver_panic::InjectedPanic,
    /// What the trace's next `request` line carries after its `id` (the new
    /// spec, a `restart_all`'s mode: `vigil_trace::request_fields`), so that
    /// the request can be replayed.
    request_fields: String,
    /// Notices recorded so far: a deadline that brought none is written as
    /// a `deadline` line (docs/TRACE.md, "In a real run").
    recorded: u64,
    /// An own-code simulation's hooks (src/sim_hooks.rs), and the buffer
    /// of what they ask for when due.
    hooks: Hooks,
    hook_actions: Vec<HookAction>,
    /// LIFECYCLE: runs in their start delay (few; checked after each drain
    /// for a stop the engine holds for them).
    delayed: Vec<RunId>,
}

/// Start the driver task for `spec` on the current runtime.
/// Every worker's tag in `spec` is its index in `payloads`.
pub(crate) fn spawn(mut spec: SupervisorSpec, payloads: &[Payload], opts: Options) -> Result<TreeHandle, SpecError> {
    let mut registry = PayloadRegistry::default();
    let grants = registry.register_tree(&mut spec, payloads);
    let engine = Engine::new(spec, opts.seed)?;
    registry.anchor_first_tree(&engine, grants);
    let (tx, rx) = driver_queue();
    let (reports_tx, reports_rx) = driver_queue();
    let (events, _) = broadcast::channel(4096);
    let (trace_lines, _) = broadcast::channel(4096);
    let (down, down_rx) = watch::channel(None);
    let status = Arc::new(TreeStatus::default());
    let control_env = opts.control.as_ref().map(|c| ControlEnv {
        // Absolute: a child with its own working directory must find it too.
        socket: std::path::absolute(c.path())
            .unwrap_or_else(|_| c.path().to_owned())
            .to_string_lossy()
            .into_owned(),
        tokens: c.tokens(),
        budget: c.budget(),
    });
    let mut monitor_list = opts.monitors;
    // The control server's feed of runs to `subscribe` (docs/PROTOCOL.md, "Monitors").
    if let Some(feed) = opts.control.as_ref().and_then(|c| c.run_feed()) {
        monitor_list.add(feed);
    }
    let forward: Forward = {
        let tx = tx.clone();
        Arc::new(move |m| tx.send(Msg::Evict(Box::new(m))).is_ok())
    };
    let (monitors, monitor_handle) = monitor_list.start(&forward);
    let driver = Driver {
        engine,
        clock: Clock::start(),
        payloads: registry,
        runs: Vec::new(),
        started: Vec::new(),
        reports_tx,
        pending: BTreeMap::new(),
        events: events.clone(),
        down,
        path: String::new(),
        trace: opts.trace.map(vigil_trace::TraceWriter::to_sink),
        trace_lines: trace_lines.clone(),
        line_writer: vigil_trace::TraceWriter::hashing(),
        control: control_env,
        status: Arc::clone(&status),
        monitors,
        launch: if !opts.guard_off && crate::guard::is_available() {
            Launch::Guarded
        } else {
            Launch::Direct
        },
        spawner: crate::spawner::Spawner::default(),
        injected_panic: crate::driver_panic::InjectedPanic::from_env(),
        request_fields: String::new(),
        recorded: 0,
        hooks: opts.hooks,
        hook_actions: Vec::new(),
        delayed: Vec::new(),
    };
    let sup = TreeHandle {
        tx,
        events: events.downgrade(),
        trace_lines: trace_lines.downgrade(),
        down: down_rx,
        status,
        monitors: monitor_handle,
    };
    // The server subscribes before the driver's first step, so it counts
    // every run from the first.
    if let Some(server) = opts.control {
        if let Err(e) = server.serve(sup.clone()) {
            tracing::error!(error = %e, "the control server could not start");
        }
    }
    driver.count_process_children();
    tokio::spawn(driver.run(rx, reports_rx));
    Ok(sup)
}

type Requests = DriverReceiver<Msg>;
type Reports = DriverReceiver<Report>;

impl Driver {
    /// Supervise until the tree is down or `kill_all`; a panic on the way is
    /// caught here (see the module docs), then the end is published.
    async fn run(mut self, mut requests: Requests, mut reports: Reports) {
        let supervised = AssertUnwindSafe(self.supervise(&mut requests, &mut reports))
            .catch_unwind()
            .await;
        if let Err(panic) = supervised {
            let message = panic_message(panic.as_ref());
            self.after_panic(message, &mut reports).await;
        }
        self.finish();
    }

    async fn supervise(&mut self, requests: &mut Requests, reports: &mut Reports) {
        let now = self.clock.now();
        self.engine.start(now);
        self.drain_at(now);
        let mut handles_alive = true;
        while !self.engine.is_down() {
            let deadline = match (self.engine.poll_timeout(), self.hooks.next_due()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
            .map(|t| self.clock.to_tokio(t));
            // A report's drain takes the instant the engine handled it at
            // (one clock read per report, not one per engine call).
            let (step, at) = tokio::select! {
                biased;
                Some((run, report)) = reports.recv() => (Step::Go, Some(self.report(run, report))),
                msg = requests.recv(), if handles_alive => match msg {
                    Some(msg) => (self.message(msg, reports).await, None),
                    None => {
                        handles_alive = false;
                        (Step::Go, None)
                    }
                },
                Some(at) = sleep_until(deadline) => (self.deadline_passed(at, requests, reports).await, None),
            };
            if step == Step::Stop {
                break;
            }
            match at {
                Some(now) => self.drain_at(now),
                None => self.drain(),
            }
        }
    }

    async fn message(&mut self, msg: Msg, reports: &mut Reports) -> Step {
        match msg {
            Msg::Request(m) => {
                let RequestMsg {
                    request,
                    payloads,
                    reply,
                } = *m;
                self.request(request, payloads, reply, None);
                Step::Go
            }
            Msg::Lookup { path, reply } => {
                let _ = reply.send(crate::inbox::lookup(&self.engine, &self.payloads, &path));
                Step::Go
            }
            Msg::PoolStart(start) => {
                self.pool_start(*start);
                Step::Go
            }
            Msg::Report(run, report) => {
                self.report(run, report);
                Step::Go
            }
            Msg::KillAll { done } => {
                self.kill_all(reports).await;
                let _ = done.send(());
                Step::Stop
            }
            Msg::Evict(m) => {
                let EvictMsg { target, why, by, reply } = *m;
                let answer = self.evict(target, why, &by);
                by.count(&answer);
                let _ = reply.send(answer);
                Step::Go
            }
            Msg::Signal(m) => {
                let answer = self.signal_child(&m);
                let _ = m.reply.send(answer);
                Step::Go
            }
            Msg::RunFacts { reply } => {
                let _ = reply.send(self.run_facts());
                Step::Go
            }
        }
    }

    /// LIFECYCLE: send a signal to a process child's program (`None`: its
    /// reload signal); the signal and the pid it went to.
    fn signal_child(&self, m: &SignalMsg) -> Result<(ChildSignal, u32), SignalError> {
        let path = || m.path.clone();
        let node = self
            .engine
            .lookup(&m.path)
            .ok_or_else(|| SignalError::NotFound(path()))?;
        if self.engine.is_supervisor(node) {
            return Err(SignalError::Supervisor(path()));
        }
        let Some(Payload::Process(spec)) = self.engine.tag(node).and_then(|t| self.payloads.get(t)) else {
            return Err(SignalError::NotAProcess(path()));
        };
        let signal = match m.signal {
            Some(signal) => signal,
            None => spec
                .lifecycle
                .reload_signal
                .ok_or_else(|| SignalError::NoReloadSignal(path()))?,
        };
        let handle = match self.runs.get(node.index()) {
            Some(Some((run, RunHandle::Process(h)))) if self.engine.current_run(node) == Some(*run) => h,
            _ => return Err(SignalError::NotRunning(path())),
        };
        let group = m.target == SignalTarget::Group;
        let pid = if group { Some(handle.pid()) } else { handle.main_pid() };
        match handle.send(signal.os(), group) {
            Ok(true) => {
                tracing::info!(path = %m.path, signal = %signal, pid, group, "signal sent");
                Ok((signal, pid.unwrap_or_default()))
            }
            Ok(false) => Err(SignalError::NotRunning(path())),
            Err(e) => Err(SignalError::Os {
                path: path(),
                error: e.desc().to_owned(),
            }),
        }
    }

    /// LIFECYCLE: the pids and health of every live run, by node index.
    fn run_facts(&self) -> Vec<RunFacts> {
        let now = self.clock.now();
        let mut facts = Vec::new();
        for (run, h) in self.runs.iter().flatten() {
            let (pid, guard_pid, probe) = match h {
                RunHandle::Process(p) => (p.main_pid(), p.guard_pid(), p.health()),
                _ => (None, None, None),
            };
            let (health, health_detail) = Health::of(&self.engine, *run, now).with_probe(probe);
            let delayed = matches!(h, RunHandle::Delayed(_));
            if pid.is_some() || health != Health::None || delayed {
                facts.push(RunFacts {
                    run: *run,
                    pid,
                    guard_pid,
                    health,
                    health_detail,
                    delayed,
                });
            }
        }
        facts
    }

    /// A monitor's eviction: the engine's `Input::Evict`, answered with its
    /// verdict (a stale input is an eviction that did nothing).
    fn evict(&mut self, target: EvictTarget, why: Eviction, by: &EvictBy) -> Result<RunId, EvictError> {
        if self.engine.is_down() {
            return Err(EvictError::TreeDown);
        }
        let run = match target {
            EvictTarget::Run(run) => run,
            EvictTarget::Path { path, generation } => {
                let Some(node) = self.engine.lookup(&path) else {
                    return Err(EvictError::NotFound { path });
                };
                if self.engine.is_supervisor(node) {
                    return Err(EvictError::NotAWorker { path });
                }
                RunId { node, generation }
            }
        };
        let stale = self.engine.stats().stale_inputs;
        let (input, now) = (Input::Evict(run, why), self.clock.now());
        self.hooks.input(&self.engine, &input, now);
        self.engine.handle(input, now);
        if self.engine.stats().stale_inputs > stale {
            return Err(EvictError::Stale {
                generation: run.generation,
                state: self.engine.state(run.node),
                current: self.engine.current_run(run.node).map(|r| r.generation),
            });
        }
        let by = match by {
            EvictBy::Monitor(m) => format!("monitor `{}`", m.name),
            EvictBy::Worker(w) => format!(
                "the worker at `{}` (run {}), on the control socket",
                self.engine.path(w.node).unwrap_or_default(),
                w.generation
            ),
        };
        tracing::info!(path = %self.engine.path(run.node).unwrap_or_default(), generation = run.generation,
            by = %by, "a monitor evicts a run");
        Ok(run)
    }

    /// The engine's deadline `at` has come: first every input already
    /// queued, then the timers (see the module docs).
    async fn deadline_passed(
        &mut self,
        at: tokio::time::Instant,
        requests: &mut Requests,
        reports: &mut Reports,
    ) -> Step {
        let late = tokio::time::Instant::now().saturating_duration_since(at);
        if late >= LATE {
            if late >= WARN_LATE {
                tracing::warn!(
                    late_ms = u64::try_from(late.as_millis()).unwrap_or(u64::MAX),
                    "the driver ran late (vigil was suspended, or its runtime busy or blocked): \
                     inputs that arrived meanwhile are handled before the deadlines that passed"
                );
            }
            // Reader tasks woken in the same wake-up as this timer deliver
            // what the kernel already holds (control connections, notify
            // readers, the guards' status lines).
            tokio::time::sleep(SETTLE).await;
            // And the notify datagrams whose reader tasks have still not run.
            // Only when late: this visits every run, and an on-time deadline
            // must stay O(1) in the number of children.
            self.collect_notifications();
        }
        if self.handle_queued(requests, reports).await == Step::Stop {
            return Step::Stop;
        }
        let now = self.clock.now();
        self.hooks_due(now);
        if !self.engine.is_down() && self.engine.poll_timeout().is_some_and(|t| t <= now) {
            let recorded = self.recorded;
            self.engine.handle_timeout(now);
            self.drain_at(now);
            if self.recorded == recorded {
                self.record_deadline(now);
            }
            self.hooks.deadlines_fired(&self.engine, now);
        }
        Step::Go
    }

    /// A deadline fired at `now` and the engine said nothing: the trace
    /// still says the driver fired it, so that a replay fires it at the
    /// same instant (it may have changed state that no notice shows, such
    /// as a backoff's restart queued behind a busy supervisor).
    fn record_deadline(&mut self, now: Instant) {
        if let Some(t) = self.trace.as_mut() {
            t.deadline(now);
        }
        if self.trace_lines.receiver_count() > 0 {
            self.line_writer.deadline(now);
            let line = String::from_utf8_lossy(self.line_writer.last_line());
            let _ = self.trace_lines.send(Arc::from(line.as_ref()));
        }
    }

    /// Carry out what an own-code simulation's hooks have due at `now`
    /// (nothing in a real run).
    fn hooks_due(&mut self, now: Instant) {
        let mut actions = std::mem::take(&mut self.hook_actions);
        self.hooks.due(&self.engine, now, &mut actions);
        for action in actions.drain(..) {
            if self.engine.is_down() {
                break;
            }
            match action {
                HookAction::Spawn(run) => self.spawn_run(run),
                HookAction::Stop(run) => self.stop_run(run),
                HookAction::Kill(run) => self.kill_run(run),
                HookAction::Deliver(run, report) => {
                    self.report_now(run, report, now);
                }
            }
            self.drain_at(now);
        }
        self.hook_actions = actions;
    }

    /// Move the datagrams waiting in the notify sockets of live runs into
    /// the report channel (straight from the kernel, whether or not their
    /// reader tasks have run).
    fn collect_notifications(&self) {
        for (_, h) in self.runs.iter().flatten() {
            if let RunHandle::Process(p) = h {
                p.deliver_queued_notifications();
            }
        }
    }

    /// Handle what is queued now (not what keeps arriving meanwhile):
    /// reports first, then messages from handles.
    async fn handle_queued(&mut self, requests: &mut Requests, reports: &mut Reports) -> Step {
        for _ in 0..reports.len() {
            let Some((run, report)) = reports.try_recv() else { break };
            let now = self.report(run, report);
            self.drain_at(now);
        }
        for _ in 0..requests.len() {
            let Some(msg) = requests.try_recv() else { break };
            if self.message(msg, reports).await == Step::Stop {
                return Step::Stop;
            }
            self.drain();
        }
        Step::Go
    }

    /// The driver panicked (the engine or something it called): its state
    /// can no longer be trusted, so nothing more is decided. Every live run
    /// is killed and awaited, and the handles learn why the tree is down.
    async fn after_panic(&mut self, message: String, reports: &mut Reports) {
        tracing::error!(panic = %message, "the vigil driver panicked: killing every live run; the tree is down");
        let _ = self.status.driver_panic.set(message.clone());
        let waiting = self.kill_live_runs();
        self.await_exits(waiting, reports).await;
        self.drop_payloads();
        self.publish_down(ExitReason::Panic(format!("driver panicked: {message}")));
    }

    /// Tell every handle the tree is down, once (a later call does nothing):
    /// `reason` and how the tree ended. The engine's outcome if it has one;
    /// a tree the adapter ended while the engine still ran it (`kill_all`, a
    /// driver panic) reads [`Outcome::ShutDown`].
    fn publish_down(&self, reason: ExitReason) {
        let outcome = match self.engine.outcome() {
            Outcome::Up => Outcome::ShutDown,
            ended => ended,
        };
        self.down.send_if_modified(|down| {
            let first = down.is_none();
            if first {
                *down = Some(Down { reason, outcome });
            }
            first
        });
    }

    /// The driver's last step: answer what is still waiting (later requests
    /// find the channel closed), end what is left, close the trace.
    fn finish(&mut self) {
        self.drop_payloads();
        for (_, pending) in std::mem::take(&mut self.pending) {
            let _ = pending.reply.send(Err(RequestError::TreeDown));
        }
        let left: Vec<RunId> = self.runs.iter().flatten().map(|(r, _)| *r).collect();
        for run in left {
            self.end_run(run);
        }
        // Every run is removed: the monitors take what is left, then end.
        self.monitors.finish();
        if let Some(mut t) = self.trace.take() {
            // A sink that panicked once may panic again: that must not undo
            // the clean-up above, nor leave the handles without an end.
            match std::panic::catch_unwind(AssertUnwindSafe(|| t.finish())) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "could not write the trace"),
                Err(_) => tracing::error!("the trace sink panicked while being flushed"),
            }
        }
        // After `kill_all` (the engine never ended the root).
        self.publish_down(ExitReason::Killed);
    }

    /// Every child is gone: drop what they ran, so that their inboxes close
    /// (senders get `Closed`) before the handles learn that the tree is
    /// down. What the user's closures hold is dropped here; a panic in such
    /// a drop is logged, and the end of the tree goes on.
    fn drop_payloads(&mut self) {
        let payloads = std::mem::take(&mut self.payloads);
        if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| drop(payloads))) {
            tracing::error!(panic = %panic_message(panic.as_ref()), "dropping what the children ran panicked");
        }
    }

    /// Kill every live run at once (SIGKILL to each process group, abort each
    /// task) and wait (at most [`KILL_WAIT`]) for them to end. Each kill is
    /// published like an engine `Kill` command (trace line, event), although
    /// the engine did not order it: supervision stops here, and the record
    /// must still say what happened to every run.
    async fn kill_all(&mut self, reports: &mut Reports) {
        let now = self.clock.now();
        let runs: Vec<RunId> = self.runs.iter().flatten().map(|(r, _)| *r).collect();
        for &run in &runs {
            let notice = Notice::Kill(run);
            if let Some(t) = self.trace.as_mut() {
                t.notice_with(&self.engine, now, &notice, vigil_trace::KILL_ALL_FIELDS);
            }
            if self.events.receiver_count() > 0 {
                let path = self.engine.path(run.node).unwrap_or_default();
                let _ = self.events.send(TreeEvent::of_notice(&self.engine, now, &path, notice));
            }
        }
        let waiting = self.kill_live_runs();
        self.await_exits(waiting, reports).await;
        tracing::warn!("killed every run; supervision stopped");
    }

    /// Kill every live run; the runs whose end is still to be reported
    /// (abandoned task runs end here at once).
    fn kill_live_runs(&mut self) -> BTreeSet<RunId> {
        let runs: Vec<RunId> = self.runs.iter().flatten().map(|(r, _)| *r).collect();
        let mut waiting = BTreeSet::new();
        for run in runs {
            let (abandoned, left_behind) = match self.runs.get(run.node.index()) {
                Some(Some((_, h))) => (h.kill() == Killed::Abandoned, h.left_behind()),
                _ => continue,
            };
            if abandoned {
                self.count_abandoned(run, left_behind);
                self.end_run(run);
            } else {
                waiting.insert(run);
            }
        }
        waiting
    }

    /// Wait (at most [`KILL_WAIT`]) for the end of every run in `waiting`,
    /// tearing each down as it reports; the engine is not told (supervision
    /// is over). Runs that never report are torn down anyway.
    async fn await_exits(&mut self, mut waiting: BTreeSet<RunId>, reports: &mut Reports) {
        let until = tokio::time::Instant::now() + KILL_WAIT;
        while !waiting.is_empty() {
            match tokio::time::timeout_at(until, reports.recv()).await {
                Ok(Some((run, RunnerReport::Exited(_) | RunnerReport::StartFailed(_)))) => {
                    if waiting.remove(&run) {
                        self.end_run(run);
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(_) => {
                    tracing::error!(
                        runs = waiting.len(),
                        "killed runs did not end within {KILL_WAIT:?}; no longer waiting for them"
                    );
                    break;
                }
            }
        }
        for run in waiting {
            self.end_run(run);
        }
    }

    /// Hand a run's report to the engine; returns the instant it was
    /// handled at (the drain that follows stamps its notices with it).
    fn report(&mut self, run: RunId, report: RunnerReport) -> Instant {
        let now = self.clock.now();
        if self.hooks.hold(run, &report, now) {
            return now;
        }
        self.report_now(run, report, now)
    }

    /// [`report`](Self::report) at `now` (one clock read per report), never
    /// held back by an own-code simulation.
    fn report_now(&mut self, run: RunId, report: RunnerReport, now: Instant) -> Instant {
        let input = match report {
            RunnerReport::Started => Input::Started(run),
            RunnerReport::StartFailed(e) => {
                self.end_run(run);
                Input::StartFailed(run, e)
            }
            RunnerReport::Ready => Input::Ready(run),
            RunnerReport::Heartbeat => Input::Heartbeat(run),
            RunnerReport::Status(text) => {
                tracing::info!(path = %self.engine.path(run.node).unwrap_or_default(), generation = run.generation, status = %text, "status");
                return now;
            }
            RunnerReport::Exited(reason) => {
                self.end_run(run);
                Input::Exited(run, self.exit_policy(run, reason))
            }
            RunnerReport::DelayOver => {
                self.delay_over(run);
                return now;
            }
            RunnerReport::Unhealthy(detail) => {
                tracing::warn!(path = %self.engine.path(run.node).unwrap_or_default(), generation = run.generation,
                    detail = %detail, "health probe: the child is unhealthy; stopping it (reason health)");
                Input::Evict(run, Eviction::Health)
            }
        };
        self.injected_panic.check(&self.engine, &input);
        let started = matches!(input, Input::Started(_));
        self.hooks.input(&self.engine, &input, now);
        self.engine.handle(input, now);
        if started {
            self.register_with_monitors(run);
        }
        now
    }

    /// The process group of `run`, if it is a live process run.
    fn process_pgid(&self, run: RunId) -> Option<u32> {
        match self.runs.get(run.node.index()) {
            Some(Some((r, RunHandle::Process(h)))) if *r == run => Some(h.pid()),
            _ => None,
        }
    }

    /// LIFECYCLE: a process run's exit through its exit-code policy
    /// (src/lifecycle.rs): the reason the engine gets and, for a code in
    /// `restart_prevent_exit_codes` of a run that was up, a
    /// `terminate_child` request made first, so that the exit ends that
    /// stop (no restart, no intensity) and the child stays stopped.
    fn exit_policy(&mut self, run: RunId, reason: ExitReason) -> ExitReason {
        let classified = match self.engine.tag(run.node).and_then(|t| self.payloads.get(t)) {
            Some(Payload::Process(p)) if !p.lifecycle.is_default_policy() => p.lifecycle.classify(reason),
            _ => return reason,
        };
        let Some(code) = classified.prevented else {
            return classified.reason;
        };
        let up = self.engine.current_run(run.node) == Some(run)
            && self.engine.state(run.node) == Some(vigil_core::ChildState::Running);
        if up {
            let path = self.engine.path(run.node).unwrap_or_default();
            tracing::info!(path = %path, generation = run.generation, code, reason = %classified.reason,
                "exit code in restart_prevent_exit_codes: not restarted (`vigil ctl start` starts it again)");
            let (reply, _) = oneshot::channel();
            self.request(Request::TerminateChild { path }, ByTag::new(), reply, None);
        }
        classified.reason
    }

    /// A run is up (the engine has its `Started`): tell the monitors that
    /// watch its kind. Its one teardown ([`Driver::end_run`]) removes it.
    fn register_with_monitors(&mut self, run: RunId) {
        let kind = match self.runs.get(run.node.index()) {
            Some(Some((r, RunHandle::Task(_)))) if *r == run => RunKind::Task,
            Some(Some((r, RunHandle::Blocking(_)))) if *r == run => RunKind::Blocking,
            Some(Some((r, RunHandle::Process(h)))) if *r == run => RunKind::Process {
                pgid: h.pid(),
                memory_limit: match self.engine.tag(run.node).and_then(|t| self.payloads.get(t)) {
                    Some(Payload::Process(p)) => p.memory_limit,
                    _ => None,
                },
            },
            // Ended already (its teardown came first): nothing to tell.
            _ => return,
        };
        let engine = &self.engine;
        self.monitors
            .register(run, kind, || engine.path(run.node).unwrap_or_default().into());
    }

    /// Tell the descriptor budget how many process children the tree has
    /// now (after a start, a change or a removal of children).
    fn count_process_children(&self) {
        if let Some(c) = &self.control {
            let (engine, payloads) = (&self.engine, &self.payloads);
            let guarded = self.launch == Launch::Guarded;
            let cost = |node: NodeId| match engine.tag(node).and_then(|t| payloads.get(t)) {
                Some(Payload::Process(p)) => Some(descriptors::process_cost(
                    p,
                    guarded,
                    notify_plan(engine, node, p).socket,
                )),
                _ => None,
            };
            let (children, reserved) = descriptors::process_workers(engine, cost);
            c.budget.set_process_children(children, reserved);
        }
    }

    /// The one teardown of a run, whatever ended it (see the module docs):
    /// its control token is revoked, its monitor entry removed, its slot
    /// freed and its handle (with what it holds: notify socket, guard
    /// socket) dropped. Harmless for a run that already ended, or whose
    /// slot belongs to a later run of the same child.
    fn end_run(&mut self, run: RunId) {
        if let Some(c) = &self.control {
            c.tokens.revoke(run);
        }
        let Some(slot) = self.runs.get_mut(run.node.index()) else {
            return;
        };
        if slot.as_ref().is_none_or(|(r, _)| *r != run) {
            return;
        }
        if let Some((_, handle)) = slot.take() {
            self.monitors.remove(run, matches!(handle, RunHandle::Process(_)));
        }
    }

    /// A run abandoned at its kill (a task stuck in a poll, a blocking run's
    /// thread): count it and say what was `left_behind`. Its `killed` exit
    /// is reported by the caller.
    fn count_abandoned(&self, run: RunId, left_behind: &'static str) {
        let total = self.status.abandoned.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        tracing::warn!(
            path = %self.engine.path(run.node).unwrap_or_default(),
            generation = run.generation,
            abandoned_total = total,
            "{left_behind}"
        );
    }

    /// A pool's start: refused at once if its pool is gone or full, else
    /// carried out holding a seat in the pool.
    fn pool_start(&mut self, start: PoolStart) {
        match crate::pool::admit(&self.engine, &self.payloads, &start) {
            Ok(seat) => {
                let PoolStart { admitted, request, .. } = start;
                let _ = admitted.send(Ok(()));
                self.request(request.request, request.payloads, request.reply, Some(seat));
            }
            Err(e) => {
                let _ = start.admitted.send(Err(e));
            }
        }
    }

    fn request(
        &mut self,
        mut request: Request,
        payloads: ByTag,
        reply: oneshot::Sender<Result<Reply, RequestError>>,
        seat: Option<Seat>,
    ) {
        // A new spec: its workers get their tags, and their payloads a grant
        // that the answer anchors or releases.
        let grant = match &mut request {
            Request::StartChild { spec, .. } | Request::ReplaceChild { spec, .. } => {
                Some(self.payloads.register(spec, &|tag| payloads.get(&tag).cloned()))
            }
            _ => None,
        };
        let path = request.target_path();
        let reshapes = matches!(
            request,
            Request::StartChild { .. } | Request::ReplaceChild { .. } | Request::DeleteChild { .. }
        );
        if self.trace.is_some() || self.trace_lines.receiver_count() > 0 {
            self.request_fields = vigil_trace::request_fields(&request);
        }
        self.hooks.request(&request);
        let answer = self.engine.request(request, self.clock.now());
        if reshapes {
            self.count_process_children();
        }
        match answer {
            Ok(Reply::Pending(id)) => {
                let grant = grant.map(|g| (path, g));
                self.pending.insert(id, Pending { reply, grant, seat });
            }
            other => {
                if let Some(seat) = seat {
                    seat.answered(&self.engine, &path, &other);
                }
                if let Some(grant) = grant {
                    self.payloads.answered(&self.engine, &path, &other, grant);
                }
                let _ = reply.send(other);
            }
        }
    }

    /// Publish the notices, then carry out the commands. `subscribed`:
    /// someone listens to the events; `live_lines`: to the trace's lines.
    fn drain_once(&mut self, now: Instant, subscribed: bool, live_lines: bool) {
        // The most verbose level any subscriber may take (one atomic load):
        // the path is rendered for a log line only if it may be written.
        let max_level = tracing::level_filters::LevelFilter::current();
        // The tree changed shape: a removal, or a reshaping request answered
        // (a queued `start_child` adds its node only when it runs).
        let mut reshaped = false;
        while let Some(n) = self.engine.poll_notice() {
            reshaped |= matches!(
                n,
                Notice::Removed { .. }
                    | Notice::Reply {
                        op: RequestOp::StartChild | RequestOp::ReplaceChild | RequestOp::DeleteChild,
                        ..
                    }
            );
            // The path is only rendered when something will read it.
            self.path.clear();
            if subscribed || log_level(&n) <= max_level {
                if let Some(node) = notice_node(&n) {
                    self.engine.write_path(node, &mut self.path);
                }
                log_notice(&self.engine, &self.path, &n, n.run().and_then(|r| self.process_pgid(r)));
            }
            self.hooks.notice(&self.engine, &n, now);
            self.record(now, &n, live_lines);
            if let Notice::TreeDown { reason } = &n {
                self.publish_down(reason.clone());
            }
            // The event takes the notice; it is built only for a listener.
            if subscribed {
                let _ = self.events.send(TreeEvent::of_notice(&self.engine, now, &self.path, n));
            }
        }
        if reshaped {
            self.count_process_children();
        }
        while let Some(cmd) = self.engine.poll_command() {
            self.command(cmd, now);
        }
        if !self.delayed.is_empty() {
            self.cut_short_stopped_delays();
        }
        // Monitors run after what this step spawned: a restart's replacement
        // is queued on the runtime before them.
        self.monitors.wake();
    }

    /// LIFECYCLE: the start delay of `run` is over: its program starts now,
    /// unless the engine holds a stop for it (its supervisor is ending, or
    /// it was terminated meanwhile): then it is reported started without a
    /// program, and the Stop that follows ends it with
    /// `shutdown(stopped during its start delay)`.
    fn delay_over(&mut self, run: RunId) {
        let Some(k) = self.delayed.iter().position(|r| *r == run) else {
            return; // ended meanwhile
        };
        self.delayed.swap_remove(k);
        if !matches!(self.runs.get(run.node.index()), Some(Some((r, RunHandle::Delayed(_)))) if *r == run) {
            return;
        }
        if self.engine.stop_pending(run.node) {
            self.started.push(run);
            return;
        }
        self.spawn_now(run);
    }

    /// LIFECYCLE: a delayed run whose stop the engine holds has its delay
    /// cut short (its `DelayOver` is reported at once).
    fn cut_short_stopped_delays(&self) {
        for run in &self.delayed {
            if self.engine.stop_pending(run.node) {
                if let Some(Some((r, RunHandle::Delayed(d)))) = self.runs.get(run.node.index()) {
                    if r == run {
                        d.cut_short();
                    }
                }
            }
        }
    }

    /// After every engine call: publish the notices, carry out the
    /// commands, and record the `Started` of the task runs they spawned
    /// (which may bring more of both), until nothing is left.
    fn drain(&mut self) {
        // The instant of the engine call that made the notices: a trace line
        // carries the `now` its engine call had, so a replay makes the same
        // call at the line's `t`.
        let now = self.engine.now();
        self.drain_at(now);
    }

    /// [`drain`](Self::drain) right after an engine call made at `now`: its
    /// notices, and the `Started` of the runs it spawned, take that instant
    /// (the engine's time never goes back: `now` is the latest it saw).
    fn drain_at(&mut self, now: Instant) {
        // Who listens, asked once per drain (each is a lock), not per notice
        // nor per round: the driver does not yield in between, and a
        // listener that comes meanwhile on another thread could as well
        // have come just after.
        let subscribed = self.events.receiver_count() > 0;
        let live_lines = self.trace_lines.receiver_count() > 0;
        loop {
            self.drain_once(now, subscribed, live_lines);
            if self.started.is_empty() {
                self.hooks.settled(&self.engine, now);
                return;
            }
            // Index, not drain: the buffer keeps its capacity (no
            // allocation per restart).
            for k in 0..self.started.len() {
                let run = self.started[k];
                let input = Input::Started(run);
                self.injected_panic.check(&self.engine, &input);
                self.hooks.input(&self.engine, &input, now);
                self.engine.handle(input, now);
                self.register_with_monitors(run);
            }
            self.started.clear();
        }
    }

    /// What a notice changes besides the log and the events: the trace and
    /// its live lines (rendered if `live_lines`: someone listens), the
    /// payload registry, and a waiting request's answer.
    fn record(&mut self, now: Instant, n: &Notice, live_lines: bool) {
        self.recorded = self.recorded.wrapping_add(1);
        let extra = match n {
            Notice::Request { .. } => std::mem::take(&mut self.request_fields),
            _ => String::new(),
        };
        if let Some(t) = self.trace.as_mut() {
            t.notice_with(&self.engine, now, n, &extra);
        }
        if live_lines {
            self.line_writer.notice_with(&self.engine, now, n, &extra);
            let line = String::from_utf8_lossy(self.line_writer.last_line());
            let _ = self.trace_lines.send(Arc::from(line.as_ref()));
        }
        // Inboxes close and pool seats free before the payloads go: only a
        // removal or a supervisor's end changes them (one test per notice).
        if matches!(n, Notice::Removed { .. } | Notice::SupExit { .. }) {
            crate::inbox::close_removed(&self.engine, &self.payloads, n);
            crate::pool::observe(&self.engine, &self.payloads, n);
            self.payloads.observe(n);
        }
        if let Notice::Reply { id, result, .. } = n {
            if let Some(Pending { reply, grant, seat }) = self.pending.remove(id) {
                if let Some((path, grant)) = grant {
                    if let Some(seat) = seat {
                        seat.answered(&self.engine, &path, result);
                    }
                    self.payloads.answered(&self.engine, &path, result, grant);
                }
                let _ = reply.send(result.as_ref().clone());
            }
        }
    }

    fn command(&mut self, cmd: Command, now: Instant) {
        match self.hooks.command(&self.engine, cmd, now) {
            Fate::Carry => {}
            Fate::Ignore | Fate::Delay => return,
            Fate::Fail(e) => {
                let _ = self.reports_tx.send((cmd.run(), RunnerReport::StartFailed(e)));
                return;
            }
        }
        match cmd {
            Command::Spawn(run) => self.spawn_run(run),
            Command::Stop(run) => self.stop_run(run),
            Command::Kill(run) => self.kill_run(run),
        }
    }

    /// Ask `run` to stop, if it is the live run of its worker.
    fn stop_run(&mut self, run: RunId) {
        if let Some(Some((r, h))) = self.runs.get(run.node.index()) {
            if *r == run {
                h.stop();
            }
        }
    }

    /// Kill `run`, if it is the live run of its worker.
    fn kill_run(&mut self, run: RunId) {
        let abandoned = match self.runs.get(run.node.index()) {
            Some(Some((r, h))) if *r == run && h.kill() == Killed::Abandoned => Some(h.left_behind()),
            _ => None,
        };
        if let Some(left_behind) = abandoned {
            self.count_abandoned(run, left_behind);
            // Through the inbox, in order with everything else;
            // the teardown happens when it is handled.
            let _ = self.reports_tx.send((run, RunnerReport::Exited(ExitReason::Killed)));
        }
    }

    fn spawn_run(&mut self, run: RunId) {
        if let Some(delay) = self.start_delay_of(run) {
            let handle = RunHandle::Delayed(DelayedStart::begin(run, delay, &self.reports_tx));
            self.install(run, handle);
            self.delayed.push(run);
            return;
        }
        self.spawn_now(run);
    }

    /// LIFECYCLE: the start delay of a process worker's run, if it has one.
    fn start_delay_of(&self, run: RunId) -> Option<Duration> {
        match self.engine.tag(run.node).and_then(|t| self.payloads.get(t)) {
            Some(Payload::Process(p)) => p.lifecycle.start_delay.filter(|d| !d.is_zero()),
            _ => None,
        }
    }

    /// Put `handle` in the slot of `run`'s worker.
    fn install(&mut self, run: RunId, handle: RunHandle) {
        let i = run.node.index();
        if i >= self.runs.len() {
            self.runs.resize_with(i + 1, || None);
        }
        self.runs[i] = Some((run, handle));
    }

    /// Start `run`'s payload now.
    fn spawn_now(&mut self, run: RunId) {
        let (payload, path) = match self.payloads.run_of(&self.engine, run.node) {
            Some((payload, path)) => (Some(payload), path),
            None => (None, self.engine.path(run.node).unwrap_or_default().into()),
        };
        let handle = match payload {
            Some(Payload::Task(f)) => {
                self.monitors.spawning(run, false, &path);
                spawn_task(&f, run, path, self.reports_tx.clone(), self.hooks.fault_link()).map(RunHandle::Task)
            }
            Some(Payload::InboxTask(t)) => {
                self.monitors.spawning(run, false, &path);
                t.spawn(run, path, self.reports_tx.clone(), self.hooks.fault_link())
                    .map(RunHandle::Task)
            }
            Some(Payload::Pool(_)) => Err(format!(
                "`{path}` is a pool: Tree::pool needs a supervisor spec (ChildSpec::supervisor), not a worker's"
            )),
            Some(Payload::Blocking(b)) => {
                self.monitors.spawning(run, false, &path);
                let (reports, status) = (self.reports_tx.clone(), Arc::clone(&self.status));
                spawn_blocking_run(&b, run, path, reports, status).map(RunHandle::Blocking)
            }
            Some(Payload::Process(mut p)) => {
                if let Some(c) = &self.control {
                    p.env.insert("VIGIL_SOCKET".to_owned(), c.socket.clone());
                    if let Some(token) = c.tokens.issue(run, &path) {
                        p.env.insert("VIGIL_TOKEN".to_owned(), token);
                    }
                }
                let plan = notify_plan(&self.engine, run.node, &p);
                self.monitors.spawning(run, true, &path);
                let reports = self.reports_tx.clone();
                spawn_process(&p, plan, run, &path, reports, self.launch, &self.spawner).map(RunHandle::Process)
            }
            None => Err(format!("nothing to run for {path}")),
        };
        match handle {
            Ok(h) => {
                if matches!(h, RunHandle::Task(_)) {
                    // A task is up once spawned: `drain` records it.
                    self.started.push(run);
                }
                self.install(run, h);
            }
            // Nothing started; the report's teardown revokes the token
            // issued above.
            Err(e) => {
                let _ = self.reports_tx.send((run, RunnerReport::StartFailed(e)));
            }
        }
    }
}

/// Whether the worker `node` (running `p`) gets a notify socket, and what
/// its messages may do (src/notify.rs, `NotifyPlan`).
fn notify_plan(engine: &Engine, node: NodeId, p: &crate::ProcessSpec) -> NotifyPlan {
    let readiness = engine.readiness(node).unwrap_or_default();
    let probe_ready = p.health.as_ref().is_some_and(|h| h.ready);
    NotifyPlan::of(readiness, engine.health_timeout(node), probe_ready)
}

/// Sleep until `deadline` and return it; never return without one.
async fn sleep_until(deadline: Option<tokio::time::Instant>) -> Option<tokio::time::Instant> {
    match deadline {
        Some(d) => {
            tokio::time::sleep_until(d).await;
            Some(d)
        }
        None => std::future::pending().await,
    }
}

/// The node a notice is mainly about.
fn notice_node(n: &Notice) -> Option<NodeId> {
    if let Some(run) = n.run() {
        return Some(run.node);
    }
    Some(match n {
        Notice::Restart { sup, .. }
        | Notice::GiveUp { sup }
        | Notice::SupStarting { sup }
        | Notice::SupStop { sup }
        | Notice::SupEnding { sup, .. }
        | Notice::SupStarted { sup }
        | Notice::SupExit { sup, .. } => *sup,
        Notice::Backoff { child, .. } | Notice::Removed { child } => *child,
        _ => return None,
    })
}

//! The driver: one task that owns the engine and binds it to the world.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use vigil_core::{
    Command, Engine, ExitReason, Input, NodeId, Notice, Reply, Request, RequestError, RequestId, RequestOp, RunId,
    SpecError, SupervisorSpec,
};

use crate::clock::Clock;
use crate::control::{ControlServer, RunTokens};
use crate::descriptors::{self, DescriptorBudget};
use crate::handle::{Event, Supervisor};
use crate::monitor::{MonitorHandle, MonitorService, MonitorSettings, MonitoredRun};
use crate::process::{spawn_process, Launch, ProcessHandle, ProcessSpec};
use crate::report::{Report, ReportSender};
use crate::task::{spawn_task, TaskFn, TaskRun};

/// What a worker runs.
#[derive(Clone)]
pub(crate) enum Payload {
    Task(TaskFn),
    Process(ProcessSpec),
}

/// A message from a handle to the driver.
pub(crate) enum Msg {
    /// An operator request (boxed: a `Request` is large, `KillAll` tiny).
    Request(Box<RequestMsg>),
    /// Kill every live run now and stop supervising (a second signal).
    KillAll { done: oneshot::Sender<()> },
    /// A report for a run that did not come from its runner: a worker's
    /// `ready` or `heartbeat` through the control socket.
    Report(RunId, Report),
}

/// An operator request and where to answer it.
pub(crate) struct RequestMsg {
    pub(crate) request: Request,
    /// For `start_child`: what the new child's workers run; their tags index this list.
    pub(crate) payloads: Vec<Payload>,
    pub(crate) reply: oneshot::Sender<Result<Reply, RequestError>>,
}

/// Driver settings.
#[derive(Default)]
pub(crate) struct Options {
    pub(crate) seed: u64,
    /// Where to write the JSON-lines trace (CONTRACTS section 3).
    pub(crate) trace: Option<Box<dyn std::io::Write + Send>>,
    /// The control server to start with the tree: it sees every event from
    /// the first, and every process run gets its socket and a token.
    pub(crate) control: Option<ControlServer>,
    /// How process children are watched.
    pub(crate) monitor: MonitorSettings,
    /// Never start processes under a guard, even where the binary can be one.
    pub(crate) guard_off: bool,
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
}

struct Driver {
    engine: Engine,
    clock: Clock,
    payloads: Vec<Payload>,
    runs: Vec<Option<(RunId, RunHandle)>>,
    reports_tx: ReportSender,
    pending: BTreeMap<RequestId, oneshot::Sender<Result<Reply, RequestError>>>,
    events: broadcast::Sender<Event>,
    down: watch::Sender<Option<ExitReason>>,
    path: String,
    trace: Option<vigil_trace::TraceWriter>,
    /// Live trace lines for subscribers (`Supervisor::trace`), rendered only
    /// while someone listens.
    trace_lines: broadcast::Sender<Arc<str>>,
    line_writer: vigil_trace::TraceWriter,
    control: Option<ControlEnv>,
    root_gave_up: Arc<std::sync::atomic::AtomicBool>,
    monitors: MonitorHandle,
    launch: Launch,
}

/// Start the driver task for `spec` on the current runtime.
pub(crate) fn spawn(spec: SupervisorSpec, payloads: Vec<Payload>, opts: Options) -> Result<Supervisor, SpecError> {
    let engine = Engine::new(spec, opts.seed)?;
    let (tx, rx) = mpsc::unbounded_channel();
    let (reports_tx, reports_rx) = mpsc::unbounded_channel();
    let (events, _) = broadcast::channel(4096);
    let (trace_lines, _) = broadcast::channel(4096);
    let (down, down_rx) = watch::channel(None);
    let root_gave_up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let control_env = opts.control.as_ref().map(|c| ControlEnv {
        // Absolute: a child with its own working directory must find it too.
        socket: std::path::absolute(c.path())
            .unwrap_or_else(|_| c.path().to_owned())
            .to_string_lossy()
            .into_owned(),
        tokens: c.tokens(),
        budget: c.budget(),
    });
    let monitors = MonitorService::spawn(opts.monitor, reports_tx.clone());
    let driver = Driver {
        engine,
        clock: Clock::start(),
        payloads,
        runs: Vec::new(),
        reports_tx,
        pending: BTreeMap::new(),
        events: events.clone(),
        down,
        path: String::new(),
        trace: opts.trace.map(vigil_trace::TraceWriter::to_sink),
        trace_lines: trace_lines.clone(),
        line_writer: vigil_trace::TraceWriter::hashing(),
        control: control_env,
        root_gave_up: Arc::clone(&root_gave_up),
        monitors: monitors.clone(),
        launch: if !opts.guard_off && crate::guard::is_available() {
            Launch::Guarded
        } else {
            Launch::Direct
        },
    };
    let sup = Supervisor {
        tx,
        events,
        trace_lines,
        down: down_rx,
        root_gave_up,
        monitors,
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

impl Driver {
    async fn run(
        mut self,
        mut requests: mpsc::UnboundedReceiver<Msg>,
        mut reports: mpsc::UnboundedReceiver<(RunId, Report)>,
    ) {
        self.engine.start(self.clock.now());
        self.drain();
        let mut handles_alive = true;
        while !self.engine.is_down() {
            let deadline = self.engine.poll_timeout().map(|t| self.clock.to_tokio(t));
            tokio::select! {
                biased;
                Some((run, report)) = reports.recv() => self.report(run, report),
                msg = requests.recv(), if handles_alive => match msg {
                    Some(Msg::Request(m)) => {
                        let RequestMsg { request, payloads, reply } = *m;
                        self.request(request, payloads, reply);
                    }
                    Some(Msg::Report(run, report)) => self.report(run, report),
                    Some(Msg::KillAll { done }) => {
                        self.kill_all();
                        let _ = done.send(());
                        break;
                    }
                    None => handles_alive = false,
                },
                _ = sleep_until(deadline), if deadline.is_some() => {
                    let now = self.clock.now();
                    self.engine.handle_timeout(now);
                }
            }
            self.drain();
        }
        // Answer what is still waiting; later requests find the channel closed.
        for (_, reply) in std::mem::take(&mut self.pending) {
            let _ = reply.send(Err(RequestError::TreeDown));
        }
        if let Some(t) = self.trace.as_mut() {
            if let Err(e) = t.finish() {
                tracing::error!(error = %e, "could not write the trace");
            }
        }
        if self.down.borrow().is_none() {
            let _ = self.down.send(Some(ExitReason::Killed));
        }
    }

    /// Kill every live run at once (SIGKILL to each process group, abort each
    /// task). Each kill is published like an engine `Kill` command (trace
    /// line, event), although the engine did not order it: supervision stops
    /// here, and the record must still say what happened to every run.
    fn kill_all(&mut self) {
        let now = self.clock.now();
        let runs: Vec<RunId> = self.runs.iter().flatten().map(|(r, _)| *r).collect();
        for (_, h) in self.runs.iter().flatten() {
            match h {
                RunHandle::Task(t) => t.kill.cancel(),
                RunHandle::Process(p) => p.kill(),
            }
        }
        for run in runs {
            let notice = Notice::Kill(run);
            if let Some(t) = self.trace.as_mut() {
                t.notice(&self.engine, now, &notice);
            }
            if self.events.receiver_count() > 0 {
                let _ = self.events.send(Event {
                    time: now,
                    path: self.engine.path(run.node).unwrap_or_default(),
                    notice,
                });
            }
        }
        tracing::warn!("killed every run; supervision stopped");
    }

    fn report(&mut self, run: RunId, report: Report) {
        let now = self.clock.now();
        let input = match report {
            Report::Started => Input::Started(run),
            Report::StartFailed(e) => {
                self.revoke(run);
                self.forget(run);
                Input::StartFailed(run, e)
            }
            Report::Ready => Input::Ready(run),
            Report::Heartbeat => Input::Heartbeat(run),
            Report::Status(text) => {
                tracing::info!(path = %self.engine.path(run.node).unwrap_or_default(), generation = run.generation, status = %text, "status");
                return;
            }
            Report::Exited(reason) => {
                self.revoke(run);
                if self.runs.get(run.node.index()).is_some_and(|slot| {
                    slot.as_ref()
                        .is_some_and(|(r, h)| *r == run && matches!(h, RunHandle::Process(_)))
                }) {
                    self.monitors.remove(run);
                }
                self.forget(run);
                Input::Exited(run, reason)
            }
            Report::Evict(why) => Input::Evict(run, why),
        };
        self.engine.handle(input, now);
    }

    /// Tell the descriptor budget how many process children the tree has
    /// now (after a start, a change or a removal of children).
    fn count_process_children(&self) {
        if let Some(c) = &self.control {
            let payloads = &self.payloads;
            let guarded = self.launch == Launch::Guarded;
            let cost = |tag: u64| match usize::try_from(tag).ok().and_then(|t| payloads.get(t)) {
                Some(Payload::Process(p)) => Some(descriptors::process_cost(p, guarded)),
                _ => None,
            };
            let (children, reserved) = descriptors::process_workers(&self.engine, cost);
            c.budget.set_process_children(children, reserved);
        }
    }

    /// The run ended: its control token is no longer valid.
    fn revoke(&self, run: RunId) {
        if let Some(c) = &self.control {
            c.tokens.revoke(run);
        }
    }

    /// Drop the handle of `run`, which has ended (or never started).
    fn forget(&mut self, run: RunId) {
        if let Some(slot) = self.runs.get_mut(run.node.index()) {
            if slot.as_ref().is_some_and(|(r, _)| *r == run) {
                *slot = None;
            }
        }
    }

    fn request(
        &mut self,
        mut request: Request,
        payloads: Vec<Payload>,
        reply: oneshot::Sender<Result<Reply, RequestError>>,
    ) {
        if let Request::StartChild { spec, .. } | Request::ReplaceChild { spec, .. } = &mut request {
            if !payloads.is_empty() {
                retag(spec, self.payloads.len() as u64);
                self.payloads.extend(payloads);
            }
        }
        let reshapes = matches!(
            request,
            Request::StartChild { .. } | Request::ReplaceChild { .. } | Request::DeleteChild { .. }
        );
        let answer = self.engine.request(request, self.clock.now());
        if reshapes {
            self.count_process_children();
        }
        match answer {
            Ok(Reply::Pending(id)) => {
                self.pending.insert(id, reply);
            }
            other => {
                let _ = reply.send(other);
            }
        }
    }

    /// After every engine call: publish the notices, then carry out the commands.
    fn drain(&mut self) {
        let now = self.clock.now();
        let subscribed = self.events.receiver_count() > 0;
        let debug = tracing::enabled!(tracing::Level::DEBUG);
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
            if subscribed || debug || logged_above_debug(&n) {
                if let Some(node) = notice_node(&n) {
                    self.engine.write_path(node, &mut self.path);
                }
                log_notice(&self.path, &n);
            }
            if let Some(t) = self.trace.as_mut() {
                t.notice(&self.engine, now, &n);
            }
            if self.trace_lines.receiver_count() > 0 {
                self.line_writer.notice(&self.engine, now, &n);
                let line = String::from_utf8_lossy(self.line_writer.last_line());
                let _ = self.trace_lines.send(Arc::from(line.as_ref()));
            }
            if let Notice::Reply { id, result, .. } = &n {
                if let Some(reply) = self.pending.remove(id) {
                    let _ = reply.send(result.as_ref().clone());
                }
            }
            if let Notice::TreeDown { reason } = &n {
                self.root_gave_up
                    .store(self.engine.stats().root_gave_up, std::sync::atomic::Ordering::SeqCst);
                let _ = self.down.send(Some(reason.clone()));
            }
            if self.events.receiver_count() > 0 {
                let _ = self.events.send(Event {
                    time: now,
                    path: self.path.clone(),
                    notice: n,
                });
            }
        }
        if reshaped {
            self.count_process_children();
        }
        while let Some(cmd) = self.engine.poll_command() {
            self.command(cmd);
        }
    }

    fn command(&mut self, cmd: Command) {
        let run = cmd.run();
        let i = run.node.index();
        match cmd {
            Command::Spawn(run) => {
                let path: Arc<str> = self.engine.path(run.node).unwrap_or_default().into();
                let payload = self
                    .engine
                    .tag(run.node)
                    .and_then(|t| self.payloads.get(t as usize))
                    .cloned();
                let handle = match payload {
                    Some(Payload::Task(f)) => Ok(RunHandle::Task(spawn_task(&f, run, path, self.reports_tx.clone()))),
                    Some(Payload::Process(mut p)) => {
                        if let Some(c) = &self.control {
                            p.env.insert("VIGIL_SOCKET".to_owned(), c.socket.clone());
                            if let Some(token) = c.tokens.issue(run, &path) {
                                p.env.insert("VIGIL_TOKEN".to_owned(), token);
                            }
                        }
                        spawn_process(&p, run, &path, self.reports_tx.clone(), self.launch).map(|h| {
                            self.monitors.register(MonitoredRun {
                                run,
                                path: Arc::clone(&path),
                                pgid: h.pid(),
                                memory_limit: p.memory_limit,
                                started: tokio::time::Instant::now(),
                            });
                            RunHandle::Process(h)
                        })
                    }
                    None => Err(format!("nothing to run for {path}")),
                };
                match handle {
                    Ok(h) => {
                        if i >= self.runs.len() {
                            self.runs.resize_with(i + 1, || None);
                        }
                        self.runs[i] = Some((run, h));
                    }
                    Err(e) => {
                        let _ = self.reports_tx.send((run, Report::StartFailed(e)));
                    }
                }
            }
            Command::Stop(run) => match self.runs.get(i) {
                Some(Some((r, RunHandle::Task(t)))) if *r == run => t.stop.cancel(),
                Some(Some((r, RunHandle::Process(p)))) if *r == run => p.stop(),
                _ => {}
            },
            Command::Kill(run) => match self.runs.get(i) {
                Some(Some((r, RunHandle::Task(t)))) if *r == run => t.kill.cancel(),
                Some(Some((r, RunHandle::Process(p)))) if *r == run => p.kill(),
                _ => {}
            },
        }
    }
}

/// Shift every worker tag of `spec` (and its subtree) by `base`.
fn retag(spec: &mut vigil_core::ChildSpec, base: u64) {
    match &mut spec.kind {
        vigil_core::ChildKind::Worker => spec.tag += base,
        vigil_core::ChildKind::Supervisor(s) => {
            let s = Arc::make_mut(s);
            for c in &mut s.children {
                retag(c, base);
            }
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// The node a notice is mainly about.
fn notice_node(n: &Notice) -> Option<NodeId> {
    Some(match n {
        Notice::Spawn(r)
        | Notice::Stop(r)
        | Notice::Kill(r)
        | Notice::Started(r)
        | Notice::StartFailed(r, _)
        | Notice::Ready(r)
        | Notice::Heartbeat(r)
        | Notice::Exited(r, _)
        | Notice::Stale(r, _) => r.node,
        Notice::Timeout { run, .. } | Notice::Evicted { run, .. } => run.node,
        Notice::Restart { sup, .. }
        | Notice::GiveUp { sup }
        | Notice::SupStarting { sup }
        | Notice::SupStop { sup }
        | Notice::SupEnding { sup, .. }
        | Notice::SupStarted { sup }
        | Notice::SupExit { sup, .. } => *sup,
        Notice::Backoff { child, .. } | Notice::Removed { child } => *child,
        Notice::TreeDown { .. } | Notice::Request { .. } | Notice::Reply { .. } => return None,
    })
}

/// Whether [`log_notice`] logs `n` above debug level (so it always needs its path).
fn logged_above_debug(n: &Notice) -> bool {
    match n {
        Notice::Exited(_, reason) => !reason.is_normal(),
        Notice::Restart { .. }
        | Notice::GiveUp { .. }
        | Notice::Timeout { .. }
        | Notice::Evicted { .. }
        | Notice::SupExit { .. }
        | Notice::TreeDown { .. } => true,
        _ => false,
    }
}

/// Structured logs: restarts, give-ups and ends at info/warn, the rest at debug.
fn log_notice(path: &str, n: &Notice) {
    match n {
        Notice::Exited(r, reason) if !reason.is_normal() => {
            tracing::warn!(path, generation = r.generation, %reason, "exited")
        }
        Notice::Restart { strategy, .. } => tracing::info!(path, ?strategy, "restart"),
        Notice::GiveUp { .. } => tracing::error!(path, "gave up: restart intensity exceeded"),
        Notice::Timeout { run, reason } => tracing::warn!(path, generation = run.generation, %reason, "timeout"),
        Notice::Evicted { run, reason } => tracing::warn!(path, generation = run.generation, %reason, "evicted"),
        Notice::SupExit { reason, .. } => tracing::info!(path, %reason, "supervisor ended"),
        Notice::TreeDown { reason } => tracing::info!(%reason, "tree down"),
        other => tracing::debug!(path, notice = ?other, "event"),
    }
}

//! OS process children: one run is one process group.
//!
//! [`spawn_process`] starts the program of a [`ProcessSpec`] (argv, no shell)
//! in a new process group, and leaves a task that reports
//! [`RunnerReport::Started`] (or a failed start), waits for the program to exit,
//! kills whatever is left of its group, and reports exactly one
//! [`RunnerReport::Exited`]. The driver stops a run with [`ProcessHandle::stop`]
//! (SIGTERM to the group) and kills it with [`ProcessHandle::kill`] (SIGKILL
//! to the group, or through its guard). There are two ways to start the program, by [`Launch`]:
//!
//! # Under a process guard ([`Launch::Guarded`])
//!
//! The tree's process spawner ([`crate::spawner`], the running binary
//! executed once per tree) forks a guard ([`crate::guard`]) as the leader of
//! the new group; the guard spawns the program in its group, reports
//! through the spawner, and kills and reaps every descendant when its
//! control socket closes, that is when vigil or the spawner dies (even by
//! SIGKILL) or vigil kills the run. vigil holds no descriptor and no `Child`
//! for the guard: [`spawn_process`] writes the request, the spawner's task
//! hands the replies to the run's task. `Started` is reported when the
//! guard says the program runs; an exec failure becomes a failed start with
//! the same message as below. When the program ends, the guard kills and
//! reaps every other descendant and reports the program's wait status; the
//! spawner reaps the guard and only then passes the status on, so a run
//! reported ended leaves no process and no zombie. A Kill asks the guard to
//! end the run the same way (through the spawner); the group is SIGKILLed
//! by vigil only if the guard does not answer within [`GUARD_END_GRACE`],
//! or if the spawner died. The group survives nothing: not the program's
//! end, not vigil's death, not the spawner's.
//!
//! # Forked directly ([`Launch::Direct`], the fallback)
//!
//! Where the binary cannot serve as a guard (it does not call
//! [`crate::guard::enter_if_guard`]) or the tree turned guards off, the
//! program is the group leader, spawned with `PR_SET_PDEATHSIG = SIGKILL`, so
//! the kernel kills it when vigil dies, even by SIGKILL. `Started` is
//! reported as soon as it has exec'd. Three limits:
//!
//! - The signal fires when the *thread* that forked the child exits, not the
//!   process. [`spawn_process`] must therefore run on a thread that lives as
//!   long as the supervision: a tokio worker thread or the thread of a
//!   current-thread runtime (both live as long as the runtime), never a
//!   `spawn_blocking` thread (those exit after a few idle seconds, which would
//!   kill the child).
//! - It covers only the direct child (the group leader). When vigil is killed
//!   with SIGKILL, the leader dies, but its own children (the group's other
//!   members) are reparented to init or the nearest subreaper and keep
//!   running, unless the leader itself arranged otherwise; no vigil code runs
//!   any more to kill them. Whenever vigil is alive, by contrast, the rest of
//!   the group is SIGKILLed as soon as the leader exits, and when the tokio
//!   runtime is dropped with the run still going, the whole group is
//!   SIGKILLed. A descendant that moves itself to another process group or
//!   session (`setsid`, a daemonizing program) escapes all of this.
//! - The `pre_exec` hook that sets the signal makes the standard library
//!   `fork` instead of `posix_spawn`: a spawn costs O(vigil's resident
//!   memory), and blocks the driver meanwhile.
//!
//! The death signal is also cleared by the kernel when the child executes a
//! set-user-ID, set-group-ID or file-capability program.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;
use vigil_core::{ExitReason, RunId};

use crate::cgroup::RunCgroup;
use crate::guard;
use crate::identity::Identity;
use crate::notify::{NotifyPlan, NotifySocket};
use crate::output::{self, OutputMode};
use crate::probe::{HealthProbe, HealthState, ProbeCheck, ProbeLink, ProbePlan};
use crate::probe_exec::ExecProbe;
use crate::report::{ReportSender, RunnerReport};
use crate::spawner::{self, RunLink, Spawner};
use crate::spawner_protocol::{Reply, SpawnRequest, Stream};

/// How to run an OS process child: one run is one process group, stopped
/// with SIGTERM and killed with SIGKILL, and it dies with vigil.
///
/// ```
/// use vigil_tokio::{OutputMode, ProcessSpec};
///
/// let spec = ProcessSpec::new(["postgres", "-D", "data"])
///     .env("PGPORT", "5433")
///     .cwd("/var/lib/postgres")
///     .output(OutputMode::Files { dir: "logs".into() }) // logs/<path>.out.log and .err.log
///     .memory_limit(512 << 20);
/// assert_eq!(spec.command[0], "postgres");
/// assert_eq!(spec.env["PGPORT"], "5433");
/// ```
///
/// The fields are public too, for code that fills a spec from a config (as
/// `vigil run` does).
///
/// Whether a run speaks sd_notify is not part of this spec: it follows the
/// worker's readiness. A worker with `Readiness::Notify` gets a
/// `NOTIFY_SOCKET`, and its `READY=1`, `WATCHDOG=1` and `STATUS=` messages
/// become reports; any other worker gets none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcessSpec {
    /// The program and its arguments, executed directly (no shell). The
    /// program is looked up in `PATH` when it has no `/`.
    pub command: Vec<String>,
    /// Variables added to (or overriding) vigil's own environment. vigil adds
    /// `VIGIL_PATH` (the worker's path), `VIGIL_GENERATION` (the run's
    /// generation) and, for a `notify` worker, `NOTIFY_SOCKET`; vigil's own
    /// `NOTIFY_SOCKET` (if vigil runs under systemd) is never passed on.
    pub env: BTreeMap<String, String>,
    /// The working directory; vigil's own if `None`.
    pub cwd: Option<PathBuf>,
    /// Where stdout and stderr go (stdin is always `/dev/null`).
    pub output: OutputMode,
    /// The most memory (PSS where readable, else RSS, summed over the run's
    /// process group) a run may use; over it, the memory monitor has the
    /// engine restart the run with reason `memory`.
    pub memory_limit: Option<u64>,
    // PROBES:
    /// The run's health probe (src/probe.rs), run from its start to its
    /// stop; `None`: not probed.
    pub health: Option<HealthProbe>,
    /// User, group, umask, resource and cgroup limits, environment files
    /// and a cleared environment ([`Identity`]); the default changes
    /// nothing. Resolved at each start: a problem is a failed start.
    pub identity: Box<Identity>,
    /// LIFECYCLE: the stop and reload signals and the exit-code policy
    /// (default: SIGTERM, no reload signal, only 0 is normal).
    pub lifecycle: crate::lifecycle::Lifecycle,
}

impl ProcessSpec {
    /// A spec running `command` (the program, then its arguments) with the
    /// defaults: vigil's environment and working directory, output forwarded
    /// to `tracing` ([`OutputMode::Tracing`]), no memory limit.
    #[must_use]
    pub fn new<I, S>(command: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ProcessSpec {
            command: command.into_iter().map(Into::into).collect(),
            env: BTreeMap::new(),
            cwd: None,
            output: OutputMode::default(),
            memory_limit: None,
            health: None,
            identity: Box::default(),
            lifecycle: crate::lifecycle::Lifecycle::default(),
        }
    }

    /// Set the variable `key` to `value` in the run's environment, over
    /// vigil's own. Default: vigil's environment unchanged (plus the
    /// `VIGIL_*` variables, see [`ProcessSpec::env`](#structfield.env)).
    #[must_use]
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(key.into(), value.into());
        self
    }

    /// Run in `dir`. Default: vigil's own working directory.
    #[must_use]
    pub fn cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Where stdout and stderr go. Default: [`OutputMode::Tracing`].
    #[must_use]
    pub fn output(mut self, output: OutputMode) -> Self {
        self.output = output;
        self
    }

    /// Who and what the program runs as (see
    /// [`ProcessSpec::identity`](#structfield.identity)). Default: vigil's own.
    #[must_use]
    pub fn identity(mut self, identity: Identity) -> Self {
        self.identity = Box::new(identity);
        self
    }

    /// The most memory a run may use, in bytes (see
    /// [`ProcessSpec::memory_limit`](#structfield.memory_limit)). Default: no limit.
    #[must_use]
    pub fn memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// Probe the run's health with `probe` (see [`HealthProbe`]). Default:
    /// not probed.
    #[must_use]
    pub fn health(mut self, probe: HealthProbe) -> Self {
        self.health = Some(probe);
        self
    }
}

/// The driver's grip on a running process child: signals to its process
/// group, and its notify socket. Cloning it is cheap; every clone controls
/// the same run.
#[derive(Clone, Debug)]
pub(crate) struct ProcessHandle {
    group: Arc<ProcessGroup>,
    notify: Option<Arc<NotifySocket>>,
    /// The run's health probe task, if it has a probe.
    probe: Option<Arc<ProbeLink>>,
    /// Sent to the group by [`ProcessHandle::stop`].
    stop_signal: Signal,
}

impl ProcessHandle {
    /// The process id of the group leader (also the process group id); 0
    /// while a guarded run has not started yet.
    pub(crate) fn pid(&self) -> u32 {
        self.group.pgid.load(Ordering::Acquire) as u32
    }

    /// The program's own pid (with a guard, not the guard's); `None` while
    /// it has not started, and once the run is finished.
    pub(crate) fn main_pid(&self) -> Option<u32> {
        let finished = self.group.finished.lock().unwrap_or_else(PoisonError::into_inner);
        let pid = self.group.main.load(Ordering::Acquire);
        (!*finished && pid > 0).then_some(pid as u32)
    }

    /// The guard's pid, for a guarded run that has started.
    pub(crate) fn guard_pid(&self) -> Option<u32> {
        (self.group.guarded && self.pid() > 0).then(|| self.pid())
    }

    /// Ask the run to stop: its stop signal (SIGTERM unless the spec says
    /// otherwise) to every process of its group. Harmless (and does
    /// nothing) once the run has exited; may be repeated.
    pub(crate) fn stop(&self) {
        self.end_probe();
        tracing::debug!(target: "vigil::process", path = &*self.group.path, generation = self.group.generation,
            pid = self.pid(), "{} to the process group", self.stop_signal.as_str());
        self.group.signal(self.stop_signal);
    }

    /// Send `signal` to the program's main process, or with `group` to every
    /// process of the run's group (its guard blocks every signal it can).
    /// `Ok(false)`: the run has not started or is over (nothing was sent).
    pub(crate) fn send(&self, signal: Signal, group: bool) -> Result<bool, Errno> {
        let finished = self.group.finished.lock().unwrap_or_else(PoisonError::into_inner);
        let pid = if group {
            self.group.pgid.load(Ordering::Acquire)
        } else {
            self.group.main.load(Ordering::Acquire)
        };
        if *finished || pid <= 0 {
            return Ok(false);
        }
        let sent = if group {
            killpg(Pid::from_raw(pid), signal)
        } else {
            nix::sys::signal::kill(Pid::from_raw(pid), signal)
        };
        match sent {
            Ok(()) => Ok(true),
            // Between its end and the report of it.
            Err(Errno::ESRCH) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Kill the run. Without a guard: SIGKILL to every process of its group.
    /// With one: the run's task asks the spawner to end the run
    /// ([`RunLink::kill`]), and SIGKILLs the group only if
    /// the guard has not reported the end within [`GUARD_END_GRACE`].
    /// Harmless (and does nothing) once the run has exited; may be repeated.
    pub(crate) fn kill(&self) {
        self.end_probe();
        if self.group.guarded {
            tracing::debug!(target: "vigil::process", path = &*self.group.path, generation = self.group.generation,
                guard = self.pid(), "asking the guard to end the run");
            self.group.end_asked.cancel();
            return;
        }
        tracing::debug!(target: "vigil::process", path = &*self.group.path, generation = self.group.generation,
            pid = self.pid(), "SIGKILL to the process group");
        self.group.signal(Signal::SIGKILL);
    }

    /// End the run's probe task (a stopping run is never probed).
    fn end_probe(&self) {
        if let Some(probe) = &self.probe {
            probe.end();
        }
    }

    /// The run's health as its probe last saw it (`starting`, `healthy`,
    /// `unhealthy (2/3): <detail>`); `None` for a run without a probe. For
    /// `ctl status`.
    pub(crate) fn health(&self) -> Option<HealthState> {
        self.probe.as_ref().map(|p| p.state())
    }

    /// Report the notifications already waiting in the run's notify socket
    /// (see [`NotifySocket::deliver_queued`]); nothing for a run without one.
    pub(crate) fn deliver_queued_notifications(&self) {
        if let Some(socket) = &self.notify {
            socket.deliver_queued();
        }
    }
}

/// How long a guard asked to end its run (a Kill) may take to report the
/// end before vigil SIGKILLs the whole group, guard included. A guard
/// normally answers within milliseconds; this only covers one that is
/// stopped or stuck.
pub(crate) const GUARD_END_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// A run's process group, and whether it is finished (its leader reaped and
/// the rest killed), after which its id must no longer be signalled: it may be
/// reused by an unrelated group.
#[derive(Debug)]
struct ProcessGroup {
    /// The group's id; 0 while a guarded run's guard has not said it runs
    /// (nothing is signalled then).
    pgid: AtomicI32,
    /// The program's pid (the leader's without a guard); 0 until known.
    main: AtomicI32,
    finished: Mutex<bool>,
    path: Arc<str>,
    generation: u64,
    /// The run has a guard: a Kill asks it to end the run.
    guarded: bool,
    /// A Kill asked the guard to end the run (starts [`GUARD_END_GRACE`]).
    end_asked: tokio_util::sync::CancellationToken,
}

impl ProcessGroup {
    fn new(pgid: i32, path: &Arc<str>, generation: u64, guarded: bool) -> Arc<ProcessGroup> {
        Arc::new(ProcessGroup {
            pgid: AtomicI32::new(pgid),
            main: AtomicI32::new(pgid),
            finished: Mutex::new(false),
            path: Arc::clone(path),
            generation,
            guarded,
            end_asked: tokio_util::sync::CancellationToken::new(),
        })
    }

    /// The group is gone (its guard killed and reaped every member): forget
    /// its id without signalling it.
    fn forget(&self) {
        *self.finished.lock().unwrap_or_else(PoisonError::into_inner) = true;
    }

    fn signal(&self, signal: Signal) {
        let finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
        if !*finished {
            self.send(signal);
        }
    }

    /// SIGKILL whatever is left of the group (once) and forget the group id.
    fn finish(&self) {
        let mut finished = self.finished.lock().unwrap_or_else(PoisonError::into_inner);
        if !*finished {
            self.send(Signal::SIGKILL);
            *finished = true;
        }
    }

    fn send(&self, signal: Signal) {
        let pgid = self.pgid.load(Ordering::Acquire);
        if pgid <= 0 {
            // Not known yet (`killpg(0)` would signal vigil's own group).
            return;
        }
        match killpg(Pid::from_raw(pgid), signal) {
            // ESRCH: nobody is left in the group.
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => tracing::warn!(target: "vigil::process", path = &*self.path, generation = self.generation,
                pgid, signal = signal.as_str(), error = %e,
                "cannot signal the process group"),
        }
    }
}

/// Kills the group if the waiting task is dropped before it finished (the
/// runtime shutting down under a running child).
struct FinishOnDrop(Arc<ProcessGroup>);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// Start one run of `spec` in a new process group, for the worker at `path`
/// whose readiness is `readiness` (`Notify`: the run speaks sd_notify), as
/// `launch` says (with [`Launch::Guarded`], through the tree's `spawner`).
/// Must be called from a task of a tokio runtime; with [`Launch::Direct`],
/// on a thread that lives as long as the runtime (see the module docs).
///
/// On success a task sends [`RunnerReport::Started`] (at once with
/// [`Launch::Direct`], once the guard has spawned the program with
/// [`Launch::Guarded`]), [`RunnerReport::Ready`] / [`RunnerReport::Heartbeat`] /
/// [`RunnerReport::Status`] (with `Readiness::Notify`) and finally exactly one
/// [`RunnerReport::Exited`], after the program exited and the rest of its group was
/// SIGKILLed. With [`Launch::Guarded`], a program that cannot be spawned gets
/// a [`RunnerReport::StartFailed`] instead of `Started`, and nothing after it
/// (so does a run whose spawner died before it started); a guard killed
/// before it spawned the program gets only `Exited`.
///
/// | how the program ended | reason |
/// |---|---|
/// | exit code 0 | `Normal` |
/// | exit code N | `Error("exit code N")` |
/// | SIGKILL | `Killed` |
/// | SIGTERM | `Shutdown("")` (it was asked to stop) |
/// | any other signal | `Error("signal SIGSEGV")` etc. |
/// | its spawner died (guarded) | `Error("process spawner died")` |
///
/// On failure (empty command, missing program without the guard, a spawner
/// that cannot be started, log files, output pipes or notify socket that
/// cannot be created) nothing was started and no report was sent; the
/// error says why.
pub(crate) fn spawn_process(
    spec: &ProcessSpec,
    plan: impl Into<NotifyPlan>,
    run: RunId,
    path: &str,
    reports: ReportSender,
    launch: Launch,
    spawner: &Spawner,
) -> Result<ProcessHandle, String> {
    let Some((program, args)) = spec.command.split_first() else {
        return Err("empty command".to_owned());
    };
    let plan = plan.into();
    let started =
        crate::identity::start_setup(&spec.identity, path).map_err(|e| format!("cannot start `{program}`: {e}"))?;
    match launch {
        Launch::Direct => spawn_direct(spec, plan, run, path, reports, (program, args), started),
        Launch::Guarded => spawn_guarded(spec, plan, run, path, reports, spawner, started),
    }
}

/// [`spawn_process`] with [`Launch::Direct`].
fn spawn_direct(
    spec: &ProcessSpec,
    plan: NotifyPlan,
    run: RunId,
    path: &str,
    reports: ReportSender,
    (program, args): (&String, &[String]),
    started: crate::identity::StartSetup,
) -> Result<ProcessHandle, String> {
    let mut command = command(spec, program, args, run, path, &started)?;
    let owner = started.owner();
    let cgroup = started.apply_to_command(&mut command)?;
    let notify = if plan.socket {
        let socket = notify_socket(run, path, &reports, plan.accept_ready, owner)?;
        command.env("NOTIFY_SOCKET", socket.path());
        Some(socket)
    } else {
        None
    };
    if let Some(usec) = plan.watchdog_usec() {
        command.env("WATCHDOG_USEC", usec);
    }
    die_with_parent(&mut command);
    // Registered under the spawn's own lock (own_children.rs): a reaper
    // acting as init never takes this child's exit status.
    let spawned = crate::own_children::spawn_registered(
        || command.spawn(),
        // `id` is `None` only once the child has been waited for, which
        // nothing has done yet.
        |child| child.id().unwrap_or(0),
    );
    // An error of the forked child is one of vigil's descriptor table too
    // (the child is a copy of it until exec).
    let (mut child, own) = spawned.map_err(|e| spawn_failure(path, &e, format!("cannot start `{program}`: {e}")))?;
    // `id` is `None` only once the child has been waited for, which nothing
    // has done yet.
    let pid = child.id().expect("a child that was never waited for has a pid");
    let path: Arc<str> = Arc::from(path);
    // The leader's pid is its group's id (`process_group(0)`).
    let group = ProcessGroup::new(pid as i32, &path, run.generation, false);
    output::forward(&mut child, &spec.output, &path, run.generation);
    tracing::debug!(target: "vigil::process", path = &*path, generation = run.generation, pid, "process started");
    let _ = reports.send((run, RunnerReport::Started));
    let probe = probe_plan(spec, run, &path, &reports);
    let handle = ProcessHandle {
        group: Arc::clone(&group),
        notify: notify.clone(),
        probe: probe.as_ref().map(|p| Arc::clone(&p.link)),
        stop_signal: spec.lifecycle.stop_signal.os(),
    };
    // Probed from now (the run is up) until the run's task ends.
    let probing = probe.map(ProbePlan::start);
    tokio::spawn(async move {
        // Unregistered only once the run's task has waited for the child.
        let _own = own;
        let _probing = probing;
        watch_direct(child, notify, FinishOnDrop(group), run, reports, cgroup).await;
    });
    Ok(handle)
}

/// [`spawn_process`] with [`Launch::Guarded`]: the request to the tree's
/// spawner, and the task that waits for its replies.
fn spawn_guarded(
    spec: &ProcessSpec,
    plan: NotifyPlan,
    run: RunId,
    path: &str,
    reports: ReportSender,
    spawner: &Spawner,
    started: crate::identity::StartSetup,
) -> Result<ProcessHandle, String> {
    let program = spec.command[0].clone();
    let mut request = SpawnRequest {
        argv: spec.command.clone(),
        env_remove: NOT_INHERITED.iter().map(|k| (*k).to_owned()).collect(),
        cwd: spec.cwd.clone(),
        slot: Some(path.to_owned()),
        ..SpawnRequest::default()
    };
    let owner = started.owner();
    let cgroup = started.apply_to_request(&mut request);
    request.env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    request.env.push(("VIGIL_PATH".to_owned(), path.to_owned()));
    request
        .env
        .push(("VIGIL_GENERATION".to_owned(), run.generation.to_string()));
    let notify = if plan.socket {
        let socket = notify_socket(run, path, &reports, plan.accept_ready, owner)?;
        let socket_path = socket.path().to_string_lossy().into_owned();
        request.env.push(("NOTIFY_SOCKET".to_owned(), socket_path));
        Some(socket)
    } else {
        None
    };
    if let Some(usec) = plan.watchdog_usec() {
        request.env.push(("WATCHDOG_USEC".to_owned(), usec));
        // The program's own pid, set in its process before `exec`
        // (src/spawn_setup.rs).
        request.setup.watchdog_pid = true;
    }
    let (fds, pipes) = output_streams(&spec.output, path, &mut request)?;
    let link = spawner.spawn(request, fds).map_err(|e| {
        let m = format!(
            "cannot start `{program}`: cannot start the process spawner `{}`: {e}",
            guard::GUARD_EXE
        );
        spawn_failure(path, &e, m)
    })?;
    let path: Arc<str> = Arc::from(path);
    if let Some((stdout, stderr)) = pipes {
        output::forward_streams(Some(stdout), Some(stderr), &spec.output, &path, run.generation);
    }
    // The group is known once the guard runs (`started`).
    let group = ProcessGroup::new(0, &path, run.generation, true);
    let probe = probe_plan(spec, run, &path, &reports);
    let handle = ProcessHandle {
        group: Arc::clone(&group),
        notify: notify.clone(),
        probe: probe.as_ref().map(|p| Arc::clone(&p.link)),
        stop_signal: spec.lifecycle.stop_signal.os(),
    };
    tokio::spawn(watch_guarded(GuardedRun {
        link,
        notify,
        finish: FinishOnDrop(group),
        run,
        program,
        reports,
        probe: probe.map(Box::new),
        cgroup: cgroup.map(Box::new),
    }));
    Ok(handle)
}

/// The read ends of a run's output pipes ([`OutputMode::Tracing`], [`OutputMode::Log`]).
type Pipes = (pipe::Receiver, pipe::Receiver);

/// Set the output streams of `request` for `mode`: the descriptors to pass
/// with it (closed in vigil once sent), and the read ends of the pipes
/// vigil forwards to `tracing`.
fn output_streams(
    mode: &OutputMode,
    path: &str,
    request: &mut SpawnRequest,
) -> Result<(Vec<OwnedFd>, Option<Pipes>), String> {
    let request_program = request.argv.first().cloned().unwrap_or_default();
    let (stream, fds, pipes) = match mode {
        OutputMode::Inherit => (Stream::Inherit, Vec::new(), None),
        OutputMode::Null => (Stream::Null, Vec::new(), None),
        OutputMode::Files { dir } => {
            let (out, err) = output::log_files(dir, path)
                .map_err(|e| spawn_failure(path, &e, format!("cannot open the output files of `{path}`: {e}")))?;
            (Stream::Passed, vec![OwnedFd::from(out), OwnedFd::from(err)], None)
        }
        OutputMode::Tracing | OutputMode::Log(_) => {
            let failed = |e: std::io::Error| {
                spawn_failure(
                    path,
                    &e,
                    format!(
                        "cannot start `{}`: cannot create its output pipes: {e}",
                        request_program
                    ),
                )
            };
            let pipe = || nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| failed(e.into()));
            let ((out_r, out_w), (err_r, err_w)) = (pipe()?, pipe()?);
            let readers = (
                pipe::Receiver::from_owned_fd(out_r).map_err(failed)?,
                pipe::Receiver::from_owned_fd(err_r).map_err(failed)?,
            );
            (Stream::Passed, vec![out_w, err_w], Some(readers))
        }
    };
    request.stdout = stream;
    request.stderr = stream;
    Ok((fds, pipes))
}

/// The command that starts one run of `spec` (`program` and its `args`)
/// directly: its environment, working directory and output, in a new
/// process group.
fn command(
    spec: &ProcessSpec,
    program: &str,
    args: &[String],
    run: RunId,
    path: &str,
    started: &crate::identity::StartSetup,
) -> Result<Command, String> {
    let mut command = Command::new(program);
    if started.clear_env() {
        command.env_clear();
    }
    command.args(args).stdin(Stdio::null());
    for k in NOT_INHERITED {
        command.env_remove(k);
    }
    command
        .envs(started.env().iter().map(|(k, v)| (k, v)))
        .envs(&spec.env)
        .env("VIGIL_PATH", path)
        .env("VIGIL_GENERATION", run.generation.to_string())
        .process_group(0)
        .kill_on_drop(false);
    if let Some(cwd) = &spec.cwd {
        command.current_dir(cwd);
    }
    let (stdout, stderr) = output::child_stdio(&spec.output, path)
        .map_err(|e| spawn_failure(path, &e, format!("cannot open the output files of `{path}`: {e}")))?;
    command.stdout(stdout).stderr(stderr);
    Ok(command)
}

/// vigil's own variables (set when vigil runs under systemd) that no child
/// inherits: a child gets its own `NOTIFY_SOCKET` and `WATCHDOG_USEC` from
/// its [`NotifyPlan`], or none. An inherited `WATCHDOG_PID` (vigil's pid)
/// would turn a libsystemd program's watchdog off.
const NOT_INHERITED: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/// The probe plan of a run of `spec`, if it has a probe.
fn probe_plan(spec: &ProcessSpec, run: RunId, path: &Arc<str>, reports: &ReportSender) -> Option<ProbePlan> {
    let probe = spec.health.as_ref()?;
    let exec = match &probe.check {
        ProbeCheck::Exec(argv) => {
            let env = spec.env.iter().map(|(k, v)| (k.clone(), v.clone())).chain([
                ("VIGIL_PATH".to_owned(), path.to_string()),
                ("VIGIL_GENERATION".to_owned(), run.generation.to_string()),
            ]);
            Some(ExecProbe::new(argv, env, spec.cwd.clone()))
        }
        _ => None,
    };
    Some(ProbePlan::new(probe, exec, run, path, reports))
}

/// The run's notify socket.
fn notify_socket(
    run: RunId,
    path: &str,
    reports: &ReportSender,
    accept_ready: bool,
    owner: Option<(u32, u32)>,
) -> Result<Arc<NotifySocket>, String> {
    let socket = NotifySocket::bind(run, Arc::from(path), reports.clone(), accept_ready, owner)
        .map_err(|e| spawn_failure(path, &e, format!("cannot create the notify socket: {e}")))?;
    Ok(Arc::new(socket))
}

/// The task behind one direct run: serve the notify socket, wait for the
/// leader's end, kill the rest of its group, and report exactly one exit.
async fn watch_direct(
    mut child: Child,
    notify: Option<Arc<NotifySocket>>,
    finish: FinishOnDrop,
    run: RunId,
    reports: ReportSender,
    cgroup: Option<RunCgroup>,
) {
    let group = &finish.0;
    let ended = async {
        let status = child.wait().await;
        // The leader is reaped: kill the rest of its group at once, so that
        // no descendant outlives its run (nor notifies for it).
        group.finish();
        let reason = waited_reason(status);
        match cgroup {
            Some(cgroup) => cgroup.finish(reason),
            None => reason,
        }
    };
    report_exit(ended, notify, &group.path, run, &reports).await;
}

/// Serve the run's notify socket (if it has one) until `ended`, then report
/// the run's one `Exited` with the reason `ended` gave.
async fn report_exit(
    ended: impl std::future::Future<Output = ExitReason>,
    notify: Option<Arc<NotifySocket>>,
    path: &str,
    run: RunId,
    reports: &ReportSender,
) {
    let reason = match &notify {
        Some(socket) => socket.serve_until(ended).await,
        None => ended.await,
    };
    drop(notify);
    tracing::debug!(target: "vigil::process", path, generation = run.generation, reason = %reason, "process exited");
    let _ = reports.send((run, RunnerReport::Exited(reason)));
}

/// How a run's process is started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Launch {
    /// Forked directly, with `PR_SET_PDEATHSIG` (see the module docs).
    Direct,
    /// By a guard that the tree's process spawner forks (see [`crate::spawner`]).
    Guarded,
}

/// What the task watching one guarded run owns.
struct GuardedRun {
    link: RunLink,
    notify: Option<Arc<NotifySocket>>,
    finish: FinishOnDrop,
    run: RunId,
    program: String,
    reports: ReportSender,
    /// The run's probe, started once the guard says the program runs
    /// (boxed, like the cgroup: most runs have neither, and this struct
    /// lives in every idle run's task).
    probe: Option<Box<ProbePlan>>,
    /// The run's cgroup (cgroup limits): removed once the run ended.
    cgroup: Option<Box<RunCgroup>>,
}

/// The task behind one guarded run: report the start once the guard says
/// the program runs, serve the notify socket, wait for the end, and report
/// exactly one exit once nothing of the run is left (see [`spawn_process`]).
async fn watch_guarded(w: GuardedRun) {
    let GuardedRun {
        mut link,
        notify,
        finish,
        run,
        program,
        reports,
        probe,
        cgroup,
    } = w;
    let group = &finish.0;
    // Started (or not) once the guard says so: nothing else, notify
    // datagrams included, may be reported before.
    let started = (&mut link.started).await;
    if let Ok((guard, _)) = &started {
        // The guard's pid is its group's id (0: no guard was forked).
        group.pgid.store(*guard as i32, Ordering::Release);
    }
    match started {
        Ok((guard, Reply::Started(pid))) => {
            group.main.store(pid as i32, Ordering::Release);
            tracing::debug!(target: "vigil::process", path = &*group.path, generation = run.generation, guard, pid,
                "process started under its guard");
            let _ = reports.send((run, RunnerReport::Started));
        }
        other => {
            drop(probe);
            let report = start_failure(other, &program);
            group.forget();
            tracing::debug!(target: "vigil::process", path = &*group.path, generation = run.generation,
                report = ?report, "the guard did not start the process");
            let _ = reports.send((run, report));
            return;
        }
    }
    // Probed from now (the run is up) until this task ends.
    let _probing = probe.map(|p| ProbePlan::start(*p));
    let ended = async {
        let reason = guarded_end(&mut link, group).await;
        match cgroup {
            Some(cgroup) => cgroup.finish(reason),
            None => reason,
        }
    };
    report_exit(ended, notify, &group.path, run, &reports).await;
}

/// The report that replaces `Started` when the spawner's first reply about
/// a run is not `started`.
fn start_failure(reply: Result<(u32, Reply), oneshot::error::RecvError>, program: &str) -> RunnerReport {
    match reply.map(|(_, reply)| reply) {
        Ok(Reply::ExecFailed(errno)) => RunnerReport::StartFailed(format!(
            "cannot start `{program}`: {}",
            std::io::Error::from_raw_os_error(errno)
        )),
        Ok(Reply::Failed(message)) => {
            RunnerReport::StartFailed(format!("cannot start `{program}`: process guard: {message}"))
        }
        // The guard died before starting anything (killed, most likely).
        Ok(Reply::GuardDied(raw) | Reply::Status(raw)) => RunnerReport::Exited(exit_reason(ExitStatus::from_raw(raw))),
        Ok(Reply::Started(_)) | Err(_) => {
            RunnerReport::StartFailed(format!("cannot start `{program}`: {}", spawner::SPAWNER_DIED))
        }
    }
}

/// Wait for the program's end: the spawner's last reply about the run,
/// sent once the guard has killed and reaped every other descendant and
/// the spawner has reaped the guard (or, for a guard that died, SIGKILLed
/// its group). A run asked to end (a Kill) whose guard has not answered
/// within [`GUARD_END_GRACE`] has its group SIGKILLed, guard included. A
/// spawner that died leaves the group to be SIGKILLed here (its guard
/// kills it too).
async fn guarded_end(link: &mut RunLink, group: &ProcessGroup) -> ExitReason {
    let mut asked = false;
    let grace = tokio::time::sleep(GUARD_END_GRACE);
    tokio::pin!(grace);
    let reply = loop {
        tokio::select! {
            reply = &mut link.end => break reply,
            () = group.end_asked.cancelled(), if !asked => {
                asked = true;
                // The guard's pid is the group's id, known since `started`.
                link.kill(group.pgid.load(Ordering::Acquire) as u32);
                grace.as_mut().reset(tokio::time::Instant::now() + GUARD_END_GRACE);
            }
            () = &mut grace, if asked => {
                tracing::warn!(target: "vigil::process", path = &*group.path, generation = group.generation,
                    "the guard did not end the run within {GUARD_END_GRACE:?}: SIGKILL to its process group");
                group.finish();
                break (&mut link.end).await;
            }
        }
    };
    match reply.map(|(_, reply)| reply) {
        Ok(Reply::Status(raw) | Reply::GuardDied(raw)) => {
            group.forget();
            exit_reason(ExitStatus::from_raw(raw))
        }
        Ok(Reply::Failed(message)) => {
            group.forget();
            ExitReason::Error(format!("process guard: {message}"))
        }
        Ok(Reply::ExecFailed(errno)) => {
            group.forget();
            ExitReason::Error(std::io::Error::from_raw_os_error(errno).to_string())
        }
        Ok(Reply::Started(_)) | Err(_) => {
            group.finish();
            ExitReason::Error(spawner::SPAWNER_DIED.to_owned())
        }
    }
}

fn waited_reason(status: std::io::Result<ExitStatus>) -> ExitReason {
    match status {
        Ok(status) => exit_reason(status),
        Err(e) => ExitReason::Error(format!("cannot wait for the process: {e}")),
    }
}

/// Make the child die (SIGKILL) when the thread that forks it exits.
fn die_with_parent(command: &mut Command) {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe functions may be called. It calls `prctl` and
    // `getppid` (plain system calls) and builds an `io::Error` from errno
    // (no allocation); it touches no lock, no allocator and no shared state.
    #[allow(unsafe_code)]
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            // vigil may have died between fork and prctl; the death signal
            // would then never come. Refuse to run an orphan.
            if libc::getppid() != parent {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
}

/// The exit reason of a leader that ended with `status` (see
/// [`spawn_process`] for the table).
pub(crate) fn exit_reason(status: ExitStatus) -> ExitReason {
    if let Some(code) = status.code() {
        return if code == 0 {
            ExitReason::Normal
        } else {
            ExitReason::Error(format!("exit code {code}"))
        };
    }
    match status.signal() {
        Some(libc::SIGKILL) => ExitReason::Killed,
        Some(libc::SIGTERM) => ExitReason::Shutdown(String::new()),
        Some(number) => ExitReason::Error(format!("signal {}", signal_name(number))),
        None => ExitReason::Error(status.to_string()),
    }
}

fn signal_name(number: i32) -> String {
    Signal::try_from(number)
        .map(|signal| signal.as_str().to_owned())
        .unwrap_or_else(|_| number.to_string())
}

/// The failed-start reason for a spawn of the worker at `path` that failed
/// with `error` in vigil itself (`message` says what failed). Out of
/// descriptors (`EMFILE`: vigil's limit; `ENFILE`: the system's file
/// table) is a distinct condition: logged at error level with the limit,
/// and the reason starts with `vigil is out of file descriptors`
/// (docs/ADAPTER.md, "Descriptor and memory cost").
fn spawn_failure(path: &str, error: &std::io::Error, message: String) -> String {
    match error.raw_os_error() {
        Some(libc::EMFILE) => {
            let limit = match nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE) {
                Ok((soft, _)) => soft.to_string(),
                Err(_) => "unknown".to_owned(),
            };
            tracing::error!(
                path,
                limit = %limit,
                "vigil is out of file descriptors (EMFILE): it cannot start a child; raise its open-files \
                 limit (`ulimit -n`, LimitNOFILE=) or close control connections"
            );
            format!("vigil is out of file descriptors (its limit is {limit}): {message}")
        }
        Some(libc::ENFILE) => {
            tracing::error!(
                path,
                "the system is out of file descriptors (ENFILE: the kernel's file table is full): vigil \
                 cannot start a child"
            );
            format!("vigil is out of file descriptors (the system's file table is full): {message}")
        }
        _ => message,
    }
}

#[cfg(test)]
mod spawn_failure_tests {
    use super::spawn_failure;

    #[test]
    fn out_of_descriptors_is_a_distinct_reason() {
        let emfile = std::io::Error::from_raw_os_error(libc::EMFILE);
        let r = spawn_failure("w", &emfile, format!("cannot start `x`: {emfile}"));
        assert!(r.starts_with("vigil is out of file descriptors (its limit is "), "{r}");
        assert!(r.ends_with("Too many open files (os error 24)"), "{r}");
        let enfile = std::io::Error::from_raw_os_error(libc::ENFILE);
        let r = spawn_failure("w", &enfile, "m".into());
        assert!(r.contains("system's file table is full"), "{r}");
        let enoent = std::io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(spawn_failure("w", &enoent, "m".into()), "m");
    }
}

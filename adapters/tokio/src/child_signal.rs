//! Signals an operator sends to a process child's program
//! ([`TreeHandle::signal_child`], [`TreeHandle::reload_child`]; `vigil ctl
//! signal` and `vigil ctl reload PATH`), and what the driver reads of its
//! live runs for `status` ([`RunFacts`]).

use std::borrow::Cow;

use tokio::sync::oneshot;
use vigil_core::{Engine, Instant, RunId};

use crate::handle::TreeHandle;
use crate::lifecycle::ChildSignal;
use crate::message::Msg;
use crate::probe::HealthState;

/// Which processes of a run a signal goes to (systemd's `--kill-whom`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SignalTarget {
    /// The program's main process only (with a guard, the program, not the
    /// guard): what a reload needs, since a program's workers may not
    /// expect the signal.
    #[default]
    Main,
    /// Every process of the run's process group (the guard blocks the
    /// signals it can; `SIGSTOP` stops it too, until `SIGCONT`).
    Group,
}

/// Why a signal was not sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignalError {
    /// No node at the path.
    #[error("no child at `{0}`")]
    NotFound(String),
    /// A supervisor has no program to signal.
    #[error("`{0}` is a supervisor: signal its process children one by one")]
    Supervisor(String),
    /// The child is not a process (a task or blocking child).
    #[error("`{0}` is not a process child: only OS processes take signals")]
    NotAProcess(String),
    /// The child has no running program now.
    #[error("`{0}` is not running (its program has not started, or has ended)")]
    NotRunning(String),
    /// `reload_child` on a child without a reload signal.
    #[error("`{0}` has no reload signal: give it one (`reload_signal = \"SIGHUP\"`), or send a signal with `vigil ctl signal`")]
    NoReloadSignal(String),
    /// The kernel refused (`EPERM`: the program changed its user).
    #[error("cannot signal `{path}`: {error}")]
    Os {
        /// The child.
        path: String,
        /// What the kernel said.
        error: String,
    },
    /// The tree is down.
    #[error("the tree is down")]
    TreeDown,
}

impl SignalError {
    /// A short error code for the control protocol.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            SignalError::NotFound(_) => "not_found",
            SignalError::Supervisor(_) => "not_a_worker",
            SignalError::NotAProcess(_) => "not_a_process",
            SignalError::NotRunning(_) => "not_running",
            SignalError::NoReloadSignal(_) => "no_reload_signal",
            SignalError::Os { .. } => "signal_failed",
            SignalError::TreeDown => "tree_down",
        }
    }
}

/// A signal for the driver to send: `None` is the child's reload signal.
pub(crate) struct SignalMsg {
    pub(crate) path: String,
    pub(crate) signal: Option<ChildSignal>,
    pub(crate) target: SignalTarget,
    /// The signal sent, and the pid it went to (the group's id for `Group`).
    pub(crate) reply: oneshot::Sender<Result<(ChildSignal, u32), SignalError>>,
}

/// The pids and health of one live run, for `status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RunFacts {
    pub(crate) run: RunId,
    /// The program's pid (process runs).
    pub(crate) pid: Option<u32>,
    /// Its guard's pid (guarded process runs).
    pub(crate) guard_pid: Option<u32>,
    pub(crate) health: Health,
    /// Why its health probe last failed, while it is failing.
    pub(crate) health_detail: Option<String>,
    /// The run waits out its `start_delay` (no program yet).
    pub(crate) delayed: bool,
}

/// A run's health as `status` shows it: from its heartbeats
/// (`health_timeout`) and its health probe (`health`, src/probe.rs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Health {
    /// No health check (no `health_timeout`, no probe), or the run is not up.
    None,
    /// Its heartbeat deadline is more than half its `health_timeout` away,
    /// or its last probe passed.
    Healthy,
    /// Less than half its `health_timeout` is left before the engine
    /// stops it with reason `health`.
    Late,
    /// Its probe has neither passed nor counted a failure yet.
    Starting,
    /// Its last `failures` probes failed; at `retries` it is stopped with
    /// reason `health`.
    Failing {
        /// Consecutive failures so far.
        failures: u32,
        /// The failures that make it unhealthy.
        retries: u32,
    },
}

impl Health {
    /// The run `run`'s health at `now`, from its heartbeat deadline.
    pub(crate) fn of(engine: &Engine, run: RunId, now: Instant) -> Health {
        match engine.health_deadline(run.node) {
            Some((deadline, timeout)) => {
                let left = deadline.as_nanos().saturating_sub(now.as_nanos());
                let half = u64::try_from(timeout.as_nanos() / 2).unwrap_or(u64::MAX);
                if left > half {
                    Health::Healthy
                } else {
                    Health::Late
                }
            }
            None => Health::None,
        }
    }

    /// This heartbeat health together with the run's probe state (if it has
    /// a probe), and the probe's last failure: the worse of the two shows.
    pub(crate) fn with_probe(self, probe: Option<HealthState>) -> (Health, Option<String>) {
        let Some(probe) = probe else {
            return (self, None);
        };
        let (shown, detail) = match probe {
            HealthState::Starting => (Health::Starting, None),
            HealthState::Healthy => (Health::Healthy, None),
            HealthState::Unhealthy {
                failures,
                retries,
                detail,
            } => (Health::Failing { failures, retries }, Some(detail)),
        };
        match (self, shown) {
            (Health::Late, Health::Healthy | Health::Starting) => (Health::Late, None),
            _ => (shown, detail),
        }
    }

    /// Its text in `status` (`healthy`, `late`, `starting`, `failing
    /// 2/3`), `None` for [`Health::None`].
    pub(crate) fn label(self) -> Option<Cow<'static, str>> {
        match self {
            Health::None => None,
            Health::Healthy => Some(Cow::Borrowed("healthy")),
            Health::Late => Some(Cow::Borrowed("late")),
            Health::Starting => Some(Cow::Borrowed("starting")),
            Health::Failing { failures, retries } => Some(Cow::Owned(format!("failing {failures}/{retries}"))),
        }
    }
}

impl TreeHandle {
    /// Send `signal` to the running program of the process child at `path`
    /// (its main process, or its whole process group); the answer names the
    /// pid it went to. Nothing else changes: a signal that ends the program
    /// is an exit like any other, restarted by its policy.
    ///
    /// ```
    /// use vigil_core::{ChildSpec, SupervisorSpec};
    /// use vigil_tokio::{ChildSignal, ProcessSpec, SignalError, SignalTarget, Tree};
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let tree = Tree::new(SupervisorSpec::new())
    ///     .process(ChildSpec::worker("sleeper"), ProcessSpec::new(["sleep", "60"]))
    ///     .start()
    ///     .unwrap();
    /// # tokio::time::timeout(std::time::Duration::from_secs(10), async {
    /// # while tree.signal_child("sleeper", ChildSignal::Cont, SignalTarget::Main).await.is_err() {
    /// #     tokio::task::yield_now().await;
    /// # }
    /// # }).await.unwrap();
    /// let (sent, _pid) = tree.signal_child("sleeper", ChildSignal::Cont, SignalTarget::Main).await.unwrap();
    /// assert_eq!(sent, ChildSignal::Cont);
    /// let missing = tree.signal_child("nobody", ChildSignal::Hup, SignalTarget::Main).await;
    /// assert_eq!(missing, Err(SignalError::NotFound("nobody".into())));
    /// let reload = tree.reload_child("sleeper").await;
    /// assert_eq!(reload, Err(SignalError::NoReloadSignal("sleeper".into())));
    /// tree.shutdown().await;
    /// # });
    /// ```
    pub async fn signal_child(
        &self,
        path: &str,
        signal: ChildSignal,
        target: SignalTarget,
    ) -> Result<(ChildSignal, u32), SignalError> {
        self.send_signal(path, Some(signal), target).await
    }

    /// Send the child's reload signal
    /// ([`ProcessSpec::reload_signal`](crate::ProcessSpec::reload_signal)) to
    /// its program's main process: `vigil ctl reload PATH`. A child without
    /// one: [`SignalError::NoReloadSignal`].
    pub async fn reload_child(&self, path: &str) -> Result<(ChildSignal, u32), SignalError> {
        self.send_signal(path, None, SignalTarget::Main).await
    }

    async fn send_signal(
        &self,
        path: &str,
        signal: Option<ChildSignal>,
        target: SignalTarget,
    ) -> Result<(ChildSignal, u32), SignalError> {
        let (reply, rx) = oneshot::channel();
        let msg = SignalMsg {
            path: path.to_owned(),
            signal,
            target,
            reply,
        };
        self.tx
            .send(Msg::Signal(Box::new(msg)))
            .map_err(|_| SignalError::TreeDown)?;
        rx.await.unwrap_or(Err(SignalError::TreeDown))
    }

    /// The pids and health of every live run, by node index (for `status`).
    pub(crate) async fn run_facts(&self) -> Vec<RunFacts> {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Msg::RunFacts { reply }).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }
}

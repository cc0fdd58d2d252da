//! Health probes of process children: what to check ([`HealthProbe`]), and
//! the task that checks one run (docs/ADAPTER.md, "Health probes").
//!
//! Each run of a child with a probe gets one task, started when the run is
//! reported started and ended when the run is asked to stop, is killed, or
//! ends (whichever comes first): a stopping or stopped run is never probed.
//! The task runs one probe at a time (never two of one run at once), each
//! bounded by the probe's `timeout`, and sleeps `interval` between the end
//! of one and the start of the next. It never blocks the driver: it only
//! sends reports.
//!
//! | what happens | report |
//! |---|---|
//! | the first pass of a `ready` probe | [`RunnerReport::Ready`] |
//! | `retries` failures in a row that count | [`RunnerReport::Unhealthy`], then the task ends |
//!
//! Failures do not count during `start_period` (from the run's start) nor,
//! for a `ready` probe, before its first pass (the run is still starting:
//! `startup_timeout` bounds that). Until that first pass, a `ready` probe
//! is repeated every `min(interval, 1s)`, so that a child is ready soon after
//! it can be.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use vigil_core::RunId;

use crate::probe_exec::ExecProbe;
use crate::report::{ReportSender, RunnerReport};

/// A health probe of a process child ([`ProcessSpec::health`](crate::ProcessSpec::health)):
/// what one probe checks, how often, and when its failures make the child
/// unhealthy. An unhealthy child is stopped (its shutdown policy applies)
/// and its exit reads `health`: a failure, so restart intensity and backoff
/// apply.
///
/// ```
/// use std::time::Duration;
/// use vigil_tokio::{HealthProbe, ProcessSpec};
///
/// let spec = ProcessSpec::new(["./server", "--port", "8080"]).health(
///     HealthProbe::http("127.0.0.1", 8080, "/health")
///         .interval(Duration::from_secs(2))
///         .retries(2)
///         .ready(true), // the child is ready when a probe first passes
/// );
/// assert_eq!(spec.health.unwrap().retries, 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct HealthProbe {
    /// What one probe does.
    pub check: ProbeCheck,
    /// From the end of one probe to the start of the next (default 10 s).
    pub interval: Duration,
    /// The longest one probe may take; longer is a failure, and an exec
    /// probe's process group is killed (default 5 s).
    pub timeout: Duration,
    /// Consecutive failures that make the child unhealthy (default 3; 0
    /// reads as 1).
    pub retries: u32,
    /// From the run's start, failures do not count for this long (default 0).
    pub start_period: Duration,
    /// The child is ready (its next sibling starts) when a probe first
    /// passes. Give the child `Readiness::Notify` in its `ChildSpec` so that
    /// the engine waits for it (`readiness = "probe"` in a config does both).
    pub ready: bool,
}

/// What one probe checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeCheck {
    /// Run this command (argv, no shell) in its own process group, with the
    /// child's environment and working directory; exit code 0 passes.
    Exec(Vec<String>),
    /// `GET path` over plain HTTP/1.1 (no TLS) from `host:port`; a 2xx
    /// status passes.
    Http {
        /// The host name or address (an IPv6 one may be in brackets); also
        /// the `Host` header.
        host: String,
        /// The port.
        port: u16,
        /// The path and query, starting with `/`.
        path: String,
    },
    /// Connect to this `host:port`; a connection passes.
    Tcp(String),
}

impl HealthProbe {
    /// A probe that runs `argv` (see [`ProbeCheck::Exec`]), with the defaults.
    pub fn exec<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::new(ProbeCheck::Exec(argv.into_iter().map(Into::into).collect()))
    }

    /// A probe that GETs `http://host:port{path}` (see [`ProbeCheck::Http`]).
    pub fn http(host: impl Into<String>, port: u16, path: impl Into<String>) -> Self {
        Self::new(ProbeCheck::Http {
            host: host.into(),
            port,
            path: path.into(),
        })
    }

    /// A probe that connects to `addr` (`host:port`, see [`ProbeCheck::Tcp`]).
    pub fn tcp(addr: impl Into<String>) -> Self {
        Self::new(ProbeCheck::Tcp(addr.into()))
    }

    /// A probe of `check` with the defaults: every 10 s, 5 s timeout, 3
    /// retries, no start period, not deciding readiness.
    pub fn new(check: ProbeCheck) -> Self {
        HealthProbe {
            check,
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            retries: 3,
            start_period: Duration::ZERO,
            ready: false,
        }
    }

    /// Set [`interval`](#structfield.interval).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Set [`timeout`](#structfield.timeout).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Set [`retries`](#structfield.retries).
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Set [`start_period`](#structfield.start_period).
    pub fn start_period(mut self, period: Duration) -> Self {
        self.start_period = period;
        self
    }

    /// Set [`ready`](#structfield.ready).
    pub fn ready(mut self, ready: bool) -> Self {
        self.ready = ready;
        self
    }
}

/// A run's health, as its probe last saw it (for `ctl status`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HealthState {
    /// No probe has passed or counted a failure yet.
    Starting,
    /// The last probe passed.
    Healthy,
    /// The last `failures` probes failed (of the `retries` that make the
    /// child unhealthy); `detail` says why the last one did.
    Unhealthy {
        failures: u32,
        retries: u32,
        detail: String,
    },
}

impl std::fmt::Display for HealthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HealthState::Starting => f.write_str("starting"),
            HealthState::Healthy => f.write_str("healthy"),
            HealthState::Unhealthy {
                failures,
                retries,
                detail,
            } => write!(f, "unhealthy ({failures}/{retries}): {detail}"),
        }
    }
}

/// The driver's link to a run's probe task: ends it, and reads its state.
#[derive(Debug)]
pub(crate) struct ProbeLink {
    cancel: CancellationToken,
    state: Mutex<HealthState>,
}

impl ProbeLink {
    /// End the probe task (the run is stopping, killed or gone); an exec
    /// probe under way has its process group killed and reaped.
    pub(crate) fn end(&self) {
        self.cancel.cancel();
    }

    /// The run's health as last probed.
    pub(crate) fn state(&self) -> HealthState {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn set(&self, state: HealthState) {
        *self.state.lock().unwrap_or_else(PoisonError::into_inner) = state;
    }
}

/// How a run is probed: the probe, and what an exec probe runs with.
pub(crate) struct ProbePlan {
    pub(crate) probe: HealthProbe,
    pub(crate) exec: Option<ExecProbe>,
    pub(crate) link: Arc<ProbeLink>,
    pub(crate) run: RunId,
    pub(crate) path: Arc<str>,
    pub(crate) reports: ReportSender,
}

impl ProbePlan {
    /// The plan for `run` of the worker at `path`: its probe task is started
    /// with [`ProbePlan::start`] once the run is up.
    pub(crate) fn new(
        probe: &HealthProbe,
        exec: Option<ExecProbe>,
        run: RunId,
        path: &Arc<str>,
        reports: &ReportSender,
    ) -> ProbePlan {
        ProbePlan {
            probe: probe.clone(),
            exec,
            link: Arc::new(ProbeLink {
                cancel: CancellationToken::new(),
                state: Mutex::new(HealthState::Starting),
            }),
            run,
            path: Arc::clone(path),
            reports: reports.clone(),
        }
    }

    /// Start the probe task (the run is up). It ends when the link is ended
    /// or `ended` (the run's own task) is dropped.
    pub(crate) fn start(self) -> tokio_util::sync::DropGuard {
        let guard = self.link.cancel.clone().drop_guard();
        let cancel = self.link.cancel.clone();
        tokio::spawn(async move {
            tokio::select! {
                () = cancel.cancelled() => {}
                () = self.probe_loop() => {}
            }
        });
        guard
    }

    /// Probe until the run is unhealthy (reported) or the task is ended.
    async fn probe_loop(self) {
        let p = &self.probe;
        let retries = p.retries.max(1);
        let started = tokio::time::Instant::now();
        let (mut passed_once, mut failures) = (false, 0u32);
        loop {
            let began = tokio::time::Instant::now();
            let outcome = self.probe_once().await;
            // The probe's latency, for the probe benchmark
            // (adapters/cli/examples/probe_cost.rs).
            tracing::trace!(target: "vigil::probe", path = &*self.path, generation = self.run.generation,
                elapsed_us = u64::try_from(began.elapsed().as_micros()).unwrap_or(u64::MAX),
                passed = outcome.is_ok(), "probe ended");
            match outcome {
                Ok(()) => {
                    failures = 0;
                    self.link.set(HealthState::Healthy);
                    if p.ready && !passed_once {
                        tracing::info!(target: "vigil::probe", path = &*self.path, generation = self.run.generation,
                            "health probe passed: ready");
                        let _ = self.reports.send((self.run, RunnerReport::Ready));
                    }
                    passed_once = true;
                }
                Err(detail) => {
                    let counts = started.elapsed() >= p.start_period && (passed_once || !p.ready);
                    tracing::debug!(target: "vigil::probe", path = &*self.path, generation = self.run.generation,
                        counts, detail = %detail, "health probe failed");
                    if counts {
                        failures = failures.saturating_add(1);
                        self.link.set(HealthState::Unhealthy {
                            failures,
                            retries,
                            detail: detail.clone(),
                        });
                        if failures >= retries {
                            tracing::warn!(target: "vigil::probe", path = &*self.path,
                                generation = self.run.generation, failures, detail = %detail,
                                "health probe failed {failures} times in a row: the child is unhealthy");
                            let _ = self.reports.send((self.run, RunnerReport::Unhealthy(detail)));
                            return;
                        }
                    }
                }
            }
            let pause = if p.ready && !passed_once {
                p.interval.min(Duration::from_secs(1))
            } else {
                p.interval
            };
            tokio::time::sleep(pause).await;
        }
    }

    /// One probe, bounded by the timeout: `Err` says why it failed.
    async fn probe_once(&self) -> Result<(), String> {
        let timeout = self.probe.timeout;
        let check = async {
            match &self.probe.check {
                ProbeCheck::Exec(_) => match &self.exec {
                    Some(exec) => exec.run(timeout).await,
                    None => Err("no command".to_owned()),
                },
                ProbeCheck::Http { host, port, path } => crate::probe_http::get(host, *port, path).await,
                ProbeCheck::Tcp(addr) => tokio::net::TcpStream::connect(addr.as_str())
                    .await
                    .map(drop)
                    .map_err(|e| format!("cannot connect to {addr}: {e}")),
            }
        };
        // An exec probe bounds itself (it kills and reaps its group at the
        // timeout); this bound covers the others, and a probe that does not
        // end after its kill.
        match tokio::time::timeout(timeout.saturating_add(Duration::from_secs(1)), check).await {
            Ok(result) => result,
            Err(_) => Err(format!("timed out after {}", humantime(timeout))),
        }
    }
}

/// `d` for messages: `250ms`, `5s`, `1.5s`.
pub(crate) fn humantime(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}

//! Child and supervisor specifications: what the tree is made of.
//!
//! Specs are plain data with builder methods. They are checked by
//! [`SupervisorSpec::validate`] (called by [`Engine::new`](crate::Engine::new) and
//! by `start_child`), which rejects every invalid combination with a precise
//! [`SpecError`].

use std::sync::Arc;
use std::time::Duration;

use crate::spec_error::{SpecError, SpecErrorKind};

/// When a child is restarted after it ends by itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Restart {
    /// Always restarted.
    #[default]
    Permanent,
    /// Restarted only after an abnormal exit; after a normal exit it stays stopped.
    Transient,
    /// Never restarted; its spec is removed when it ends.
    Temporary,
}

/// How a child is stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shutdown {
    /// Kill at once, no stop request.
    Brutal,
    /// Ask to stop; kill if it has not exited after this long.
    Timeout(Duration),
    /// Ask to stop and wait for ever.
    Infinity,
}

/// \[ext\] When a started worker counts as started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Readiness {
    /// Started as soon as the driver reports `Started`.
    #[default]
    Immediate,
    /// Started only when the run reports `Ready` (sd_notify `READY=1`).
    Notify,
}

/// A supervisor's restart strategy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Restart only the child that failed.
    #[default]
    OneForOne,
    /// Stop all other children, then start all of them again.
    OneForAll,
    /// Stop the children after the failed one, then start it and them again.
    RestForOne,
    /// \[ext\] When any child ends, stop the others and end the supervisor.
    OneTerminateAll,
}

/// When significant children end the supervisor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AutoShutdown {
    /// Never (significant children are not allowed).
    #[default]
    Never,
    /// When any significant child ends by itself and is not restarted.
    AnySignificant,
    /// When a significant child ends by itself and none is left running.
    AllSignificant,
}

/// \[ext\] Whether a supervisor outlives its children.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Lifespan {
    /// Stays up with no child running.
    #[default]
    Permanent,
    /// Ends with reason `normal` when a child ends by itself and no child is
    /// left running or waiting to restart.
    Transient,
}

/// \[ext\] How a supervisor that ends stops its children.
///
/// Restart rounds (one_for_all, rest_for_one) and `restart_all` always stop
/// in reverse start order, one child at a time, whatever this says; only the
/// supervisor's end (it gives up, shuts down, auto_shutdown, lifespan,
/// one_terminate_all, its parent stops it, its first start fails) follows it.
///
/// ```
/// use vigil_core::{ChildSpec, ShutdownOrder, SupervisorSpec};
/// let pool = SupervisorSpec::new()
///     .shutdown_order(ShutdownOrder::Parallel)
///     .child(ChildSpec::worker("conn1"))
///     .child(ChildSpec::worker("conn2"));
/// assert_eq!(pool.shutdown_order, ShutdownOrder::Parallel);
/// assert_eq!(SupervisorSpec::new().shutdown_order, ShutdownOrder::Reverse);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ShutdownOrder {
    /// OTP's order: the last child first, each one stopped (by its own
    /// shutdown policy) only after the one before it has ended.
    #[default]
    Reverse,
    /// Every running child is asked to stop at the same instant (each by its
    /// own shutdown policy from that instant on), and the supervisor ends
    /// when the last one has ended: OTP's order for `simple_one_for_one`.
    Parallel,
}

/// \[ext\] Delay before an automatic restart, growing with repeated failures.
///
/// The n-th consecutive restart waits `min(initial * multiplier^(n-1), max)`,
/// reduced by a random fraction of at most `jitter` of itself (drawn from the
/// engine's seeded generator). A run that stayed up for `reset_after` resets
/// the delay to `initial`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Largest delay.
    pub max: Duration,
    /// Growth factor, `>= 1`.
    pub multiplier: f64,
    /// Fraction in `[0, 1]` by which a delay may be randomly shortened.
    pub jitter: f64,
    /// A run that lived this long resets the delay; `None`: never reset.
    pub reset_after: Option<Duration>,
}

impl Backoff {
    /// Exponential backoff with the given bounds, multiplier 2, no jitter, no reset.
    pub fn exponential(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            multiplier: 2.0,
            jitter: 0.0,
            reset_after: None,
        }
    }
}

/// What a child is: a worker the driver runs, or a nested supervisor.
#[derive(Clone, Debug, PartialEq)]
pub enum ChildKind {
    /// Something the driver runs (a task, an OS process).
    Worker,
    /// A supervisor living inside the engine. Shared so that restarting it
    /// rebuilds its children without copying the subtree.
    Supervisor(Arc<SupervisorSpec>),
}

/// The specification of one child of a supervisor.
///
/// ```
/// use std::time::Duration;
/// use vigil_core::{ChildSpec, Restart, Shutdown};
/// let spec = ChildSpec::worker("db")
///     .restart(Restart::Transient)
///     .shutdown(Shutdown::Timeout(Duration::from_secs(10)));
/// assert_eq!(spec.shutdown_policy(), Shutdown::Timeout(Duration::from_secs(10)));
/// assert_eq!(ChildSpec::worker("w").shutdown_policy(), Shutdown::Timeout(Duration::from_secs(5)));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct ChildSpec {
    /// Unique among its siblings; non-empty, printable, no `/`.
    pub name: String,
    /// Worker or supervisor.
    pub kind: ChildKind,
    /// Restart type.
    pub restart: Restart,
    /// Shutdown policy; `None`: 5 s for workers, infinity for supervisors.
    pub shutdown: Option<Shutdown>,
    /// Whether its end may end the supervisor (see [`AutoShutdown`]).
    pub significant: bool,
    /// \[ext\] Worker readiness.
    pub readiness: Readiness,
    /// \[ext\] A `notify` worker not ready in time is killed; a failed start.
    pub startup_timeout: Option<Duration>,
    /// \[ext\] A ready worker silent for this long is killed (reason `health`).
    pub health_timeout: Option<Duration>,
    /// \[ext\] Delay before automatic restarts.
    pub backoff: Option<Backoff>,
    /// \[ext\] Started by its supervisor's start (default `true`). `false`:
    /// the child is defined but its supervisor's start, and the strategy's
    /// restarts while it has never run, pass over it; `restart_child`
    /// starts it, and from then on it is restarted like any other.
    pub autostart: bool,
    /// Opaque value for the driver (for example an index into its table of
    /// what to run); the engine only stores it.
    pub tag: u64,
}

/// The deepest a node may be (the root is at depth 0). Keeps every walk of
/// the tree's height bounded.
pub const MAX_DEPTH: usize = 32;

/// The default shutdown timeout of a worker.
pub const DEFAULT_WORKER_SHUTDOWN: Duration = Duration::from_secs(5);

impl ChildSpec {
    fn new(name: impl Into<String>, kind: ChildKind) -> Self {
        ChildSpec {
            name: name.into(),
            kind,
            restart: Restart::Permanent,
            shutdown: None,
            significant: false,
            readiness: Readiness::Immediate,
            startup_timeout: None,
            health_timeout: None,
            backoff: None,
            autostart: true,
            tag: 0,
        }
    }

    /// A worker with the default attributes (permanent, 5 s shutdown, immediate).
    pub fn worker(name: impl Into<String>) -> Self {
        Self::new(name, ChildKind::Worker)
    }

    /// A nested supervisor (shutdown `infinity` by default).
    pub fn supervisor(name: impl Into<String>, spec: SupervisorSpec) -> Self {
        Self::new(name, ChildKind::Supervisor(Arc::new(spec)))
    }

    /// Set the restart type.
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Set the shutdown policy.
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    /// Mark the child significant.
    pub fn significant(mut self, significant: bool) -> Self {
        self.significant = significant;
        self
    }

    /// Set the readiness mode.
    pub fn readiness(mut self, readiness: Readiness) -> Self {
        self.readiness = readiness;
        self
    }

    /// Set the startup timeout (`notify` workers only).
    pub fn startup_timeout(mut self, timeout: Duration) -> Self {
        self.startup_timeout = Some(timeout);
        self
    }

    /// Set the heartbeat deadline (workers only).
    pub fn health_timeout(mut self, timeout: Duration) -> Self {
        self.health_timeout = Some(timeout);
        self
    }

    /// Set the restart backoff.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// \[ext\] Whether its supervisor's start starts it (see
    /// [`ChildSpec::autostart`](#structfield.autostart)).
    ///
    /// ```
    /// use vigil_core::ChildSpec;
    /// assert!(ChildSpec::worker("w").autostart);
    /// assert!(!ChildSpec::worker("w").autostart(false).autostart);
    /// ```
    pub fn autostart(mut self, autostart: bool) -> Self {
        self.autostart = autostart;
        self
    }

    /// Set the driver's opaque tag.
    pub fn tag(mut self, tag: u64) -> Self {
        self.tag = tag;
        self
    }

    /// Whether this child is a supervisor.
    pub fn is_supervisor(&self) -> bool {
        matches!(self.kind, ChildKind::Supervisor(_))
    }

    /// The effective shutdown policy, defaults applied.
    pub fn shutdown_policy(&self) -> Shutdown {
        self.shutdown.unwrap_or(match self.kind {
            ChildKind::Worker => Shutdown::Timeout(DEFAULT_WORKER_SHUTDOWN),
            ChildKind::Supervisor(_) => Shutdown::Infinity,
        })
    }

    /// Check this child (and, for a supervisor, its subtree) under a parent
    /// whose auto_shutdown is `parent_auto`. `parent_path` is used in errors.
    pub fn validate(&self, parent_path: &str, parent_auto: AutoShutdown) -> Result<(), SpecError> {
        self.validate_at(parent_path, parent_auto, 1)
    }

    /// As [`ChildSpec::validate`], for a child at `depth` (the root's children are at 1).
    pub(crate) fn validate_at(
        &self,
        parent_path: &str,
        parent_auto: AutoShutdown,
        depth: usize,
    ) -> Result<(), SpecError> {
        check_name(parent_path, &self.name)?;
        if depth > MAX_DEPTH {
            return Err(SpecError::new(parent_path, SpecErrorKind::TooDeep { max: MAX_DEPTH }));
        }
        let path = join_path(parent_path, &self.name);
        let err = |kind| Err(SpecError::new(path.clone(), kind));
        if self.significant {
            if self.restart == Restart::Permanent {
                return err(SpecErrorKind::SignificantPermanent);
            }
            if parent_auto == AutoShutdown::Never {
                return err(SpecErrorKind::SignificantUnderNever);
            }
        }
        if let Some(Shutdown::Timeout(d)) = self.shutdown {
            if d.is_zero() {
                return err(SpecErrorKind::ZeroShutdownTimeout);
            }
        }
        if self.startup_timeout.is_some_and(|d| d.is_zero()) {
            return err(SpecErrorKind::ZeroStartupTimeout);
        }
        if self.health_timeout.is_some_and(|d| d.is_zero()) {
            return err(SpecErrorKind::ZeroHealthTimeout);
        }
        if let Some(b) = &self.backoff {
            check_backoff(&path, b)?;
        }
        match &self.kind {
            ChildKind::Worker => {
                if self.startup_timeout.is_some() && self.readiness != Readiness::Notify {
                    return err(SpecErrorKind::StartupTimeoutWithoutNotify);
                }
                Ok(())
            }
            ChildKind::Supervisor(spec) => {
                if self.readiness != Readiness::Immediate {
                    return err(SpecErrorKind::WorkerOnly { field: "readiness" });
                }
                if self.startup_timeout.is_some() {
                    return err(SpecErrorKind::WorkerOnly {
                        field: "startup_timeout",
                    });
                }
                if self.health_timeout.is_some() {
                    return err(SpecErrorKind::WorkerOnly {
                        field: "health_timeout",
                    });
                }
                spec.validate_at(&path, depth)
            }
        }
    }
}

/// The specification of a supervisor: its strategy, limits and static children.
///
/// ```
/// use std::time::Duration;
/// use vigil_core::{ChildSpec, Strategy, SupervisorSpec};
/// let spec = SupervisorSpec::new()
///     .strategy(Strategy::RestForOne)
///     .intensity(3)
///     .period(Duration::from_secs(10))
///     .child(ChildSpec::worker("db"))
///     .child(ChildSpec::worker("web"));
/// assert!(spec.validate().is_ok());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SupervisorSpec {
    /// Restart strategy.
    pub strategy: Strategy,
    /// Largest number of automatic restart decisions allowed inside `period`.
    pub intensity: u32,
    /// The sliding window of the intensity check; `> 0`.
    pub period: Duration,
    /// When significant children end this supervisor.
    pub auto_shutdown: AutoShutdown,
    /// \[ext\] Whether it ends when no child is left.
    pub lifespan: Lifespan,
    /// \[ext\] How it stops its children when it ends.
    pub shutdown_order: ShutdownOrder,
    /// Static children, in start order.
    pub children: Vec<ChildSpec>,
}

impl Default for SupervisorSpec {
    fn default() -> Self {
        SupervisorSpec {
            strategy: Strategy::OneForOne,
            intensity: 1,
            period: Duration::from_secs(5),
            auto_shutdown: AutoShutdown::Never,
            lifespan: Lifespan::Permanent,
            shutdown_order: ShutdownOrder::Reverse,
            children: Vec::new(),
        }
    }
}

impl SupervisorSpec {
    /// OTP's defaults: one_for_one, intensity 1, period 5 s, no auto_shutdown,
    /// reverse shutdown order.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set the strategy.
    pub fn strategy(mut self, strategy: Strategy) -> Self {
        self.strategy = strategy;
        self
    }

    /// Set the intensity.
    pub fn intensity(mut self, intensity: u32) -> Self {
        self.intensity = intensity;
        self
    }

    /// Set the period.
    pub fn period(mut self, period: Duration) -> Self {
        self.period = period;
        self
    }

    /// Set auto_shutdown.
    pub fn auto_shutdown(mut self, auto_shutdown: AutoShutdown) -> Self {
        self.auto_shutdown = auto_shutdown;
        self
    }

    /// Set the lifespan.
    pub fn lifespan(mut self, lifespan: Lifespan) -> Self {
        self.lifespan = lifespan;
        self
    }

    /// Set the order in which it stops its children when it ends.
    pub fn shutdown_order(mut self, order: ShutdownOrder) -> Self {
        self.shutdown_order = order;
        self
    }

    /// Append a static child.
    pub fn child(mut self, child: ChildSpec) -> Self {
        self.children.push(child);
        self
    }

    /// Check the whole tree rooted here.
    pub fn validate(&self) -> Result<(), SpecError> {
        self.validate_at("", 0)
    }

    fn validate_at(&self, path: &str, depth: usize) -> Result<(), SpecError> {
        if self.period.is_zero() {
            return Err(SpecError::new(path, SpecErrorKind::ZeroPeriod));
        }
        // Sorted names find duplicates without a hash map; validation is not a hot path.
        let mut names: Vec<&str> = self.children.iter().map(|c| c.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(SpecError::new(
                path,
                SpecErrorKind::DuplicateName { name: w[0].to_owned() },
            ));
        }
        for child in &self.children {
            child.validate_at(path, self.auto_shutdown, depth + 1)?;
        }
        Ok(())
    }
}

fn check_backoff(path: &str, b: &Backoff) -> Result<(), SpecError> {
    let kind = if !b.multiplier.is_finite() || b.multiplier < 1.0 {
        SpecErrorKind::BadBackoffMultiplier {
            multiplier: b.multiplier,
        }
    } else if !(0.0..=1.0).contains(&b.jitter) {
        SpecErrorKind::BadBackoffJitter { jitter: b.jitter }
    } else if b.initial > b.max {
        SpecErrorKind::BackoffInitialAboveMax
    } else if b.reset_after.is_some_and(|d| d.is_zero()) {
        SpecErrorKind::ZeroBackoffReset
    } else {
        return Ok(());
    };
    Err(SpecError::new(path, kind))
}

/// Check one name; `parent_path` is used in the error.
pub(crate) fn check_name(parent_path: &str, name: &str) -> Result<(), SpecError> {
    let kind = if name.is_empty() {
        SpecErrorKind::EmptyName
    } else if name.contains('/') {
        SpecErrorKind::NameWithSlash { name: name.to_owned() }
    } else if name
        .chars()
        .any(|c| c.is_control() || c.is_whitespace() || is_invisible(c))
    {
        SpecErrorKind::UnprintableName { name: name.to_owned() }
    } else {
        return Ok(());
    };
    Err(SpecError::new(parent_path, kind))
}

/// Invisible formatting characters (Unicode category Cf and friends: zero-width
/// spaces and joiners, bidirectional overrides, the BOM, soft hyphen, tags)
/// that would make two different names look the same.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{FEFF}' | '\u{FFF9}'..='\u{FFFB}' | '\u{E0000}'..='\u{E007F}')
}

/// `parent/name`, or `name` under the root.
pub(crate) fn join_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

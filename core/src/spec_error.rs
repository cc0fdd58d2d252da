//! Why a spec was rejected.

/// A rejected specification: where in the tree, and what is wrong.
///
/// ```
/// use vigil_core::{ChildSpec, Restart, SpecErrorKind, SupervisorSpec};
/// let spec = SupervisorSpec::new().child(ChildSpec::worker("a").significant(true).restart(Restart::Transient));
/// let err = spec.validate().unwrap_err();
/// assert_eq!(err.path, "a");
/// assert_eq!(err.kind, SpecErrorKind::SignificantUnderNever);
/// ```
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("invalid spec at `{}`: {kind}", if path.is_empty() { "/" } else { path.as_str() })]
pub struct SpecError {
    /// Path of the offending node (for name errors: of its parent); `""` is the root.
    pub path: String,
    /// What is wrong.
    pub kind: SpecErrorKind,
}

impl SpecError {
    pub(crate) fn new(path: impl Into<String>, kind: SpecErrorKind) -> Self {
        SpecError {
            path: path.into(),
            kind,
        }
    }
}

/// The specific problem of a [`SpecError`].
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SpecErrorKind {
    /// Two siblings share a name.
    #[error("two children are named `{name}`")]
    DuplicateName {
        /// The repeated name.
        name: String,
    },
    /// A name is empty.
    #[error("a child name is empty")]
    EmptyName,
    /// A name contains `/`.
    #[error("child name `{name}` contains `/`")]
    NameWithSlash {
        /// The name.
        name: String,
    },
    /// A name contains whitespace, control or invisible formatting characters.
    #[error("child name {name:?} contains whitespace, control or invisible formatting characters")]
    UnprintableName {
        /// The name.
        name: String,
    },
    /// `significant` with restart `permanent`.
    #[error("a significant child must be transient or temporary")]
    SignificantPermanent,
    /// `significant` under a supervisor whose auto_shutdown is `never`.
    #[error("a significant child needs a supervisor with auto_shutdown other than never")]
    SignificantUnderNever,
    /// Supervisor period of zero.
    #[error("period must be greater than zero")]
    ZeroPeriod,
    /// Shutdown timeout of zero (use `brutal`).
    #[error("shutdown timeout must be greater than zero (use brutal to kill at once)")]
    ZeroShutdownTimeout,
    /// Startup timeout of zero.
    #[error("startup_timeout must be greater than zero")]
    ZeroStartupTimeout,
    /// Health timeout of zero.
    #[error("health_timeout must be greater than zero")]
    ZeroHealthTimeout,
    /// startup_timeout on a worker whose readiness is `immediate`.
    #[error("startup_timeout needs readiness = notify")]
    StartupTimeoutWithoutNotify,
    /// A supervisor's spec given for a child that runs code of its own (an
    /// adapter's task, process or thread): it must be a worker's.
    #[error("this child runs code of its own: its spec must be a worker's (`ChildSpec::worker`), not a supervisor's")]
    NotAWorker,
    /// A worker-only field on a supervisor child.
    #[error("`{field}` applies to workers only, not to supervisors")]
    WorkerOnly {
        /// The field.
        field: &'static str,
    },
    /// Backoff multiplier below 1, NaN or infinite (zero included).
    #[error("backoff multiplier must be a finite number >= 1, got {multiplier}")]
    BadBackoffMultiplier {
        /// The multiplier.
        multiplier: f64,
    },
    /// Backoff jitter outside `[0, 1]`.
    #[error("backoff jitter must be within [0, 1], got {jitter}")]
    BadBackoffJitter {
        /// The jitter.
        jitter: f64,
    },
    /// Backoff initial delay above its maximum.
    #[error("backoff initial delay is larger than its max")]
    BackoffInitialAboveMax,
    /// The tree is nested deeper than [`MAX_DEPTH`](crate::MAX_DEPTH).
    #[error("the tree is nested deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
    /// Backoff reset_after of zero.
    #[error("backoff reset_after must be greater than zero")]
    ZeroBackoffReset,
    /// The tree would hold more nodes than the engine can name (about four
    /// billion; memory runs out long before).
    #[error("the tree would hold more than {max} nodes")]
    TooManyNodes {
        /// The limit.
        max: u64,
    },
}

//! A panic of the driver task: what the handles learn of it, and (feature
//! `bug-injection`, for tests only) a way to cause one on purpose.

/// The driver task panicked: a bug in vigil (or in a trace sink it was
/// given). Every live run was killed and the tree is down; see
/// [`TreeHandle::driver_panic`](crate::TreeHandle::driver_panic).
///
/// ```
/// use vigil_tokio::DriverPanic;
/// let panic = DriverPanic { message: "the sink broke".into() };
/// assert_eq!(panic.to_string(), "the vigil driver panicked: the sink broke");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the vigil driver panicked: {message}")]
pub struct DriverPanic {
    /// The panic's message (`panic` when it carried none).
    pub message: String,
}

/// A deliberate driver panic for tests (feature `bug-injection`): with
/// `VIGIL_INJECT_DRIVER_PANIC=<path>` in the environment when the tree
/// starts, the driver panics as it hands the engine the exit of a run of
/// the worker at `<path>`. Without the feature it has no field, the
/// variable is not read and [`InjectedPanic::check`] does nothing, as the
/// core's deliberate bugs (`core/src/injected_bug.rs`): the driver needs no
/// `cfg` of its own.
#[derive(Default)]
pub(crate) struct InjectedPanic {
    #[cfg(feature = "bug-injection")]
    path: Option<String>,
}

impl InjectedPanic {
    /// The variable naming the worker whose exit makes the driver panic.
    #[cfg(feature = "bug-injection")]
    pub(crate) const VAR: &'static str = "VIGIL_INJECT_DRIVER_PANIC";

    /// The worker named by [`InjectedPanic::VAR`], if any.
    #[cfg(feature = "bug-injection")]
    pub(crate) fn from_env() -> Self {
        InjectedPanic {
            path: std::env::var(Self::VAR).ok().filter(|p| !p.is_empty()),
        }
    }

    /// None: a build without the feature never panics on purpose.
    #[cfg(not(feature = "bug-injection"))]
    pub(crate) fn from_env() -> Self {
        InjectedPanic::default()
    }

    /// Panic if `input` is the exit of the chosen worker.
    #[cfg(feature = "bug-injection")]
    pub(crate) fn check(&self, engine: &vigil_core::Engine, input: &vigil_core::Input) {
        let Some(path) = &self.path else { return };
        if let vigil_core::Input::Exited(run, _) = input {
            if engine.path(run.node).as_deref() == Some(path.as_str()) {
                panic!("injected driver panic at the exit of {path} ({})", Self::VAR);
            }
        }
    }

    /// Nothing to check without the feature.
    #[cfg(not(feature = "bug-injection"))]
    #[inline(always)]
    pub(crate) fn check(&self, _engine: &vigil_core::Engine, _input: &vigil_core::Input) {}
}

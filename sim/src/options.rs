//! How to simulate: the options of one run.

use std::time::Duration;

use vigil_config::Script;

/// The default step budget of one run: world events plus engine timeouts
/// (a typical hour of a small tree takes about a thousand).
pub const DEFAULT_MAX_STEPS: u64 = 10_000_000;

/// How to simulate.
#[derive(Clone, Debug, PartialEq)]
pub struct SimOptions {
    /// How long the faulty phase lasts (virtual time).
    pub duration: Duration,
    /// Whether the seed picks random faults (off: only behaviour models and the script).
    pub random_faults: bool,
    /// Scripted actions.
    pub script: Option<Script>,
    /// Whether to run the liveness phase after the faulty one.
    pub liveness: bool,
    /// The most steps (world events plus engine timeouts) the run may take;
    /// past it the run stops with a [`Rule::StepBudget`](crate::Rule::StepBudget) violation and the
    /// outcome [`Outcome::StepBudget`](crate::Outcome::StepBudget) instead of running on.
    pub max_steps: u64,
    /// Test-only: run a deliberately broken engine, to prove the oracle notices.
    #[cfg(feature = "bug-injection")]
    pub inject_bug: Option<vigil_core::InjectedBug>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            duration: Duration::from_secs(3600),
            random_faults: true,
            script: None,
            liveness: true,
            max_steps: DEFAULT_MAX_STEPS,
            #[cfg(feature = "bug-injection")]
            inject_bug: None,
        }
    }
}

//! How to simulate: the options of one run.

use std::time::Duration;

use vigil_config::Script;
use vigil_core::InjectedBug;

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
    /// outcome [`SeedOutcome::StepBudget`](crate::SeedOutcome::StepBudget) instead of running on.
    pub max_steps: u64,
    /// Test-only: run a deliberately broken engine, to prove the oracle
    /// notices. Only a build with the feature `bug-injection` has one
    /// ([`InjectedBug::ENABLED`]); any other ignores this (see
    /// [`SimOptions::injected_bug`]).
    pub inject_bug: Option<InjectedBug>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            duration: Duration::from_secs(3600),
            random_faults: true,
            script: None,
            liveness: true,
            max_steps: DEFAULT_MAX_STEPS,
            inject_bug: None,
        }
    }
}

impl SimOptions {
    /// These options with `script` (its actions in time order) as the scenario.
    #[must_use]
    pub fn with_script(self, script: Script) -> Self {
        SimOptions {
            script: Some(script),
            ..self
        }
    }

    /// The deliberate engine bug the run really has: [`SimOptions::inject_bug`]
    /// in a build with the feature `bug-injection`, never in any other.
    pub fn injected_bug(&self) -> Option<InjectedBug> {
        self.inject_bug.filter(|_| InjectedBug::ENABLED)
    }
}

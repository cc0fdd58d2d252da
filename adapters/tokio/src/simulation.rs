//! One tree, two worlds (feature `sim`): the [`Tree`] that `.start()` runs
//! for real, handed to the simulator with behaviour models attached by path
//! or glob (docs/SIMULATION.md, "Simulating a Rust tree").

use vigil_sim::{AttachError, SimModels, SimTree};

use crate::builder::{BuildError, Tree};

/// Why [`Tree::simulation`] refused a tree: the tree itself, as
/// [`Tree::start`] would refuse it, or a model mis-attached.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SimulationError {
    /// The tree is refused as [`Tree::start`] refuses it.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A behaviour model is mis-attached (or the spec is not valid).
    #[error(transparent)]
    Attach(#[from] AttachError),
}

impl Tree {
    /// This tree as the simulator's input, named `name` (replay commands and
    /// trace meta lines show it), each worker with the model `models`
    /// attach to it ([`SimModels`] has the rules: every worker needs one,
    /// unless a default is given). It takes nothing: the same value can
    /// then be [`start`](Tree::start)ed for real.
    ///
    /// Tasks, blocking closures and processes are workers alike; a nested
    /// supervisor is a supervisor; a pool ([`Tree::pool`]) is a supervisor
    /// with no static children (its children are started at run time, which
    /// the simulator's own faults do not do). The settings of the whole tree
    /// (control server, monitors, guard, trace, seed) play no part.
    ///
    /// ```
    /// use std::time::Duration;
    /// use vigil_core::{ChildSpec, SupervisorSpec};
    /// use vigil_sim::{run_seed, Lifetime, SimBehaviour, SimModels, SimOptions, TraceWriter};
    /// use vigil_tokio::{RunContext, Tree};
    ///
    /// async fn serve(ctx: RunContext) -> Result<(), String> {
    ///     ctx.stopped().await;
    ///     Ok(())
    /// }
    /// let tree = Tree::new(SupervisorSpec::new().intensity(3))
    ///     .task(ChildSpec::worker("db"), serve)
    ///     .task(ChildSpec::worker("web"), serve);
    /// let models = SimModels::new()
    ///     .path("db", SimBehaviour::new().lifetime(Lifetime::Exp { mean: Duration::from_secs(600) }))
    ///     .default(SimBehaviour::new());
    /// let sim = tree.simulation("shop", &models).expect("every model attached");
    /// let report = run_seed(&sim, 1, &SimOptions::default(), TraceWriter::hashing());
    /// assert!(report.violation.is_none());
    /// // ... and the same `tree` can now be started for real with `tree.start()`.
    /// ```
    pub fn simulation(&self, name: impl Into<String>, models: &SimModels) -> Result<SimTree, SimulationError> {
        let spec = self.spec()?;
        Ok(SimTree::new(name, spec, models)?)
    }
}

//! Why a [`SimTree`](crate::SimTree) could not be built: a behaviour model
//! attached where it means nothing, a worker left without one, or a spec
//! the engine rejects. Nothing is simulated from a tree that was refused.

use vigil_core::SpecError;

/// A behaviour model mis-attached (docs/SIMULATION.md, "Simulating a Rust
/// tree"), or a spec the engine rejects. Each names the path or glob.
///
/// ```
/// use vigil_core::{ChildSpec, SupervisorSpec};
/// use vigil_sim::{AttachError, SimBehaviour, SimModels, SimTree};
///
/// let spec = SupervisorSpec::new().child(ChildSpec::worker("db"));
/// let err = SimTree::new("t", spec, &SimModels::new().path("bd", SimBehaviour::new())).unwrap_err();
/// assert_eq!(err, AttachError::UnknownPath { path: "bd".into() });
/// assert_eq!(err.to_string(), "a model is attached to `bd`, but no worker has that path");
/// ```
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AttachError {
    /// The tree's spec is not valid for the engine.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// `.path(p, ..)` where no node has path `p`.
    #[error("a model is attached to `{path}`, but no worker has that path")]
    UnknownPath {
        /// The path given.
        path: String,
    },
    /// `.path(p, ..)` where `p` is a supervisor (it runs nothing of its own;
    /// a pool is a supervisor too).
    #[error("a model is attached to `{path}`, which is a supervisor: models belong to workers")]
    NotAWorker {
        /// The supervisor's path.
        path: String,
    },
    /// `.glob(g, ..)` that matches no worker.
    #[error("the glob `{glob}` matches no worker")]
    UnmatchedGlob {
        /// The glob given.
        glob: String,
    },
    /// A glob that cannot be read.
    #[error("the glob `{glob}` is not valid: {problem}")]
    BadGlob {
        /// The glob given.
        glob: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The same path given to `.path` twice.
    #[error("two models are attached to `{path}`")]
    DuplicatePath {
        /// The path.
        path: String,
    },
    /// The same glob given to `.glob` twice.
    #[error("two models are attached to the glob `{glob}`")]
    DuplicateGlob {
        /// The glob.
        glob: String,
    },
    /// `.default(..)` given twice.
    #[error("two default models are given")]
    DuplicateDefault,
    /// A worker matched by two globs, and given no exact path to settle it.
    #[error(
        "the worker `{path}` matches both `{first}` and `{second}`: attach its model by its exact path, \
         or narrow a glob"
    )]
    AmbiguousGlobs {
        /// The worker's path.
        path: String,
        /// The first glob that matches it, in the order given.
        first: String,
        /// The second.
        second: String,
    },
    /// A worker no path or glob names, and no default was given.
    #[error("the worker `{path}` has no model: attach one by path or glob, or give a default")]
    NoModel {
        /// The worker's path.
        path: String,
    },
    /// A probability of a model outside [0, 1] (or not a number).
    #[error("the model attached to `{target}` has {field} = {value}, which is not a probability in [0, 1]")]
    BadProbability {
        /// The path, glob or `default` it was attached to.
        target: String,
        /// `start_fail` or `ignore_stop`.
        field: &'static str,
        /// The value.
        value: f64,
    },
}

//! Why an own-code simulation could not run at all.

use crate::builder::BuildError;

/// Why `Dst` (feature `dst`) could not simulate a tree (nothing ran).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DstError {
    /// The tree was refused as [`Tree::start`](crate::Tree::start) would refuse it.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// An OS process child cannot run in virtual time: its clock, its
    /// scheduling and its I/O are the real ones.
    #[error(
        "`{path}` is an OS process: an own-code simulation runs task children only (a process runs on the real \
         clock); simulate it as a behaviour model with `vigil sim`, or leave it out of the simulated tree"
    )]
    ProcessChild {
        /// The child's path.
        path: String,
    },
    /// A blocking child runs on a thread of its own, which the simulation's
    /// single thread cannot schedule deterministically.
    #[error(
        "`{path}` is a blocking child: its closure runs on a thread of its own, outside the simulation's \
         single thread and virtual clock; make it a task to simulate it"
    )]
    BlockingChild {
        /// The child's path.
        path: String,
    },
    /// A control server serves a real socket (real I/O).
    #[error("the tree has a control server: a real socket cannot be simulated; leave `Tree::control` out")]
    ControlServer,
    /// `VIGIL_DST_SEED` is set but is not a seed.
    #[error("VIGIL_DST_SEED={value:?} is not a seed (a whole number from 0 to 2^64-1)")]
    BadSeedVariable {
        /// What the variable holds.
        value: String,
    },
    /// The runtime could not be built.
    #[error("could not build the simulation's runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

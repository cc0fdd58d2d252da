//! What the engine asks the driver to do.

use crate::RunId;

/// Work for the driver, handed out by [`Engine::poll_command`](crate::Engine::poll_command).
///
/// A `Stop` or `Kill` is only ever sent to a run that has reported `Started`,
/// and never twice of the same kind for one run. A `Kill` comes at the run's
/// shutdown deadline (stop time + its timeout), or at once: for a `brutal`
/// worker (instead of a `Stop`), for a missed `startup_timeout` or
/// `health_timeout`, and for every run under a supervisor child that is
/// `brutal` or whose own shutdown deadline expired (docs/SEMANTICS.md §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// Start a new run of the worker `run.node`; answer with `Started` or
    /// `StartFailed` carrying the same `run`.
    Spawn(RunId),
    /// Ask the run to stop (cancel its token, SIGTERM its process group).
    Stop(RunId),
    /// End the run now (abort, SIGKILL to its process group).
    Kill(RunId),
}

impl Command {
    /// The run the command is for.
    pub fn run(&self) -> RunId {
        match self {
            Command::Spawn(r) | Command::Stop(r) | Command::Kill(r) => *r,
        }
    }
}

//! How the tree stands: up, or how it ended.

use std::fmt;

/// How the tree stands: still up, or why it ended
/// ([`Engine::outcome`](crate::Engine::outcome)).
///
/// The engine decides it once, when the root ends, and it never changes
/// after that. The order (`Up` first) is the order in which the simulator's
/// summary lists outcomes.
///
/// ```
/// use vigil_core::{ChildSpec, Command, Engine, ExitReason, Input, Instant, Outcome, SupervisorSpec};
///
/// // A root that gives up at the first crash.
/// let spec = SupervisorSpec::new().intensity(0).child(ChildSpec::worker("w"));
/// let mut engine = Engine::new(spec, 0).expect("valid spec");
/// assert_eq!(engine.outcome(), Outcome::Up);
/// engine.start(Instant::ZERO);
/// let Some(Command::Spawn(w)) = engine.poll_command() else { panic!() };
/// engine.handle(Input::Started(w), Instant::ZERO);
/// engine.handle(Input::Exited(w, ExitReason::Error("boom".into())), Instant::ZERO);
/// assert_eq!(engine.outcome(), Outcome::RootGaveUp);
/// assert_eq!(engine.outcome().to_string(), "root gave up");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// The tree is up: not started yet, starting, or running.
    #[default]
    Up,
    /// The root gave up (its restart intensity was exceeded): the whole tree
    /// went down.
    RootGaveUp,
    /// The tree was shut down: a shutdown request, or the root ended by
    /// itself (auto_shutdown, lifespan, one_terminate_all).
    ShutDown,
    /// The tree could not start: a child of the root failed its first start
    /// (the root's reason is `shutdown(failed_to_start_child ...)`).
    StartFailed,
}

impl Outcome {
    /// Whether the tree has ended (any outcome but [`Outcome::Up`]).
    #[must_use]
    pub const fn is_down(self) -> bool {
        !matches!(self, Outcome::Up)
    }

    /// Whether the tree ended in failure: the root gave up, or the tree
    /// could not start.
    #[must_use]
    pub const fn is_failure(self) -> bool {
        matches!(self, Outcome::RootGaveUp | Outcome::StartFailed)
    }

    /// A short phrase, as the simulator's summary prints it (`root gave up`).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Up => "tree up at the end",
            Outcome::RootGaveUp => "root gave up",
            Outcome::ShutDown => "tree shut down",
            Outcome::StartFailed => "tree failed to start",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

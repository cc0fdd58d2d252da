//! A conformance scenario: a supervision tree and a script, in the subset of
//! vigil that OTP's `supervisor` also has (no [ext] feature), written so
//! that no timing can change what happens (see `generate.rs`).

/// How long every supervisor's intensity window is: far longer than any
/// scenario takes, in virtual time (vigil-sim) and in real time (OTP), so
/// every restart of a supervisor's life counts and the window never slides.
pub const PERIOD_SECS: u64 = 3600;

/// Virtual time between two script steps in vigil-sim: longer than any
/// shutdown deadline a step can wait for (hung workers, [`HANG_SHUTDOWN_MS`]),
/// so each step starts from a settled tree, as the OTP driver's does.
pub const STEP_SECS: u64 = 10;

/// The shutdown timeout of workers that a script may hang: the only timeout
/// that ever expires. Long enough that a worker that does answer its stop is
/// never killed by a slow machine, short enough to keep the suite quick.
pub const HANG_SHUTDOWN_MS: u64 = 1000;

/// A supervisor's strategy (OTP's three).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    OneForOne,
    OneForAll,
    RestForOne,
}

impl Strategy {
    /// The name OTP and vigil both use.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::OneForOne => "one_for_one",
            Strategy::OneForAll => "one_for_all",
            Strategy::RestForOne => "rest_for_one",
        }
    }
}

/// A supervisor's auto_shutdown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoShutdown {
    Never,
    AnySignificant,
    AllSignificant,
}

impl AutoShutdown {
    /// The name OTP and vigil both use.
    pub fn name(self) -> &'static str {
        match self {
            AutoShutdown::Never => "never",
            AutoShutdown::AnySignificant => "any_significant",
            AutoShutdown::AllSignificant => "all_significant",
        }
    }
}

/// A child's restart type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    Permanent,
    Transient,
    Temporary,
}

impl Restart {
    /// The name OTP and vigil both use.
    pub fn name(self) -> &'static str {
        match self {
            Restart::Permanent => "permanent",
            Restart::Transient => "transient",
            Restart::Temporary => "temporary",
        }
    }
}

/// A child's shutdown policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    Brutal,
    Millis(u64),
    Infinity,
}

/// A supervisor: flags and children in start order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sup {
    pub strategy: Strategy,
    pub intensity: u32,
    pub auto_shutdown: AutoShutdown,
    pub children: Vec<Child>,
}

/// A child of a supervisor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Child {
    pub name: String,
    pub restart: Restart,
    pub shutdown: Shutdown,
    pub significant: bool,
    pub kind: ChildShape,
}

/// What a child is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChildShape {
    Worker,
    Supervisor(Sup),
}

/// The reason a scripted exit ends a worker's run with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    Normal,
    Shutdown,
    ShutdownWith,
    Error,
    ErrorWith,
    Panic,
    Killed,
}

impl Reason {
    /// vigil's spelling (also the event vocabulary's).
    pub fn vigil(self) -> &'static str {
        match self {
            Reason::Normal => "normal",
            Reason::Shutdown => "shutdown",
            Reason::ShutdownWith => "shutdown(reload)",
            Reason::Error => "error",
            Reason::ErrorWith => "error(boom)",
            Reason::Panic => "panic(oops)",
            Reason::Killed => "killed",
        }
    }

    /// The Erlang exit reason the OTP driver sends (`kill` gives `killed`).
    pub fn erlang(self) -> &'static str {
        match self {
            Reason::Normal => "normal",
            Reason::Shutdown => "shutdown",
            Reason::ShutdownWith => "{shutdown, reload}",
            Reason::Error => "error",
            Reason::ErrorWith => "{error, boom}",
            Reason::Panic => "{panic, oops}",
            Reason::Killed => "kill",
        }
    }
}

/// A path from the root: the names of the nodes below it.
pub type Path = Vec<String>;

/// A script step; steps are applied one at a time on a settled tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The worker's live run (if any) exits by itself.
    Exit {
        path: Path,
        reason: Reason,
    },
    /// The worker's next `count` starts fail.
    FailStarts {
        path: Path,
        count: u32,
    },
    /// The worker's live run (if any) ignores its supervisor's stop.
    HangOnStop {
        path: Path,
    },
    TerminateChild {
        path: Path,
    },
    RestartChild {
        path: Path,
    },
    DeleteChild {
        path: Path,
    },
    /// A default worker (permanent, 5 s shutdown) named `name` under `parent`.
    StartChild {
        parent: Path,
        name: String,
    },
    /// The whole tree; always the last step.
    Shutdown,
}

/// One generated scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scenario {
    /// The seed it was generated from (names it in reports, reproduces it).
    pub seed: u64,
    pub root: Sup,
    pub steps: Vec<Step>,
}

/// `a/b/c`, as vigil writes paths (the root is the empty path).
pub fn vigil_path(path: &[String]) -> String {
    path.join("/")
}

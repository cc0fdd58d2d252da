//! What a config file and a scenario script mean, once parsed and validated.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use vigil_core::{ExitReason, Request, SupervisorSpec};

/// A parsed and validated tree config (docs/CONFIG.md). The same value
/// drives `vigil run` (real processes) and `vigil sim` (the simulator).
#[derive(Clone, Debug, PartialEq)]
pub struct TreeConfig {
    /// Where it came from, for messages (a file path, or `<string>`).
    pub source: String,
    /// The config's name: the file stem (`web` for `examples/web.toml`); names
    /// the default control socket.
    pub name: String,
    /// The digest of the text it was parsed from ([`parse_tree`](crate::parse_tree));
    /// `None` for a config built in code (`vigil_sim::strategies`).
    pub digest: Option<crate::ConfigDigest>,
    /// The root supervisor and the whole tree, valid for `vigil_core::Engine::new`.
    /// Every worker's [`vigil_core::ChildSpec::tag`] is its index in `workers`;
    /// supervisors' tags are `u64::MAX`.
    pub spec: SupervisorSpec,
    /// The `[control]` table.
    pub control: ControlConfig,
    /// The `[monitor]` table.
    pub monitor: MonitorConfig,
    /// Every worker of the tree, in depth-first start order, indexed by tag.
    pub workers: Vec<WorkerConfig>,
    /// The `[http]` table.
    pub http: HttpConfig,
    /// The `[run]` table.
    pub run: RunConfig,
    /// REPLICAS: every worker with `count`, in start order: its replicas are
    /// in `spec` and `workers` (docs/CONFIG.md, "replicas").
    pub templates: Vec<crate::ReplicaTemplate>,
}

/// The `[http]` table: the read-only HTTP endpoint of `vigil run`
/// (docs/OPERATING.md, "Prometheus and Kubernetes probes").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpConfig {
    /// Where to listen; `None`: no HTTP endpoint. A bare port (`"9100"` or
    /// `":9100"`) means the loopback address `127.0.0.1`.
    pub listen: Option<std::net::SocketAddr>,
}

/// The `[run]` table: how `vigil run` itself behaves.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunConfig {
    /// Stay up when the tree is down (a root give-up or a failed start), to
    /// be inspected and started again with `vigil ctl start-tree`.
    pub keep_running: bool,
}

/// The `[control]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ControlConfig {
    /// The control socket path; `None`: the default
    /// (`$XDG_RUNTIME_DIR/vigil/<name>.sock`, else `vigil-<name>.sock` beside
    /// the config file).
    pub socket: Option<PathBuf>,
    /// Lines of recent output kept per child for `vigil ctl logs`
    /// (`logs_lines`, at least 1; `None`: 200).
    pub logs_lines: Option<u64>,
    /// Bytes of recent output kept per child for `vigil ctl logs`
    /// (`logs_bytes`, at least 1; `None`: 64 KiB).
    pub logs_bytes: Option<u64>,
    /// The group whose members may reach the control socket too
    /// (`group`; `None`: only vigil's user and root).
    pub group: Option<crate::control_group::ControlGroup>,
}

/// The `[monitor]` table: how `vigil run` watches its children's resources
/// (per-child limits are each worker's `memory_limit`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MonitorConfig {
    /// How often the monitors sample `/proc` (default 5 s).
    pub interval: Duration,
    /// A limit on the memory of the whole tree, in bytes; over it, the
    /// largest child is restarted (one per sample).
    pub memory_limit: Option<u64>,
    /// Leak detection: a sample that exceeds a run's highest memory so far by
    /// at least this many bytes counts as one growth (`None`: off).
    pub leak_growth: Option<u64>,
    /// Leak detection: after this many growths the run is restarted
    /// (default 5; only with `leak_growth`).
    pub leak_count: u32,
}

impl MonitorConfig {
    /// The default sampling interval.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
    /// The default number of growths that make a leak.
    pub const DEFAULT_LEAK_COUNT: u32 = 5;
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            interval: Self::DEFAULT_INTERVAL,
            memory_limit: None,
            leak_growth: None,
            leak_count: Self::DEFAULT_LEAK_COUNT,
        }
    }
}

/// What `vigil run` needs to run one worker, and how `vigil sim` models it.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkerConfig {
    /// Its path in the tree (`web/w1`).
    pub path: String,
    /// argv; never run through a shell.
    pub command: Vec<String>,
    /// Extra environment variables.
    pub env: BTreeMap<String, String>,
    /// Working directory.
    pub cwd: Option<PathBuf>,
    /// Memory limit in bytes (for the memory monitor).
    pub memory_limit: Option<u64>,
    /// How the simulator models it (the `sim` table; defaults when absent).
    pub sim: SimBehaviour,
    // PROBES:
    /// The health probe (`health = { .. }`, src/health_probe.rs); `None`:
    /// not probed.
    pub health: Option<crate::HealthProbe>,
    /// User, group, umask, limits, cgroup and environment files (ignored
    /// by the simulator: they change no supervision decision).
    pub identity: crate::IdentityConfig,
    /// LOGS: the log files vigil writes for it (its `log` table over the
    /// tree's `[log]`); `None`: its output goes where `vigil run` sends it
    /// (the log, or `--output-dir`). Ignored by the simulator.
    pub log: Option<crate::log::LogConfig>,
    /// LIFECYCLE: its stop and reload signals and its exit-code policy.
    pub lifecycle: crate::LifecycleConfig,
}

/// The `sim` table of a worker: how the simulated world runs it. Without it,
/// a simulated worker starts at once, is ready at once, never exits by itself
/// and stops at once when asked.
///
/// In Rust, the same model is built with [`SimBehaviour::new`] (those
/// defaults) and one method per key; the TOML spellings of a lifetime parse
/// with [`str::parse`]:
///
/// ```
/// use std::time::Duration;
/// use vigil_config::{Lifetime, SimBehaviour};
/// use vigil_core::ExitReason;
///
/// let flaky = SimBehaviour::new()
///     .lifetime("exp(10m)".parse::<Lifetime>()?)
///     .exit(ExitReason::Error("boom".into()))
///     .start_latency(Duration::from_millis(20))
///     .start_fail(0.1);
/// assert_eq!(flaky.lifetime, Lifetime::Exp { mean: Duration::from_secs(600) });
/// // The same as the TOML `sim = { lifetime = "exp(10m)", exit = "error(boom)", start_latency = "20ms", start_fail = 0.1 }`.
/// # Ok::<(), vigil_config::ValueError>(())
/// ```
///
/// The probabilities are checked where the model is used: the config parser
/// refuses them outside [0, 1], and so does `vigil_sim::SimTree::new`.
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct SimBehaviour {
    /// How long a run lives once up, before it exits by itself.
    pub lifetime: Lifetime,
    /// The reason it exits with when its lifetime ends.
    pub exit: ExitReason,
    /// Probability in [0, 1] that a start fails.
    pub start_fail: f64,
    /// Time from `Spawn` to `Started` (or `StartFailed`).
    pub start_latency: Duration,
    /// For `notify` workers: time from `Started` to `Ready`.
    pub ready_latency: Duration,
    /// Time from `Stop` to its exit.
    pub stop_latency: Duration,
    /// Probability in [0, 1] that a run ignores `Stop` (only `Kill` ends it).
    pub ignore_stop: f64,
}

impl Default for SimBehaviour {
    fn default() -> Self {
        SimBehaviour {
            lifetime: Lifetime::Never,
            exit: ExitReason::Error(String::new()),
            start_fail: 0.0,
            start_latency: Duration::ZERO,
            ready_latency: Duration::ZERO,
            stop_latency: Duration::ZERO,
            ignore_stop: 0.0,
        }
    }
}

impl SimBehaviour {
    /// The default behaviour: starts, is ready and stops at once, never exits
    /// by itself (its exit reason, used only with a lifetime, is `error`).
    pub fn new() -> Self {
        SimBehaviour::default()
    }

    /// How long a run lives once up before it exits by itself (default: never).
    pub fn lifetime(mut self, lifetime: Lifetime) -> Self {
        self.lifetime = lifetime;
        self
    }

    /// The reason a run exits with when its lifetime ends (default: `error`).
    pub fn exit(mut self, reason: ExitReason) -> Self {
        self.exit = reason;
        self
    }

    /// The probability in [0, 1] that a start fails (default: 0).
    pub fn start_fail(mut self, probability: f64) -> Self {
        self.start_fail = probability;
        self
    }

    /// Time from `Spawn` to `Started` or `StartFailed` (default: none).
    pub fn start_latency(mut self, latency: Duration) -> Self {
        self.start_latency = latency;
        self
    }

    /// For `notify` workers: time from `Started` to `Ready` (default: none).
    pub fn ready_latency(mut self, latency: Duration) -> Self {
        self.ready_latency = latency;
        self
    }

    /// Time from `Stop` to its exit (default: none).
    pub fn stop_latency(mut self, latency: Duration) -> Self {
        self.stop_latency = latency;
        self
    }

    /// The probability in [0, 1] that a run ignores `Stop`, so that only
    /// `Kill` ends it (default: 0).
    pub fn ignore_stop(mut self, probability: f64) -> Self {
        self.ignore_stop = probability;
        self
    }
}

/// A lifetime distribution: `"never"`, `"5s"` (fixed), `"exp(10m)"` (exponential
/// with that mean), `"uniform(1s, 5s)"`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lifetime {
    /// Never exits by itself.
    Never,
    /// Always lives exactly this long.
    Fixed(Duration),
    /// Exponentially distributed with this mean.
    Exp {
        /// The mean.
        mean: Duration,
    },
    /// Uniform between the two bounds.
    Uniform {
        /// Lower bound.
        min: Duration,
        /// Upper bound.
        max: Duration,
    },
}

/// A scenario script (docs/CONFIG.md, "The scenario script"): timed
/// actions applied to the simulated world, in time order; actions at the
/// same time in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Script {
    /// Where it came from, for messages.
    pub source: String,
    /// The actions, sorted by time (stable: file order within one time).
    pub actions: Vec<TimedAction>,
}

/// One `[[at]]` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct TimedAction {
    /// When, from the start of the simulation.
    pub time: Duration,
    /// Its line in the script file (for messages).
    pub line: usize,
    /// What happens.
    pub action: Action,
}

/// What a script entry does.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// The current run of that worker exits by itself with `reason`.
    Exit {
        /// The worker.
        path: String,
        /// Its exit reason.
        reason: ExitReason,
    },
    /// The next `count` starts of that worker fail.
    FailStarts {
        /// The worker.
        path: String,
        /// How many.
        count: u32,
    },
    /// The current run of that worker ignores `Stop` (only `Kill` ends it).
    HangOnStop {
        /// The worker.
        path: String,
    },
    /// An operator request (for `start_child`: a worker with default
    /// attributes and the default sim behaviour, named by the entry's `name`).
    Request(Request),
}

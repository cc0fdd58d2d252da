//! A TOML config as a [`Tree`] (feature `sim`): the config is one way to
//! build a tree, and `vigil run` starts the tree built here.

use vigil_config::{MonitorConfig, TreeConfig, WorkerConfig};
use vigil_core::{ChildKind, ChildSpec, MAX_DEPTH};

use crate::builder::{Children, Tree};
use crate::monitor::{LeakDetection, MonitorSettings};
use crate::output::OutputMode;
use crate::process::ProcessSpec;

impl Tree {
    /// The tree of a config (docs/CONFIG.md): the root's strategy and
    /// limits, a nested supervisor for each `supervisor` table, an OS process
    /// for each worker ([`ProcessSpec::from_worker`], output forwarded to
    /// `tracing`), and the `[monitor]` table as the monitor settings. The
    /// control socket is not bound here (binding is a side effect): add one
    /// with [`Tree::control`].
    ///
    /// The same value can be simulated first ([`Tree::simulation`], with
    /// [`SimModels::from_config`](vigil_sim::SimModels::from_config)) and then
    /// started for real.
    ///
    /// ```
    /// use vigil_tokio::Tree;
    ///
    /// let cfg = vigil_config::parse_tree(r#"
    ///     [[child]]
    ///     name = "web"
    ///     supervisor = { strategy = "one_for_all" }
    ///       [[child.child]]
    ///       name = "w1"
    ///       command = ["sleep", "3600"]
    /// "#, "web.toml").unwrap();
    /// let tree = Tree::from_config(&cfg);
    /// let sim = tree.simulation(&cfg.source, &vigil_sim::SimModels::from_config(&cfg)).unwrap();
    /// assert_eq!(sim.workers()[0].path(), "web/w1");
    /// ```
    pub fn from_config(cfg: &TreeConfig) -> Tree {
        Tree::from_config_with_output(cfg, &OutputMode::default())
    }

    /// [`Tree::from_config`], every process's output going to `output`
    /// (`vigil run --output-dir`).
    pub fn from_config_with_output(cfg: &TreeConfig, output: &OutputMode) -> Tree {
        let mut root = cfg.spec.clone();
        let children = std::mem::take(&mut root.children);
        let built = children_of(&children, cfg, output, 1);
        Tree::new(root)
            .monitor_settings(MonitorSettings::from_config(&cfg.monitor))
            .with_children(|_| built)
    }
}

/// The builder's children for the config children `specs`, `depth` deep (the
/// root's are at 1). Deeper than the engine accepts, one placeholder child
/// stands for the rest, so that [`Tree::start`] refuses the tree at the
/// right path (`TooDeep`) without this walk going any deeper.
fn children_of(specs: &[ChildSpec], cfg: &TreeConfig, output: &OutputMode, depth: usize) -> Children {
    let mut children = Children::new();
    if depth > MAX_DEPTH + 1 {
        return children.process(ChildSpec::worker("too-deep"), ProcessSpec::new(Vec::<String>::new()));
    }
    for spec in specs {
        let mut spec = spec.clone();
        children = match &mut spec.kind {
            ChildKind::Worker => {
                let process = worker(cfg, spec.tag).map_or_else(
                    // A hand-built config whose tag indexes no worker: an empty
                    // command, whose every start fails (visibly, in the log).
                    || ProcessSpec::new(Vec::<String>::new()).output(output.clone()),
                    |w| ProcessSpec::from_worker(w, output),
                );
                children.process(spec, process)
            }
            ChildKind::Supervisor(nested) => {
                let nested_children = std::mem::take(&mut std::sync::Arc::make_mut(nested).children);
                let built = children_of(&nested_children, cfg, output, depth + 1);
                children.supervisor(spec, built)
            }
        };
    }
    children
}

fn worker(cfg: &TreeConfig, tag: u64) -> Option<&WorkerConfig> {
    cfg.workers.get(usize::try_from(tag).ok()?)
}

impl ProcessSpec {
    /// The process of a config's worker (feature `sim`): its command,
    /// environment, directory and memory limit, its output going to its log
    /// files ([`OutputMode::Log`]) if it has a `log` table (its own or the
    /// tree's), else to `output`. `vigil run` starts every worker so, and so
    /// does a reload.
    #[must_use]
    pub fn from_worker(w: &WorkerConfig, output: &OutputMode) -> ProcessSpec {
        ProcessSpec {
            command: w.command.clone(),
            env: w.env.clone(),
            cwd: w.cwd.clone(),
            output: w.log.as_ref().map_or_else(|| output.clone(), log_output),
            memory_limit: w.memory_limit,
            // PROBES:
            health: w.health.as_ref().map(health_probe),
            identity: Box::new(crate::identity::Identity::from_config(&w.identity)),
            lifecycle: lifecycle(&w.lifecycle),
        }
    }
}

/// A config's `health` table as the probe of a process (feature `sim`).
fn health_probe(h: &vigil_config::HealthProbe) -> crate::HealthProbe {
    let check = match &h.check {
        vigil_config::ProbeCheck::Exec(argv) => crate::ProbeCheck::Exec(argv.clone()),
        vigil_config::ProbeCheck::Http(t) => crate::ProbeCheck::Http {
            host: t.host.clone(),
            port: t.port,
            path: t.path.clone(),
        },
        vigil_config::ProbeCheck::Tcp(addr) => crate::ProbeCheck::Tcp(addr.clone()),
    };
    crate::HealthProbe::new(check)
        .interval(h.interval)
        .timeout(h.timeout)
        .retries(h.retries)
        .start_period(h.start_period)
        .ready(h.ready)
}

/// LOGS: a worker's `log` table as the output mode that writes it.
fn log_output(log: &vigil_config::LogConfig) -> OutputMode {
    OutputMode::Log(
        crate::LogFiles::new(&log.dir)
            .max_size(log.max_size)
            .keep(log.keep)
            .timestamps(log.timestamps),
    )
}

/// LIFECYCLE: a config's signals and exit codes (checked by the parser:
/// every name it accepts parses here; an unknown one keeps the default).
fn lifecycle(l: &vigil_config::LifecycleConfig) -> crate::Lifecycle {
    crate::Lifecycle {
        stop_signal: l.stop_signal.parse().unwrap_or(crate::ChildSignal::Term),
        reload_signal: l.reload_signal.and_then(|s| s.parse().ok()),
        success_exit_codes: l.success_exit_codes.clone(),
        restart_prevent_exit_codes: l.restart_prevent_exit_codes.clone(),
        start_delay: l.start_delay,
    }
}

impl MonitorSettings {
    /// A config's `[monitor]` table as the monitor settings (feature `sim`).
    #[must_use]
    pub fn from_config(m: &MonitorConfig) -> MonitorSettings {
        MonitorSettings {
            interval: m.interval,
            tree_memory_limit: m.memory_limit,
            leak: m.leak_growth.map(|growth| LeakDetection {
                growth,
                count: m.leak_count,
            }),
            ..MonitorSettings::default()
        }
    }
}

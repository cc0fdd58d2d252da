//! `vigil run CONFIG`: supervise the tree's OS processes for real.
//!
//! SIGTERM or SIGINT shuts the tree down in order (a second one kills every
//! process group at once); SIGHUP reloads the config: top-level children that
//! are new are started, removed ones stopped and deleted, changed ones
//! (anything in their subtree) replaced, unchanged ones left alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use tokio::signal::unix::{signal, SignalKind};
use vigil_config::{TreeConfig, WorkerConfig};
use vigil_core::{ChildKind, ChildSpec, ExitReason, Notice, Readiness, Request, SupervisorSpec};
use vigil_tokio::control::{ControlOptions, ControlServer};
use vigil_tokio::monitor::{LeakDetection, MonitorSettings};
use vigil_tokio::{OutputMode, ProcessSpec, ProcessTreeOptions, Supervisor, Tree};

/// The options of `vigil run`.
#[derive(Clone, Debug, Args)]
pub struct RunArgs {
    /// The tree config (TOML).
    #[arg(value_name = "CONFIG")]
    pub config: Option<PathBuf>,

    /// Write the JSON-lines trace of the run (CONTRACTS section 3) to FILE.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,

    /// Write each child's output to DIR/<path>.out.log and .err.log instead of the log.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,
}

const NO_CONFIG: &str = "\
vigil run needs a tree config: a TOML file listing the processes to supervise.

  vigil run examples/demo.toml       a small tree of shell programs to try it
  vigil check my-tree.toml           validate your own config and print the tree
  vigil sim my-tree.toml --seeds 0..1000
                                     see what it would do under faults first

A minimal config:

  [[child]]
  name = \"web\"
  command = [\"python3\", \"-m\", \"http.server\", \"8080\"]

docs/CONFIG.md describes every key; docs/ADAPTER.md how vigil run behaves.
";

/// Run `vigil run`.
pub fn run(args: RunArgs) -> ExitCode {
    let Some(config) = args.config.clone() else {
        eprint!("{NO_CONFIG}");
        return ExitCode::from(2);
    };
    init_logging();
    let cfg = match vigil_config::load_tree(&config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(supervise(args, config, cfg))
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VIGIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

async fn supervise(args: RunArgs, config: PathBuf, cfg: TreeConfig) -> ExitCode {
    let trace: Option<Box<dyn std::io::Write + Send>> = match &args.trace {
        Some(p) => match std::fs::File::create(p) {
            // Line-buffered: the trace can be followed live, and a kill -9 of vigil loses nothing.
            Ok(f) => Some(Box::new(std::io::LineWriter::new(f))),
            Err(e) => {
                eprintln!("error: cannot write the trace to {}: {e}", p.display());
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    let output = args
        .output_dir
        .clone()
        .map_or(OutputMode::Tracing, |dir| OutputMode::Files { dir });
    let processes = processes(&cfg, &cfg.spec, &output);
    let socket = control_socket(&cfg);
    let control = match ControlServer::bind(ControlOptions::new(&socket)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e} (set another path with `[control] socket` in the config)");
            return ExitCode::from(2);
        }
    };
    // The socket file goes when vigil returns, however it returns.
    let control_guard = CloseOnDrop(control.clone());
    let options = ProcessTreeOptions {
        trace,
        monitor: monitor_settings(&cfg.monitor),
        control: Some(control),
    };
    let sup = match Tree::start_processes(cfg.spec.clone(), processes, options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut events = sup.events();
    let (mut term, mut int, mut hup) = match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
    ) {
        (Ok(t), Ok(i), Ok(h)) => (t, i, h),
        _ => {
            eprintln!("error: cannot install signal handlers");
            return ExitCode::from(1);
        }
    };
    tracing::info!(config = %cfg.source, workers = cfg.workers.len(), "supervising");
    // Reloads run beside the signal loop (a slow stop must not block SIGTERM)
    // and one after the other (each holds the current config while it works).
    let current = std::sync::Arc::new(tokio::sync::Mutex::new(cfg));
    let mut stopping = false;
    let mut root_gave_up = false;
    let gave_up = |e: &vigil_tokio::Event| matches!(e.notice, Notice::GiveUp { .. }) && e.path.is_empty();
    loop {
        tokio::select! {
            // Events first: a give-up is broadcast in the same step the tree goes down.
            biased;
            e = events.recv() => {
                if let Ok(e) = e {
                    root_gave_up |= gave_up(&e);
                }
            }
            reason = sup.wait() => {
                while let Ok(e) = events.try_recv() {
                    root_gave_up |= gave_up(&e);
                }
                // The handle's flag also covers a give-up that happened
                // before `events` subscribed (a fast crash loop on a busy machine).
                let code = match sup.driver_panic() {
                    // A bug in vigil: every child was killed; EX_SOFTWARE.
                    Some(panic) => {
                        tracing::error!(%panic, "vigil failed: every child was killed; exiting 70");
                        ExitCode::from(70)
                    }
                    None => exit_code(&reason, stopping, root_gave_up || sup.root_gave_up()),
                };
                // Let subscribers receive the end of their stream before the runtime goes.
                control_guard.0.finish(std::time::Duration::from_millis(500)).await;
                return code;
            }
            _ = term.recv() => {
                if let Some(code) = on_stop_signal(&sup, &mut stopping, "SIGTERM").await { return code; }
            }
            _ = int.recv() => {
                if let Some(code) = on_stop_signal(&sup, &mut stopping, "SIGINT").await { return code; }
            }
            _ = hup.recv() => {
                if stopping {
                    tracing::warn!("SIGHUP during shutdown: ignored");
                    continue;
                }
                let (sup, current, config, output) = (sup.clone(), current.clone(), config.clone(), output.clone());
                tokio::spawn(async move {
                    let mut cfg = current.lock().await;
                    reload(&sup, &mut cfg, &config, &output).await;
                });
            }
        }
    }
}

/// The control socket of `cfg`: `[control] socket` (relative to the working
/// directory), else the default of CONTRACTS section 1.
pub fn control_socket(cfg: &TreeConfig) -> PathBuf {
    cfg.control
        .socket
        .clone()
        .unwrap_or_else(|| vigil_tokio::control::default_socket_path(&cfg.name))
}

/// Closes the control server (removing its socket file) when dropped.
struct CloseOnDrop(ControlServer);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// First signal: ordered shutdown. Second: kill everything, exit 130.
async fn on_stop_signal(sup: &Supervisor, stopping: &mut bool, name: &str) -> Option<ExitCode> {
    if !*stopping {
        *stopping = true;
        tracing::info!(
            signal = name,
            "shutting the tree down in order (send it again to kill everything now)"
        );
        let s = sup.clone();
        tokio::spawn(async move { s.shutdown().await });
        None
    } else {
        tracing::warn!(signal = name, "second signal: killing every process group now");
        sup.kill_all().await;
        Some(ExitCode::from(130))
    }
}

fn exit_code(reason: &ExitReason, asked: bool, root_gave_up: bool) -> ExitCode {
    let failed_start = matches!(reason, ExitReason::Shutdown(d) if d.starts_with("failed_to_start_child"));
    if failed_start {
        tracing::error!(%reason, "the tree could not start");
        ExitCode::from(1)
    } else if root_gave_up {
        tracing::error!("the root supervisor gave up: too many restarts");
        ExitCode::from(1)
    } else {
        tracing::info!(%reason, asked, "the tree is down");
        ExitCode::SUCCESS
    }
}

/// The processes of `spec`'s workers, indexed by their tags.
fn processes(cfg: &TreeConfig, spec: &SupervisorSpec, output: &OutputMode) -> Vec<ProcessSpec> {
    let mut notify = BTreeMap::new();
    readiness_by_tag(spec, &mut notify);
    cfg.workers
        .iter()
        .enumerate()
        .map(|(i, w)| process_spec(w, notify.get(&(i as u64)).copied().unwrap_or(false), output))
        .collect()
}

/// The `[monitor]` table as the adapter's settings.
fn monitor_settings(m: &vigil_config::MonitorConfig) -> MonitorSettings {
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

fn process_spec(w: &WorkerConfig, notify: bool, output: &OutputMode) -> ProcessSpec {
    ProcessSpec {
        command: w.command.clone(),
        env: w.env.clone(),
        cwd: w.cwd.clone(),
        output: output.clone(),
        notify,
        memory_limit: w.memory_limit,
    }
}

fn readiness_by_tag(spec: &SupervisorSpec, out: &mut BTreeMap<u64, bool>) {
    for c in &spec.children {
        match &c.kind {
            ChildKind::Worker => {
                out.insert(c.tag, c.readiness == Readiness::Notify);
            }
            ChildKind::Supervisor(s) => readiness_by_tag(s, out),
        }
    }
}

/// What a worker runs (argv, environment, directory): a change means a restart.
type RunSettings = (Vec<String>, BTreeMap<String, String>, Option<PathBuf>);

/// A top-level child with its tags zeroed and its workers' run settings, for comparing.
fn fingerprint(cfg: &TreeConfig, child: &ChildSpec) -> (ChildSpec, Vec<RunSettings>) {
    let mut workers = Vec::new();
    let mut c = child.clone();
    normalise(cfg, &mut c, &mut workers);
    (c, workers)
}

fn normalise(cfg: &TreeConfig, c: &mut ChildSpec, workers: &mut Vec<RunSettings>) {
    match &mut c.kind {
        ChildKind::Worker => {
            if let Some(w) = cfg.workers.get(c.tag as usize) {
                workers.push((w.command.clone(), w.env.clone(), w.cwd.clone()));
            }
            c.tag = 0;
        }
        ChildKind::Supervisor(s) => {
            let s = std::sync::Arc::make_mut(s);
            for k in &mut s.children {
                normalise(cfg, k, workers);
            }
            c.tag = 0;
        }
    }
}

/// `child` (from `cfg`) with its workers' tags renumbered from 0, and their processes.
fn detach(cfg: &TreeConfig, child: &ChildSpec, output: &OutputMode) -> (ChildSpec, Vec<ProcessSpec>) {
    fn walk(cfg: &TreeConfig, c: &mut ChildSpec, out: &mut Vec<ProcessSpec>, output: &OutputMode) {
        match &mut c.kind {
            ChildKind::Worker => {
                if let Some(w) = cfg.workers.get(c.tag as usize) {
                    out.push(process_spec(w, c.readiness == Readiness::Notify, output));
                }
                c.tag = (out.len() - 1) as u64;
            }
            ChildKind::Supervisor(s) => {
                for k in &mut std::sync::Arc::make_mut(s).children {
                    walk(cfg, k, out, output);
                }
            }
        }
    }
    let mut c = child.clone();
    let mut out = Vec::new();
    walk(cfg, &mut c, &mut out, output);
    (c, out)
}

/// SIGHUP: apply the config file's current contents to the running tree.
async fn reload(sup: &Supervisor, current: &mut TreeConfig, path: &Path, output: &OutputMode) {
    let new = match vigil_config::load_tree(path) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "reload failed; the running tree is unchanged");
            return;
        }
    };
    let root_settings = |s: &SupervisorSpec| (s.strategy, s.intensity, s.period, s.auto_shutdown, s.lifespan);
    if root_settings(&current.spec) != root_settings(&new.spec) {
        tracing::warn!("the root supervisor's settings changed; they apply when vigil is restarted");
    }
    let old: BTreeMap<&str, &ChildSpec> = current.spec.children.iter().map(|c| (c.name.as_str(), c)).collect();
    let fresh: BTreeMap<&str, &ChildSpec> = new.spec.children.iter().map(|c| (c.name.as_str(), c)).collect();
    let (mut started, mut stopped, mut replaced) = (0, 0, 0);
    // Removed children, last first.
    for c in current.spec.children.iter().rev() {
        if !fresh.contains_key(c.name.as_str()) {
            remove(sup, &c.name).await;
            stopped += 1;
        }
    }
    for c in &new.spec.children {
        match old.get(c.name.as_str()) {
            Some(o) if fingerprint(current, o) == fingerprint(&new, c) => {}
            Some(_) => {
                replace(sup, &new, c, output).await;
                replaced += 1;
            }
            None => {
                add(sup, &new, c, output).await;
                started += 1;
            }
        }
    }
    tracing::info!(started, stopped, replaced, "reloaded {}", path.display());
    *current = new;
}

async fn remove(sup: &Supervisor, name: &str) {
    let _ = sup.request(Request::TerminateChild { path: name.to_owned() }).await;
    let _ = sup.request(Request::DeleteChild { path: name.to_owned() }).await;
}

/// Stop a changed child, give it its new spec in place (so it keeps its
/// position in start order), and start it again.
async fn replace(sup: &Supervisor, cfg: &TreeConfig, child: &ChildSpec, output: &OutputMode) {
    let name = child.name.clone();
    let _ = sup.request(Request::TerminateChild { path: name.clone() }).await;
    let (spec, processes) = detach(cfg, child, output);
    if let Err(e) = sup.replace_processes(&name, spec, processes).await {
        tracing::error!(child = %name, error = %e, "could not apply a changed child");
        return;
    }
    if let Err(e) = sup.request(Request::RestartChild { path: name.clone() }).await {
        tracing::error!(child = %name, error = %e, "could not restart a changed child");
    }
}

async fn add(sup: &Supervisor, cfg: &TreeConfig, child: &ChildSpec, output: &OutputMode) {
    let (spec, processes) = detach(cfg, child, output);
    if let Err(e) = sup.start_processes("", spec, processes).await {
        tracing::error!(child = %child.name, error = %e, "could not start a reloaded child");
    }
}

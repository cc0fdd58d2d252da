//! `vigil run CONFIG`: supervise the tree's OS processes for real.
//!
//! SIGTERM or SIGINT shuts the tree down in order (a second one kills every
//! process group at once); SIGHUP reloads the config (`reload.rs`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use tokio::signal::unix::{signal, SignalKind};
use vigil_config::TreeConfig;
use vigil_core::{ExitReason, Outcome};
use vigil_tokio::chaos::ChaosControl;
use vigil_tokio::control::{ControlOptions, ControlServer};
use vigil_tokio::{OutputMode, Tree, TreeHandle};
use vigil_trace::{Flush, TraceFile, TraceFileStatus};

use crate::chaos_args::ChaosArgs;
use crate::exit::OUTPUT_FAILED;

/// The options of `vigil run`.
#[derive(Clone, Debug, Args)]
pub struct RunArgs {
    /// The tree config (TOML).
    #[arg(value_name = "CONFIG")]
    pub config: Option<PathBuf>,

    /// Write the JSON-lines trace of the run (docs/TRACE.md) to FILE.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,

    /// Write each child's output to `DIR/<path>.out.log` and `.err.log` instead of the log.
    #[arg(long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,

    /// Act as init: reap every orphaned process reparented to vigil (a
    /// child subreaper). Implied when vigil runs as PID 1 (a container).
    #[arg(long)]
    pub init: bool,

    #[command(flatten)]
    pub chaos: ChaosArgs,

    /// Stay up when the tree gives up or fails to start: inspect it with
    /// `vigil ctl status`, start it again with `vigil ctl start-tree`
    /// (also `[run] keep_running = true`).
    #[arg(long)]
    pub keep_running: bool,
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
    // Before any thread: vigil's own notify socket, taken out of the
    // environment children inherit (docs/OPERATING.md, "systemd").
    let notify = crate::systemd_notify::from_env();
    // Children and control connections both need descriptors: use what the
    // hard limit allows (docs/ADAPTER.md, "Descriptor and memory cost").
    if let Err(e) = vigil_tokio::descriptors::raise_nofile_limit() {
        tracing::warn!(error = %e, "keeping the open-files limit as it is");
    }
    let cfg = match vigil_config::load_tree(&config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    for problem in crate::host_check::host_problems(&cfg) {
        tracing::warn!("{}", problem.line);
    }
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
    runtime.block_on(supervise(args, config, cfg, notify))
}

/// The log filter when `VIGIL_LOG` is unset, empty or invalid.
const DEFAULT_LOG: &str = "info";

/// Log to stderr, filtered by `VIGIL_LOG`. An invalid value does not keep
/// the tree from starting: vigil says so in one line and logs at
/// [`DEFAULT_LOG`] (docs/ADAPTER.md).
fn init_logging() {
    let (filter, invalid) = match std::env::var("VIGIL_LOG") {
        Err(std::env::VarError::NotPresent) => (None, None),
        Err(std::env::VarError::NotUnicode(v)) => {
            (None, Some((v.to_string_lossy().into_owned(), "not UTF-8".to_owned())))
        }
        Ok(v) if v.trim().is_empty() => (None, None),
        Ok(v) => match tracing_subscriber::EnvFilter::try_new(&v) {
            Ok(f) => (Some(f), None),
            Err(e) => (None, Some((v, e.to_string()))),
        },
    };
    let filter = filter.unwrap_or_else(|| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal() && !crate::no_color::no_color())
        .with_writer(std::io::stderr)
        // A log nobody reads any more (`2>&1 | head`) must not stop the
        // supervisor: a failed write is dropped, not reported with a print
        // that would panic on the same closed stderr.
        .log_internal_errors(false)
        .try_init();
    if let Some((value, error)) = invalid {
        tracing::warn!(
            "VIGIL_LOG={value:?} is not a valid log filter ({error}); logging at the default level, {DEFAULT_LOG}"
        );
    }
}

/// The tree as started: its handle, and what ends with it.
struct Running {
    sup: TreeHandle,
    /// Closes the control server (removing its socket file) when vigil
    /// returns, however it returns.
    control: CloseOnDrop,
    trace: Option<TraceFileStatus>,
    /// `--chaos`: switched off at the first stop signal.
    chaos: Option<ChaosControl>,
    /// `[http] listen`: the read-only HTTP endpoint, closed with vigil.
    _http: Option<crate::http_endpoint::HttpGuard>,
    /// `--keep-running`: the `start-tree` requests.
    starts: Option<vigil_tokio::control::start_tree::StartRequests>,
}

/// The reloader of SIGHUP, also the operator of `vigil ctl reload` and
/// `start-child` on `control`.
fn reloader(
    sup: &vigil_tokio::TreeHandle,
    cfg: &TreeConfig,
    config: &std::path::Path,
    output: &OutputMode,
    control: &vigil_tokio::control::ControlServer,
) -> crate::reload::Reloader {
    let reloader = crate::reload::Reloader::new(sup, cfg, config, output);
    control.set_operator(std::sync::Arc::new(crate::operator::VigilOperator::new(
        reloader.clone(),
        output,
    )));
    reloader
}

/// SIGTERM, SIGINT and SIGHUP, as streams; `None` if one cannot be installed.
fn stop_signals() -> Option<(
    tokio::signal::unix::Signal,
    tokio::signal::unix::Signal,
    tokio::signal::unix::Signal,
)> {
    Some((
        signal(SignalKind::terminate()).ok()?,
        signal(SignalKind::interrupt()).ok()?,
        signal(SignalKind::hangup()).ok()?,
    ))
}

async fn supervise(args: RunArgs, config: PathBuf, cfg: TreeConfig, notify: crate::systemd_notify::Notify) -> ExitCode {
    let output = args
        .output_dir
        .clone()
        .map_or(OutputMode::Tracing, |dir| OutputMode::Files { dir });
    // Before the first child: its orphans may come at once.
    let _reaper = crate::init_mode::start(args.init);
    // Before the tree starts too: a signal from then on is never lost (as
    // PID 1, a signal without a handler is dropped by the kernel).
    let Some((mut term, mut int, mut hup)) = stop_signals() else {
        eprintln!("error: cannot install signal handlers");
        return ExitCode::from(1);
    };
    let Running {
        mut sup,
        control,
        trace,
        chaos,
        _http,
        mut starts,
    } = match start(&args, &cfg, &output) {
        Ok(r) => r,
        Err(code) => return code,
    };
    tracing::info!(config = %cfg.source, workers = cfg.workers.len(), "supervising");
    let mut reporter = notify.report(&sup);
    // Reloads run beside the signal loop (a slow stop must not block SIGTERM)
    // and one after the other (each holds the current config while it works);
    // `vigil ctl reload` and `start-child` reach the same reloader.
    let reloader = reloader(&sup, &cfg, &config, &output, &control.0);
    let mut stopping = false;
    // `--keep-running`: the exit code of the tree that is down, while it is.
    let mut down: Option<ExitCode> = None;
    loop {
        tokio::select! {
            reason = sup.wait(), if down.is_none() => {
                report_chaos(chaos.as_ref());
                let code = trace_outcome(tree_outcome(&sup, &reason, stopping), trace.as_ref());
                if starts.is_some() && !stopping && crate::keep_running::stays_up(sup.outcome()) {
                    // The reporter goes on: the down status, and the watchdog
                    // (vigil is alive, and stays so).
                    tracing::error!("the tree is down; vigil keeps running (--keep-running): `vigil ctl status` says why, `vigil ctl start-tree` starts it again");
                    down = Some(code);
                    continue;
                }
                if let Some(r) = reporter.take() {
                    r.finish(std::time::Duration::from_millis(500)).await;
                }
                notify.stopping();
                // Let subscribers receive the end of their stream before the runtime goes.
                control.0.finish(std::time::Duration::from_millis(500)).await;
                return code;
            }
            Some(request) = crate::keep_running::next(&mut starts), if down.is_some() => {
                if let Some((new, new_cfg)) = crate::keep_running::restart(request, &config, &output, &control.0) {
                    sup = new;
                    reloader.reset(&sup, &new_cfg).await;
                    reporter = notify.report(&sup);
                    down = None;
                }
            }
            _ = term.recv() => {
                notify.stopping();
                if let Some(code) = down { return finish_down(&control, code).await; }
                if let Some(code) = on_stop_signal(&sup, chaos.as_ref(), &mut stopping, "SIGTERM").await { return code; }
            }
            _ = int.recv() => {
                notify.stopping();
                if let Some(code) = down { return finish_down(&control, code).await; }
                if let Some(code) = on_stop_signal(&sup, chaos.as_ref(), &mut stopping, "SIGINT").await { return code; }
            }
            _ = hup.recv() => {
                if stopping {
                    tracing::warn!("SIGHUP during shutdown: ignored");
                    continue;
                }
                if down.is_some() {
                    tracing::warn!("SIGHUP while the tree is down: ignored; `vigil ctl start-tree` starts it from the config file as it is now");
                    continue;
                }
                notify.reloading();
                let reload = reloader.spawn();
                notify.ready_after(reload);
            }
        }
    }
}

/// A stop signal while the tree is down (`--keep-running`): exit with the
/// code the tree's end gave.
async fn finish_down(control: &CloseOnDrop, code: ExitCode) -> ExitCode {
    tracing::info!("stop signal while the tree is down: exiting");
    control.0.finish(std::time::Duration::from_millis(500)).await;
    code
}

/// Open the trace, bind the control socket and start the tree; the exit
/// code if any of it fails.
fn start(args: &RunArgs, cfg: &TreeConfig, output: &OutputMode) -> Result<Running, ExitCode> {
    let (trace, trace_status) = args.trace.as_deref().map(open_trace).transpose()?.unzip();
    let socket = crate::socket_path::of_config(cfg, args.config.as_deref().unwrap_or(Path::new(&cfg.source)));
    let mut options = ControlOptions::new(&socket);
    options.group = crate::control_group::resolve(cfg).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    let control = ControlServer::bind(options).map_err(|e| {
        eprintln!("error: {e} (set another path with `[control] socket` in the config)");
        ExitCode::from(2)
    })?;
    let control_guard = CloseOnDrop(control.clone());
    let starts = if args.keep_running || cfg.run.keep_running {
        control.keep_serving()
    } else {
        None
    };
    let http = crate::http_endpoint::bind(cfg)?;
    // The config is one way to build a Tree: the same value `vigil sim`
    // simulates (its `[monitor]` table included).
    let mut tree = Tree::from_config_with_output(cfg, output)
        .control(control)
        .seed(ENGINE_SEED);
    let chaos = args.chaos.chaos();
    if let Some(mut trace) = trace {
        // The meta line first: what `vigil sim --replay` needs (docs/TRACE.md).
        write_meta(trace.as_mut(), cfg, chaos.as_ref());
        tree = tree.trace(trace);
    }
    let chaos_control = chaos.as_ref().map(vigil_tokio::chaos::Chaos::control);
    if let Some(chaos) = chaos {
        // Loudly, whatever VIGIL_LOG says: this run is disturbed on purpose.
        eprintln!("{}", crate::chaos_args::announcement(&chaos));
        tree = tree.chaos(chaos);
    }
    // `vigil ctl logs`: each child's recent output, kept from its first line
    // (only output that passes through vigil: not with --output-dir, unless
    // a worker has log files, which vigil writes).
    if *output == OutputMode::Tracing || cfg.workers.iter().any(|w| w.log.is_some()) {
        vigil_tokio::recent_output::enable(recent_limits(cfg));
    }
    let sup = tree.start().map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    let http = http.map(|h| h.serve(&control_guard.0)).transpose()?;
    Ok(Running {
        sup,
        control: control_guard,
        trace: trace_status,
        chaos: chaos_control,
        _http: http,
        starts,
    })
}

/// The limits of `[control] logs_lines` and `logs_bytes`, else the defaults.
fn recent_limits(cfg: &TreeConfig) -> vigil_tokio::recent_output::RecentLimits {
    let mut limits = vigil_tokio::recent_output::RecentLimits::default();
    let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    if let Some(n) = cfg.control.logs_lines {
        limits.lines = size(n);
    }
    if let Some(n) = cfg.control.logs_bytes {
        limits.bytes = size(n);
    }
    limits
}

/// The engine seed of a process tree (`Tree::start_processes`, in
/// adapters/tokio/src/builder.rs): backoff jitter draws from it.
pub const ENGINE_SEED: u64 = 0;

/// The trace's first line (docs/TRACE.md, "The meta line"): the config and
/// its digest, the engine seed, and the wall-clock time of `t = 0`, read
/// just before the driver starts its clock (the two readings are
/// microseconds apart); with `--chaos`, its seed and plan after those
/// (`chaos`, `chaos_faults`). A failed write is the trace file's to report.
fn write_meta(trace: &mut (dyn std::io::Write + Send), cfg: &TreeConfig, chaos: Option<&vigil_tokio::chaos::Chaos>) {
    let meta = vigil_trace::RunMeta {
        seed: ENGINE_SEED,
        config: cfg.source.clone(),
        digest: cfg.digest.map(|d| d.to_string()),
        t0: std::time::SystemTime::now(),
    };
    let mut line = meta.line();
    if let Some(chaos) = chaos {
        // Keys added after the existing ones (docs/TRACE.md, "Compatibility").
        if line.ends_with('}') {
            line.pop();
            line.push_str(&crate::chaos_args::meta_keys(chaos));
            line.push('}');
        }
    }
    let _ = writeln!(trace, "{line}");
}

/// What `--chaos` injected, logged when the tree is down.
fn report_chaos(chaos: Option<&ChaosControl>) {
    if let Some(c) = chaos {
        let i = c.injected();
        tracing::warn!(
            kills = i.kills,
            failed_starts = i.failed_starts,
            delayed_starts = i.delayed_starts,
            delayed_readies = i.delayed_readies,
            "chaos injected these faults into this run"
        );
    }
}

/// The exit code for the end of the tree (before the trace is accounted for).
fn tree_outcome(sup: &TreeHandle, reason: &ExitReason, stopping: bool) -> ExitCode {
    match sup.driver_panic() {
        // A bug in vigil: every child was killed; EX_SOFTWARE.
        Some(panic) => {
            tracing::error!(%panic, "vigil failed: every child was killed; exiting 70");
            ExitCode::from(crate::exit::DRIVER_PANIC)
        }
        // The handle's outcome is known however early the tree went down
        // (a give-up before anything could have listened for it).
        None => exit_code(sup.outcome(), reason, stopping),
    }
}

/// Closes the control server (removing its socket file) when dropped.
struct CloseOnDrop(ControlServer);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// First signal: chaos off, then ordered shutdown. Second: kill
/// everything, exit 130.
async fn on_stop_signal(
    sup: &TreeHandle,
    chaos: Option<&ChaosControl>,
    stopping: &mut bool,
    name: &str,
) -> Option<ExitCode> {
    if !*stopping {
        *stopping = true;
        if let Some(c) = chaos {
            c.stop();
        }
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

/// 1 for a tree that failed (could not start, or its root gave up), else 0.
fn exit_code(outcome: Outcome, reason: &ExitReason, asked: bool) -> ExitCode {
    match outcome {
        Outcome::StartFailed => {
            tracing::error!(%reason, "the tree could not start");
            ExitCode::from(1)
        }
        Outcome::RootGaveUp => {
            tracing::error!("the root supervisor gave up: too many restarts");
            ExitCode::from(1)
        }
        Outcome::ShutDown | Outcome::Up => {
            tracing::info!(%reason, asked, "the tree is down");
            ExitCode::SUCCESS
        }
    }
}

/// The `--trace` file: whole lines, each written as soon as it is complete
/// (it can be followed live, and a `kill -9` of vigil loses nothing). A
/// write error is logged when it happens and stops the trace; supervision
/// goes on.
/// A file that cannot be created is bad input: exit 2.
fn open_trace(path: &std::path::Path) -> Result<(Box<dyn std::io::Write + Send>, TraceFileStatus), ExitCode> {
    let file = TraceFile::create(path, Flush::EachLine).map_err(|e| {
        eprintln!("error: cannot write the trace to {}: {e}", path.display());
        ExitCode::from(2)
    })?;
    let file = file.on_error(|e| {
        tracing::error!(
            file = %e.path().display(),
            errno = %e.errno_name(),
            "{e}; vigil goes on supervising without it, and will exit {OUTPUT_FAILED} (unless the tree fails: 1)"
        );
    });
    let status = file.status();
    Ok((Box::new(file), status))
}

/// A run that ended well but lost its trace exits [`OUTPUT_FAILED`]; a
/// failure of the tree keeps its own code.
fn trace_outcome(code: ExitCode, trace: Option<&TraceFileStatus>) -> ExitCode {
    match trace.and_then(TraceFileStatus::error) {
        Some(e) => {
            tracing::error!(file = %e.path().display(), "the trace is incomplete: {e}");
            if code == ExitCode::SUCCESS {
                ExitCode::from(OUTPUT_FAILED)
            } else {
                code
            }
        }
        None => code,
    }
}

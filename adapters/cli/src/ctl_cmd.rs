//! `vigil ctl`: talk to a running `vigil run` over its control socket.
//!
//! Readable tables by default, the server's JSON with `--json` (errors too:
//! `ctl_error.rs`). Exit codes:
//! 0 done; 1 the operation failed (the server refused it, or no server runs
//! at the socket); 2 bad usage or bad input (an unknown path, bad JSON
//! arguments, an unreadable config); 124 no answer within `--timeout`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use vigil_tokio::control::client::{Client, ClientError, Message};
use vigil_tokio::control::protocol::{Op, WireId};

use crate::ctl_error;
use crate::ctl_render as render;

/// The options of `vigil ctl`.
#[derive(Clone, Debug, Args)]
pub struct CtlArgs {
    /// The control socket. Default: the socket of `--config`, else
    /// `$VIGIL_SOCKET`, else the only socket in `$XDG_RUNTIME_DIR/vigil/`,
    /// else the only `vigil-*.sock` in the working directory.
    #[arg(long, value_name = "PATH", global = true)]
    pub socket: Option<PathBuf>,

    /// Find the socket from this tree config (its `[control] socket`, or the
    /// default for its name).
    #[arg(long, value_name = "CONFIG", global = true)]
    pub config: Option<PathBuf>,

    /// Print the server's JSON answer instead of a table; an error as
    /// `{"error":{"kind":..,"message":..}}` on stdout (same exit code).
    #[arg(long, global = true)]
    pub json: bool,

    /// How long to wait for the server's answer (`500ms`, `10s`, `2m`; a bare
    /// number is milliseconds; `0` waits for ever). Default 30s. For `call`,
    /// also the call's own timeout (the client waits 5s longer); for
    /// `subscribe`, only until the subscription is confirmed. Exit code 124
    /// when it runs out.
    #[arg(long, value_name = "DURATION", global = true, value_parser = parse_timeout)]
    pub timeout: Option<Duration>,

    /// What to do.
    #[command(subcommand)]
    pub command: CtlCommand,
}

/// A `vigil ctl` subcommand.
#[derive(Clone, Debug, Subcommand)]
pub enum CtlCommand {
    /// Every node: state, generation, restarts, uptime, memory, CPU, worker.
    Status,
    /// The tree, nested.
    Tree,
    /// Start a stopped child.
    Start {
        /// The child's path (`web/w1`).
        path: String,
    },
    /// Stop a child (it stays stopped until started).
    Stop {
        /// The child's path.
        path: String,
    },
    /// Stop a child if it runs, and start it again.
    Restart {
        /// The child's path.
        path: String,
    },
    /// Remove a stopped child.
    Delete {
        /// The child's path.
        path: String,
    },
    /// Restart every running child of a supervisor (the root by default).
    RestartAll {
        /// One child at a time, each started (and ready) before the next stops.
        #[arg(long)]
        rolling: bool,
        /// With --rolling, PATH naming a replica template (`count`): start
        /// each replica's replacement and wait until it is ready before the
        /// old run stops, at most N extra replicas at a time.
        #[arg(long, value_name = "N")]
        surge: Option<u32>,
        /// The supervisor's path (with --surge: the replica template's).
        #[arg(default_value = "")]
        path: String,
    },
    /// Set the number of replicas of a template (a child with `count`):
    /// new ones start at the end, the highest indices stop first.
    Scale {
        /// The template's path (`main/web`).
        path: String,
        /// How many replicas.
        count: u32,
    },
    /// Shut the tree down in order (vigil run then exits).
    Shutdown,
    /// The workers registered on the socket and their published state.
    Workers,
    /// Metrics in the Prometheus text format.
    Metrics,
    /// Follow the live trace (one JSON event per line) until the tree is down.
    Subscribe {
        /// One readable line per event, stamped with the wall clock (RFC 3339, UTC).
        #[arg(long)]
        human: bool,
    },
    /// Forward an operation to a registered worker and print its answer.
    Call {
        /// The worker's path.
        path: String,
        /// The operation's name.
        name: String,
        /// Its arguments as JSON.
        #[arg(default_value = "null")]
        args: String,
    },
    /// Without PATH: reload the config file as SIGHUP does, and print the
    /// diff applied. With PATH: send the child's `reload_signal` to its
    /// program's main process (the config is not read).
    Reload {
        /// The process child whose program reloads (its `reload_signal`);
        /// without it, the config file is reloaded.
        path: Option<String>,
        /// Print the config's diff without applying it (not with PATH).
        #[arg(long)]
        dry_run: bool,
    },
    /// Send SIGNAL (`HUP`, `SIGUSR1`, `KILL`...) to the program of the
    /// process child at PATH: its main process, or with --all its whole
    /// process group.
    Signal {
        /// The process child.
        path: String,
        /// The signal: SIGHUP, SIGINT, SIGQUIT, SIGABRT, SIGUSR1, SIGUSR2,
        /// SIGALRM, SIGTERM, SIGCONT, SIGTSTP, SIGTTIN, SIGTTOU, SIGWINCH,
        /// SIGKILL or SIGSTOP (the SIG prefix may be left out).
        signal: String,
        /// To every process of the child's process group, not only its main process.
        #[arg(long)]
        all: bool,
    },
    /// Add a child written as config (one `[[child]]` table) under PARENT.
    StartChild {
        /// The supervisor to add it under (`""`: the root).
        parent: String,
        /// A TOML file holding exactly one `[[child]]` table.
        #[arg(long, value_name = "FILE")]
        config_snippet: PathBuf,
    },
    /// A child's recent output (stdout and stderr).
    Logs {
        /// The child's path.
        path: String,
        /// Keep printing new lines until the child is removed or the tree is down.
        #[arg(short, long)]
        follow: bool,
        /// The newest lines to print first.
        #[arg(short = 'n', long, value_name = "N", default_value_t = 50)]
        lines: usize,
    },
    /// Start the tree again after it gave up or failed to start (`vigil run
    /// --keep-running` only; refused while the tree is up).
    StartTree,
}

/// The client's wait when `--timeout` is not given.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How much longer than its own timeout the client waits for a `call`.
const CALL_MARGIN: Duration = Duration::from_secs(5);

/// Parse `--timeout`: a duration as the configs write them, or a bare
/// number of milliseconds (what `call --timeout MS` always took).
fn parse_timeout(text: &str) -> Result<Duration, String> {
    if let Ok(ms) = text.trim().parse::<u64>() {
        return Ok(Duration::from_millis(ms));
    }
    vigil_config::parse_duration(text)
        .map_err(|e| format!("{} (a bare number is milliseconds; 0 waits for ever)", e.message()))
}

/// Run `vigil ctl`.
pub fn ctl(args: CtlArgs) -> ExitCode {
    let json = args.json;
    let socket = match socket_path(&args) {
        Ok(s) => s,
        Err(e) => return ctl_error::report(json, "bad_input", &e, 2),
    };
    let op = match op(&args) {
        Ok(op) => op,
        Err(e) => return ctl_error::report(json, "bad_input", &e, 2),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => return ctl_error::report(json, "runtime", &format!("cannot start the runtime: {e}"), 1),
    };
    let wait = client_wait(&args);
    match runtime.block_on(talk(&socket, &op, &args, wait)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failed::TimedOut(waited)) => {
            let changes = !matches!(
                args.command,
                CtlCommand::Status
                    | CtlCommand::Tree
                    | CtlCommand::Workers
                    | CtlCommand::Metrics
                    | CtlCommand::Subscribe { .. }
                    | CtlCommand::Logs { .. }
                    | CtlCommand::Reload { dry_run: true, .. }
            );
            let message = format!(
                "no answer from the vigil control server at {} within {waited:?} (is vigil stopped or \
                 overloaded? --timeout waits longer){}",
                socket.display(),
                if changes {
                    "; the operation may still complete"
                } else {
                    ""
                }
            );
            ctl_error::report(json, "timeout", &message, crate::exit::NO_ANSWER)
        }
        Err(Failed::Client(e)) => {
            let code = exit_code(&e);
            ctl_error::report_client(json, &e, code)
        }
        Err(Failed::Partial(code)) => ExitCode::from(code),
    }
}

/// How long the client waits: `--timeout` (0: for ever), else 30 s; for a
/// `call`, its own timeout (or the server's default, 30 s) and a margin.
fn client_wait(args: &CtlArgs) -> Option<Duration> {
    match (&args.command, args.timeout) {
        (_, Some(t)) if t.is_zero() => None,
        (CtlCommand::Call { .. }, t) => Some(t.unwrap_or(DEFAULT_TIMEOUT).saturating_add(CALL_MARGIN)),
        (_, t) => Some(t.unwrap_or(DEFAULT_TIMEOUT)),
    }
}

/// Why `vigil ctl` failed.
enum Failed {
    /// The server did not answer within this long.
    TimedOut(Duration),
    /// The connection or the server said no.
    Client(ClientError),
    /// The answer is printed, and says that part of the operation failed
    /// (a reload with failed steps): exit with this code.
    Partial(u8),
}

impl From<ClientError> for Failed {
    fn from(e: ClientError) -> Self {
        Failed::Client(e)
    }
}

/// Remote errors about what the user typed are bad input (2); everything
/// else that fails is 1.
fn exit_code(e: &ClientError) -> u8 {
    match e {
        ClientError::Remote { code, .. }
            if matches!(
                code.as_str(),
                "not_found"
                    | "not_a_supervisor"
                    | "root_not_allowed"
                    | "bad_request"
                    | "unknown_op"
                    | "bad_spec"
                    | "duplicate_key"
                    | "bad_config"
            ) =>
        {
            2
        }
        _ => 1,
    }
}

fn socket_path(args: &CtlArgs) -> Result<PathBuf, String> {
    if let Some(s) = &args.socket {
        return Ok(s.clone());
    }
    if let Some(c) = &args.config {
        return crate::socket_path::of_config_file(c);
    }
    if let Some(s) = std::env::var_os("VIGIL_SOCKET").filter(|s| !s.is_empty()) {
        return Ok(PathBuf::from(s));
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir).join("vigil");
        let sockets: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "sock"))
                    .collect()
            })
            .unwrap_or_default();
        match sockets.len() {
            0 => {}
            1 => return Ok(sockets[0].clone()),
            _ => {
                return Err(format!(
                    "{} vigil sockets in {}; choose one with --socket or --config",
                    sockets.len(),
                    dir.display()
                ))
            }
        }
    }
    // The default of a config in the working directory: `vigil-<name>.sock`.
    let here: Vec<PathBuf> = std::fs::read_dir(".")
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    name.starts_with("vigil-") && name.ends_with(".sock")
                })
                .collect()
        })
        .unwrap_or_default();
    match here.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err("no vigil socket found: give --config CONFIG (or --socket PATH)".to_owned()),
        many => Err(format!(
            "{} vigil sockets in the working directory; choose one with --socket or --config",
            many.len()
        )),
    }
}

fn op(args: &CtlArgs) -> Result<Op, String> {
    Ok(match args.command.clone() {
        CtlCommand::Status => Op::Status {},
        CtlCommand::Tree => Op::Tree {},
        CtlCommand::Start { path } => Op::Start { path },
        CtlCommand::Stop { path } => Op::Stop { path },
        CtlCommand::Restart { path } => Op::Restart { path },
        CtlCommand::Delete { path } => Op::Delete { path },
        CtlCommand::RestartAll {
            rolling,
            surge: Some(n),
            path,
        } => {
            if !rolling {
                return Err(format!(
                    "--surge {n} needs --rolling: a surge restart is a rolling restart that starts each \
                     replacement before the old run stops (vigil ctl restart-all --rolling --surge {n} PATH)"
                ));
            }
            if n == 0 {
                return Err("--surge must be at least 1 (extra replicas at a time)".to_owned());
            }
            Op::RestartAll {
                path,
                rolling,
                surge: Some(n),
            }
        }
        CtlCommand::RestartAll {
            rolling,
            surge: None,
            path,
        } => Op::RestartAll {
            path,
            rolling,
            surge: None,
        },
        CtlCommand::Scale { path, count } => Op::Scale { path, count },
        CtlCommand::Shutdown => Op::Shutdown {},
        CtlCommand::Workers => Op::Workers {},
        CtlCommand::Metrics => Op::Metrics {},
        CtlCommand::StartTree => Op::StartTree {},
        CtlCommand::Subscribe { .. } => Op::Subscribe {
            trace: true,
            runs: false,
        },
        CtlCommand::Reload { path: None, dry_run } => Op::Reload { dry_run },
        CtlCommand::Reload {
            path: Some(_),
            dry_run: true,
        } => {
            return Err(
                "--dry-run applies to the config's reload only (`vigil ctl reload --dry-run`, \
                        without PATH): a child's reload signal has nothing to preview"
                    .to_owned(),
            )
        }
        CtlCommand::Reload { path: Some(path), .. } => Op::ReloadChild { path },
        CtlCommand::Signal { path, signal, all } => Op::Signal { path, signal, all },
        CtlCommand::StartChild { parent, config_snippet } => Op::StartChild {
            parent,
            snippet: std::fs::read_to_string(&config_snippet)
                .map_err(|e| format!("cannot read {}: {e}", config_snippet.display()))?,
            source: Some(config_snippet.display().to_string()),
        },
        CtlCommand::Logs { path, follow, lines } => Op::Logs {
            path,
            lines: Some(lines),
            follow,
        },
        CtlCommand::Call { path, name, args: json } => Op::Call {
            path,
            name,
            args: serde_json::from_str(&json).map_err(|e| format!("the call's arguments are not JSON: {e}"))?,
            // Out of range (over an hour): the server says so (exit 2).
            timeout_ms: args
                .timeout
                .filter(|t| !t.is_zero())
                .map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX)),
        },
    })
}

/// `future`, or [`Failed::TimedOut`] after `wait` (none: no limit).
async fn within<T>(
    wait: Option<Duration>,
    future: impl std::future::Future<Output = Result<T, ClientError>>,
) -> Result<T, Failed> {
    match wait {
        Some(w) => match tokio::time::timeout(w, future).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(Failed::TimedOut(w)),
        },
        None => Ok(future.await?),
    }
}

async fn talk(socket: &std::path::Path, op: &Op, args: &CtlArgs, wait: Option<Duration>) -> Result<(), Failed> {
    if matches!(op, Op::Subscribe { .. } | Op::Logs { follow: true, .. }) {
        let (mut client, id) = within(wait, async {
            let mut client = Client::connect(socket).await?;
            let id = subscribed(&mut client, op, args).await?;
            Ok((client, id))
        })
        .await?;
        return Ok(follow(&mut client, id, args).await?);
    }
    let result = within(wait, async {
        let mut client = Client::connect(socket).await?;
        client
            .request_with(op, |item| {
                // Streamed partial answers of `call`, one JSON line each.
                println!("{item}");
            })
            .await
    })
    .await?;
    if args.json {
        println!("{result}");
        return partial(&result);
    }
    let text = match &args.command {
        CtlCommand::Status => render::status(&result),
        CtlCommand::Tree => render::tree(&result),
        CtlCommand::Workers => render::workers(&result),
        CtlCommand::Metrics => result.as_str().unwrap_or_default().to_owned(),
        CtlCommand::Call { .. } => serde_json::to_string_pretty(&result).unwrap_or_default() + "\n",
        CtlCommand::Reload { path: None, .. } => crate::ctl_human::reload(&result),
        CtlCommand::Reload { path: Some(path), .. } | CtlCommand::Signal { path, .. } => {
            crate::ctl_human::signal_sent(path, &result)
        }
        CtlCommand::Scale { .. } => crate::replica_ops::render_scale(&result),
        CtlCommand::RestartAll { surge: Some(_), .. } => format!(
            "rolled {} (surge {})\n",
            result["rolled"]
                .as_array()
                .map(|a| a.iter().filter_map(|p| p.as_str()).collect::<Vec<_>>().join(", "))
                .unwrap_or_default(),
            result["surge"]
        ),
        CtlCommand::Logs { .. } => crate::ctl_human::logs(&result),
        CtlCommand::StartChild { .. } => format!(
            "started {} (generation {})\n",
            result["path"].as_str().unwrap_or("?"),
            result["generation"]
        ),
        other => render::done(other.verb(), target(other), &result),
    };
    print!("{text}");
    partial(&result)
}

/// A reload whose answer lists failed steps exits 1 (after printing it).
fn partial(result: &serde_json::Value) -> Result<(), Failed> {
    match result.get("failed").and_then(serde_json::Value::as_array) {
        Some(failed) if !failed.is_empty() => Err(Failed::Partial(1)),
        _ => Ok(()),
    }
}

/// Send a streaming `op` (`subscribe`, `logs -f`) and wait until the
/// server confirms (printing the lines `logs` answers with first); the
/// stream's id.
async fn subscribed(client: &mut Client, op: &Op, args: &CtlArgs) -> Result<Option<WireId>, ClientError> {
    let id = Some(client.send(op).await?);
    loop {
        match client.next_message().await? {
            Message::Reply { id: got, result } if got == id || got.is_none() => {
                let result = result.map_err(|(code, message)| ClientError::Remote { code, message })?;
                if let CtlCommand::Logs { .. } = args.command {
                    print_first_lines(&result, args.json);
                }
                return Ok(id);
            }
            _ => {}
        }
    }
}

/// The lines `logs -f` answers with before it follows.
fn print_first_lines(result: &serde_json::Value, json: bool) {
    if json {
        for l in result["lines"].as_array().into_iter().flatten() {
            println!("{l}");
        }
    } else {
        print!("{}", crate::ctl_human::logs(result));
    }
}

/// `subscribe` and `logs -f`: every item as one line (JSON, or readable
/// with `--human` / for `logs` without `--json`) until the stream ends.
async fn follow(client: &mut Client, id: Option<WireId>, args: &CtlArgs) -> Result<(), ClientError> {
    let readable = match args.command {
        CtlCommand::Subscribe { human } => human,
        _ => !args.json,
    };
    // A reader that leaves (`| head -1`) ends the command even on an idle tree.
    let gone = crate::output::stdout_reader_gone();
    tokio::pin!(gone);
    loop {
        let message = tokio::select! {
            m = client.next_message() => m?,
            () = &mut gone => crate::output::exit_closed(),
        };
        match message {
            Message::Item { id: got, text, item } if got == id => match (&args.command, readable) {
                (_, false) => println!("{text}"),
                (CtlCommand::Logs { .. }, true) => println!("{}", crate::ctl_human::log_line(&item)),
                (_, true) => println!("{}", crate::ctl_human::trace_event(std::time::SystemTime::now(), &text)),
            },
            Message::End { .. } => return Ok(()),
            _ => {}
        }
    }
}

impl CtlCommand {
    /// Past tense for the confirmation line.
    pub(crate) fn verb(&self) -> &'static str {
        match self {
            CtlCommand::Start { .. } => "started",
            CtlCommand::Stop { .. } => "stopped",
            CtlCommand::Restart { .. } => "restarted",
            CtlCommand::Delete { .. } => "deleted",
            CtlCommand::RestartAll { .. } => "restarted the children of",
            CtlCommand::Shutdown => "shutting down",
            CtlCommand::StartTree => "started the tree",
            _ => "done",
        }
    }
}

/// Used by the renderer for the one-line answers.
pub(crate) fn target(command: &CtlCommand) -> Option<&str> {
    match command {
        CtlCommand::Start { path }
        | CtlCommand::Stop { path }
        | CtlCommand::Restart { path }
        | CtlCommand::Delete { path }
        | CtlCommand::RestartAll { path, .. } => Some(path),
        _ => None,
    }
}

//! `vigil ctl`: talk to a running `vigil run` over its control socket.
//!
//! Readable tables by default, the server's JSON with `--json`. Exit codes:
//! 0 done; 1 the operation failed (the server refused it, or no server runs
//! at the socket); 2 bad usage or bad input (an unknown path, bad JSON
//! arguments, an unreadable config); 124 no answer within `--timeout`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use vigil_tokio::control::client::{Client, ClientError, Message};
use vigil_tokio::control::protocol::{Op, WireId};

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

    /// Print the server's JSON answer instead of a table.
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
        /// The supervisor's path.
        #[arg(default_value = "")]
        path: String,
    },
    /// Shut the tree down in order (vigil run then exits).
    Shutdown,
    /// The workers registered on the socket and their published state.
    Workers,
    /// Metrics in the Prometheus text format.
    Metrics,
    /// Follow the live trace (one JSON event per line) until the tree is down.
    Subscribe,
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
    let socket = match socket_path(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let op = match op(&args) {
        Ok(op) => op,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
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
                    | CtlCommand::Subscribe
            );
            eprintln!(
                "error: no answer from the vigil control server at {} within {waited:?} (is vigil stopped or \
                 overloaded? --timeout waits longer){}",
                socket.display(),
                if changes {
                    "; the operation may still complete"
                } else {
                    ""
                }
            );
            ExitCode::from(crate::exit::NO_ANSWER)
        }
        Err(Failed::Client(e)) => {
            eprintln!("error: {e}");
            exit_code(&e)
        }
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
}

impl From<ClientError> for Failed {
    fn from(e: ClientError) -> Self {
        Failed::Client(e)
    }
}

/// Remote errors about what the user typed are bad input (2); everything
/// else that fails is 1.
fn exit_code(e: &ClientError) -> ExitCode {
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
            ) =>
        {
            ExitCode::from(2)
        }
        _ => ExitCode::from(1),
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
        CtlCommand::RestartAll { rolling, path } => Op::RestartAll { path, rolling },
        CtlCommand::Shutdown => Op::Shutdown {},
        CtlCommand::Workers => Op::Workers {},
        CtlCommand::Metrics => Op::Metrics {},
        CtlCommand::Subscribe => Op::Subscribe {
            trace: true,
            runs: false,
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
    if let Op::Subscribe { .. } = op {
        let (mut client, id) = within(wait, async {
            let mut client = Client::connect(socket).await?;
            let id = subscribed(&mut client).await?;
            Ok((client, id))
        })
        .await?;
        return Ok(follow(&mut client, id).await?);
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
        return Ok(());
    }
    let text = match &args.command {
        CtlCommand::Status => render::status(&result),
        CtlCommand::Tree => render::tree(&result),
        CtlCommand::Workers => render::workers(&result),
        CtlCommand::Metrics => result.as_str().unwrap_or_default().to_owned(),
        CtlCommand::Call { .. } => serde_json::to_string_pretty(&result).unwrap_or_default() + "\n",
        other => render::done(other.verb(), target(other), &result),
    };
    print!("{text}");
    Ok(())
}

/// Subscribe, and wait until the server confirms; the subscription's id.
async fn subscribed(client: &mut Client) -> Result<Option<WireId>, ClientError> {
    let op = Op::Subscribe {
        trace: true,
        runs: false,
    };
    let id = Some(client.send(&op).await?);
    loop {
        match client.next_message().await? {
            Message::Reply { id: got, result } if got == id || got.is_none() => {
                return result
                    .map(|_| id)
                    .map_err(|(code, message)| ClientError::Remote { code, message });
            }
            _ => {}
        }
    }
}

/// `subscribe`: every trace event as one JSON line until the stream ends.
async fn follow(client: &mut Client, id: Option<WireId>) -> Result<(), ClientError> {
    // A reader that leaves (`| head -1`) ends the command even on an idle tree.
    let gone = crate::output::stdout_reader_gone();
    tokio::pin!(gone);
    loop {
        let message = tokio::select! {
            m = client.next_message() => m?,
            () = &mut gone => crate::output::exit_closed(),
        };
        match message {
            Message::Item { id: got, text, .. } if got == id => println!("{text}"),
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

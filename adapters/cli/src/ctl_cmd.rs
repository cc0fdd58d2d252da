//! `vigil ctl`: talk to a running `vigil run` over its control socket.
//!
//! Readable tables by default, the server's JSON with `--json`. Exit codes:
//! 0 done; 1 the operation failed (the server refused it, or no server runs
//! at the socket); 2 bad usage or bad input (an unknown path, bad JSON
//! arguments, an unreadable config).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use vigil_tokio::control::client::{Client, ClientError, Message};
use vigil_tokio::control::protocol::Op;

use crate::ctl_render as render;

/// The options of `vigil ctl`.
#[derive(Clone, Debug, Args)]
pub struct CtlArgs {
    /// The control socket. Default: the socket of `--config`, else
    /// `$VIGIL_SOCKET`, else the only socket in `$XDG_RUNTIME_DIR/vigil/`,
    /// else `./vigil.sock`.
    #[arg(long, value_name = "PATH", global = true)]
    pub socket: Option<PathBuf>,

    /// Find the socket from this tree config (its `[control] socket`, or the
    /// default for its name).
    #[arg(long, value_name = "CONFIG", global = true)]
    pub config: Option<PathBuf>,

    /// Print the server's JSON answer instead of a table.
    #[arg(long, global = true)]
    pub json: bool,

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
        /// How long to wait for the answer, in milliseconds.
        #[arg(long, value_name = "MS")]
        timeout: Option<u64>,
    },
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
    let op = match op(&args.command) {
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
    match runtime.block_on(talk(&socket, &op, &args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            exit_code(&e)
        }
    }
}

/// Remote errors about what the user typed are bad input (2); everything
/// else that fails is 1.
fn exit_code(e: &ClientError) -> ExitCode {
    match e {
        ClientError::Remote { code, .. }
            if matches!(
                code.as_str(),
                "not_found" | "not_a_supervisor" | "root_not_allowed" | "bad_request" | "unknown_op" | "bad_spec"
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
        let cfg = vigil_config::load_tree(c).map_err(|e| e.to_string())?;
        return Ok(crate::run_cmd::control_socket(&cfg));
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
    Ok(PathBuf::from("vigil.sock"))
}

fn op(command: &CtlCommand) -> Result<Op, String> {
    Ok(match command.clone() {
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
        CtlCommand::Subscribe => Op::Subscribe {},
        CtlCommand::Call {
            path,
            name,
            args,
            timeout,
        } => Op::Call {
            path,
            name,
            args: serde_json::from_str(&args).map_err(|e| format!("the call's arguments are not JSON: {e}"))?,
            timeout_ms: timeout,
        },
    })
}

async fn talk(socket: &std::path::Path, op: &Op, args: &CtlArgs) -> Result<(), ClientError> {
    let mut client = Client::connect(socket).await?;
    if let Op::Subscribe {} = op {
        return follow(&mut client).await;
    }
    let json = args.json;
    let result = client
        .request_with(op, |item| {
            // Streamed partial answers of `call`, one JSON line each.
            println!("{item}");
        })
        .await?;
    if json {
        println!("{result}");
        return Ok(());
    }
    let text = match &args.command {
        CtlCommand::Status => render::status(&result),
        CtlCommand::Tree => render::tree(&result),
        CtlCommand::Workers => render::workers(&result),
        CtlCommand::Metrics => result.as_str().unwrap_or_default().to_owned(),
        CtlCommand::Call { .. } => serde_json::to_string_pretty(&result).unwrap_or_default() + "\n",
        other => render::done(other, &result),
    };
    print!("{text}");
    Ok(())
}

/// `subscribe`: every trace event as one JSON line until the stream ends.
async fn follow(client: &mut Client) -> Result<(), ClientError> {
    let id = Some(client.send(&Op::Subscribe {}).await?);
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
            Message::Reply {
                result: Err((code, message)),
                ..
            } => {
                return Err(ClientError::Remote { code, message });
            }
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

//! How `vigil ctl` reports a failure: `error: MESSAGE` on stderr, or with
//! `--json` one JSON object on stdout,
//! `{"error":{"kind":"not_found","message":"..."}}`, so that a script
//! reads one JSON document from stdout whatever happened; the exit code is
//! the same either way. `kind` is the server's error code for a refused
//! operation (docs/PROTOCOL.md), else one of `usage` (bad arguments),
//! `bad_input` (an unreadable file, arguments that are not JSON),
//! `not_running`, `connect`, `io`, `closed`, `protocol`, `timeout`,
//! `runtime`.

use std::process::ExitCode;

use serde_json::json;
use vigil_tokio::control::client::ClientError;

/// Report a failure of kind `kind`; the exit code `code`.
pub(crate) fn report(json: bool, kind: &str, message: &str, code: u8) -> ExitCode {
    if json {
        println!("{}", json!({ "error": { "kind": kind, "message": message } }));
    } else {
        eprintln!("error: {message}");
    }
    ExitCode::from(code)
}

/// Report a client error: a refusal keeps the server's code (as `kind`)
/// and message; the exit code `code`.
pub(crate) fn report_client(json: bool, e: &ClientError, code: u8) -> ExitCode {
    let kind = match e {
        ClientError::Remote { code: kind, message } if json => return report(json, kind, message, code),
        ClientError::Remote { .. } => "remote",
        ClientError::NotRunning { .. } => "not_running",
        ClientError::Connect { .. } => "connect",
        ClientError::Io(_) => "io",
        ClientError::Closed => "closed",
        ClientError::Protocol(_) => "protocol",
        ClientError::NoEnv(_) => "no_env",
    };
    report(json, kind, &e.to_string(), code)
}

/// A command line clap refused: with `ctl ... --json` (and not `--help`
/// or `--version`), the JSON error and exit 2; otherwise clap's own report.
pub(crate) fn usage(e: clap::Error) -> ! {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ctl = args.first().is_some_and(|a| a == "ctl");
    if ctl && e.use_stderr() && args.iter().any(|a| a == "--json") {
        // clap's message without its usage and help hints, on one line.
        let message = e.to_string();
        let text: Vec<&str> = message
            .trim_start_matches("error: ")
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .map(str::trim)
            .collect();
        let _ = report(true, "usage", &text.join(" "), 2);
        std::process::exit(2);
    }
    e.exit()
}

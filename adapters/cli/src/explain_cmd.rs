//! `vigil explain CONFIG TRACE`: every restart, give-up, timeout, request
//! and shutdown of a trace as a timeline with its cause (docs/CLI.md;
//! docs/SIMULATION.md, "Explaining a trace"). The explaining is
//! `vigil_sim::explain`'s; this reads the files, focuses and prints.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;

use crate::args::parse_duration_from_start;

/// The options of `vigil explain`.
#[derive(Clone, Debug, Args)]
#[command(after_help = "\
Exit codes: 0 explained, 1 explained, but some decisions disagree with the intensity \
windows rebuilt from CONFIG (a trace of another config, or a broken engine), 2 bad usage \
or bad input (a file that cannot be read, a line that is not a trace event, a supervisor \
CONFIG does not have: the line is named).")]
pub struct ExplainArgs {
    /// The tree config (TOML) the trace was made with.
    #[arg(value_name = "CONFIG")]
    pub config: PathBuf,

    /// The trace (JSON lines) of `vigil sim --trace` or `vigil run --trace`.
    #[arg(value_name = "TRACE")]
    pub trace: PathBuf,

    /// The timeline as JSON lines, one object per entry, instead of text.
    #[arg(long)]
    pub json: bool,

    /// Only the entries about this path and the nodes below it (and the tree's end).
    #[arg(long, value_name = "PREFIX")]
    pub path: Option<String>,

    /// Only the entries at or after this time from the start (`90s`, `1.5m`).
    #[arg(long, value_name = "TIME", value_parser = parse_duration_from_start)]
    pub from: Option<Duration>,

    /// Only the entries at or before this time from the start.
    #[arg(long, value_name = "TIME", value_parser = parse_duration_from_start)]
    pub to: Option<Duration>,
}

/// Run `vigil explain`.
pub fn explain(args: ExplainArgs) -> ExitCode {
    let cfg = match vigil_config::load_tree(&args.config) {
        Ok(c) => c,
        Err(e) => return bad_input(&e.to_string()),
    };
    let text = match std::fs::read(&args.trace) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => return bad_input(&format!("cannot read {}: {e}", args.trace.display())),
    };
    let mut e = match vigil_sim::explain(&cfg.spec, &text) {
        Ok(e) => e,
        Err(e) => return bad_input(&format!("{}: {e}", args.trace.display())),
    };
    if let Some(p) = args.path.as_deref().filter(|p| !p.is_empty()) {
        if !names_a_node(&cfg.spec, p) {
            return bad_input(&format!("--path {p}: no such node in {}", cfg.source));
        }
    }
    let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    e.focus(args.path.as_deref(), args.from.map(ns), args.to.map(ns));
    if args.json {
        print!("{}", e.to_json_lines());
    } else {
        println!("{}", header(&args, &cfg.source, &e));
        print!("{}", e.to_text());
    }
    ExitCode::from(if e.disagreements > 0 || e.unknown_windows > 0 {
        1
    } else {
        0
    })
}

fn bad_input(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

/// Whether `path` names a node of the config's tree (dynamic children aside).
fn names_a_node(spec: &vigil_core::SupervisorSpec, path: &str) -> bool {
    let mut sup = spec;
    let mut parts = path.split('/').peekable();
    while let Some(name) = parts.next() {
        let Some(child) = sup.children.iter().find(|c| c.name == name) else {
            return false;
        };
        match (&child.kind, parts.peek()) {
            (_, None) => return true,
            (vigil_core::ChildKind::Supervisor(s), Some(_)) => sup = s,
            (vigil_core::ChildKind::Worker, Some(_)) => return false,
        }
    }
    false
}

fn header(args: &ExplainArgs, config: &str, e: &vigil_sim::Explanation) -> String {
    let origin = match &e.meta {
        Some(m) => {
            let what = match (m.origin.as_deref(), m.seed) {
                (Some("run"), _) => "a `vigil run` trace".to_owned(),
                (_, Some(seed)) => format!("a `vigil sim` trace of seed {seed}"),
                (Some(o), None) => format!("a trace from {o}"),
                (None, None) => "a trace".to_owned(),
            };
            match m.wall_origin_ns {
                Some(ns) => format!("{what}, started at {}", vigil_sim::format_wall_clock(ns)),
                None => what,
            }
        }
        None => "a trace without a meta line".to_owned(),
    };
    let mut focus = String::new();
    if let Some(p) = &args.path {
        focus.push_str(&format!("; only {p} and below"));
    }
    format!(
        "{} against {config}: {origin}, {} lines, 0.000s to {}{focus}",
        args.trace.display(),
        e.lines,
        vigil_sim::format_time(vigil_core::Instant::from_nanos(e.last_t))
    )
}

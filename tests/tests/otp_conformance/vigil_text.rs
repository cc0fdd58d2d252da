//! A scenario in vigil's own formats: the tree config and the scenario
//! script of docs/CONFIG.md, exactly the files `vigil sim
//! CONFIG --script SCRIPT --no-random-faults` reads.

use std::fmt::Write as _;

use crate::scenario::{vigil_path, Child, ChildShape, Scenario, Shutdown, Step, Sup, PERIOD_SECS, STEP_SECS};

/// The tree config (TOML).
pub fn config(s: &Scenario) -> String {
    let mut out = format!("# OTP conformance scenario, seed {}\n[supervisor]\n", s.seed);
    flags(&mut out, &s.root, "\n");
    children(&mut out, &s.root, "child");
    out
}

/// The script (TOML): one step every [`STEP_SECS`] seconds of virtual time.
pub fn script(s: &Scenario) -> String {
    let mut out = String::new();
    for (i, step) in s.steps.iter().enumerate() {
        let _ = write!(out, "[[at]]\ntime = \"{}s\"\n", (i as u64 + 1) * STEP_SECS);
        let request = |out: &mut String, op: &str, path: &[String]| {
            let _ = writeln!(out, "request = \"{op}\"\npath = \"{}\"", vigil_path(path));
        };
        match step {
            Step::Exit { path, reason } => {
                let _ = writeln!(out, "exit = \"{}\"\nreason = \"{}\"", vigil_path(path), reason.vigil());
            }
            Step::FailStarts { path, count } => {
                let _ = writeln!(out, "fail_starts = \"{}\"\ncount = {count}", vigil_path(path));
            }
            Step::HangOnStop { path } => {
                let _ = writeln!(out, "hang_on_stop = \"{}\"", vigil_path(path));
            }
            Step::TerminateChild { path } => request(&mut out, "terminate_child", path),
            Step::RestartChild { path } => request(&mut out, "restart_child", path),
            Step::DeleteChild { path } => request(&mut out, "delete_child", path),
            Step::StartChild { parent, name } => {
                request(&mut out, "start_child", parent);
                let _ = writeln!(out, "name = \"{name}\"");
            }
            Step::Shutdown => out.push_str("request = \"shutdown\"\n"),
        }
        out.push('\n');
    }
    out
}

/// Virtual time the simulation needs: every step, and a margin.
pub fn duration_secs(s: &Scenario) -> u64 {
    (s.steps.len() as u64 + 2) * STEP_SECS
}

/// A supervisor's keys, separated by `sep`. The shutdown order is always
/// OTP's reverse one: OTP stops children in parallel only under
/// `simple_one_for_one`, which no scenario uses (docs/TESTING.md).
fn flags(out: &mut String, sup: &Sup, sep: &str) {
    let (strategy, auto_shutdown) = (sup.strategy.name(), sup.auto_shutdown.name());
    let _ = write!(
        out,
        "strategy = \"{strategy}\"{sep}intensity = {}{sep}period = \"{PERIOD_SECS}s\"{sep}auto_shutdown = \"{auto_shutdown}\"{sep}shutdown_order = \"reverse\"",
        sup.intensity
    );
}

/// `[[child]]` tables of `sup`, nested as `[[child.child]]`...
fn children(out: &mut String, sup: &Sup, table: &str) {
    for c in &sup.children {
        let _ = write!(out, "\n[[{table}]]\nname = \"{}\"\n", c.name);
        child_keys(out, c);
        if let ChildShape::Supervisor(s) = &c.kind {
            out.push_str("supervisor = { ");
            flags(out, s, ", ");
            out.push_str(" }\n");
            children(out, s, &format!("{table}.child"));
        }
    }
}

fn child_keys(out: &mut String, c: &Child) {
    if c.kind == ChildShape::Worker {
        let _ = writeln!(out, "command = [\"{}\"]", c.name);
    }
    let restart = c.restart.name();
    let shutdown = match c.shutdown {
        Shutdown::Brutal => "brutal".to_owned(),
        Shutdown::Millis(ms) => format!("{ms}ms"),
        Shutdown::Infinity => "infinity".to_owned(),
    };
    let _ = writeln!(
        out,
        "restart = \"{restart}\"\nshutdown = \"{shutdown}\"\nsignificant = {}",
        c.significant
    );
}

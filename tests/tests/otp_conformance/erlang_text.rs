//! A scenario as the term the OTP driver reads (`tests/conformance/
//! vigil_conformance.erl` documents the format): one line of the batch file.

use std::fmt::Write as _;

use crate::scenario::{Child, ChildShape, Scenario, Shutdown, Step, Sup, PERIOD_SECS};

/// `{scenario, Id, Flags, Children, Steps}.` and a newline.
pub fn batch_entry(id: usize, s: &Scenario) -> String {
    let mut out = format!("{{scenario, {id}, ");
    flags(&mut out, &s.root);
    out.push_str(", ");
    children(&mut out, &s.root);
    out.push_str(", [");
    for (i, step) in s.steps.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        self::step(&mut out, step);
    }
    out.push_str("]}.\n");
    out
}

fn flags(out: &mut String, sup: &Sup) {
    let (strategy, auto_shutdown) = (sup.strategy.name(), sup.auto_shutdown.name());
    let _ = write!(out, "{{{strategy}, {}, {PERIOD_SECS}, {auto_shutdown}}}", sup.intensity);
}

fn children(out: &mut String, sup: &Sup) {
    out.push('[');
    for (i, c) in sup.children.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        child(out, c);
    }
    out.push(']');
}

fn child(out: &mut String, c: &Child) {
    let restart = c.restart.name();
    let shutdown = match c.shutdown {
        Shutdown::Brutal => "brutal_kill".to_owned(),
        Shutdown::Millis(ms) => ms.to_string(),
        Shutdown::Infinity => "infinity".to_owned(),
    };
    match &c.kind {
        ChildShape::Worker => {
            let _ = write!(out, "{{worker, {}, {restart}, {shutdown}, {}}}", c.name, c.significant);
        }
        ChildShape::Supervisor(s) => {
            let _ = write!(
                out,
                "{{supervisor, {}, {restart}, {shutdown}, {}, ",
                c.name, c.significant
            );
            flags(out, s);
            out.push_str(", ");
            children(out, s);
            out.push('}');
        }
    }
}

/// `[a, b]`: names are plain lowercase atoms (`w1`, `s2`, `d3`).
fn path(out: &mut String, path: &[String]) {
    let _ = write!(out, "[{}]", path.join(", "));
}

fn step(out: &mut String, step: &Step) {
    let simple = |out: &mut String, op: &str, p: &[String]| {
        let _ = write!(out, "{{{op}, ");
        path(out, p);
        out.push('}');
    };
    match step {
        Step::Exit { path: p, reason } => {
            out.push_str("{exit, ");
            path(out, p);
            let _ = write!(out, ", {}}}", reason.erlang());
        }
        Step::FailStarts { path: p, count } => {
            out.push_str("{fail_starts, ");
            path(out, p);
            let _ = write!(out, ", {count}}}");
        }
        Step::HangOnStop { path: p } => simple(out, "hang_on_stop", p),
        Step::TerminateChild { path: p } => simple(out, "terminate_child", p),
        Step::RestartChild { path: p } => simple(out, "restart_child", p),
        Step::DeleteChild { path: p } => simple(out, "delete_child", p),
        Step::StartChild { parent, name } => {
            out.push_str("{start_child, ");
            path(out, parent);
            let _ = write!(out, ", {name}}}");
        }
        Step::Shutdown => out.push_str("shutdown"),
    }
}

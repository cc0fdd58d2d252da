//! The timeline as text (for people) and as JSON lines (for tools):
//! docs/SIMULATION.md, "Explaining a trace", documents both.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{json, Value};
use vigil_config::format_duration;

use super::wall_clock::format_utc;
use super::{Cause, Entry, EntryKind, Explanation, WindowView};

/// A trace time as seconds from the start, to the millisecond: `12.345s`.
pub(crate) fn secs(t: u64) -> String {
    format!("{}.{:03}s", t / 1_000_000_000, t / 1_000_000 % 1000)
}

/// A length of time, to the millisecond when it is longer than one.
fn span(ns: u64) -> String {
    let d = if ns >= 1_000_000 {
        Duration::from_millis(ns / 1_000_000)
    } else {
        Duration::from_nanos(ns)
    };
    format_duration(d)
}

/// A supervisor's name: `root` for the root.
pub(crate) fn sup_name(path: &str) -> &str {
    if path.is_empty() {
        "root"
    } else {
        path
    }
}

/// `web/http-1 exited (gen 41, reason error)`.
pub(crate) fn cause_text(c: &Cause) -> String {
    let gen = c.gen.map_or(String::new(), |g| format!("gen {g}, "));
    match c.what {
        "start_failed" => format!("{} failed to start ({gen}error: {})", c.path, c.reason),
        "ended" => format!("{} ended ({})", c.path, c.reason),
        _ => format!("{} exited ({gen}reason {})", c.path, c.reason),
    }
}

fn window_text(w: &WindowView) -> String {
    let list: Vec<String> = w
        .decisions
        .iter()
        .map(|d| format!("{} {}", secs(d.t), d.child.as_deref().unwrap_or("?")))
        .collect();
    list.join(", ")
}

fn window_verdict(w: &WindowView) -> String {
    let n = w.decisions.len();
    let first = w.decisions.first().map_or(0, |d| d.t);
    let last = w.decisions.last().map_or(0, |d| d.t);
    let (cmp, verdict) = if w.exceeded {
        (">", "give up")
    } else {
        ("<=", "restart")
    };
    let within = if n > 1 {
        format!("s in {}", span(last - first))
    } else {
        String::new()
    };
    format!(
        "{n} restart{within} {cmp} intensity {} in {}: {verdict}",
        w.intensity,
        format_duration(w.period)
    )
}

impl Explanation {
    /// The wall-clock time of `t`, when the meta line gave an origin.
    fn wall(&self, t: u64) -> Option<String> {
        let origin = self.meta.as_ref()?.wall_origin_ns?;
        Some(format_utc(origin.saturating_add(t)))
    }

    /// The timeline as text: one block per entry, then the traffic not listed.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            let when = match self.wall(e.t) {
                Some(w) => format!("{:>11} {}", secs(e.t), &w[11..23]),
                None => format!("{:>11}", secs(e.t)),
            };
            let mut lines = entry_lines(e).into_iter();
            let _ = writeln!(
                out,
                "{when}  {:<9} {}",
                e.kind.as_str(),
                lines.next().unwrap_or_default()
            );
            let indent = " ".repeat(when.len() + 12);
            for more in lines {
                let _ = writeln!(out, "{indent}{more}");
            }
        }
        if self.entries.is_empty() {
            let _ = writeln!(
                out,
                "(nothing to explain: no restart, give-up, timeout, request or shutdown)"
            );
        }
        out.push_str(&self.footer());
        out
    }

    fn footer(&self) -> String {
        let mut out = String::new();
        let n = |k: &str| self.counts.get(k).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "not listed: {} spawns, {} started, {} ready, {} heartbeats, {} stale inputs (ignored by the engine)",
            n("spawn"),
            n("started"),
            n("ready"),
            n("heartbeat"),
            n("stale")
        );
        if let Some(line) = self.truncated_last_line {
            let _ = writeln!(
                out,
                "skipped: line {line}, the last, is cut short (a trace still being written?)"
            );
        }
        if self.unknown_windows > 0 {
            let _ = writeln!(
                out,
                "WARNING: {} decision(s) of supervisors this config does not have, shown without a window                  (is the trace from another config?)",
                self.unknown_windows
            );
        }
        if self.disagreements > 0 {
            let _ = writeln!(
                out,
                "WARNING: {} decision(s) disagree with the intensity window rebuilt from the config \
                 (is this the config that ran?)",
                self.disagreements
            );
        }
        out
    }

    /// The timeline as JSON lines: one object per entry.
    pub fn to_json_lines(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            let mut v = entry_json(e);
            if let Some(w) = self.wall(e.t) {
                v["wall"] = json!(w);
            }
            let _ = writeln!(out, "{v}");
        }
        out
    }
}

fn entry_lines(e: &Entry) -> Vec<String> {
    let mut lines = Vec::new();
    let sup = sup_name(&e.path);
    match e.kind {
        EntryKind::Restart => {
            let child = e.child.as_deref().unwrap_or("?");
            let why = e.cause.as_ref().map_or_else(|| format!("{child} failed"), cause_text);
            let strategy = e.strategy.as_deref().unwrap_or("?");
            lines.push(format!("{why}: {sup} restarts {child} ({strategy})"));
        }
        EntryKind::GiveUp => {
            let verdict = e.window.as_ref().map_or_else(String::new, window_verdict);
            lines.push(format!("{sup}: {verdict}"));
            if let Some(c) = &e.cause {
                lines.push(format!("last failure: {}", cause_text(c)));
            }
        }
        EntryKind::Timeout => {
            let gen = e.gen.map_or(String::new(), |g| format!(" (gen {g})"));
            let what = match e.reason.as_deref() {
                Some("health") => "no heartbeat within",
                Some("start_timeout") => "not ready within",
                _ => "a deadline passed:",
            };
            let deadline = e.deadline.map_or_else(|| "its deadline".to_owned(), format_duration);
            let key = if e.reason.as_deref() == Some("health") {
                "health_timeout"
            } else {
                "startup_timeout"
            };
            lines.push(format!("{}{gen} killed: {what} {deadline} ({key})", e.path));
        }
        EntryKind::Evict => {
            let gen = e.gen.map_or(String::new(), |g| format!(" (gen {g})"));
            lines.push(format!(
                "{}{gen} evicted by a monitor: {}",
                e.path,
                e.reason.as_deref().unwrap_or("?")
            ));
        }
        EntryKind::Request => request_lines(e, &mut lines),
        EntryKind::Shutdown => {
            let reason = e.reason.as_deref().unwrap_or("?");
            let why = match (&e.request, &e.cause) {
                (Some(r), _) => format!(" (asked by request #{} {})", r.id, r.op),
                (None, Some(c)) => format!(" after {}", cause_text(c)),
                (None, None) => String::new(),
            };
            lines.push(format!("{sup} ends: {reason}{why}"));
        }
        EntryKind::TreeDown => {
            let reason = e.reason.as_deref().unwrap_or("?");
            lines.push(format!("the tree is down ({reason})"));
            if !e.chain.is_empty() {
                lines.push(format!("because: {}", e.chain.join(" <- ")));
            }
        }
    }
    if e.window.is_none() && matches!(e.kind, EntryKind::Restart | EntryKind::GiveUp) {
        lines.push(format!(
            "window of {sup}: unknown (neither the config nor the trace gives its intensity)"
        ));
    }
    if let Some(w) = &e.window {
        if e.kind == EntryKind::Restart {
            lines.push(format!("window of {sup}: {}", window_verdict(w)));
        }
        if w.decisions.len() > 1 || e.kind == EntryKind::GiveUp {
            lines.push(format!("decisions in the window: {}", window_text(w)));
        }
    }
    if let Some(d) = e.backoff_ns {
        lines.push(format!("waits {} (backoff) before starting it", span(d)));
    }
    round_lines(e, &mut lines);
    if !e.agrees {
        let what = if e.kind == EntryKind::GiveUp {
            "did not overflow"
        } else {
            "overflowed"
        };
        lines.push(format!("DISAGREES: the window rebuilt from the config {what} here"));
    }
    lines
}

fn request_lines(e: &Entry, lines: &mut Vec<String>) {
    let Some(r) = &e.request else { return };
    let target = if e.path.is_empty() {
        "the tree".to_owned()
    } else {
        e.path.clone()
    };
    let answer = match (&r.result, r.reply_t) {
        (Some(res), Some(t)) if t == e.t => format!(": {res}"),
        (Some(res), Some(t)) => format!(": {res} after {}", span(t - e.t)),
        _ => ": no reply by the end of the trace".to_owned(),
    };
    lines.push(format!("#{} {} {target}{answer}", r.id, r.op));
}

fn round_lines(e: &Entry, lines: &mut Vec<String>) {
    if !e.stopped.is_empty() {
        lines.push(format!("stopped: {}", e.stopped.join(", ")));
    }
    if !e.started.is_empty() {
        lines.push(format!("started: {}", e.started.join(", ")));
    }
    if e.kind == EntryKind::GiveUp {
        let reason = e.reason.as_deref().unwrap_or("shutdown");
        lines.push(format!("then {} ends ({reason})", sup_name(&e.path)));
    }
}

fn cause_json(c: &Cause) -> Value {
    json!({ "t": c.t, "line": c.line, "path": c.path, "gen": c.gen, "what": c.what, "reason": c.reason })
}

fn entry_json(e: &Entry) -> Value {
    let window = e.window.as_ref().map(|w| {
        json!({
            "intensity": w.intensity,
            "period_ns": u64::try_from(w.period.as_nanos()).unwrap_or(u64::MAX),
            "decisions": w.decisions.iter().map(|d| json!({ "t": d.t, "child": d.child })).collect::<Vec<_>>(),
            "exceeded": w.exceeded,
        })
    });
    json!({
        "t": e.t,
        "time": secs(e.t),
        "line": e.line,
        "kind": e.kind.as_str(),
        "path": e.path,
        "child": e.child,
        "gen": e.gen,
        "strategy": e.strategy,
        "cause": e.cause.as_ref().map(cause_json),
        "window": window,
        "agrees": e.agrees,
        "stopped": e.stopped,
        "started": e.started,
        "backoff_ns": e.backoff_ns,
        "reason": e.reason,
        "deadline_ns": e.deadline.map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
        "request": e.request.as_ref().map(|r| json!({ "op": r.op, "id": r.id, "result": r.result, "reply_t": r.reply_t })),
        "chain": e.chain,
        "text": entry_lines(e).join("; "),
    })
}

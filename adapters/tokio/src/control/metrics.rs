//! `metrics`: the Prometheus text exposition format (version 0.0.4).

use std::fmt::Write;

use std::collections::{BTreeMap, HashMap};

use super::counters::ChildCounters;
use super::status::NodeStatus;

/// Every state a child can be in (one `vigil_child_state` series each).
const STATES: [&str; 5] = ["stopped", "starting", "running", "stopping", "restarting"];

/// Server-wide numbers for the exposition.
pub(crate) struct ServerGauges {
    pub(crate) connections: usize,
    pub(crate) connections_allowed: usize,
    pub(crate) calls: usize,
    pub(crate) workers: usize,
    pub(crate) events_lost: u64,
}

/// Render the metrics of `nodes` (a `status` snapshot) and the counters.
pub(crate) fn render(
    nodes: &[NodeStatus<'_>],
    counters: &HashMap<String, ChildCounters>,
    server: &ServerGauges,
) -> String {
    let mut sorted: Vec<(&String, &ChildCounters)> = counters.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut out = String::with_capacity(256 + nodes.len() * 400);
    header(
        &mut out,
        "vigil_child_state",
        "gauge",
        "1 for the state each child is in, 0 for the others.",
    );
    for n in nodes {
        for s in STATES {
            let _ = writeln!(
                out,
                "vigil_child_state{{path=\"{}\",kind=\"{}\",state=\"{s}\"}} {}",
                Label(n.path),
                n.kind,
                u8::from(n.state == s)
            );
        }
    }
    use Num::{Float, Int};
    let worker = |n: &NodeStatus<'_>| n.kind == "worker";
    let families: [Family; 8] = [
        (
            "vigil_child_generation",
            "gauge",
            "The generation of each worker's current or last run.",
            &|n| worker(n).then_some(Int(n.generation)),
        ),
        (
            "vigil_child_restarts_total",
            "counter",
            "Runs of each worker after its first, since the control server started.",
            &|n| worker(n).then_some(Int(n.restarts)),
        ),
        (
            "vigil_child_uptime_seconds",
            "gauge",
            "Seconds since each up worker's current run started.",
            &|n| n.uptime_secs.map(|v| Float(v, 3)),
        ),
        (
            "vigil_child_memory_rss_bytes",
            "gauge",
            "Resident memory of each process worker's run (its whole process group), as last sampled.",
            &|n| n.rss_bytes.map(Int),
        ),
        (
            "vigil_child_memory_pss_bytes",
            "gauge",
            "Proportional memory of each process worker's run, where readable.",
            &|n| n.pss_bytes.map(Int),
        ),
        (
            "vigil_child_cpu_percent",
            "gauge",
            "CPU use of each process worker's run between the last two samples, percent of one core.",
            &|n| n.cpu_percent.map(|v| Float(v, 2)),
        ),
        (
            "vigil_child_memory_limit_bytes",
            "gauge",
            "Each process worker's memory limit.",
            &|n| n.memory_limit.map(Int),
        ),
        (
            "vigil_child_processes",
            "gauge",
            "Processes in each process worker's run at the last sample.",
            &|n| n.processes.map(|p| Int(u64::from(p))),
        ),
    ];
    for (name, kind, help, value) in families {
        header(&mut out, name, kind, help);
        for n in nodes {
            if let Some(v) = value(n) {
                let _ = writeln!(out, "{name}{{path=\"{}\"}} {v}", Label(n.path));
            }
        }
    }
    reason_counters(&mut out, &sorted);
    log_lines_dropped(&mut out);
    server_gauges(&mut out, server);
    out
}

/// LOGS: the lines each worker's log files lost (src/log_file.rs).
fn log_lines_dropped(out: &mut String) {
    let name = "vigil_log_lines_dropped_total";
    header(
        out,
        name,
        "counter",
        "Lines of output that could not be written to each worker's log files (a full disk, an unwritable directory).",
    );
    for (path, lines) in crate::log_file::dropped_lines() {
        let _ = writeln!(out, "{name}{{path=\"{}\"}} {lines}", Label(&path));
    }
}

/// Exits and evictions by child and reason.
fn reason_counters(out: &mut String, sorted: &[(&String, &ChildCounters)]) {
    let by_reason: [ReasonFamily; 2] = [
        (
            "vigil_child_exits_total",
            "Run exits by child and reason (without detail).",
            &|c| &c.exits,
        ),
        (
            "vigil_child_evictions_total",
            "Runs a monitor asked to restart, by child and reason.",
            &|c| &c.evictions,
        ),
    ];
    for (name, help, counts) in by_reason {
        header(out, name, "counter", help);
        for (path, c) in sorted {
            for (reason, count) in counts(c) {
                let _ = writeln!(out, "{name}{{path=\"{}\",reason=\"{reason}\"}} {count}", Label(path));
            }
        }
    }
}

/// The server's own gauges and counters.
fn server_gauges(out: &mut String, server: &ServerGauges) {
    let gauges: [(&str, &str, &str, u64); 5] = [
        (
            "vigil_control_connections",
            "gauge",
            "Open control connections.",
            server.connections as u64,
        ),
        (
            "vigil_control_connections_allowed",
            "gauge",
            "Control connections allowed now: max_connections, or fewer if the descriptor budget leaves fewer.",
            server.connections_allowed as u64,
        ),
        (
            "vigil_control_calls_in_flight",
            "gauge",
            "Calls forwarded to workers and not answered yet.",
            server.calls as u64,
        ),
        (
            "vigil_workers_registered",
            "gauge",
            "Workers registered on the control socket.",
            server.workers as u64,
        ),
        (
            "vigil_control_events_lost_total",
            "counter",
            "Events the metrics collector missed by falling behind.",
            server.events_lost,
        ),
    ];
    for (name, kind, help, value) in gauges {
        header(out, name, kind, help);
        let _ = writeln!(out, "{name} {value}");
    }
}

/// A per-node metric family: name, type, help, and the node's value (if it has one).
type Family<'f> = (
    &'static str,
    &'static str,
    &'static str,
    &'f dyn Fn(&NodeStatus<'_>) -> Option<Num>,
);

/// A per-child, per-reason counter family: name, help, and the counts.
type ReasonFamily<'f> = (
    &'static str,
    &'static str,
    &'f dyn Fn(&ChildCounters) -> &BTreeMap<&'static str, u64>,
);

/// A sample value: an integer, or a float with a number of decimals.
enum Num {
    Int(u64),
    Float(f64, usize),
}

impl std::fmt::Display for Num {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Num::Int(v) => write!(f, "{v}"),
            Num::Float(v, decimals) => write!(f, "{v:.decimals$}"),
        }
    }
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value, escaped as the exposition format requires.
struct Label<'a>(&'a str);

impl std::fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            match c {
                '\\' => f.write_str("\\\\")?,
                '"' => f.write_str("\\\"")?,
                '\n' => f.write_str("\\n")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped() {
        assert_eq!(Label("a\"b\\c\nd").to_string(), "a\\\"b\\\\c\\nd");
    }
}

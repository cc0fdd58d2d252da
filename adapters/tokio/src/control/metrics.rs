//! `metrics`: the Prometheus text exposition format (version 0.0.4).

use std::fmt::Write;

use std::collections::HashMap;

use super::counters::ChildCounters;
use super::status::NodeStatus;

/// Every state a child can be in (one `vigil_child_state` series each).
const STATES: [&str; 5] = ["stopped", "starting", "running", "stopping", "restarting"];

/// Server-wide numbers for the exposition.
pub(crate) struct ServerGauges {
    pub(crate) connections: usize,
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
    header(
        &mut out,
        "vigil_child_generation",
        "gauge",
        "The generation of each child's current or last run.",
    );
    for n in nodes.iter().filter(|n| n.kind == "worker") {
        let _ = writeln!(
            out,
            "vigil_child_generation{{path=\"{}\"}} {}",
            Label(n.path),
            n.generation
        );
    }
    header(
        &mut out,
        "vigil_child_restarts_total",
        "counter",
        "Runs of each worker after its first, since the control server started.",
    );
    for n in nodes.iter().filter(|n| n.kind == "worker") {
        let _ = writeln!(
            out,
            "vigil_child_restarts_total{{path=\"{}\"}} {}",
            Label(n.path),
            n.restarts
        );
    }
    header(
        &mut out,
        "vigil_child_uptime_seconds",
        "gauge",
        "Seconds since each up worker's current run started.",
    );
    for n in nodes {
        if let Some(up) = n.uptime_secs {
            let _ = writeln!(out, "vigil_child_uptime_seconds{{path=\"{}\"}} {up:.3}", Label(n.path));
        }
    }
    header(
        &mut out,
        "vigil_child_memory_rss_bytes",
        "gauge",
        "Resident memory of each process worker's run (its whole process group), as last sampled.",
    );
    for n in nodes {
        if let Some(v) = n.rss_bytes {
            let _ = writeln!(out, "vigil_child_memory_rss_bytes{{path=\"{}\"}} {v}", Label(n.path));
        }
    }
    header(
        &mut out,
        "vigil_child_memory_pss_bytes",
        "gauge",
        "Proportional memory of each process worker's run, where readable.",
    );
    for n in nodes {
        if let Some(v) = n.pss_bytes {
            let _ = writeln!(out, "vigil_child_memory_pss_bytes{{path=\"{}\"}} {v}", Label(n.path));
        }
    }
    header(
        &mut out,
        "vigil_child_cpu_percent",
        "gauge",
        "CPU use of each process worker's run between the last two samples, percent of one core.",
    );
    for n in nodes {
        if let Some(v) = n.cpu_percent {
            let _ = writeln!(out, "vigil_child_cpu_percent{{path=\"{}\"}} {v:.2}", Label(n.path));
        }
    }
    header(
        &mut out,
        "vigil_child_memory_limit_bytes",
        "gauge",
        "Each process worker's memory limit.",
    );
    for n in nodes {
        if let Some(v) = n.memory_limit {
            let _ = writeln!(out, "vigil_child_memory_limit_bytes{{path=\"{}\"}} {v}", Label(n.path));
        }
    }
    header(
        &mut out,
        "vigil_child_exits_total",
        "counter",
        "Run exits by child and reason (without detail).",
    );
    for (path, c) in &sorted {
        for (reason, count) in &c.exits {
            let _ = writeln!(
                out,
                "vigil_child_exits_total{{path=\"{}\",reason=\"{reason}\"}} {count}",
                Label(path)
            );
        }
    }
    header(
        &mut out,
        "vigil_child_evictions_total",
        "counter",
        "Runs a monitor asked to restart, by child and reason.",
    );
    for (path, c) in &sorted {
        for (reason, count) in &c.evictions {
            let _ = writeln!(
                out,
                "vigil_child_evictions_total{{path=\"{}\",reason=\"{reason}\"}} {count}",
                Label(path)
            );
        }
    }
    header(
        &mut out,
        "vigil_control_connections",
        "gauge",
        "Open control connections.",
    );
    let _ = writeln!(out, "vigil_control_connections {}", server.connections);
    header(
        &mut out,
        "vigil_workers_registered",
        "gauge",
        "Workers registered on the control socket.",
    );
    let _ = writeln!(out, "vigil_workers_registered {}", server.workers);
    header(
        &mut out,
        "vigil_control_events_lost_total",
        "counter",
        "Events the metrics collector missed by falling behind.",
    );
    let _ = writeln!(out, "vigil_control_events_lost_total {}", server.events_lost);
    out
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

//! `vigil ctl`'s human-readable output: aligned tables and short lines.

use serde_json::Value;

/// Rows of cells as a left-aligned table with a header, two spaces apart.
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut l = String::new();
        for (i, (c, w)) in cells.zip(&widths).enumerate() {
            if i + 1 == widths.len() {
                l.push_str(c);
            } else {
                l.push_str(&format!("{c:<w$}  "));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for r in rows {
        line(&mut r.iter().map(String::as_str));
    }
    out
}

fn dash() -> String {
    "-".to_owned()
}

/// A duration in seconds, short: `42s`, `3m12s`, `5h03m`, `2d04h`.
fn duration(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86400, (s % 86400) / 3600),
    }
}

/// Bytes with a binary unit: `512KiB`, `1.5MiB`.
fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else {
        format!("{v:.1}{}", UNITS[u])
    }
}

/// `vigil ctl status`.
pub(crate) fn status(v: &Value) -> String {
    if v["tree"]["up"] == Value::Bool(false) {
        return down_status(v);
    }
    let nodes = v["nodes"].as_array().cloned().unwrap_or_default();
    let rows: Vec<Vec<String>> = nodes
        .iter()
        .map(|n| {
            let worker = n["kind"] == "worker";
            let opt = |x: Option<String>| x.unwrap_or_else(dash);
            vec![
                format!(
                    "{}{}",
                    "  ".repeat(n["depth"].as_u64().unwrap_or(1).saturating_sub(1) as usize),
                    n["path"].as_str().unwrap_or_default()
                ),
                n["kind"].as_str().unwrap_or_default().to_owned(),
                match (n["state"].as_str().unwrap_or_default(), n["start_delayed"] == true) {
                    ("starting", true) => "starting (delay)".to_owned(),
                    (state, _) => state.to_owned(),
                },
                if worker { n["generation"].to_string() } else { dash() },
                n["restarts"].to_string(),
                opt(n["uptime_secs"].as_f64().map(duration)),
                opt(n["pid"].as_u64().map(|p| p.to_string())),
                opt(n["health"].as_str().map(str::to_owned)),
                opt(n["rss_bytes"].as_u64().map(bytes)),
                opt(n["cpu_percent"].as_f64().map(|c| format!("{c:.1}%"))),
                opt(n["last_exit"].as_str().map(str::to_owned)),
                opt(n["worker"].as_object().map(|w| {
                    if w.get("ready").and_then(Value::as_bool) == Some(true) {
                        "ready".to_owned()
                    } else {
                        "registered".to_owned()
                    }
                })),
            ]
        })
        .collect();
    if rows.is_empty() {
        return "the tree has no children\n".to_owned();
    }
    table(
        &[
            "PATH",
            "KIND",
            "STATE",
            "GEN",
            "RESTARTS",
            "UPTIME",
            "PID",
            "HEALTH",
            "RSS",
            "CPU",
            "LAST EXIT",
            "WORKER",
        ],
        &rows,
    )
}

/// `vigil ctl tree`.
pub(crate) fn tree(v: &Value) -> String {
    fn walk(nodes: &[Value], prefix: &str, out: &mut String) {
        for (i, n) in nodes.iter().enumerate() {
            let last = i + 1 == nodes.len();
            let gen = if n["kind"] == "worker" {
                format!(" gen {}", n["generation"])
            } else {
                String::new()
            };
            out.push_str(&format!(
                "{prefix}{} {} [{}{}]\n",
                if last { "└─" } else { "├─" },
                n["name"].as_str().unwrap_or_default(),
                n["state"].as_str().unwrap_or_default(),
                gen
            ));
            if let Some(children) = n["children"].as_array() {
                let deeper = format!("{prefix}{}", if last { "   " } else { "│  " });
                walk(children, &deeper, out);
            }
        }
    }
    let mut out = String::from("(root)\n");
    walk(
        v["children"].as_array().map(Vec::as_slice).unwrap_or_default(),
        "",
        &mut out,
    );
    out
}

/// `vigil ctl workers`.
pub(crate) fn workers(v: &Value) -> String {
    let list = v.as_array().cloned().unwrap_or_default();
    if list.is_empty() {
        return "no worker is registered\n".to_owned();
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|w| {
            vec![
                w["path"].as_str().unwrap_or_default().to_owned(),
                w["generation"].to_string(),
                if w["ready"] == true { "yes" } else { "no" }.to_owned(),
                w["heartbeats"].to_string(),
                w["state"].to_string(),
            ]
        })
        .collect();
    table(&["PATH", "GEN", "READY", "HEARTBEATS", "STATE"], &rows)
}

/// One line for the commands that change something: `verb` done to
/// `target` (a path; `""` is the root), with the answer `v`.
/// `status` of a tree that is down (`vigil run --keep-running`): how it
/// ended, the give-up chain, the last failed runs, each child's last exit.
fn down_status(v: &Value) -> String {
    use std::fmt::Write;
    let t = &v["tree"];
    let mut out = format!(
        "tree down: {} ({})\n",
        t["outcome"].as_str().unwrap_or_default(),
        t["reason"].as_str().unwrap_or_default()
    );
    let chain: Vec<&str> = t["gave_up"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|p| if p.is_empty() { "the root" } else { p })
                .collect()
        })
        .unwrap_or_default();
    if !chain.is_empty() {
        let _ = writeln!(out, "gave up: {}", chain.join(", then "));
    }
    let failures = t["last_failures"].as_array().cloned().unwrap_or_default();
    if !failures.is_empty() {
        out.push_str("last failures (oldest first):\n");
        for f in &failures {
            let _ = writeln!(
                out,
                "  {} (generation {}): {}",
                f["path"].as_str().unwrap_or_default(),
                f["generation"],
                f["reason"].as_str().unwrap_or_default()
            );
        }
    }
    let exits = v["last_exits"].as_array().cloned().unwrap_or_default();
    if !exits.is_empty() {
        out.push_str("last exit of each child:\n");
        for e in &exits {
            let _ = writeln!(
                out,
                "  {}: {} ({} restarts)",
                e["path"].as_str().unwrap_or_default(),
                e["last_exit"].as_str().unwrap_or_default(),
                e["restarts"]
            );
        }
    }
    out.push_str("`vigil ctl start-tree` starts it again.\n");
    out
}

pub(crate) fn done(verb: &str, target: Option<&str>, v: &Value) -> String {
    let what = match target {
        Some("") => " the root".to_owned(),
        Some(p) => format!(" {p}"),
        None => String::new(),
    };
    let gen = v["generation"]
        .as_u64()
        .map(|g| format!(" (generation {g})"))
        .unwrap_or_default();
    format!("{verb}{what}{gen}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_units_read_well() {
        let t = table(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y\n");
        assert_eq!(duration(42.9), "42s");
        assert_eq!(duration(192.0), "3m12s");
        assert_eq!(duration(3.0 * 86400.0 + 7200.0), "3d02h");
        assert_eq!(bytes(512), "512B");
        assert_eq!(bytes(1536 * 1024), "1.5MiB");
    }
}

//! `vigil ctl`'s readable streams and answers: `subscribe --human` (one
//! line per trace event, stamped with the wall clock), `logs` (one line per
//! output line) and the diff of `reload`. Times are RFC 3339 in UTC with
//! milliseconds (`2025-01-31T09:05:12.345Z`): one spelling whatever the
//! machine's time zone, sortable, and what log collectors parse.

use std::time::{Duration, SystemTime};

use serde_json::Value;

/// `at` as RFC 3339 in UTC with milliseconds; a time before 1970 is written
/// as 1970-01-01T00:00:00.000Z. `vigil_trace::rfc3339_utc` with its
/// nanoseconds cut to milliseconds (its fraction is always nine digits).
pub(crate) fn rfc3339(at: SystemTime) -> String {
    let mut text = vigil_trace::rfc3339_utc(at);
    let nanos_end = text.len().saturating_sub(1);
    text.replace_range(nanos_end.saturating_sub(6)..nanos_end, "");
    text
}

/// A trace line (docs/TRACE.md) as one readable line stamped `now`:
/// `TIME  EVENT  PATH  gen N  key=value ...`. A line that is not a trace
/// event is printed as it came.
pub(crate) fn trace_event(now: SystemTime, text: &str) -> String {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
        return format!("{}  {text}", rfc3339(now));
    };
    if let Some(n) = map.get("lagged").and_then(Value::as_u64) {
        return format!("{}  (missed {n} events: this client fell behind)", rfc3339(now));
    }
    let ev = map.get("ev").and_then(Value::as_str).unwrap_or("?");
    let mut line = format!("{}  {ev:<12}", rfc3339(now));
    if let Some(p) = map.get("path").and_then(Value::as_str) {
        line.push_str(&format!("  {}", if p.is_empty() { "(root)" } else { p }));
    }
    if let Some(g) = map.get("gen").and_then(Value::as_u64) {
        line.push_str(&format!("  gen {g}"));
    }
    for (k, v) in &map {
        if matches!(k.as_str(), "t" | "ev" | "path" | "gen") {
            continue;
        }
        match (k.as_str(), v) {
            ("delay_ns", Value::Number(n)) => {
                let d = Duration::from_nanos(n.as_u64().unwrap_or(0));
                line.push_str(&format!("  delay={d:?}"));
            }
            (_, Value::String(s)) => line.push_str(&format!("  {k}={s}")),
            _ => line.push_str(&format!("  {k}={v}")),
        }
    }
    line.trim_end().to_owned()
}

/// One line of `logs`: `TIME  gen N  out|err  TEXT`, or the note of lines a
/// follower missed.
pub(crate) fn log_line(v: &Value) -> String {
    if let Some(n) = v.get("missed").and_then(Value::as_u64) {
        return format!("(missed {n} lines: this client fell behind)");
    }
    let at = v.get("at").and_then(Value::as_u64).map_or_else(String::new, |ms| {
        rfc3339(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
    });
    let stream = match v.get("stream").and_then(Value::as_str) {
        Some("stderr") => "err",
        _ => "out",
    };
    let generation = v.get("generation").and_then(Value::as_u64).unwrap_or(0);
    let text = v.get("text").and_then(Value::as_str).unwrap_or_default();
    format!("{at}  gen {generation}  {stream}  {text}")
}

/// The answer of `logs` (its lines, after a note of what the ring dropped).
pub(crate) fn logs(v: &Value) -> String {
    let mut out = String::new();
    let dropped = v.get("dropped").and_then(Value::as_u64).unwrap_or(0);
    let lines = v.get("lines").and_then(Value::as_array).cloned().unwrap_or_default();
    if dropped > 0 {
        out.push_str(&format!("({dropped} older lines are no longer kept)\n"));
    }
    for l in &lines {
        out.push_str(&log_line(l));
        out.push('\n');
    }
    out
}

/// The diff of `reload` (docs/OPERATING.md, "Reload").
pub(crate) fn reload(v: &Value) -> String {
    let strings = |key: &str| -> Vec<String> {
        v[key]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
            .unwrap_or_default()
    };
    let file = v["file"].as_str().unwrap_or("the config");
    let dry = v["dry_run"].as_bool().unwrap_or(false);
    let mut out = if dry {
        format!("{file}: a reload would apply (dry run: nothing was changed)\n")
    } else {
        format!("reloaded {file}\n")
    };
    let mut any = false;
    for name in strings("added") {
        out.push_str(&format!("  + {name}  (added, started)\n"));
        any = true;
    }
    for name in strings("removed") {
        out.push_str(&format!("  - {name}  (removed: stopped and deleted)\n"));
        any = true;
    }
    for c in v["changed"].as_array().into_iter().flatten() {
        any = true;
        out.push_str(&format!(
            "  ~ {}  (changed: stopped, new spec, started)\n",
            c["path"].as_str().unwrap_or("?")
        ));
        for p in c["paths"].as_array().into_iter().flatten() {
            let path = p["path"].as_str().unwrap_or("?");
            match p["change"].as_str() {
                Some("added") => out.push_str(&format!("      + {path}\n")),
                Some("removed") => out.push_str(&format!("      - {path}\n")),
                Some("lost") => out.push_str(&format!("      ! {path}  (added at run time: lost, not in the file)\n")),
                _ => out.push_str(&format!("      ~ {path}\n")),
            }
        }
    }
    if !any {
        out.push_str("  no child changed\n");
    }
    let unchanged = strings("unchanged");
    if !unchanged.is_empty() {
        out.push_str(&format!("  unchanged: {}\n", unchanged.join(", ")));
    }
    if v["root_changed"].as_bool() == Some(true) {
        out.push_str("  the root supervisor's settings changed: they apply when vigil is restarted\n");
    }
    let extra = strings("not_in_config");
    if !extra.is_empty() {
        out.push_str(&format!(
            "  not in the config (added at run time), left running: {}\n",
            extra.join(", ")
        ));
    }
    for f in v["failed"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  FAILED {}: {}\n",
            f["path"].as_str().unwrap_or("?"),
            f["error"].as_str().unwrap_or("?")
        ));
    }
    out
}

/// LIFECYCLE: the answer to `ctl signal` / `ctl reload PATH`:
/// `sent SIGHUP to web (pid 4242)`.
pub(crate) fn signal_sent(path: &str, result: &serde_json::Value) -> String {
    let signal = result["signal"].as_str().unwrap_or("?");
    match (result.get("pid"), result.get("process_group")) {
        (Some(pid), _) => format!("sent {signal} to {path} (pid {pid})\n"),
        (_, Some(group)) => format!("sent {signal} to {path} (process group {group})\n"),
        _ => format!("sent {signal} to {path}\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_in_utc() {
        let at = |s: u64, ms: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s) + Duration::from_millis(ms);
        assert_eq!(rfc3339(at(0, 0)), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(at(951_782_400, 7)), "2000-02-29T00:00:00.007Z");
        assert_eq!(rfc3339(at(1_738_314_312, 345)), "2025-01-31T09:05:12.345Z");
        assert_eq!(rfc3339(at(4_107_542_399, 999)), "2100-02-28T23:59:59.999Z");
    }

    #[test]
    fn trace_events_read_as_lines() {
        let now = SystemTime::UNIX_EPOCH;
        let l = trace_event(
            now,
            r#"{"t":5,"ev":"exited","path":"web/w1","gen":3,"reason":"error(boom)"}"#,
        );
        assert_eq!(
            l,
            "1970-01-01T00:00:00.000Z  exited        web/w1  gen 3  reason=error(boom)"
        );
        let l = trace_event(now, r#"{"t":5,"ev":"backoff","path":"w","delay_ns":1500000000}"#);
        assert!(l.ends_with("w  delay=1.5s"), "{l}");
        assert!(trace_event(now, r#"{"lagged":4}"#).contains("missed 4 events"));
        assert!(trace_event(now, r#"{"t":9,"ev":"tree_down","reason":"shutdown"}"#)
            .ends_with("tree_down     reason=shutdown"));
    }
}

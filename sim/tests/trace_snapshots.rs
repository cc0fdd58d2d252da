//! Whole traces (docs/TRACE.md) of the example configs and scripts,
//! pinned as snapshots, plus the trace's own format: byte-identical reruns,
//! one JSON object per line, keys in the order docs/TRACE.md gives.
//!
//! Each snapshot was read line by line against the supervision semantics
//! (docs/SEMANTICS.md: restart table, strategies, intensity, shutdown protocol)
//! when it was accepted; the scripted ones also assert the key moments
//! (give-up, reverse-order stops, kill deadlines) in code, so a changed
//! snapshot is never the only signal. The configs' `source` and the scripts'
//! are set to repository-relative paths, so the meta lines do not depend on
//! where the repository is checked out.
//!
//! Heartbeat lines are dropped from the snapshots (`db` sends one every 3.3 s
//! for the whole run, liveness phase included): they would make up most of
//! each file and say nothing about supervision. The raw traces, heartbeats
//! included, are checked for format and determinism below.

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vigil_config::Script;
use vigil_core::Outcome;
use vigil_sim::{run_seed, SeedOutcome, SeedReport, SimOptions, SimTree, TraceWriter};

/// A `Write` into shared memory, so the trace can be read after the run.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(rel)
}

/// An example config; its `source` (which the meta line records) is set to
/// the repository-relative path so the snapshots do not depend on the checkout.
fn example(name: &str) -> SimTree {
    let rel = format!("examples/{name}");
    let mut cfg = vigil_config::load_tree(&repo_file(&rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    cfg.source = rel;
    SimTree::from_config(&cfg).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// An example script, with a repository-relative `source` as [`example`].
fn example_script(name: &str) -> Script {
    let rel = format!("examples/scripts/{name}");
    let mut script = vigil_config::load_script(&repo_file(&rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    script.source = rel;
    script
}

/// Run one seed and return its report and its whole trace text.
fn traced(cfg: &SimTree, seed: u64, opts: &SimOptions) -> (SeedReport, String) {
    let buf = Buffer::default();
    let report = run_seed(cfg, seed, opts, TraceWriter::to_sink(Box::new(buf.clone())));
    let bytes = buf.0.lock().unwrap().clone();
    let text = String::from_utf8(bytes).expect("the trace is UTF-8");
    assert_eq!(
        text.lines().count() as u64,
        report.trace_lines,
        "the report counts every line written"
    );
    (report, text)
}

/// The trace without its heartbeat lines (see the module docs).
fn without_heartbeats(trace: &str) -> String {
    trace
        .lines()
        .filter(|l| !l.contains(r#""ev":"heartbeat""#))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Random faults on, as `vigil sim CONFIG --seed N --duration D` runs it.
fn random(duration: Duration) -> SimOptions {
    SimOptions {
        duration,
        ..SimOptions::default()
    }
}

/// Only the script makes things fail (`--no-random-faults`).
fn scripted(script: &str, duration: Duration) -> SimOptions {
    SimOptions {
        duration,
        random_faults: false,
        script: Some(example_script(script)),
        ..SimOptions::default()
    }
}

/// Run, check that no rule broke, snapshot the trace; return it for more checks.
fn snapshot(name: &str, cfg: &SimTree, seed: u64, opts: &SimOptions) -> (SeedReport, String) {
    let (report, trace) = traced(cfg, seed, opts);
    assert!(report.violation.is_none(), "{name}: {:?}", report.violation);
    insta::assert_snapshot!(name, without_heartbeats(&trace));
    (report, trace)
}

/// One trace line, parsed, with its raw text.
struct Line {
    raw: String,
    v: serde_json::Value,
}

impl Line {
    fn ev(&self) -> &str {
        self.v["ev"].as_str().unwrap_or_default()
    }
    fn t(&self) -> u64 {
        self.v["t"].as_u64().expect("`t` is an integer")
    }
    fn path(&self) -> &str {
        self.v["path"].as_str().unwrap_or_default()
    }
    fn is(&self, ev: &str, path: &str) -> bool {
        self.ev() == ev && self.v.get("path").and_then(|p| p.as_str()) == Some(path)
    }
}

fn parse(trace: &str) -> Vec<Line> {
    trace
        .lines()
        .map(|raw| Line {
            raw: raw.to_owned(),
            v: serde_json::from_str(raw).unwrap_or_else(|e| panic!("not JSON ({e}): {raw}")),
        })
        .collect()
}

/// The index of the first line at or after `from` that matches.
fn find(lines: &[Line], from: usize, what: impl Fn(&Line) -> bool) -> usize {
    lines[from..]
        .iter()
        .position(what)
        .map(|i| i + from)
        .unwrap_or_else(|| panic!("no such line after line {}", from + 1))
}

const SECOND: u64 = 1_000_000_000;

// ---------------------------------------------------------------------------
// The example configs under random faults.

#[test]
fn web_stack_seed_4_for_3_minutes() {
    let cfg = example("web-stack.toml");
    snapshot("web_stack_seed_4", &cfg, 4, &random(Duration::from_secs(180)));
}

#[test]
fn flaky_pool_seed_6_for_3_minutes() {
    let cfg = example("flaky-pool.toml");
    snapshot("flaky_pool_seed_6", &cfg, 6, &random(Duration::from_secs(180)));
}

#[test]
fn nested_seed_3_for_3_minutes() {
    let cfg = example("nested.toml");
    snapshot("nested_seed_3", &cfg, 3, &random(Duration::from_secs(180)));
}

// ---------------------------------------------------------------------------
// The example scripts against web-stack, random faults off.

#[test]
fn restart_storm_escalates_to_the_root() {
    let cfg = example("web-stack.toml");
    let opts = scripted("restart-storm.toml", Duration::from_secs(60));
    let (report, trace) = snapshot("script_restart_storm", &cfg, 0, &opts);
    assert_eq!(
        report.outcome,
        SeedOutcome::Tree(Outcome::ShutDown),
        "the script ends with a shutdown"
    );
    let lines = parse(&trace);

    // The 4th crash of http-1 within web's 10 s window: web gives up ...
    let give_up = find(&lines, 0, |l| l.is("give_up", "web"));
    let crashes: Vec<u64> = lines[..give_up]
        .iter()
        .filter(|l| l.is("exited", "web/http-1"))
        .map(Line::t)
        .collect();
    assert_eq!(
        crashes,
        [5, 6, 7, 8].map(|s| s * SECOND),
        "web gives up at the 4th crash"
    );
    assert!(
        lines[give_up - 1].is("exited", "web/http-1"),
        "the 4th crash is not restarted"
    );
    assert_eq!(lines[give_up].t(), 8 * SECOND);
    // ... before stopping anything, then stops its running children last
    // first, one at a time, and ends with `shutdown` ...
    let sup_exit = find(&lines, give_up, |l| l.is("sup_exit", "web"));
    assert_eq!(lines[sup_exit].v["reason"], "shutdown");
    let stopped: Vec<&str> = lines[give_up..sup_exit]
        .iter()
        .filter(|l| l.ev() == "stop" || l.ev() == "kill")
        .map(Line::path)
        .collect();
    assert_eq!(
        stopped,
        ["web/http-3", "web/http-2", "web/router"],
        "reverse start order"
    );
    for pair in lines[give_up..sup_exit]
        .iter()
        .filter(|l| ["stop", "exited"].contains(&l.ev()))
        .collect::<Vec<_>>()
        .chunks(2)
    {
        assert!(
            pair.len() == 2 && pair[0].ev() == "stop" && pair[1].ev() == "exited" && pair[0].path() == pair[1].path(),
            "one child at a time: {:?}",
            pair.iter().map(|l| &l.raw).collect::<Vec<_>>()
        );
    }
    // ... and the root restarts the whole tier, router first.
    let restart = find(&lines, sup_exit, |l| l.ev() == "restart");
    assert!(
        lines[restart].is("restart", "") && lines[restart].v["child"] == "web",
        "{}",
        lines[restart].raw
    );
    assert_eq!(lines[restart].t(), lines[sup_exit].t());
    let next_spawn = find(&lines, restart, |l| l.ev() == "spawn");
    assert_eq!(lines[next_spawn].path(), "web/router");
    // At 30 s the router crashes and its next two starts fail: each failure
    // is another restart decision (3 in web's window: no give-up) and the
    // retry starts at the router, after rest_for_one stopped the workers.
    let crash = find(&lines, restart, |l| l.is("exited", "web/router"));
    assert_eq!(lines[crash].t(), 30 * SECOND);
    let up = find(&lines, crash, |l| l.is("started", "web/router"));
    let round: Vec<String> = lines[crash..up]
        .iter()
        .filter(|l| l.path().starts_with("web"))
        .map(|l| {
            format!(
                "{} {}",
                l.ev(),
                l.v.get("child").and_then(|c| c.as_str()).unwrap_or(l.path())
            )
        })
        .collect();
    assert_eq!(
        round,
        [
            "exited web/router",
            "restart web/router",
            "stop web/http-3",
            "exited web/http-3",
            "stop web/http-2",
            "exited web/http-2",
            "stop web/http-1",
            "exited web/http-1",
            "spawn web/router",
            "start_failed web/router",
            "restart web/router",
            "spawn web/router",
            "start_failed web/router",
            "restart web/router",
            "spawn web/router",
        ]
    );
    // The tree ends only through the scripted shutdown at 50 s.
    let down = find(&lines, 0, |l| l.ev() == "tree_down");
    assert_eq!(lines[down].v["reason"], "shutdown");
    assert!(!lines.iter().any(|l| l.is("give_up", "")), "the root never gives up");
}

#[test]
fn rolling_restart_keeps_at_most_one_child_down() {
    let cfg = example("web-stack.toml");
    let opts = scripted("rolling-restart.toml", Duration::from_secs(120));
    let (report, trace) = snapshot("script_rolling_restart", &cfg, 0, &opts);
    assert_eq!(report.outcome, SeedOutcome::Tree(Outcome::ShutDown));
    let lines = parse(&trace);

    // The roll: from the request until its reply, web's children are stopped
    // one at a time in start order, and each is started again before the
    // next is stopped: the roll never has two children down.
    let req = find(&lines, 0, |l| l.ev() == "request" && l.v["op"] == "restart_all");
    assert_eq!(lines[req].t(), 10 * SECOND);
    let reply = find(&lines, req, |l| l.ev() == "reply" && l.v["id"] == lines[req].v["id"]);
    assert_eq!(lines[reply].v["result"], "ok");
    let mut rolling: Option<&str> = None;
    let mut order: Vec<&str> = Vec::new();
    for l in &lines[req..=reply] {
        match l.ev() {
            "stop" | "kill" => {
                assert_eq!(
                    rolling, None,
                    "a second child stopped while {rolling:?} is down: {}",
                    l.raw
                );
                rolling = Some(l.path());
                order.push(l.path());
            }
            "started" if rolling == Some(l.path()) => rolling = None,
            _ => {}
        }
    }
    assert_eq!(rolling, None, "the roll ends with every child it stopped started again");
    // http-3 crashed at 10.2 s, mid-roll: the roll skips it (not running) and
    // web restarts it (only it: it is the last child) once the roll is done.
    assert_eq!(order, ["web/router", "web/http-1", "web/http-2"]);
    let crash = find(&lines, req, |l| l.is("exited", "web/http-3"));
    assert!(crash < reply && lines[crash].t() == 10_200_000_000);
    let restart = find(&lines, reply, |l| l.ev() == "restart");
    assert_eq!(restart, reply + 1, "the crash is handled right after the roll");
    assert_eq!(lines[restart].v["child"], "web/http-3");
    assert!(
        lines[restart + 1].is("spawn", "web/http-3"),
        "{}",
        lines[restart + 1].raw
    );

    // The hard restart at 60 s: all of web stops, last first, then all of it
    // starts, first first.
    let req = find(&lines, reply, |l| l.ev() == "request" && l.v["op"] == "restart_all");
    assert_eq!(lines[req].t(), 60 * SECOND);
    let reply = find(&lines, req, |l| l.ev() == "reply" && l.v["id"] == lines[req].v["id"]);
    let commands: Vec<String> = lines[req..reply]
        .iter()
        .filter(|l| ["stop", "kill", "spawn"].contains(&l.ev()))
        .map(|l| format!("{} {}", l.ev(), l.path()))
        .collect();
    assert_eq!(
        commands,
        [
            "stop web/http-3",
            "stop web/http-2",
            "stop web/http-1",
            "stop web/router",
            "spawn web/router",
            "spawn web/http-1",
            "spawn web/http-2",
            "spawn web/http-3",
        ]
    );
    // Operator restarts are not restart decisions.
    assert!(!lines[req..reply].iter().any(|l| l.ev() == "restart"));
}

#[test]
fn hung_stop_is_killed_at_stop_time_plus_shutdown_timeout() {
    let cfg = example("web-stack.toml");
    let opts = scripted("hung-stop.toml", Duration::from_secs(120));
    let (report, trace) = snapshot("script_hung_stop", &cfg, 0, &opts);
    assert_eq!(report.outcome, SeedOutcome::Tree(Outcome::ShutDown));
    let lines = parse(&trace);

    // Every kill comes exactly at its stop plus that child's shutdown timeout.
    let timeout = |path: &str| match path {
        "db" => 10 * SECOND,
        "cache" => 2 * SECOND,
        "migrate" => 30 * SECOND,
        _ => 5 * SECOND,
    };
    let kills: Vec<&Line> = lines.iter().filter(|l| l.ev() == "kill").collect();
    let killed: Vec<&str> = kills.iter().map(|l| l.path()).collect();
    assert_eq!(
        killed,
        ["db", "web/http-2", "cache"],
        "the three hung runs, and only them"
    );
    for k in kills {
        let stop = lines
            .iter()
            .rfind(|l| l.ev() == "stop" && l.path() == k.path() && l.v["gen"] == k.v["gen"])
            .unwrap_or_else(|| panic!("a kill without a stop: {}", k.raw));
        assert_eq!(k.t(), stop.t() + timeout(k.path()), "{} then {}", stop.raw, k.raw);
    }
    // db: stopped by request at 12 s, killed at 22 s.
    let stop_db = find(&lines, 0, |l| l.is("stop", "db"));
    assert_eq!(lines[stop_db].t(), 12 * SECOND);
}

// ---------------------------------------------------------------------------
// The trace format.

/// The runs the format checks look at: every example, random and scripted.
fn sample_runs() -> Vec<(String, SimTree, u64, SimOptions)> {
    let mut runs = Vec::new();
    for name in ["web-stack.toml", "flaky-pool.toml", "nested.toml"] {
        for seed in 0..8 {
            runs.push((
                format!("{name} seed {seed}"),
                example(name),
                seed,
                random(Duration::from_secs(600)),
            ));
        }
    }
    for script in ["restart-storm.toml", "rolling-restart.toml", "hung-stop.toml"] {
        runs.push((
            format!("web-stack.toml + {script}"),
            example("web-stack.toml"),
            0,
            scripted(script, Duration::from_secs(120)),
        ));
    }
    runs
}

#[test]
fn the_same_run_twice_gives_a_byte_identical_trace() {
    for (name, cfg, seed, opts) in sample_runs() {
        let (a, first) = traced(&cfg, seed, &opts);
        let (b, second) = traced(&cfg, seed, &opts);
        assert!(first.len() > 100, "{name}: a trace of {} bytes", first.len());
        assert!(first == second, "{name}: two runs wrote different traces");
        assert_eq!(a, b, "{name}: two runs gave different reports");
    }
}

/// The top-level keys of a one-line JSON object, in the order the text has
/// them (serde_json's map may sort them). Values are skipped with the parser.
fn raw_keys(line: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    let obj = v.as_object().unwrap_or_else(|| panic!("not an object: {line}"));
    let mut keys = Vec::new();
    let mut rest = line.strip_prefix('{').expect("starts with {");
    while !rest.starts_with('}') {
        rest = rest.strip_prefix(',').unwrap_or(rest);
        // The key: a JSON string; the trace's keys never need escapes.
        let after_quote = rest
            .strip_prefix('"')
            .unwrap_or_else(|| panic!("a key expected in {line}"));
        let end = after_quote.find('"').expect("the key ends");
        let key = &after_quote[..end];
        rest = after_quote[end + 1..].strip_prefix(':').expect("a colon after the key");
        // The value: let the streaming parser say where it ends.
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
        let value = values.next().expect("a value").expect("a valid value");
        assert_eq!(obj.get(key), Some(&value), "{line}: key `{key}`");
        rest = &rest[values.byte_offset()..];
        keys.push(key.to_owned());
    }
    assert_eq!(rest, "}", "nothing after the object: {line}");
    assert_eq!(keys.len(), obj.len(), "no duplicate keys: {line}");
    keys
}

#[test]
fn every_event_line_is_json_with_keys_in_the_trace_md_order() {
    let mut kinds = std::collections::BTreeSet::new();
    for (name, cfg, seed, opts) in sample_runs() {
        let (_, trace) = traced(&cfg, seed, &opts);
        assert!(trace.ends_with('\n'), "{name}: the last line is complete");
        // The first line is the meta line (see the next test).
        for line in trace.lines().skip(1) {
            let keys = raw_keys(line);
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(keys[0], "t", "{name}: {line}");
            assert_eq!(keys[1], "ev", "{name}: {line}");
            assert!(v["t"].is_u64(), "{name}: `t` is a whole number of nanoseconds: {line}");
            let ev = v["ev"].as_str().expect("`ev` is a string");
            kinds.insert(ev.to_owned());
            match (
                keys.iter().position(|k| k == "path"),
                keys.iter().position(|k| k == "gen"),
            ) {
                (Some(p), Some(g)) => assert!(p == 2 && g == 3, "{name}: path, gen come third and fourth: {line}"),
                (Some(p), None) => assert_eq!(p, 2, "{name}: path comes third: {line}"),
                (None, Some(_)) => panic!("{name}: gen without path: {line}"),
                (None, None) => assert_eq!(ev, "tree_down", "{name}: only tree_down has no path: {line}"),
            }
            // The fields docs/TRACE.md lists for each kind.
            let needs: &[&str] = match ev {
                "spawn" | "stop" | "kill" | "started" | "ready" | "heartbeat" | "stale" => &["path", "gen"],
                "start_failed" => &["path", "gen", "error"],
                "exited" => &["path", "gen", "reason"],
                "restart" => &["path", "child", "strategy"],
                "give_up" => &["path"],
                "sup_exit" => &["path", "reason"],
                "tree_down" => &["reason"],
                "request" => &["op", "path"],
                "reply" => &["op", "path", "result"],
                _ => &[],
            };
            for k in needs {
                assert!(keys.iter().any(|x| x == k), "{name}: `{ev}` without `{k}`: {line}");
            }
            if keys.iter().any(|k| k == "gen") {
                assert!(v["gen"].is_u64(), "{name}: gen is a number: {line}");
            }
        }
    }
    // The sample covers the kinds docs/TRACE.md lists (all but the [ext] ones).
    for ev in [
        "spawn",
        "stop",
        "kill",
        "started",
        "start_failed",
        "ready",
        "heartbeat",
        "exited",
        "restart",
        "give_up",
        "sup_exit",
        "tree_down",
        "stale",
        "request",
        "reply",
    ] {
        assert!(kinds.contains(ev), "no `{ev}` line in any sample trace: {kinds:?}");
    }
}

/// The meta line is a trace line too: docs/TRACE.md ("The meta line") puts
/// `t` first and `ev` second on every line.
#[test]
fn the_meta_line_keys_follow_the_trace_md_order() {
    let cfg = example("web-stack.toml");
    let (_, trace) = traced(&cfg, 0, &random(Duration::from_secs(60)));
    let meta = trace.lines().next().expect("a first line");
    let keys = raw_keys(meta);
    assert_eq!(&keys[..2], ["t", "ev"], "meta line: {meta}");
    let v: serde_json::Value = serde_json::from_str(meta).unwrap();
    assert_eq!(v["ev"], "meta");
    assert_eq!(v["t"], 0);
    assert_eq!(v["seed"], 0);
    assert_eq!(v["config"], "examples/web-stack.toml");
}

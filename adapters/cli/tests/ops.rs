//! The operator commands of `vigil ctl` against a real `vigil run`:
//! `reload` (over the socket, the same as SIGHUP; `--dry-run` applies
//! nothing; a bad file changes nothing), `start-child --config-snippet`,
//! `logs` (bounded ring, `-f`, a follower that never reads),
//! `subscribe --human`, and `--json` errors. Waits poll a condition with a
//! safety net; nothing sleeps to assert.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

mod support;

use support::{poll, SAFETY};

/// A top-level sleeping worker.
fn sleeper(name: &str) -> String {
    format!("[[child]]\nname = \"{name}\"\ncommand = [\"sleep\", \"1000\"]\nshutdown = \"brutal\"\n\n")
}

/// A supervisor `web` with sleeping workers `w1` (argument `arg`) and `w2`.
fn web(arg: &str) -> String {
    format!(
        "[[child]]\nname = \"web\"\nsupervisor = {{}}\n\n  [[child.child]]\n  name = \"w1\"\n  command = [\"sleep\", \"{arg}\"]\n  \
         shutdown = \"brutal\"\n\n  [[child.child]]\n  name = \"w2\"\n  command = [\"sleep\", \"1000\"]\n  shutdown = \"brutal\"\n\n"
    )
}

struct Run {
    dir: tempfile::TempDir,
    vigil: Child,
}

impl Run {
    /// `vigil run` on `children` (config text), socket in a scratch dir;
    /// waits until every node is running.
    fn start(children: &str) -> Run {
        Run::start_with(children, "", &[])
    }

    /// [`Run::start`] with more `[control]` keys and `vigil run` arguments.
    fn start_with(children: &str, control: &str, args: &[&str]) -> Run {
        let dir = tempfile::tempdir().expect("tempdir");
        let run = Run {
            vigil: {
                let text = config(dir.path(), children).replacen("\n\n", &format!("\n{control}\n"), 1);
                std::fs::write(dir.path().join("tree.toml"), text).unwrap();
                support::run_tree_in(dir.path(), args)
            },
            dir,
        };
        assert!(poll(|| run.all_running()), "the tree never ran: {}", run.log());
        run
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("ctl.sock")
    }

    fn rewrite(&self, children: &str) {
        std::fs::write(self.dir.path().join("tree.toml"), config(self.dir.path(), children)).unwrap();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("vigil.log")).unwrap_or_default()
    }

    fn ctl(&self, args: &[&str]) -> Output {
        support::ctl(&self.socket(), args)
    }

    fn ok(&self, args: &[&str]) -> String {
        support::ctl_ok(&self.socket(), args, || self.log())
    }

    fn json(&self, args: &[&str]) -> Value {
        support::ctl_json(&self.socket(), args, || self.log())
    }

    /// Every node as (path, state, generation).
    fn nodes(&self) -> Vec<(String, String, u64)> {
        let s = self.json(&["status"]);
        s["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["path"].as_str().unwrap().to_owned(),
                    n["state"].as_str().unwrap().to_owned(),
                    n["generation"].as_u64().unwrap_or(0),
                )
            })
            .collect()
    }

    fn all_running(&self) -> bool {
        let out = self.ctl(&["--json", "status"]);
        let Ok(json) = serde_json::from_slice::<Value>(&out.stdout) else {
            return false;
        };
        let nodes = json["nodes"].as_array().cloned().unwrap_or_default();
        out.status.success() && !nodes.is_empty() && nodes.iter().all(|n| n["state"] == "running")
    }

    /// The paths of the tree, in order.
    fn paths(&self) -> Vec<String> {
        self.nodes().into_iter().map(|n| n.0).collect()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.vigil.kill();
        let _ = self.vigil.wait();
    }
}

fn config(dir: &Path, children: &str) -> String {
    format!(
        "[control]\nsocket = \"{}\"\n\n{children}",
        dir.join("ctl.sock").display()
    )
}

fn generation(nodes: &[(String, String, u64)], path: &str) -> u64 {
    nodes.iter().find(|n| n.0 == path).map(|n| n.2).unwrap()
}

#[test]
fn ctl_reload_applies_what_sighup_applies_and_prints_the_diff() {
    let before = format!("{}{}{}", web("1000"), sleeper("db"), sleeper("old"));
    let after = format!("{}{}{}", web("2000"), sleeper("db"), sleeper("api"));
    let (by_ctl, by_hup) = (Run::start(&before), Run::start(&before));
    let (ctl0, hup0) = (by_ctl.nodes(), by_hup.nodes());
    by_ctl.rewrite(&after);
    by_hup.rewrite(&after);

    let text = by_ctl.ok(&["reload"]);
    assert!(text.starts_with("reloaded "), "{text}");
    for line in [
        "  + api  (added, started)",
        "  - old  (removed: stopped and deleted)",
        "  ~ web  (changed",
        "      ~ web/w1",
        "  unchanged: db",
    ] {
        assert!(text.contains(line), "{line:?} in\n{text}");
    }
    assert!(!text.contains("web/w2"), "w2 did not change: {text}");

    // SIGHUP, then wait until the other tree has the same shape.
    unsafe { libc::kill(by_hup.vigil.id() as libc::pid_t, libc::SIGHUP) };
    assert!(
        poll(|| by_hup.paths() == by_ctl.paths() && by_hup.all_running()),
        "{}",
        by_hup.log()
    );
    let (ctl1, hup1) = (by_ctl.nodes(), by_hup.nodes());
    assert_eq!(by_ctl.paths(), ["web", "web/w1", "web/w2", "db", "api"]);
    // The same children restarted (every worker of the replaced `web`), the same kept.
    for (n0, n1) in [(&ctl0, &ctl1), (&hup0, &hup1)] {
        assert!(generation(n1, "web/w1") > generation(n0, "web/w1"));
        assert!(generation(n1, "web/w2") > generation(n0, "web/w2"));
        assert_eq!(generation(n1, "db"), generation(n0, "db"));
    }
    // The next reload has nothing to do, whichever way the first one came.
    for run in [&by_ctl, &by_hup] {
        let d = run.json(&["reload"]);
        assert_eq!(d["changed"], serde_json::json!([]), "{d}");
        assert_eq!(d["added"], serde_json::json!([]), "{d}");
        assert_eq!(d["unchanged"], serde_json::json!(["web", "db", "api"]), "{d}");
    }
}

#[test]
fn a_dry_run_applies_nothing_and_a_bad_file_changes_nothing() {
    let run = Run::start(&format!("{}{}", web("1000"), sleeper("db")));
    let before = run.nodes();
    run.rewrite(&format!("{}{}", web("3000"), sleeper("cache")));
    let dry = run.json(&["reload", "--dry-run"]);
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["added"], serde_json::json!(["cache"]));
    assert_eq!(dry["removed"], serde_json::json!(["db"]));
    assert_eq!(dry["changed"][0]["path"], "web");
    assert_eq!(run.nodes(), before, "a dry run changed the tree");
    assert!(run
        .ok(&["reload", "--dry-run"])
        .contains("dry run: nothing was changed"));
    assert_eq!(run.nodes(), before);

    // A file that no longer loads: a precise error, exit 2, nothing applied.
    std::fs::write(
        run.dir.path().join("tree.toml"),
        config(
            run.dir.path(),
            "[[child]]\nname = \"db\"\ncommand = [\"sleep\", \"1\"]\nrestart = \"often\"\n",
        ),
    )
    .unwrap();
    let out = run.ctl(&["reload"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tree.toml:7:11: bad value for `restart`"), "{err}");
    let out = run.ctl(&["--json", "reload"]);
    assert_eq!(out.status.code(), Some(2));
    let e: Value = serde_json::from_slice(&out.stdout).expect("a JSON error");
    assert_eq!(e["error"]["kind"], "bad_config");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("tree.toml:7:11"),
        "{e}"
    );
    // An empty file would stop everything: refused, exit 1.
    std::fs::write(run.dir.path().join("tree.toml"), config(run.dir.path(), "")).unwrap();
    let out = run.ctl(&["--json", "reload"]);
    assert_eq!(out.status.code(), Some(1));
    let e: Value = serde_json::from_slice(&out.stdout).expect("a JSON error");
    assert_eq!(e["error"]["kind"], "would_empty");
    assert_eq!(run.nodes(), before, "a refused reload changed the tree");
}

#[test]
fn start_child_from_a_snippet_and_what_the_next_reload_does_with_it() {
    let children = format!("{}{}", web("1000"), sleeper("db"));
    let run = Run::start(&children);
    let snippet = run.dir.path().join("extra.toml");
    std::fs::write(
        &snippet,
        "[[child]]\nname = \"extra\"\ncommand = [\"sleep\", \"1000\"]\nrestrat = \"temporary\"\n",
    )
    .unwrap();
    let s = snippet.to_str().unwrap();
    let out = run.ctl(&["start-child", "", "--config-snippet", s]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{s}:4:1: unknown key `restrat`")), "{err}");
    assert_eq!(run.paths(), ["web", "web/w1", "web/w2", "db"]);

    std::fs::write(
        &snippet,
        "[[child]]\nname = \"extra\"\ncommand = [\"sleep\", \"1000\"]\n",
    )
    .unwrap();
    let out = run.ok(&["start-child", "", "--config-snippet", s]);
    assert!(out.starts_with("started extra (generation "), "{out}");
    assert!(run
        .ok(&["start-child", "web", "--config-snippet", s])
        .starts_with("started web/extra "));
    assert!(poll(|| run.all_running()));
    // Twice under one parent: refused by the engine.
    assert_eq!(
        run.ctl(&["start-child", "", "--config-snippet", s]).status.code(),
        Some(1)
    );
    let before = run.nodes();

    // The next reload (file unchanged) leaves both running and says so.
    let d = run.json(&["reload"]);
    assert_eq!(d["not_in_config"], serde_json::json!(["extra"]), "{d}");
    assert_eq!(d["changed"], serde_json::json!([]), "{d}");
    assert_eq!(run.nodes(), before);
    // A reload that replaces `web` gives it its spec from the file: the
    // snippet child under it is gone; the one under the root stays.
    run.rewrite(&format!("{}{}", web("2000"), sleeper("db")));
    let dry = run.ok(&["reload", "--dry-run"]);
    assert!(
        dry.contains("      ! web/extra  (added at run time: lost, not in the file)\n"),
        "{dry}"
    );
    run.ok(&["reload"]);
    assert!(poll(|| run.all_running()));
    assert_eq!(run.paths(), ["web", "web/w1", "web/w2", "db", "extra"]);
    assert_eq!(generation(&run.nodes(), "extra"), generation(&before, "extra"));
}

/// A worker that writes `count` numbered lines (odd ones to stderr), then sleeps.
fn writer(name: &str, count: u32) -> String {
    format!(
        "[[child]]\nname = \"{name}\"\ncommand = [\"sh\", \"-c\", \"i=1; while [ $i -le {count} ]; do \
         if [ $((i % 2)) -eq 1 ]; then echo line $i >&2; else echo line $i; fi; i=$((i+1)); done; exec sleep 1000\"]\n\
         shutdown = \"brutal\"\n\n"
    )
}

#[test]
fn logs_keep_a_bounded_ring_of_both_streams() {
    let run = Run::start(&format!("{}{}", writer("chatty", 500), sleeper("quiet")));
    let full = || run.json(&["logs", "chatty", "-n", "1000"]);
    let written = |l: &Value| l["dropped"].as_u64().unwrap() + l["lines"].as_array().unwrap().len() as u64;
    assert!(poll(|| written(&full()) == 500), "{}", full());
    let logs = full();
    let lines = logs["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 200, "the ring holds its default 200 lines");
    assert_eq!(logs["dropped"], 300);
    // Each stream marked; the two pipes are read side by side, so only each
    // stream's own lines keep their order.
    let mut last = [0u64; 2];
    for l in lines {
        let n: u64 = l["text"]
            .as_str()
            .unwrap()
            .strip_prefix("line ")
            .unwrap()
            .parse()
            .unwrap();
        let odd = n % 2 == 1;
        assert_eq!(l["stream"], if odd { "stderr" } else { "stdout" }, "{l}");
        assert!(n > last[usize::from(odd)], "{l} after {last:?}");
        last[usize::from(odd)] = n;
    }
    // The last line read is the last of one stream or the other.
    assert!(last[0] == 500 || last[1] == 499, "the newest line is kept: {last:?}");
    let g = generation(&run.nodes(), "chatty");
    assert!(lines.iter().all(|l| l["generation"].as_u64() == Some(g)));
    let text = run.ok(&["logs", "chatty", "-n", "2"]);
    let mut text_lines = text.lines();
    assert_eq!(
        text_lines.next(),
        Some("(300 older lines are no longer kept)"),
        "{text}"
    );
    for l in text_lines.by_ref() {
        assert!(
            l.contains(&format!("  gen {g}  out  line ")) || l.contains(&format!("  gen {g}  err  line ")),
            "{l}"
        );
    }
    assert_eq!(text.lines().count(), 3, "{text}");
    // A child that never wrote has nothing (and no ring); an unknown path is an error.
    assert_eq!(run.json(&["logs", "quiet"])["lines"], serde_json::json!([]));
    let out = run.ctl(&["logs", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not_found"));
}

#[test]
fn the_ring_size_is_a_config_key_and_output_files_are_not_kept() {
    let run = Run::start_with(&writer("chatty", 10), "logs_lines = 3\nlogs_bytes = \"1KiB\"\n", &[]);
    let written = |l: &Value| l["dropped"].as_u64().unwrap() + l["lines"].as_array().unwrap().len() as u64;
    assert!(poll(|| written(&run.json(&["logs", "chatty"])) == 10));
    assert_eq!(run.json(&["logs", "chatty"])["lines"].as_array().unwrap().len(), 3);
    drop(run);

    let out_dir = tempfile::tempdir().unwrap();
    let run = Run::start_with(
        &writer("chatty", 10),
        "",
        &["--output-dir", out_dir.path().to_str().unwrap()],
    );
    let out = run.ctl(&["--json", "logs", "chatty"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "unavailable");
    assert!(
        v["error"]["message"].as_str().unwrap().contains("DIR/<path>.out.log"),
        "{v}"
    );
}

#[test]
fn a_follower_that_never_reads_blocks_nothing_and_learns_what_it_missed() {
    // `noisy` writes 200,000 lines as fast as it can once `go` exists.
    let flag = tempfile::tempdir().unwrap();
    let go = flag.path().join("go");
    let run = Run::start(&format!(
        "[[child]]\nname = \"noisy\"\ncommand = [\"sh\", \"-c\", \"while [ ! -e {} ]; do sleep 0.01; done; seq 1 200000; \
         exec sleep 1000\"]\nshutdown = \"brutal\"\n",
        go.display()
    ));
    let mut stuck = UnixStream::connect(run.socket()).expect("connect");
    stuck
        .write_all(b"{\"id\":1,\"op\":\"logs\",\"path\":\"noisy\",\"follow\":true,\"lines\":0}\n")
        .unwrap();
    let mut first = String::new();
    let mut reader = BufReader::new(stuck.try_clone().unwrap());
    reader.read_line(&mut first).unwrap();
    assert!(first.contains("\"ok\":true"), "{first}");
    // Now never read, while the child writes.
    std::fs::write(&go, "").unwrap();
    let last = || run.json(&["logs", "noisy", "-n", "1"])["lines"][0]["text"].clone();
    assert!(poll(|| last() == "200000"), "the child was held up: {}", last());
    assert!(run.all_running(), "the tree answers while the follower is stuck");
    // The follower, reading at last, is told how many lines it missed.
    stuck.set_read_timeout(Some(SAFETY)).unwrap();
    let mut missed = 0u64;
    let mut seen = 0u64;
    let mut line = String::new();
    while seen + missed < 200_000 {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            break;
        }
        let v: Value = serde_json::from_str(&line).unwrap();
        match v["item"].get("missed") {
            Some(n) => missed += n.as_u64().unwrap(),
            None => seen += 1,
        }
    }
    assert!(missed > 0, "nothing was dropped: {seen} seen");
    assert_eq!(seen + missed, 200_000, "every line is seen or counted as missed");
    let mut rest = [0u8; 1];
    stuck.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
    let _ = stuck.read(&mut rest);
}

#[test]
fn logs_follow_prints_new_lines_as_they_come() {
    let tick = "[[child]]\nname = \"tick\"\ncommand = [\"sh\", \"-c\", \"i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.05; done\"]\nshutdown = \"brutal\"\n";
    let run = Run::start(tick);
    let mut follow = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["ctl", "--socket"])
        .arg(run.socket())
        .args(["logs", "-f", "-n", "0", "tick"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(follow.stdout.take().unwrap());
    let mut numbers = Vec::new();
    for _ in 0..3 {
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let (_, n) = line.trim_end().rsplit_once("  out  tick ").expect(&line);
        numbers.push(n.parse::<u64>().unwrap());
    }
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    let _ = follow.kill();
    let _ = follow.wait();
}

#[test]
fn a_follow_ends_when_its_child_is_removed_and_snippets_may_hold_supervisors() {
    let run = Run::start(&writer("chatty", 3));
    let snippet = run.dir.path().join("pair.toml");
    std::fs::write(
        &snippet,
        "[[child]]\nname = \"pair\"\nsupervisor = { strategy = \"one_for_all\" }\n\n  [[child.child]]\n  name = \"p1\"\n  \
         command = [\"sh\", \"-c\", \"echo p1 up; exec sleep 1000\"]\n\n  [[child.child]]\n  name = \"p2\"\n  command = [\"sleep\", \"1000\"]\n",
    )
    .unwrap();
    let s = snippet.to_str().unwrap();
    let out = run.ctl(&["start-child", "nope", "--config-snippet", s]);
    assert_eq!(out.status.code(), Some(2), "an unknown parent");
    run.ok(&["start-child", "", "--config-snippet", s]);
    assert!(poll(|| run.all_running()));
    assert_eq!(run.paths(), ["chatty", "pair", "pair/p1", "pair/p2"]);
    assert!(poll(|| run.json(&["logs", "pair/p1"])["lines"][0]["text"] == "p1 up"));

    let mut follow = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["ctl", "--socket"])
        .arg(run.socket())
        .args(["logs", "-f", "pair/p1"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(follow.stdout.take().unwrap());
    let mut first = String::new();
    out.read_line(&mut first).unwrap();
    assert!(first.ends_with("  out  p1 up\n"), "{first}");
    run.ok(&["stop", "pair"]);
    run.ok(&["delete", "pair"]);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "", "nothing more");
    let status = follow.wait().unwrap();
    assert!(
        status.success(),
        "the follow ends when its child is removed: {status:?}"
    );
    assert_eq!(run.ctl(&["logs", "pair/p1"]).status.code(), Some(2), "gone");
}

#[test]
fn subscribe_human_stamps_each_event_with_utc_time() {
    let run = Run::start(&sleeper("a"));
    let mut sub = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["ctl", "--socket"])
        .arg(run.socket())
        .args(["subscribe", "--human"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(sub.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if line.contains("  exited ") && tx.send(line).is_err() {
                break;
            }
        }
    });
    // Restart `a` until the subscriber (subscribed at some point) shows an exit.
    let start = Instant::now();
    let mut found = None;
    while found.is_none() && start.elapsed() < SAFETY {
        run.ok(&["restart", "a"]);
        found = rx.recv_timeout(Duration::from_millis(200)).ok();
    }
    let _ = sub.kill();
    let _ = sub.wait();
    let line = found.expect("an exited line");
    let (time, rest) = line.split_once("  ").unwrap();
    assert_eq!(time.len(), "2025-01-31T09:05:12.345Z".len(), "{line}");
    assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{line}");
    assert!(rest.starts_with("exited        a  gen "), "{line}");
    assert!(rest.trim_end().ends_with("reason=killed"), "{line}");
}

#[test]
fn with_json_every_error_is_json_with_the_usual_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_vigil"))
            .arg("ctl")
            .args(args)
            .env("XDG_RUNTIME_DIR", dir.path())
            .env_remove("VIGIL_SOCKET")
            .output()
            .unwrap()
    };
    let none = dir.path().join("none.sock");
    let none = none.to_str().unwrap();
    for (args, code, kind) in [
        (vec!["--json", "--socket", none, "status"], 1, "not_running"),
        (vec!["--json", "--socket", none, "bogus"], 2, "usage"),
        (vec!["--socket", none, "logs", "--json"], 2, "usage"),
        (
            vec![
                "--json",
                "--socket",
                none,
                "start-child",
                "",
                "--config-snippet",
                "/nonexistent.toml",
            ],
            2,
            "bad_input",
        ),
        (vec!["--json", "--socket", none, "call", "a", "b", "{x"], 2, "bad_input"),
    ] {
        let out = ctl(&args);
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        assert_eq!(v["error"]["kind"], kind, "{args:?}: {v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        assert!(out.stderr.is_empty(), "{args:?}");
        // Without --json: the same exit code, and the text on stderr.
        let plain: Vec<&str> = args.iter().copied().filter(|a| *a != "--json").collect();
        if kind != "usage" {
            let out = ctl(&plain);
            assert_eq!(out.status.code(), Some(code), "{plain:?}");
            assert!(out.stdout.is_empty() && !out.stderr.is_empty(), "{plain:?}");
        }
    }
    // --help stays help, even with --json.
    let out = ctl(&["--json", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));

    // A refusal of the server keeps its code.
    let run = Run::start(&sleeper("a"));
    let out = run.ctl(&["--json", "stop", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "not_found");
}

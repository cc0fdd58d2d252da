//! `vigil ctl` end to end against `vigil run`: every subcommand, tables and
//! `--json`, exit codes, and the error when no server runs. Waits poll a
//! condition with a safety net; nothing sleeps to assert.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SAFETY: Duration = Duration::from_secs(30);

fn poll(mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > SAFETY {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    true
}

struct Run {
    dir: tempfile::TempDir,
    vigil: Child,
}

impl Run {
    /// `vigil run` on a config of two sleeping children, socket in the scratch dir.
    fn start() -> Run {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("ctl.sock");
        let config = dir.path().join("tree.toml");
        std::fs::write(
            &config,
            format!(
                "[control]\nsocket = \"{}\"\n\n[[child]]\nname = \"a\"\ncommand = [\"sleep\", \"1000\"]\nshutdown = \"brutal\"\n\n\
                 [[child]]\nname = \"b\"\ncommand = [\"sleep\", \"1000\"]\nshutdown = \"brutal\"\n",
                socket.display()
            ),
        )
        .unwrap();
        let vigil = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .arg("run")
            .arg(&config)
            .env("XDG_RUNTIME_DIR", dir.path().join("xdg"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("vigil.log")).unwrap())
            .spawn()
            .expect("vigil runs");
        let run = Run { dir, vigil };
        // Both children are up (not only spawned): the tests read their state.
        assert!(
            poll(|| run.all_running()),
            "the control server never answered with both children running: {}",
            run.log()
        );
        run
    }

    /// Whether the server answers and every child reports `running`.
    fn all_running(&self) -> bool {
        let out = self.ctl(&["--json", "status"]);
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
            return false;
        };
        let nodes = json["nodes"].as_array().cloned().unwrap_or_default();
        out.status.success() && nodes.len() == 2 && nodes.iter().all(|n| n["state"] == "running")
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("ctl.sock")
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("tree.toml")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("vigil.log")).unwrap_or_default()
    }

    fn ctl(&self, args: &[&str]) -> Output {
        ctl_at(&self.socket(), args)
    }

    /// Run `vigil ctl` and require success; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "vigil ctl {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&self.ok(&all)).expect("--json prints JSON")
    }

    fn generation(&self, path: &str) -> u64 {
        let s = self.json(&["status"]);
        s["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["path"] == path)
            .map(|n| n["generation"].as_u64().unwrap())
            .unwrap()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.vigil.kill();
        let _ = self.vigil.wait();
    }
}

fn ctl_at(socket: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("ctl")
        .arg("--socket")
        .arg(socket)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("vigil ctl runs")
}

#[test]
fn without_a_server_ctl_says_so_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let out = ctl_at(&dir.path().join("none.sock"), &["status"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no vigil control server is running at"), "{err}");
}

#[test]
fn every_subcommand_against_vigil_run() {
    let run = Run::start();

    let status = run.ok(&["status"]);
    let mut lines = status.lines();
    assert!(lines.next().unwrap().starts_with("PATH"), "{status}");
    assert!(
        status.lines().any(|l| l.starts_with("a ") && l.contains("running")),
        "{status}"
    );
    let json = run.json(&["status"]);
    assert_eq!(json["nodes"][0]["path"], "a");
    assert!(json["nodes"][0]["pid"].is_u64(), "{json}");

    let tree = run.ok(&["tree"]);
    assert!(tree.starts_with("(root)\n├─ a [running gen "), "{tree}");
    assert!(tree.contains("└─ b [running gen "), "{tree}");

    let g = run.generation("a");
    let out = run.ok(&["restart", "a"]);
    assert!(out.starts_with("restarted a (generation "), "{out}");
    assert!(run.generation("a") > g);

    assert_eq!(run.ok(&["stop", "b"]), "stopped b\n");
    assert!(run.ok(&["start", "b"]).starts_with("started b (generation "));
    let before = (run.generation("a"), run.generation("b"));
    assert_eq!(
        run.ok(&["restart-all", "--rolling"]),
        "restarted the children of the root\n"
    );
    let after = (run.generation("a"), run.generation("b"));
    assert!(after.0 > before.0 && after.1 > before.1);
    run.ok(&["restart-all"]);

    assert_eq!(run.ok(&["workers"]), "no worker is registered\n");
    assert_eq!(run.json(&["workers"]), serde_json::json!([]));
    let metrics = run.ok(&["metrics"]);
    assert!(
        metrics.contains("vigil_child_state{path=\"a\",kind=\"worker\",state=\"running\"} 1"),
        "{metrics}"
    );

    // Bad input: exit 2; a refused operation: exit 1.
    let out = run.ctl(&["stop", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not_found"));
    assert_eq!(run.ctl(&["call", "a", "ping"]).status.code(), Some(1));
    assert_eq!(run.ctl(&["call", "a", "ping", "{not json"]).status.code(), Some(2));
    assert_eq!(run.ctl(&["delete", "a"]).status.code(), Some(1)); // running

    // --config finds the socket from the config.
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(["ctl", "--json", "--config"])
        .arg(run.config())
        .arg("status")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // subscribe follows the trace until the tree is down; shutdown ends vigil run.
    let mut sub = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("ctl")
        .arg("--socket")
        .arg(run.socket())
        .arg("subscribe")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The subscription is live once it prints an event: cause some until then.
    let stdout = sub.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut events = Vec::new();
    assert!(poll(|| {
        run.ok(&["restart", "b"]);
        events.extend(rx.try_iter());
        !events.is_empty()
    }));
    assert_eq!(run.ok(&["shutdown"]), "shutting down\n");
    let mut vigil = run;
    let status = vigil.vigil.wait().unwrap();
    assert!(status.success(), "{}", vigil.log());
    assert!(!vigil.socket().exists(), "the socket file is removed");
    assert!(sub.wait().unwrap().success());
    reader.join().unwrap();
    events.extend(rx.try_iter());
    assert!(events.iter().any(|l| l.contains("\"ev\":\"tree_down\"")), "{events:?}");
    for l in &events {
        assert!(l.starts_with("{\"t\":"), "{l}");
    }
}

#[test]
fn a_second_vigil_run_on_a_live_socket_exits_2() {
    let run = Run::start();
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("run")
        .arg(run.config())
        .stdin(Stdio::null())
        .output()
        .expect("vigil runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("a vigil control server is already running at"), "{err}");
    // The first one is untouched.
    run.ok(&["status"]);
}

fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill")
        .args(["-s", sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_stopped_vigil_makes_ctl_give_up_with_124_at_its_timeout() {
    let run = Run::start();
    let pid = run.vigil.id();
    signal(pid, "STOP");
    // The kernel still accepts the connection; nobody answers.
    for args in [
        &["--timeout", "300ms", "status"][..],
        &["restart", "a", "--timeout", "200"],
        &["--timeout", "300ms", "subscribe"],
        &["--timeout", "100ms", "call", "a", "ping"],
    ] {
        let out = run.ctl(args);
        let err = String::from_utf8_lossy(&out.stderr);
        signal_on_failure(&out, pid, args);
        assert_eq!(out.status.code(), Some(124), "{args:?}: {err}");
        assert!(err.contains("no answer from the vigil control server at"), "{err}");
    }
    let out = run.ctl(&["--timeout", "300ms", "restart", "a"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the operation may still complete"),
        "{out:?}"
    );
    signal(pid, "CONT");
    // Answered again once vigil runs (the timed-out restarts of `a` may
    // happen meanwhile).
    assert!(run.ok(&["status"]).contains("running"));

    // Bad timeouts: not a duration (usage, 2); over the call maximum (the
    // server's bad_request, 2).
    assert_eq!(run.ctl(&["--timeout", "soon", "status"]).status.code(), Some(2));
    let out = run.ctl(&["call", "a", "ping", "--timeout", "2h"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("timeout_ms"), "{out:?}");
}

/// Resume vigil before an assertion fails, so that the run's drop can end it.
fn signal_on_failure(out: &Output, pid: u32, args: &[&str]) {
    if out.status.code() != Some(124) {
        signal(pid, "CONT");
        eprintln!("vigil ctl {args:?}: {out:?}");
    }
}

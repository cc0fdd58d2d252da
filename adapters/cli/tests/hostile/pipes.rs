//! Class 8: a reader that goes away (`vigil ... | head -1`). Every command
//! ends quietly with exit code 141 (128 + SIGPIPE, what a shell reports for
//! `ls` in the same pipe; docs/ADAPTER.md), without a panic message, and a
//! running `vigil run` is not disturbed by its clients' pipes.
//!
//! "At once": the read end is closed before the command writes anything, so
//! its first write fails, whatever its output's size. "After a line": the
//! reader takes one line and leaves, for commands whose output goes on (a big
//! `check`, `ctl subscribe`).

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::support::{poll, sh, vigil_cmd, Scratch, Vigil};

/// The exit code documented for a closed output.
const CLOSED: i32 = 141;

/// Wait for `child` (at most the harness's safety timeout); its exit code and its stderr.
fn finish(mut child: Child, what: &str) -> (i32, String) {
    let mut stderr = child.stderr.take().expect("stderr piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let mut status = None;
    if !poll(|| {
        status = child.try_wait().expect("wait for vigil");
        status.is_some()
    }) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{what} did not end after its reader went away");
    }
    let stderr = reader.join().expect("the stderr reader");
    let status = status.expect("exited");
    let code = status
        .code()
        .unwrap_or_else(|| panic!("{what} died by a signal: {status:?}; stderr:\n{stderr}"));
    (code, stderr)
}

fn spawn(mut cmd: Command, what: &str) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The write end of a pipe (a FIFO in `s`) that has no reader left: every
/// write to it fails with EPIPE. Its reader is gone before the command
/// starts, so the command cannot write anything first, however fast it runs.
fn readerless_pipe(s: &Scratch) -> std::fs::File {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let path = s.path(&format!(
        "fifo-{}",
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let made = Command::new("mkfifo").arg(&path).status().expect("mkfifo runs");
    assert!(made.success(), "mkfifo {}", path.display());
    // Opening read-write never blocks (Linux); it is the reader the
    // write-only open needs, and it goes at once.
    let reader = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .expect("open the FIFO");
    let writer = std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .expect("open the FIFO's write end");
    drop(reader);
    writer
}

/// Run `cmd` with a stdout whose reader is gone before it starts.
fn closed_at_once(s: &Scratch, mut cmd: Command, what: &str) -> (i32, String) {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(readerless_pipe(s))
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    finish(child, what)
}

/// Run `cmd`, read one line of its stdout, and close the pipe.
fn closed_after_a_line(cmd: Command, what: &str) -> (i32, String, String) {
    let mut child = spawn(cmd, what);
    let mut out = BufReader::new(child.stdout.take().expect("stdout piped"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read a line");
    drop(out);
    let (code, stderr) = finish(child, what);
    (code, stderr, line)
}

fn assert_quiet(what: &str, code: i32, stderr: &str) {
    assert!(!stderr.contains("panicked"), "{what} panicked:\n{stderr}");
    assert!(!stderr.contains("error"), "{what} reported an error:\n{stderr}");
    assert_eq!(code, CLOSED, "{what}: stderr:\n{stderr}");
}

fn vigil(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
    cmd.args(args);
    cmd
}

#[test]
fn tour_check_and_sim_end_quietly_when_the_reader_is_gone() {
    let s = Scratch::new("pipes-oneshot");
    let config = s.write("tree.toml", "[[child]]\nname = \"a\"\ncommand = [\"true\"]\n");
    let config = config.to_str().expect("a UTF-8 path");
    for args in [
        &["tour"][..],
        &["tour", "--quiet"],
        &["check", config],
        &["sim", config, "--seed", "1"],
        &["sim", config, "--seeds", "0..8", "--jobs", "2", "--quiet"],
    ] {
        let what = format!("vigil {}", args.join(" "));
        let (code, stderr) = closed_at_once(&s, vigil(args), &what);
        assert_quiet(&what, code, &stderr);
    }
}

/// `vigil sim --seeds ... 2>&1 | head`: a closed stderr (the progress lines)
/// ends the command the same way.
#[test]
fn a_closed_stderr_ends_the_command_quietly_too() {
    let s = Scratch::new("pipes-stderr");
    let config = s.write("tree.toml", "[[child]]\nname = \"a\"\ncommand = [\"true\"]\n");
    let mut cmd = vigil(&["sim", config.to_str().expect("a UTF-8 path"), "--seeds", "0..8"]);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(readerless_pipe(&s));
    let mut child = cmd.spawn().expect("vigil sim starts");
    let mut status = None;
    assert!(poll(|| {
        status = child.try_wait().expect("wait");
        status.is_some()
    }));
    assert_eq!(status.and_then(|s| s.code()), Some(CLOSED), "{status:?}");
}

/// `vigil check big.toml | head -1`: the rest of a long listing is not written.
#[test]
fn a_big_check_stops_after_the_line_its_reader_wanted() {
    let s = Scratch::new("pipes-check");
    let big: String = (0..5000)
        .map(|i| format!("[[child]]\nname = \"worker-{i}\"\ncommand = [\"true\"]\n\n"))
        .collect();
    let config = s.write("big.toml", &big);
    let what = "vigil check big.toml | head -1";
    let (code, stderr, line) = closed_after_a_line(vigil(&["check", config.to_str().expect("UTF-8")]), what);
    assert!(line.contains("one_for_one"), "the first line is the root: {line:?}");
    assert_quiet(what, code, &stderr);
}

/// `vigil ctl status` and `vigil ctl subscribe | head -1` against a running
/// tree: both end with 141, and the tree (its PIDs) is not disturbed.
#[test]
fn ctl_ends_quietly_and_the_tree_runs_on() {
    let s = Scratch::new("pipes-ctl");
    let rec = |name: &str| sh(&format!("echo $$ >> {}; exec sleep 1000", s.p(&format!("{name}.pids"))));
    let config = s.write(
        "tree.toml",
        &format!(
            "[[child]]\nname = \"a\"\ncommand = {}\n\n[[child]]\nname = \"b\"\ncommand = {}\n",
            rec("a"),
            rec("b")
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    let b = s.wait_pid(&v, "b.pids");
    s.wait_lines(&v, "a.pids", 1);

    let (code, stderr) = closed_at_once(&s, vigil_cmd(&s, &["ctl", "status"]), "vigil ctl status");
    assert_quiet("vigil ctl status", code, &stderr);
    let (code, stderr) = closed_at_once(&s, vigil_cmd(&s, &["ctl", "--json", "tree"]), "vigil ctl --json tree");
    assert_quiet("vigil ctl --json tree", code, &stderr);

    // subscribe on an idle tree, its reader gone before it starts: it ends
    // at once, not at the next event (there is none).
    let (code, stderr) = closed_at_once(&s, vigil_cmd(&s, &["ctl", "subscribe"]), "idle vigil ctl subscribe");
    assert_quiet("idle vigil ctl subscribe", code, &stderr);

    // subscribe: a reader takes one event and leaves; events go on (restarts
    // of a) until subscribe writes again and finds the pipe closed.
    let mut sub = spawn(vigil_cmd(&s, &["ctl", "subscribe"]), "vigil ctl subscribe");
    let out = sub.stdout.take().expect("stdout piped");
    let reader = std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(out).read_line(&mut line);
        line
    });
    let mut restarts = 0;
    let ended = poll(|| {
        if sub.try_wait().expect("wait").is_some() {
            return true;
        }
        let ok = vigil_cmd(&s, &["ctl", "restart", "a"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|st| st.success());
        restarts += usize::from(ok);
        std::thread::sleep(Duration::from_millis(20));
        false
    });
    assert!(
        ended,
        "ctl subscribe went on after its reader left ({restarts} restarts)"
    );
    let first = reader.join().expect("the reader");
    assert!(first.starts_with('{'), "the line read is a trace event: {first:?}");
    let (code, stderr) = finish(sub, "vigil ctl subscribe");
    assert_quiet("vigil ctl subscribe | head -1", code, &stderr);

    assert!(v.alive(b), "b was disturbed by its clients' pipes");
    assert_eq!(s.lines("b.pids").len(), 1, "b was restarted");
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    v.wait_nothing_left();
}

/// `vigil run tree.toml 2>&1 | tee log`, and the reader of the log goes away:
/// the supervisor loses its log, not its tree. It keeps supervising (a crash
/// is restarted, the sibling untouched) and shuts down normally.
#[test]
fn vigil_run_keeps_supervising_when_its_log_reader_is_gone() {
    let s = Scratch::new("pipes-run-log");
    let rec = |name: &str| sh(&format!("echo $$ >> {}; exec sleep 1000", s.p(&format!("{name}.pids"))));
    let config = s.write(
        "tree.toml",
        &format!(
            "[[child]]\nname = \"a\"\ncommand = {}\n\n[[child]]\nname = \"b\"\ncommand = {}\n",
            rec("a"),
            rec("b")
        ),
    );
    let tag = crate::support::unique("tag");
    let child = vigil_cmd(&s, &["run", config.to_str().expect("UTF-8")])
        .arg("--trace")
        .arg(s.path("trace.jsonl"))
        .env("VIGIL_LOG", "debug")
        .env(crate::support::TAG_VAR, &tag)
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(readerless_pipe(&s))
        .spawn()
        .expect("vigil run starts");
    let mut v = Vigil {
        child,
        status: None,
        tag,
        trace: s.path("trace.jsonl"),
        log: s.path("no-log"),
    };
    v.wait_for_signal_handlers();
    let pids = |name: &str| -> Vec<u32> {
        s.lines(&format!("{name}.pids"))
            .iter()
            .map(|l| l.trim().parse().expect("a pid"))
            .collect()
    };
    s.wait_lines(&v, "a.pids", 1);
    s.wait_lines(&v, "b.pids", 1);
    let b = pids("b")[0];
    crate::support::send("KILL", &[pids("a")[0]]);
    s.wait_lines(&v, "a.pids", 2);
    let a2 = pids("a")[1];
    v.wait_for("a's new run", || v.alive(a2));
    assert!(v.alive(b), "b was touched");
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0);
    let trace = v.trace();
    assert_eq!(trace.count("spawn", "a"), 2, "{trace}");
    assert_eq!(trace.count("spawn", "b"), 1, "{trace}");
    v.wait_nothing_left();
}

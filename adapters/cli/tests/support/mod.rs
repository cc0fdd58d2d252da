//! The harness shared by the `vigil run` suites (`run.rs`, `hostile/`): a
//! scratch directory per test, the `vigil run` under test with its log and
//! trace, process lookups by a per-test environment tag, and trace parsing.
//!
//! Nothing here sleeps to assert: a test waits for a condition by polling,
//! with a generous timeout only as a safety net.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long any condition may take before the test gives up: a safety net,
/// never a measure (every wait normally ends in milliseconds).
pub const SAFETY: Duration = Duration::from_secs(30);

/// The environment variable that marks every process of one test.
pub const TAG_VAR: &str = "VIGIL_RUN_TEST_TAG";

pub fn unique(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "vigil-run-test-{}-{}-{tag}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Poll `cond` until it holds; false after [`SAFETY`].
pub fn poll(cond: impl FnMut() -> bool) -> bool {
    poll_within(SAFETY, cond)
}

/// Poll `cond` until it holds; false after `limit`.
pub fn poll_within(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

// ---------------------------------------------------------------------------
// Scratch directory

/// A fresh directory for one test's config, trace, log and marker files;
/// removed when dropped, unless the test failed (then its path is printed).
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(unique(tag));
        std::fs::create_dir_all(&dir).expect("create a scratch dir");
        Scratch(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The path as a string (for configs and scripts).
    pub fn p(&self, name: &str) -> String {
        self.path(name).to_str().expect("a UTF-8 temp path").to_owned()
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("write a scratch file");
        path
    }

    /// Create an empty file (the trigger children wait for).
    pub fn touch(&self, name: &str) {
        self.write(name, "");
    }

    pub fn exists(&self, name: &str) -> bool {
        self.path(name).exists()
    }

    /// The lines of a marker file (none if it does not exist yet).
    pub fn lines(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.path(name))
            .map(|s| s.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// Wait until marker `name` has at least `n` complete lines; returns them.
    pub fn wait_lines(&self, vigil: &Vigil, name: &str, n: usize) -> Vec<String> {
        let path = self.path(name);
        let complete = || {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<String> = text.lines().map(str::to_owned).collect();
            (text.ends_with('\n') && lines.len() >= n).then_some(lines)
        };
        vigil.wait_for(&format!("{n} line(s) in {name}"), || complete().is_some());
        complete().expect("the lines waited for")
    }

    /// Wait until the pid file `name` (one line: `echo $$ > name`) is written.
    pub fn wait_pid(&self, vigil: &Vigil, name: &str) -> u32 {
        let lines = self.wait_lines(vigil, name, 1);
        lines[0]
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}: not a pid: {:?}", lines[0]))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("the files of the failed test are kept in {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

// ---------------------------------------------------------------------------
// Processes

/// `kill -s SIG PID...` (no libc in this crate's dependencies).
pub fn send(signal: &str, pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg("-s")
        .arg(signal)
        .args(pids.iter().map(u32::to_string))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// The state letter of a process (`R`, `S`, `Z`, ...), if it exists.
pub fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) S ...`; comm may contain spaces and parentheses.
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Whether a process carries `tag` in its environment (a zombie has none).
pub fn has_tag(pid: u32, tag: &str) -> bool {
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    let want = format!("{TAG_VAR}={tag}");
    environ.split(|&b| b == 0).any(|v| v == want.as_bytes())
}

/// The live (not zombie) processes that carry `tag`.
pub fn tagged(tag: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| has_tag(pid, tag) && !matches!(state(pid), None | Some('Z' | 'X')))
        .collect()
}

/// The `vigil run` under test: started with a trace and a debug log, its
/// children tagged. Dropping it SIGKILLs vigil and every tagged process.
pub struct Vigil {
    pub child: Child,
    pub status: Option<ExitStatus>,
    pub tag: String,
    pub trace: PathBuf,
    pub log: PathBuf,
}

/// How [`Vigil::launch`] starts vigil: the defaults are the trace in the
/// scratch directory, no extra environment and the inherited descriptor limit.
#[derive(Default)]
pub struct Launch<'a> {
    /// Where the trace goes (`/dev/full` to fill the disk).
    pub trace: Option<&'a Path>,
    /// Extra environment variables for vigil.
    pub env: &'a [(&'a str, &'a str)],
    /// An open-files limit, soft and hard, set before vigil starts.
    pub nofile: Option<u64>,
    /// More arguments for `vigil run`, after `--trace FILE` (`--chaos 7`).
    pub args: &'a [&'a str],
}

impl Vigil {
    pub fn start(scratch: &Scratch, config: &Path) -> Self {
        Self::launch(scratch, config, &Launch::default())
    }

    /// Start `vigil run CONFIG --trace ...` as `how` says: its log and
    /// stdout in `scratch`, each run's default control socket in its own
    /// directory, every process tagged. Does not wait for the signal handlers.
    pub fn launch(scratch: &Scratch, config: &Path, how: &Launch<'_>) -> Self {
        let tag = unique("tag");
        let trace = how.trace.map_or_else(|| scratch.path("trace.jsonl"), Path::to_owned);
        let log = scratch.path("vigil.log");
        let mut cmd = match how.nofile {
            // `sh`'s `ulimit -n`, then `exec`: the pid is vigil's, and vigil
            // cannot raise the limit (soft and hard are both set).
            Some(nofile) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
                    .arg(env!("CARGO_BIN_EXE_vigil"));
                sh
            }
            None => Command::new(env!("CARGO_BIN_EXE_vigil")),
        };
        let child = cmd
            .arg("run")
            .arg(config)
            .arg("--trace")
            .arg(&trace)
            .args(how.args)
            .env("XDG_RUNTIME_DIR", scratch.path("xdg"))
            .env("VIGIL_LOG", "debug")
            .env(TAG_VAR, &tag)
            .env_remove("NOTIFY_SOCKET")
            // The caller's variables win over the defaults, VIGIL_LOG included.
            .envs(how.env.iter().copied())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(scratch.path("vigil.out")).expect("create the stdout file"))
            .stderr(std::fs::File::create(&log).expect("create the log file"))
            .spawn()
            .expect("the vigil binary starts");
        Vigil {
            child,
            status: None,
            tag,
            trace,
            log,
        }
    }

    /// Start, and wait until vigil handles SIGTERM, SIGINT and SIGHUP (before
    /// that, a signal would kill it with the default action).
    pub fn start_supervising(scratch: &Scratch, config: &Path) -> Self {
        let v = Self::start(scratch, config);
        v.wait_for_signal_handlers();
        v
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Poll `cond`; on timeout, fail with what vigil logged.
    pub fn wait_for(&self, what: &str, cond: impl FnMut() -> bool) {
        self.wait_for_within(SAFETY, what, cond);
    }

    /// [`Vigil::wait_for`] with a shorter safety net, for a test whose failure
    /// would otherwise only end with a long timeout of the config.
    pub fn wait_for_within(&self, limit: Duration, what: &str, cond: impl FnMut() -> bool) {
        if !poll_within(limit, cond) {
            panic!(
                "timed out ({limit:?}) waiting for {what}; vigil's log:\n{}",
                self.log_text()
            );
        }
    }

    pub fn wait_for_signal_handlers(&self) {
        // SIGHUP = 1, SIGINT = 2, SIGTERM = 15: bits 0, 1 and 14 of SigCgt.
        const WANTED: u64 = 1 | 1 << 1 | 1 << 14;
        let pid = self.pid();
        let caught = || {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| {
                    let line = s.lines().find(|l| l.starts_with("SigCgt:"))?;
                    u64::from_str_radix(line["SigCgt:".len()..].trim(), 16).ok()
                })
                .is_some_and(|mask| mask & WANTED == WANTED)
        };
        self.wait_for("vigil's signal handlers", caught);
    }

    pub fn signal(&self, signal: &str) {
        assert!(self.status.is_none(), "vigil already exited");
        send(signal, &[self.pid()]);
    }

    /// Wait for vigil to exit; its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        if let Some(s) = self.status {
            return s;
        }
        let child = &mut self.child;
        let mut status = None;
        let done = poll(|| {
            status = child.try_wait().expect("wait for vigil");
            status.is_some()
        });
        if !done {
            panic!("vigil did not exit; its log:\n{}", self.log_text());
        }
        self.status = status;
        status.expect("exited")
    }

    /// Wait for vigil to exit; its exit code (it must not die by a signal).
    pub fn wait_code(&mut self) -> i32 {
        let status = self.wait_exit();
        status
            .code()
            .unwrap_or_else(|| panic!("vigil died by a signal: {status:?}; log:\n{}", self.log_text()))
    }

    /// The whole trace; vigil must have exited.
    pub fn trace(&self) -> Trace {
        assert!(self.status.is_some(), "the trace is complete only once vigil exited");
        let text = std::fs::read_to_string(&self.trace).expect("the trace was written");
        Trace(text.lines().map(Line::parse).collect())
    }

    /// Wait until no process of this test (vigil's descendants included) is alive.
    pub fn wait_nothing_left(&self) {
        let tag = self.tag.clone();
        let me = self.pid();
        let mut left = Vec::new();
        let gone = poll(|| {
            left = tagged(&tag).into_iter().filter(|&p| p != me).collect();
            left.is_empty()
        });
        assert!(
            gone,
            "processes left behind: {left:?}; vigil's log:\n{}",
            self.log_text()
        );
    }

    /// Whether `pid` is a live process of this test.
    pub fn alive(&self, pid: u32) -> bool {
        has_tag(pid, &self.tag) && !matches!(state(pid), None | Some('Z' | 'X'))
    }

    pub fn wait_gone(&self, what: &str, pid: u32) {
        self.wait_for(&format!("{what} (pid {pid}) to end"), || !self.alive(pid));
    }

    /// Wait for a line of vigil's log that contains every one of `parts`.
    pub fn wait_log(&self, parts: &[&str]) {
        self.wait_for(&format!("a log line with {parts:?}"), || {
            self.log_text().lines().any(|l| parts.iter().all(|p| l.contains(p)))
        });
    }

    /// Wait until vigil has logged the exit of a run of the worker at `path`
    /// (`exited path=...`: normal exits at info level, the others at warn;
    /// older builds logged normal exits as a debug notice), that is, until the
    /// engine has handled it: whatever it decided (a restart or nothing) was
    /// decided in the same step.
    pub fn wait_exit_handled(&self, path: &str) {
        let debug = format!("path=\"{path}\" notice=Exited(");
        let warn = format!("exited path=\"{path}\"");
        self.wait_for(&format!("the exit of {path} in the log"), || {
            self.log_text().lines().any(|l| l.contains(&debug) || l.contains(&warn))
        });
    }
}

impl Drop for Vigil {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // Whatever is left: process groups, grandchildren, orphans.
        for _ in 0..50 {
            let left = tagged(&self.tag);
            if left.is_empty() {
                break;
            }
            send("KILL", &left);
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

// ---------------------------------------------------------------------------
// The trace

/// One trace line: the fields these tests read.
#[derive(Clone, Debug)]
pub struct Line {
    pub t: u64,
    pub ev: String,
    pub path: String,
    pub gen: Option<u64>,
    pub reason: String,
    pub child: String,
    pub op: String,
    pub raw: String,
}

impl Line {
    pub fn parse(raw: &str) -> Line {
        Line {
            t: number_field(raw, "t").unwrap_or_else(|| panic!("no `t` in {raw}")),
            ev: string_field(raw, "ev").unwrap_or_else(|| panic!("no `ev` in {raw}")),
            path: string_field(raw, "path").unwrap_or_default(),
            gen: number_field(raw, "gen"),
            reason: string_field(raw, "reason").unwrap_or_default(),
            child: string_field(raw, "child").unwrap_or_default(),
            op: string_field(raw, "op").unwrap_or_default(),
            raw: raw.to_owned(),
        }
    }

    pub fn is(&self, ev: &str, path: &str) -> bool {
        self.ev == ev && self.path == path
    }
}

/// The value of `"key":"..."` (the trace's keys are fixed and never repeat).
pub fn string_field(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let mut out = String::new();
    let mut chars = line[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    None
}

/// The value of `"key":123`.
pub fn number_field(line: &str, key: &str) -> Option<u64> {
    let start = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    let digits: String = line[start..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

pub struct Trace(pub Vec<Line>);

impl Trace {
    pub fn all(&self, ev: &str, path: &str) -> Vec<&Line> {
        self.0.iter().filter(|l| l.is(ev, path)).collect()
    }

    pub fn count(&self, ev: &str, path: &str) -> usize {
        self.all(ev, path).len()
    }

    /// The index of the first line matching `pred`.
    pub fn find(&self, pred: impl Fn(&Line) -> bool) -> Option<usize> {
        self.0.iter().position(pred)
    }

    pub fn first(&self, ev: &str, path: &str) -> usize {
        self.find(|l| l.is(ev, path))
            .unwrap_or_else(|| panic!("no `{ev}` of `{path}` in the trace:\n{self}"))
    }

    /// The index of the shutdown request (the first SIGTERM/SIGINT).
    pub fn shutdown_request(&self) -> usize {
        self.find(|l| l.ev == "request" && l.op == "shutdown")
            .unwrap_or_else(|| panic!("no shutdown request in the trace:\n{self}"))
    }

    /// The `(ev, path)` of every spawn, stop and kill, in order.
    pub fn commands(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter(|l| matches!(l.ev.as_str(), "spawn" | "stop" | "kill"))
            .map(|l| (l.ev.clone(), l.path.clone()))
            .collect()
    }
}

impl std::fmt::Display for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for l in &self.0 {
            writeln!(f, "{}", l.raw)?;
        }
        Ok(())
    }
}

/// A TOML string (basic string, escaped).
pub fn q(s: &str) -> String {
    format!("{s:?}")
}

/// A `command` running `script` with `sh -c`.
pub fn sh(script: &str) -> String {
    format!("[\"sh\", \"-c\", {}]", q(script))
}

// ---------------------------------------------------------------------------
// Limits and resources of vigil itself (hostile/descriptors.rs, control.rs)

impl Vigil {
    /// [`Vigil::start`] under an open-files limit of `nofile`, soft and hard
    /// (`sh`'s `ulimit -n`, then `exec`: the pid is vigil's, and vigil
    /// cannot raise the limit).
    pub fn start_with_nofile(scratch: &Scratch, config: &Path, nofile: u64) -> Self {
        let how = Launch {
            nofile: Some(nofile),
            ..Launch::default()
        };
        let v = Self::launch(scratch, config, &how);
        v.wait_for_signal_handlers();
        v
    }

    /// Descriptors vigil has open now.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// vigil's resident memory now (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// `vigil ctl --socket SOCKET ARGS...` against this vigil.
    pub fn ctl(&self, socket: &Path, args: &[&str]) -> std::process::Output {
        ctl(socket, args)
    }
}

// Variants of the `vigil run` under test (appended for the hostile suite)

impl Vigil {
    /// [`Vigil::start`] with the trace written to `trace` (`/dev/full` to
    /// fill the disk) and extra environment variables (they win over the
    /// defaults, `VIGIL_LOG=debug` included); waits for the signal handlers.
    pub fn start_with(scratch: &Scratch, config: &Path, trace: &Path, env: &[(&str, &str)]) -> Self {
        let how = Launch {
            trace: Some(trace),
            env,
            ..Launch::default()
        };
        let v = Self::launch(scratch, config, &how);
        v.wait_for_signal_handlers();
        v
    }

    /// The lines of vigil's log that contain every one of `parts`.
    pub fn log_lines(&self, parts: &[&str]) -> Vec<String> {
        self.log_text()
            .lines()
            .filter(|l| parts.iter().all(|p| l.contains(p)))
            .map(str::to_owned)
            .collect()
    }
}

/// `vigil ARGS...` with the control socket directory of `scratch` (as
/// [`Vigil::start`] gives it), for `vigil ctl` next to a running tree.
pub fn vigil_cmd(scratch: &Scratch, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
    cmd.args(args)
        .env("XDG_RUNTIME_DIR", scratch.path("xdg"))
        .env_remove("VIGIL_SOCKET")
        .stdin(Stdio::null());
    cmd
}

// ---------------------------------------------------------------------------
// One-shot commands (`vigil check`, `vigil sim`, `vigil ctl`)

/// Run `vigil ARGS...` to completion and return its output. It is killed
/// after [`SAFETY`] (a hang fails the test with what it printed so far).
pub fn vigil_output(args: &[&str]) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the vigil binary starts");
    // Read both pipes on threads, so a chatty command cannot block on a full pipe.
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut out, &mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut err, &mut buf);
        buf
    });
    let mut status = None;
    let done = poll(|| {
        status = child.try_wait().expect("wait for vigil");
        status.is_some()
    });
    if !done {
        let _ = child.kill();
        let _ = child.wait();
    }
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    assert!(
        done,
        "`vigil {}` did not finish within {SAFETY:?}; stdout:\n{}\nstderr:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    std::process::Output {
        status: status.expect("exited"),
        stdout,
        stderr,
    }
}

/// The exit code of a finished one-shot command (it must not die by a signal).
pub fn exit_code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or_else(|| {
        panic!(
            "vigil died by a signal: {:?}; stderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

// ---------------------------------------------------------------------------
// Processes in any state (zombies included), for the leftovers checks

/// One process, known by its pid and its start time (so a reused pid is
/// never taken for it). Unlike [`tagged`], this sees zombies: a zombie keeps
/// no environment, but keeps its pid and start time until it is reaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Proc {
    pub pid: u32,
    pub start: u64,
}

impl Proc {
    /// The process `pid` as it is now; `None` if there is none.
    pub fn of(pid: u32) -> Option<Proc> {
        Some(Proc {
            pid,
            start: stat_field(pid, 19)?.parse().ok()?,
        })
    }

    /// Its state letter (`Z` for a zombie), or `None` once it is fully gone
    /// (reaped), in every state.
    pub fn state(&self) -> Option<char> {
        (Proc::of(self.pid)? == *self).then(|| state(self.pid)).flatten()
    }

    /// Whether it still exists in any state, a zombie included.
    pub fn exists(&self) -> bool {
        self.state().is_some()
    }

    /// Its process group id.
    pub fn pgid(&self) -> Option<u32> {
        (Proc::of(self.pid)? == *self).then(|| stat_field(self.pid, 2)?.parse().ok())?
    }
}

/// Field `n` (0 = the state) after the command name of `/proc/<pid>/stat`.
fn stat_field(pid: u32, n: usize) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(n).map(str::to_owned)
}

/// Wait until none of `procs` exists in any state (not even as a zombie);
/// on timeout, fail with the ones left and their states.
pub fn wait_reaped(vigil: &Vigil, procs: &[Proc]) {
    let left = || -> Vec<(u32, char)> { procs.iter().filter_map(|p| p.state().map(|s| (p.pid, s))).collect() };
    vigil.wait_for("every process of the tree to be reaped", || left().is_empty());
}

impl Vigil {
    /// [`Vigil::start_supervising`] with extra environment variables for vigil.
    pub fn start_supervising_with_env(scratch: &Scratch, config: &Path, env: &[(&str, &str)]) -> Self {
        let how = Launch {
            env,
            ..Launch::default()
        };
        let v = Self::launch(scratch, config, &how);
        v.wait_for_signal_handlers();
        v
    }
}

/// A metric's value, asked with `{"op":"metrics"}` on an open control
/// connection (one the server admitted).
pub fn metric_on(conn: &std::os::unix::net::UnixStream, name: &str) -> u64 {
    use std::io::{BufRead, Write};
    let mut w = conn;
    w.write_all(b"{\"op\":\"metrics\"}\n").unwrap();
    let mut line = String::new();
    std::io::BufReader::new(conn).read_line(&mut line).unwrap();
    let answer: serde_json::Value = serde_json::from_str(&line).unwrap();
    let text = answer["result"].as_str().unwrap_or_else(|| panic!("{line}"));
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name}: {text}"))
        .parse()
        .unwrap()
}

/// Bytes of output as text (lossy).
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The exit code of a process that exited (not one killed by a signal).
pub fn code(o: &std::process::Output) -> i32 {
    o.status.code().expect("exited, not killed by a signal")
}

/// `vigil ctl --socket SOCKET ARGS`: what it printed and how it exited.
pub fn ctl(socket: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("ctl")
        .arg("--socket")
        .arg(socket)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("vigil ctl runs")
}

/// `vigil ctl --socket SOCKET ARGS`, which must succeed: its stdout. On a
/// failure the panic shows its output and `log()` (vigil's log).
pub fn ctl_ok(socket: &Path, args: &[&str], log: impl FnOnce() -> String) -> String {
    let out = ctl(socket, args);
    assert!(
        out.status.success(),
        "vigil ctl {args:?}: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        log()
    );
    String::from_utf8(out.stdout).expect("vigil ctl prints UTF-8")
}

/// `vigil ctl --socket SOCKET --json ARGS`, which must succeed: its
/// answer.
pub fn ctl_json(socket: &Path, args: &[&str], log: impl FnOnce() -> String) -> serde_json::Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ctl_ok(socket, &all, log)).expect("--json prints JSON")
}

/// `vigil run DIR/tree.toml ARGS` with its stderr in `DIR/vigil.log` and
/// `XDG_RUNTIME_DIR` in `DIR/xdg`: the `vigil run` of the suites that keep
/// one tree in a temporary directory (`lifecycle.rs`, `ops.rs`,
/// `replicas.rs`).
pub fn run_tree_in(dir: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("run")
        .arg(dir.join("tree.toml"))
        .args(args)
        .env("XDG_RUNTIME_DIR", dir.join("xdg"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("vigil.log")).expect("vigil's log file"))
        .spawn()
        .expect("vigil runs")
}

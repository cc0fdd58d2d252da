//! The process guard's protocol, driven by hand: this test binary is the
//! guard (see `common/guard_hook.rs`), started the way vigil starts it, and
//! the test plays vigil on the control socket. Real processes; timeouts are
//! only safety nets, never what a test asserts.

#![allow(dead_code)]

#[path = "../src/guard.rs"]
mod guard;
#[path = "common/guard_hook.rs"]
mod guard_hook;

use std::io::{BufRead, BufReader};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use guard::{Line, EXIT_EXEC_FAILED, EXIT_GUARD_FAILED, GUARD_ARG};

const SAFETY_NET: Duration = Duration::from_secs(20);

/// A guard for `sh -c script`, as vigil starts one; vigil's end of the
/// control socket, as lines.
fn start(script: &str) -> (Child, BufReader<UnixStream>) {
    let (ours, theirs) = UnixStream::pair().expect("socket pair");
    let child = Command::new(std::env::current_exe().expect("this test binary"))
        .arg0("vigil-guard")
        .args([GUARD_ARG, "sh", "-c", script])
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("the guard starts");
    (child, BufReader::new(ours))
}

fn read_line(control: &mut BufReader<UnixStream>) -> Option<Line> {
    control
        .get_ref()
        .set_read_timeout(Some(SAFETY_NET))
        .expect("read timeout");
    let mut text = String::new();
    match control.read_line(&mut text) {
        Ok(0) => None,
        Ok(_) => Some(Line::parse(text.trim_end_matches('\n')).unwrap_or_else(|| panic!("not a line: {text:?}"))),
        Err(e) => panic!("reading the control socket: {e}"),
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim_start().chars().next()))
        .flatten()
        .is_some_and(|state| state != 'Z' && state != 'X')
}

fn wait_gone(pid: u32) {
    let deadline = Instant::now() + SAFETY_NET;
    while alive(pid) {
        assert!(Instant::now() < deadline, "process {pid} is still alive");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn kill_group(child: &Child) {
    let _ = nix::sys::signal::killpg(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
}

#[test]
fn lines_line_up_with_what_the_program_does() {
    for line in [
        Line::Started(42),
        Line::ExecFailed(2),
        Line::Status(3 << 8),
        Line::Failed("x: y".into()),
    ] {
        assert_eq!(Line::parse(&line.to_string()), Some(line));
    }
    assert_eq!(Line::Failed("a\nb".into()).to_string(), "failed a b");
    for bad in ["", "started", "started x", "status", "what 1"] {
        assert_eq!(Line::parse(bad), None, "{bad:?}");
    }
}

#[test]
fn the_guard_reports_the_start_and_the_raw_status_then_waits_to_be_killed() {
    let (mut child, mut control) = start("exit 3");
    assert!(matches!(read_line(&mut control), Some(Line::Started(_))));
    assert_eq!(read_line(&mut control), Some(Line::Status(3 << 8)));
    // The guard stays, so the group is never left without a killer.
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "the guard exited by itself"
    );
    kill_group(&child);
    assert_eq!(child.wait().expect("wait").signal(), Some(libc::SIGKILL));
}

#[test]
fn a_signal_that_ends_the_program_is_in_its_status() {
    let (mut child, mut control) = start("kill -s SEGV $$");
    assert!(matches!(read_line(&mut control), Some(Line::Started(_))));
    let Some(Line::Status(raw)) = read_line(&mut control) else {
        panic!("no status");
    };
    assert_eq!(std::process::ExitStatus::from_raw(raw).signal(), Some(libc::SIGSEGV));
    kill_group(&child);
    let _ = child.wait();
}

#[test]
fn the_group_dies_when_the_control_socket_closes() {
    let marker = std::env::temp_dir().join(format!("vigil-guard-test-{}-gc", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    // The grandchild ignores SIGTERM: only the SIGKILL to the group ends it.
    let (mut child, mut control) = start(&format!(
        "trap '' TERM; sleep 1000 & echo $! > {m}.tmp; mv {m}.tmp {m}; wait",
        m = marker.display()
    ));
    let Some(Line::Started(program)) = read_line(&mut control) else {
        panic!("not started");
    };
    let deadline = Instant::now() + SAFETY_NET;
    while !marker.exists() {
        assert!(Instant::now() < deadline, "the grandchild never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    let grandchild: u32 = std::fs::read_to_string(&marker)
        .expect("marker")
        .trim()
        .parse()
        .expect("a pid");
    let _ = std::fs::remove_file(&marker);
    assert!(alive(program) && alive(grandchild));
    drop(control); // what vigil's death does
    assert_eq!(child.wait().expect("wait").signal(), Some(libc::SIGKILL));
    wait_gone(program);
    wait_gone(grandchild);
}

#[test]
fn an_exec_failure_is_reported_with_its_errno() {
    let (ours, theirs) = UnixStream::pair().expect("socket pair");
    let mut child = Command::new(std::env::current_exe().expect("this test binary"))
        .args([GUARD_ARG, "/nonexistent/vigil-no-such-program"])
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("the guard starts");
    let mut control = BufReader::new(ours);
    assert_eq!(read_line(&mut control), Some(Line::ExecFailed(libc::ENOENT)));
    assert_eq!(read_line(&mut control), None);
    let out = std::mem::take(&mut child.stderr).expect("stderr");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(EXIT_EXEC_FAILED));
    let mut message = String::new();
    BufReader::new(out).read_line(&mut message).expect("stderr");
    assert_eq!(
        message.trim_end(),
        "vigil-guard: cannot start `/nonexistent/vigil-no-such-program`: No such file or directory (os error 2)"
    );
}

/// Run a guard of `true` with `stdin`, in its own process group or not;
/// assert that it refused with [`EXIT_GUARD_FAILED`] and a message starting
/// with `message`.
fn assert_refused(stdin: Stdio, own_group: bool, message: &str) {
    let mut command = Command::new(std::env::current_exe().expect("this test binary"));
    command.args([GUARD_ARG, "true"]).stdin(stdin);
    if own_group {
        command.process_group(0);
    }
    let out = command.output().expect("the guard runs");
    assert_eq!(out.status.code(), Some(EXIT_GUARD_FAILED));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with(message), "{stderr}");
}

#[test]
fn a_guard_outside_its_own_process_group_refuses_to_start_anything() {
    // Its SIGKILL to its group would otherwise hit this test's own group.
    let (_ours, theirs) = UnixStream::pair().expect("socket pair");
    assert_refused(
        Stdio::from(OwnedFd::from(theirs)),
        false,
        "vigil-guard: not the leader of its own process group",
    );
}

#[test]
fn a_guard_without_a_control_socket_refuses_to_start_anything() {
    assert_refused(Stdio::null(), true, "vigil-guard: stdin is not a control socket");
}

#[test]
fn a_guard_whose_vigil_is_already_gone_kills_itself() {
    let (ours, theirs) = UnixStream::pair().expect("socket pair");
    drop(ours);
    let status = Command::new(std::env::current_exe().expect("this test binary"))
        .args([GUARD_ARG, "sleep", "1000"])
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .process_group(0)
        .status()
        .expect("the guard runs");
    assert_eq!(status.signal(), Some(libc::SIGKILL));
}

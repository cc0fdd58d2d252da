//! The process guard's protocol, driven by hand: this test binary is the
//! guard (see `common/guard_hook.rs`), started the way vigil starts it, and
//! the test plays vigil on the control socket. Real processes; timeouts are
//! only safety nets, never what a test asserts.

#![allow(dead_code)]

#[path = "../src/guard.rs"]
mod guard;
#[path = "common/guard_hook.rs"]
mod guard_hook;
#[path = "../src/guard_kill.rs"]
mod guard_kill;
#[path = "../src/guard_park.rs"]
mod guard_park;
#[path = "../src/guard_pool.rs"]
mod guard_pool;
#[path = "../src/own_children.rs"]
mod own_children;
#[path = "../src/spawn_attributes.rs"]
mod spawn_attributes;
#[path = "../src/spawn_setup.rs"]
mod spawn_setup;
#[path = "../src/spawner.rs"]
pub mod spawner;
#[path = "../src/spawner_buffer.rs"]
mod spawner_buffer;
#[path = "../src/spawner_process.rs"]
mod spawner_process;
#[path = "../src/spawner_protocol.rs"]
mod spawner_protocol;

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

/// Whether `pid` exists in any state, a zombie included (`start` is its
/// start time, so a reused pid is not taken for it).
fn exists(pid: u32, start: u64) -> bool {
    start_time(pid) == Some(start)
}

/// The start time of `pid` (field 22 of its stat), in clock ticks.
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().nth(19)?.parse().ok()
}

/// Wait until `pid` is gone in every state: not even a zombie is left.
fn wait_reaped(pid: u32, start: u64) {
    let deadline = Instant::now() + SAFETY_NET;
    while exists(pid, start) {
        assert!(
            Instant::now() < deadline,
            "process {pid} is still there (state {:?})",
            std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Start a guard whose program starts a grandchild that ignores SIGTERM
/// (only a SIGKILL ends it) and runs `then`; the program's and the
/// grandchild's pids and start times.
fn start_with_grandchild(name: &str, then: &str) -> (Child, BufReader<UnixStream>, [(u32, u64); 2]) {
    let marker = std::env::temp_dir().join(format!("vigil-guard-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let (child, mut control) = start(&format!(
        "trap '' TERM; sleep 1000 & echo $! > {m}.tmp; mv {m}.tmp {m}; {then}",
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
    let program = (program, start_time(program).expect("the program runs"));
    let grandchild = (grandchild, start_time(grandchild).expect("the grandchild runs"));
    (child, control, [program, grandchild])
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
fn the_guard_reports_the_start_and_the_raw_status_then_exits_by_itself() {
    let (mut child, mut control) = start("exit 3");
    assert!(matches!(read_line(&mut control), Some(Line::Started(_))));
    assert_eq!(read_line(&mut control), Some(Line::Status(3 << 8)));
    // Nothing is left of the run once the status is written: the guard
    // exits on its own, with nothing for vigil (or init) to kill.
    assert_eq!(read_line(&mut control), None);
    assert_eq!(child.wait().expect("wait").code(), Some(0));
}

#[test]
fn when_the_program_exits_its_leftover_descendants_are_killed_and_reaped_before_the_status() {
    let trigger = std::env::temp_dir().join(format!("vigil-guard-test-{}-trigger", std::process::id()));
    let _ = std::fs::remove_file(&trigger);
    let (mut child, mut control, pids) = start_with_grandchild(
        "left",
        &format!("while [ ! -e {t} ]; do sleep 0.01; done; exit 4", t = trigger.display()),
    );
    std::fs::write(&trigger, "").expect("the trigger");
    assert_eq!(read_line(&mut control), Some(Line::Status(4 << 8)));
    let _ = std::fs::remove_file(&trigger);
    // Written only once every descendant was reaped: none is left, in any
    // state (a zombie would be init's to reap, and init may never do it).
    for (pid, start) in pids {
        assert!(!exists(pid, start), "process {pid} outlived the status line");
    }
    assert_eq!(child.wait().expect("wait").code(), Some(0));
}

#[test]
fn a_signal_that_ends_the_program_is_in_its_status() {
    let (mut child, mut control) = start("kill -s SEGV $$");
    assert!(matches!(read_line(&mut control), Some(Line::Started(_))));
    let Some(Line::Status(raw)) = read_line(&mut control) else {
        panic!("no status");
    };
    assert_eq!(std::process::ExitStatus::from_raw(raw).signal(), Some(libc::SIGSEGV));
    assert_eq!(child.wait().expect("wait").code(), Some(0));
}

#[test]
fn the_group_dies_when_the_control_socket_closes() {
    let (mut child, control, pids) = start_with_grandchild("closed", "wait");
    drop(control); // what vigil's death does
                   // The guard kills and reaps every descendant, then exits: nothing of
                   // the run is left, not even a zombie.
    assert_eq!(child.wait().expect("wait").code(), Some(0));
    for (pid, start) in pids {
        assert!(!exists(pid, start), "process {pid} outlived its guard");
    }
}

#[test]
fn a_kill_is_a_shut_down_control_socket_and_ends_with_a_sigkill_status_and_no_zombie() {
    let (mut child, mut control, pids) = start_with_grandchild("kill", "wait");
    // vigil's Kill: it stops sending (it never sends anything) but keeps reading.
    control.get_ref().shutdown(std::net::Shutdown::Write).expect("shutdown");
    let Some(Line::Status(raw)) = read_line(&mut control) else {
        panic!("no status after the kill");
    };
    assert_eq!(std::process::ExitStatus::from_raw(raw).signal(), Some(libc::SIGKILL));
    for (pid, start) in pids {
        assert!(!exists(pid, start), "process {pid} outlived the status line");
    }
    assert_eq!(child.wait().expect("wait").code(), Some(0));
    for (pid, start) in pids {
        wait_reaped(pid, start);
    }
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

//! sd_notify for process children: real children talking to their
//! `NOTIFY_SOCKET` with python, libsystemd's `sd_notify` and `systemd-notify`.
//! Timeouts are only safety nets against a hang.
//!
//! The runner is crate-private, so its modules are compiled into this test
//! crate directly (they only refer to each other through `crate::`).

#![allow(dead_code)]

#[path = "../src/cgroup.rs"]
mod cgroup;
#[path = "../src/driver_queue.rs"]
mod driver_queue;
#[path = "../src/environment_file.rs"]
mod environment_file;
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
#[path = "common/guarded_spawn.rs"]
mod guarded_spawn;
#[path = "../src/identity.rs"]
mod identity;
#[path = "../src/lifecycle.rs"]
mod lifecycle;
#[path = "../src/log_file.rs"]
mod log_file;
#[path = "../src/notify.rs"]
mod notify;
#[path = "../src/output.rs"]
mod output;
#[path = "../src/own_children.rs"]
mod own_children;
#[path = "../src/probe.rs"]
mod probe;
#[path = "../src/probe_exec.rs"]
mod probe_exec;
#[path = "../src/probe_http.rs"]
mod probe_http;
#[path = "../src/process.rs"]
mod process;
#[path = "../src/recent_output.rs"]
mod recent_output;
#[path = "../src/report.rs"]
mod report;
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

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use vigil_core::{ExitReason, NodeId, Readiness, RunId};

use driver_queue::{driver_queue, DriverReceiver};
use guarded_spawn::spawn_process;
use notify::{parse, Notification, NotifySocket};
use output::OutputMode;
use process::ProcessSpec;
use report::RunnerReport;

const SAFETY_NET: Duration = Duration::from_secs(20);

/// A shell function sending its first argument as one datagram, with python's
/// plain sockets (the protocol as written, no library).
const NOTIFY: &str = r#"notify() { python3 -c 'import os, socket, sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(sys.argv[1].encode(), os.environ["NOTIFY_SOCKET"])' "$1"; }"#;

fn run(generation: u64) -> RunId {
    RunId {
        node: NodeId::from_index(2),
        generation,
    }
}

fn spec(script: &str) -> ProcessSpec {
    let mut spec = ProcessSpec::new(["sh", "-c", &format!("{NOTIFY}\n{script}")]);
    spec.output = OutputMode::Null;
    spec
}

/// The readiness of a worker that speaks sd_notify (`notify`) or not.
fn readiness(notify: bool) -> Readiness {
    if notify {
        Readiness::Notify
    } else {
        Readiness::Immediate
    }
}

/// Every report of a run, up to and including its `Exited`.
async fn reports_until_exit(reports: &mut DriverReceiver<(RunId, RunnerReport)>, run: RunId) -> Vec<RunnerReport> {
    let mut all = Vec::new();
    loop {
        let (got, report) = tokio::time::timeout(SAFETY_NET, reports.recv())
            .await
            .expect("no report within the safety net")
            .expect("the report channel closed");
        assert_eq!(got, run);
        let exited = matches!(report, RunnerReport::Exited(_));
        all.push(report);
        if exited {
            return all;
        }
    }
}

async fn next(reports: &mut DriverReceiver<(RunId, RunnerReport)>, run: RunId) -> RunnerReport {
    let (got, report) = tokio::time::timeout(SAFETY_NET, reports.recv())
        .await
        .expect("no report within the safety net")
        .expect("the report channel closed");
    assert_eq!(got, run);
    report
}

#[tokio::test]
async fn ready_and_watchdog_become_ready_and_heartbeat() {
    let (tx, mut rx) = driver_queue();
    spawn_process(
        &spec("notify READY=1; notify WATCHDOG=1; notify WATCHDOG=1"),
        readiness(true),
        run(1),
        "w",
        tx,
    )
    .expect("spawned");
    assert_eq!(
        reports_until_exit(&mut rx, run(1)).await,
        [
            RunnerReport::Started,
            RunnerReport::Ready,
            RunnerReport::Heartbeat,
            RunnerReport::Heartbeat,
            RunnerReport::Exited(ExitReason::Normal)
        ]
    );
}

#[tokio::test]
async fn one_datagram_may_carry_several_assignments_in_order() {
    let (tx, mut rx) = driver_queue();
    let script =
        r#"notify "$(printf 'MAINPID=1\nREADY=1\nSTATUS=serving 3 clients\nSTOPPING=1\nWATCHDOG=1\nBARRIER=1')""#;
    spawn_process(&spec(script), readiness(true), run(2), "w", tx).expect("spawned");
    assert_eq!(
        reports_until_exit(&mut rx, run(2)).await,
        [
            RunnerReport::Started,
            RunnerReport::Ready,
            RunnerReport::Status("serving 3 clients".into()),
            RunnerReport::Heartbeat,
            RunnerReport::Exited(ExitReason::Normal)
        ]
    );
}

#[tokio::test]
async fn libsystemd_sd_notify_works_unchanged() {
    let (tx, mut rx) = driver_queue();
    let script = r#"python3 -c 'import ctypes; ctypes.CDLL("libsystemd.so.0").sd_notify(0, b"READY=1\nSTATUS=up")'"#;
    if std::process::Command::new("python3")
        .args(["-c", "import ctypes; ctypes.CDLL('libsystemd.so.0')"])
        .status()
        .map_or(true, |s| !s.success())
    {
        eprintln!("skipped: libsystemd.so.0 is not on this machine");
        return;
    }
    spawn_process(&spec(script), readiness(true), run(3), "w", tx).expect("spawned");
    assert_eq!(
        reports_until_exit(&mut rx, run(3)).await,
        [
            RunnerReport::Started,
            RunnerReport::Ready,
            RunnerReport::Status("up".into()),
            RunnerReport::Exited(ExitReason::Normal)
        ]
    );
}

#[tokio::test]
async fn systemd_notify_binary_works_unchanged() {
    if !Path::new("/usr/bin/systemd-notify").exists() && !Path::new("/bin/systemd-notify").exists() {
        eprintln!("skipped: systemd-notify is not on this machine");
        return;
    }
    let (tx, mut rx) = driver_queue();
    // Its exit status is the shell's: it fails if the message is refused or
    // its barrier (when it uses one) is never released.
    spawn_process(
        &spec("systemd-notify --ready '--status=warming up'"),
        readiness(true),
        run(4),
        "w",
        tx,
    )
    .expect("spawned");
    let reports = reports_until_exit(&mut rx, run(4)).await;
    assert_eq!(reports.first(), Some(&RunnerReport::Started));
    assert!(reports.contains(&RunnerReport::Ready), "{reports:?}");
    assert!(
        reports.contains(&RunnerReport::Status("warming up".into())),
        "{reports:?}"
    );
    assert_eq!(
        reports.last(),
        Some(&RunnerReport::Exited(ExitReason::Normal)),
        "{reports:?}"
    );
}

/// The child sends READY=1 and exits before the runtime ever looks at the
/// socket: the datagram is still reported, before the exit.
#[tokio::test]
async fn ready_sent_by_a_child_that_already_exited_is_reported_before_exited() {
    let (tx, mut rx) = driver_queue();
    let marker = std::env::temp_dir().join(format!("vigil-notify-test-{}-exited", std::process::id()));
    let _ = std::fs::remove_file(&marker);
    let script = format!("notify READY=1; echo $$ > {0}.tmp; mv {0}.tmp {0}", marker.display());
    spawn_process(&spec(&script), readiness(true), run(11), "w", tx).expect("spawned");
    // Block this (only) runtime thread until the program has exited and its
    // guard (forked by the spawner, which got the request at once) has
    // reaped it: the reactor has not run since the socket was bound.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let reaped = |pid: String| !std::path::Path::new(&format!("/proc/{}", pid.trim())).exists();
    while !std::fs::read_to_string(&marker).is_ok_and(reaped) {
        assert!(std::time::Instant::now() < deadline, "the program never ended");
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = std::fs::remove_file(&marker);
    assert_eq!(
        reports_until_exit(&mut rx, run(11)).await,
        [
            RunnerReport::Started,
            RunnerReport::Ready,
            RunnerReport::Exited(ExitReason::Normal)
        ]
    );
}

/// Datagrams already queued when the run ends are reported even if the
/// reactor never saw the socket become readable (here it never ran at all).
#[tokio::test]
async fn datagrams_queued_when_the_run_ends_are_all_reported() {
    let (tx, mut rx) = driver_queue();
    let socket = NotifySocket::bind(run(12), "w".into(), tx, true, None).expect("bind");
    let client = std::os::unix::net::UnixDatagram::unbound().expect("client");
    client.send_to(b"READY=1", socket.path()).expect("send");
    client.send_to(b"STATUS=bye", socket.path()).expect("send");
    let output = socket.serve_until(std::future::ready(7)).await;
    assert_eq!(output, 7);
    let mut reports = Vec::new();
    while let Some((_, report)) = rx.try_recv() {
        reports.push(report);
    }
    assert_eq!(reports, [RunnerReport::Ready, RunnerReport::Status("bye".into())]);
    let path = socket.path().to_owned();
    drop(socket);
    assert!(!path.exists(), "the socket file is removed with the socket");
}

#[tokio::test]
async fn notify_socket_is_unset_when_notify_is_off() {
    let (tx, mut rx) = driver_queue();
    spawn_process(
        &spec(r#"test -z "${NOTIFY_SOCKET+set}""#),
        readiness(false),
        run(5),
        "w",
        tx,
    )
    .expect("spawned");
    assert_eq!(
        reports_until_exit(&mut rx, run(5)).await,
        [RunnerReport::Started, RunnerReport::Exited(ExitReason::Normal)]
    );
}

#[tokio::test]
async fn notify_socket_is_private_and_removed_when_the_run_ends() {
    let (tx, mut rx) = driver_queue();
    let script = r#"notify "STATUS=$NOTIFY_SOCKET"; while :; do sleep 1; done"#;
    let handle = spawn_process(&spec(script), readiness(true), run(6), "w", tx).expect("spawned");
    assert_eq!(next(&mut rx, run(6)).await, RunnerReport::Started);
    let RunnerReport::Status(socket) = next(&mut rx, run(6)).await else {
        panic!("expected the socket path");
    };
    let socket = PathBuf::from(socket);
    assert!(socket.is_absolute(), "{socket:?}");
    let metadata = std::fs::symlink_metadata(&socket).expect("the socket exists while the run does");
    assert!(metadata.file_type().is_socket());
    let dir = socket.parent().expect("a directory");
    let dir_metadata = std::fs::symlink_metadata(dir).expect("directory");
    assert!(dir_metadata.is_dir());
    assert_eq!(dir_metadata.permissions().mode() & 0o777, 0o700, "{dir:?}");
    handle.kill();
    assert_eq!(next(&mut rx, run(6)).await, RunnerReport::Exited(ExitReason::Killed));
    assert!(!socket.exists(), "{socket:?} was not removed");
}

#[tokio::test]
async fn each_run_gets_its_own_socket() {
    let (tx, mut rx) = driver_queue();
    let script = r#"notify "STATUS=$NOTIFY_SOCKET"; notify READY=1"#;
    spawn_process(&spec(script), readiness(true), run(7), "w", tx.clone()).expect("spawned");
    spawn_process(&spec(script), readiness(true), run(8), "w", tx).expect("spawned");
    let mut sockets = Vec::new();
    let mut ready = Vec::new();
    let mut exited = 0;
    while exited < 2 {
        let (run, report) = tokio::time::timeout(SAFETY_NET, rx.recv())
            .await
            .expect("safety net")
            .expect("open");
        match report {
            RunnerReport::Status(socket) => sockets.push((run.generation, socket)),
            RunnerReport::Ready => ready.push(run.generation),
            RunnerReport::Exited(reason) => {
                assert_eq!(reason, ExitReason::Normal);
                assert!(
                    ready.contains(&run.generation),
                    "Ready of {run:?} came before its Exited"
                );
                exited += 1;
            }
            RunnerReport::Started => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(sockets.len(), 2);
    assert_ne!(sockets[0].1, sockets[1].1);
}

/// vigil itself may run under systemd, with a `NOTIFY_SOCKET` of its own:
/// children must not inherit it. Setting the variable in this (multi-threaded)
/// test process would race with the other tests, so the check runs in a copy
/// of this test binary started with the variable set.
#[test]
fn vigils_own_notify_socket_is_not_passed_on() {
    const INNER: &str = "VIGIL_NOTIFY_TEST_INNER";
    if std::env::var_os(INNER).is_none() {
        let inner = std::process::Command::new(std::env::current_exe().expect("test binary"))
            .args([
                "vigils_own_notify_socket_is_not_passed_on",
                "--exact",
                "--test-threads=1",
            ])
            .env(INNER, "1")
            .env("NOTIFY_SOCKET", "/run/systemd/notify-of-vigil")
            .output()
            .expect("run the inner test");
        assert!(
            inner.status.success(),
            "inner test failed:\n{}{}",
            String::from_utf8_lossy(&inner.stdout),
            String::from_utf8_lossy(&inner.stderr)
        );
        return;
    }
    assert_eq!(
        std::env::var("NOTIFY_SOCKET").as_deref(),
        Ok("/run/systemd/notify-of-vigil")
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        for (generation, notify, script) in [
            (9, false, r#"test -z "${NOTIFY_SOCKET+set}""#),
            (
                10,
                true,
                r#"test -n "$NOTIFY_SOCKET" && test "$NOTIFY_SOCKET" != /run/systemd/notify-of-vigil"#,
            ),
        ] {
            let (tx, mut rx) = driver_queue();
            spawn_process(&spec(script), readiness(notify), run(generation), "w", tx).expect("spawned");
            assert_eq!(
                reports_until_exit(&mut rx, run(generation)).await,
                [RunnerReport::Started, RunnerReport::Exited(ExitReason::Normal)],
                "notify = {notify}"
            );
        }
    });
}

#[test]
fn parse_reads_the_assignments_vigil_acts_on() {
    assert_eq!(parse(b"READY=1"), [Notification::Ready]);
    assert_eq!(parse(b"WATCHDOG=1\n"), [Notification::Watchdog]);
    assert_eq!(
        parse(b"STATUS=a=b c\nSTOPPING=1\nSTATUS="),
        [
            Notification::Status("a=b c".into()),
            Notification::Stopping,
            Notification::Status(String::new())
        ]
    );
    // Other values, unknown keys and garbage are ignored.
    assert!(parse(b"READY=0\nWATCHDOG=trigger\nRELOADING=1\nMAINPID=42\nnonsense\n\n").is_empty());
    assert_eq!(parse(b"STATUS=\xff ok"), [Notification::Status("\u{fffd} ok".into())]);
}

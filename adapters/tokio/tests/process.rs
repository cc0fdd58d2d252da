//! OS process children: exit reasons, stop and kill of the process group,
//! grandchildren, output forwarding. Real processes; timeouts are only safety
//! nets against a hang, never what a test asserts.
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

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::killpg;
use nix::unistd::Pid;
use vigil_core::{ExitReason, NodeId, Readiness, RunId};

use driver_queue::{driver_queue, DriverReceiver};
use guarded_spawn::spawn_process;
use output::{OutputMode, MAX_LINE};
use process::{exit_reason, spawn_process as spawn_with, Launch, ProcessSpec};
use report::RunnerReport;

const SAFETY_NET: Duration = Duration::from_secs(20);

/// A shell snippet that sends its first argument as one sd_notify datagram.
const NOTIFY: &str = r#"notify() { python3 -c 'import os, socket, sys; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(sys.argv[1].encode(), os.environ["NOTIFY_SOCKET"])' "$1"; }"#;

fn run(generation: u64) -> RunId {
    RunId {
        node: NodeId::from_index(1),
        generation,
    }
}

fn sh(script: &str) -> ProcessSpec {
    let mut spec = ProcessSpec::new(["sh", "-c", script]);
    spec.output = OutputMode::Null;
    spec
}

/// `sh -c` with the `notify` shell function (run it with `Readiness::Notify`).
fn notifying_sh(script: &str) -> ProcessSpec {
    sh(&format!("{NOTIFY}\n{script}"))
}

async fn next(reports: &mut DriverReceiver<(RunId, RunnerReport)>, expected_run: RunId) -> RunnerReport {
    let (got_run, report) = tokio::time::timeout(SAFETY_NET, reports.recv())
        .await
        .expect("no report within the safety net")
        .expect("the report channel closed");
    assert_eq!(got_run, expected_run);
    report
}

/// Processes of group `pgid` that are still alive (zombies, which only wait
/// for their new parent to reap them, do not count).
fn live_members(pgid: u32) -> Vec<u32> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc") {
        let Ok(pid) = entry.expect("entry").file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue; // gone meanwhile
        };
        // pid (comm) state ppid pgrp ...; comm may contain spaces and ')'.
        let after_comm = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = after_comm.split(' ').collect();
        let (state, group) = (fields[0], fields[2]);
        if group == pgid.to_string() && state != "Z" && state != "X" {
            members.push(pid);
        }
    }
    members
}

/// Wait until no live process is left in group `pgid`: SIGKILL has been sent
/// when `Exited` arrives, but dying takes the kernel a moment.
async fn assert_group_dies(pgid: u32) {
    let deadline = tokio::time::Instant::now() + SAFETY_NET;
    loop {
        let members = live_members(pgid);
        if members.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "group {pgid} still has live members {members:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vigil-process-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test]
async fn nonzero_exit_code_is_reported_as_error_after_started() {
    let (tx, mut rx) = driver_queue();
    spawn_process(&sh("exit 3"), Readiness::Immediate, run(1), "w", tx).expect("spawned");
    assert_eq!(next(&mut rx, run(1)).await, RunnerReport::Started);
    assert_eq!(
        next(&mut rx, run(1)).await,
        RunnerReport::Exited(ExitReason::Error("exit code 3".into()))
    );
    assert!(rx.recv().await.is_none(), "exactly one Exited, then nothing");
}

#[tokio::test]
async fn exit_code_zero_is_normal() {
    let (tx, mut rx) = driver_queue();
    let mut spec = ProcessSpec::new(["true"]);
    spec.output = OutputMode::Null;
    spawn_process(&spec, Readiness::Immediate, run(2), "w", tx).expect("spawned");
    assert_eq!(next(&mut rx, run(2)).await, RunnerReport::Started);
    assert_eq!(next(&mut rx, run(2)).await, RunnerReport::Exited(ExitReason::Normal));
}

#[tokio::test]
async fn stop_ends_a_sleeping_child_with_shutdown() {
    let (tx, mut rx) = driver_queue();
    let handle = spawn_process(&sh("sleep 100"), Readiness::Immediate, run(3), "w", tx).expect("spawned");
    assert_eq!(next(&mut rx, run(3)).await, RunnerReport::Started);
    handle.stop();
    assert_eq!(
        next(&mut rx, run(3)).await,
        RunnerReport::Exited(ExitReason::Shutdown(String::new()))
    );
    // Idempotent and harmless once the group is gone.
    handle.stop();
    handle.kill();
}

#[tokio::test]
async fn child_ignoring_sigterm_survives_stop_and_dies_on_kill() {
    let (tx, mut rx) = driver_queue();
    // TERM is ignored by the shell and, inherited, by everything it starts;
    // Ready says the trap is in place.
    let spec = notifying_sh("trap '' TERM; notify READY=1; while :; do sleep 1; done");
    let handle = spawn_process(&spec, Readiness::Notify, run(4), "w", tx).expect("spawned");
    assert_eq!(next(&mut rx, run(4)).await, RunnerReport::Started);
    assert_eq!(next(&mut rx, run(4)).await, RunnerReport::Ready);
    handle.stop();
    handle.stop();
    handle.kill();
    // Had SIGTERM ended it, the reason would be Shutdown.
    assert_eq!(next(&mut rx, run(4)).await, RunnerReport::Exited(ExitReason::Killed));
    assert_group_dies(handle.pid()).await;
}

#[tokio::test]
async fn child_handling_sigterm_keeps_running_after_stop() {
    let (tx, mut rx) = driver_queue();
    // The handler runs once the foreground `sleep` (killed by the same
    // SIGTERM to the group) has ended, and proves the shell is still there.
    let spec = notifying_sh("trap 'notify STATUS=still-here' TERM; notify READY=1; while :; do sleep 1; done");
    let handle = spawn_process(&spec, Readiness::Notify, run(5), "w", tx).expect("spawned");
    assert_eq!(next(&mut rx, run(5)).await, RunnerReport::Started);
    assert_eq!(next(&mut rx, run(5)).await, RunnerReport::Ready);
    handle.stop();
    assert_eq!(next(&mut rx, run(5)).await, RunnerReport::Status("still-here".into()));
    handle.kill();
    assert_eq!(next(&mut rx, run(5)).await, RunnerReport::Exited(ExitReason::Killed));
}

#[tokio::test]
async fn kill_takes_the_grandchildren_with_the_group() {
    let (tx, mut rx) = driver_queue();
    let spec = notifying_sh("sleep 100 & sleep 100 & notify READY=1; wait");
    let handle = spawn_process(&spec, Readiness::Notify, run(6), "w", tx).expect("spawned");
    assert_eq!(next(&mut rx, run(6)).await, RunnerReport::Started);
    assert_eq!(next(&mut rx, run(6)).await, RunnerReport::Ready);
    let pgid = handle.pid();
    // The shell and both background children are in the run's own group.
    assert!(live_members(pgid).len() >= 3, "members: {:?}", live_members(pgid));
    assert_ne!(
        nix::unistd::getpgrp().as_raw() as u32,
        pgid,
        "the child has a group of its own"
    );
    handle.kill();
    assert_eq!(next(&mut rx, run(6)).await, RunnerReport::Exited(ExitReason::Killed));
    assert_group_dies(pgid).await;
}

#[tokio::test]
async fn background_grandchild_is_killed_when_the_leader_exits_by_itself() {
    let (tx, mut rx) = driver_queue();
    let spec = notifying_sh("sleep 100 & notify STATUS=$!; exit 0");
    let handle = spawn_process(&spec, Readiness::Notify, run(7), "w", tx).expect("spawned");
    assert_eq!(next(&mut rx, run(7)).await, RunnerReport::Started);
    let RunnerReport::Status(grandchild) = next(&mut rx, run(7)).await else {
        panic!("expected the grandchild's pid");
    };
    let grandchild: u32 = grandchild.parse().expect("a pid");
    assert_eq!(next(&mut rx, run(7)).await, RunnerReport::Exited(ExitReason::Normal));
    assert_group_dies(handle.pid()).await;
    assert!(!live_members(handle.pid()).contains(&grandchild));
    // The group is finished: signalling it now must not touch anything.
    handle.stop();
    handle.kill();
}

#[tokio::test]
async fn group_is_gone_after_kill() {
    let (tx, mut rx) = driver_queue();
    let spec = notifying_sh("sleep 100 & notify READY=1; wait");
    let handle = spawn_process(&spec, Readiness::Notify, run(8), "w", tx).expect("spawned");
    assert_eq!(next(&mut rx, run(8)).await, RunnerReport::Started);
    assert_eq!(next(&mut rx, run(8)).await, RunnerReport::Ready);
    handle.kill();
    assert_eq!(next(&mut rx, run(8)).await, RunnerReport::Exited(ExitReason::Killed));
    let pgid = Pid::from_raw(handle.pid() as i32);
    // Dead members linger until their new parent (init) reaps them; after
    // that the group is empty.
    let deadline = tokio::time::Instant::now() + SAFETY_NET;
    while killpg(pgid, None) != Err(Errno::ESRCH) {
        assert!(tokio::time::Instant::now() < deadline, "group {pgid} still exists");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn missing_program_is_a_failed_start_with_the_reason() {
    for (program, run) in [
        ("/nonexistent/vigil-no-such-program", run(9)),
        ("vigil-no-such-program-in-path", run(29)),
    ] {
        let (tx, mut rx) = driver_queue();
        let handle =
            spawn_process(&ProcessSpec::new([program]), Readiness::Immediate, run, "w", tx).expect("the guard starts");
        assert_eq!(
            next(&mut rx, run).await,
            RunnerReport::StartFailed(format!(
                "cannot start `{program}`: No such file or directory (os error 2)"
            ))
        );
        assert!(
            rx.recv().await.is_none(),
            "no Started nor Exited for a run that never started"
        );
        assert_group_dies(handle.pid()).await;
    }
}

#[tokio::test]
async fn missing_program_without_the_guard_is_a_spawn_error() {
    let (tx, mut rx) = driver_queue();
    let spec = ProcessSpec::new(["/nonexistent/vigil-no-such-program"]);
    let error = spawn_with(
        &spec,
        Readiness::Immediate,
        run(9),
        "w",
        tx,
        Launch::Direct,
        &Default::default(),
    )
    .expect_err("must fail");
    assert_eq!(
        error,
        "cannot start `/nonexistent/vigil-no-such-program`: No such file or directory (os error 2)"
    );
    assert!(rx.recv().await.is_none(), "no report for a run that never started");
}

#[tokio::test]
async fn without_the_guard_exit_stop_and_kill_work_the_same() {
    let (tx, mut rx) = driver_queue();
    spawn_with(
        &sh("exit 3"),
        Readiness::Immediate,
        run(30),
        "w",
        tx.clone(),
        Launch::Direct,
        &Default::default(),
    )
    .expect("spawned");
    assert_eq!(next(&mut rx, run(30)).await, RunnerReport::Started);
    assert_eq!(
        next(&mut rx, run(30)).await,
        RunnerReport::Exited(ExitReason::Error("exit code 3".into()))
    );
    let handle = spawn_with(
        &sh("sleep 100"),
        Readiness::Immediate,
        run(31),
        "w",
        tx.clone(),
        Launch::Direct,
        &Default::default(),
    )
    .expect("spawned");
    assert_eq!(next(&mut rx, run(31)).await, RunnerReport::Started);
    handle.stop();
    assert_eq!(
        next(&mut rx, run(31)).await,
        RunnerReport::Exited(ExitReason::Shutdown(String::new()))
    );
    let spec = notifying_sh("sleep 100 & notify READY=1; wait");
    let handle = spawn_with(
        &spec,
        Readiness::Notify,
        run(32),
        "w",
        tx,
        Launch::Direct,
        &Default::default(),
    )
    .expect("spawned");
    assert_eq!(next(&mut rx, run(32)).await, RunnerReport::Started);
    assert_eq!(next(&mut rx, run(32)).await, RunnerReport::Ready);
    handle.kill();
    assert_eq!(next(&mut rx, run(32)).await, RunnerReport::Exited(ExitReason::Killed));
    assert_group_dies(handle.pid()).await;
}

#[tokio::test]
async fn the_program_runs_with_no_signal_blocked_although_its_guard_blocks_them_all() {
    let (tx, mut rx) = driver_queue();
    let spec = notifying_sh("notify STATUS=$(grep SigBlk /proc/self/status | tr -d '[:space:]')");
    spawn_process(&spec, Readiness::Notify, run(33), "w", tx).expect("spawned");
    assert_eq!(next(&mut rx, run(33)).await, RunnerReport::Started);
    assert_eq!(
        next(&mut rx, run(33)).await,
        RunnerReport::Status("SigBlk:0000000000000000".into())
    );
    assert_eq!(next(&mut rx, run(33)).await, RunnerReport::Exited(ExitReason::Normal));
}

#[tokio::test]
async fn empty_command_is_an_error() {
    let (tx, _rx) = driver_queue();
    let error = spawn_process(
        &ProcessSpec::new(Vec::<String>::new()),
        Readiness::Immediate,
        run(10),
        "w",
        tx,
    )
    .expect_err("must fail");
    assert_eq!(error, "empty command");
}

#[tokio::test]
async fn environment_carries_path_generation_and_spec_variables() {
    let (tx, mut rx) = driver_queue();
    let mut spec = sh(
        r#"test "$VIGIL_PATH" = web/w1 && test "$VIGIL_GENERATION" = 11 && test "$EXTRA" = yes && test "$(pwd)" = /"#,
    );
    spec.env.insert("EXTRA".into(), "yes".into());
    spec.cwd = Some(PathBuf::from("/"));
    spawn_process(&spec, Readiness::Immediate, run(11), "web/w1", tx).expect("spawned");
    assert_eq!(next(&mut rx, run(11)).await, RunnerReport::Started);
    assert_eq!(next(&mut rx, run(11)).await, RunnerReport::Exited(ExitReason::Normal));
}

#[tokio::test]
async fn file_output_appends_lines_to_per_path_logs() {
    let dir = scratch_dir("files");
    let (tx, mut rx) = driver_queue();
    let mut spec = sh("echo out-$VIGIL_GENERATION; echo err-$VIGIL_GENERATION >&2; echo second");
    spec.output = OutputMode::Files { dir: dir.clone() };
    for generation in [12, 13] {
        spawn_process(&spec, Readiness::Immediate, run(generation), "web/w1", tx.clone()).expect("spawned");
        assert_eq!(next(&mut rx, run(generation)).await, RunnerReport::Started);
        assert_eq!(
            next(&mut rx, run(generation)).await,
            RunnerReport::Exited(ExitReason::Normal)
        );
    }
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect(name);
    assert_eq!(read("web__w1.out.log"), "out-12\nsecond\nout-13\nsecond\n");
    assert_eq!(read("web__w1.err.log"), "err-12\nerr-13\n");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[tokio::test]
async fn unwritable_output_directory_is_a_spawn_error() {
    let (tx, _rx) = driver_queue();
    let mut spec = ProcessSpec::new(["true"]);
    spec.output = OutputMode::Files {
        dir: PathBuf::from("/proc/vigil-cannot-create-this"),
    };
    assert!(spawn_process(&spec, Readiness::Immediate, run(14), "w", tx).is_err());
}

#[tokio::test]
async fn tracing_output_drains_a_chatty_child() {
    let (tx, mut rx) = driver_queue();
    // Far more than a pipe holds, on both streams: the child would block
    // forever if nobody read them.
    let mut spec = sh("i=0; while [ $i -lt 2000 ]; do echo 'line of stdout output to fill the pipe'; echo 'and stderr too' >&2; i=$((i+1)); done");
    spec.output = OutputMode::Tracing;
    spawn_process(&spec, Readiness::Immediate, run(15), "w", tx).expect("spawned");
    assert_eq!(next(&mut rx, run(15)).await, RunnerReport::Started);
    assert_eq!(next(&mut rx, run(15)).await, RunnerReport::Exited(ExitReason::Normal));
}

#[tokio::test]
async fn inherit_mode_runs() {
    let (tx, mut rx) = driver_queue();
    let mut spec = ProcessSpec::new(["true"]);
    spec.output = OutputMode::Inherit;
    spawn_process(&spec, Readiness::Immediate, run(16), "w", tx).expect("spawned");
    assert_eq!(next(&mut rx, run(16)).await, RunnerReport::Started);
    assert_eq!(next(&mut rx, run(16)).await, RunnerReport::Exited(ExitReason::Normal));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_runs_each_report_once() {
    let (tx, mut rx) = driver_queue();
    for generation in 100..140 {
        let spec = sh(if generation % 2 == 0 { "exit 0" } else { "exit 1" });
        spawn_process(&spec, Readiness::Immediate, run(generation), "w", tx.clone()).expect("spawned");
    }
    drop(tx);
    let mut exited = std::collections::BTreeMap::new();
    let mut started = std::collections::BTreeSet::new();
    while let Some((run, report)) = tokio::time::timeout(SAFETY_NET, rx.recv()).await.expect("safety net") {
        match report {
            RunnerReport::Started => assert!(started.insert(run.generation)),
            RunnerReport::Exited(reason) => {
                assert!(started.contains(&run.generation), "Started comes first");
                assert!(exited.insert(run.generation, reason).is_none(), "one Exited per run");
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(exited.len(), 40);
    for (generation, reason) in exited {
        let expected = if generation % 2 == 0 {
            ExitReason::Normal
        } else {
            ExitReason::Error("exit code 1".into())
        };
        assert_eq!(reason, expected);
    }
}

/// One captured `tracing` event: its level and fields.
type Captured = (tracing::Level, BTreeMap<String, String>);

/// The `tracing` events of target `vigil::child`.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target() == "vigil::child"
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().expect("lock").push((*event.metadata().level(), fields));
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test]
async fn tracing_output_emits_one_event_per_line_with_path_generation_and_stream() {
    let capture = Capture::default();
    // This runtime has one thread, where the forwarding tasks run too.
    let _guard = tracing::subscriber::set_default(capture.clone());
    let (tx, mut rx) = driver_queue();
    let mut spec = sh("printf 'hello\\nwor'; printf 'ld\\n'; echo oops >&2");
    spec.output = OutputMode::Tracing;
    spawn_process(&spec, Readiness::Immediate, run(17), "web/w1", tx).expect("spawned");
    assert_eq!(next(&mut rx, run(17)).await, RunnerReport::Started);
    assert_eq!(next(&mut rx, run(17)).await, RunnerReport::Exited(ExitReason::Normal));
    // The forwarding tasks end at end of file, independently of Exited.
    let deadline = tokio::time::Instant::now() + SAFETY_NET;
    while capture.0.lock().expect("lock").len() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "lines missing");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let events = capture.0.lock().expect("lock").clone();
    let line = |level, stream: &str, message: &str| {
        let fields: BTreeMap<String, String> = [
            ("generation", "17"),
            ("message", message),
            ("path", "web/w1"),
            ("stream", stream),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        (level, fields)
    };
    let stdout: Vec<_> = events.iter().filter(|e| e.1["stream"] == "stdout").cloned().collect();
    assert_eq!(
        stdout,
        [
            line(tracing::Level::INFO, "stdout", "hello"),
            line(tracing::Level::INFO, "stdout", "world")
        ]
    );
    let stderr: Vec<_> = events.iter().filter(|e| e.1["stream"] == "stderr").cloned().collect();
    assert_eq!(stderr, [line(tracing::Level::INFO, "stderr", "oops")]);
}

/// Like [`assert_group_dies`], for tests without a runtime.
fn assert_group_dies_blocking(pgid: u32) {
    let deadline = std::time::Instant::now() + SAFETY_NET;
    while !live_members(pgid).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "group {pgid} still has live members"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn dropping_the_runtime_kills_a_running_group() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (tx, mut rx) = driver_queue();
    let handle = runtime
        .block_on(async {
            let handle = spawn_process(
                &notifying_sh("sleep 100 & notify READY=1; wait"),
                Readiness::Notify,
                run(18),
                "w",
                tx,
            );
            assert_eq!(next(&mut rx, run(18)).await, RunnerReport::Started);
            assert_eq!(next(&mut rx, run(18)).await, RunnerReport::Ready);
            handle
        })
        .expect("spawned");
    assert!(live_members(handle.pid()).len() >= 2);
    drop(runtime);
    assert_group_dies_blocking(handle.pid());
}

#[test]
fn without_the_guard_a_child_dies_when_the_thread_that_spawned_it_exits() {
    // PR_SET_PDEATHSIG fires when the forking *thread* exits. The runtime is
    // leaked so that only the kernel can be what kills the child. It covers
    // the direct child only, hence `sleep` itself rather than `sh -c`, whose
    // own children would be orphaned, not killed (see the module docs).
    let pid = std::thread::spawn(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let (tx, _rx) = driver_queue();
        let handle = runtime
            .block_on(async {
                let mut spec = ProcessSpec::new(["sleep", "100"]);
                spec.output = OutputMode::Null;
                spawn_with(
                    &spec,
                    Readiness::Immediate,
                    run(19),
                    "w",
                    tx,
                    Launch::Direct,
                    &Default::default(),
                )
            })
            .expect("spawned");
        std::mem::forget(runtime);
        handle.pid()
    })
    .join()
    .expect("thread");
    assert_group_dies_blocking(pid);
}

#[test]
fn exit_statuses_map_to_reasons() {
    // Raw wait statuses: exit code in the second byte, signal in the first.
    let status = ExitStatus::from_raw;
    assert_eq!(exit_reason(status(0)), ExitReason::Normal);
    assert_eq!(exit_reason(status(3 << 8)), ExitReason::Error("exit code 3".into()));
    assert_eq!(exit_reason(status(libc::SIGKILL)), ExitReason::Killed);
    assert_eq!(exit_reason(status(libc::SIGTERM)), ExitReason::Shutdown(String::new()));
    assert_eq!(
        exit_reason(status(libc::SIGINT)),
        ExitReason::Error("signal SIGINT".into())
    );
    // SIGSEGV with the core-dumped bit.
    assert_eq!(
        exit_reason(status(libc::SIGSEGV | 0x80)),
        ExitReason::Error("signal SIGSEGV".into())
    );
}

#[test]
fn log_file_names_flatten_the_path() {
    assert_eq!(output::log_file_stem("web/w1"), "web__w1");
    assert_eq!(output::log_file_stem("db"), "db");
}

async fn lines_of(input: &[u8]) -> Vec<String> {
    let mut lines = Vec::new();
    output::forward_lines(input, |line| lines.push(String::from_utf8_lossy(line).into_owned())).await;
    lines
}

#[tokio::test]
async fn output_lines_are_split_at_newlines_without_terminators() {
    assert_eq!(lines_of(b"a\nb\r\n\nlast").await, ["a", "b", "", "last"]);
    assert!(lines_of(b"").await.is_empty());
}

#[tokio::test]
async fn long_output_lines_are_split_at_64_kib() {
    let mut input = vec![b'x'; 2 * MAX_LINE + 10];
    input.extend_from_slice(b"\nshort\n");
    let lines = lines_of(&input).await;
    let lengths: Vec<usize> = lines.iter().map(String::len).collect();
    assert_eq!(lengths, [MAX_LINE, MAX_LINE, 10, 5]);
}

#[tokio::test]
async fn long_lines_are_not_split_inside_a_character() {
    // 'é' is 2 bytes; one x shifts every 'é' so that one straddles 64 KiB.
    let mut input = b"x".to_vec();
    input.extend("é".repeat(MAX_LINE).as_bytes());
    let lines = lines_of(&input).await;
    assert!(lines.iter().all(|l| !l.contains('\u{fffd}')), "no character was cut");
    assert_eq!(lines.concat().len(), input.len());
    assert!(lines.iter().all(|l| l.len() <= MAX_LINE));
}

#[tokio::test]
async fn invalid_utf8_output_is_converted_lossily() {
    assert_eq!(lines_of(b"ok \xff\xfe end\n").await, ["ok \u{fffd}\u{fffd} end"]);
}

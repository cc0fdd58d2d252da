//! The process spawner (`src/spawner.rs`, `src/spawner_process.rs`): what
//! happens when it dies, when vigil dies, what its guards hold, and what
//! vigil holds per child. Real processes; timeouts are only safety nets
//! against a hang, never what a test asserts.
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

use std::collections::BTreeSet;
use std::time::Duration;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use vigil_core::{ExitReason, NodeId, Readiness, RunId};

use driver_queue::{driver_queue, DriverReceiver};
use guarded_spawn::spawn_process;
use output::OutputMode;
use process::{Launch, ProcessHandle, ProcessSpec};
use report::{ReportSender, RunnerReport};

const SAFETY_NET: Duration = Duration::from_secs(20);

fn run(node: usize, generation: u64) -> RunId {
    RunId {
        node: NodeId::from_index(node as u32),
        generation,
    }
}

fn quiet(script: &str) -> ProcessSpec {
    ProcessSpec::new(["sh", "-c", script]).output(OutputMode::Null)
}

/// The next report, whichever run it is for.
async fn next(reports: &mut DriverReceiver<(RunId, RunnerReport)>) -> (RunId, RunnerReport) {
    tokio::time::timeout(SAFETY_NET, reports.recv())
        .await
        .expect("no report within the safety net")
        .expect("the report channel closed")
}

/// Start `n` runs of `spec` (nodes 1..=n) and wait until each has started:
/// their handles.
async fn start_all(
    spec: &ProcessSpec,
    n: usize,
    tx: &ReportSender,
    rx: &mut DriverReceiver<(RunId, RunnerReport)>,
) -> Vec<ProcessHandle> {
    let handles: Vec<ProcessHandle> = (1..=n)
        .map(|i| spawn_process(spec, Readiness::Immediate, run(i, 1), "w", tx.clone()).expect("spawned"))
        .collect();
    for _ in 0..n {
        assert_eq!(next(rx).await.1, RunnerReport::Started);
    }
    handles
}

/// `(pid, ppid, pgrp, state)` of every process.
fn processes() -> Vec<(i32, i32, i32, char)> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let pid: i32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
        let state = fields.next()?.chars().next()?;
        let ppid = fields.next()?.parse().ok()?;
        let pgrp = fields.next()?.parse().ok()?;
        Some((pid, ppid, pgrp, state))
    })
    .collect()
}

/// Live (not zombie) processes in any of `groups`.
fn live_in(groups: &BTreeSet<i32>) -> Vec<i32> {
    processes()
        .into_iter()
        .filter(|&(_, _, pgrp, state)| groups.contains(&pgrp) && state != 'Z' && state != 'X')
        .map(|(pid, ..)| pid)
        .collect()
}

async fn assert_groups_die(groups: &BTreeSet<i32>) {
    let deadline = tokio::time::Instant::now() + SAFETY_NET;
    loop {
        let left = live_in(groups);
        if left.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still alive in {groups:?}: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn parent_of(pid: i32) -> i32 {
    processes()
        .into_iter()
        .find(|&(p, ..)| p == pid)
        .map(|(_, ppid, ..)| ppid)
        .expect("a live process")
}

/// What each descriptor of `pid` points at, by number.
fn descriptors(pid: i32) -> Vec<(i32, String)> {
    let mut fds: Vec<(i32, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("readable fd directory")
        .filter_map(|e| {
            let e = e.ok()?;
            let fd = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            Some((fd, target.to_string_lossy().into_owned()))
        })
        .collect();
    fds.sort();
    fds
}

#[tokio::test]
async fn when_the_spawner_is_killed_its_runs_end_and_are_reported_and_the_next_start_works() {
    let (tx, mut rx) = driver_queue();
    // A grandchild in the group too: the guard must kill it.
    let handles = start_all(&quiet("sleep 1000 & exec sleep 1000"), 3, &tx, &mut rx).await;
    let groups: BTreeSet<i32> = handles.iter().map(|h| h.pid() as i32).collect();
    assert_eq!(groups.len(), 3, "one group per run: {groups:?}");
    let spawner = parent_of(*groups.first().unwrap());
    assert!(
        groups.iter().all(|&g| parent_of(g) == spawner),
        "one spawner forks every guard"
    );
    assert_ne!(spawner as u32, std::process::id(), "vigil forks nothing");

    kill(Pid::from_raw(spawner), Signal::SIGKILL).expect("kill -9 the spawner");
    let mut ended = BTreeSet::new();
    for _ in 0..3 {
        let (r, report) = next(&mut rx).await;
        assert_eq!(
            report,
            RunnerReport::Exited(ExitReason::Error("process spawner died".into()))
        );
        ended.insert(r.node.index());
    }
    assert_eq!(ended, BTreeSet::from([1, 2, 3]), "every run is reported once");
    assert_groups_die(&groups).await;

    // The next start gets a new spawner.
    let handle = spawn_process(&quiet("exit 3"), Readiness::Immediate, run(9, 2), "w", tx).expect("spawned");
    assert_eq!(next(&mut rx).await, (run(9, 2), RunnerReport::Started));
    assert_eq!(
        next(&mut rx).await,
        (run(9, 2), RunnerReport::Exited(ExitReason::Error("exit code 3".into())))
    );
    assert_ne!(handle.pid(), 0);
}

#[tokio::test]
async fn every_guard_holds_the_shared_report_socket_its_output_its_signalfd_and_its_park_socket() {
    let (tx, mut rx) = driver_queue();
    let spec = ProcessSpec::new(["sleep", "1000"]); // output to vigil: two pipes per run
    let handles = start_all(&spec, 4, &tx, &mut rx).await;
    let spawner = parent_of(handles[0].pid() as i32);
    let spawner_fds: BTreeSet<String> = descriptors(spawner).into_iter().map(|(_, t)| t).collect();
    let mut sockets = BTreeSet::new();
    let mut outputs = BTreeSet::new();
    for h in &handles {
        // The park socket (src/guard_park.rs) is made once the program
        // runs, after `started`.
        let deadline = std::time::Instant::now() + SAFETY_NET;
        let fds = loop {
            let fds = descriptors(h.pid() as i32);
            if fds.len() >= 5 || std::time::Instant::now() > deadline {
                break fds;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let numbers: Vec<i32> = fds.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, [0, 1, 2, 3, 4], "guard {}: {fds:?}", h.pid());
        assert!(fds[0].1.starts_with("socket:"), "{fds:?}");
        assert!(
            fds[4].1.starts_with("socket:") && fds[4].1 != fds[0].1,
            "its own park socket: {fds:?}"
        );
        assert!(
            fds[1].1.starts_with("pipe:") && fds[2].1.starts_with("pipe:"),
            "{fds:?}"
        );
        assert_ne!(fds[1].1, fds[2].1, "stdout and stderr are two pipes: {fds:?}");
        assert!(fds[3].1.contains("signalfd"), "{fds:?}");
        sockets.insert(fds[0].1.clone());
        assert!(outputs.insert(fds[1].1.clone()), "a pipe shared by two runs: {fds:?}");
        // The guard's output is the run's, never the spawner's.
        assert!(!spawner_fds.contains(&fds[1].1), "{fds:?}");
    }
    // One report socket for all the guards (the spawner keeps that end to
    // give it to the next guard).
    assert_eq!(sockets.len(), 1, "{sockets:?}");
    assert!(spawner_fds.is_superset(&sockets), "{spawner_fds:?}");
    for h in &handles {
        h.kill();
    }
    for _ in 0..4 {
        assert_eq!(next(&mut rx).await.1, RunnerReport::Exited(ExitReason::Killed));
    }
}

/// A `fork` copies the parent's descriptor table: with a descriptor per
/// guard, each start cost O(N). The spawner's count does not grow with its
/// runs.
#[tokio::test]
async fn the_spawner_holds_as_many_descriptors_with_60_runs_as_with_2() {
    let (tx, mut rx) = driver_queue();
    let spec = ProcessSpec::new(["sleep", "1000"]);
    let few = start_all(&spec, 2, &tx, &mut rx).await;
    let spawner = parent_of(few[0].pid() as i32);
    let with_few = descriptors(spawner).len();
    let many: Vec<ProcessHandle> = (3..=62)
        .map(|i| spawn_process(&spec, Readiness::Immediate, run(i, 1), "w", tx.clone()).expect("spawned"))
        .collect();
    for _ in 0..many.len() {
        assert_eq!(next(&mut rx).await.1, RunnerReport::Started);
    }
    let with_many = descriptors(spawner);
    assert_eq!(parent_of(many[59].pid() as i32), spawner, "one spawner");
    for h in few.iter().chain(&many) {
        h.kill();
    }
    for _ in 0..62 {
        assert_eq!(next(&mut rx).await.1, RunnerReport::Exited(ExitReason::Killed));
    }
    assert_eq!(with_many.len(), with_few, "with 62 runs: {with_many:?}");
}

/// The variable that makes [`helper_descriptor_count`] count.
const COUNT_VAR: &str = "VIGIL_SPAWNER_TEST_COUNT";

/// Run by the next test in a process of its own: the descriptor table is
/// the process's, which the other tests of this binary change meanwhile.
#[tokio::test]
#[ignore = "a helper process of vigil_holds_two_descriptors_per_child_in_the_tracing_mode_and_none_with_output_null"]
async fn helper_descriptor_count() {
    if std::env::var_os(COUNT_VAR).is_none() {
        return;
    }
    const N: usize = 40;
    let count = || std::fs::read_dir("/proc/self/fd").expect("fd directory").count();
    for (output, per_child) in [(OutputMode::Tracing, 2), (OutputMode::Null, 0)] {
        let (tx, mut rx) = driver_queue();
        // One run first: the spawner's socket is opened once per spawner.
        let first = start_all(
            &ProcessSpec::new(["sleep", "1000"]).output(output.clone()),
            1,
            &tx,
            &mut rx,
        )
        .await;
        let before = count();
        let spec = ProcessSpec::new(["sleep", "1000"]).output(output.clone());
        let handles: Vec<ProcessHandle> = (0..N)
            .map(|i| spawn_process(&spec, Readiness::Immediate, run(100 + i, 1), "w", tx.clone()).expect("spawned"))
            .collect();
        for _ in 0..N {
            assert_eq!(next(&mut rx).await.1, RunnerReport::Started);
        }
        let after = count();
        assert!(
            after <= before + N * per_child,
            "{output:?}: {before} descriptors before, {after} after {N} children"
        );
        for h in handles.iter().chain(&first) {
            h.kill();
        }
        for _ in 0..=N {
            assert_eq!(next(&mut rx).await.1, RunnerReport::Exited(ExitReason::Killed));
        }
    }
}

#[test]
fn vigil_holds_two_descriptors_per_child_in_the_tracing_mode_and_none_with_output_null() {
    run_helper("helper_descriptor_count", COUNT_VAR);
}

/// Run the ignored test `helper` of this binary in a process of its own,
/// with the variable `var` set (without it the helper does nothing), and
/// check that it passed: its stderr.
fn run_helper(helper: &str, var: &str) -> String {
    let out = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", helper, "--ignored", "--test-threads=1"])
        .env(var, "1")
        .output()
        .expect("run the helper");
    let (text, errors) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{text}{errors}");
    assert!(text.contains("1 passed"), "{text}");
    errors
}

#[tokio::test]
async fn an_exec_failure_through_the_spawner_is_a_failed_start_and_leaves_nothing() {
    let (tx, mut rx) = driver_queue();
    let handle = spawn_process(
        &ProcessSpec::new(["vigil-no-such-program-anywhere"]),
        Readiness::Immediate,
        run(1, 1),
        "w",
        tx.clone(),
    )
    .expect("the request is sent");
    assert_eq!(
        next(&mut rx).await,
        (
            run(1, 1),
            RunnerReport::StartFailed(
                "cannot start `vigil-no-such-program-anywhere`: No such file or directory (os error 2)".into()
            )
        )
    );
    let guard = handle.pid() as i32;
    assert_ne!(guard, 0, "the guard's pid comes with the reply");
    assert!(
        !processes().iter().any(|&(pid, ..)| pid == guard),
        "the guard is reaped before the reply"
    );
    // A working directory that does not exist: the forked guard says why.
    let spec = quiet("true").cwd("/nonexistent/vigil-dir");
    spawn_process(&spec, Readiness::Immediate, run(2, 1), "w", tx).expect("the request is sent");
    let (_, report) = next(&mut rx).await;
    let RunnerReport::StartFailed(reason) = report else {
        panic!("{report:?}")
    };
    assert!(
        reason.starts_with("cannot start `sh`: process guard: cannot change to the working directory"),
        "{reason}"
    );
}

/// The file through which the helper below tells its parent test what it
/// started (`VIGIL_SPAWNER_TEST_PIDS`).
const PIDS_VAR: &str = "VIGIL_SPAWNER_TEST_PIDS";

/// Not a test on its own: run by the next test as a separate "vigil"
/// process, which it then SIGKILLs. Starts 30 runs (each with a
/// grandchild) under one spawner and writes their groups, then waits.
#[tokio::test]
#[ignore = "a helper process of when_vigil_is_killed_no_process_of_any_run_survives"]
async fn helper_vigil_with_many_children() {
    let Ok(path) = std::env::var(PIDS_VAR) else { return };
    let (tx, mut rx) = driver_queue();
    let handles = start_all(&quiet("sleep 1000 & exec sleep 1000"), 30, &tx, &mut rx).await;
    let mut groups: Vec<String> = handles.iter().map(|h| h.pid().to_string()).collect();
    // And a guard parked after its run (src/guard_park.rs).
    let ended = spawn_process(&quiet("exit 0"), Readiness::Immediate, run(99, 1), "ended", tx).expect("spawned");
    assert_eq!(next(&mut rx).await.1, RunnerReport::Started);
    assert_eq!(next(&mut rx).await.1, RunnerReport::Exited(ExitReason::Normal));
    groups.push(ended.pid().to_string());
    std::fs::write(format!("{path}.tmp"), groups.join("\n")).expect("write");
    std::fs::rename(format!("{path}.tmp"), &path).expect("rename");
    tokio::time::sleep(SAFETY_NET * 3).await;
}

#[tokio::test]
async fn when_vigil_is_killed_no_process_of_any_run_survives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("groups");
    let mut vigil = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "helper_vigil_with_many_children",
            "--ignored",
            "--test-threads=1",
        ])
        .env(PIDS_VAR, &file)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start the helper");
    let deadline = std::time::Instant::now() + SAFETY_NET;
    let groups: BTreeSet<i32> = loop {
        if let Ok(text) = std::fs::read_to_string(&file) {
            break text.lines().map(|l| l.parse().expect("a pid")).collect();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the helper never started its runs"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(groups.len(), 31);
    let spawner = parent_of(*groups.first().unwrap());
    assert_eq!(parent_of(spawner) as u32, vigil.id(), "the helper's spawner");
    assert_eq!(
        live_in(&groups).len(),
        30 * 3 + 1,
        "guard, program and grandchild of every run, and the parked guard"
    );
    vigil.kill().expect("kill -9 the helper"); // SIGKILL
    vigil.wait().expect("reap the helper");
    assert_groups_die(&groups).await;
    let deadline = tokio::time::Instant::now() + SAFETY_NET;
    while processes()
        .iter()
        .any(|&(pid, _, _, state)| pid == spawner && state != 'Z')
    {
        assert!(tokio::time::Instant::now() < deadline, "the spawner outlived vigil");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_request_too_large_for_the_spawner_is_a_failed_start_and_the_next_start_works() {
    let (tx, mut rx) = driver_queue();
    let huge = "x".repeat(200_000);
    let spec = ProcessSpec::new(["echo", huge.as_str()]).output(OutputMode::Null);
    spawn_process(&spec, Readiness::Immediate, run(1, 1), "w", tx.clone()).expect("the start is taken");
    let (r, report) = next(&mut rx).await;
    assert_eq!(r, run(1, 1));
    let RunnerReport::StartFailed(reason) = report else {
        panic!("{report:?}")
    };
    assert!(
        reason.starts_with("cannot start `echo`: ") && reason.contains("exceed 131072 bytes"),
        "{reason}"
    );
    spawn_process(&quiet("exit 0"), Readiness::Immediate, run(2, 1), "w", tx).expect("spawned");
    assert_eq!(next(&mut rx).await, (run(2, 1), RunnerReport::Started));
    assert_eq!(
        next(&mut rx).await,
        (run(2, 1), RunnerReport::Exited(ExitReason::Normal))
    );
}

/// Many guards ending at once: their SIGCHLDs coalesce into one signal, and
/// some guards' end of file is read after it. Every run must still be
/// reaped and reported (the spawner reaps an exiting guard by its pid, and
/// at its end of file when its signal was drained with another's).
#[tokio::test]
async fn every_guard_of_many_ending_at_once_is_reaped_and_reported() {
    let (tx, mut rx) = driver_queue();
    let dir = std::env::temp_dir().join(format!("vigil-coalesce-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("go");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("a fifo");
    // Held read-write: opening it never blocks, and while it is open every
    // program's `open` of the fifo returns at once. Each program notes that
    // it holds the fifo, then blocks reading it; closing this last writer
    // ends them all at the same instant. (A program that opened the fifo
    // only after the writer closed would wait for a writer forever: a
    // `started` report says the program runs, not that it got that far.)
    let writer = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .expect("the fifo, read-write");
    let holding = dir.join("holding");
    let n = 150;
    let script = format!(
        "{{ echo x >> {}; read x; }} < {}; exit 0",
        holding.display(),
        fifo.display()
    );
    for i in 1..=n {
        spawn_process(&quiet(&script), Readiness::Immediate, run(i, 1), "w", tx.clone()).expect("spawned");
    }
    let mut started = 0;
    while started < n {
        match next(&mut rx).await {
            (_, RunnerReport::Started) => started += 1,
            other => panic!("{other:?}"),
        }
    }
    let deadline = tokio::time::Instant::now() + SAFETY_NET;
    loop {
        let held = std::fs::read_to_string(&holding).map_or(0, |t| t.lines().count());
        if held == n {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{held} of {n} programs hold the fifo"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(writer);
    let mut exited = BTreeSet::new();
    while exited.len() < n {
        match next(&mut rx).await {
            (r, RunnerReport::Exited(reason)) => {
                assert_eq!(reason, ExitReason::Normal, "{r:?}");
                assert!(exited.insert(r), "{r:?} reported twice");
            }
            (_, RunnerReport::Started) => {}
            other => panic!("{other:?}"),
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A field (in KiB) of `/proc/<pid>/smaps_rollup`.
fn rollup_kib(pid: i32, field: &str) -> u64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).expect("a live process");
    rollup
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in {rollup}"))
}

/// The memory a forked guard keeps for itself: every page that it, or the
/// spawner after its fork, writes is a private copy of its own. The
/// spawner writes as few pages per request as it can (the environment is
/// borrowed from its own `environ`, the request buffer is not inherited,
/// the spawn attributes are made once), so a guard's private memory stays
/// small however many runs start after it. It was 77 to 136 KiB per guard
/// (release build) before; the target is 64 KiB of PSS.
#[tokio::test]
async fn a_guards_private_memory_stays_small_while_later_runs_start() {
    const RUNS: usize = 150;
    const BOUND_KIB: u64 = 64;
    let (tx, mut rx) = driver_queue();
    let spec = ProcessSpec::new(["sleep", "1000"]).output(OutputMode::Null);
    let handles = start_all(&spec, RUNS, &tx, &mut rx).await;
    let (first, last) = (handles[0].pid() as i32, handles[RUNS - 1].pid() as i32);
    let (first_kib, last_kib) = (rollup_kib(first, "Private_Dirty"), rollup_kib(last, "Private_Dirty"));
    for h in &handles {
        h.kill();
    }
    for _ in 0..RUNS {
        assert_eq!(next(&mut rx).await.1, RunnerReport::Exited(ExitReason::Killed));
    }
    assert!(
        first_kib <= BOUND_KIB && last_kib <= BOUND_KIB,
        "private dirty memory of the first guard {first_kib} KiB, of the last {last_kib} KiB, \
         over {BOUND_KIB} KiB after {RUNS} runs"
    );
}

/// Whether `pid` has no signal pending (`SigPnd` and `ShdPnd` of its
/// `/proc/<pid>/status` are 0).
fn nothing_pending(pid: i32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("a live process");
    status
        .lines()
        .filter(|l| l.starts_with("SigPnd:") || l.starts_with("ShdPnd:"))
        .all(|l| l.split_whitespace().nth(1).is_some_and(|m| m.chars().all(|c| c == '0')))
}

/// The Kill is a queued real-time signal from the spawner
/// (`src/guard_kill.rs`): the same signal sent by anyone else, plain or
/// queued with any value the spawner could send, does not end the run;
/// nor does the signal a guard gets when the spawner dies, sent by
/// anyone while the spawner lives.
#[tokio::test]
async fn a_kill_signal_that_the_spawner_did_not_queue_is_ignored() {
    let dir = std::env::temp_dir().join(format!("vigil-rtkill-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let fifo = dir.join("go");
    let _ = std::fs::remove_file(&fifo);
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let (tx, mut rx) = driver_queue();
    let spec = quiet(&format!("read x < {}; exit 7", fifo.display()));
    let handles = start_all(&spec, 1, &tx, &mut rx).await;
    let guard = handles[0].pid() as i32;
    // SAFETY: plain system calls with plain values.
    #[allow(unsafe_code)]
    unsafe {
        assert_eq!(libc::kill(guard, guard_kill::kill_signal()), 0);
        // Nor is the signal of the spawner's death, from anyone else (the
        // guard's parent did not change).
        assert_eq!(libc::kill(guard, guard_kill::death_signal()), 0);
        // Every value the spawner could queue: the first run keys, and a
        // retirement.
        for value in [guard_kill::RETIRE_VALUE].into_iter().chain(2..64) {
            let value = libc::sigval {
                sival_ptr: value as usize as *mut libc::c_void,
            };
            assert_eq!(libc::sigqueue(guard, guard_kill::kill_signal(), value), 0);
        }
    }
    // Once the guard has read both, the program may end.
    let deadline = std::time::Instant::now() + SAFETY_NET;
    while !nothing_pending(guard) {
        assert!(std::time::Instant::now() < deadline, "the guard never read its signals");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = std::fs::write(&fifo, "go\n");
    let (_, report) = next(&mut rx).await;
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        report,
        RunnerReport::Exited(ExitReason::Error("exit code 7".into())),
        "the guard took a stranger's signal as a Kill"
    );
}

/// The variable that makes [`helper_kill_without_queued_signals`] run.
const SIGPENDING_VAR: &str = "VIGIL_SPAWNER_TEST_SIGPENDING";

/// Run by the next test in a process of its own (a resource limit is the
/// process's): with no signal allowed to be queued (`RLIMIT_SIGPENDING`
/// 0, which the spawner started here inherits), the spawner cannot queue
/// its Kill to the guard and SIGKILLs the run's group instead.
#[tokio::test]
#[ignore = "a helper process of a_kill_that_cannot_be_queued_still_ends_the_run"]
async fn helper_kill_without_queued_signals() {
    if std::env::var_os(SIGPENDING_VAR).is_none() {
        return;
    }
    let (_, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_SIGPENDING).expect("getrlimit");
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_SIGPENDING, 0, hard).expect("setrlimit");
    let (tx, mut rx) = driver_queue();
    let handles = start_all(&quiet("sleep 1000 & exec sleep 1000"), 1, &tx, &mut rx).await;
    let groups = BTreeSet::from([handles[0].pid() as i32]);
    handles[0].kill();
    assert_eq!(next(&mut rx).await.1, RunnerReport::Exited(ExitReason::Killed));
    assert_groups_die(&groups).await;
}

#[test]
fn a_kill_that_cannot_be_queued_still_ends_the_run() {
    let errors = run_helper("helper_kill_without_queued_signals", SIGPENDING_VAR);
    // The spawner (its stderr is the helper's) took the other way.
    assert!(
        errors.contains("vigil-spawner: cannot queue a Kill to guard"),
        "{errors}"
    );
}

// ---------------------------------------------------------------------------
// Parked guards (src/guard_park.rs, src/guard_pool.rs).

/// Wait until `check` holds, or fail with `what` after the safety net.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + SAFETY_NET;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Start one run of `spec` for the child `path` and wait for its start:
/// its handle.
async fn start_one(
    spec: &ProcessSpec,
    run_id: RunId,
    path: &str,
    tx: &ReportSender,
    rx: &mut DriverReceiver<(RunId, RunnerReport)>,
) -> ProcessHandle {
    let handle = spawn_process(spec, Readiness::Immediate, run_id, path, tx.clone()).expect("spawned");
    assert_eq!(next(rx).await, (run_id, RunnerReport::Started));
    handle
}

#[tokio::test]
async fn a_restarted_child_gets_its_guard_back_with_the_new_runs_output_and_directory() {
    let (tx, mut rx) = driver_queue();
    let dir = tempfile::tempdir().expect("tempdir");
    let (work, out) = (dir.path().join("work"), dir.path().join("out"));
    std::fs::create_dir_all(&work).expect("work dir");
    let script = |n: &str, code: u8| format!("pwd > {}/{n}; echo {n}; exit {code}", dir.path().display());
    let first = ProcessSpec::new(["sh", "-c", &script("one", 3)])
        .cwd(&work)
        .output(OutputMode::Files { dir: out.clone() });
    let h1 = start_one(&first, run(1, 1), "p", &tx, &mut rx).await;
    let exit3 = RunnerReport::Exited(ExitReason::Error("exit code 3".into()));
    assert_eq!(next(&mut rx).await, (run(1, 1), exit3));
    let guard = h1.pid() as i32;
    // Parked: the run's output let go, the guard still there.
    eventually("the parked guard keeps the run's output", || {
        descriptors(guard)
            .iter()
            .filter(|(n, t)| (1..=2).contains(n) && t == "/dev/null")
            .count()
            == 2
    })
    .await;
    // The next run of the same child, without a working directory: the
    // spawner's (this test's).
    let second = ProcessSpec::new(["sh", "-c", &script("two", 4)]).output(OutputMode::Files { dir: out.clone() });
    let h2 = start_one(&second, run(1, 2), "p", &tx, &mut rx).await;
    let exit4 = RunnerReport::Exited(ExitReason::Error("exit code 4".into()));
    assert_eq!(next(&mut rx).await, (run(1, 2), exit4));
    assert_eq!(h2.pid() as i32, guard, "the same guard, handed the child's next run");
    let read = |n: &str| std::fs::read_to_string(dir.path().join(n)).expect("written");
    assert_eq!(read("one").trim(), work.canonicalize().unwrap().to_str().unwrap());
    let home = std::env::current_dir().expect("cwd");
    assert_eq!(read("two").trim(), home.to_str().unwrap());
    let log = std::fs::read_to_string(out.join("p.out.log")).expect("the child's output file");
    assert_eq!(log, "one\ntwo\n");
    // Another child does not get it; a Kill of the reused guard's run
    // still ends that run.
    let other = start_one(&quiet("sleep 1000"), run(2, 1), "q", &tx, &mut rx).await;
    assert_ne!(other.pid() as i32, guard);
    // An inherited output is the spawner's own, passed with the hand-off.
    let inherit = ProcessSpec::new(["sleep", "1000"]).output(OutputMode::Inherit);
    let h3 = start_one(&inherit, run(1, 3), "p", &tx, &mut rx).await;
    assert_eq!(h3.pid() as i32, guard);
    let spawner: Vec<(i32, String)> = descriptors(parent_of(guard)).into_iter().take(3).collect();
    let guard_fds: Vec<(i32, String)> = descriptors(guard).into_iter().take(3).collect();
    assert_eq!(guard_fds[1..], spawner[1..], "stdout and stderr of the spawner");
    h3.kill();
    assert_eq!(
        next(&mut rx).await,
        (run(1, 3), RunnerReport::Exited(ExitReason::Killed))
    );
    other.kill();
    assert_eq!(
        next(&mut rx).await,
        (run(2, 1), RunnerReport::Exited(ExitReason::Killed))
    );
}

/// The abstract address of the park socket of `guard` (its fd 4), as in
/// `/proc/net/unix` (`@` for the leading NUL).
fn park_address(guard: i32) -> String {
    let link = std::fs::read_link(format!("/proc/{guard}/fd/4")).expect("the park socket");
    let inode = link
        .to_str()
        .and_then(|l| l.strip_prefix("socket:["))
        .and_then(|l| l.strip_suffix(']'))
        .expect("a socket")
        .to_owned();
    let table = std::fs::read_to_string("/proc/net/unix").expect("/proc/net/unix");
    table
        .lines()
        .find_map(|l| {
            let fields: Vec<&str> = l.split_whitespace().collect();
            (fields.len() >= 8 && fields[6] == inode).then(|| fields[7].to_owned())
        })
        .expect("the socket's address")
}

#[tokio::test]
async fn a_parked_guard_takes_no_run_from_anyone_but_its_spawner() {
    let (tx, mut rx) = driver_queue();
    let dir = tempfile::tempdir().expect("tempdir");
    let h1 = start_one(&quiet("exit 0"), run(1, 1), "p", &tx, &mut rx).await;
    assert_eq!(next(&mut rx).await.1, RunnerReport::Exited(ExitReason::Normal));
    let guard = h1.pid() as i32;
    let address = park_address(guard);
    assert!(address.starts_with('@'), "an abstract address: {address}");
    // A stranger sends a run, as the spawner would.
    let planted = dir.path().join("planted");
    let request = spawner_protocol::SpawnRequest {
        argv: vec!["sh".into(), "-c".into(), format!("touch {}", planted.display())],
        slot: Some("p".into()),
        stdout: spawner_protocol::Stream::Null,
        stderr: spawner_protocol::Stream::Null,
        ..Default::default()
    };
    let message = spawner_protocol::Request::Spawn(1_000_000, request)
        .encode()
        .expect("encoded");
    let stranger = std::os::unix::net::UnixDatagram::unbound().expect("a socket");
    let name = std::os::unix::net::SocketAddr::from_abstract_name(&address.as_bytes()[1..]).expect("an address");
    use std::os::linux::net::SocketAddrExt as _;
    stranger.send_to_addr(&message, &name).expect("sent");
    // The child's next run still goes to that guard, and only it runs.
    let marker = dir.path().join("ran");
    let spec = quiet(&format!("touch {}; exit 5", marker.display()));
    let h2 = start_one(&spec, run(1, 2), "p", &tx, &mut rx).await;
    let exit5 = RunnerReport::Exited(ExitReason::Error("exit code 5".into()));
    assert_eq!(next(&mut rx).await, (run(1, 2), exit5));
    assert_eq!(h2.pid() as i32, guard);
    assert!(marker.exists());
    assert!(!planted.exists(), "the guard ran a stranger's program");
}

/// A run that goes on (node 1, `running`) and the guard of one that ended
/// and parked (node 2, `ended`): the running run's handle, the parked
/// guard's pid and the spawner's.
async fn one_running_one_parked(
    tx: &ReportSender,
    rx: &mut DriverReceiver<(RunId, RunnerReport)>,
) -> (ProcessHandle, i32, i32) {
    let running = start_one(&quiet("sleep 1000"), run(1, 1), "running", tx, rx).await;
    let ended = start_one(&quiet("exit 0"), run(2, 1), "ended", tx, rx).await;
    assert_eq!(next(rx).await, (run(2, 1), RunnerReport::Exited(ExitReason::Normal)));
    let parked = ended.pid() as i32;
    (running, parked, parent_of(parked))
}

#[tokio::test]
async fn parked_guards_end_with_their_spawner() {
    let (tx, mut rx) = driver_queue();
    let (running, parked, spawner) = one_running_one_parked(&tx, &mut rx).await;
    assert_eq!(parent_of(running.pid() as i32), spawner);
    kill(Pid::from_raw(spawner), Signal::SIGKILL).expect("kill -9 the spawner");
    let died = RunnerReport::Exited(ExitReason::Error("process spawner died".into()));
    assert_eq!(next(&mut rx).await, (run(1, 1), died));
    assert_groups_die(&BTreeSet::from([parked, running.pid() as i32])).await;
}

#[tokio::test]
async fn a_parked_guard_killed_or_handed_a_run_it_cannot_take_leaves_the_next_start_working() {
    let (tx, mut rx) = driver_queue();
    let h1 = start_one(&quiet("exit 0"), run(1, 1), "p", &tx, &mut rx).await;
    assert_eq!(next(&mut rx).await.1, RunnerReport::Exited(ExitReason::Normal));
    let first = h1.pid() as i32;
    // An operator kills the parked guard: the next run gets a new one.
    kill(Pid::from_raw(first), Signal::SIGKILL).expect("kill -9 the parked guard");
    assert_groups_die(&BTreeSet::from([first])).await;
    let h2 = start_one(&quiet("exit 0"), run(1, 2), "p", &tx, &mut rx).await;
    assert_eq!(next(&mut rx).await.1, RunnerReport::Exited(ExitReason::Normal));
    let second = h2.pid() as i32;
    assert_ne!(second, first);
    // Handed a run whose working directory does not exist: that run fails
    // to start, as with a new guard, and the guard goes.
    let spec = quiet("true").cwd("/nonexistent/vigil-dir");
    spawn_process(&spec, Readiness::Immediate, run(1, 3), "p", tx.clone()).expect("the request is sent");
    let (r, report) = next(&mut rx).await;
    assert_eq!(r, run(1, 3));
    let RunnerReport::StartFailed(reason) = report else {
        panic!("{report:?}")
    };
    assert!(
        reason.starts_with("cannot start `sh`: process guard: cannot change to the working directory"),
        "{reason}"
    );
    assert_groups_die(&BTreeSet::from([second])).await;
    let h4 = start_one(&quiet("exit 6"), run(1, 4), "p", &tx, &mut rx).await;
    let exit6 = RunnerReport::Exited(ExitReason::Error("exit code 6".into()));
    assert_eq!(next(&mut rx).await, (run(1, 4), exit6));
    assert!(![first, second].contains(&(h4.pid() as i32)));
}

/// A child that is not restarted does not keep its guard: the spawner
/// retires it after `PARK_LIMIT` (10 s; this test waits that long).
#[tokio::test]
async fn a_parked_guard_that_gets_no_run_is_retired() {
    let (tx, mut rx) = driver_queue();
    let (running, parked, spawner) = one_running_one_parked(&tx, &mut rx).await;
    let deadline = tokio::time::Instant::now() + guard_pool::PARK_LIMIT + SAFETY_NET;
    loop {
        let alive = processes()
            .iter()
            .any(|&(pid, ppid, ..)| pid == parked && ppid == spawner);
        if !alive {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the parked guard was never retired"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Retired and reaped; the running child's guard is untouched.
    assert_eq!(parent_of(running.pid() as i32), spawner);
    running.kill();
    assert_eq!(
        next(&mut rx).await,
        (run(1, 1), RunnerReport::Exited(ExitReason::Killed))
    );
}

/// The variable that makes [`helper_tree_end_with_parked_guards`] run.
const SUBREAPER_VAR: &str = "VIGIL_SPAWNER_TEST_SUBREAPER";

/// Run by the next test in a process of its own (a subreaper is the
/// process's): this process is a child subreaper, so a guard that the
/// spawner left behind at the tree's end would become its child.
#[tokio::test]
#[ignore = "a helper process of at_the_trees_end_the_spawner_reaps_its_parked_guards"]
async fn helper_tree_end_with_parked_guards() {
    if std::env::var_os(SUBREAPER_VAR).is_none() {
        return;
    }
    nix::sys::prctl::set_child_subreaper(true).expect("a subreaper");
    let (tx, mut rx) = driver_queue();
    let tree = spawner::Spawner::default();
    let mut guards = Vec::new();
    for i in 1..=5 {
        let spec = quiet("exit 0");
        let path = format!("c{i}");
        let h = process::spawn_process(
            &spec,
            Readiness::Immediate,
            run(i, 1),
            &path,
            tx.clone(),
            Launch::Guarded,
            &tree,
        )
        .expect("spawned");
        assert_eq!(next(&mut rx).await, (run(i, 1), RunnerReport::Started));
        assert_eq!(
            next(&mut rx).await,
            (run(i, 1), RunnerReport::Exited(ExitReason::Normal))
        );
        guards.push(h.pid() as i32);
    }
    let spawner = parent_of(guards[0]);
    drop(tree); // the tree's end
    eventually("the spawner never ended", || {
        !processes().iter().any(|&(pid, ..)| pid == spawner)
    })
    .await;
    // Not one parked guard was left to this subreaper, alive or not.
    for guard in guards {
        let waited = nix::sys::wait::waitpid(Pid::from_raw(guard), Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        assert_eq!(waited, Err(nix::errno::Errno::ECHILD), "guard {guard} was left behind");
    }
}

#[test]
fn at_the_trees_end_the_spawner_reaps_its_parked_guards() {
    run_helper("helper_tree_end_with_parked_guards", SUBREAPER_VAR);
}

//! One teardown per run: however a process run ends (it exited, its start
//! failed in its guard, it was stopped by a shutdown), the driver forgets
//! it everywhere, its monitor entry included. `TreeHandle::resources()`
//! lists only live runs, and nothing after the tree is down. Real
//! processes under real guards (this test binary is one, see
//! `common/guard_hook.rs`).

use std::time::Duration;

use vigil_core::{ChildSpec, SupervisorSpec};
use vigil_tokio::{Children, ProcessSpec, Tree, TreeHandle};

// What `common/guard_hook.rs` calls.
use vigil_tokio::guard;

#[path = "common/guard_hook.rs"]
mod guard_hook;

const SAFETY: Duration = Duration::from_secs(30);

fn sh(script: &str) -> ProcessSpec {
    ProcessSpec::new(["sh", "-c", script])
}

/// Poll the resources until `cond` holds for them; they are returned.
async fn resources_until(
    sup: &TreeHandle,
    cond: impl Fn(&[vigil_tokio::monitor::ChildResources]) -> bool,
) -> Vec<vigil_tokio::monitor::ChildResources> {
    tokio::time::timeout(SAFETY, async {
        loop {
            let r = sup.resources().await;
            if cond(&r) {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the resources came to that")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_starts_leave_no_monitor_entry_and_nothing_is_listed_after_shutdown() {
    assert!(guard::is_available(), "the test binary serves as a guard");
    let sup = Tree::new(SupervisorSpec::new())
        .process(ChildSpec::worker("steady"), ProcessSpec::new(["sleep", "1000"]))
        .start()
        .expect("valid tree");
    for i in 0..24 {
        let r = tokio::time::timeout(
            SAFETY,
            sup.start_process(
                "",
                ChildSpec::worker(format!("missing{i}")),
                ProcessSpec::new(["/nonexistent/vigil-no-such-program"]),
            ),
        )
        .await
        .expect("an answer");
        assert!(r.is_err(), "the start failed: {r:?}");
    }
    // Only the live run is watched (the failed starts were never alive).
    let r = resources_until(&sup, |r| !r.is_empty()).await;
    let paths: Vec<&str> = r.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, ["steady"], "{r:?}");
    assert!(sup.shutdown().await.is_normal());
    assert_eq!(sup.resources().await, []);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_restarts_only_the_live_run_is_listed() {
    let dir = std::env::temp_dir().join(format!("vigil-teardown-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let starts = dir.join("starts");
    let _ = std::fs::remove_file(&starts);
    // Crashes on its first three runs, then stays up.
    let flaky = format!(
        "echo $$ >> {s}; if [ $(wc -l < {s}) -gt 3 ]; then exec sleep 1000; fi; exit 3",
        s = starts.display()
    );
    let sup = Tree::new(SupervisorSpec::new().intensity(10))
        .process(ChildSpec::worker("flaky"), sh(&flaky))
        .start()
        .expect("valid tree");
    let lines = || std::fs::read_to_string(&starts).unwrap_or_default().lines().count();
    tokio::time::timeout(SAFETY, async {
        while lines() < 4 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the fourth run");
    let r = resources_until(&sup, |r| r.iter().all(|c| c.restarts == 3) && !r.is_empty()).await;
    assert_eq!(r.len(), 1, "only the live run: {r:?}");
    let live: u32 = std::fs::read_to_string(&starts)
        .expect("starts")
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("the live run's pid");
    // The group leader is the live run's guard, the program's parent.
    let stat = std::fs::read_to_string(format!("/proc/{live}/stat")).expect("the live run");
    let ppid: u32 = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok())
        .expect("a parent");
    assert_eq!(r[0].pid, ppid, "{r:?}");
    assert!(sup.shutdown().await.is_normal());
    assert_eq!(sup.resources().await, []);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A trace sink that panics at the first exit it is asked to write: a
/// panic inside the driver, as a bug in vigil would cause.
struct PanicsAtAnExit;

impl std::io::Write for PanicsAtAnExit {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if String::from_utf8_lossy(buf).contains("\"ev\":\"exited\"") {
            panic!("the sink broke");
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driver_panic_kills_every_live_run_and_ends_the_tree_with_the_panic() {
    let dir = std::env::temp_dir().join(format!("vigil-driver-panic-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let pid_file = dir.join("steady.pid");
    let _ = std::fs::remove_file(&pid_file);
    let steady = format!(
        "echo $$ > {p}.tmp; mv {p}.tmp {p}; exec sleep 1000",
        p = pid_file.display()
    );
    let go = dir.join("go");
    let _ = std::fs::remove_file(&go);
    let crasher = format!("while [ ! -e {g} ]; do sleep 0.02; done; exit 1", g = go.display());
    let mut spec = SupervisorSpec::new();
    spec.children = vec![ChildSpec::worker("steady").tag(0), ChildSpec::worker("crasher").tag(1)];
    let options = vigil_tokio::ProcessTreeOptions {
        trace: Some(Box::new(PanicsAtAnExit)),
        ..Default::default()
    };
    let sup = Tree::start_processes(spec, vec![sh(&steady), sh(&crasher)], options).expect("valid tree");
    let steady_pid: u32 = tokio::time::timeout(SAFETY, async {
        loop {
            if let Some(pid) = std::fs::read_to_string(&pid_file)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                return pid;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("steady runs");
    std::fs::write(&go, "").expect("go");
    let reason = tokio::time::timeout(SAFETY, sup.wait()).await.expect("the tree ends");
    assert_eq!(
        reason,
        vigil_core::ExitReason::Panic("driver panicked: the sink broke".into())
    );
    assert_eq!(
        sup.driver_panic(),
        Some(vigil_tokio::DriverPanic {
            message: "the sink broke".into()
        })
    );
    // The healthy sibling was killed (and reaped) before the tree was declared down.
    assert!(
        !std::path::Path::new(&format!("/proc/{steady_pid}")).exists(),
        "steady ({steady_pid}) outlived the driver"
    );
    assert_eq!(sup.resources().await, []);
    assert_eq!(
        sup.request(vigil_core::Request::WhichChildren { path: String::new() })
            .await,
        Err(vigil_core::RequestError::TreeDown)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Poll until what `weak` points at is dropped.
async fn dropped(weak: &std::sync::Weak<()>, what: &str) {
    tokio::time::timeout(SAFETY, async {
        while weak.upgrade().is_some() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: its closure was never dropped"));
}

/// A task closure that holds `$held` (its runs hold nothing of it) and
/// runs until stopped.
macro_rules! holding {
    ($held:ident) => {
        move |ctx: vigil_tokio::RunContext| {
            let _ = &$held;
            async move {
                ctx.stopped().await;
                Ok::<(), String>(())
            }
        }
    };
}

/// What a child runs goes with the child: the closure of a deleted child,
/// of a temporary child that ended, or of a child its supervisor no longer
/// has after it ended, is dropped (with everything it holds); the children
/// a supervisor builds again from its own spec keep theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_removed_child_ran_is_dropped_and_a_restarted_supervisor_keeps_its_own() {
    use std::sync::Arc;
    use vigil_core::{Request, Restart};
    let of_w = Arc::new(());
    let w_weak = Arc::downgrade(&of_w);
    let sup = Tree::new(SupervisorSpec::new())
        .supervisor(
            ChildSpec::supervisor("s", SupervisorSpec::new()),
            Children::new().task(ChildSpec::worker("w"), holding!(of_w)),
        )
        .start()
        .expect("valid tree");
    let request = |r: Request| {
        let sup = sup.clone();
        async move { tokio::time::timeout(SAFETY, sup.request(r)).await.expect("an answer") }
    };

    // Deleted.
    let held = Arc::new(());
    let weak = Arc::downgrade(&held);
    sup.start_task("", ChildSpec::worker("d"), holding!(held))
        .await
        .expect("d started");
    request(Request::TerminateChild { path: "d".into() })
        .await
        .expect("d stopped");
    request(Request::DeleteChild { path: "d".into() })
        .await
        .expect("d deleted");
    dropped(&weak, "a deleted child").await;

    // A temporary child that ended.
    let held = Arc::new(());
    let weak = Arc::downgrade(&held);
    let spec = ChildSpec::worker("t").restart(Restart::Temporary);
    sup.start_task("", spec, move |_ctx: vigil_tokio::RunContext| {
        let _ = &held;
        async { Ok::<(), String>(()) }
    })
    .await
    .expect("t started");
    dropped(&weak, "a temporary child that ended").await;

    // A child added to a nested supervisor, which then ended: it restarts
    // from its own spec, without that child, and with `w` as it was.
    let held = Arc::new(());
    let weak = Arc::downgrade(&held);
    sup.start_task("s", ChildSpec::worker("x"), holding!(held))
        .await
        .expect("s/x started");
    request(Request::TerminateChild { path: "s".into() })
        .await
        .expect("s stopped");
    dropped(&weak, "the child of a supervisor that ended").await;
    assert!(w_weak.upgrade().is_some(), "s/w's closure went with its run");
    request(Request::RestartChild { path: "s".into() })
        .await
        .expect("s restarted, s/w with it");
    assert!(sup.shutdown().await.is_normal());
    dropped(&w_weak, "s/w, once the tree is down").await;
}

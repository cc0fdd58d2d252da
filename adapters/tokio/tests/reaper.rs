//! The reaper beside a tree of processes: this test binary makes itself a
//! child subreaper (as `vigil run --init` does), so the orphans of its
//! children come to it, and runs a [`Reaper`]. Every orphan is reaped, and
//! no run of the tree loses its exit status to the reaper: vigil's own
//! children are registered (`own_children`) under the lock of their spawn.
//! A file of its own: the subreaper and the reaper are process-wide.

use std::time::{Duration, Instant};

use vigil_core::{ChildSpec, SupervisorSpec};
use vigil_tokio::reaper::{self, Reaper};
use vigil_tokio::{OutputMode, ProcessSpec, Tree};
use vigil_trace::SharedBuffer;

const SAFETY: Duration = Duration::from_secs(30);

async fn until(mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while !cond() {
        if start.elapsed() > SAFETY {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    true
}

/// This process's children in state `Z`.
fn zombies() -> Vec<String> {
    let me = std::process::id();
    let mut found = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{me}/task")).unwrap() {
        let kids = std::fs::read_to_string(task.unwrap().path().join("children")).unwrap_or_default();
        for pid in kids.split_whitespace() {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
            {
                found.push(stat);
            }
        }
    }
    found
}

/// The reasons of the `crasher`'s `exited` lines.
fn exits(trace: &SharedBuffer) -> Vec<String> {
    trace
        .text()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["ev"] == "exited" && v["path"] == "crasher")
        .map(|v| v["reason"].as_str().unwrap_or("?").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphans_are_reaped_and_no_run_loses_its_exit_status() {
    // The test binary does not call guard::enter_if_guard: each run is
    // forked directly, and its orphans come to this process.
    reaper::become_subreaper().expect("PR_SET_CHILD_SUBREAPER");
    let reaper = Reaper::start().expect("SIGCHLD");
    let trace = SharedBuffer::default();
    // Exits 3 at once, each run leaving two orphans behind (a `sleep`
    // whose parent, a subshell, has ended); restarted
    // without delay, so that exits and spawns overlap the reaper's sweeps.
    let mut crasher = ProcessSpec::new(["sh", "-c", "(sleep 0.001 &); (sleep 0.001 &); exit 3"]);
    crasher.output = OutputMode::Null;
    let tree = Tree::new(
        SupervisorSpec::new()
            .intensity(1_000_000)
            .period(Duration::from_secs(1)),
    )
    .process(ChildSpec::worker("crasher"), crasher)
    .trace(Box::new(trace.clone()))
    .start()
    .expect("valid tree");
    assert!(until(|| exits(&trace).len() >= 100).await, "{:?}", exits(&trace));
    assert!(tree.shutdown().await.is_normal());
    let exits = exits(&trace);
    // Every status reached its owner: none was taken by the reaper (that
    // would read `error(cannot wait for the process: ...)`). The last run
    // may have been stopped by the shutdown instead.
    let (last, crashes) = exits.split_last().expect("exits");
    assert!(
        crashes.iter().all(|r| r == "error(exit code 3)"),
        "{:?}",
        crashes
            .iter()
            .filter(|r| *r != "error(exit code 3)")
            .collect::<Vec<_>>()
    );
    assert!(last == "error(exit code 3)" || last == "shutdown", "{last}");
    // Every orphan (two a crashed run: each subshell ends before its
    // `sleep`, which it does not wait for) was reaped by the reaper.
    let orphans = 2 * crashes.len() as u64;
    assert!(
        until(|| reaper.reaped() >= orphans).await,
        "reaped {} of at least {orphans}",
        reaper.reaped()
    );
    assert!(until(|| zombies().is_empty()).await, "{:?}", zombies());
}

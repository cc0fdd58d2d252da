//! Acting as init: reap every child that is not vigil's own.
//!
//! As PID 1 of a container (or a child subreaper, `vigil run --init`),
//! vigil inherits every orphan of the tree, and of anything else started in
//! the container (`docker exec`), when its parent dies. Nobody else will
//! wait for those: without a reaper their zombies pile up. A [`Reaper`]
//! listens for SIGCHLD and, at each one (and every [`SWEEP_EVERY`] as a
//! safety net), sweeps: it lists this process's children
//! (`/proc/self/task/*/children`, else every `/proc/PID/stat` whose parent
//! is this process) and reaps each one that has ended and is not registered
//! in [`crate::own_children`]. vigil's own children (process guards,
//! directly forked programs) are left to their owners, which need their
//! exit status; a sweep holds the registry's lock, so a child being spawned
//! is registered before the sweep can see it.
//!
//! It reaps with `waitpid(pid, WNOHANG)` on each listed pid, never
//! `waitpid(-1)`, so it cannot take a child that is registered after the
//! listing. docs/ADAPTER.md, "Acting as init", has the whole design.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::signal::unix::{signal, SignalKind};

use crate::own_children;

/// How often a reaper sweeps without a SIGCHLD: a safety net for a child
/// listed inconsistently while others came and went (the kernel's
/// `children` list is not an atomic snapshot).
pub const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Whether this process is PID 1 of its PID namespace (a container's init).
#[must_use]
pub fn is_pid1() -> bool {
    std::process::id() == 1
}

/// Make this process a child subreaper (`PR_SET_CHILD_SUBREAPER`): the
/// orphans of its descendants are reparented to it instead of to init.
/// PID 1 needs no such call.
pub fn become_subreaper() -> io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(io::Error::from)
}

/// One sweep: reap every ended child of this process that is not
/// registered as vigil's own. Returns how many it reaped.
///
/// ```
/// // A test process has no orphans: nothing to reap.
/// assert_eq!(vigil_tokio::reaper::reap_orphans(), 0);
/// ```
#[must_use = "the count says whether anything was reaped"]
pub fn reap_orphans() -> usize {
    let own = own_children::lock();
    let mut reaped = 0;
    for pid in children() {
        if own.contains_key(&pid) {
            continue;
        }
        let Ok(raw) = i32::try_from(pid) else { continue };
        // An unregistered child of ours: nobody else waits for it. Still
        // running: `StillAlive`; already reaped (by whom?): ECHILD.
        match waitpid(Pid::from_raw(raw), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => {}
            Ok(_) => reaped += 1,
        }
    }
    reaped
}

/// The pids of this process's children: every thread's
/// `/proc/self/task/TID/children`, or, where the kernel has no such file
/// (`CONFIG_PROC_CHILDREN` off), every `/proc/PID/stat` whose parent is
/// this process.
fn children() -> Vec<u32> {
    children_by_task().unwrap_or_else(children_by_stat)
}

fn children_by_task() -> Option<Vec<u32>> {
    let mut pids = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").ok()? {
        let mut path = task.ok()?.path();
        path.push("children");
        match std::fs::read_to_string(&path) {
            Ok(text) => pids.extend(text.split_whitespace().filter_map(|p| p.parse::<u32>().ok())),
            // The thread ended meanwhile: its children are listed elsewhere.
            Err(e) if e.kind() == io::ErrorKind::NotFound && path.parent().is_some_and(|t| !t.exists()) => {}
            Err(_) => return None,
        }
    }
    Some(pids)
}

fn children_by_stat() -> Vec<u32> {
    crate::guard::children()
        .into_iter()
        .filter_map(|(pid, _)| u32::try_from(pid.as_raw()).ok())
        .collect()
}

/// A running reaper: a task that sweeps at every SIGCHLD and every
/// [`SWEEP_EVERY`]. It stops when dropped.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use vigil_tokio::reaper::Reaper;
///
/// let reaper = Reaper::start()?; // as PID 1, or after become_subreaper()
/// assert_eq!(reaper.reaped(), 0);
/// drop(reaper); // stops it
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
#[must_use = "the reaper stops when dropped"]
pub struct Reaper {
    task: tokio::task::JoinHandle<()>,
    reaped: Arc<AtomicU64>,
}

impl Reaper {
    /// Start reaping, on the current tokio runtime (its signal driver must
    /// be enabled). An error: no runtime, or SIGCHLD cannot be listened for.
    pub fn start() -> io::Result<Reaper> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other(
                "the reaper needs a tokio runtime (Reaper::start outside one)",
            ));
        }
        let mut sigchld = signal(SignalKind::child())?;
        let reaped = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&reaped);
        let task = tokio::spawn(async move {
            let mut every = tokio::time::interval(SWEEP_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                // Until a sweep finds nothing: a SIGCHLD stands for any
                // number of ended children.
                loop {
                    let n = reap_orphans();
                    if n == 0 {
                        break;
                    }
                    count.fetch_add(n as u64, Ordering::Relaxed);
                    tracing::debug!(target: "vigil::reaper", reaped = n, "reaped orphaned processes");
                }
                tokio::select! {
                    got = sigchld.recv() => if got.is_none() { return },
                    _ = every.tick() => {}
                }
            }
        });
        Ok(Reaper { task, reaped })
    }

    /// How many orphans this reaper has reaped so far.
    #[must_use]
    pub fn reaped(&self) -> u64 {
        self.reaped.load(Ordering::Relaxed)
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_a_runtime_the_reaper_is_an_error_not_a_panic() {
        let e = Reaper::start().unwrap_err();
        assert!(e.to_string().contains("tokio runtime"), "{e}");
    }

    #[test]
    fn this_process_children_are_listed_both_ways() {
        let mut child = std::process::Command::new("sleep").arg("10").spawn().unwrap();
        let pid = child.id();
        assert!(children_by_task().is_none_or(|c| c.contains(&pid)));
        assert!(children_by_stat().contains(&pid));
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

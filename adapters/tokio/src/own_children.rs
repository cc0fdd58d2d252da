//! The processes vigil spawned itself, by pid, so that a reaper acting as
//! init ([`crate::reaper`]) reaps every other child and never one of these.
//!
//! The rule: **every process vigil spawns itself is registered**, and stays
//! registered until its owner has waited for it. Registration happens in the
//! same critical section as the spawn ([`spawn_registered`]), and a sweep of
//! the reaper holds the same lock, so there is no moment when a child of
//! vigil exists, could be a zombie, and is not yet known: a program that
//! exits at once is still reaped by its owner (tokio's `Child::wait`), which
//! keeps its exit status. A pid stays registered while the returned
//! [`OwnChild`] lives; its owner drops it once the child has been waited
//! for, so a pid reused later by an orphan is not mistaken for vigil's own.
//! A pid may be registered more than once (counted): a late drop of an old
//! registration never unregisters a newer child that got the same pid.
//!
//! Spawn sites today: the process guard and the direct fork
//! (`spawn_process` in `process.rs`). docs/ADAPTER.md, "Acting as init",
//! states the rule for new ones.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// pid -> how many live registrations it has.
static OWN: Mutex<BTreeMap<u32, u32>> = Mutex::new(BTreeMap::new());

/// The registry, locked. A panic while it was held (none is possible in
/// this module) leaves the map consistent, so a poisoned lock is used as is.
pub(crate) fn lock() -> MutexGuard<'static, BTreeMap<u32, u32>> {
    OWN.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A registration of one process vigil spawned: the reaper leaves this pid
/// alone while the value lives. Drop it once the process has been waited
/// for (not before: the reaper could then take its exit status).
#[derive(Debug)]
#[must_use = "dropping the registration at once lets the reaper take the child's exit status"]
pub struct OwnChild {
    pid: u32,
}

impl OwnChild {
    /// The registered pid.
    #[must_use]
    pub fn pid(&self) -> u32 {
        self.pid
    }
}

impl Drop for OwnChild {
    fn drop(&mut self) {
        let mut own = lock();
        if let Some(count) = own.get_mut(&self.pid) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                own.remove(&self.pid);
            }
        }
    }
}

/// Spawn a process with `spawn` and register its pid (`pid_of` reads it
/// from what `spawn` returned) under one lock: the reaper cannot see the
/// child before it is registered.
///
/// ```
/// use vigil_tokio::own_children;
///
/// let (mut child, own) = own_children::spawn_registered(
///     || std::process::Command::new("true").spawn(),
///     std::process::Child::id,
/// )?;
/// assert!(own_children::is_own(own.pid()));
/// assert!(child.wait()?.success());
/// drop(own); // waited for: the pid is no longer vigil's
/// assert!(!own_children::is_own(child.id()));
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn spawn_registered<T, E>(
    spawn: impl FnOnce() -> Result<T, E>,
    pid_of: impl FnOnce(&T) -> u32,
) -> Result<(T, OwnChild), E> {
    let mut own = lock();
    let spawned = spawn()?;
    let pid = pid_of(&spawned);
    let count = own.entry(pid).or_insert(0);
    *count = count.saturating_add(1);
    Ok((spawned, OwnChild { pid }))
}

/// Whether `pid` is a registered process of vigil's own.
#[must_use]
pub fn is_own(pid: u32) -> bool {
    lock().contains_key(&pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registrations_of_one_pid_are_counted() {
        let fake = |pid: u32| spawn_registered(|| Ok::<u32, ()>(pid), |p| *p).map(|(_, own)| own);
        // A pid no real process of this test has (beyond pid_max).
        let pid = u32::MAX - 7;
        let first = fake(pid).unwrap();
        let second = fake(pid).unwrap();
        drop(first);
        assert!(is_own(pid), "the newer registration stays");
        drop(second);
        assert!(!is_own(pid));
    }

    #[test]
    fn a_failed_spawn_registers_nothing() {
        let failed = spawn_registered(|| Err::<u32, &str>("no"), |_| panic!("no pid to read"));
        assert_eq!(failed.unwrap_err(), "no");
    }
}

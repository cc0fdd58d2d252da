//! The process spawner's parked guards (`crate::guard_park`): at most one
//! per slot (vigil's path of a child), each kept for [`PARK_LIMIT`] at
//! most, and handed only its own slot's next run.
//!
//! **Why one slot, and only its own.** vigil signals a run's process group
//! (its guard's pid) until it has read the run's end; a guard handed to
//! another child could get a stop meant for the run it just ended. A
//! child's next run is only asked for after vigil has taken its last one's
//! end (the engine starts a child's next run after its exit), so a guard
//! handed back to the same child can no longer receive anything meant for
//! the run before.
//!
//! **Why a limit.** A parked guard is a process of about 50 KiB that waits;
//! the guard of a child that is not restarted (stopped, removed, waiting
//! out a long back-off) is retired after [`PARK_LIMIT`], so a tree holds no
//! more guards than children for long.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// How long a guard stays parked before the spawner retires it.
pub(crate) const PARK_LIMIT: Duration = Duration::from_secs(10);

/// A parked guard: its pid and the abstract address of its socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ParkedGuard {
    pub(crate) pid: i32,
    pub(crate) address: Vec<u8>,
}

/// The parked guards, by slot, and when each one's time is up.
#[derive(Debug, Default)]
pub(crate) struct GuardPool {
    parked: BTreeMap<String, (ParkedGuard, Instant)>,
    /// The slot of every parked guard, by pid.
    slots: BTreeMap<i32, String>,
    /// (deadline, slot, pid), in the order they were parked; an entry
    /// whose guard was taken or replaced since is skipped.
    deadlines: VecDeque<(Instant, String, i32)>,
}

impl GuardPool {
    /// Park `guard` for `slot` at `now`; the guard it replaces, if one was
    /// parked for the same slot (to be retired).
    pub(crate) fn park(&mut self, slot: String, guard: ParkedGuard, now: Instant) -> Option<ParkedGuard> {
        let deadline = now + PARK_LIMIT;
        self.deadlines.push_back((deadline, slot.clone(), guard.pid));
        self.slots.insert(guard.pid, slot.clone());
        let old = self.parked.insert(slot, (guard, deadline)).map(|(old, _)| old)?;
        self.slots.remove(&old.pid);
        Some(old)
    }

    /// Take the guard parked for `slot`, if any.
    pub(crate) fn take(&mut self, slot: &str) -> Option<ParkedGuard> {
        let (guard, _) = self.parked.remove(slot)?;
        self.slots.remove(&guard.pid);
        Some(guard)
    }

    /// Forget the parked guard `pid` (it died).
    pub(crate) fn forget(&mut self, pid: i32) {
        if let Some(slot) = self.slots.remove(&pid) {
            self.parked.remove(&slot);
        }
    }

    /// Take one guard whose time is up at `now`, if any.
    pub(crate) fn expired(&mut self, now: Instant) -> Option<ParkedGuard> {
        while let Some((deadline, slot, pid)) = self.deadlines.front() {
            if *deadline > now {
                return None;
            }
            let current = self
                .parked
                .get(slot)
                .is_some_and(|(g, d)| g.pid == *pid && d == deadline);
            let slot = slot.clone();
            self.deadlines.pop_front();
            if current {
                return self.take(&slot);
            }
        }
        None
    }

    /// When the next parked guard's time is up.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        // Skip stale entries first, so that a taken guard does not wake
        // the spawner for nothing.
        while let Some((deadline, slot, pid)) = self.deadlines.front() {
            if self
                .parked
                .get(slot)
                .is_some_and(|(g, d)| g.pid == *pid && d == deadline)
            {
                return Some(*deadline);
            }
            self.deadlines.pop_front();
        }
        None
    }

    /// How many guards are parked.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.parked.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(pid: i32) -> ParkedGuard {
        ParkedGuard {
            pid,
            address: vec![pid as u8],
        }
    }

    #[test]
    fn a_slot_gets_its_own_guard_back_once() {
        let now = Instant::now();
        let mut pool = GuardPool::default();
        assert_eq!(pool.park("a".into(), guard(10), now), None);
        assert_eq!(pool.park("b".into(), guard(11), now), None);
        assert_eq!(pool.take("c"), None);
        assert_eq!(pool.take("a"), Some(guard(10)));
        assert_eq!(pool.take("a"), None);
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn a_second_guard_for_a_slot_replaces_the_first() {
        let now = Instant::now();
        let mut pool = GuardPool::default();
        pool.park("a".into(), guard(10), now);
        assert_eq!(pool.park("a".into(), guard(12), now), Some(guard(10)));
        assert_eq!(pool.take("a"), Some(guard(12)));
    }

    #[test]
    fn guards_expire_in_the_order_they_were_parked_and_taken_ones_never() {
        let start = Instant::now();
        let mut pool = GuardPool::default();
        pool.park("a".into(), guard(1), start);
        pool.park("b".into(), guard(2), start + Duration::from_secs(1));
        pool.park("c".into(), guard(3), start + Duration::from_secs(2));
        assert_eq!(pool.take("a"), Some(guard(1)));
        pool.forget(3);
        assert_eq!(pool.next_deadline(), Some(start + Duration::from_secs(1) + PARK_LIMIT));
        assert_eq!(pool.expired(start + PARK_LIMIT), None);
        let late = start + PARK_LIMIT + Duration::from_secs(5);
        assert_eq!(pool.expired(late), Some(guard(2)));
        assert_eq!(pool.expired(late), None);
        assert_eq!(pool.next_deadline(), None);
        assert_eq!(pool.len(), 0);
    }

    #[test]
    fn a_guard_parked_again_gets_a_new_deadline() {
        let start = Instant::now();
        let mut pool = GuardPool::default();
        pool.park("a".into(), guard(1), start);
        pool.take("a");
        pool.park("a".into(), guard(1), start + Duration::from_secs(8));
        assert_eq!(pool.expired(start + PARK_LIMIT), None);
        assert_eq!(pool.next_deadline(), Some(start + Duration::from_secs(8) + PARK_LIMIT));
    }
}

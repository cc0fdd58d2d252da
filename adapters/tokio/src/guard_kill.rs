//! How the process spawner asks a forked guard to end its run, or to stop
//! waiting for another one: a queued real-time signal to the guard's pid
//! (`sigqueue`) carrying a value.
//!
//! The guards share one report socket with the spawner (see
//! `crate::spawner_process`), so a Kill cannot be the end of file of a
//! socket of the guard's own. The guard has every signal blocked and reads
//! [`kill_signal`] from its `signalfd`; it obeys it only when it was queued
//! (`SI_QUEUE`) by its parent, and only for what the value names:
//!
//! | value | meaning |
//! |---|---|
//! | a run's key | end that run (vigil's Kill); ignored once the guard runs another (a Kill that came late) |
//! | [`RETIRE_VALUE`] | a parked guard (`crate::guard_park`) exits instead of waiting for another run |
//!
//! The same signal sent to the run's process group by anyone else (`ctl
//! signal`, a program) is ignored. A real-time signal is queued once per
//! send, never merged with a pending one. A run's key is never 0 or 1
//! (`crate::spawner_protocol::FIRST_KEY`), so no Kill reads as a retirement.

use nix::errno::Errno;
use nix::sys::signal::SigSet;
use nix::unistd::Pid;

/// The value that retires a parked guard.
pub(crate) const RETIRE_VALUE: u64 = 1;

// No run key reads as a retirement.
const _: () = assert!(RETIRE_VALUE < crate::spawner_protocol::FIRST_KEY);

/// The signal of a Kill: the first real-time signal the C library leaves
/// to applications.
pub(crate) fn kill_signal() -> libc::c_int {
    libc::SIGRTMIN()
}

/// Queue a Kill of the run `key` to the guard `guard` (a child of this
/// process, not reaped yet, so its pid is still its own).
pub(crate) fn request_kill(guard: Pid, key: u64) -> Result<(), Errno> {
    queue(guard, key)
}

/// Queue a retirement to the parked guard `guard`.
pub(crate) fn request_retire(guard: Pid) -> Result<(), Errno> {
    queue(guard, RETIRE_VALUE)
}

fn queue(guard: Pid, value: u64) -> Result<(), Errno> {
    let value = libc::sigval {
        sival_ptr: value as usize as *mut libc::c_void,
    };
    // SAFETY: `sigqueue` takes plain values.
    #[allow(unsafe_code)]
    let sent = unsafe { libc::sigqueue(guard.as_raw(), kill_signal(), value) };
    Errno::result(sent).map(drop)
}

/// The value of `info` (read from a `signalfd`) if it is [`kill_signal`]
/// queued by this process's parent: a run's key or [`RETIRE_VALUE`].
pub(crate) fn request_value(info: &libc::signalfd_siginfo) -> Option<u64> {
    (info.ssi_signo == kill_signal() as u32
        && info.ssi_code == libc::SI_QUEUE
        && info.ssi_pid == nix::unistd::getppid().as_raw() as u32)
        .then_some(info.ssi_ptr)
}

/// The signal a forked guard gets when the spawner, its parent, dies
/// (`PR_SET_PDEATHSIG`): the next real-time signal after [`kill_signal`].
/// A guard reads it on its `signalfd` and takes it as the spawner's death
/// only if its parent did change ([`orphaned`]): the same signal sent by
/// anyone else changes nothing. It replaces watching the report socket
/// for its end of file, which put every guard on that one socket's wait
/// queue: each packet the spawner read then walked all of them (O(N) per
/// message, docs/ADAPTER.md).
pub(crate) fn death_signal() -> libc::c_int {
    libc::SIGRTMIN() + 1
}

/// The spawner's pid, in a forked guard (0 in any other process).
static SPAWNER: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// In a forked guard whose parent is `spawner`: get [`death_signal`] when
/// the spawner dies. `false` if it died already (the guard has nobody to
/// answer to) or the signal cannot be asked for.
pub(crate) fn watch_spawner(spawner: Pid) -> bool {
    SPAWNER.store(spawner.as_raw(), std::sync::atomic::Ordering::Relaxed);
    // SAFETY: `prctl(PR_SET_PDEATHSIG)` takes a plain signal number (nix's
    // `Signal` has no real-time ones).
    #[allow(unsafe_code)]
    let set = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, death_signal() as libc::c_ulong, 0, 0, 0) };
    set == 0 && nix::unistd::getppid() == spawner
}

/// Whether this forked guard's spawner is gone (its parent changed).
pub(crate) fn orphaned() -> bool {
    let spawner = SPAWNER.load(std::sync::atomic::Ordering::Relaxed);
    spawner != 0 && nix::unistd::getppid().as_raw() != spawner
}

/// `signals` with [`kill_signal`] and [`death_signal`] added.
pub(crate) fn with_kill_signal(signals: &SigSet) -> SigSet {
    let mut raw: libc::sigset_t = *signals.as_ref();
    // SAFETY: `raw` is an initialized `sigset_t` (a copy of `signals`), and
    // both are valid signal numbers.
    #[allow(unsafe_code)]
    unsafe {
        libc::sigaddset(&mut raw, kill_signal());
        libc::sigaddset(&mut raw, death_signal());
        SigSet::from_sigset_t_unchecked(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kill_signal_is_added_to_a_set_and_is_real_time() {
        let mut set = SigSet::empty();
        set.add(nix::sys::signal::Signal::SIGCHLD);
        let with = with_kill_signal(&set);
        assert!(with.contains(nix::sys::signal::Signal::SIGCHLD));
        // SAFETY: a plain query of an initialized set.
        #[allow(unsafe_code)]
        let member = unsafe { libc::sigismember(with.as_ref(), kill_signal()) };
        assert_eq!(member, 1);
        assert!(kill_signal() >= libc::SIGRTMIN() && kill_signal() <= libc::SIGRTMAX());
    }
}

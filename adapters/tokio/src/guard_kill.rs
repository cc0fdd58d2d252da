//! How the process spawner asks a forked guard to end its run: a queued
//! real-time signal to the guard's pid (`sigqueue`) carrying a fixed value.
//!
//! The guards share one report socket with the spawner (see
//! `crate::spawner_process`), so a Kill cannot be the end of file of a
//! socket of the guard's own any more. The guard has every signal blocked
//! and reads [`kill_signal`] from its `signalfd`; it takes it as a Kill only
//! when it was queued (`SI_QUEUE`) by its parent with [`KILL_VALUE`]: the
//! same signal sent to the run's process group by anyone else (`ctl
//! signal`, a program) is ignored. A real-time signal is queued once per
//! send, never merged with a pending one.

use nix::errno::Errno;
use nix::sys::signal::SigSet;
use nix::unistd::Pid;

/// The value queued with the signal.
pub(crate) const KILL_VALUE: usize = 0x7669_6769_6c4b; // "vigilK"

/// The signal of a Kill: the first real-time signal the C library leaves
/// to applications.
pub(crate) fn kill_signal() -> libc::c_int {
    libc::SIGRTMIN()
}

/// Queue a Kill to the guard `guard` (a child of this process, not reaped
/// yet, so its pid is still its own).
pub(crate) fn request_kill(guard: Pid) -> Result<(), Errno> {
    let value = libc::sigval {
        sival_ptr: KILL_VALUE as *mut libc::c_void,
    };
    // SAFETY: `sigqueue` takes plain values.
    #[allow(unsafe_code)]
    let sent = unsafe { libc::sigqueue(guard.as_raw(), kill_signal(), value) };
    Errno::result(sent).map(drop)
}

/// Whether `info` (read from a `signalfd`) is a Kill from this process's
/// parent.
pub(crate) fn is_kill_request(info: &libc::signalfd_siginfo) -> bool {
    info.ssi_signo == kill_signal() as u32
        && info.ssi_code == libc::SI_QUEUE
        && info.ssi_pid == nix::unistd::getppid().as_raw() as u32
        && info.ssi_ptr == KILL_VALUE as u64
}

/// `signals` with [`kill_signal`] added.
pub(crate) fn with_kill_signal(signals: &SigSet) -> SigSet {
    let mut raw: libc::sigset_t = *signals.as_ref();
    // SAFETY: `raw` is an initialized `sigset_t` (a copy of `signals`), and
    // `kill_signal` is a valid signal number.
    #[allow(unsafe_code)]
    unsafe {
        libc::sigaddset(&mut raw, kill_signal());
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

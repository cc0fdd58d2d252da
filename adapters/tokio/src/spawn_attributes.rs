//! The `posix_spawn` file actions and attributes of a guarded program
//! (`crate::guard`): stdin `/dev/null`, an empty signal mask, SIGPIPE at its
//! default action.
//!
//! They are made (which allocates: glibc keeps the file actions in a heap
//! array and copies the path) before the process spawner forks the guard,
//! not in the guard: every heap page a forked guard writes becomes a
//! private copy of its own, so a guard that allocates nothing to spawn its
//! program costs less memory (docs/ADAPTER.md, "What a guard costs").

use std::ffi::CStr;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::Pid;

/// Initialized `posix_spawn_file_actions_t` and `posix_spawnattr_t`, boxed
/// so that they never move once initialized; destroyed on drop.
pub(crate) struct SpawnAttributes {
    actions: Box<libc::posix_spawn_file_actions_t>,
    attr: Box<libc::posix_spawnattr_t>,
}

fn check(ret: libc::c_int) -> Result<(), Errno> {
    if ret == 0 {
        Ok(())
    } else {
        Err(Errno::from_raw(ret))
    }
}

impl SpawnAttributes {
    /// stdin `/dev/null` (stdout and stderr inherited), an empty signal mask
    /// and SIGPIPE reset to its default action.
    #[allow(unsafe_code)]
    pub(crate) fn new() -> Result<SpawnAttributes, Errno> {
        // SAFETY: both are plain C structs for which all-zero bytes are a
        // valid (if uninitialized) value; each is initialized by its
        // `_init` before any other use, and from then on destroyed exactly
        // once (by `drop`, or here if the other's `_init` fails). The boxes
        // keep them in place.
        unsafe {
            let mut actions: Box<libc::posix_spawn_file_actions_t> = Box::new(std::mem::zeroed());
            let mut attr: Box<libc::posix_spawnattr_t> = Box::new(std::mem::zeroed());
            check(libc::posix_spawn_file_actions_init(&mut *actions))?;
            if let Err(e) = check(libc::posix_spawnattr_init(&mut *attr)) {
                libc::posix_spawn_file_actions_destroy(&mut *actions);
                return Err(e);
            }
            let made = SpawnAttributes { actions, attr };
            made.set()?;
            Ok(made)
        }
    }

    #[allow(unsafe_code)]
    unsafe fn set(&self) -> Result<(), Errno> {
        let (actions, attr) = (
            std::ptr::from_ref(&*self.actions).cast_mut(),
            std::ptr::from_ref(&*self.attr).cast_mut(),
        );
        let empty = SigSet::empty();
        let mut defaults = SigSet::empty();
        defaults.add(Signal::SIGPIPE);
        let flags = (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short;
        check(libc::posix_spawn_file_actions_addopen(
            actions,
            libc::STDIN_FILENO,
            c"/dev/null".as_ptr(),
            libc::O_RDONLY,
            0,
        ))?;
        check(libc::posix_spawnattr_setsigmask(attr, empty.as_ref()))?;
        check(libc::posix_spawnattr_setsigdefault(attr, defaults.as_ref()))?;
        check(libc::posix_spawnattr_setflags(attr, flags))
    }

    /// `posix_spawnp(file, argv, envp)` with these attributes: the pid.
    ///
    /// # Safety
    ///
    /// `argv` and `envp` point to NULL-terminated arrays of pointers to C
    /// strings, all live for the call.
    #[allow(unsafe_code)]
    pub(crate) unsafe fn spawnp(
        &self,
        file: &CStr,
        argv: *const *mut libc::c_char,
        envp: *const *mut libc::c_char,
    ) -> Result<Pid, Errno> {
        let mut pid: libc::pid_t = 0;
        check(libc::posix_spawnp(
            &mut pid,
            file.as_ptr(),
            &*self.actions,
            &*self.attr,
            argv,
            envp,
        ))?;
        Ok(Pid::from_raw(pid))
    }
}

impl Drop for SpawnAttributes {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: both were initialized in `new` and are destroyed once.
        unsafe {
            libc::posix_spawnattr_destroy(&mut *self.attr);
            libc::posix_spawn_file_actions_destroy(&mut *self.actions);
        }
    }
}

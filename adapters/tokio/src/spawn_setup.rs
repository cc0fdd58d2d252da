//! What the program's own process does between `fork` and `exec` when a
//! child has identity settings (docs/ADAPTER.md, "Identity, limits and
//! cgroups"): join its cgroup, set its resource limits, its supplementary
//! groups, group and user, and its umask.
//!
//! They are applied in the **program's** process, never in the guard's: the
//! guard stays vigil's user, so that a program that dropped its privileges
//! can neither signal nor ptrace the guard that kills its group.
//! `posix_spawnp` cannot change a user, so a run with any of these settings
//! is started with `fork` and `execvpe` instead ([`PreparedSetup::spawn`]),
//! with what `posix_spawnp` gives every other run: stdin `/dev/null`, the
//! guard's process group, an empty signal mask and SIGPIPE at its default
//! action. A run without them keeps `posix_spawnp` and pays nothing.
//!
//! The child reports a failure through a close-on-exec pipe: which step
//! failed and its errno. End of file on the pipe means the `exec`
//! succeeded.
//!
//! A run whose program gets systemd's watchdog variables (a worker with a
//! `health_timeout`) is started this way too: `WATCHDOG_PID` must be the
//! program's own pid, which only the forked process knows before its
//! `exec` (libsystemd's `sd_watchdog_enabled()` ignores the watchdog when
//! `WATCHDOG_PID` names another process). The child writes its pid into a
//! buffer prepared before the fork: no allocation after it.

use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use nix::errno::Errno;
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::guard::{self, Failure};

/// The identity settings of one run, as vigil sends them to the spawner
/// (one field of `SpawnRequest`): numeric ids, resolved by vigil at each
/// start (`crate::identity`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SpawnSetup {
    /// The user id to run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) uid: Option<u32>,
    /// The group id to run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) gid: Option<u32>,
    /// The supplementary groups (`setgroups`); `None`: unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) groups: Option<Vec<u32>>,
    /// The file mode creation mask.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) umask: Option<u32>,
    /// Resource limits: the `RLIMIT_*` number, soft and hard
    /// (`u64::MAX`: unlimited).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) rlimits: Vec<(u32, u64, u64)>,
    /// The `cgroup.procs` file of the run's cgroup, which the program's
    /// process writes itself into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cgroup_procs: Option<PathBuf>,
    /// Start from an empty environment instead of the spawner's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) clear_env: bool,
    /// Set `WATCHDOG_PID` to the program's own pid.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub(crate) watchdog_pid: bool,
}

impl SpawnSetup {
    /// Whether nothing is set (then the request does not carry it).
    pub(crate) fn is_default(&self) -> bool {
        *self == SpawnSetup::default()
    }

    /// Whether the program's process must be changed before `exec` (then
    /// it is started with `fork` and `execvpe`, not `posix_spawnp`).
    pub(crate) fn changes_process(&self) -> bool {
        self.uid.is_some()
            || self.gid.is_some()
            || self.groups.is_some()
            || self.umask.is_some()
            || !self.rlimits.is_empty()
            || self.cgroup_procs.is_some()
            || self.watchdog_pid
    }

    /// The setup ready to be applied in a forked process (every string
    /// already a C string); `None` when nothing changes the process.
    pub(crate) fn prepare(&self) -> Result<Option<PreparedSetup>, String> {
        if !self.changes_process() {
            return Ok(None);
        }
        let cgroup_procs = match &self.cgroup_procs {
            Some(path) => Some(
                CString::new(path.as_os_str().as_bytes())
                    .map_err(|_| "the cgroup path contains a NUL byte".to_owned())?,
            ),
            None => None,
        };
        Ok(Some(PreparedSetup {
            uid: self.uid,
            gid: self.gid,
            groups: self.groups.clone(),
            umask: self.umask,
            rlimits: self.rlimits.clone(),
            cgroup_procs,
            watchdog_pid: self.watchdog_pid,
        }))
    }
}

/// One step of the setup, named in the failure message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Step {
    Stdin = 1,
    Cgroup,
    Limit,
    Groups,
    Group,
    User,
    Signals,
    Exec,
}

impl Step {
    const ALL: [Step; 8] = [
        Step::Stdin,
        Step::Cgroup,
        Step::Limit,
        Step::Groups,
        Step::Group,
        Step::User,
        Step::Signals,
        Step::Exec,
    ];

    fn what(self) -> &'static str {
        match self {
            Step::Stdin => "cannot open /dev/null as the program's stdin",
            Step::Cgroup => "cannot move the program into its cgroup (cgroup.procs)",
            Step::Limit => "cannot set a resource limit (setrlimit)",
            Step::Groups => "cannot set the supplementary groups (setgroups)",
            Step::Group => "cannot set the group id (setgid)",
            Step::User => "cannot set the user id (setuid)",
            Step::Signals => "cannot reset the signal mask",
            Step::Exec => "cannot execute the program",
        }
    }
}

/// A [`SpawnSetup`] ready for a forked process: applied with system calls
/// only (no allocation, no lock) between `fork` and `exec`.
#[derive(Debug)]
pub(crate) struct PreparedSetup {
    uid: Option<u32>,
    gid: Option<u32>,
    groups: Option<Vec<u32>>,
    umask: Option<u32>,
    rlimits: Vec<(u32, u64, u64)>,
    cgroup_procs: Option<CString>,
    watchdog_pid: bool,
}

impl PreparedSetup {
    /// Apply the setup to the calling process (a forked child before its
    /// `exec`): cgroup, resource limits (before the user changes: raising a
    /// hard limit needs the privilege), groups, group, user, umask.
    ///
    /// # Safety
    /// Call only in a forked child that is about to `exec` or `_exit`: it
    /// changes the process's credentials and limits.
    #[allow(unsafe_code)]
    pub(crate) unsafe fn apply(&self) -> Result<(), (u8, i32)> {
        let fail = |step: Step| Err((step as u8, Errno::last_raw()));
        if let Some(path) = &self.cgroup_procs {
            let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 || libc::write(fd, c"0".as_ptr().cast(), 1) != 1 {
                return fail(Step::Cgroup);
            }
            libc::close(fd);
        }
        for &(resource, soft, hard) in &self.rlimits {
            let limit = libc::rlimit {
                rlim_cur: soft as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            };
            if libc::setrlimit(resource as _, &limit) != 0 {
                return fail(Step::Limit);
            }
        }
        if let Some(groups) = &self.groups {
            if libc::setgroups(groups.len(), groups.as_ptr()) != 0 {
                return fail(Step::Groups);
            }
        }
        if let Some(gid) = self.gid {
            if libc::setgid(gid) != 0 {
                return fail(Step::Group);
            }
        }
        if let Some(uid) = self.uid {
            if libc::setuid(uid) != 0 {
                return fail(Step::User);
            }
        }
        if let Some(mask) = self.umask {
            libc::umask(mask as libc::mode_t);
        }
        Ok(())
    }

    /// In the guard: start `argv` with the environment `envp` (both
    /// NULL-terminated arrays of C strings) in a forked process that
    /// applies this setup before `execvpe` (see the module docs), with
    /// `WATCHDOG_PID` added when asked. An `exec` failure is its errno (reported as `exec-failed`,
    /// like `posix_spawnp`'s); a setup failure makes the guard give up with
    /// the step that failed (`failed <message>`), after reaping the child.
    #[allow(unsafe_code)]
    pub(crate) fn spawn(&self, argv: &[*mut libc::c_char], envp: &[*mut libc::c_char]) -> Result<Pid, Errno> {
        // Both arrays end with NULL: keep it for argv, put it back after
        // the watchdog's variable for envp.
        let argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|a| a.cast_const()).collect();
        let mut envp_ptrs: Vec<*const libc::c_char> = envp
            .iter()
            .take_while(|a| !a.is_null())
            .map(|a| a.cast_const())
            .collect();
        // `WATCHDOG_PID=` and room for any pid and the NUL, filled in by the
        // child (`write_pid`).
        let mut watchdog = *b"WATCHDOG_PID=\0\0\0\0\0\0\0\0\0\0\0\0";
        let watchdog_var = if self.watchdog_pid {
            let var = watchdog.as_mut_ptr();
            envp_ptrs.push(var.cast_const().cast());
            Some(var)
        } else {
            None
        };
        envp_ptrs.push(std::ptr::null());
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        // SAFETY: the guard is single-threaded: the child is a complete
        // copy of it, and calls only system calls before `exec` or `_exit`.
        let pid = unsafe { libc::fork() };
        if pid == -1 {
            return Err(Errno::last());
        }
        if pid == 0 {
            drop(read);
            // SAFETY: in the forked child, which execs or exits.
            unsafe {
                if let Some(var) = watchdog_var {
                    write_pid(var.add(b"WATCHDOG_PID=".len()), libc::getpid());
                }
                self.child(std::os::fd::AsRawFd::as_raw_fd(&write), &argv_ptrs, &envp_ptrs)
            }
        }
        drop(write);
        let mut report = [0u8; 5];
        let got = read_full(std::os::fd::AsRawFd::as_raw_fd(&read), &mut report);
        if got == 0 {
            return Ok(Pid::from_raw(pid));
        }
        // The child failed and exits: reap it, then say why.
        let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
        let errno = Errno::from_raw(i32::from_ne_bytes([report[1], report[2], report[3], report[4]]));
        let step = Step::ALL
            .into_iter()
            .find(|s| *s as u8 == report[0])
            .unwrap_or(Step::Exec);
        if step == Step::Exec {
            return Err(errno);
        }
        guard::give_up(&Failure::sys(step.what())(errno))
    }

    /// The forked child: stdin, setup, signals, `execvpe`; on a failure,
    /// write the step and errno to `report` and `_exit(127)`.
    #[allow(unsafe_code)]
    unsafe fn child(&self, report: RawFd, argv: &[*const libc::c_char], envp: &[*const libc::c_char]) -> ! {
        let failed = |step: u8, errno: i32| -> ! {
            let e = errno.to_ne_bytes();
            let bytes = [step, e[0], e[1], e[2], e[3]];
            libc::write(report, bytes.as_ptr().cast(), bytes.len());
            libc::_exit(guard::EXIT_EXEC_FAILED)
        };
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY);
        if null < 0 || (null != 0 && (libc::dup2(null, 0) < 0 || libc::close(null) < 0)) {
            failed(Step::Stdin as u8, Errno::last_raw());
        }
        if let Err((step, errno)) = self.apply() {
            failed(step, errno);
        }
        let mut empty = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        libc::sigemptyset(empty.as_mut_ptr());
        if libc::signal(libc::SIGPIPE, libc::SIG_DFL) == libc::SIG_ERR
            || libc::sigprocmask(libc::SIG_SETMASK, empty.as_ptr(), std::ptr::null_mut()) != 0
        {
            failed(Step::Signals as u8, Errno::last_raw());
        }
        libc::execvpe(argv[0], argv.as_ptr(), envp.as_ptr());
        failed(Step::Exec as u8, Errno::last_raw())
    }
}

/// Write `pid` in decimal, then a NUL, at `at` (room for 11 bytes).
///
/// # Safety
/// `at` must point at 11 writable bytes.
#[allow(unsafe_code)]
unsafe fn write_pid(at: *mut u8, pid: libc::pid_t) {
    let mut digits = [0u8; 10];
    let mut n = pid.unsigned_abs();
    let mut len = 0;
    loop {
        digits[len] = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
        if n == 0 || len == digits.len() {
            break;
        }
    }
    for i in 0..len {
        *at.add(i) = digits[len - 1 - i];
    }
    *at.add(len) = 0;
}

/// Read into `buf` until it is full or at end of file: the bytes read.
fn read_full(fd: RawFd, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        match nix::unistd::read(fd, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(Errno::EINTR) => {}
            Err(_) => break,
        }
    }
    got
}

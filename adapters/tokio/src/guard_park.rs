//! A forked guard between two runs of the same child: it **parks**
//! instead of exiting, and the process spawner hands it that child's next
//! run, so that a restart costs neither the guard's exit and reaping nor
//! the `fork` and setup of a new guard (docs/ADAPTER.md, "Parked guards").
//!
//! A guard forked for a request that names a `slot` (vigil's path of the
//! child) makes a datagram socket of its own while its first program runs
//! (`autobind`: an abstract name the kernel chooses, which nobody can take
//! before it). At the end of each run it writes
//! `parked <status> <address> <slot>` on the report socket instead of
//! `status <status>`: the run's end and where the next run can come from,
//! in one packet, so that the spawner has parked it before vigil asks for
//! the child's next run. Then it closes the run's output (fds 1 and 2 become
//! `/dev/null`), changes to `/`, and waits for one of:
//!
//! - a **hand-off** on that socket: the spawner's `spawn <key> <json>`
//!   request, as vigil sent it, with the run's stdout and stderr
//!   descriptors (the spawner's own for an inherited stream). It is taken
//!   only from the guard's parent (`SO_PASSCRED`: the kernel's
//!   credentials of the sender); anything else is dropped, its
//!   descriptors closed;
//! - a **retirement** (`crate::guard_kill::RETIRE_VALUE` queued by its
//!   parent): the guard exits 0;
//! - the spawner's death (`crate::guard_kill::death_signal`): it exits.
//!
//! A stale Kill of the run that just ended (queued before its end) is
//! read and ignored. The spawner keeps one parked guard per slot, for a
//! limited time (`crate::guard_pool`).

use std::ffi::CStr;
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signalfd::SignalFd;
use nix::sys::socket::{self, ControlMessageOwned, MsgFlags};

use crate::guard::{self, Failure, Program};
use crate::spawn_attributes::SpawnAttributes;
use crate::spawner_protocol::{Request, SpawnRequest, Stream};

/// What a forked guard needs to take later runs: the child it serves, and
/// what the spawner builds every program from (borrowed from the
/// spawner's memory, which the guard has a copy of).
pub(crate) struct Reuse<'a> {
    /// The child the guard serves (vigil's path of it), the same for
    /// every run it is handed.
    pub(crate) slot: &'a str,
    /// The spawner's environment, the base of every program's.
    pub(crate) environment: &'a [&'static CStr],
    /// How every program is spawned.
    pub(crate) attributes: &'a SpawnAttributes,
    /// The spawner's working directory: a run's without `cwd`.
    pub(crate) home: &'a CStr,
}

/// A parked guard's socket: where its next run comes from.
pub(crate) struct ParkSocket {
    fd: OwnedFd,
    /// The abstract name the kernel gave it (without the leading NUL; 5
    /// hexadecimal digits in Linux), in `address[..len]`: kept off the
    /// heap, which a guard does not touch while its program runs (every
    /// page it writes is a page of its own).
    address: [u8; ADDRESS_MAX],
    len: usize,
}

/// The longest abstract name a park socket may get.
const ADDRESS_MAX: usize = 32;

/// The `parked` line of a run's end, formatted where it is sent.
pub(crate) struct ParkedLine<'a> {
    status: i32,
    address: &'a [u8],
    slot: &'a str,
}

impl std::fmt::Display for ParkedLine<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        guard::write_parked(f, self.status, self.address, self.slot)
    }
}

impl ParkSocket {
    /// A new datagram socket with a name of the kernel's choosing, every
    /// datagram tagged with its sender's credentials.
    pub(crate) fn bind() -> Result<ParkSocket, Errno> {
        // Plain system calls: this runs in the guard while its program
        // runs, where every stack page it reaches is a page of its own.
        // SAFETY: a new socket owned here; `address` is a `sockaddr_un`
        // with only its family set and that length for `bind` (the
        // kernel's autobind, unix(7)), then filled by `getsockname`
        // within its size.
        #[allow(unsafe_code)]
        unsafe {
            let flags = libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK;
            let fd = OwnedFd::from_raw_fd(Errno::result(libc::socket(libc::AF_UNIX, flags, 0))?);
            let on: libc::c_int = 1;
            let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            let set = libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PASSCRED,
                (&raw const on).cast(),
                size,
            );
            Errno::result(set)?;
            let mut address: libc::sockaddr_un = std::mem::zeroed();
            address.sun_family = libc::AF_UNIX as libc::sa_family_t;
            let family = std::mem::size_of::<libc::sa_family_t>() as libc::socklen_t;
            Errno::result(libc::bind(fd.as_raw_fd(), (&raw const address).cast(), family))?;
            let mut len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
            Errno::result(libc::getsockname(fd.as_raw_fd(), (&raw mut address).cast(), &mut len))?;
            // An abstract name: a NUL, then the name (not NUL-terminated).
            let name_len = (len as usize).saturating_sub(family as usize + 1);
            if name_len == 0 || name_len > ADDRESS_MAX || address.sun_path[0] != 0 {
                return Err(Errno::EAFNOSUPPORT);
            }
            let mut name = [0; ADDRESS_MAX];
            for (to, from) in name.iter_mut().zip(&address.sun_path[1..=name_len]) {
                *to = *from as u8;
            }
            Ok(ParkSocket {
                fd,
                address: name,
                len: name_len,
            })
        }
    }

    /// Whether the `parked` line for `slot` fits in what the spawner
    /// reads whole (a guard whose does not exits after its run).
    pub(crate) fn fits(&self, slot: &str) -> bool {
        2 * (slot.len() + self.len) + 32 <= crate::spawner_process::REPORT_MAX
    }

    /// The line that ends a run with the raw wait status `status` and
    /// parks the guard for `slot` at this socket.
    pub(crate) fn line<'a>(&'a self, status: i32, slot: &'a str) -> ParkedLine<'a> {
        ParkedLine {
            status,
            address: &self.address[..self.len],
            slot,
        }
    }

    /// One hand-off from the guard's parent, if one is waiting: its key,
    /// its request and its output descriptors. Anything else waiting is
    /// dropped.
    fn receive(&self) -> Option<Handoff> {
        loop {
            let len = match socket::recv(self.fd.as_raw_fd(), &mut [], MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC) {
                Ok(len) => len,
                Err(Errno::EINTR) => continue,
                Err(_) => return None,
            };
            let mut buffer = vec![0u8; len.max(1)];
            let mut cmsg = nix::cmsg_space!(socket::UnixCredentials, [RawFd; 2]);
            let mut iov = [IoSliceMut::new(&mut buffer)];
            let (len, sender, fds) = match socket::recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(msg) => {
                    let (sender, fds) = credentials_and_descriptors(msg.cmsgs().into_iter().flatten());
                    (msg.bytes, sender, fds)
                }
                Err(Errno::EINTR) => continue,
                Err(_) => return None,
            };
            if sender != Some(nix::unistd::getppid().as_raw()) {
                continue; // not the spawner's: dropped, descriptors closed
            }
            if let Some(Request::Spawn(key, request)) = Request::decode(&buffer[..len]) {
                return Some(Handoff { key, request, fds });
            }
        }
    }
}

/// The sender's pid and the descriptors of one datagram's control messages.
fn credentials_and_descriptors(cmsgs: impl Iterator<Item = ControlMessageOwned>) -> (Option<i32>, Vec<OwnedFd>) {
    let (mut sender, mut fds) = (None, Vec::new());
    for c in cmsgs {
        match c {
            ControlMessageOwned::ScmCredentials(creds) => sender = Some(creds.pid()),
            // SAFETY: descriptors just received are this process's and
            // owned by nobody else.
            #[allow(unsafe_code)]
            ControlMessageOwned::ScmRights(raw) => {
                fds.extend(raw.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }))
            }
            _ => {}
        }
    }
    (sender, fds)
}

/// A run handed to a parked guard.
pub(crate) struct Handoff {
    key: u64,
    request: SpawnRequest,
    fds: Vec<OwnedFd>,
}

/// Park after a run whose `parked` line was sent: close the run's output
/// and wait for the next run. `Err` is the code the guard exits with: 0
/// when it is retired or the spawner is gone, `EXIT_GUARD_FAILED` when it
/// cannot park (a run handed to it then ends as its guard died).
pub(crate) fn park(signals: &SignalFd, socket: &ParkSocket) -> Result<Handoff, i32> {
    release_run().ok_or(guard::EXIT_GUARD_FAILED)?;
    loop {
        if let Some(handoff) = socket.receive() {
            return Ok(handoff);
        }
        // Not the control socket: a forked guard learns of the spawner's
        // death from a signal (see `guard::guard`).
        let mut fds = [
            PollFd::new(socket.fd.as_fd(), PollFlags::POLLIN),
            PollFd::new(signals.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return Err(guard::EXIT_GUARD_FAILED),
        }
        let ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
        // Read the hand-off before the signals: a Kill of the run handed
        // off comes after it (and is kept for the run, which checks for it
        // before it starts the program).
        if ready(&fds[0]) {
            continue;
        }
        if ready(&fds[1]) {
            let drained = guard::drain_signals(signals, crate::guard_kill::RETIRE_VALUE);
            if drained.asked || drained.orphaned || crate::guard_kill::orphaned() {
                return Err(0);
            }
        }
    }
}

/// Let go of what the last run left the guard: its output pipes (fds 1
/// and 2, so that vigil reads their end now) and its working directory.
fn release_run() -> Option<()> {
    let null = open_null().ok()?;
    for target in [1, 2] {
        // SAFETY: `dup2` onto the guard's own output descriptors.
        #[allow(unsafe_code)]
        let duplicated = unsafe { libc::dup2(null.as_raw_fd(), target) };
        if duplicated < 0 {
            return None;
        }
    }
    nix::unistd::chdir("/").ok()
}

/// Take the run handed off: its output becomes fds 1 and 2, its working
/// directory the guard's, and its program is built. The run's key and
/// program; a failure ends the guard (`failed`, then exit).
pub(crate) fn take<'a>(handoff: Handoff, reuse: &Reuse<'a>) -> Result<(u64, Program<'a>), Failure> {
    let Handoff { key, request, fds } = handoff;
    let mut fds = fds.into_iter();
    for (stream, target) in [(request.stdout, 1), (request.stderr, 2)] {
        let source = match stream {
            Stream::Null => open_null().map_err(Failure::sys("cannot open /dev/null"))?,
            // The spawner passes its own for an inherited stream.
            Stream::Inherit | Stream::Passed => fds.next().ok_or_else(|| {
                Failure::message(
                    "a hand-off without its descriptors",
                    "the spawner passed fewer output descriptors than the request names",
                )
            })?,
        };
        nix::unistd::dup2(source.as_raw_fd(), target).map_err(Failure::sys("cannot arrange the run's output"))?;
    }
    let dir = match &request.cwd {
        Some(dir) => std::ffi::CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| Failure::message("cannot change to the working directory", "it contains a NUL byte"))?,
        None => reuse.home.to_owned(),
    };
    nix::unistd::chdir(dir.as_c_str()).map_err(Failure::sys("cannot change to the working directory"))?;
    let program = crate::spawner_process::build_program(reuse.environment, reuse.attributes, &request)
        .map_err(|e| Failure::message("cannot build the program", &e))?;
    Ok((key, program))
}

/// `/dev/null`, for writing.
fn open_null() -> Result<OwnedFd, Errno> {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .map(OwnedFd::from)
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))
}

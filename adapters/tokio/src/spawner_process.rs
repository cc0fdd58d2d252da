//! The process spawner itself: the supervising binary executed once per
//! tree with [`crate::spawner::SPAWNER_ARG`], which forks one guard per run
//! (`crate::guard`, without a second exec) and reports for every guard to
//! vigil over one socket (`crate::spawner_protocol`).
//!
//! It is single-threaded: an `epoll` loop over vigil's socket (its stdin),
//! a `signalfd` for SIGCHLD and the **report socket** that every guard
//! writes to. That is what makes its `fork` safe: no other thread can hold
//! a lock the forked guard needs. It blocks every signal it can, is a child
//! subreaper (it reaps its guards, and kills and reaps whatever else is
//! reparented to it), and exits at once at end of file on vigil's socket:
//! vigil is gone, and every guard gets the signal it asked for at its
//! parent's death (`crate::guard_kill::death_signal`) and kills its run.
//! (Guards do not watch the report socket for its end of file: all of them
//! on one socket's wait queue made every packet O(N).)
//!
//! **A constant number of descriptors.** The spawner holds the same few
//! descriptors however many guards run (vigil's socket, its epoll, its
//! signalfd, the two ends of the report socket): a `fork` copies the
//! parent's descriptor table, and with one socket per guard each start
//! cost O(N) (O(N²) to start N children). The guards share one
//! `SOCK_SEQPACKET` socket pair with it: each guard holds the same end
//! (`guards_end`) as its fd 0 and writes its lines there, one packet each;
//! the spawner reads the other end with `SO_PASSCRED`, so the kernel tags
//! every packet with its guard's pid. The spawner never writes to it: a
//! guard sees end of file there only when the spawner is gone. vigil's Kill
//! of one run is a queued signal to its guard (`crate::guard_kill`).
//!
//! # The forked guard
//!
//! Between `fork` and [`guard::guard`], the child only arranges its
//! descriptors and process: the guards' end of the report socket becomes
//! fd 0, the run's stdout and stderr fds 1 and 2, and every other
//! descriptor is closed (`close_range`, or a loop where it is missing), so
//! that no guard holds vigil's socket; it becomes the leader of a new
//! process group, gets the open-files limit vigil had back, and changes to
//! the run's working directory. The program's argv and environment are
//! built before the fork. Per-run settings of the program's process
//! (user, limits, ...) are applied in `ChildSetup::become_guard`, the one
//! place between the fork and the guard.
//!
//! # Parked guards
//!
//! A guard forked for a request with a `slot` stays after its run
//! (`crate::guard_park`): the spawner keeps it in its pool
//! (`crate::guard_pool`) and hands it the same slot's next request over a
//! datagram socket of the guard's own, instead of forking a new guard;
//! parked guards whose time is up are retired from the `epoll` loop's
//! timeout. The spawner holds one more descriptor for this (the unbound
//! datagram socket it sends hand-offs from), whatever the number of
//! guards.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::io::{IoSlice, IoSliceMut, Write as _};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::prctl;
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::sys::signal::{killpg, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{self, ControlMessageOwned, MsgFlags};
use nix::unistd::Pid;

use crate::guard::{self, Line, Program};
use crate::guard_park::Reuse;
use crate::guard_pool::{GuardPool, ParkedGuard};
use crate::spawn_attributes::SpawnAttributes;
use crate::spawner_buffer::SpawnerBuffer;
use crate::spawner_protocol::{Reply, Request, SpawnRequest, Stream, FIRST_KEY, MAX_MESSAGE};

/// What the spawner shows as its process name.
const SPAWNER_NAME: &str = "vigil-spawner";

/// The spawner's exit code when it cannot start (not started by vigil, a
/// failing system call).
const EXIT_SPAWNER_FAILED: i32 = 125;

/// The largest line of a guard that the spawner reads whole (a longer
/// one is cut: a `failed` message loses its end; a guard does not park
/// with a slot that does not fit, see `crate::guard_park`).
pub(crate) const REPORT_MAX: usize = 4096;

/// How long the spawner, at its end, waits for its idle guards to die.
const END_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The epoll data of vigil's socket, of the signalfd and of the report socket.
const VIGIL: u64 = 0;
const SIGCHLD: u64 = 1;
const REPORTS: u64 = 2;

/// The spawner's `main`: never returns.
pub(crate) fn spawner_main() -> ! {
    if let Err(e) = SigSet::all().thread_set_mask() {
        fail("cannot block signals", e);
    }
    let _ = prctl::set_name(c"vigil-spawner");
    let stdin = std::io::stdin();
    let vigil = stdin.as_fd();
    match socket::getsockopt(&vigil, socket::sockopt::SockType) {
        Ok(socket::SockType::SeqPacket) => {}
        _ => fail_with(
            "stdin is not vigil's socket",
            format!("{SPAWNER_NAME} is started by vigil, with a SOCK_SEQPACKET socket as stdin"),
        ),
    }
    let mut spawner = match Spawner::new(vigil) {
        Ok(s) => s,
        Err((what, e)) => fail(what, e),
    };
    spawner.run()
}

fn fail(what: &str, errno: Errno) -> ! {
    fail_with(what, errno.desc().to_owned())
}

fn fail_with(what: &str, error: String) -> ! {
    let _ = writeln!(std::io::stderr(), "{SPAWNER_NAME}: {what}: {error}");
    std::process::exit(EXIT_SPAWNER_FAILED)
}

/// One forked guard, by its pid.
struct Guard {
    state: GuardState,
    /// Whether it parks after each run (its request named a slot, see
    /// `crate::guard_park`; it says which when it parks), or exits after
    /// its one run.
    parks: bool,
}

enum GuardState {
    /// Serves the run `key`. `last` is its last word (`exec-failed`,
    /// `failed`, or the `status` of a guard that exits after it), sent to
    /// vigil once the guard is reaped.
    Running { key: u64, last: Option<Reply> },
    /// Parked in the pool.
    Parked,
    /// Asked to exit (retired, or a stray line): reaped when it does.
    Retiring,
}

struct Spawner<'a> {
    vigil: BorrowedFd<'a>,
    epoll: Epoll,
    sigchld: SignalFd,
    /// The spawner's end of the report socket (non-blocking, `SO_PASSCRED`).
    reports: OwnedFd,
    /// The guards' end: fd 0 of every guard.
    guards_end: OwnedFd,
    /// The spawner's own pid: its guards watch it die.
    pid: Pid,
    /// Every guard that is not reaped yet, by pid.
    guards: BTreeMap<i32, Guard>,
    /// The key of the last request: a new one must be above it (vigil's
    /// keys increase; the spawner keeps no map of them, see `spawn`).
    last_key: u64,
    /// Parked guards (`crate::guard_pool`).
    pool: GuardPool,
    /// Where hand-offs to parked guards are sent from (an unbound datagram
    /// socket).
    handoff: OwnedFd,
    /// The spawner's working directory: a reused guard's for a run
    /// without `cwd`. `None` (unreadable): no guard is reused for such a
    /// run.
    home: Option<CString>,
    /// Guards known to exit (a last word was read, or they were retired)
    /// and not reaped yet: reaped by pid, O(1) each, where `waitpid(-1)`
    /// walks every child of the spawner (O(N) per exit, which made
    /// stopping 10,000 children quadratic).
    exiting: Vec<i32>,
    /// The open-files limit vigil gave the spawner: its guards get it back.
    nofile: (u64, u64),
    /// The spawner's environment at its start, the base of every run's:
    /// `KEY=value` strings sorted by key, built once, which every forked
    /// guard shares with the spawner (a run's environment points into it).
    environment: Vec<&'static CStr>,
    /// How every program is spawned, made once: shared with every guard.
    attributes: SpawnAttributes,
    /// vigil's requests are read here; forked guards do not inherit it.
    buffer: SpawnerBuffer,
    /// Replies to vigil are formatted here ([`REPORT_MAX`] bytes, the
    /// same reason).
    reply_buffer: SpawnerBuffer,
}

type SetupError = (&'static str, Errno);

/// What a guard's line asks of the spawner.
enum Then {
    /// Send this reply about the run to vigil.
    Reply(u64, Reply),
    /// The guard exits: reap it by pid.
    Exits,
    /// The run `key` ended with this raw status: tell vigil, and park the
    /// guard for its slot at this address.
    Park(u64, i32, String, Vec<u8>),
    /// Retire the guard.
    Retire,
}

impl<'a> Spawner<'a> {
    fn new(vigil: BorrowedFd<'a>) -> Result<Spawner<'a>, SetupError> {
        prctl::set_child_subreaper(true).map_err(|e| ("cannot become a child subreaper", e))?;
        let nofile = getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| ("cannot read the open-files limit", e))?;
        // Not fatal: fewer children fit.
        let _ = setrlimit(Resource::RLIMIT_NOFILE, nofile.1, nofile.1);
        set_nonblocking(vigil).map_err(|e| ("cannot make vigil's socket non-blocking", e))?;
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        let sigchld = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(|e| ("cannot create a signalfd", e))?;
        let (reports, guards_end) = report_socket().map_err(|e| ("cannot create the report socket", e))?;
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).map_err(|e| ("cannot create an epoll", e))?;
        epoll
            .add(&reports, EpollEvent::new(EpollFlags::EPOLLIN, REPORTS))
            .map_err(|e| ("cannot watch the report socket", e))?;
        epoll
            .add(vigil, EpollEvent::new(EpollFlags::EPOLLIN, VIGIL))
            .map_err(|e| ("cannot watch vigil's socket", e))?;
        epoll
            .add(sigchld.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, SIGCHLD))
            .map_err(|e| ("cannot watch the signalfd", e))?;
        Ok(Spawner {
            vigil,
            epoll,
            sigchld,
            reports,
            guards_end,
            pid: nix::unistd::getpid(),
            guards: BTreeMap::new(),
            last_key: 0,
            pool: GuardPool::default(),
            handoff: socket::socket(
                socket::AddressFamily::Unix,
                socket::SockType::Datagram,
                socket::SockFlag::SOCK_CLOEXEC,
                None,
            )
            .map_err(|e| ("cannot create the hand-off socket", e))?,
            home: std::env::current_dir()
                .ok()
                .and_then(|dir| CString::new(dir.into_os_string().into_vec()).ok()),
            exiting: Vec::new(),
            nofile,
            environment: base_environment(),
            attributes: SpawnAttributes::new().map_err(|e| ("cannot prepare the spawn attributes", e))?,
            buffer: SpawnerBuffer::new(MAX_MESSAGE).map_err(|e| ("cannot map the request buffer", e))?,
            reply_buffer: SpawnerBuffer::new(REPORT_MAX).map_err(|e| ("cannot map the reply buffer", e))?,
        })
    }

    fn run(&mut self) -> ! {
        let mut events = [EpollEvent::empty(); 64];
        loop {
            let timeout = match self.pool.next_deadline() {
                None => PollTimeout::NONE,
                Some(deadline) => {
                    let ms = deadline.saturating_duration_since(Instant::now()).as_millis() + 1;
                    PollTimeout::try_from(ms.min(60_000) as i32).unwrap_or(PollTimeout::MAX)
                }
            };
            let n = match self.epoll.wait(&mut events, timeout) {
                Ok(n) => n,
                Err(Errno::EINTR) => continue,
                Err(e) => fail("cannot wait for events", e),
            };
            let mut sigchld = false;
            for event in &events[..n] {
                match event.data() {
                    VIGIL => self.read_vigil(),
                    SIGCHLD => sigchld = true,
                    _ => self.read_reports(),
                }
            }
            if sigchld {
                self.reap();
            }
            self.retire_expired();
        }
    }

    /// Serve every request waiting on vigil's socket; exit at its end.
    fn read_vigil(&mut self) {
        loop {
            let mut cmsg = nix::cmsg_space!([RawFd; 2]);
            let mut iov = [IoSliceMut::new(self.buffer.bytes_mut())];
            let received = socket::recvmsg::<()>(
                self.vigil.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_CMSG_CLOEXEC | MsgFlags::MSG_DONTWAIT,
            );
            let (len, fds) = match received {
                Ok(msg) => {
                    let mut fds = Vec::new();
                    for c in msg.cmsgs().into_iter().flatten() {
                        if let ControlMessageOwned::ScmRights(raw) = c {
                            // SAFETY: descriptors just received are this
                            // process's and owned by nobody else.
                            #[allow(unsafe_code)]
                            fds.extend(raw.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }));
                        }
                    }
                    (msg.bytes, fds)
                }
                Err(Errno::EAGAIN) => return,
                Err(Errno::EINTR) => continue,
                // vigil is gone (or its socket broken): so is everything.
                Err(_) => self.end(),
            };
            if len == 0 {
                self.end();
            }
            match Request::decode(self.buffer.bytes(len)) {
                Some(Request::Spawn(key, request)) => self.spawn(key, request, fds, len),
                Some(Request::Kill(key, guard)) => self.kill(key, guard),
                None => {
                    let _ = writeln!(
                        std::io::stderr(),
                        "{SPAWNER_NAME}: ignoring a message that is not a request"
                    );
                }
            }
        }
    }

    /// vigil's Kill: a queued signal to the guard (`crate::guard_kill`),
    /// which ends its run and reports as at vigil's end. Should the signal
    /// not be queued (the per-user limit of queued signals is reached),
    /// the run's group is SIGKILLed instead (the guard with it: the run
    /// ends as `guard-died`).
    fn kill(&mut self, key: u64, guard: u32) {
        let pid = guard as i32;
        let serves = |g: &Guard| matches!(g.state, GuardState::Running { key: k, .. } if k == key);
        if !self.guards.get(&pid).is_some_and(serves) {
            return; // the run ended, or is not this guard's
        }
        let pid = Pid::from_raw(pid);
        if let Err(e) = crate::guard_kill::request_kill(pid, key) {
            let _ = writeln!(
                std::io::stderr(),
                "{SPAWNER_NAME}: cannot queue a Kill to guard {pid}: {}; SIGKILLing its process group",
                e.desc()
            );
            let _ = killpg(pid, Signal::SIGKILL);
        }
    }

    /// Ask the guard `pid` (parked, or with nothing to do) to exit; a
    /// guard that cannot be asked is SIGKILLed (it runs nothing).
    fn retire(&mut self, pid: i32) {
        if let Some(guard) = self.guards.get_mut(&pid) {
            guard.state = GuardState::Retiring;
        }
        if crate::guard_kill::request_retire(Pid::from_raw(pid)).is_err() {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        self.exiting.push(pid);
    }

    /// vigil is gone, or the tree ended: SIGKILL every parked or retiring
    /// guard (it runs nothing) and reap it, so that none is left for
    /// init to reap (init does not reap in some containers); then exit.
    /// A guard that runs a program ends its run when it gets the death
    /// signal of the spawner's exit (`crate::guard_kill`). Gives up on
    /// the reaping after [`END_WAIT`] (a process that does not die).
    fn end(&mut self) -> ! {
        let mut idle: Vec<i32> = self
            .guards
            .iter()
            .filter(|(_, g)| matches!(g.state, GuardState::Parked | GuardState::Retiring))
            .map(|(pid, _)| *pid)
            .collect();
        for pid in &idle {
            let _ = nix::sys::signal::kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        let deadline = Instant::now() + END_WAIT;
        while !idle.is_empty() && Instant::now() < deadline {
            idle.retain(|pid| wait(*pid).is_none());
            if !idle.is_empty() {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        std::process::exit(0)
    }

    /// Retire every parked guard whose time is up.
    fn retire_expired(&mut self) {
        let now = Instant::now();
        while let Some(guard) = self.pool.expired(now) {
            self.retire(guard.pid);
        }
    }

    /// Start the run `key` (whose message is the first `len` bytes of
    /// the buffer): hand it to the guard parked for its slot, or fork a
    /// guard for it; a failure is a `failed` reply.
    fn spawn(&mut self, key: u64, request: SpawnRequest, fds: Vec<OwnedFd>, len: usize) {
        // Keys increase: the spawner needs no map of them (a map written
        // after each fork would cost every guard a page, see `fork_guard`).
        if key < FIRST_KEY || key <= self.last_key {
            self.reply(
                key,
                Pid::from_raw(0),
                &Reply::Failed(format!("run key {key} is not free")),
            );
            return;
        }
        self.last_key = key;
        let fds = match self.hand_off(key, &request, fds, len) {
            Ok(()) => return,
            Err(fds) => fds,
        };
        let parks = reuses(&request, self.home.as_deref());
        match self.fork_guard(key, request, fds) {
            Ok(pid) => {
                let guard = Guard {
                    state: GuardState::Running { key, last: None },
                    parks,
                };
                self.guards.insert(pid.as_raw(), guard);
            }
            Err(message) => self.reply(key, Pid::from_raw(0), &Reply::Failed(message)),
        }
    }

    /// Hand the run `key` to the guard parked for its slot: `Err` gives
    /// the descriptors back when there is none (or it cannot be reached,
    /// and is retired). The guard gets the request as vigil sent it, with
    /// one descriptor per stream that is not `/dev/null`.
    fn hand_off(
        &mut self,
        key: u64,
        request: &SpawnRequest,
        fds: Vec<OwnedFd>,
        len: usize,
    ) -> Result<(), Vec<OwnedFd>> {
        // Only a slot's guard is parked, and only when `reuses` held.
        let Some(parked) = request.slot.as_deref().and_then(|slot| self.pool.take(slot)) else {
            return Err(fds);
        };
        let mut passed = fds.iter().map(AsRawFd::as_raw_fd);
        let mut raw = Vec::with_capacity(2);
        for (stream, own) in [(request.stdout, 1), (request.stderr, 2)] {
            match stream {
                Stream::Inherit => raw.push(own),
                Stream::Passed => raw.extend(passed.next()),
                Stream::Null => {}
            }
        }
        let address = socket::UnixAddr::new_abstract(&parked.address);
        let rights = [socket::ControlMessage::ScmRights(&raw)];
        let sent = address.and_then(|address| {
            socket::sendmsg(
                self.handoff.as_raw_fd(),
                &[IoSlice::new(self.buffer.bytes(len))],
                if raw.is_empty() { &[] } else { &rights },
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
                Some(&address),
            )
        });
        if sent.is_err() {
            self.retire(parked.pid);
            return Err(fds);
        }
        if let Some(guard) = self.guards.get_mut(&parked.pid) {
            guard.state = GuardState::Running { key, last: None };
        }
        Ok(())
    }

    /// Build the program, then fork the guard of the run `key`: the guard's pid.
    ///
    /// The request is freed before the fork, all but its slot (which the
    /// guard keeps): a `free` after it writes the chunk's page, which the
    /// guard would keep a private copy of.
    fn fork_guard(&self, key: u64, request: SpawnRequest, fds: Vec<OwnedFd>) -> Result<Pid, String> {
        let setup = ChildSetup::new(&request, fds, self.nofile)?;
        let program = build_program(&self.environment, &self.attributes, &request)?;
        let mut request = request;
        let slot = request.slot.take();
        drop(request);
        let reuse = match (&slot, &self.home) {
            (Some(slot), Some(home)) => Some(Reuse {
                slot,
                environment: &self.environment,
                attributes: &self.attributes,
                home,
            }),
            _ => None,
        };
        // SAFETY: this process is single-threaded (the spawner never starts
        // a thread), so the child is a complete copy of it: no lock is held
        // by a thread that does not exist in the child.
        #[allow(unsafe_code)]
        let pid = unsafe { libc::fork() };
        match pid {
            -1 => Err(format!("cannot fork a guard: {}", Errno::last().desc())),
            0 => setup.become_guard(self.guards_end.as_raw_fd(), &program, (key, self.pid), reuse),
            pid => Ok(Pid::from_raw(pid)),
        }
    }

    /// Read every line waiting on the report socket, each with its guard's
    /// pid (the kernel's credentials): `started` goes to vigil at once; a
    /// last word is kept until the guard is reaped, and marks it exiting.
    fn read_reports(&mut self) {
        loop {
            let mut buf = [0u8; REPORT_MAX];
            let mut cmsg = nix::cmsg_space!(socket::UnixCredentials);
            let mut iov = [IoSliceMut::new(&mut buf)];
            let (len, pid) = match socket::recvmsg::<()>(
                self.reports.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_DONTWAIT,
            ) {
                Ok(msg) => {
                    let pid = msg.cmsgs().into_iter().flatten().find_map(|c| match c {
                        ControlMessageOwned::ScmCredentials(creds) => Some(creds.pid()),
                        _ => None,
                    });
                    (msg.bytes, pid)
                }
                Err(Errno::EINTR) => continue,
                // EAGAIN: nothing more. (End of file cannot be: the spawner
                // holds the guards' end itself.)
                Err(_) => return,
            };
            let Some(pid) = pid.filter(|pid| self.guards.contains_key(pid)) else {
                continue;
            };
            let line = std::str::from_utf8(&buf[..len])
                .ok()
                .and_then(|t| Line::parse(t.trim_end()));
            self.note(pid, line);
        }
    }

    /// Take one line of the guard `pid`.
    fn note(&mut self, pid: i32, line: Option<Line>) {
        let (Some(line), Some(guard)) = (line, self.guards.get_mut(&pid)) else {
            return;
        };
        let parks = guard.parks;
        let then = match (&mut guard.state, line) {
            (GuardState::Running { key, .. }, Line::Started(program)) => Then::Reply(*key, Reply::Started(program)),
            // The end of a run whose guard parks: to vigil at once, and
            // the guard into the pool.
            (GuardState::Running { key, last: None }, Line::Parked { status, address, slot }) if parks => {
                let key = *key;
                guard.state = GuardState::Parked;
                Then::Park(key, status, slot, address)
            }
            // A last word of a guard that exits next: sent once it is reaped.
            (GuardState::Running { last, .. }, word) => {
                let word = match word {
                    Line::ExecFailed(errno) => Reply::ExecFailed(errno),
                    Line::Status(raw) | Line::Parked { status: raw, .. } => Reply::Status(raw),
                    Line::Failed(m) => Reply::Failed(m),
                    Line::Started(_) => return,
                };
                if last.is_some() {
                    return;
                }
                *last = Some(word);
                Then::Exits
            }
            // A parked guard says nothing until it is handed a run: one
            // that does is not what it should be, so it goes.
            (GuardState::Parked, _) => Then::Retire,
            _ => return,
        };
        match then {
            Then::Reply(key, reply) => self.reply(key, Pid::from_raw(pid), &reply),
            Then::Exits => self.exiting.push(pid),
            Then::Retire => {
                self.pool.forget(pid);
                self.retire(pid);
            }
            Then::Park(key, status, slot, address) => {
                self.reply(key, Pid::from_raw(pid), &Reply::Status(status));
                let parked = ParkedGuard { pid, address };
                if let Some(old) = self.pool.park(slot, parked, Instant::now()) {
                    self.retire(old.pid);
                }
            }
        }
    }

    /// Reap every child that ended: a guard's status is kept for its last
    /// reply; anything else (an orphan reparented to this subreaper) is
    /// simply reaped. The lines waiting are read first: a guard writes its
    /// last word before it exits, so it is there before the guard is reaped.
    fn reap(&mut self) {
        while let Ok(Some(_)) = self.sigchld.read_signal() {}
        self.read_reports();
        let mut reaped_one = false;
        let mut i = 0;
        while i < self.exiting.len() {
            let pid = self.exiting[i];
            match wait(pid) {
                Some((pid, raw)) => {
                    self.exiting.swap_remove(i);
                    self.reaped(pid, raw);
                    reaped_one = true;
                }
                None => i += 1,
            }
        }
        if reaped_one {
            return;
        }
        // The signal was for a child not known to be exiting: an orphan
        // reparented to this subreaper, or a guard that died without a
        // last word (killed). Sweep every child.
        while let Some((pid, raw)) = wait(-1) {
            self.exiting.retain(|p| *p != pid);
            // A guard that exited since the reports were read: its last
            // word is waiting now.
            self.read_reports();
            self.reaped(pid, raw);
        }
    }

    /// A child reaped with its raw wait status: a running guard's run ends
    /// (its last reply); a guard between runs or an orphan needs nothing
    /// more. A guard that died without a last word has its process group
    /// SIGKILLed (the program must not outlive it) and every stray child
    /// of the spawner with it.
    fn reaped(&mut self, pid: i32, raw: i32) {
        let Some(guard) = self.guards.remove(&pid) else { return };
        match guard.state {
            GuardState::Running { key, last } => {
                let reply = match last {
                    Some(reply) => reply,
                    None => {
                        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                        self.kill_strays();
                        Reply::GuardDied(raw)
                    }
                };
                self.reply(key, Pid::from_raw(pid), &reply);
            }
            GuardState::Parked => self.pool.forget(pid),
            GuardState::Retiring => {}
        }
    }

    /// SIGKILL every child of the spawner that is not a guard: the
    /// descendants of a guard that died, reparented to this subreaper.
    fn kill_strays(&self) {
        for (child, state) in guard::children() {
            if state != 'Z' && !self.guards.contains_key(&child.as_raw()) {
                let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
            }
        }
    }

    /// Send one reply about the run `key` (whose guard is `guard`) to
    /// vigil, waiting while its socket is full; end if vigil is gone.
    fn reply(&mut self, key: u64, guard: Pid, reply: &Reply) {
        // Formatted in a buffer of its own, not on the heap: every heap
        // page the spawner writes after a fork stays a private copy in the
        // guards forked before (see `crate::spawner_buffer`). A reply
        // longer than the buffer (a long failure message) is cut.
        let text = {
            let mut rest = self.reply_buffer.bytes_mut();
            let room = rest.len();
            let _ = reply.write(key, guard.as_raw() as u32, &mut rest);
            let written = room - rest.len();
            self.reply_buffer.bytes(written)
        };
        let gone = loop {
            match socket::sendmsg::<()>(
                self.vigil.as_raw_fd(),
                &[IoSlice::new(text)],
                &[],
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
                None,
            ) {
                Ok(_) => break false,
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => {
                    let mut fds = [PollFd::new(self.vigil, PollFlags::POLLOUT)];
                    let _ = poll(&mut fds, PollTimeout::NONE);
                }
                Err(_) => break true,
            }
        };
        if gone {
            self.end(); // vigil is gone
        }
    }
}

/// The program of `request`, with its environment: `environment` (the
/// spawner's), less
/// `env_remove` and the keys `env` sets, then `env` (the last value of
/// a key set twice). The spawner's entries are borrowed, not copied:
/// the spawner writes (and a guard forked earlier then keeps a copy of)
/// as few pages as a request needs.
pub(crate) fn build_program<'s>(
    environment: &'s [&'static CStr],
    attributes: &'s SpawnAttributes,
    request: &SpawnRequest,
) -> Result<Program<'s>, String> {
    // Every string and array is allocated once at its final size: each
    // reallocation frees a chunk, and each `free` writes a page that the
    // guards forked before keep a copy of (docs/ADAPTER.md, "What a guard
    // costs").
    let cstring = |parts: &[&str], what: &str| {
        let mut bytes = Vec::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + 1);
        parts.iter().for_each(|p| bytes.extend_from_slice(p.as_bytes()));
        CString::new(bytes).map_err(|_| format!("{what} contains a NUL byte"))
    };
    let mut argv = Vec::with_capacity(request.argv.len());
    for a in &request.argv {
        argv.push(cstring(&[a], "an argument")?);
    }
    let replaced = |key: &[u8]| {
        request.env_remove.iter().any(|k| k.as_bytes() == key) || request.env.iter().any(|(k, _)| k.as_bytes() == key)
    };
    // `clear_env`: none of the spawner's own.
    let clear = request.setup.clear_env;
    let borrowed = environment
        .iter()
        .filter(|kv| !clear && !replaced(env_key(kv)))
        .copied();
    let mut own = Vec::with_capacity(request.env.len());
    for (i, (key, value)) in request.env.iter().enumerate() {
        // The last value of a key set twice.
        if !request.env[i + 1..].iter().any(|(later, _)| later == key) {
            own.push(cstring(&[key, "=", value], "an environment variable")?);
        }
    }
    let program = Program::from_parts(argv, borrowed, own, attributes).ok_or_else(|| "empty command".to_owned())?;
    Ok(program.with_setup(request.setup.prepare()?))
}

extern "C" {
    /// The process's environment (POSIX): a NULL-terminated array of
    /// `KEY=value` strings.
    static environ: *const *const libc::c_char;
}

/// The spawner's environment as `KEY=value` strings sorted by key: the
/// strings of `environ` themselves, not copies (the spawner never changes
/// its environment, so they live as long as it does). Copies would be
/// made on the heap, among the holes that the copying leaves, where later
/// requests allocate: each guard would keep a copy of more heap pages.
fn base_environment() -> Vec<&'static CStr> {
    let mut environment = Vec::new();
    // SAFETY: `environ` is the NULL-terminated array of C strings that the
    // process started with; nothing in the spawner calls `setenv` or
    // `putenv` (it starts no thread either), so neither the array nor its
    // strings change or are freed while the spawner lives.
    #[allow(unsafe_code)]
    unsafe {
        let mut entry = environ;
        while !entry.is_null() && !(*entry).is_null() {
            environment.push(CStr::from_ptr(*entry));
            entry = entry.add(1);
        }
    }
    environment.sort_by(|a, b| env_key(a).cmp(env_key(b)));
    environment
}

/// The report socket: the spawner's end (non-blocking, every packet
/// tagged with its sender's credentials) and the guards' end (blocking).
fn report_socket() -> Result<(OwnedFd, OwnedFd), Errno> {
    let (ours, theirs) = socket::socketpair(
        socket::AddressFamily::Unix,
        socket::SockType::SeqPacket,
        None,
        socket::SockFlag::SOCK_CLOEXEC,
    )?;
    set_nonblocking(ours.as_fd())?;
    socket::setsockopt(&ours, socket::sockopt::PassCred, &true)?;
    Ok((ours, theirs))
}

/// Whether the guard of `request` parks after its run and is reused: its
/// request names a slot, and the spawner knows the working directory to
/// give a later run without `cwd` (its own, `home`).
fn reuses(request: &SpawnRequest, home: Option<&CStr>) -> bool {
    request.slot.is_some() && home.is_some()
}

/// The key of a `KEY=value` string.
fn env_key(kv: &CStr) -> &[u8] {
    let bytes = kv.to_bytes();
    bytes.split(|b| *b == b'=').next().unwrap_or(bytes)
}

/// `waitpid(pid, WNOHANG)` (`pid` -1: any child): the child reaped and its
/// raw wait status, or `None` when none has ended (or there is none).
fn wait(pid: i32) -> Option<(i32, i32)> {
    loop {
        let mut raw = 0;
        // SAFETY: `waitpid` writes only the status integer it is given.
        #[allow(unsafe_code)]
        let reaped = unsafe { libc::waitpid(pid, &mut raw, libc::WNOHANG) };
        if reaped > 0 {
            return Some((reaped, raw));
        }
        if reaped == -1 && Errno::last() == Errno::EINTR {
            continue;
        }
        return None;
    }
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> Result<(), Errno> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = OFlag::from_bits_truncate(fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK)).map(drop)
}

/// Where one of the guard's output descriptors comes from.
enum Source {
    /// The spawner's own fd 1 or 2.
    Own(RawFd),
    /// `/dev/null`, opened by the child.
    Null,
    /// A descriptor passed with the request.
    Passed(OwnedFd),
}

/// Everything the forked child needs before it is the guard, prepared
/// before the fork.
struct ChildSetup {
    stdout: Source,
    stderr: Source,
    cwd: Option<CString>,
    nofile: (u64, u64),
}

impl ChildSetup {
    fn new(request: &SpawnRequest, fds: Vec<OwnedFd>, nofile: (u64, u64)) -> Result<ChildSetup, String> {
        let mut fds = fds.into_iter();
        let mut source = |stream: Stream, own: RawFd| match stream {
            Stream::Inherit => Ok(Source::Own(own)),
            Stream::Null => Ok(Source::Null),
            Stream::Passed => fds
                .next()
                .map(Source::Passed)
                .ok_or_else(|| "a descriptor the request names is missing".to_owned()),
        };
        let stdout = source(request.stdout, 1)?;
        let stderr = source(request.stderr, 2)?;
        let cwd = match &request.cwd {
            Some(dir) => Some(
                CString::new(dir.clone().into_os_string().into_vec())
                    .map_err(|_| "the working directory contains a NUL byte".to_owned())?,
            ),
            None => None,
        };
        Ok(ChildSetup {
            stdout,
            stderr,
            cwd,
            nofile,
        })
    }

    /// In the forked child: arrange descriptors and process, then be the
    /// guard. Before fd 0 is the guard's socket, a failure can only exit.
    /// `run`: the run's key and the spawner's pid.
    fn become_guard<'a>(self, control: RawFd, program: &Program<'a>, run: (u64, Pid), reuse: Option<Reuse<'a>>) -> ! {
        #[allow(unsafe_code)]
        // SAFETY: plain system calls on descriptors of this process.
        let arranged = unsafe { self.arrange_descriptors(control) };
        if arranged.is_err() {
            // SAFETY: `_exit` ends the process without running anything.
            #[allow(unsafe_code)]
            unsafe {
                libc::_exit(guard::EXIT_GUARD_FAILED)
            };
        }
        if let Err(e) = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0)) {
            guard::give_up(&guard::Failure::sys("cannot lead a new process group")(e));
        }
        let _ = setrlimit(Resource::RLIMIT_NOFILE, self.nofile.0, self.nofile.1);
        if let Some(dir) = &self.cwd {
            if let Err(e) = nix::unistd::chdir(dir.as_c_str()) {
                guard::give_up(&guard::Failure::sys("cannot change to the working directory")(e));
            }
        }
        // The spawner's death is a signal (guard_kill.rs); one that died
        // before this line leaves nobody to answer to.
        if !crate::guard_kill::watch_spawner(run.1) {
            std::process::exit(0);
        }
        guard::guard(program, run.0, reuse)
    }

    /// fd 0 the guard's socket, 1 and 2 the run's output, nothing else open.
    #[allow(unsafe_code)]
    unsafe fn arrange_descriptors(&self, control: RawFd) -> Result<(), ()> {
        let open = |source: &Source| -> RawFd {
            match source {
                Source::Own(fd) => *fd,
                Source::Passed(fd) => fd.as_raw_fd(),
                Source::Null => libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC),
            }
        };
        let mut sources = [control, open(&self.stdout), open(&self.stderr)];
        // First out of the way of 0..=2, so that no `dup2` below closes a
        // source still to be moved.
        for fd in &mut sources {
            if *fd < 0 {
                return Err(());
            }
            if *fd < 3 {
                *fd = libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, 3);
                if *fd < 0 {
                    return Err(());
                }
            }
        }
        for (target, fd) in sources.into_iter().enumerate() {
            if libc::dup2(fd, target as RawFd) < 0 {
                return Err(());
            }
        }
        close_from(3);
        Ok(())
    }
}

/// Close every descriptor from `first` on: `close_range(2)`, or one by one
/// up to the open-files limit where the kernel lacks it.
#[allow(unsafe_code)]
unsafe fn close_from(first: RawFd) {
    if libc::syscall(libc::SYS_close_range, first as libc::c_uint, libc::c_uint::MAX, 0) == 0 {
        return;
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let last = if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 {
        limit.rlim_cur.min(1 << 20) as RawFd
    } else {
        1024
    };
    for fd in first..last {
        libc::close(fd);
    }
}

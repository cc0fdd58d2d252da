//! The process guard: one tiny process per run that kills the run's whole
//! process group when vigil dies, even by SIGKILL, and lets vigil start
//! processes without forking itself.
//!
//! # Enabling it
//!
//! The guard is the supervising binary itself: vigil executes it once per
//! tree as the process spawner (`crate::spawner`, first argument
//! [`crate::spawner::SPAWNER_ARG`]), which forks one guard per run. The
//! binary's `main` must therefore call [`enter_if_guard`] before anything
//! else:
//!
//! ```no_run
//! fn main() {
//!     vigil_tokio::guard::enter_if_guard(); // never returns in a guard or spawner
//!     // ... the program, which may start a vigil_tokio::Tree ...
//! }
//! ```
//!
//! Calling it is the opt-in: a process runs its OS process children under
//! guards only once [`enter_if_guard`] has returned in it (see
//! [`is_available`]), and unless the tree turned it off with
//! [`Tree::process_guard(false)`](crate::Tree::process_guard). A binary that
//! does not call the hook keeps the fallback (each child forked with
//! `PR_SET_PDEATHSIG`, see the `process` module), and cannot be re-executed
//! by mistake as a guard, which would run its `main` a second time.
//!
//! # Two ways to start a guard, one guard
//!
//! vigil's own path: the spawner forks the guard, gives it its control
//! socket (the guards' end of the `SOCK_SEQPACKET` report socket that every
//! guard shares with the spawner) as fd 0 and the run's output as fds 1
//! and 2, closes everything else, makes it lead a new
//! process group, and calls `guard` (`crate::spawner_process`). The
//! spawner passes each line below on to vigil, tagged with the run
//! (`crate::spawner_protocol`).
//!
//! The guard can also be executed on its own with [`GUARD_ARG`] (what vigil
//! did for every run before the spawner; the tests of this protocol do it):
//!
//! | what | the guard gets |
//! |---|---|
//! | argv | `vigil-guard`, [`GUARD_ARG`], the program, its arguments |
//! | environment, working directory | the program's (`NOTIFY_SOCKET` etc. included) |
//! | stdin | its end of the socket pair: the **control socket** |
//! | stdout, stderr | the program's (pipes to vigil, log files, ...) |
//! | process group | a new one, the guard its leader (`process_group(0)`) |
//!
//! # The protocol
//!
//! The guard refuses to run (exit [`EXIT_GUARD_FAILED`]) unless it leads
//! its own process group and its stdin is a socket. It blocks every signal it
//! can for itself, becomes a child
//! subreaper (`PR_SET_CHILD_SUBREAPER`: the program's orphans are reparented
//! to it and reaped by it), checks that vigil is still there (see below), and
//! calls `posix_spawnp` for the program: looked up in the `PATH` of its
//! environment, stdin `/dev/null`, in the guard's process group, with an
//! empty signal mask and SIGPIPE reset to its default action (the standard
//! library's `Command` keeps the spawning thread's signal mask, which would
//! leave the program with the guard's signals blocked: that is why the guard
//! calls `posix_spawnp` itself). Then it writes one line per event to the
//! control socket, and nobody writes to it:
//!
//! | line | meaning | then the guard |
//! |---|---|---|
//! | `started <pid>` | the program was spawned (executed) | waits |
//! | `exec-failed <errno>` | `posix_spawnp` failed (missing program, ...) | exits with [`EXIT_EXEC_FAILED`] |
//! | `status <wait status>` | the program ended (raw `waitpid` status), and every other descendant was killed and reaped | exits 0 |
//! | `failed <message>` | the guard itself failed (a system call) | exits with [`EXIT_GUARD_FAILED`], or ends the run (below) if the program runs |
//! | `parked <wait status> <address> <slot>` | a forked guard's `status` when it stays for its child's next run (`crate::guard_park`) | parks |
//!
//! Meanwhile it waits, with `poll`, on a `signalfd` for SIGCHLD (it reaps
//! every child: the program and the reparented orphans) and on the control
//! socket. End of file on the control socket means its other end was closed
//! (vigil or the spawner died: the kernel closes every descriptor of a
//! killed process) or its sending side shut down (vigil's Kill of an
//! exec'd guard). A forked guard also ends the run on the spawner's Kill,
//! a queued real-time signal read from the same `signalfd`
//! (`crate::guard_kill`).
//!
//! **Ending a run.** When the program ends, or at end of file, the guard
//! SIGKILLs the program (if it still runs) and every other child, reaps
//! them, and repeats until it has no child left: the program's children
//! are reparented to it (a subreaper) as their parents die. It signals only
//! its own children (`/proc/*/stat` whose parent it is), whose pids cannot
//! be reused before it reaps them. Then it writes `status` (when vigil can
//! still read it) and exits 0, so nothing of the run is left for init to
//! reap. It gives up after 3 s on a descendant that does not die
//! (uninterruptible sleep). Before the program is spawned, a closed socket
//! makes it SIGKILL its group (only itself then) and start nothing.
//!
//! On vigil's side (`process.rs` and `spawner.rs` of this crate):
//! `started` becomes the run's `Started` report to the driver;
//! `exec-failed` a failed start with the same message as without the guard
//! (``cannot start `prog`: No such file or directory (os error 2)``);
//! `status` (passed on once the spawner has reaped the guard) the exit
//! reason of the program's status, with the same table as a program run
//! without the guard. A Stop is SIGTERM to the group (the guard has it
//! blocked; the program gets it); a Kill makes the spawner shut down its
//! sending side of the control socket, and only a guard that does not
//! answer within 5 s has its group SIGKILLed by vigil, itself included.
//!
//! The guard never exits while the program or any descendant runs, so there
//! is no moment when they are without either a live vigil or a live guard to
//! kill them.

// The example's point is where the call goes: `main`.
#![allow(clippy::needless_doctest_main)]

use std::ffi::{CStr, CString, OsStr, OsString};
use std::fmt;
use std::io::Write as _;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::FileTypeExt;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::prctl;
use nix::sys::signal::{killpg, SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::spawn_attributes::SpawnAttributes;

/// The first argument that makes a binary a guard (see [`enter_if_guard`]).
pub const GUARD_ARG: &str = "__vigil_guard";

/// What vigil executes to start a guard: the running binary itself.
pub(crate) const GUARD_EXE: &str = "/proc/self/exe";

/// What the guard shows as its `argv[0]` and process name.
pub(crate) const GUARD_NAME: &str = "vigil-guard";

/// The guard's exit code when the program could not be spawned (as a shell's
/// "command not found"); vigil reads the reason from the control socket, not
/// from this code.
pub const EXIT_EXEC_FAILED: i32 = 127;

/// The guard's exit code when it failed before the program was spawned (bad
/// arguments, a failing system call).
pub const EXIT_GUARD_FAILED: i32 = 125;

static AVAILABLE: AtomicBool = AtomicBool::new(false);

/// If this process was started as a process guard, be the guard and never
/// return; otherwise record that this binary can serve as a guard (see
/// [`is_available`]) and return at once.
///
/// Call it as the first statement of `main`, before any thread, runtime or
/// logger is started: a guard must do nothing else. The guard allocates only
/// its argument and environment strings and runs no async runtime.
pub fn enter_if_guard() {
    let mut args = std::env::args_os();
    match args.nth(1) {
        Some(arg) if arg == OsStr::new(GUARD_ARG) => guard_main(args.collect()),
        Some(arg) if arg == OsStr::new(crate::spawner::SPAWNER_ARG) => crate::spawner_process::spawner_main(),
        _ => {}
    }
    AVAILABLE.store(true, Ordering::Relaxed);
}

/// Whether [`enter_if_guard`] has returned in this process, that is whether
/// this binary can be executed again as a guard.
pub fn is_available() -> bool {
    AVAILABLE.load(Ordering::Relaxed)
}

// ---------------------------------------------------------------------------
// The control-socket lines, shared by both sides.

/// One line the guard writes to the control socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// `started <pid>`
    Started(u32),
    /// `exec-failed <errno>`
    ExecFailed(i32),
    /// `status <raw wait status>`
    Status(i32),
    /// `failed <message>`
    Failed(String),
    /// `parked <raw wait status> <address> <slot>`: the program ended as
    /// for `status`, and the guard waits for the next run of the child
    /// `slot` at the abstract socket `address` (`crate::guard_park`; both
    /// in hexadecimal) instead of exiting.
    Parked {
        /// The program's raw wait status.
        status: i32,
        /// The abstract name of the guard's socket.
        address: Vec<u8>,
        /// vigil's path of the child.
        slot: String,
    },
}

impl Line {
    /// Parse one line (without its `\n`); `None` if it is not a protocol line.
    pub(crate) fn parse(line: &str) -> Option<Line> {
        let (word, rest) = line.split_once(' ')?;
        match word {
            "started" => rest.parse().ok().map(Line::Started),
            "exec-failed" => rest.parse().ok().map(Line::ExecFailed),
            "status" => rest.parse().ok().map(Line::Status),
            "failed" => Some(Line::Failed(rest.to_owned())),
            "parked" => {
                let (status, rest) = rest.split_once(' ')?;
                let (address, slot) = rest.split_once(' ')?;
                Some(Line::Parked {
                    status: status.parse().ok()?,
                    address: hex_bytes(address)?,
                    slot: String::from_utf8(hex_bytes(slot)?).ok()?,
                })
            }
            _ => None,
        }
    }
}

/// `parked <status> <address> <slot>`, both in hexadecimal (what
/// [`Line::Parked`] reads back).
pub(crate) fn write_parked(f: &mut fmt::Formatter<'_>, status: i32, address: &[u8], slot: &str) -> fmt::Result {
    write!(f, "parked {status} ")?;
    address.iter().try_for_each(|b| write!(f, "{b:02x}"))?;
    f.write_str(" ")?;
    slot.bytes().try_for_each(|b| write!(f, "{b:02x}"))
}

/// The bytes of an even-length string of hexadecimal digits.
fn hex_bytes(text: &str) -> Option<Vec<u8>> {
    if text.is_empty() || text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

impl fmt::Display for Line {
    /// The line as written, without its `\n` (a message's newlines become spaces).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Line::Started(pid) => write!(f, "started {pid}"),
            Line::ExecFailed(errno) => write!(f, "exec-failed {errno}"),
            Line::Status(raw) => write!(f, "status {raw}"),
            Line::Failed(message) => write!(f, "failed {}", message.replace('\n', " ")),
            Line::Parked { status, address, slot } => write_parked(f, *status, address, slot),
        }
    }
}

// ---------------------------------------------------------------------------
// The guard process.

/// Why the guard failed: a system call and its error.
pub(crate) struct Failure {
    what: &'static str,
    error: String,
}

impl Failure {
    /// The failure of the system call `what`, by its errno.
    pub(crate) fn sys(what: &'static str) -> impl FnOnce(Errno) -> Failure {
        move |errno| Failure {
            what,
            error: errno.desc().to_owned(),
        }
    }
}

impl Failure {
    /// A failure of `what` that is not a system call's.
    pub(crate) fn message(what: &'static str, error: &str) -> Failure {
        Failure {
            what,
            error: error.to_owned(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.error)
    }
}

/// The guard's `main`: `args` are the program and its arguments.
fn guard_main(args: Vec<OsString>) -> ! {
    // Before anything else: no signal may end the guard but SIGKILL (and the
    // faults a bug would raise). The program gets an empty mask.
    if let Err(e) = SigSet::all().thread_set_mask() {
        give_up(&Failure::sys("cannot block signals")(e));
    }
    let program = match Program::new(&args) {
        Ok(p) => p,
        Err(e) => give_up(&e),
    };
    guard(&program, 0, None)
}

/// Be the guard of `program`, with the control socket as stdin: the part
/// common to a guard executed by vigil ([`GUARD_ARG`]; `key` 0) and one
/// forked by the process spawner (`crate::spawner_process`; `key` is its
/// run's), whose signals are blocked already. A forked guard learns of
/// the spawner's death from a signal (`crate::guard_kill::death_signal`),
/// not from its control socket, which every guard shares; it gets
/// `reuse` when it parks after each run and may be handed its child's
/// next run (`crate::guard_park`); without it the guard exits after its
/// one run.
pub(crate) fn guard<'a>(program: &Program<'a>, key: u64, reuse: Option<crate::guard_park::Reuse<'a>>) -> ! {
    // Cosmetic (`ps`, `top`): without it the guard shows as `exe`.
    let _ = prctl::set_name(c"vigil-guard");
    let control = std::io::stdin();
    let control = control.as_fd();
    if let Err(e) = prepare(control) {
        give_up(&e);
    }
    let sigchld = match sigchld_fd() {
        Ok(fd) => fd,
        Err(e) => give_up(&e),
    };
    let Some(reuse) = reuse else {
        let status = run(control, &sigchld, program, key, None);
        report_status(control, status);
        std::process::exit(0)
    };
    let mut key = key;
    let mut socket = None;
    let mut later: Option<Program<'a>> = None;
    loop {
        let status = run(
            control,
            &sigchld,
            later.as_ref().unwrap_or(program),
            key,
            Some(&mut socket),
        );
        let Some(parking) = socket.as_ref().filter(|s| s.fits(reuse.slot)) else {
            report_status(control, status);
            std::process::exit(0)
        };
        // The run's end and the guard's place in one line: the spawner
        // parks it before vigil can ask for the child's next run.
        let Some(status) = status else { std::process::exit(0) };
        let _ = send(control, &parking.line(status, reuse.slot));
        let handoff = match crate::guard_park::park(&sigchld, parking) {
            Ok(handoff) => handoff,
            Err(code) => std::process::exit(code),
        };
        match crate::guard_park::take(handoff, &reuse) {
            Ok((next_key, next)) => {
                key = next_key;
                later = Some(next);
            }
            Err(e) => give_up(&e),
        }
    }
}

/// One run of `program` (whose Kill is a queued signal with the value
/// `key`; 0: no such Kill, an executed guard): spawn it, report it, wait
/// for its end or a Kill, and kill and reap every descendant. Returns the
/// program's raw wait status (to report), once nothing of the run is
/// left; exits instead when the run cannot end in order (the program
/// cannot be spawned, vigil or the spawner is gone, the guard failed).
/// With `socket` (a guard that parks), the guard's park socket is made
/// while the program runs, if it has none yet; a guard that does not park
/// makes none.
fn run(
    control: BorrowedFd<'_>,
    sigchld: &SignalFd,
    program: &Program<'_>,
    key: u64,
    socket: Option<&mut Option<crate::guard_park::ParkSocket>>,
) -> Option<i32> {
    // vigil or the spawner may be gone already (killed between forking
    // the guard and now), or the run killed: then start nothing.
    if key == 0 {
        match poll_control(control, PollTimeout::ZERO) {
            Ok(true) => kill_group(),
            Ok(false) => {}
            Err(e) => give_up(&e),
        }
    } else {
        let drained = drain_signals(sigchld, key);
        if drained.asked || drained.orphaned || crate::guard_kill::orphaned() {
            kill_group()
        }
    }
    let pid = match program.spawn() {
        Ok(pid) => pid,
        Err(errno) => {
            let message = std::io::Error::from_raw_os_error(errno as i32);
            let _ = writeln!(
                std::io::stderr(),
                "{GUARD_NAME}: cannot start `{}`: {message}",
                program.name()
            );
            let _ = send(control, &Line::ExecFailed(errno as i32));
            std::process::exit(EXIT_EXEC_FAILED);
        }
    };
    if send(control, &Line::Started(pid.as_raw() as u32)).is_err() {
        end_descendants(sigchld, Some(pid));
        std::process::exit(0) // vigil is gone
    }
    if let Some(socket @ None) = socket {
        // Off the restart's path: the program runs. Without it, the guard
        // exits after the run.
        *socket = crate::guard_park::ParkSocket::bind().ok();
    }
    match wait_program(control, sigchld, pid, key) {
        Ok(Ended::Exited(status)) => {
            end_descendants(sigchld, None);
            Some(status)
        }
        Ok(Ended::Killed) => end_descendants(sigchld, Some(pid)),
        Ok(Ended::ControlClosed) => {
            let status = end_descendants(sigchld, Some(pid));
            report_status(control, status);
            std::process::exit(0)
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "{GUARD_NAME}: {e}");
            let _ = send(control, &Line::Failed(e.to_string()));
            let status = end_descendants(sigchld, Some(pid));
            report_status(control, status);
            std::process::exit(0)
        }
    }
}

/// How long the guard keeps killing and reaping its descendants at the end
/// of a run before it exits anyway (a process in uninterruptible sleep
/// cannot be reaped; it is then left to init).
const END_LIMIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Report the end of a run whose guard exits next: `status <raw>` (when
/// there is one to report). The guard itself is not killed, so nothing of
/// the run is left as a zombie for init to reap: the spawner reaps the
/// guard.
fn report_status(control: BorrowedFd<'_>, status: Option<i32>) {
    if let Some(status) = status {
        // Fails when vigil is gone: nothing else to do then.
        let _ = send(control, &Line::Status(status));
    }
}

/// SIGKILL every child (`program` first, if given) until none is left, and
/// reap them: the program's children are reparented to this subreaper when
/// the program dies, and are killed in the next round. Only children are
/// signalled (their pids cannot be reused before this guard reaps them);
/// grandchildren become children as their parents die. The raw wait status
/// of `program` if it was reaped here. Gives up after [`END_LIMIT`].
fn end_descendants(sigchld: &SignalFd, program: Option<Pid>) -> Option<i32> {
    let started = std::time::Instant::now();
    let mut status = None;
    if let Some(pid) = program {
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
    }
    loop {
        let (found, any_left) = reap(program);
        status = status.or(found);
        if !any_left {
            return status;
        }
        for (child, state) in children() {
            if state != 'Z' {
                let _ = nix::sys::signal::kill(child, Signal::SIGKILL);
            }
        }
        if started.elapsed() > END_LIMIT {
            let _ = writeln!(
                std::io::stderr(),
                "{GUARD_NAME}: descendants still not reaped after {END_LIMIT:?}: leaving them to init"
            );
            return status;
        }
        // Wait for the next SIGCHLD (or a moment: a child may have ended
        // between the reaping and the scan).
        let mut fds = [PollFd::new(sigchld.as_fd(), PollFlags::POLLIN)];
        let _ = poll(&mut fds, PollTimeout::from(50u16));
        while let Ok(Some(_)) = sigchld.read_signal() {}
    }
}

/// The children of this process (`/proc/*/stat` whose parent is this
/// process), with their state letter.
pub(crate) fn children() -> Vec<(Pid, char)> {
    let me = nix::unistd::getpid().as_raw();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| {
        let pid: i32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // `pid (comm) S ppid ...`; comm may contain spaces and parentheses.
        let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
        let state = fields.next()?.chars().next()?;
        let ppid: i32 = fields.next()?.parse().ok()?;
        (ppid == me).then_some((Pid::from_raw(pid), state))
    })
    .collect()
}

/// The program to spawn: its argv and envp, as the NULL-terminated pointer
/// arrays `posix_spawnp` takes, built before the guard starts, so that the
/// guard allocates nothing to spawn it. The environment's strings are the
/// program's own ones and ones borrowed for `'env` (the spawner's
/// environment, built once: a forked guard shares those pages with the
/// spawner instead of getting a copy per run, see docs/ADAPTER.md, "What a
/// guard costs").
pub(crate) struct Program<'env> {
    /// The program and its arguments (not empty).
    argv: Vec<CString>,
    /// The environment entries this program owns (`KEY=value`): only
    /// kept alive for `envp_ptrs`.
    #[allow(dead_code)]
    own_env: Vec<CString>,
    /// Pointers into `argv`, then NULL.
    argv_ptrs: Vec<*mut libc::c_char>,
    /// Pointers into `own_env` and into the borrowed entries, then NULL.
    envp_ptrs: Vec<*mut libc::c_char>,
    borrowed: std::marker::PhantomData<&'env CStr>,
    /// Made once, before any fork (the same for every program): the guard
    /// allocates nothing to spawn.
    attributes: &'env SpawnAttributes,
    /// User, limits, cgroup... applied between `fork` and `exec` instead
    /// of `posix_spawnp` (`crate::spawn_setup`).
    setup: Option<crate::spawn_setup::PreparedSetup>,
}

impl<'env> Program<'env> {
    /// The program of `argv` (the program, then its arguments) with the
    /// environment `borrowed` then `own_env` (`KEY=value` strings), spawned
    /// with `attributes`; `None` if `argv` is empty.
    pub(crate) fn from_parts(
        argv: Vec<CString>,
        borrowed: impl IntoIterator<Item = &'env CStr>,
        own_env: Vec<CString>,
        attributes: &'env SpawnAttributes,
    ) -> Option<Program<'env>> {
        if argv.is_empty() {
            return None;
        }
        let pointer = |s: &CStr| s.as_ptr().cast_mut();
        let null = std::iter::once(std::ptr::null_mut());
        // A `CString`'s bytes stay where they are when the `CString` (or
        // the `Vec` holding it) moves: the pointers stay valid.
        let argv_ptrs = argv.iter().map(|a| pointer(a)).chain(null.clone()).collect();
        let entries = borrowed
            .into_iter()
            .map(pointer)
            .chain(own_env.iter().map(|e| pointer(e)))
            .chain(null);
        // One allocation of the most it can take (a filtered environment
        // gives no exact size): growing it by doubling frees a chunk of
        // each size on the way, and each `free` writes a page that the
        // guards forked before keep a copy of (docs/ADAPTER.md, "What a
        // guard costs").
        let (least, most) = entries.size_hint();
        let mut envp_ptrs = Vec::with_capacity(most.unwrap_or(least));
        envp_ptrs.extend(entries);
        Some(Program {
            argv,
            own_env,
            argv_ptrs,
            envp_ptrs,
            borrowed: std::marker::PhantomData,
            attributes,
            setup: None,
        })
    }

    /// The same program, started with `setup` applied (if any).
    pub(crate) fn with_setup(self, setup: Option<crate::spawn_setup::PreparedSetup>) -> Program<'env> {
        Program { setup, ..self }
    }

    fn new(args: &[OsString]) -> Result<Program<'static>, Failure> {
        let invalid = |what: &'static str| Failure {
            what,
            error: "contains a NUL byte".to_owned(),
        };
        if args.is_empty() {
            return Err(Failure {
                what: "no program to start",
                error: format!("usage: {GUARD_NAME} {GUARD_ARG} PROGRAM [ARG]..."),
            });
        }
        let argv = args
            .iter()
            .map(|a| CString::new(a.as_bytes()).map_err(|_| invalid("an argument")))
            .collect::<Result<Vec<_>, _>>()?;
        let envp = std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k.into_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                CString::new(kv).map_err(|_| invalid("an environment variable"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // This process is the guard until it exits: nothing to free.
        let attributes = Box::leak(Box::new(
            SpawnAttributes::new().map_err(Failure::sys("cannot prepare the program's spawn"))?,
        ));
        Program::from_parts(argv, [], envp, attributes).ok_or_else(|| invalid("the program"))
    }

    fn name(&self) -> std::borrow::Cow<'_, str> {
        self.argv[0].to_string_lossy()
    }

    /// `posix_spawnp` the program: stdin `/dev/null`, stdout and stderr the
    /// guard's, same process group, empty signal mask, SIGPIPE default. It
    /// allocates nothing (see `SpawnAttributes`).
    fn spawn(&self) -> Result<Pid, Errno> {
        if let Some(setup) = &self.setup {
            return setup.spawn(&self.argv_ptrs, &self.envp_ptrs);
        }
        // SAFETY: `argv_ptrs` and `envp_ptrs` are NULL-terminated arrays of
        // pointers into the `CString`s of `self` and into strings borrowed
        // for `'env`, which outlives `self`.
        #[allow(unsafe_code)]
        unsafe {
            self.attributes
                .spawnp(&self.argv[0], self.argv_ptrs.as_ptr(), self.envp_ptrs.as_ptr())
        }
    }
}

/// Check that the guard leads its own process group (it kills that group:
/// started any other way, it would kill its starter's) and that stdin is a
/// socket (vigil's control socket); become a child subreaper.
fn prepare(control: BorrowedFd<'_>) -> Result<(), Failure> {
    if nix::unistd::getpgrp() != nix::unistd::getpid() {
        return Err(Failure {
            what: "not the leader of its own process group",
            error: format!("{GUARD_NAME} is started by vigil, in a new process group"),
        });
    }
    let inspect = |e: std::io::Error| Failure {
        what: "cannot inspect stdin",
        error: e.to_string(),
    };
    let stdin = std::fs::File::from(control.try_clone_to_owned().map_err(inspect)?);
    if !stdin.metadata().map_err(inspect)?.file_type().is_socket() {
        return Err(Failure {
            what: "stdin is not a control socket",
            error: format!("{GUARD_NAME} is started by vigil, with a socket as stdin"),
        });
    }
    prctl::set_child_subreaper(true).map_err(Failure::sys("cannot become a child subreaper"))
}

/// A non-blocking signalfd reading SIGCHLD (blocked, so it stays pending
/// until read: no child exit can be missed) and the spawner's Kill
/// (`crate::guard_kill`).
fn sigchld_fd() -> Result<SignalFd, Failure> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    let mask = crate::guard_kill::with_kill_signal(&mask);
    SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(Failure::sys("cannot create a signalfd"))
}

enum Event {
    ControlClosed,
    Killed,
    Child,
}

/// Wait until vigil closes the control socket (an executed guard, `key`
/// 0) or the spawner dies (a forked one), the run `key` is killed, or a
/// child changes state. A forked guard does not poll its control socket:
/// see [`guard`].
fn wait_control_or_child(control: BorrowedFd<'_>, sigchld: &SignalFd, key: u64) -> Result<Event, Failure> {
    loop {
        let watched = if key == 0 {
            PollFlags::POLLIN
        } else {
            PollFlags::empty()
        };
        let mut fds = [
            PollFd::new(sigchld.as_fd(), PollFlags::POLLIN),
            PollFd::new(control, watched),
        ];
        let polled = if key == 0 { &mut fds[..] } else { &mut fds[..1] };
        match poll(polled, PollTimeout::NONE) {
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(Failure::sys("cannot poll")(e)),
        }
        let ready = |fd: &PollFd<'_>| fd.revents().is_some_and(|r| !r.is_empty());
        if key == 0 && ready(&fds[1]) && control_closed(control)? {
            return Ok(Event::ControlClosed);
        }
        if ready(&fds[0]) {
            // Drain: one read per pending SIGCHLD; the reaping loop finds
            // every child that ended, however many signals were merged.
            let drained = drain_signals(sigchld, key);
            if drained.orphaned {
                return Ok(Event::ControlClosed);
            }
            if key != 0 && drained.asked {
                return Ok(Event::Killed);
            }
            return Ok(Event::Child);
        }
    }
}

/// What the pending signals said (see [`drain_signals`]).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Drained {
    /// The spawner's request with the value asked for came.
    pub(crate) asked: bool,
    /// The spawner died: its death signal came and the guard's parent
    /// changed.
    pub(crate) orphaned: bool,
}

/// Read every pending signal: whether one was the spawner's request with
/// `value` (the run's key for its Kill, `RETIRE_VALUE` for a parked
/// guard's retirement; `crate::guard_kill`), and whether the spawner
/// died. Others are dropped: SIGCHLD only wakes the reaping, a Kill of an
/// earlier run came too late, and a death signal from anyone else (the
/// parent did not change) means nothing.
pub(crate) fn drain_signals(signals: &SignalFd, value: u64) -> Drained {
    let mut drained = Drained::default();
    while let Ok(Some(info)) = signals.read_signal() {
        drained.asked |= crate::guard_kill::request_value(&info) == Some(value);
        drained.orphaned |= info.ssi_signo == crate::guard_kill::death_signal() as u32;
    }
    drained.orphaned &= crate::guard_kill::orphaned();
    drained
}

/// Whether the control socket is at end of file, without waiting longer than
/// `timeout`.
fn poll_control(control: BorrowedFd<'_>, timeout: PollTimeout) -> Result<bool, Failure> {
    let mut fds = [PollFd::new(control, PollFlags::POLLIN)];
    match poll(&mut fds, timeout) {
        Ok(0) | Err(Errno::EINTR) => Ok(false),
        Ok(_) => control_closed(control),
        Err(e) => Err(Failure::sys("cannot poll")(e)),
    }
}

/// Read what is there: vigil never writes, so data is skipped; end of file
/// (or an error: the socket is unusable) means vigil is gone.
pub(crate) fn control_closed(control: BorrowedFd<'_>) -> Result<bool, Failure> {
    let mut buf = [0u8; 64];
    match nix::unistd::read(control.as_raw_fd(), &mut buf) {
        Ok(0) => Ok(true),
        Ok(_) | Err(Errno::EINTR | Errno::EAGAIN) => Ok(false),
        Err(_) => Ok(true),
    }
}

/// How the wait for the program ended.
enum Ended {
    /// The program ended with this raw wait status (it is reaped).
    Exited(i32),
    /// vigil closed the control socket (it died, or asks an executed
    /// guard to end the run), or the spawner died.
    ControlClosed,
    /// The spawner's Kill of the run.
    Killed,
}

/// Wait until the program ends (reaping reparented orphans meanwhile),
/// the control socket closes, or the run `key` is killed.
fn wait_program(control: BorrowedFd<'_>, sigchld: &SignalFd, program: Pid, key: u64) -> Result<Ended, Failure> {
    loop {
        if let (Some(status), _) = reap(Some(program)) {
            return Ok(Ended::Exited(status));
        }
        match wait_control_or_child(control, sigchld, key)? {
            Event::ControlClosed => return Ok(Ended::ControlClosed),
            Event::Killed => return Ok(Ended::Killed),
            Event::Child => {}
        }
    }
}

/// Reap every child that has ended: the raw wait status of `program` if it
/// was among them, and whether any child is left (alive, or ended since).
fn reap(program: Option<Pid>) -> (Option<i32>, bool) {
    let mut found = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if Some(pid) == program => found = Some((code & 0xff) << 8),
            Ok(WaitStatus::Signaled(pid, signal, core)) if Some(pid) == program => {
                found = Some(signal as i32 | if core { 0x80 } else { 0 })
            }
            Ok(WaitStatus::StillAlive) => return (found, true),
            Err(Errno::EINTR) => {}
            // ECHILD: no child left.
            Err(_) => return (found, false),
            Ok(_) => {}
        }
    }
}

/// Write one line to the control socket (SIGPIPE is blocked: a vanished
/// vigil is an error, not a signal).
pub(crate) fn send(control: BorrowedFd<'_>, line: &impl fmt::Display) -> Result<(), Errno> {
    // Formatted on the stack: a guard allocates nothing in its steady state
    // (each page it writes is a page of its own, see `Program`); only a
    // line longer than the buffer (a long failure message, a `parked`
    // line with a slot of over 100 bytes) is formatted on the heap.
    let mut stack = [0u8; 256];
    let unused = {
        let mut rest = &mut stack[..];
        writeln!(rest, "{line}").ok().map(|()| rest.len())
    };
    let heap;
    let mut bytes = match unused {
        Some(unused) => &stack[..stack.len() - unused],
        None => {
            heap = format!("{line}\n");
            heap.as_bytes()
        }
    };
    while !bytes.is_empty() {
        match nix::unistd::write(control, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// SIGKILL the whole process group, this guard included: only before the
/// program was spawned (nothing else is in the group then), or when the
/// guard cannot end the run in order.
fn kill_group() -> ! {
    let _ = killpg(Pid::from_raw(0), Signal::SIGKILL);
    // Unreachable in practice: SIGKILL cannot be blocked. Should `killpg`
    // fail, the program must still not outlive its guard.
    std::process::abort()
}

/// The guard failed before the program was spawned: say so (on stderr and
/// to vigil), then exit. (Once the program runs, a failure ends the run
/// instead, see `end_run`: the program must not run unguarded.)
pub(crate) fn give_up(failure: &Failure) -> ! {
    let _ = writeln!(std::io::stderr(), "{GUARD_NAME}: {failure}");
    let control = std::io::stdin();
    let _ = send(control.as_fd(), &Line::Failed(failure.to_string()));
    std::process::exit(EXIT_GUARD_FAILED)
}

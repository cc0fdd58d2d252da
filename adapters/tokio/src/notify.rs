//! The sd_notify readiness protocol, for process children that opt in.
//!
//! Each run with `notify = true` gets its own Unix datagram socket, bound to a
//! fresh path in a private directory (mode 0700) that is shared by all the
//! runs of this vigil process:
//! `$XDG_RUNTIME_DIR/vigil-notify-<vigil pid>/run-<generation>-<n>.sock`, or the
//! same under [`std::env::temp_dir`] when `XDG_RUNTIME_DIR` is unset or
//! unusable. Its path is passed to the child as `NOTIFY_SOCKET`, exactly as
//! systemd does, so programs using `systemd-notify` or libsystemd's
//! `sd_notify(3)` work unchanged. The socket is per run, so a message can only
//! come from that run (or from another process of the same user that finds the
//! socket; the directory keeps everyone else out); no credentials are checked.
//!
//! A datagram holds newline-separated `KEY=VALUE` assignments:
//!
//! | assignment | becomes |
//! |---|---|
//! | `READY=1` | [`RunnerReport::Ready`] |
//! | `WATCHDOG=1` | [`RunnerReport::Heartbeat`] |
//! | `STATUS=text` | [`RunnerReport::Status`] |
//! | `STOPPING=1` | a `tracing` debug event |
//! | anything else (`RELOADING=1`, `MAINPID=`, `BARRIER=1`, ...) | ignored |
//!
//! File descriptors sent along (`FDSTORE=1`, the pipe of `BARRIER=1`) are
//! closed by the kernel when the datagram is read, which is what
//! `systemd-notify`'s barrier waits for.

use std::future::Future;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::{env, fs};

use tokio::net::UnixDatagram;
use vigil_core::RunId;

use crate::report::{ReportSender, RunnerReport};

/// Whether a run gets a notify socket, and what its messages may do: a
/// `notify` worker's `READY=1` makes it ready; a worker with a
/// `health_timeout` gets the socket (and `WATCHDOG_USEC`) whatever its
/// readiness, so that libsystemd programs ping the watchdog (their
/// `WATCHDOG=1` is a heartbeat); a worker whose health probe decides its
/// readiness (`readiness = "probe"`) has its own `READY=1` ignored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct NotifyPlan {
    /// The run gets a socket (`NOTIFY_SOCKET`).
    pub(crate) socket: bool,
    /// Its `READY=1` is reported.
    pub(crate) accept_ready: bool,
    /// Its `WATCHDOG_USEC`: the worker's `health_timeout`.
    pub(crate) watchdog: Option<std::time::Duration>,
}

impl NotifyPlan {
    /// The plan of a worker whose readiness is `readiness`, with the
    /// heartbeat deadline `health_timeout`; `probe_ready`: its health probe
    /// decides its readiness.
    pub(crate) fn of(
        readiness: vigil_core::Readiness,
        health_timeout: Option<std::time::Duration>,
        probe_ready: bool,
    ) -> NotifyPlan {
        let accept_ready = readiness == vigil_core::Readiness::Notify && !probe_ready;
        NotifyPlan {
            socket: accept_ready || health_timeout.is_some(),
            accept_ready,
            watchdog: health_timeout,
        }
    }

    /// The plan of a worker with this readiness, no `health_timeout`
    /// and no probe deciding its readiness.
    pub(crate) fn of_readiness(readiness: vigil_core::Readiness) -> NotifyPlan {
        NotifyPlan::of(readiness, None, false)
    }

    /// The value of `WATCHDOG_USEC` (at least 1: 0 would mean "off" to
    /// libsystemd).
    pub(crate) fn watchdog_usec(&self) -> Option<String> {
        self.watchdog
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1).to_string())
    }
}

impl From<vigil_core::Readiness> for NotifyPlan {
    fn from(readiness: vigil_core::Readiness) -> NotifyPlan {
        NotifyPlan::of_readiness(readiness)
    }
}

/// The receive buffer; a longer datagram is truncated (systemd itself accepts
/// at most 4 KiB per message, so real clients stay far below).
const MAX_DATAGRAM: usize = 16 * 1024;

/// The most datagrams read after the run ended (far more than the kernel
/// queues for one socket: `net.unix.max_dgram_qlen` is 512 by default).
const MAX_DRAIN: usize = 4096;

/// One assignment of a notification datagram that vigil acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Notification {
    /// `READY=1`.
    Ready,
    /// `WATCHDOG=1`.
    Watchdog,
    /// `STATUS=text`.
    Status(String),
    /// `STOPPING=1`.
    Stopping,
}

/// The assignments of one datagram that vigil acts on, in order; unknown
/// assignments and lines without `=` are skipped, invalid UTF-8 is converted
/// lossily.
pub(crate) fn parse(datagram: &[u8]) -> Vec<Notification> {
    String::from_utf8_lossy(datagram)
        .split('\n')
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            match (key, value) {
                ("READY", "1") => Some(Notification::Ready),
                ("WATCHDOG", "1") => Some(Notification::Watchdog),
                ("STATUS", text) => Some(Notification::Status(text.to_owned())),
                ("STOPPING", "1") => Some(Notification::Stopping),
                _ => None,
            }
        })
        .collect()
}

/// The notification socket of one run. Dropping it closes the socket and
/// removes its file (and the shared directory, once no run uses it).
///
/// Two readers share it, one at a time (a lock makes "read a datagram and
/// send its reports" one step): the run's task ([`NotifySocket::serve_until`])
/// and the driver, which, before it lets a deadline fire, delivers what
/// the kernel already holds ([`NotifySocket::deliver_queued`]). Either
/// way, every datagram becomes its reports, in the order received.
#[derive(Debug)]
pub(crate) struct NotifySocket {
    socket: UnixDatagram,
    path: PathBuf,
    run: RunId,
    worker: Arc<str>,
    reports: ReportSender,
    /// `READY=1` is reported ([`NotifyPlan::accept_ready`]).
    accept_ready: bool,
    /// Held while datagrams are read and reported, so that the two readers
    /// report in the order received. The receive buffer is the reading
    /// thread's ([`with_buffer`]): an idle run holds none.
    reading: Mutex<()>,
    /// The socket file was removed (at the run's end, or on drop).
    removed: std::sync::atomic::AtomicBool,
    _dir: DirLease,
}

impl NotifySocket {
    /// Bind a fresh socket for `run` of the worker at `worker`; its
    /// notifications go to `reports`. Must be called inside a tokio runtime.
    ///
    /// With an `owner` (the uid and gid a program that drops its privileges
    /// runs as), the socket is made in a second directory, 0711 under the
    /// temporary directory, and its file becomes that user's with mode
    /// 0600: that user can send to its own socket (and enter the directory,
    /// but not list it), and nobody else but root can.
    pub(crate) fn bind(
        run: RunId,
        worker: Arc<str>,
        reports: ReportSender,
        accept_ready: bool,
        owner: Option<(u32, u32)>,
    ) -> io::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = DirLease::acquire(owner.is_some())?;
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = dir.0.join(format!("run-{}-{n}.sock", run.generation));
        // A leftover file can only come from a crashed vigil whose pid we
        // reuse *and* whose directory we reuse, which `DirLease` never does;
        // binding over it would fail anyway.
        let socket = UnixDatagram::bind(&path)?;
        if let Some((uid, gid)) = owner {
            give_to(&path, &dir.0, uid, gid)?;
        }
        Ok(NotifySocket {
            socket,
            path,
            run,
            worker,
            reports,
            accept_ready,
            reading: Mutex::new(()),
            removed: std::sync::atomic::AtomicBool::new(false),
            _dir: dir,
        })
    }

    /// The socket's path, the value of the child's `NOTIFY_SOCKET`.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Translate datagrams into reports until `end` completes, then
    /// translate the datagrams already queued (so a `READY=1` sent just
    /// before exiting is reported before the exit) and return `end`'s
    /// output. `end` should leave no sender behind (the process runner kills
    /// the whole process group before it completes); the final drain stops
    /// after [`MAX_DRAIN`] datagrams anyway.
    pub(crate) async fn serve_until<F: Future>(&self, end: F) -> F::Output {
        tokio::pin!(end);
        let output = loop {
            tokio::select! {
                ready = self.socket.readable() => match ready {
                    Ok(()) => self.read_ready(),
                    Err(e) => {
                        self.lost(&e);
                        break (&mut end).await;
                    }
                },
                output = &mut end => break output,
            }
        };
        self.deliver_queued();
        // The run is over: nobody may find the socket any more (the driver
        // may still hold it open for a moment).
        self.remove_file();
        output
    }

    /// Remove the socket's file (once).
    fn remove_file(&self) {
        if self.removed.swap(true, Ordering::Relaxed) {
            return;
        }
        if let Err(e) = fs::remove_file(&self.path) {
            tracing::debug!(target: "vigil::notify", socket = %self.path.display(), error = %e,
                "cannot remove notify socket");
        }
    }

    /// Read what tokio says is ready, until the socket would block (which
    /// clears tokio's readiness) or [`MAX_DRAIN`] datagrams.
    fn read_ready(&self) {
        let _reading = self.reading.lock().unwrap_or_else(PoisonError::into_inner);
        with_buffer(|buf| {
            for _ in 0..MAX_DRAIN {
                match self.socket.try_recv(buf) {
                    Ok(n) => dispatch(&buf[..n], self.run, &self.worker, &self.reports, self.accept_ready),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(e) => {
                        self.lost(&e);
                        return;
                    }
                }
            }
        });
    }

    fn lost(&self, e: &io::Error) {
        tracing::warn!(target: "vigil::notify", path = &*self.worker, generation = self.run.generation, error = %e,
            "notify socket failed; further notifications of this run may be lost");
    }

    /// Translate what is queued on the socket now. This asks the kernel
    /// directly, through a duplicate of the descriptor: tokio's own `try_recv`
    /// trusts its cached readiness, which the reactor may not have updated yet
    /// (for a datagram sent by a child that exited before the runtime looked,
    /// or while the runtime was busy or vigil suspended).
    pub(crate) fn deliver_queued(&self) {
        let (run, path) = (self.run, &*self.worker);
        let duplicate = match self.socket.as_fd().try_clone_to_owned() {
            // Shares the open file description, and so its O_NONBLOCK.
            Ok(fd) => std::os::unix::net::UnixDatagram::from(fd),
            Err(e) => {
                tracing::warn!(target: "vigil::notify", path, generation = run.generation, error = %e,
                    "cannot drain the notify socket; its last notifications are lost");
                return;
            }
        };
        let _reading = self.reading.lock().unwrap_or_else(PoisonError::into_inner);
        with_buffer(|buf| {
            for _ in 0..MAX_DRAIN {
                match duplicate.recv(buf) {
                    Ok(n) => dispatch(&buf[..n], run, path, &self.reports, self.accept_ready),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break, // WouldBlock: empty
                }
            }
        });
    }
}

impl Drop for NotifySocket {
    fn drop(&mut self) {
        // The socket itself is closed when the fields drop, right after.
        self.remove_file();
    }
}

/// Run `read` with this thread's receive buffer ([`MAX_DATAGRAM`] bytes,
/// allocated once per thread that reads notify sockets): the sockets of idle
/// runs hold no buffer of their own. `read` must not read notify sockets
/// itself (it only dispatches reports to a channel).
fn with_buffer(read: impl FnOnce(&mut [u8])) {
    thread_local! {
        static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUFFER.with_borrow_mut(|buf| {
        if buf.is_empty() {
            buf.resize(MAX_DATAGRAM, 0);
        }
        read(buf);
    });
}

/// Send the reports of one datagram (the driver ignoring them is fine: a
/// closed inbox means the driver is gone).
fn dispatch(datagram: &[u8], run: RunId, path: &str, reports: &ReportSender, accept_ready: bool) {
    for notification in parse(datagram) {
        let report = match notification {
            Notification::Ready if accept_ready => RunnerReport::Ready,
            Notification::Ready => {
                tracing::debug!(target: "vigil::notify", path, generation = run.generation,
                    "READY=1 ignored: the child's health probe decides its readiness");
                continue;
            }
            Notification::Watchdog => RunnerReport::Heartbeat,
            Notification::Status(text) => RunnerReport::Status(text),
            Notification::Stopping => {
                tracing::debug!(target: "vigil::notify", path, generation = run.generation,
                    "the process says it is stopping");
                continue;
            }
        };
        let _ = reports.send((run, report));
    }
}

/// The private directory holding the notify sockets, and how many sockets use
/// it; created with the first socket, removed with the last.
static DIR: Mutex<(Option<PathBuf>, usize)> = Mutex::new((None, 0));

/// The same for the sockets of programs that run as another user
/// ([`give_to`]): mode 0711, under the temporary directory only (an
/// `XDG_RUNTIME_DIR` is normally 0700, closed to other users).
static SHARED_DIR: Mutex<(Option<PathBuf>, usize)> = Mutex::new((None, 0));

/// One socket's use of a shared directory ([`DIR`] or [`SHARED_DIR`]).
#[derive(Debug)]
struct DirLease(PathBuf, &'static Mutex<(Option<PathBuf>, usize)>);

impl DirLease {
    /// A lease on [`DIR`], or with `shared` on [`SHARED_DIR`].
    fn acquire(shared: bool) -> io::Result<Self> {
        let table = if shared { &SHARED_DIR } else { &DIR };
        let mut dir = table.lock().unwrap_or_else(PoisonError::into_inner);
        let path = match &dir.0 {
            Some(path) => path.clone(),
            None => {
                let path = create_private_dir(shared)?;
                dir.0 = Some(path.clone());
                path
            }
        };
        dir.1 += 1;
        Ok(DirLease(path, table))
    }
}

impl Drop for DirLease {
    fn drop(&mut self) {
        let mut dir = self.1.lock().unwrap_or_else(PoisonError::into_inner);
        dir.1 -= 1;
        if dir.1 == 0 {
            dir.0 = None;
            // Fails (harmlessly) only if someone else put a file there.
            let _ = fs::remove_dir(&self.0);
        }
    }
}

/// Make the socket at `path` (in `dir`, the 0711 [`SHARED_DIR`]) reachable
/// by the user `uid` only: the file is theirs, mode 0600. An error if a
/// directory above `dir` does not let others through (a private `TMPDIR`):
/// that user could never reach the socket.
fn give_to(path: &Path, dir: &Path, uid: u32, gid: u32) -> io::Result<()> {
    for above in dir.ancestors().skip(1) {
        let meta = fs::metadata(above)?;
        let mode = meta.permissions().mode();
        if mode & 0o001 == 0 && std::os::unix::fs::MetadataExt::uid(&meta) != uid {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                format!(
                    "{} (mode {:o}) does not let the program's user (uid {uid}) through to its notify socket; \
                     run vigil with a TMPDIR that others may enter",
                    above.display(),
                    mode & 0o7777
                ),
            ));
        }
    }
    std::os::unix::fs::chown(path, Some(uid), Some(gid))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))
}

/// Create a new directory only this user can enter, under `$XDG_RUNTIME_DIR`
/// if it is set and usable, else under the temporary directory. An existing
/// directory is never reused (in a shared `/tmp` it may be someone else's
/// trap): a name that is taken gets a numbered suffix instead.
///
/// With `shared`, the directory is 0711 (others may enter, not list: the
/// sockets in it are each their user's, mode 0600), and only under the
/// temporary directory.
fn create_private_dir(shared: bool) -> io::Result<PathBuf> {
    let mut bases = Vec::new();
    let (mode, suffix) = if shared { (0o711, "-shared") } else { (0o700, "") };
    if let (false, Some(runtime)) = (shared, env::var_os("XDG_RUNTIME_DIR")) {
        let runtime = PathBuf::from(runtime);
        if runtime.is_absolute() {
            bases.push(runtime);
        }
    }
    bases.push(env::temp_dir());
    let pid = std::process::id();
    let mut last_error = None;
    for base in bases {
        for attempt in 0..64 {
            let name = if attempt == 0 {
                format!("vigil-notify-{pid}{suffix}")
            } else {
                format!("vigil-notify-{pid}{suffix}-{attempt}")
            };
            let dir = base.join(name);
            match fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {
                    // The umask can only remove bits; make the mode exact.
                    fs::set_permissions(&dir, fs::Permissions::from_mode(mode))?;
                    return Ok(dir);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    last_error = Some(e);
                    break;
                }
            }
        }
    }
    Err(last_error.unwrap_or_else(|| {
        io::Error::new(
            io::ErrorKind::AlreadyExists,
            "no free name for the notify socket directory",
        )
    }))
}

//! vigil's side of the process spawner: one long-lived process per tree that
//! forks a guard (`crate::guard`) for each process run, so that a start
//! costs one `fork` of a small process and one `posix_spawnp`, not a second
//! exec of vigil's binary.
//!
//! The spawner is the running binary executed once, lazily at the tree's
//! first process start, by `start` (`posix_spawn`: vigil never forks
//! itself), with [`SPAWNER_ARG`] as its first argument, which
//! [`crate::guard::enter_if_guard`] recognises (`crate::spawner_process` is
//! its code). vigil and the spawner talk over one `SOCK_SEQPACKET` socket
//! pair (the spawner's end is its stdin), with the messages of
//! `crate::spawner_protocol`; a run's stdout and stderr descriptors travel
//! with its request (`SCM_RIGHTS`) and are closed in vigil once sent.
//!
//! In vigil, a start writes its request at once (`Spawner::spawn`; queued
//! only while the socket is full), and ONE task per spawner reads the
//! replies, writes what was queued, and hands each reply to its run through
//! the run's `RunLink`; a run holds no descriptor of its own for its guard,
//! and no `Child` (no pidfd): the spawner reaps the guards.
//!
//! **Death.** vigil dies (even by SIGKILL): the spawner reads end of file
//! and exits at once; every guard gets the signal it asked for at its
//! parent's death (`crate::guard_kill::death_signal`) and kills and reaps
//! its run. The spawner dies: every guard ends its run the same way; vigil reads end of file, every live
//! run ends with the reason `process spawner died` (its process group is
//! SIGKILLed as a safety net), and the next process start starts a new
//! spawner.

use std::collections::{BTreeMap, VecDeque};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, PoisonError};

use nix::errno::Errno;
use nix::sys::socket::{self, ControlMessage, MsgFlags};
use tokio::io::unix::AsyncFd;
use tokio::sync::oneshot;

use crate::spawner_protocol::{Reply, Request, SpawnRequest, FIRST_KEY, MAX_MESSAGE};

/// The first argument that makes a binary the process spawner.
pub const SPAWNER_ARG: &str = "__vigil_spawner";

/// What the spawner shows as its `argv[0]`.
const SPAWNER_ARGV0: &str = "vigil-spawner";

/// The reason of a run whose spawner died under it.
pub(crate) const SPAWNER_DIED: &str = "process spawner died";

/// Start a process spawner: the running binary (`/proc/self/exe`) with
/// [`SPAWNER_ARG`], its stdin the spawner's end of a new `SOCK_SEQPACKET`
/// socket pair, stdout and stderr vigil's, in a process group of its own.
/// The child and vigil's end of the socket. The one place where vigil
/// starts a spawner.
pub(crate) fn start() -> std::io::Result<(tokio::process::Child, crate::own_children::OwnChild, OwnedFd)> {
    let (ours, theirs) = socket::socketpair(
        socket::AddressFamily::Unix,
        socket::SockType::SeqPacket,
        None,
        socket::SockFlag::SOCK_CLOEXEC | socket::SockFlag::SOCK_NONBLOCK,
    )?;
    // The spawner's end: blocking (it sets it non-blocking itself).
    let theirs = std::os::unix::net::UnixStream::from(theirs);
    theirs.set_nonblocking(false)?;
    let mut command = tokio::process::Command::new(crate::guard::GUARD_EXE);
    command
        .arg0(SPAWNER_ARGV0)
        .arg(SPAWNER_ARG)
        .stdin(std::process::Stdio::from(OwnedFd::from(theirs)))
        .process_group(0)
        .kill_on_drop(false);
    // Registered under the spawn's own lock (own_children.rs): a reaper
    // acting as init never takes the spawner's exit status. `id` is `None`
    // only once the child has been waited for, which nothing has done yet.
    let (child, own) = crate::own_children::spawn_registered(|| command.spawn(), |c| c.id().unwrap_or(0))?;
    Ok((child, own, ours))
}

/// A tree's spawner, started at the first request and again after it died.
/// Dropping it (the tree's end) ends the spawner, and with it every run.
#[derive(Debug, Default)]
pub(crate) struct Spawner {
    live: Mutex<Option<Arc<Connection>>>,
}

impl Drop for Spawner {
    fn drop(&mut self) {
        if let Some(c) = self.live.get_mut().unwrap_or_else(PoisonError::into_inner).take() {
            c.close();
        }
    }
}

impl Spawner {
    /// Send `request` (with `fds`, its passed descriptors) to the live
    /// spawner, starting one if there is none: the run's link to its
    /// replies. The request is written at once unless earlier ones still
    /// wait for room in the socket. Must be called within a tokio runtime.
    pub(crate) fn spawn(&self, request: SpawnRequest, fds: Vec<OwnedFd>) -> std::io::Result<RunLink> {
        let connection = self.connection()?;
        let (started_tx, started) = oneshot::channel();
        let (end_tx, end) = oneshot::channel();
        let pending = Pending {
            started: Some(started_tx),
            end: end_tx,
        };
        let mut state = connection.lock();
        // Taken under the lock: requests go out in the order of their keys,
        // which the spawner checks.
        let key = state.next_key;
        state.next_key += 1;
        let message = Request::Spawn(key, request).encode();
        // A spawner that died just now: dropping the pending run tells the
        // run (its receivers fail) that the spawner died.
        if !state.dead {
            state.pending.insert(key, pending);
            match message {
                Ok(message) if message.len() <= MAX_MESSAGE => {
                    connection.send_or_queue(&mut state, key, message, fds);
                }
                _ => refuse(&mut state.pending, key, Errno::EMSGSIZE),
            }
        }
        drop(state);
        Ok(RunLink {
            key,
            connection,
            started,
            end,
        })
    }

    /// The live connection, or a new spawner's.
    fn connection(&self) -> std::io::Result<Arc<Connection>> {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = &*live {
            if !c.lock().dead {
                return Ok(Arc::clone(c));
            }
        }
        let c = Connection::start()?;
        *live = Some(Arc::clone(&c));
        Ok(c)
    }
}

/// One live spawner: its socket, and the runs waiting for its replies.
#[derive(Debug)]
struct Connection {
    socket: AsyncFd<OwnedFd>,
    state: Mutex<State>,
    /// Told when the backlog gets its first message, or at the tree's end.
    wake: tokio::sync::Notify,
}

#[derive(Debug)]
struct State {
    pending: BTreeMap<u64, Pending>,
    /// Messages waiting for room in the socket, in order.
    backlog: VecDeque<(u64, Vec<u8>, Vec<OwnedFd>)>,
    /// The spawner is gone (or the tree ended): nothing is sent any more.
    dead: bool,
    /// The tree ended: the task ends the spawner.
    closing: bool,
    /// The key of the next run.
    next_key: u64,
}

impl Default for State {
    fn default() -> State {
        State {
            pending: BTreeMap::new(),
            backlog: VecDeque::new(),
            dead: false,
            closing: false,
            next_key: FIRST_KEY,
        }
    }
}

impl Connection {
    fn start() -> std::io::Result<Arc<Connection>> {
        let (child, own, socket) = start()?;
        // SAFETY: `socket` is an `OwnedFd`, moved into the `AsyncFd`: it
        // stays open, the same descriptor, until the `AsyncFd` is dropped.
        #[allow(unsafe_code)]
        let socket = unsafe { AsyncFd::register(socket) }.map_err(std::io::Error::from)?;
        let connection = Arc::new(Connection {
            socket,
            state: Mutex::new(State::default()),
            wake: tokio::sync::Notify::new(),
        });
        tokio::spawn(serve(Arc::clone(&connection), child, own));
        Ok(connection)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn raw(&self) -> RawFd {
        self.socket.get_ref().as_raw_fd()
    }

    /// Write `message` now if nothing waits before it, else (or if the
    /// socket is full) queue it for the task.
    fn send_or_queue(&self, state: &mut State, key: u64, message: Vec<u8>, fds: Vec<OwnedFd>) {
        if state.backlog.is_empty() {
            match send(self.raw(), &message, &fds) {
                Ok(()) => return,
                Err(Errno::EMSGSIZE) => return refuse(&mut state.pending, key, Errno::EMSGSIZE),
                // Full: queued below. Broken: the task reads the end and
                // fails every run.
                Err(_) => {}
            }
        }
        state.backlog.push_back((key, message, fds));
        if state.backlog.len() == 1 {
            self.wake.notify_one();
        }
    }

    /// The tree ended: the task shuts the socket down, which ends the
    /// spawner and every run.
    fn close(&self) {
        self.lock().closing = true;
        self.wake.notify_one();
    }
}

/// Where the replies about one run go: the guard's pid with each.
#[derive(Debug)]
struct Pending {
    /// `started`, or the reply that replaces it.
    started: Option<oneshot::Sender<(u32, Reply)>>,
    /// The last reply after `started`.
    end: oneshot::Sender<(u32, Reply)>,
}

/// A run's link to its spawner: its replies (each with the guard's pid, the
/// run's process group), and its Kill. A reply that never comes (the
/// receiver's error) means the spawner died.
#[derive(Debug)]
pub(crate) struct RunLink {
    key: u64,
    connection: Arc<Connection>,
    /// `started` (the program runs), or the reply that ends the run before it.
    pub(crate) started: oneshot::Receiver<(u32, Reply)>,
    /// The reply that ends a started run.
    pub(crate) end: oneshot::Receiver<(u32, Reply)>,
}

impl RunLink {
    /// Ask the spawner to end the run, whose guard is `guard` (from its
    /// `started` reply; vigil's Kill): it signals the guard
    /// (`crate::guard_kill`), which kills and reaps every process of the
    /// run and reports the status. Nothing happens if the run ended or the spawner is gone.
    pub(crate) fn kill(&self, guard: u32) {
        let mut state = self.connection.lock();
        if !state.dead && state.pending.contains_key(&self.key) {
            let message = Request::Kill(self.key, guard).encode().unwrap_or_default();
            self.connection.send_or_queue(&mut state, self.key, message, Vec::new());
        }
    }
}

/// The spawner's task: read the replies, write what waits in the backlog,
/// until the spawner's end of file (it died) or the tree's end (the socket
/// is shut down: the spawner exits, every guard ends its run). Then every
/// run still waiting learns that the spawner died, and the spawner is reaped.
async fn serve(connection: Arc<Connection>, mut child: tokio::process::Child, own: crate::own_children::OwnChild) {
    let mut buffer = vec![0u8; 4096];
    loop {
        let (backlog, closing) = {
            let state = connection.lock();
            (!state.backlog.is_empty(), state.closing)
        };
        if closing {
            break;
        }
        tokio::select! {
            ready = connection.socket.readable() => {
                let Ok(mut ready) = ready else { break };
                match read_replies(&connection, &mut buffer) {
                    Ok(()) => ready.clear_ready(),
                    Err(()) => break,
                }
            }
            ready = connection.socket.writable(), if backlog => {
                let Ok(mut ready) = ready else { break };
                match write_backlog(&connection) {
                    Ok(()) => {}
                    Err(Errno::EAGAIN) => ready.clear_ready(),
                    Err(_) => break,
                }
            }
            () = connection.wake.notified() => {}
        }
    }
    let _ = socket::shutdown(connection.raw(), socket::Shutdown::Both);
    let (pending, backlog) = {
        let mut state = connection.lock();
        state.dead = true;
        (std::mem::take(&mut state.pending), std::mem::take(&mut state.backlog))
    };
    if !pending.is_empty() {
        tracing::error!(target: "vigil::process", runs = pending.len(),
            "the process spawner died: its runs end (their guards kill them)");
    }
    drop((pending, backlog));
    match child.wait().await {
        Ok(status) => tracing::debug!(target: "vigil::process", %status, "process spawner reaped"),
        Err(e) => tracing::warn!(target: "vigil::process", error = %e, "cannot reap the process spawner"),
    }
    // Waited for: the pid is no longer vigil's to keep from the reaper.
    drop(own);
}

/// Write the backlog, in order, until it is empty (`Ok`) or the socket is
/// full (`EAGAIN`); another error: the spawner is gone.
fn write_backlog(connection: &Connection) -> Result<(), Errno> {
    let mut state = connection.lock();
    while let Some((key, message, fds)) = state.backlog.pop_front() {
        match send(connection.raw(), &message, &fds) {
            Ok(()) => {}
            Err(Errno::EMSGSIZE) => refuse(&mut state.pending, key, Errno::EMSGSIZE),
            Err(e) => {
                state.backlog.push_front((key, message, fds));
                return Err(e);
            }
        }
    }
    Ok(())
}

/// A request the spawner cannot take: its run fails to start.
fn refuse(pending: &mut BTreeMap<u64, Pending>, key: u64, error: Errno) {
    let message = match error {
        Errno::EMSGSIZE => format!("the command line and environment exceed {MAX_MESSAGE} bytes"),
        e => e.desc().to_owned(),
    };
    deliver(pending, key, 0, Reply::Failed(message));
}

/// Send one message, non-blocking, with `fds`.
fn send(socket: RawFd, message: &[u8], fds: &[OwnedFd]) -> Result<(), Errno> {
    let raw: Vec<RawFd> = fds.iter().map(AsRawFd::as_raw_fd).collect();
    let rights = [ControlMessage::ScmRights(&raw)];
    let cmsgs: &[ControlMessage<'_>] = if raw.is_empty() { &[] } else { &rights };
    loop {
        match socket::sendmsg::<()>(
            socket,
            &[IoSlice::new(message)],
            cmsgs,
            MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_NOSIGNAL,
            None,
        ) {
            Ok(_) => return Ok(()),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Read every reply waiting; `Err` at end of file or on an error (the
/// spawner is gone).
fn read_replies(connection: &Connection, buffer: &mut [u8]) -> Result<(), ()> {
    loop {
        let mut iov = [IoSliceMut::new(buffer)];
        let len = match socket::recvmsg::<()>(connection.raw(), &mut iov, None, MsgFlags::MSG_DONTWAIT) {
            Ok(msg) => msg.bytes,
            Err(Errno::EAGAIN) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(_) => return Err(()),
        };
        if len == 0 {
            return Err(());
        }
        match Reply::decode(&buffer[..len]) {
            Some((key, guard, reply)) => deliver(&mut connection.lock().pending, key, guard, reply),
            None => tracing::warn!(target: "vigil::process", message = %String::from_utf8_lossy(&buffer[..len]),
                "unexpected message from the process spawner"),
        }
    }
}

/// Hand `reply` to the run `key`: `started` to its start, any other reply
/// ends it (to its start if it never started).
fn deliver(pending: &mut BTreeMap<u64, Pending>, key: u64, guard: u32, reply: Reply) {
    if let Reply::Started(_) = reply {
        if let Some(sender) = pending.get_mut(&key).and_then(|p| p.started.take()) {
            let _ = sender.send((guard, reply));
        }
        return;
    }
    let Some(run) = pending.remove(&key) else { return };
    let _ = match run.started {
        Some(sender) => sender.send((guard, reply)),
        None => run.end.send((guard, reply)),
    };
}

//! vigil's side of the process spawner: one long-lived process per tree that
//! forks a guard (`crate::guard`) for each process run, so that a start
//! costs one `fork` of a small process and one `posix_spawnp`, not a second
//! exec of vigil's binary.
//!
//! The spawner is the running binary executed once, lazily at the tree's
//! first process start, by [`start`] (`posix_spawn`: vigil never forks
//! itself), with [`SPAWNER_ARG`] as its first argument, which
//! [`crate::guard::enter_if_guard`] recognises (`crate::spawner_process` is
//! its code). vigil and the spawner talk over one `SOCK_SEQPACKET` socket
//! pair (the spawner's end is its stdin), with the messages of
//! `crate::spawner_protocol`; a run's stdout and stderr descriptors travel
//! with its request (`SCM_RIGHTS`) and are closed in vigil once sent.
//!
//! In vigil, ONE task per spawner ([`Connection`]'s) writes the requests and
//! reads the replies, and hands each reply to its run through the run's
//! [`RunLink`]; a run holds no descriptor of its own for its guard, and no
//! `Child` (no pidfd): the spawner reaps the guards.
//!
//! **Death.** vigil dies (even by SIGKILL): the spawner reads end of file
//! and exits at once; every guard reads end of file on its own socket and
//! kills and reaps its run. The spawner dies: every guard reads end of
//! file and ends its run the same way; vigil reads end of file, every live
//! run ends with the reason `process spawner died` (its process group is
//! SIGKILLed as a safety net), and the next process start starts a new
//! spawner.

use std::collections::BTreeMap;
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use nix::errno::Errno;
use nix::sys::socket::{self, ControlMessage, MsgFlags};
use tokio::io::unix::AsyncFd;
use tokio::sync::{mpsc, oneshot};

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
pub(crate) fn start() -> std::io::Result<(tokio::process::Child, OwnedFd)> {
    let (ours, theirs) = socket::socketpair(
        socket::AddressFamily::Unix,
        socket::SockType::SeqPacket,
        None,
        socket::SockFlag::SOCK_CLOEXEC | socket::SockFlag::SOCK_NONBLOCK,
    )?;
    // The spawner's end: blocking (it sets it non-blocking itself).
    let theirs = std::os::unix::net::UnixStream::from(theirs);
    theirs.set_nonblocking(false)?;
    let child = tokio::process::Command::new(crate::guard::GUARD_EXE)
        .arg0(SPAWNER_ARGV0)
        .arg(SPAWNER_ARG)
        .stdin(std::process::Stdio::from(OwnedFd::from(theirs)))
        .process_group(0)
        .kill_on_drop(false)
        .spawn()?;
    Ok((child, ours))
}

/// A tree's spawner, started at the first request and again after it died.
#[derive(Debug, Default)]
pub(crate) struct Spawner {
    live: Mutex<Option<Arc<Connection>>>,
}

impl Spawner {
    /// Send `request` (with `fds`, its passed descriptors) to the live
    /// spawner, starting one if there is none: the run's link to its
    /// replies. Must be called within a tokio runtime.
    pub(crate) fn spawn(&self, request: SpawnRequest, fds: Vec<OwnedFd>) -> std::io::Result<RunLink> {
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        let connection = match &*live {
            Some(c) if !c.out.is_closed() => Arc::clone(c),
            _ => {
                let c = Connection::start()?;
                *live = Some(Arc::clone(&c));
                c
            }
        };
        drop(live);
        let key = connection.next_key.fetch_add(1, Ordering::Relaxed);
        let (started_tx, started) = oneshot::channel();
        let (end_tx, end) = oneshot::channel();
        let pending = Pending {
            started: Some(started_tx),
            end: end_tx,
        };
        // A spawner that died just now: its task drops the pending run,
        // which the run reads as the spawner's death.
        let _ = connection.out.send(Outgoing::Spawn(key, request, fds, pending));
        Ok(RunLink {
            key,
            connection,
            started,
            end,
        })
    }
}

/// One live spawner: the queue of its task.
#[derive(Debug)]
struct Connection {
    out: mpsc::UnboundedSender<Outgoing>,
    next_key: AtomicU64,
}

impl Connection {
    fn start() -> std::io::Result<Arc<Connection>> {
        let (child, socket) = start()?;
        // SAFETY: `socket` is an `OwnedFd`, moved into the `AsyncFd`: it
        // stays open, the same descriptor, until the `AsyncFd` is dropped.
        #[allow(unsafe_code)]
        let socket = unsafe { AsyncFd::register(socket) }.map_err(std::io::Error::from)?;
        let (out, rx) = mpsc::unbounded_channel();
        tokio::spawn(serve(socket, rx, child));
        Ok(Arc::new(Connection {
            out,
            next_key: AtomicU64::new(FIRST_KEY),
        }))
    }
}

/// What the task sends to the spawner.
#[derive(Debug)]
enum Outgoing {
    Spawn(u64, SpawnRequest, Vec<OwnedFd>, Pending),
    Kill(u64),
}

/// Where the replies about one run go.
#[derive(Debug)]
struct Pending {
    /// `started`, or the reply that replaces it.
    started: Option<oneshot::Sender<Reply>>,
    /// The last reply after `started`.
    end: oneshot::Sender<Reply>,
}

/// A run's link to its spawner: its replies, and its Kill. A reply that
/// never comes (the receiver's error) means the spawner died.
#[derive(Debug)]
pub(crate) struct RunLink {
    key: u64,
    connection: Arc<Connection>,
    /// `started` (the program runs), or the reply that ends the run before it.
    pub(crate) started: oneshot::Receiver<Reply>,
    /// The reply that ends a started run.
    pub(crate) end: oneshot::Receiver<Reply>,
}

impl RunLink {
    /// Ask the spawner to end the run (vigil's Kill): its guard reads end
    /// of file, kills and reaps every process of the run and reports the
    /// status. Nothing happens if the spawner is gone (the run ends anyway).
    pub(crate) fn kill(&self) {
        let _ = self.connection.out.send(Outgoing::Kill(self.key));
    }
}

/// The spawner's task: write the requests, read the replies, until the
/// spawner's end of file (it died) or the tree's end (every sender dropped:
/// closing the socket then ends the spawner and every run). Then every run
/// still waiting learns that the spawner died, and the spawner is reaped.
async fn serve(socket: AsyncFd<OwnedFd>, mut rx: mpsc::UnboundedReceiver<Outgoing>, mut child: tokio::process::Child) {
    let mut pending: BTreeMap<u64, Pending> = BTreeMap::new();
    let mut blocked: Option<(u64, Vec<u8>, Vec<OwnedFd>)> = None;
    let mut buffer = vec![0u8; 4096];
    loop {
        tokio::select! {
            ready = socket.readable() => {
                let Ok(mut ready) = ready else { break };
                match read_replies(socket.get_ref().as_raw_fd(), &mut buffer, &mut pending) {
                    Ok(()) => ready.clear_ready(),
                    Err(()) => break,
                }
            }
            out = rx.recv(), if blocked.is_none() => {
                let Some(out) = out else { break };
                blocked = queue(out, &mut pending);
            }
            ready = socket.writable(), if blocked.is_some() => {
                let Ok(mut ready) = ready else { break };
                let Some((key, message, fds)) = blocked.take() else { continue };
                match send(socket.get_ref().as_raw_fd(), &message, &fds) {
                    Ok(()) => {}
                    Err(Errno::EAGAIN) => {
                        ready.clear_ready();
                        blocked = Some((key, message, fds));
                    }
                    Err(e) if e == Errno::EMSGSIZE => refuse(key, &mut pending, e),
                    Err(_) => break,
                }
            }
        }
    }
    drop(socket);
    rx.close();
    if !pending.is_empty() {
        tracing::error!(target: "vigil::process", runs = pending.len(),
            "the process spawner died: its runs end (their guards kill them)");
    }
    drop(pending);
    while rx.recv().await.is_some() {}
    match child.wait().await {
        Ok(status) => tracing::debug!(target: "vigil::process", %status, "process spawner reaped"),
        Err(e) => tracing::warn!(target: "vigil::process", error = %e, "cannot reap the process spawner"),
    }
}

/// Register a request's run and encode it: the message to send (with its
/// descriptors), or `None` if it cannot be sent (the run is told why).
fn queue(out: Outgoing, pending: &mut BTreeMap<u64, Pending>) -> Option<(u64, Vec<u8>, Vec<OwnedFd>)> {
    match out {
        Outgoing::Spawn(key, request, fds, run) => {
            let message = Request::Spawn(key, request).encode();
            pending.insert(key, run);
            match message {
                Ok(m) if m.len() <= MAX_MESSAGE => Some((key, m, fds)),
                _ => {
                    refuse(key, pending, Errno::EMSGSIZE);
                    None
                }
            }
        }
        // Only for a run still going (its guard may have ended already).
        Outgoing::Kill(key) => pending
            .contains_key(&key)
            .then(|| Request::Kill(key).encode().ok())
            .flatten()
            .map(|m| (key, m, Vec::new())),
    }
}

/// A request the spawner cannot take: its run fails to start.
fn refuse(key: u64, pending: &mut BTreeMap<u64, Pending>, error: Errno) {
    let message = match error {
        Errno::EMSGSIZE => format!("the command line and environment exceed {MAX_MESSAGE} bytes"),
        e => e.desc().to_owned(),
    };
    deliver(pending, key, Reply::Failed(message));
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
fn read_replies(socket: RawFd, buffer: &mut [u8], pending: &mut BTreeMap<u64, Pending>) -> Result<(), ()> {
    loop {
        let mut iov = [IoSliceMut::new(buffer)];
        let len = match socket::recvmsg::<()>(socket, &mut iov, None, MsgFlags::MSG_DONTWAIT) {
            Ok(msg) => msg.bytes,
            Err(Errno::EAGAIN) => return Ok(()),
            Err(Errno::EINTR) => continue,
            Err(_) => return Err(()),
        };
        if len == 0 {
            return Err(());
        }
        match Reply::decode(&buffer[..len]) {
            Some((key, reply)) => deliver(pending, key, reply),
            None => tracing::warn!(target: "vigil::process", message = %String::from_utf8_lossy(&buffer[..len]),
                "unexpected message from the process spawner"),
        }
    }
}

/// Hand `reply` to the run `key`: `started` to its start, any other reply
/// ends it (to its start if it never started).
fn deliver(pending: &mut BTreeMap<u64, Pending>, key: u64, reply: Reply) {
    if let Reply::Started { .. } = reply {
        if let Some(sender) = pending.get_mut(&key).and_then(|p| p.started.take()) {
            let _ = sender.send(reply);
        }
        return;
    }
    let Some(run) = pending.remove(&key) else { return };
    let _ = match run.started {
        Some(sender) => sender.send(reply),
        None => run.end.send(reply),
    };
}

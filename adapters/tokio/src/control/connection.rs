//! One connection: read request lines, answer each, write answers through
//! one writer task. Bad lines get an error reply and the connection goes
//! on; a vanished client only ends its own connection, and cancels what it
//! left running (its calls, its subscription).

use std::os::fd::AsFd;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use super::framing::{Frame, LineDecoder};
use super::ops;
use super::protocol::{decode, DecodeError, DecodeErrorKind, MAX_LINE};
use super::reply::{self, Failure};
use super::session::Conn;
use super::shared::Shared;

/// Lines waiting to be written to one connection; a slow reader makes its
/// own streams wait (or lag), never the server.
pub(crate) const OUTBOX: usize = 256;

/// How often a connection whose client has closed its writing side (a
/// half-close: it sent everything and waits for the answers) checks whether
/// the client has gone altogether, while its calls or subscription run.
const GONE_CHECK: Duration = Duration::from_millis(200);

/// Why a connection stopped reading.
#[derive(Debug, PartialEq, Eq)]
enum Ended {
    /// End of file: the client closed, or only half-closed, its socket.
    Eof,
    /// The socket failed, or the writer found the client gone.
    Failed,
    /// The server closes.
    Closed,
    /// Idle for too long (told so).
    Idle,
}

/// Serve one accepted (and admitted) connection until the client closes it
/// and everything it started has ended.
pub(crate) async fn serve(shared: Arc<Shared>, stream: UnixStream, id: u64) {
    let (read, write) = stream.into_split();
    let (out, rx) = mpsc::channel(OUTBOX);
    let gone = CancellationToken::new();
    let mut writer = tokio::spawn(write_loop(write, rx, gone.clone()));
    let mut conn = Conn {
        id,
        registered: None,
        out,
        gone: gone.clone(),
        calls: Arc::default(),
        streams: Arc::default(),
    };
    let mut frames = FramedRead::new(read, LineDecoder::new(MAX_LINE));
    let ended = read_requests(&shared, &mut conn, &mut frames).await;
    if let Some(run) = conn.registered {
        shared.registry.disconnected(run, conn.id);
    }
    if ended == Ended::Failed || (ended == Ended::Eof && peer_gone(frames.get_ref())) {
        gone.cancel();
    }
    // The writer ends when every sender is gone (streams hold their own):
    // meanwhile, a half-closed client that goes away cancels them.
    drop(conn);
    loop {
        tokio::select! {
            _ = &mut writer => break,
            _ = tokio::time::sleep(GONE_CHECK), if !gone.is_cancelled() => {
                if peer_gone(frames.get_ref()) {
                    gone.cancel();
                }
            }
        }
    }
}

/// Read and answer requests until the client stops sending, the server
/// closes, or the connection idles out.
async fn read_requests(
    shared: &Arc<Shared>,
    conn: &mut Conn,
    frames: &mut FramedRead<OwnedReadHalf, LineDecoder>,
) -> Ended {
    let idle = shared.options.idle_timeout;
    let mut last = Instant::now();
    loop {
        // The next request is read once the answers so far are taken by the
        // writer: a client that sends requests without reading the answers
        // holds at most two large answers (`status`) in memory, not one per
        // request.
        let drained = tokio::select! {
            permits = conn.out.reserve_many(OUTBOX) => permits.is_ok(),
            _ = shared.closed.cancelled() => return Ended::Closed,
            _ = conn.gone.cancelled() => return Ended::Failed,
        };
        if !drained {
            return Ended::Failed;
        }
        let deadline = idle.and_then(|d| last.checked_add(d));
        let frame = tokio::select! {
            f = frames.next() => f,
            _ = shared.closed.cancelled() => return Ended::Closed,
            _ = conn.gone.cancelled() => return Ended::Failed,
            _ = sleep_until(deadline), if deadline.is_some() => {
                if conn.is_idle() {
                    let after = idle.unwrap_or_default();
                    let failure = Failure::new(
                        "idle_timeout",
                        format!("no request for {after:?} and nothing in progress: closing the connection"),
                    );
                    let _ = conn.out.send(reply::error(&None, &failure)).await;
                    return Ended::Idle;
                }
                last = Instant::now();
                continue;
            }
        };
        let Some(frame) = frame else { return Ended::Eof };
        last = Instant::now();
        let decoded = match frame {
            Ok(Frame::Line(line)) => decode(&line),
            Ok(Frame::TooLong) => Err(bare(DecodeErrorKind::LineTooLong)),
            Ok(Frame::Incomplete) => Err(bare(DecodeErrorKind::Incomplete)),
            Err(_) => return Ended::Failed,
        };
        match decoded {
            Ok(envelope) => ops::dispatch(shared, conn, envelope).await,
            Err(e) => {
                let failure = Failure::new(e.kind.code(), e.kind.to_string());
                if conn.out.send(reply::error(&e.id, &failure)).await.is_err() {
                    return Ended::Failed;
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Whether the client has closed its socket altogether (not just its
/// writing side): the kernel then reports a hang-up on ours.
fn peer_gone(read: &OwnedReadHalf) -> bool {
    let stream: &UnixStream = read.as_ref();
    let mut fds = [PollFd::new(stream.as_fd(), PollFlags::empty())];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(n) if n > 0 => fds[0]
            .revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLHUP | PollFlags::POLLERR)),
        _ => false,
    }
}

fn bare(kind: DecodeErrorKind) -> DecodeError {
    DecodeError { id: None, kind }
}

/// Write lines as they come, flushing whenever nothing else is waiting. Ends
/// when the inbox closes, or when the client is gone for good (a write
/// fails: then `gone` is cancelled, which ends the connection's streams).
async fn write_loop(write: OwnedWriteHalf, mut rx: mpsc::Receiver<Bytes>, gone: CancellationToken) {
    let mut w = BufWriter::new(write);
    while let Some(line) = rx.recv().await {
        let mut ok = w.write_all(&line).await.is_ok();
        while ok {
            match rx.try_recv() {
                Ok(line) => ok = w.write_all(&line).await.is_ok(),
                Err(_) => break,
            }
        }
        if !ok || w.flush().await.is_err() {
            gone.cancel();
            return;
        }
    }
    let _ = w.shutdown().await;
}

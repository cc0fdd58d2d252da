//! One connection: read request lines, answer each, write answers through
//! one writer task. Bad lines get an error reply and the connection goes
//! on; a vanished client only ends its own connection.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;
use vigil_core::RunId;

use super::framing::{Frame, LineDecoder};
use super::ops;
use super::protocol::{decode, DecodeError, DecodeErrorKind, MAX_LINE};
use super::reply::{self, Failure};
use super::server::Shared;

/// Lines waiting to be written to one connection; a slow reader makes its
/// own streams wait (or lag), never the server.
const OUTBOX: usize = 256;

/// What the server knows about one connection.
pub(crate) struct Conn {
    /// Unique per server.
    pub(crate) id: u64,
    /// The run this connection registered as, if it is a worker.
    pub(crate) registered: Option<RunId>,
    /// Its writer's inbox.
    pub(crate) out: mpsc::Sender<Bytes>,
}

/// Serve one accepted (and admitted) connection until the client closes it.
pub(crate) async fn serve(shared: Arc<Shared>, stream: UnixStream, id: u64) {
    shared.open.fetch_add(1, Ordering::Relaxed);
    let (read, write) = stream.into_split();
    let (out, rx) = mpsc::channel(OUTBOX);
    let writer = tokio::spawn(write_loop(write, rx));
    let mut conn = Conn {
        id,
        registered: None,
        out,
    };
    let mut frames = FramedRead::new(read, LineDecoder::new(MAX_LINE));
    loop {
        let frame = tokio::select! {
            f = frames.next() => f,
            _ = shared.closed.cancelled() => None,
        };
        let Some(frame) = frame else { break };
        let decoded = match frame {
            Ok(Frame::Line(line)) => decode(&line),
            Ok(Frame::TooLong) => Err(bare(DecodeErrorKind::LineTooLong)),
            Ok(Frame::Incomplete) => Err(bare(DecodeErrorKind::Incomplete)),
            Err(_) => break, // the connection failed
        };
        match decoded {
            Ok(envelope) => ops::dispatch(&shared, &mut conn, envelope).await,
            Err(e) => {
                let failure = Failure::new(e.kind.code(), e.kind.to_string());
                if conn.out.send(reply::error(&e.id, &failure)).await.is_err() {
                    break;
                }
            }
        }
    }
    if let Some(run) = conn.registered {
        shared.registry.disconnected(run, conn.id);
    }
    // The writer ends when every sender is gone (streams hold their own).
    drop(conn);
    let _ = writer.await;
    shared.open.fetch_sub(1, Ordering::Relaxed);
}

fn bare(kind: DecodeErrorKind) -> DecodeError {
    DecodeError { id: None, kind }
}

/// Write lines as they come, flushing whenever nothing else is waiting. Ends
/// when the inbox closes or the client stops reading for good (a write fails).
async fn write_loop(write: OwnedWriteHalf, mut rx: mpsc::Receiver<Bytes>) {
    let mut w = BufWriter::new(write);
    while let Some(line) = rx.recv().await {
        if w.write_all(&line).await.is_err() {
            return;
        }
        while let Ok(line) = rx.try_recv() {
            if w.write_all(&line).await.is_err() {
                return;
            }
        }
        if w.flush().await.is_err() {
            return;
        }
    }
    let _ = w.shutdown().await;
}

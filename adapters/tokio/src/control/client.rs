//! The client side: [`Client`] for operators (`vigil ctl` uses it) and
//! [`Worker`] for a process child that registers with its run's token.
//!
//! ```no_run
//! use vigil_tokio::control::client::Worker;
//!
//! # async fn worker() -> Result<(), vigil_tokio::control::client::ClientError> {
//! // In a process child of `vigil run`: VIGIL_SOCKET and VIGIL_TOKEN are set.
//! let mut worker = Worker::from_env().await?;
//! worker.publish(serde_json::json!({ "queue": 0 })).await?;
//! worker.ready().await?; // a `readiness = "notify"` child is now started
//! while let Some(call) = worker.next_call().await? {
//!     match call.name.as_str() {
//!         "ping" => worker.answer(call.call, Ok(serde_json::json!("pong"))).await?,
//!         other => worker.answer(call.call, Err(format!("unknown call {other}"))).await?,
//!     }
//! }
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;
use tokio_util::codec::FramedRead;

use super::framing::{Frame, LineDecoder};
use super::protocol::{encode, Op, WireId};

/// The longest line a client reads (a `status` of a very large tree is big).
const CLIENT_MAX_LINE: usize = 1 << 30;

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing listens at the socket (no file, or a stale one).
    #[error("no vigil control server is running at {} ({source})", path.display())]
    NotRunning {
        /// The socket path.
        path: PathBuf,
        /// What connect said.
        source: std::io::Error,
    },
    /// Connecting failed otherwise (permissions, ...).
    #[error("cannot connect to {}: {source}", path.display())]
    Connect {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Reading or writing failed.
    #[error("control connection: {0}")]
    Io(#[from] std::io::Error),
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// The server sent something this client does not understand.
    #[error("unexpected message from the server: {0}")]
    Protocol(String),
    /// The server answered with an error.
    #[error("{code}: {message}")]
    Remote {
        /// The stable error code (`not_found`, `bad_token`, ...).
        code: String,
        /// The server's explanation.
        message: String,
    },
    /// `VIGIL_SOCKET` or `VIGIL_TOKEN` is not set.
    #[error("{0} is not set: not running under vigil run with a control socket")]
    NoEnv(&'static str),
}

/// One message from the server.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// The final answer to request `id`.
    Reply {
        /// The request.
        id: Option<WireId>,
        /// Its result or error.
        result: Result<Value, (String, String)>,
    },
    /// One element of request `id`'s stream.
    Item {
        /// The request.
        id: Option<WireId>,
        /// The element (a trace event for `subscribe`).
        item: Value,
        /// The element's JSON text as the server sent it (a trace line keeps
        /// its key order here, which `item` does not).
        text: String,
    },
    /// Request `id`'s stream is over.
    End {
        /// The request.
        id: Option<WireId>,
    },
    /// An operation forwarded to this worker.
    Call(ForwardedCall),
}

/// An operation an operator `call`ed on this worker.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ForwardedCall {
    /// Its number, for the answer.
    pub call: u64,
    /// Its name.
    pub name: String,
    /// Its arguments.
    #[serde(default)]
    pub args: Value,
}

#[derive(Deserialize)]
struct Raw {
    #[serde(default)]
    id: Option<WireId>,
    ok: Option<bool>,
    result: Option<Value>,
    error: Option<RawError>,
    item: Option<Box<serde_json::value::RawValue>>,
    end: Option<bool>,
    call: Option<u64>,
    name: Option<String>,
    #[serde(default)]
    args: Value,
}

#[derive(Deserialize)]
struct RawError {
    code: String,
    message: String,
}

/// A connection to a control server.
#[derive(Debug)]
pub struct Client {
    read: FramedRead<OwnedReadHalf, LineDecoder>,
    write: OwnedWriteHalf,
    next_id: u64,
}

impl Client {
    /// Connect to the server at `path`.
    pub async fn connect(path: impl AsRef<Path>) -> Result<Client, ClientError> {
        let path = path.as_ref();
        let stream = UnixStream::connect(path).await.map_err(|source| {
            use std::io::ErrorKind::{ConnectionRefused, NotFound};
            if matches!(source.kind(), NotFound | ConnectionRefused) {
                ClientError::NotRunning {
                    path: path.to_owned(),
                    source,
                }
            } else {
                ClientError::Connect {
                    path: path.to_owned(),
                    source,
                }
            }
        })?;
        let (read, write) = stream.into_split();
        Ok(Client {
            read: FramedRead::new(read, LineDecoder::new(CLIENT_MAX_LINE)),
            write,
            next_id: 0,
        })
    }

    /// Send `op` with a fresh numeric id and return that id. If the server
    /// has already refused the connection and closed it (the write fails),
    /// its refusal (`too_many_connections`, ...) is the error.
    pub async fn send(&mut self, op: &Op) -> Result<WireId, ClientError> {
        self.next_id += 1;
        let id = WireId::Num(self.next_id);
        if let Err(e) = self.write.write_all(&encode(Some(&id), op)).await {
            use std::io::ErrorKind::{BrokenPipe, ConnectionReset};
            if matches!(e.kind(), BrokenPipe | ConnectionReset) {
                if let Ok(Message::Reply {
                    result: Err((code, message)),
                    ..
                }) = self.next_message().await
                {
                    return Err(ClientError::Remote { code, message });
                }
            }
            return Err(e.into());
        }
        Ok(id)
    }

    /// Send raw bytes (tests of the server's error handling).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.write.write_all(bytes).await?;
        Ok(())
    }

    /// The next message from the server.
    pub async fn next_message(&mut self) -> Result<Message, ClientError> {
        match self.read.next().await {
            None => Err(ClientError::Closed),
            Some(Err(e)) => Err(e.into()),
            Some(Ok(Frame::Line(line))) => parse_message(&line),
            Some(Ok(_)) => Err(ClientError::Protocol("an unterminated or overlong line".into())),
        }
    }

    /// Send `op` and wait for its final answer; stream items before it are
    /// passed to `on_item`. A server error becomes [`ClientError::Remote`].
    pub async fn request_with(&mut self, op: &Op, mut on_item: impl FnMut(Value)) -> Result<Value, ClientError> {
        let id = Some(self.send(op).await?);
        loop {
            match self.next_message().await? {
                Message::Reply { id: got, result } if got == id || got.is_none() => {
                    return result.map_err(|(code, message)| ClientError::Remote { code, message });
                }
                Message::Item { id: got, item, .. } if got == id => on_item(item),
                _ => {}
            }
        }
    }

    /// Send `op` and wait for its final answer (items are dropped).
    pub async fn request(&mut self, op: &Op) -> Result<Value, ClientError> {
        self.request_with(op, |_| {}).await
    }
}

fn parse_message(line: &[u8]) -> Result<Message, ClientError> {
    let raw: Raw = serde_json::from_slice(line)
        .map_err(|e| ClientError::Protocol(format!("{e}: {}", String::from_utf8_lossy(line))))?;
    if let (Some(call), Some(name)) = (raw.call, raw.name) {
        return Ok(Message::Call(ForwardedCall {
            call,
            name,
            args: raw.args,
        }));
    }
    if let Some(ok) = raw.ok {
        let result = if ok {
            Ok(raw.result.unwrap_or(Value::Null))
        } else {
            let e = raw.error.unwrap_or(RawError {
                code: "unknown".into(),
                message: String::new(),
            });
            Err((e.code, e.message))
        };
        return Ok(Message::Reply { id: raw.id, result });
    }
    if let Some(text) = raw.item {
        let item = serde_json::from_str(text.get()).map_err(|e| ClientError::Protocol(e.to_string()))?;
        return Ok(Message::Item {
            id: raw.id,
            item,
            text: text.get().to_owned(),
        });
    }
    if raw.end == Some(true) {
        return Ok(Message::End { id: raw.id });
    }
    Err(ClientError::Protocol(String::from_utf8_lossy(line).into_owned()))
}

/// An answer to a call the server no longer waits for (`unknown_call`: its
/// caller went away or it timed out) is dropped, not a worker's error.
fn forgotten_is_fine(r: Result<Value, ClientError>) -> Result<(), ClientError> {
    match r {
        Ok(_) => Ok(()),
        Err(ClientError::Remote { code, .. }) if code == "unknown_call" => Ok(()),
        Err(e) => Err(e),
    }
}

/// A registered worker: the run's side of the control socket.
#[derive(Debug)]
pub struct Worker {
    client: Client,
    path: String,
    generation: u64,
    calls: VecDeque<ForwardedCall>,
}

impl Worker {
    /// Register with `VIGIL_SOCKET` and `VIGIL_TOKEN` from the environment.
    pub async fn from_env() -> Result<Worker, ClientError> {
        let socket = std::env::var_os("VIGIL_SOCKET").ok_or(ClientError::NoEnv("VIGIL_SOCKET"))?;
        let token = std::env::var("VIGIL_TOKEN").map_err(|_| ClientError::NoEnv("VIGIL_TOKEN"))?;
        Worker::register(socket, &token).await
    }

    /// Register at `socket` with `token`.
    pub async fn register(socket: impl AsRef<Path>, token: &str) -> Result<Worker, ClientError> {
        let client = Client::connect(socket).await?;
        let mut worker = Worker {
            client,
            path: String::new(),
            generation: 0,
            calls: VecDeque::new(),
        };
        let r = worker
            .request(&Op::Register {
                token: token.to_owned(),
                path: None,
            })
            .await?;
        worker.path = r["path"].as_str().unwrap_or_default().to_owned();
        worker.generation = r["generation"].as_u64().unwrap_or_default();
        Ok(worker)
    }

    /// The worker's path in the tree.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The generation of this run.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Report ready (a `readiness = "notify"` child is started now).
    pub async fn ready(&mut self) -> Result<(), ClientError> {
        self.request(&Op::Ready { token: None }).await.map(drop)
    }

    /// Report alive (resets a `health_timeout`).
    pub async fn heartbeat(&mut self) -> Result<(), ClientError> {
        self.request(&Op::Heartbeat { token: None }).await.map(drop)
    }

    /// Publish a state map (a JSON object; replaces the previous one).
    pub async fn publish(&mut self, state: Value) -> Result<(), ClientError> {
        let Value::Object(state) = state else {
            return Err(ClientError::Protocol("a state map is a JSON object".into()));
        };
        self.request(&Op::Publish { state, token: None }).await.map(drop)
    }

    /// The next forwarded call; `None` when the server closed the connection.
    pub async fn next_call(&mut self) -> Result<Option<ForwardedCall>, ClientError> {
        if let Some(c) = self.calls.pop_front() {
            return Ok(Some(c));
        }
        loop {
            match self.client.next_message().await {
                Ok(Message::Call(c)) => return Ok(Some(c)),
                Ok(_) => {}
                Err(ClientError::Closed) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Stream a partial answer to call `call`. A call nobody waits for any
    /// more (its caller went away, or it timed out) is not an error: the
    /// item is dropped.
    pub async fn item(&mut self, call: u64, item: Value) -> Result<(), ClientError> {
        let op = Op::Answer {
            call,
            item: Some(item),
            result: None,
            error: None,
        };
        forgotten_is_fine(self.request(&op).await)
    }

    /// The final answer to call `call`; dropped, not an error, if nobody
    /// waits for it any more (see [`Worker::item`]).
    pub async fn answer(&mut self, call: u64, answer: Result<Value, String>) -> Result<(), ClientError> {
        let (result, error) = match answer {
            Ok(v) => (Some(v), None),
            Err(e) => (None, Some(e)),
        };
        let op = Op::Answer {
            call,
            item: None,
            result,
            error,
        };
        forgotten_is_fine(self.request(&op).await)
    }

    /// As a monitor of the tree: ask the engine to restart the run
    /// `generation` of the worker at `path`, for `reason` (the `evict` op,
    /// docs/PROTOCOL.md "Monitors"). A run that is no longer up is
    /// [`ClientError::Remote`] with code `stale`, and nothing happened.
    pub async fn evict(&mut self, path: &str, generation: u64, reason: &str) -> Result<(), ClientError> {
        let op = Op::Evict {
            path: path.to_owned(),
            generation,
            reason: reason.to_owned(),
            token: None,
        };
        self.request(&op).await.map(drop)
    }

    /// A request of the worker's own; calls arriving meanwhile are queued.
    async fn request(&mut self, op: &Op) -> Result<Value, ClientError> {
        let id = Some(self.client.send(op).await?);
        loop {
            match self.client.next_message().await? {
                Message::Call(c) => self.calls.push_back(c),
                Message::Reply { id: got, result } if got == id || got.is_none() => {
                    return result.map_err(|(code, message)| ClientError::Remote { code, message });
                }
                _ => {}
            }
        }
    }
}

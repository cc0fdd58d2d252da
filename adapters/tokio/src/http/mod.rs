//! The read-only HTTP endpoint (feature `http`): what Prometheus scrapes and
//! what orchestrators probe, since neither can reach a Unix socket.
//!
//! | request | answer |
//! |---|---|
//! | `GET /metrics` | `200`, the Prometheus text of the control socket's `metrics` |
//! | `GET /healthz` | `200` while the tree is up, `503` once it is down |
//! | `GET /readyz` | `200` once no worker is starting or waiting for its restart, else `503` naming them |
//! | `GET /status` | `200`, the JSON of the control socket's `status` (`503` when the tree is down) |
//! | another path | `404` |
//! | another method | `405` (`Allow: GET, HEAD`): nothing is operated over HTTP |
//! | a request with a body | `413` |
//!
//! Every answer is read from a [`ControlServer`] that serves the tree (the
//! same snapshot code as its `status` and `metrics`), so the control server
//! is needed even when nobody uses its socket. HTTP/1.1 only, one request
//! per connection (`Connection: close`); at most
//! [`HttpOptions::max_connections`] connections, each closed when its head
//! is not in after [`HttpOptions::header_timeout`] or it is not done after
//! [`HttpOptions::connection_timeout`]. An answer is built by the
//! connection's task from requests to the tree: a client that never reads
//! holds one answer for at most the connection timeout and never the driver.
//!
//! ```
//! use vigil_core::{ChildSpec, SupervisorSpec};
//! use vigil_tokio::control::{ControlOptions, ControlServer};
//! use vigil_tokio::http::{HttpOptions, HttpServer};
//! use vigil_tokio::Tree;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = std::env::temp_dir().join(format!("vigil-http-doc-{}", std::process::id()));
//! let control = ControlServer::bind(ControlOptions::new(dir.join("ctl.sock"))).expect("bind");
//! let sup = Tree::new(SupervisorSpec::new())
//!     .task(ChildSpec::worker("ticker"), |ctx| async move {
//!         ctx.stopped().await;
//!         Ok::<(), String>(())
//!     })
//!     .control(control.clone())
//!     .start()
//!     .expect("valid tree");
//! let http = HttpServer::bind(HttpOptions::new("127.0.0.1:0".parse().unwrap())).expect("listen");
//! http.serve(&control).expect("serve");
//!
//! let mut stream = tokio::net::TcpStream::connect(http.local_addr()).await.unwrap();
//! stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
//! let mut answer = String::new();
//! stream.read_to_string(&mut answer).await.unwrap();
//! assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
//! sup.shutdown().await;
//! http.close();
//! control.close();
//! # let _ = std::fs::remove_dir_all(&dir);
//! # });
//! ```

mod error;
mod options;
mod routes;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub use error::HttpError;
pub use options::HttpOptions;

use crate::control::ControlServer;

/// A bound HTTP listener, and (once [`serve`](Self::serve)d) the endpoint on
/// it. Cloning is cheap; every clone is the same server.
#[derive(Clone, Debug)]
pub struct HttpServer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    options: HttpOptions,
    local: SocketAddr,
    listener: Mutex<Option<std::net::TcpListener>>,
    closed: CancellationToken,
    open: Arc<AtomicUsize>,
    /// Refused connections whose request is being read and discarded.
    refusing: Arc<AtomicUsize>,
}

impl HttpServer {
    /// Bind the address (needs no runtime; nothing is accepted until
    /// [`serve`](Self::serve)). An address in use is an error here, before
    /// any tree starts.
    pub fn bind(options: HttpOptions) -> Result<HttpServer, HttpError> {
        let addr = options.addr;
        let bind_error = |source| HttpError::Bind { addr, source };
        let listener = std::net::TcpListener::bind(addr).map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let local = listener.local_addr().map_err(bind_error)?;
        Ok(HttpServer {
            inner: Arc::new(Inner {
                options,
                local,
                listener: Mutex::new(Some(listener)),
                closed: CancellationToken::new(),
                open: Arc::default(),
                refusing: Arc::default(),
            }),
        })
    }

    /// The address listened on (with the port chosen, for port 0).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local
    }

    /// Connections open now.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.inner.open.load(Ordering::SeqCst)
    }

    /// Serve the tree of `control` on the current tokio runtime until
    /// [`close`](Self::close). The endpoint follows whatever tree `control`
    /// serves (a tree started again with the same control server included);
    /// until it serves one, every resource answers `503`.
    pub fn serve(&self, control: &ControlServer) -> Result<(), HttpError> {
        let std_listener = self
            .inner
            .listener
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or(HttpError::AlreadyServing)?;
        let listener = TcpListener::from_std(std_listener).map_err(|source| HttpError::Io {
            addr: self.inner.local,
            source,
        })?;
        tokio::spawn(accept_loop(listener, Arc::clone(&self.inner), control.clone()));
        Ok(())
    }

    /// Stop accepting connections; open ones finish their answer.
    pub fn close(&self) {
        self.inner.closed.cancel();
    }
}

async fn accept_loop(listener: TcpListener, inner: Arc<Inner>, control: ControlServer) {
    tracing::info!(addr = %inner.local, "HTTP endpoint listening");
    loop {
        tokio::select! {
            _ = inner.closed.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => admit(&inner, &control, stream),
                Err(e) => {
                    // EMFILE and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "HTTP endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// Serve an accepted connection on a task of its own, or refuse it.
fn admit(inner: &Arc<Inner>, control: &ControlServer, stream: TcpStream) {
    let open = inner.open.load(Ordering::SeqCst);
    if open >= inner.options.max_connections {
        refuse(inner, stream);
        return;
    }
    inner.open.fetch_add(1, Ordering::SeqCst);
    let slot = OpenSlot(Arc::clone(&inner.open));
    let options = inner.options.clone();
    let control = control.clone();
    tokio::spawn(async move {
        let _slot = slot;
        let _ = stream.set_nodelay(true);
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(options.header_timeout)
            .keep_alive(false)
            .max_buf_size(16 * 1024);
        let service = service_fn(move |req| routes::respond(control.clone(), req));
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        match tokio::time::timeout(options.connection_timeout, conn).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::debug!(error = %e, "HTTP connection ended with an error"),
            Err(_) => tracing::debug!("HTTP connection closed: over its time"),
        }
    });
}

/// The answer to a connection over the limit.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n\
content-length: 22\r\nconnection: close\r\n\r\ntoo many connections\r\n";

/// Longest a refused connection is kept to read its request.
const REFUSAL_DRAIN: Duration = Duration::from_secs(1);

/// Refuse a connection over the limit: `503`, written only if the fresh
/// socket takes it at once. Closing a socket with an unread request resets
/// it, and the client would see the reset instead of the answer, so the
/// request is read (at most 16 KiB, at most [`REFUSAL_DRAIN`]) and
/// discarded first, on a task; at most `max_connections` refusals are kept
/// so at once, and past those a connection is closed as it is.
fn refuse(inner: &Arc<Inner>, stream: TcpStream) {
    let _ = stream.try_write(BUSY);
    if inner.refusing.load(Ordering::SeqCst) >= inner.options.max_connections {
        return;
    }
    inner.refusing.fetch_add(1, Ordering::SeqCst);
    let slot = OpenSlot(Arc::clone(&inner.refusing));
    tokio::spawn(async move {
        let _slot = slot;
        let mut stream = stream;
        let _ = stream.shutdown().await;
        let drain = async {
            let mut buf = [0u8; 4096];
            let mut total = 0;
            while total < 16 * 1024 {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
        };
        let _ = tokio::time::timeout(REFUSAL_DRAIN, drain).await;
    });
}

/// One admitted connection; the count goes down when it ends, however.
struct OpenSlot(Arc<AtomicUsize>);

impl Drop for OpenSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

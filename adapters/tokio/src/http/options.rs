//! The settings of the HTTP endpoint.

use std::net::SocketAddr;
use std::time::Duration;

/// How an [`HttpServer`](super::HttpServer) listens and what it allows a
/// client. The defaults suit Prometheus and orchestrator probes on the same
/// host; every bound is there so that no client can hold vigil's resources.
///
/// ```
/// use std::time::Duration;
/// use vigil_tokio::http::HttpOptions;
///
/// let options = HttpOptions::new("127.0.0.1:9100".parse().unwrap());
/// assert_eq!(options.max_connections, 64);
/// assert_eq!(options.header_timeout, Duration::from_secs(5));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct HttpOptions {
    /// Where to listen (port 0: any free port, see
    /// [`HttpServer::local_addr`](super::HttpServer::local_addr)).
    pub addr: SocketAddr,
    /// Connections open at once; one more is answered `503` and closed at
    /// once. Default 64.
    pub max_connections: usize,
    /// How long a client may take to send its request head; then the
    /// connection is closed (a slowloris holds nothing longer). Default 5 s.
    pub header_timeout: Duration,
    /// How long a whole connection may last, from accept to the last byte of
    /// the response written: a client that never reads its answer is
    /// dropped then. Default 10 s.
    pub connection_timeout: Duration,
}

impl HttpOptions {
    /// The defaults, listening on `addr`.
    pub fn new(addr: SocketAddr) -> Self {
        HttpOptions {
            addr,
            max_connections: 64,
            header_timeout: Duration::from_secs(5),
            connection_timeout: Duration::from_secs(10),
        }
    }
}

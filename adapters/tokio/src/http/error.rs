//! Why the HTTP endpoint could not start.

use std::net::SocketAddr;

/// An [`HttpServer`](super::HttpServer) that could not listen or serve.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The address could not be bound (in use, not an address of this host,
    /// a privileged port).
    #[error("cannot listen for HTTP on {addr}: {source}{}", hint(source))]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// What the system said.
        source: std::io::Error,
    },
    /// [`serve`](super::HttpServer::serve) was called twice.
    #[error("the HTTP endpoint is already serving")]
    AlreadyServing,
    /// The listener could not be registered with the runtime.
    #[error("cannot serve HTTP on {addr}: {source}")]
    Io {
        /// The address listened on.
        addr: SocketAddr,
        /// What the system said.
        source: std::io::Error,
    },
}

fn hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => " (another program listens there; choose another `[http] listen`)",
        std::io::ErrorKind::AddrNotAvailable => " (no interface of this host has that address)",
        std::io::ErrorKind::PermissionDenied => " (ports below 1024 need privileges)",
        _ => "",
    }
}

//! Errors of setting up the control server, and the error codes of replies.

use std::path::PathBuf;

/// Why the control server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Another server answers on that socket.
    #[error("a vigil control server is already running at {0}")]
    AlreadyRunning(PathBuf),
    /// Something that is not a socket is in the way (it is never removed).
    #[error("{0} exists and is not a socket; not replacing it")]
    NotASocket(PathBuf),
    /// The socket or its directory could not be created.
    #[error("control socket {}: {source}", path.display())]
    Io {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The socket or a directory vigil created for it could not be given
    /// to [`super::ControlOptions::group`].
    #[error(
        "cannot give {} to group {gid}: {source} (vigil must run as root or as a member of the group)",
        path.display()
    )]
    Group {
        /// The file or directory.
        path: PathBuf,
        /// The group id.
        gid: u32,
        /// Why.
        source: std::io::Error,
    },
    /// No group of that name on this host ([`super::group_id`]).
    #[error("no group named `{0}` on this host")]
    UnknownGroup(String),
    /// The group database could not be read.
    #[error("cannot look up the group `{name}`: {errno}")]
    GroupLookup {
        /// The group name.
        name: String,
        /// Why.
        errno: nix::errno::Errno,
    },
    /// [`super::ControlServer::serve`] was called twice.
    #[error("the control server is already serving a tree")]
    AlreadyServing,
}

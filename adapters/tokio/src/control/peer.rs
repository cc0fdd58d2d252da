//! Who may talk to the server: a peer with vigil's own user id, or root.

use tokio::net::UnixStream;

/// Why a peer is refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PeerError {
    /// Another user.
    #[error("peer uid {peer} is neither vigil's uid {ours} nor root")]
    OtherUser { peer: u32, ours: u32 },
    /// The kernel would not say (SO_PEERCRED failed).
    #[error("cannot read the peer's credentials: {0}")]
    Unknown(std::io::Error),
}

/// Check the credentials the kernel recorded when the peer connected.
pub(crate) fn check(stream: &UnixStream) -> Result<(), PeerError> {
    let cred = stream.peer_cred().map_err(PeerError::Unknown)?;
    allowed(cred.uid(), nix::unistd::geteuid().as_raw())
}

/// The rule: same uid, or root.
pub(crate) fn allowed(peer: u32, ours: u32) -> Result<(), PeerError> {
    if peer == ours || peer == 0 {
        Ok(())
    } else {
        Err(PeerError::OtherUser { peer, ours })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_uid_or_root() {
        assert!(allowed(1000, 1000).is_ok());
        assert!(allowed(0, 1000).is_ok());
        assert!(allowed(1001, 1000).is_err());
        assert!(allowed(65534, 0).is_err());
    }
}

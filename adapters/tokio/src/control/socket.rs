//! Where the control socket lives and how it is created: 0600, in a
//! directory vigil creates 0700; a stale file from a dead server replaced, a
//! live server refused.

use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use super::error::ControlError;

/// The default socket path for the config named `name` (docs/CONFIG.md, `[control]`):
/// `$XDG_RUNTIME_DIR/vigil/<name>.sock` when `XDG_RUNTIME_DIR` is set and
/// not empty, else `vigil-<name>.sock` in the working directory. `vigil
/// run` uses [`default_socket_path_beside`] instead, which puts the latter
/// next to the config file.
///
/// ```
/// use std::path::Path;
/// use vigil_tokio::control::default_socket_path;
///
/// let p = default_socket_path("web");
/// assert!(p == Path::new("vigil-web.sock") || p.ends_with("vigil/web.sock"));
/// ```
pub fn default_socket_path(name: &str) -> PathBuf {
    socket_path_in(
        std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
        name,
        Path::new(""),
    )
}

/// The default socket path of the config file `config` named `name`:
/// `$XDG_RUNTIME_DIR/vigil/<name>.sock` when `XDG_RUNTIME_DIR` is set and
/// not empty, else `vigil-<name>.sock` in the config file's directory (as
/// relative as `config` is). Two configs never share a default socket,
/// and `vigil ctl --config` finds it from any working directory.
///
/// ```
/// use std::path::Path;
/// use vigil_tokio::control::default_socket_path_beside;
///
/// let p = default_socket_path_beside(Path::new("/etc/vigil/web.toml"), "web");
/// assert!(p == Path::new("/etc/vigil/vigil-web.sock") || p.ends_with("vigil/web.sock"));
/// ```
pub fn default_socket_path_beside(config: &Path, name: &str) -> PathBuf {
    let dir = config.parent().unwrap_or(Path::new(""));
    socket_path_in(std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from), name, dir)
}

/// The default socket path for a given `XDG_RUNTIME_DIR`, else in `dir`.
pub(crate) fn socket_path_in(runtime_dir: Option<PathBuf>, name: &str, dir: &Path) -> PathBuf {
    match runtime_dir.filter(|d| !d.as_os_str().is_empty()) {
        Some(runtime) => runtime.join("vigil").join(format!("{name}.sock")),
        None => dir.join(format!("vigil-{name}.sock")),
    }
}

/// A bound listening socket and the identity of its file, so that the
/// server removes only its own file when it ends.
#[derive(Debug)]
pub(crate) struct BoundSocket {
    pub(crate) listener: UnixListener,
    pub(crate) path: PathBuf,
    file_id: (u64, u64),
}

impl BoundSocket {
    /// Bind `path`: create its missing directories 0700, replace a stale
    /// socket file (nobody accepts on it), refuse a live one and anything
    /// that is not a socket, then make the socket 0600.
    pub(crate) fn bind(path: &Path) -> Result<BoundSocket, ControlError> {
        let ctx = |source: io::Error| ControlError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(ctx)?;
            }
        }
        match std::fs::symlink_metadata(path) {
            Ok(meta) if !meta.file_type().is_socket() => {
                return Err(ControlError::NotASocket(path.to_owned()));
            }
            Ok(_) => match UnixStream::connect(path) {
                Ok(_) => return Err(ControlError::AlreadyRunning(path.to_owned())),
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    tracing::info!(path = %path.display(), "replacing a stale control socket");
                    std::fs::remove_file(path).map_err(ctx)?;
                }
                Err(e) => return Err(ctx(e)),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(ctx(e)),
        }
        let listener = UnixListener::bind(path).map_err(ctx)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(ctx)?;
        listener.set_nonblocking(true).map_err(ctx)?;
        let meta = std::fs::metadata(path).map_err(ctx)?;
        Ok(BoundSocket {
            listener,
            path: path.to_owned(),
            file_id: (meta.dev(), meta.ino()),
        })
    }

    /// The identity of the socket file this server created.
    pub(crate) fn file_id(&self) -> (u64, u64) {
        self.file_id
    }
}

/// Remove the socket file at `path` if it is still the one with `file_id`
/// (another server may have replaced it since).
pub(crate) fn remove_if_ours(path: &Path, file_id: (u64, u64)) {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if (meta.dev(), meta.ino()) == file_id {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_path_follows_xdg_runtime_dir() {
        let here = Path::new("");
        assert_eq!(
            socket_path_in(Some("/run/user/1000".into()), "web", here),
            Path::new("/run/user/1000/vigil/web.sock")
        );
        assert_eq!(
            socket_path_in(Some(PathBuf::new()), "web", here),
            Path::new("vigil-web.sock")
        );
        assert_eq!(socket_path_in(None, "web", here), Path::new("vigil-web.sock"));
        assert_eq!(
            socket_path_in(None, "db", Path::new("etc/trees")),
            Path::new("etc/trees/vigil-db.sock")
        );
        assert_eq!(
            socket_path_in(Some("/run/user/0".into()), "db", Path::new("etc/trees")),
            Path::new("/run/user/0/vigil/db.sock")
        );
    }

    #[test]
    fn permissions_stale_and_live_sockets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run/vigil/t.sock");
        let bound = BoundSocket::bind(&path).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        // Live: refused.
        assert!(matches!(BoundSocket::bind(&path), Err(ControlError::AlreadyRunning(_))));
        // Stale (the listener is gone, the file stays): replaced.
        drop(bound);
        let again = BoundSocket::bind(&path).unwrap();
        remove_if_ours(&path, again.file_id());
        assert!(!path.exists());
        // Not a socket: never removed.
        std::fs::write(&path, "data").unwrap();
        assert!(matches!(BoundSocket::bind(&path), Err(ControlError::NotASocket(_))));
        assert!(path.exists());
    }
}

//! Where the control socket lives and how it is created: 0600, in a
//! directory vigil creates 0700 (with `[control] group`: 0660 and 0710,
//! given to the group); a stale file from a dead server replaced, a live
//! server refused.

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
    /// Bind `path`: create its missing directories 0700 (0710 and given to
    /// `group` with a group), replace a stale socket file (nobody accepts
    /// on it), refuse a live one and anything that is not a socket, then
    /// make the socket 0600 (0660 and given to `group`). Directories that
    /// exist already are left as they are; with a group, one its members
    /// cannot enter is logged.
    pub(crate) fn bind(path: &Path, group: Option<u32>) -> Result<BoundSocket, ControlError> {
        let ctx = |source: io::Error| ControlError::Io {
            path: path.to_owned(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let created = create_dirs(dir).map_err(ctx)?;
            if let Some(gid) = group {
                for made in &created {
                    give_to_group(made, gid, 0o710)?;
                }
                warn_if_unreachable(dir, gid);
            }
        }
        replace_stale(path)?;
        let listener = UnixListener::bind(path).map_err(ctx)?;
        match group {
            Some(gid) => give_to_group(path, gid, 0o660)?,
            None => std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(ctx)?,
        }
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

/// Create `dir` and its missing ancestors, 0700; the directories created,
/// outermost first.
fn create_dirs(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let missing: Vec<PathBuf> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .map(Path::to_path_buf)
        .collect();
    if !missing.is_empty() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    Ok(missing.into_iter().rev().collect())
}

/// Replace a stale socket file at `path`; refuse a live one and anything
/// that is not a socket.
fn replace_stale(path: &Path) -> Result<(), ControlError> {
    let ctx = |source: io::Error| ControlError::Io {
        path: path.to_owned(),
        source,
    };
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => Err(ControlError::NotASocket(path.to_owned())),
        Ok(_) => match UnixStream::connect(path) {
            Ok(_) => Err(ControlError::AlreadyRunning(path.to_owned())),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                tracing::info!(path = %path.display(), "replacing a stale control socket");
                std::fs::remove_file(path).map_err(ctx)
            }
            Err(e) => Err(ctx(e)),
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ctx(e)),
    }
}

/// Give `path` to group `gid` (its owner unchanged), with `mode`.
fn give_to_group(path: &Path, gid: u32, mode: u32) -> Result<(), ControlError> {
    let failed = |source: io::Error| ControlError::Group {
        path: path.to_owned(),
        gid,
        source,
    };
    std::os::unix::fs::chown(path, None, Some(gid)).map_err(failed)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(failed)
}

/// Log the first directory on the way to `dir` (itself included) that the
/// members of `gid` cannot enter by its mode bits: the group's search bit
/// when the directory is the group's, else the others' bit (owners and
/// ACLs aside). Vigil changes no directory it did not create.
fn warn_if_unreachable(dir: &Path, gid: u32) {
    let Ok(absolute) = std::path::absolute(dir) else {
        return;
    };
    for d in absolute.ancestors() {
        let Ok(meta) = std::fs::metadata(d) else {
            continue;
        };
        let bit = if meta.gid() == gid { 0o010 } else { 0o001 };
        if meta.mode() & bit == 0 {
            tracing::warn!(
                directory = %d.display(),
                mode = format_args!("{:o}", meta.mode() & 0o7777),
                group = meta.gid(),
                "the control group {gid} cannot enter this directory on the way to the control socket; \
                 vigil changes only the directories it creates (chgrp/chmod it, or let vigil create it)"
            );
            return;
        }
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
        let bound = BoundSocket::bind(&path, None).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        // Live: refused.
        assert!(matches!(
            BoundSocket::bind(&path, None),
            Err(ControlError::AlreadyRunning(_))
        ));
        // Stale (the listener is gone, the file stays): replaced.
        drop(bound);
        let again = BoundSocket::bind(&path, None).unwrap();
        remove_if_ours(&path, again.file_id());
        assert!(!path.exists());
        // Not a socket: never removed.
        std::fs::write(&path, "data").unwrap();
        assert!(matches!(
            BoundSocket::bind(&path, None),
            Err(ControlError::NotASocket(_))
        ));
        assert!(path.exists());
    }

    #[test]
    fn a_group_gets_the_socket_and_the_directories_vigil_creates() {
        // Root may give files to any group; anyone to their own.
        let gid = if nix::unistd::geteuid().is_root() {
            65534
        } else {
            nix::unistd::getegid().as_raw()
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o750)).unwrap();
        let path = dir.path().join("run/vigil/t.sock");
        let bound = BoundSocket::bind(&path, Some(gid)).unwrap();
        let meta = |p: &Path| std::fs::metadata(p).unwrap();
        let of = |p: &Path| (meta(p).permissions().mode() & 0o777, meta(p).gid());
        assert_eq!(of(&path), (0o660, gid));
        assert_eq!(of(&dir.path().join("run/vigil")), (0o710, gid));
        assert_eq!(of(&dir.path().join("run")), (0o710, gid));
        // The directory that existed is left as it was.
        assert_eq!(meta(dir.path()).permissions().mode() & 0o777, 0o750);
        // Bound again over the stale file, in directories that exist now:
        // the socket is the group's again, the directories unchanged.
        drop(bound);
        std::fs::set_permissions(dir.path().join("run"), std::fs::Permissions::from_mode(0o700)).unwrap();
        let again = BoundSocket::bind(&path, Some(gid)).unwrap();
        assert_eq!(of(&path), (0o660, gid));
        assert_eq!(of(&dir.path().join("run")).0, 0o700);
        // Without a group: 0600 again.
        drop(again);
        let private = BoundSocket::bind(&path, None).unwrap();
        assert_eq!(of(&path).0, 0o600);
        remove_if_ours(&path, private.file_id());
    }

    #[test]
    fn a_group_vigil_may_not_give_files_to_is_an_error() {
        if nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED: root may give a file to any group");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.sock");
        // Group 0 (root): a normal user is not a member.
        let e = BoundSocket::bind(&path, Some(0)).unwrap_err();
        assert!(matches!(e, ControlError::Group { gid: 0, .. }), "{e}");
    }
}

//! Read a config file whole, as one consistent version, even while another
//! process may be writing it.
//!
//! A plain read of a file that an editor or a script is rewriting in place
//! can return an empty file (just truncated) or the first half of the new
//! one. [`read`] reads the whole file in one go through one descriptor and
//! accepts the bytes only if the file did not change meanwhile: its inode,
//! size, modification and change times are the same before and after the
//! read, the bytes read are exactly its size, and the path still names the
//! same file (a `rename` over it during the read starts again). A file still
//! changing after [`ATTEMPTS`] reads is refused.
//!
//! This cannot see a writer that paused between two writes (the file is
//! stable then, only incomplete): `vigil run` also refuses a reload that
//! would remove every child, and the config file must be replaced atomically
//! (write a temporary file in the same directory, then rename it over the
//! config; docs/CONFIG.md says so).

use std::fs::Metadata;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Reads of a changing file before it is refused.
pub const ATTEMPTS: usize = 5;

/// The largest config a reload reads (64 MiB: a tree of 100,000 children is
/// about 6 MB).
pub const MAX_BYTES: u64 = 64 << 20;

/// Why a config file could not be read as one version.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Opening, reading or inspecting it failed.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The config file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// It is not a regular file (a FIFO, a device, a directory): a reload
    /// would block on it, or never end reading it.
    #[error("cannot reload {}: it is not a regular file but {kind}", path.display())]
    NotAFile {
        /// The config file.
        path: PathBuf,
        /// What it is.
        kind: &'static str,
    },
    /// It is larger than [`MAX_BYTES`].
    #[error("cannot reload {}: it is {len} bytes, more than the {MAX_BYTES} a config may have", path.display())]
    TooLarge {
        /// The config file.
        path: PathBuf,
        /// Its size.
        len: u64,
    },
    /// It changed during every read.
    #[error(
        "{} changed while it was being read ({ATTEMPTS} times); write the new config to a temporary file and rename it over {}",
        path.display(), path.display()
    )]
    Unsettled {
        /// The config file.
        path: PathBuf,
    },
    /// It is not UTF-8 text.
    #[error("cannot read {}: it is not UTF-8 text (byte {at})", path.display())]
    NotText {
        /// The config file.
        path: PathBuf,
        /// The offset of the first byte that is not UTF-8.
        at: usize,
    },
}

/// The identity and version of a file: equal before and after a read means
/// the read saw one version.
#[derive(Debug, PartialEq, Eq)]
struct Version {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Version {
    fn of(m: &Metadata) -> Self {
        Version {
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
}

/// The whole text of `path`, one version of it (see the module documentation).
pub fn read(path: &Path) -> Result<String, SnapshotError> {
    let io = |source| SnapshotError::Read {
        path: path.to_owned(),
        source,
    };
    for _ in 0..ATTEMPTS {
        // Non-blocking: opening a FIFO put where the config was must not
        // wait for a writer (it would hang vigil's reload, and its exit).
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        check_kind(path, &meta)?;
        let before = Version::of(&meta);
        let mut bytes = Vec::with_capacity(usize::try_from(before.len).unwrap_or(0).saturating_add(1));
        file.read_to_end(&mut bytes).map_err(io)?;
        let after = Version::of(&file.metadata().map_err(io)?);
        let named = Version::of(&std::fs::metadata(path).map_err(io)?);
        if before == after && after == named && bytes.len() as u64 == after.len {
            return String::from_utf8(bytes).map_err(|e| SnapshotError::NotText {
                path: path.to_owned(),
                at: e.utf8_error().valid_up_to(),
            });
        }
    }
    Err(SnapshotError::Unsettled { path: path.to_owned() })
}

/// Only a regular file of at most [`MAX_BYTES`] is read.
fn check_kind(path: &Path, meta: &Metadata) -> Result<(), SnapshotError> {
    let t = meta.file_type();
    let kind = if t.is_file() {
        if meta.len() > MAX_BYTES {
            return Err(SnapshotError::TooLarge {
                path: path.to_owned(),
                len: meta.len(),
            });
        }
        return Ok(());
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "not a file"
    };
    Err(SnapshotError::NotAFile {
        path: path.to_owned(),
        kind,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vigil-snapshot-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("tree.toml")
    }

    #[test]
    fn a_settled_file_is_read_whole() {
        let path = scratch("settled");
        std::fs::write(&path, "[[child]]\nname = \"a\"\n").unwrap();
        assert_eq!(read(&path).unwrap(), "[[child]]\nname = \"a\"\n");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn errors_name_the_file() {
        let path = scratch("errors");
        let missing = read(&path.with_file_name("nope.toml")).unwrap_err();
        assert!(missing.to_string().starts_with("cannot read "), "{missing}");
        assert!(missing.to_string().contains("nope.toml"), "{missing}");
        std::fs::write(&path, b"name = \"\xff\"\n").unwrap();
        let binary = read(&path).unwrap_err().to_string();
        assert!(
            binary.contains("tree.toml") && binary.contains("not UTF-8 text (byte 8)"),
            "{binary}"
        );
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_file_that_keeps_changing_is_refused() {
        let path = scratch("changing");
        std::fs::write(&path, "x = 1\n").unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = {
            let (path, stop) = (path.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    n += 1;
                    let _ = std::fs::write(&path, format!("x = {n}\n").repeat(1 + (n % 7) as usize));
                }
            })
        };
        // Either one version (possibly the empty one between a truncation
        // and its write) or a refusal: never a torn read.
        for _ in 0..200 {
            match read(&path) {
                Ok(text) => {
                    let first = text.lines().next().unwrap_or_default().to_owned();
                    assert!(text.lines().all(|l| l == first), "a torn read: {text:?}");
                }
                Err(e) => assert!(matches!(e, SnapshotError::Unsettled { .. }), "{e}"),
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().unwrap();
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_fifo_a_directory_and_a_device_are_refused_at_once() {
        let path = scratch("kinds");
        let fifo = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path; mkfifo only creates a file.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        // Without a writer, a blocking open would never return.
        let e = read(&path).unwrap_err();
        assert!(matches!(e, SnapshotError::NotAFile { kind: "a FIFO", .. }), "{e}");
        assert!(e.to_string().contains("is not a regular file but a FIFO"), "{e}");
        let e = read(path.parent().unwrap()).unwrap_err();
        assert!(
            matches!(
                e,
                SnapshotError::NotAFile {
                    kind: "a directory",
                    ..
                }
            ),
            "{e}"
        );
        let e = read(Path::new("/dev/zero")).unwrap_err();
        assert!(matches!(e, SnapshotError::NotAFile { kind: "a device", .. }), "{e}");
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_file_larger_than_the_maximum_is_refused_unread() {
        let path = scratch("large");
        let f = std::fs::File::create(&path).unwrap();
        f.set_len(MAX_BYTES + 1).unwrap(); // sparse: no disk used
        let e = read(&path).unwrap_err();
        assert!(
            matches!(e, SnapshotError::TooLarge { len, .. } if len == MAX_BYTES + 1),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(path.parent().unwrap());
    }
}

//! A trace file that only ever holds whole lines, and says at once when it
//! cannot be written.
//!
//! [`TraceFile`] is the sink `vigil run --trace` and `vigil sim --trace` give
//! the [`TraceWriter`](crate::TraceWriter). It writes whole lines only: bytes
//! after the last newline wait for the rest of their line. When a write fails
//! (a full disk: `ENOSPC`; `/dev/full` fails every write that way), it
//!
//! 1. cuts the file back to its last whole line, so a write that got only part
//!    of a line onto the disk leaves no partial line behind;
//! 2. reports the error once, at once, through the callback given to
//!    [`TraceFile::on_error`], and records it in its [`TraceFileStatus`];
//! 3. stops writing: every later write fails without touching the file.
//!
//! It does not buffer lines to retry them later: a trace that resumed after a
//! gap would look complete and be wrong, and a buffer waiting for disk space
//! would grow without bound. The driver keeps supervising; the command ends
//! with a non-zero exit code (docs/ADAPTER.md lists it).

use std::fs::File;
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// When a [`TraceFile`] writes its whole lines out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flush {
    /// Every line as soon as it is complete: the file can be followed live,
    /// and a `kill -9` of the writer loses nothing (`vigil run`).
    EachLine,
    /// Whole lines in blocks of about 64 KiB, and at [`Write::flush`]
    /// (`vigil sim`, which writes millions of lines).
    Blocks,
}

/// The block size of [`Flush::Blocks`].
const BLOCK: usize = 64 * 1024;

/// Why a trace file stopped being written.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TraceFileError {
    /// A write failed; the file holds every line before it, whole.
    #[error("cannot write the trace to {}: {}; the trace stops at its last whole line", path.display(), describe(*errno, message))]
    Write {
        /// The trace file.
        path: PathBuf,
        /// The operating system's error number (`ENOSPC` is 28), if any.
        errno: Option<i32>,
        /// The error as the operating system words it.
        message: String,
    },
    /// A write failed, and cutting the file back to its last whole line
    /// failed too: the file may end with part of a line.
    #[error("cannot write the trace to {}: {}; cutting it back to its last whole line ({len} bytes) failed too: {}", path.display(), describe(*errno, message), describe(*cut_errno, cut_message))]
    Cut {
        /// The trace file.
        path: PathBuf,
        /// The write's error number.
        errno: Option<i32>,
        /// The write's error.
        message: String,
        /// The length of the whole lines written.
        len: u64,
        /// The cut's error number.
        cut_errno: Option<i32>,
        /// The cut's error.
        cut_message: String,
    },
}

impl TraceFileError {
    /// The symbolic name of the write's error number (`ENOSPC`), or
    /// `errno N`, or `unknown` when the error had none.
    pub fn errno_name(&self) -> String {
        let (TraceFileError::Write { errno, .. } | TraceFileError::Cut { errno, .. }) = self;
        match errno {
            Some(n) => errno_name(*n).map_or_else(|| format!("errno {n}"), str::to_owned),
            None => "unknown".to_owned(),
        }
    }

    /// The trace file.
    pub fn path(&self) -> &Path {
        let (TraceFileError::Write { path, .. } | TraceFileError::Cut { path, .. }) = self;
        path
    }
}

/// `ENOSPC: No space left on device (os error 28)`.
fn describe(errno: Option<i32>, message: &str) -> String {
    match errno.and_then(errno_name) {
        Some(name) => format!("{name}: {message}"),
        None => message.to_owned(),
    }
}

/// The names of the error numbers a file write can meet (Linux numbering).
fn errno_name(n: i32) -> Option<&'static str> {
    Some(match n {
        1 => "EPERM",
        5 => "EIO",
        9 => "EBADF",
        13 => "EACCES",
        22 => "EINVAL",
        27 => "EFBIG",
        28 => "ENOSPC",
        30 => "EROFS",
        32 => "EPIPE",
        116 => "ESTALE",
        122 => "EDQUOT",
        _ => return None,
    })
}

/// Whether a trace file has failed, shared with whoever reads the outcome
/// after the run (the writer itself may be owned by a driver by then).
#[derive(Clone, Debug, Default)]
pub struct TraceFileStatus(Arc<Mutex<Option<TraceFileError>>>);

impl TraceFileStatus {
    /// The error that stopped the trace, if one did.
    pub fn error(&self) -> Option<TraceFileError> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, e: TraceFileError) {
        let mut slot = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(e);
        }
    }
}

/// Where a [`TraceFile`] puts its bytes: a file, or a stand-in in tests.
trait Storage: Write + Send {
    /// Make the stored bytes exactly the first `len`, and write on from there.
    fn cut(&mut self, len: u64) -> io::Result<()>;
}

impl Storage for File {
    fn cut(&mut self, len: u64) -> io::Result<()> {
        // A device (`/dev/full`, a pipe) has nothing to cut back.
        if !self.metadata()?.is_file() {
            return Ok(());
        }
        self.set_len(len)?;
        self.seek(SeekFrom::Start(len)).map(drop)
    }
}

/// The error callback.
type OnError = Box<dyn FnMut(&TraceFileError) + Send>;

/// A trace file of whole lines (see the module documentation).
pub struct TraceFile {
    path: PathBuf,
    storage: Box<dyn Storage>,
    flush: Flush,
    /// Bytes not written yet: whole lines, then at most one partial line.
    pending: Vec<u8>,
    /// Length of the whole lines written so far.
    written: u64,
    status: TraceFileStatus,
    failed: bool,
    on_error: Option<OnError>,
}

impl std::fmt::Debug for TraceFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TraceFile")
            .field("path", &self.path)
            .field("written", &self.written)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl TraceFile {
    /// Create (or truncate) the trace file at `path`.
    pub fn create(path: &Path, flush: Flush) -> io::Result<Self> {
        let file = File::create(path)?;
        Ok(Self::with_storage(path, Box::new(file), flush))
    }

    fn with_storage(path: &Path, storage: Box<dyn Storage>, flush: Flush) -> Self {
        TraceFile {
            path: path.to_owned(),
            storage,
            flush,
            pending: Vec::new(),
            written: 0,
            status: TraceFileStatus::default(),
            failed: false,
            on_error: None,
        }
    }

    /// Call `f` with the error when the trace stops (once, when it happens).
    pub fn on_error(mut self, f: impl FnMut(&TraceFileError) + Send + 'static) -> Self {
        self.on_error = Some(Box::new(f));
        self
    }

    /// A handle that tells, later, whether the trace stopped at an error.
    pub fn status(&self) -> TraceFileStatus {
        self.status.clone()
    }

    /// Write out the whole lines of `pending`; on an error, stop the trace.
    fn write_lines(&mut self) -> io::Result<()> {
        let Some(last) = self.pending.iter().rposition(|&b| b == b'\n') else {
            return Ok(());
        };
        let end = last + 1;
        match self.storage.write_all(&self.pending[..end]) {
            Ok(()) => {
                self.written += end as u64;
                self.pending.drain(..end);
                Ok(())
            }
            Err(e) => Err(self.fail(e)),
        }
    }

    /// Cut back to the whole lines, record and report `e`; the error to return.
    fn fail(&mut self, e: io::Error) -> io::Error {
        self.failed = true;
        self.pending = Vec::new();
        let (errno, message) = (e.raw_os_error(), e.to_string());
        let error = match self.storage.cut(self.written) {
            Ok(()) => TraceFileError::Write {
                path: self.path.clone(),
                errno,
                message,
            },
            Err(c) => TraceFileError::Cut {
                path: self.path.clone(),
                errno,
                message,
                len: self.written,
                cut_errno: c.raw_os_error(),
                cut_message: c.to_string(),
            },
        };
        if let Some(f) = self.on_error.as_mut() {
            f(&error);
        }
        self.status.set(error);
        e
    }

    fn stopped() -> io::Error {
        io::Error::other("the trace stopped at an earlier write error")
    }
}

impl Write for TraceFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(Self::stopped());
        }
        self.pending.extend_from_slice(buf);
        let due = match self.flush {
            Flush::EachLine => buf.contains(&b'\n'),
            Flush::Blocks => self.pending.len() >= BLOCK,
        };
        if due {
            self.write_lines()?;
        }
        Ok(buf.len())
    }

    /// Write out every whole line (a partial line waits for its end).
    fn flush(&mut self) -> io::Result<()> {
        if self.failed {
            return Err(Self::stopped());
        }
        self.write_lines()?;
        self.storage.flush().map_err(|e| self.fail(e))
    }
}

impl Drop for TraceFile {
    fn drop(&mut self) {
        if !self.failed {
            let _ = self.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A disk that takes `room` more bytes, then fails with ENOSPC; a write
    /// across the limit stores what fits (a short write), as a real one does.
    #[derive(Clone, Default)]
    struct Disk(Arc<Mutex<(Vec<u8>, usize)>>);

    impl Disk {
        fn with_room(room: usize) -> Self {
            Disk(Arc::new(Mutex::new((Vec::new(), room))))
        }
        fn bytes(&self) -> Vec<u8> {
            self.0.lock().unwrap().0.clone()
        }
    }

    impl Write for Disk {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let mut d = self.0.lock().unwrap();
            let fits = buf.len().min(d.1);
            if fits == 0 && !buf.is_empty() {
                return Err(io::Error::from_raw_os_error(28));
            }
            d.1 -= fits;
            d.0.extend_from_slice(&buf[..fits]);
            Ok(fits)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Storage for Disk {
        fn cut(&mut self, len: u64) -> io::Result<()> {
            self.0.lock().unwrap().0.truncate(len as usize);
            Ok(())
        }
    }

    fn file(disk: &Disk, flush: Flush) -> TraceFile {
        TraceFile::with_storage(Path::new("/var/trace.jsonl"), Box::new(disk.clone()), flush)
    }

    #[test]
    fn a_disk_that_fills_mid_line_keeps_only_whole_lines() {
        for flush in [Flush::EachLine, Flush::Blocks] {
            // Room for the first line and half of the second.
            let disk = Disk::with_room(12 + 6);
            let reported = Arc::new(Mutex::new(Vec::new()));
            let r = Arc::clone(&reported);
            let mut f = file(&disk, flush).on_error(move |e| r.lock().unwrap().push(e.to_string()));
            let status = f.status();
            f.write_all(b"{\"line\":1}\n").and_then(|()| f.flush()).unwrap();
            let second = f.write_all(b"{\"line\":2}\n").and_then(|()| f.flush());
            assert!(second.is_err(), "{flush:?}: the failed write is an error");
            assert!(f.write_all(b"{\"line\":3}\n").is_err(), "{flush:?}: later writes fail");
            assert!(f.flush().is_err());
            drop(f);
            assert_eq!(
                disk.bytes(),
                b"{\"line\":1}\n",
                "{flush:?}: the partial line was cut back"
            );
            let reported = reported.lock().unwrap().clone();
            assert_eq!(reported.len(), 1, "{flush:?}: reported once: {reported:?}");
            assert!(reported[0].contains("/var/trace.jsonl"), "{}", reported[0]);
            assert!(reported[0].contains("ENOSPC"), "{}", reported[0]);
            let e = status.error().expect("the status holds the error");
            assert_eq!(e.errno_name(), "ENOSPC");
            assert_eq!(e.path(), Path::new("/var/trace.jsonl"));
        }
    }

    #[test]
    fn a_partial_line_is_never_written() {
        let disk = Disk::with_room(1 << 20);
        let mut f = file(&disk, Flush::EachLine);
        f.write_all(b"{\"a\":1}\n{\"b\"").unwrap();
        f.flush().unwrap();
        assert_eq!(disk.bytes(), b"{\"a\":1}\n");
        f.write_all(b":2}\n").unwrap();
        assert_eq!(disk.bytes(), b"{\"a\":1}\n{\"b\":2}\n");
        assert!(f.status().error().is_none());
    }

    #[test]
    fn blocks_are_written_at_flush_and_at_drop() {
        let disk = Disk::with_room(1 << 20);
        let mut f = file(&disk, Flush::Blocks);
        f.write_all(b"{}\n").unwrap();
        assert!(disk.bytes().is_empty(), "held until a block fills");
        f.flush().unwrap();
        assert_eq!(disk.bytes(), b"{}\n");
        f.write_all(b"{}\n").unwrap();
        drop(f);
        assert_eq!(disk.bytes(), b"{}\n{}\n");
    }

    #[test]
    fn dev_full_fails_at_the_first_line_with_enospc() {
        let Ok(f) = TraceFile::create(Path::new("/dev/full"), Flush::EachLine) else {
            return; // no /dev/full on this system
        };
        let status = f.status();
        let mut f = f;
        assert!(f.write_all(b"{}\n").is_err());
        let e = status.error().expect("an error");
        assert_eq!(e.errno_name(), "ENOSPC", "{e}");
        assert!(
            e.to_string()
                .starts_with("cannot write the trace to /dev/full: ENOSPC: "),
            "{e}"
        );
    }

    #[test]
    fn a_regular_file_is_cut_back_to_its_whole_lines() {
        let dir = std::env::temp_dir().join(format!("vigil-trace-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.jsonl");
        let mut file = File::create(&path).unwrap();
        file.write_all(b"{}\n{\"par").unwrap();
        file.cut(3).unwrap();
        file.write_all(b"{}\n").unwrap();
        drop(file);
        assert_eq!(std::fs::read(&path).unwrap(), b"{}\n{}\n");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

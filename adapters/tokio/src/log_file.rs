//! Log files that vigil writes for a child ([`crate::OutputMode::Log`]),
//! rotated by size, with an optional timestamp on every line.
//!
//! The child's stdout and stderr are pipes into vigil (as in
//! [`crate::OutputMode::Tracing`]); the forwarding task splits them into
//! lines and hands each line to a `LogWriter`, one per stream, which
//! appends it to `<dir>/<stem>.out.log` or `<dir>/<stem>.err.log` (the stem
//! is the worker's path with every `/` replaced by `__`).
//!
//! # Rotation
//!
//! Before a line is written, if the file would then exceed `max_size`
//! bytes, the file is rotated: `<file>.<keep-1>` becomes `<file>.<keep>`
//! (the oldest is replaced), ..., `<file>` becomes `<file>.1`, and a new
//! empty `<file>` is opened. A line is never split across two files; a line
//! that alone exceeds `max_size` (its timestamp and newline included) is
//! cut to fit (the rest of it is lost; it is not counted as dropped). With
//! `keep = 0` the full file is deleted instead. Lines are the forwarding
//! task's: a `\r\n` terminator is written as `\n`, and a line longer than
//! 64 KiB is written as lines of at most 64 KiB, as in tracing mode. Bytes
//! that are not UTF-8 are written as they are.
//!
//! # Failures
//!
//! A write that fails (a full disk, a directory that cannot be created or
//! written) never stops the child or vigil: the lines that could not be
//! written are dropped (a batch written in part is truncated back to its
//! start, so that no cut line is left) and counted per worker ([`dropped_lines`], exposed
//! as `vigil_log_lines_dropped_total`), the pipes keep being drained, and
//! one WARN line says so per episode (from the first failure to the next
//! successful write, which an INFO line reports with the number of lines
//! lost). While the file cannot be opened, opening is retried once per batch
//! of output read, not once per line.
//!
//! # Cost
//!
//! A writer holds no file and no buffer until its stream writes a line; then
//! one open file descriptor, and a buffer of the lines of the batch being
//! written (at most `FLUSH_AT` bytes plus one line), released after each
//! batch, so an idle child keeps none.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

/// How vigil writes a child's log files ([`crate::OutputMode::Log`]).
///
/// ```
/// use vigil_tokio::{LogFiles, OutputMode, ProcessSpec};
///
/// let log = LogFiles::new("logs").max_size(10 << 20).keep(5).timestamps(true);
/// let spec = ProcessSpec::new(["./server"]).output(OutputMode::Log(log));
/// assert!(matches!(spec.output, OutputMode::Log(ref l) if l.keep == 5));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct LogFiles {
    /// The directory holding the files, created if missing.
    pub dir: PathBuf,
    /// The size a file may reach before it is rotated, in bytes (at least
    /// [`LogFiles::MIN_MAX_SIZE`]; smaller values are raised to it).
    pub max_size: u64,
    /// How many rotated files are kept (`<file>.1` is the newest); 0: none,
    /// a full file is deleted.
    pub keep: u32,
    /// Prefix each line with the time vigil read it, RFC 3339 in UTC with
    /// nanoseconds, and a space.
    pub timestamps: bool,
}

impl LogFiles {
    /// The default `max_size`: 10 MiB.
    pub const DEFAULT_MAX_SIZE: u64 = 10 << 20;
    /// The default `keep`: 5.
    pub const DEFAULT_KEEP: u32 = 5;
    /// The smallest `max_size`: 4 KiB.
    pub const MIN_MAX_SIZE: u64 = 4 << 10;
    /// The largest `keep`.
    pub const MAX_KEEP: u32 = 1000;

    /// Files in `dir`, with the defaults: rotated at 10 MiB, 5 kept, no
    /// timestamps.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        LogFiles {
            dir: dir.into(),
            max_size: Self::DEFAULT_MAX_SIZE,
            keep: Self::DEFAULT_KEEP,
            timestamps: false,
        }
    }

    /// Rotate a file before it would exceed `bytes` (default 10 MiB; at
    /// least [`LogFiles::MIN_MAX_SIZE`]).
    pub fn max_size(mut self, bytes: u64) -> Self {
        self.max_size = bytes;
        self
    }

    /// Keep `files` rotated files (default 5; at most [`LogFiles::MAX_KEEP`]).
    pub fn keep(mut self, files: u32) -> Self {
        self.keep = files;
        self
    }

    /// Prefix each line with an RFC 3339 UTC timestamp (default: no).
    pub fn timestamps(mut self, on: bool) -> Self {
        self.timestamps = on;
        self
    }

    /// The file of `stream` (`"out"` or `"err"`) of the worker at `path`.
    fn file(&self, path: &str, stream: &str) -> PathBuf {
        self.dir
            .join(format!("{}.{stream}.log", crate::output::log_file_stem(path)))
    }
}

/// Output is written to the file once this many bytes are buffered (and
/// at the end of every batch read from the pipe).
pub(crate) const FLUSH_AT: usize = 64 * 1024;

/// Lines dropped per worker path, since vigil started.
static DROPPED: Mutex<BTreeMap<String, u64>> = Mutex::new(BTreeMap::new());

/// Every worker that lost log lines (its path), with how many lines it
/// lost since vigil started: lines that could not be written to its log
/// files ([`crate::OutputMode::Log`]). Workers that lost none are absent.
#[must_use]
pub fn dropped_lines() -> BTreeMap<String, u64> {
    DROPPED.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

fn count_dropped(path: &str, lines: u64) {
    if lines == 0 {
        return;
    }
    let mut dropped = DROPPED.lock().unwrap_or_else(PoisonError::into_inner);
    let n = dropped.entry(path.to_owned()).or_default();
    *n = n.saturating_add(lines);
}

/// One stream's log file (see the module docs).
pub(crate) struct LogWriter {
    settings: Arc<LogFiles>,
    /// `<dir>/<stem>.out.log` or `.err.log`.
    file_path: PathBuf,
    /// The worker's path, for counters and warnings.
    path: Arc<str>,
    file: Option<File>,
    /// The file's size, as written by this writer (from its size at open).
    size: u64,
    /// The lines not written yet, and how many there are.
    buf: Vec<u8>,
    buffered_lines: u64,
    /// Opening failed during this batch: drop lines until the next batch.
    open_failed: bool,
    /// Lines dropped since the episode of failures began (`None`: writing works).
    failing: Option<u64>,
}

impl LogWriter {
    /// The writer of `stream` (`"out"` or `"err"`) of the worker at `path`;
    /// opens nothing yet.
    pub(crate) fn new(settings: &Arc<LogFiles>, path: &Arc<str>, stream: &str) -> LogWriter {
        LogWriter {
            settings: Arc::clone(settings),
            file_path: settings.file(path, stream),
            path: Arc::clone(path),
            file: None,
            size: 0,
            buf: Vec::new(),
            buffered_lines: 0,
            open_failed: false,
            failing: None,
        }
    }

    fn max_size(&self) -> u64 {
        self.settings.max_size.max(LogFiles::MIN_MAX_SIZE)
    }

    /// Add one line (without its terminator); it is written at the next
    /// [`LogWriter::flush`] or once [`FLUSH_AT`] bytes are buffered.
    pub(crate) fn line(&mut self, line: &[u8]) {
        if self.file.is_none() && !self.open() {
            self.dropped(1, None);
            return;
        }
        let stamp = self
            .settings
            .timestamps
            .then(|| vigil_trace::rfc3339_utc(SystemTime::now()));
        let prefix = stamp.as_ref().map_or(0, |s| s.len() + 1);
        let max = self.max_size();
        // Cut a line that alone exceeds the file (prefix and newline included).
        let room = usize::try_from(max).unwrap_or(usize::MAX).saturating_sub(prefix + 1);
        let line = &line[..line.len().min(room)];
        let entry = (prefix + line.len() + 1) as u64;
        let used = self.size.saturating_add(self.buf.len() as u64);
        if used > 0 && used.saturating_add(entry) > max {
            self.flush();
            self.rotate();
            if self.file.is_none() {
                self.dropped(1, None);
                return;
            }
        }
        if let Some(stamp) = stamp {
            self.buf.extend_from_slice(stamp.as_bytes());
            self.buf.push(b' ');
        }
        self.buf.extend_from_slice(line);
        self.buf.push(b'\n');
        self.buffered_lines += 1;
        if self.buf.len() >= FLUSH_AT {
            self.flush();
        }
    }

    /// Write what is buffered and release the buffer (the end of a batch).
    pub(crate) fn flush(&mut self) {
        self.open_failed = false;
        if self.buf.is_empty() {
            return;
        }
        let result = match &mut self.file {
            Some(file) => file.write_all(&self.buf),
            None => Err(io::Error::other("the file is not open")),
        };
        let lines = self.buffered_lines;
        match result {
            Ok(()) => {
                self.size = self.size.saturating_add(self.buf.len() as u64);
                if let Some(lost) = self.failing.take() {
                    tracing::info!(target: "vigil::log_file", path = &*self.path, file = %self.file_path.display(),
                        lines_dropped = lost, "writing the log file again");
                }
            }
            Err(e) => {
                // Part of the batch may have been written, its last line
                // cut: take it back, so that no line is split.
                if let Some(file) = &self.file {
                    if file.set_len(self.size).is_err() {
                        self.size = file.metadata().map_or(self.size, |m| m.len());
                    }
                }
                self.dropped(lines, Some(&e));
            }
        }
        self.buffered_lines = 0;
        self.buf = Vec::new();
    }

    /// Open the file (and its directory) if it was not tried in this batch.
    fn open(&mut self) -> bool {
        if self.open_failed {
            return false;
        }
        match open_append(&self.file_path) {
            Ok((file, size)) => {
                self.file = Some(file);
                self.size = size;
                true
            }
            Err(e) => {
                self.open_failed = true;
                self.warn_once(&e);
                false
            }
        }
    }

    /// Shift the rotated files, move the current one to `.1` (or delete it:
    /// `keep = 0`), and open a new one.
    fn rotate(&mut self) {
        self.file = None;
        let keep = self.settings.keep.min(LogFiles::MAX_KEEP);
        let numbered = |n: u32| {
            let mut name = self.file_path.clone().into_os_string();
            name.push(format!(".{n}"));
            PathBuf::from(name)
        };
        let moved = if keep == 0 {
            fs::remove_file(&self.file_path)
        } else {
            for n in (1..keep).rev() {
                let _ = fs::rename(numbered(n), numbered(n + 1));
            }
            fs::rename(&self.file_path, numbered(1))
        };
        if let Err(e) = moved {
            if e.kind() != io::ErrorKind::NotFound {
                // The old file stays and grows: say so (once an episode).
                self.warn_once(&e);
            }
        }
        self.open();
    }

    /// Count `lines` dropped; the first drop of an episode is warned about.
    fn dropped(&mut self, lines: u64, error: Option<&io::Error>) {
        if let Some(e) = error {
            self.warn_once(e);
        }
        count_dropped(&self.path, lines);
        let lost = self.failing.get_or_insert(0);
        *lost = lost.saturating_add(lines);
    }

    /// One WARN line for the first failure of an episode.
    fn warn_once(&mut self, error: &io::Error) {
        if self.failing.is_none() {
            tracing::warn!(target: "vigil::log_file", path = &*self.path, file = %self.file_path.display(), error = %error,
                "cannot write the log file: the child's output is dropped (and counted) until it can");
            self.failing = Some(0);
        }
    }
}

/// `file` opened for appending (its directory created), and its size.
fn open_append(file: &Path) -> io::Result<(File, u64)> {
    if let Some(dir) = file.parent() {
        fs::create_dir_all(dir)?;
    }
    let f = OpenOptions::new().create(true).append(true).open(file)?;
    let size = f.metadata()?.len();
    Ok((f, size))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(dir: &Path, max_size: u64, keep: u32) -> LogWriter {
        let settings = Arc::new(LogFiles::new(dir).max_size(max_size).keep(keep));
        LogWriter::new(&settings, &Arc::from("web/w1"), "out")
    }

    #[test]
    fn files_rotate_at_line_boundaries_and_the_oldest_goes() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = writer(dir.path(), 4096, 2);
        let line = [b'x'; 999]; // 1000 bytes with its newline: 4 per file
        for _ in 0..13 {
            w.line(&line);
        }
        w.flush();
        let f = dir.path().join("web__w1.out.log");
        let len = |p: PathBuf| fs::metadata(p).map(|m| m.len()).ok();
        let numbered = |n: u32| PathBuf::from(format!("{}.{n}", f.display()));
        assert_eq!(len(f.clone()), Some(1000), "13 lines: 4 + 4 + 4 rotated, 1 left");
        assert_eq!(len(numbered(1)), Some(4000));
        assert_eq!(len(numbered(2)), Some(4000));
        assert_eq!(len(numbered(3)), None, "keep = 2");
    }

    #[test]
    fn a_line_longer_than_a_file_is_cut_to_fit() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = writer(dir.path(), 4096, 0);
        w.line(&[b'y'; 10_000]);
        w.line(b"next");
        w.flush();
        let text = fs::read(dir.path().join("web__w1.out.log")).unwrap();
        assert_eq!(text, b"next\n", "keep = 0: the full file was deleted");
    }

    #[test]
    fn an_unwritable_dir_drops_and_counts_lines_and_never_panics() {
        let dir = tempfile::tempdir().unwrap();
        // A directory that cannot be created: its parent is a file.
        let blocker = dir.path().join("file");
        fs::write(&blocker, b"").unwrap();
        let settings = Arc::new(LogFiles::new(blocker.join("logs")));
        let path: Arc<str> = Arc::from("unwritable-unit");
        let mut w = LogWriter::new(&settings, &path, "err");
        for _ in 0..3 {
            w.line(b"lost");
        }
        w.flush();
        w.line(b"lost too");
        w.flush();
        assert_eq!(dropped_lines().get("unwritable-unit"), Some(&4));
        assert_eq!(w.failing, Some(4));
    }
}

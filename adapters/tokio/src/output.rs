//! Where a process child's stdout and stderr go.
//!
//! [`OutputMode::Tracing`] pipes both streams into vigil and forwards them line
//! by line as `tracing` events (target `vigil::child`); the two pipes are read
//! by one task, concurrently, so a chatty child never blocks on a full
//! pipe. [`OutputMode::Files`] hands the child append-mode log files directly
//! (no copy through vigil: nothing is lost if vigil dies, and the child can
//! never be blocked by vigil). [`OutputMode::Log`] pipes both streams into
//! vigil too, and vigil writes them to rotated files (src/log_file.rs).
//! [`OutputMode::Inherit`] and [`OutputMode::Null`] are what they say.

use std::borrow::Cow;
use std::fs::{self, OpenOptions};
use std::io;
use std::mem::MaybeUninit;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};
use tokio::process::Child;

use crate::log_file::{LogFiles, LogWriter};

/// The longest line forwarded as one event; longer lines are split into pieces
/// of at most this many bytes (at a UTF-8 character boundary when possible).
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// Where the stdout and stderr of a process child go. Default:
/// [`OutputMode::Tracing`].
///
/// ```
/// use vigil_tokio::{OutputMode, ProcessSpec};
/// let quiet = ProcessSpec::new(["sleep", "3600"]).output(OutputMode::Null);
/// assert_eq!(ProcessSpec::new(["true"]).output, OutputMode::Tracing);
/// # let _ = quiet;
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum OutputMode {
    /// Each line becomes a `tracing` event with target `vigil::child` and the
    /// fields `path`, `generation` and `stream` (`"stdout"` or `"stderr"`,
    /// both at INFO level: a program's stderr is its diagnostics, not a
    /// warning of vigil's). Lines longer than 64 KiB are split; invalid UTF-8
    /// is replaced by U+FFFD.
    #[default]
    Tracing,
    /// The child writes to vigil's own stdout and stderr.
    Inherit,
    /// Both streams are discarded (`/dev/null`).
    Null,
    /// The child appends to `<dir>/<path>.out.log` and `<dir>/<path>.err.log`,
    /// with every `/` of the worker's path replaced by `__` (`web/w1` writes
    /// `web__w1.out.log`). The directory is created if missing. The files are
    /// the child's own stdout and stderr, written without going through vigil.
    Files {
        /// The directory holding the log files.
        dir: PathBuf,
    },
    /// vigil reads both streams through pipes and writes them to
    /// `<dir>/<path>.out.log` and `<dir>/<path>.err.log` (the same names as
    /// [`OutputMode::Files`]), rotated by size, with optional timestamps
    /// (see [`LogFiles`]). Each line is also kept for `vigil ctl logs`
    /// (src/recent_output.rs); none is logged through `tracing`. A full
    /// disk drops lines (counted), never blocks the child.
    Log(LogFiles),
}

/// The stdout and stderr to give a child for `mode`, opening the log files of
/// [`OutputMode::Files`] (this is the only mode that can fail).
pub(crate) fn child_stdio(mode: &OutputMode, path: &str) -> io::Result<(Stdio, Stdio)> {
    Ok(match mode {
        OutputMode::Tracing | OutputMode::Log(_) => (Stdio::piped(), Stdio::piped()),
        OutputMode::Inherit => (Stdio::inherit(), Stdio::inherit()),
        OutputMode::Null => (Stdio::null(), Stdio::null()),
        OutputMode::Files { dir } => {
            let (out, err) = log_files(dir, path)?;
            (Stdio::from(out), Stdio::from(err))
        }
    })
}

/// The two log files (stdout's, stderr's) of the worker at `path` in `dir`
/// ([`OutputMode::Files`]), opened for appending; `dir` is created if missing.
pub(crate) fn log_files(dir: &Path, path: &str) -> io::Result<(fs::File, fs::File)> {
    fs::create_dir_all(dir)?;
    let stem = log_file_stem(path);
    let out = open_log(&dir.join(format!("{stem}.out.log")))?;
    let err = open_log(&dir.join(format!("{stem}.err.log")))?;
    Ok((out, err))
}

fn open_log(file: &Path) -> io::Result<fs::File> {
    OpenOptions::new().create(true).append(true).open(file)
}

/// The file name stem of a worker's log files: its path with every `/`
/// replaced by `__` (`root` for the empty path of the root).
pub(crate) fn log_file_stem(path: &str) -> String {
    if path.is_empty() {
        "root".to_owned()
    } else {
        path.replace('/', "__")
    }
}

/// Start forwarding the piped streams of a freshly spawned child (only
/// [`OutputMode::Tracing`] and [`OutputMode::Log`] pipe them; for other
/// modes this does nothing), as `mode` says.
/// One task reads both streams, concurrently; it ends at end of file of both,
/// that is when the last process holding the pipes (the child or one of its
/// descendants) is gone. An idle stream costs its pipe's registration and
/// nothing else: no buffer is held between reads (see [`forward_lines`]).
pub(crate) fn forward(child: &mut Child, mode: &OutputMode, path: &Arc<str>, generation: u64) {
    forward_streams(child.stdout.take(), child.stderr.take(), mode, path, generation);
}

/// Start forwarding `stdout` and `stderr` (the read ends of a child's output
/// pipes, where it has them) as [`forward`] does: one task for both.
pub(crate) fn forward_streams<O, E>(
    stdout: Option<O>,
    stderr: Option<E>,
    mode: &OutputMode,
    path: &Arc<str>,
    generation: u64,
) where
    O: AsyncRead + Unpin + Send + 'static,
    E: AsyncRead + Unpin + Send + 'static,
{
    if stdout.is_none() && stderr.is_none() {
        return;
    }
    let settings = match mode {
        OutputMode::Log(files) => Some(Arc::new(files.clone())),
        _ => None,
    };
    let writer = |stream| settings.as_ref().map(|s| Box::new(LogWriter::new(s, path, stream)));
    let stdout = stdout.map(|s| Slot {
        lines: Lines::new(s, Stream::Stdout),
        file: writer("out"),
    });
    let stderr = stderr.map(|s| Slot {
        lines: Lines::new(s, Stream::Stderr),
        file: writer("err"),
    });
    let path = Arc::clone(path);
    tokio::spawn(forward_both(stdout, stderr, path, generation));
}

/// Which stream of a child a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

/// One stream of a child being forwarded: its lines, and the log file
/// they go to ([`OutputMode::Log`]; `None`: to `tracing`).
struct Slot<R> {
    lines: Lines<R>,
    /// Boxed: most children have no log file, and the slot lives in every
    /// idle child's forwarding task.
    file: Option<Box<LogWriter>>,
}

/// One line, kept in the child's recent output (`vigil ctl logs`) first,
/// then written to its log file, or else as its `tracing` event (both
/// streams at INFO, told apart by the `stream` field).
fn emit(stream: Stream, path: &str, generation: u64, line: &[u8], file: Option<&mut LogWriter>) {
    let recent = match stream {
        Stream::Stdout => crate::recent_output::Stream::Stdout,
        Stream::Stderr => crate::recent_output::Stream::Stderr,
    };
    let line_text = text(line);
    crate::recent_output::record(path, generation, recent, &line_text);
    if let Some(file) = file {
        file.line(line);
        return;
    }
    let stream = match stream {
        Stream::Stdout => "stdout",
        Stream::Stderr => "stderr",
    };
    tracing::info!(target: "vigil::child", path, generation, stream, "{line_text}");
}

/// The task behind [`forward`]: both streams, until both ended.
async fn forward_both<O: AsyncRead + Unpin, E: AsyncRead + Unpin>(
    mut stdout: Option<Slot<O>>,
    mut stderr: Option<Slot<E>>,
    path: Arc<str>,
    generation: u64,
) {
    std::future::poll_fn(|cx| {
        let mut chunk = [MaybeUninit::<u8>::uninit(); CHUNK];
        poll_slot(&mut stdout, cx, &mut chunk, &path, generation);
        poll_slot(&mut stderr, cx, &mut chunk, &path, generation);
        if stdout.is_none() && stderr.is_none() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
}

/// Poll one stream of [`forward_both`], emptying its slot once it ended;
/// what it read is written to its log file before this returns (one batch).
fn poll_slot<R: AsyncRead + Unpin>(
    slot: &mut Option<Slot<R>>,
    cx: &mut Context<'_>,
    chunk: &mut [MaybeUninit<u8>],
    path: &str,
    generation: u64,
) {
    if let Some(Slot { lines, file }) = slot {
        let stream = lines.stream;
        let ended = lines
            .poll_lines(cx, chunk, |line| {
                emit(stream, path, generation, line, file.as_deref_mut())
            })
            .is_ready();
        if let Some(file) = file {
            file.flush();
        }
        if ended {
            *slot = None;
        }
    }
}

/// Read `reader` to its end and call `emit` once per line, without the line
/// terminator (`\n`, or `\r\n`). A line longer than [`MAX_LINE`] bytes is
/// emitted in pieces; a last line without a terminator is emitted too.
/// The bytes are passed as read ([`emit`] converts invalid UTF-8 lossily
/// for the log and the recent output). A read error ends the stream.
///
/// Between reads it holds no buffer: each read goes into a [`CHUNK`]-byte
/// buffer on the stack of the poll, complete lines are emitted straight from
/// it, and only the bytes of a line not yet ended are kept (at most
/// [`MAX_LINE`]), their allocation freed as soon as the line ends.
///
/// [`forward`] runs the same splitting ([`Lines::poll_lines`]) for both
/// streams in one task; this is its one-stream form, which the tests drive.
#[cfg(test)]
pub(crate) async fn forward_lines<R, F>(reader: R, mut emit: F)
where
    R: AsyncRead + Unpin,
    F: FnMut(&[u8]),
{
    let mut lines = Lines::new(reader, Stream::Stdout);
    std::future::poll_fn(|cx| {
        let mut chunk = [MaybeUninit::<u8>::uninit(); CHUNK];
        lines.poll_lines(cx, &mut chunk, &mut emit)
    })
    .await;
}

/// The bytes read at once from a child's stream, into a buffer on the stack.
/// A pipe holds 64 KiB by default: a chatty child is read in a few calls.
const CHUNK: usize = 16 * 1024;

/// One stream being split into lines: the reader and the line not yet ended.
struct Lines<R> {
    reader: R,
    stream: Stream,
    /// The bytes of the current line so far (no terminator). Empty, and
    /// without an allocation, whenever the last byte read ended a line.
    pending: Vec<u8>,
}

impl<R: AsyncRead + Unpin> Lines<R> {
    fn new(reader: R, stream: Stream) -> Self {
        Lines {
            reader,
            stream,
            pending: Vec::new(),
        }
    }

    /// Read what is there and emit its complete lines, until the reader has
    /// nothing more for now (`Pending`) or ended (`Ready`: end of file or a
    /// read error, after the last unterminated line was emitted).
    fn poll_lines(
        &mut self,
        cx: &mut Context<'_>,
        chunk: &mut [MaybeUninit<u8>],
        mut emit: impl FnMut(&[u8]),
    ) -> Poll<()> {
        loop {
            let mut buf = ReadBuf::uninit(chunk);
            match Pin::new(&mut self.reader).poll_read(cx, &mut buf) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(())) if !buf.filled().is_empty() => self.feed(buf.filled(), &mut emit),
                Poll::Ready(result) => {
                    if let Err(e) = result {
                        tracing::debug!(target: "vigil::child", error = %e, "reading child output failed");
                    }
                    if !self.pending.is_empty() {
                        emit(&self.pending);
                    }
                    self.pending = Vec::new();
                    return Poll::Ready(());
                }
            }
        }
    }

    /// Split `bytes` (just read) into lines: emit every line it ends, keep
    /// the rest as the pending line, emitting it in [`MAX_LINE`] pieces.
    fn feed(&mut self, mut bytes: &[u8], emit: &mut impl FnMut(&[u8])) {
        while !bytes.is_empty() {
            let room = MAX_LINE - self.pending.len();
            let take = bytes.len().min(room);
            if let Some(newline) = bytes[..take].iter().position(|&b| b == b'\n') {
                if self.pending.is_empty() {
                    emit(strip_cr(&bytes[..newline]));
                } else {
                    self.pending.extend_from_slice(&bytes[..newline]);
                    emit(strip_cr(&self.pending));
                    // The line ended: give its memory back (an idle child keeps none).
                    self.pending = Vec::new();
                }
                bytes = &bytes[newline + 1..];
                continue;
            }
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() >= MAX_LINE {
                let cut = char_boundary_before_end(&self.pending);
                emit(&self.pending[..cut]);
                self.pending.drain(..cut);
                // What is left is at most the first bytes of one character.
                self.pending.shrink_to_fit();
            }
        }
    }
}

/// A line without its `\r` of a `\r\n` terminator.
fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn text(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// Where to cut a full buffer so that a UTF-8 character whose first bytes are
/// at its end is not split: the start of that incomplete character, or the
/// end of the buffer.
fn char_boundary_before_end(bytes: &[u8]) -> usize {
    let len = bytes.len();
    // A UTF-8 character is at most 4 bytes: look at the last 3 for its start.
    for back in 1..=3.min(len) {
        let start = len - back;
        let byte = bytes[start];
        if byte & 0b1100_0000 == 0b1000_0000 {
            continue; // a continuation byte: the character starts earlier
        }
        let width = match byte {
            0x00..=0x7f => 1,
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => return len, // not a leading byte: invalid anyway
        };
        return if width > back && start > 0 { start } else { len };
    }
    len
}

#[cfg(test)]
mod tests {
    use super::{forward_lines, MAX_LINE};

    async fn lines_of(input: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        forward_lines(input, |line| lines.push(String::from_utf8_lossy(line).into_owned())).await;
        lines
    }

    #[tokio::test]
    async fn one_read_holding_many_lines_and_a_long_one() {
        let mut input = b"a\r\nb\n\n".to_vec();
        input.extend(std::iter::repeat_n(b'y', MAX_LINE + 1));
        let lines = lines_of(&input).await;
        let lengths: Vec<usize> = lines.iter().map(String::len).collect();
        assert_eq!(lengths, [1, 1, 0, MAX_LINE, 1]);
        assert_eq!(&lines[..3], ["a", "b", ""]);
    }
}

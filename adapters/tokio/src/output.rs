//! Where a process child's stdout and stderr go.
//!
//! [`OutputMode::Tracing`] pipes both streams into vigil and forwards them line
//! by line as `tracing` events (target `vigil::child`); the two pipes are read
//! by one task, concurrently, so a chatty child never blocks on a full
//! pipe. [`OutputMode::Files`] hands the child append-mode log files directly
//! (no copy through vigil: nothing is lost if vigil dies, and the child can
//! never be blocked by vigil). [`OutputMode::Inherit`] and
//! [`OutputMode::Null`] are what they say.

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
    /// fields `path`, `generation` and `stream` (`"stdout"` at INFO level,
    /// `"stderr"` at WARN). Lines longer than 64 KiB are split; invalid UTF-8
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
}

/// The stdout and stderr to give a child for `mode`, opening the log files of
/// [`OutputMode::Files`] (this is the only mode that can fail).
pub(crate) fn child_stdio(mode: &OutputMode, path: &str) -> io::Result<(Stdio, Stdio)> {
    Ok(match mode {
        OutputMode::Tracing => (Stdio::piped(), Stdio::piped()),
        OutputMode::Inherit => (Stdio::inherit(), Stdio::inherit()),
        OutputMode::Null => (Stdio::null(), Stdio::null()),
        OutputMode::Files { dir } => {
            fs::create_dir_all(dir)?;
            let stem = log_file_stem(path);
            let out = open_log(&dir.join(format!("{stem}.out.log")))?;
            let err = open_log(&dir.join(format!("{stem}.err.log")))?;
            (Stdio::from(out), Stdio::from(err))
        }
    })
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
/// [`OutputMode::Tracing`] pipes them; for other modes this does nothing).
/// One task reads both streams, concurrently; it ends at end of file of both,
/// that is when the last process holding the pipes (the child or one of its
/// descendants) is gone. An idle stream costs its pipe's registration and
/// nothing else: no buffer is held between reads (see [`forward_lines`]).
pub(crate) fn forward(child: &mut Child, path: &Arc<str>, generation: u64) {
    let stdout = child.stdout.take().map(|s| Lines::new(s, Stream::Stdout));
    let stderr = child.stderr.take().map(|s| Lines::new(s, Stream::Stderr));
    if stdout.is_none() && stderr.is_none() {
        return;
    }
    let path = Arc::clone(path);
    tokio::spawn(forward_both(stdout, stderr, path, generation));
}

/// Which stream of a child a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

/// One line as its `tracing` event (stdout at INFO, stderr at WARN), kept
/// in the child's recent output (`vigil ctl logs`) first.
fn emit(stream: Stream, path: &str, generation: u64, line: &str) {
    let recent = match stream {
        Stream::Stdout => crate::recent_output::Stream::Stdout,
        Stream::Stderr => crate::recent_output::Stream::Stderr,
    };
    crate::recent_output::record(path, generation, recent, line);
    match stream {
        Stream::Stdout => {
            tracing::info!(target: "vigil::child", path, generation, stream = "stdout", "{line}");
        }
        Stream::Stderr => {
            tracing::warn!(target: "vigil::child", path, generation, stream = "stderr", "{line}");
        }
    }
}

/// The task behind [`forward`]: both streams, until both ended.
async fn forward_both<O: AsyncRead + Unpin, E: AsyncRead + Unpin>(
    mut stdout: Option<Lines<O>>,
    mut stderr: Option<Lines<E>>,
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

/// Poll one stream of [`forward_both`], emptying its slot once it ended.
fn poll_slot<R: AsyncRead + Unpin>(
    slot: &mut Option<Lines<R>>,
    cx: &mut Context<'_>,
    chunk: &mut [MaybeUninit<u8>],
    path: &str,
    generation: u64,
) {
    if let Some(lines) = slot {
        let stream = lines.stream;
        if lines
            .poll_lines(cx, chunk, |line| emit(stream, path, generation, line))
            .is_ready()
        {
            *slot = None;
        }
    }
}

/// Read `reader` to its end and call `emit` once per line, without the line
/// terminator (`\n`, or `\r\n`). A line longer than [`MAX_LINE`] bytes is
/// emitted in pieces; a last line without a terminator is emitted too.
/// Invalid UTF-8 is converted lossily. A read error ends the stream.
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
    F: FnMut(&str),
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
        mut emit: impl FnMut(&str),
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
                        emit(&text(&self.pending));
                    }
                    self.pending = Vec::new();
                    return Poll::Ready(());
                }
            }
        }
    }

    /// Split `bytes` (just read) into lines: emit every line it ends, keep
    /// the rest as the pending line, emitting it in [`MAX_LINE`] pieces.
    fn feed(&mut self, mut bytes: &[u8], emit: &mut impl FnMut(&str)) {
        while !bytes.is_empty() {
            let room = MAX_LINE - self.pending.len();
            let take = bytes.len().min(room);
            if let Some(newline) = bytes[..take].iter().position(|&b| b == b'\n') {
                if self.pending.is_empty() {
                    emit(&text(strip_cr(&bytes[..newline])));
                } else {
                    self.pending.extend_from_slice(&bytes[..newline]);
                    emit(&text(strip_cr(&self.pending)));
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
                emit(&text(&self.pending[..cut]));
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
        forward_lines(input, |line| lines.push(line.to_owned())).await;
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

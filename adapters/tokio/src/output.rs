//! Where a process child's stdout and stderr go.
//!
//! [`OutputMode::Tracing`] pipes both streams into vigil and forwards them line
//! by line as `tracing` events (target `vigil::child`); the two pipes are read
//! by their own tasks, concurrently, so a chatty child never blocks on a full
//! pipe. [`OutputMode::Files`] hands the child append-mode log files directly
//! (no copy through vigil: nothing is lost if vigil dies, and the child can
//! never be blocked by vigil). [`OutputMode::Inherit`] and
//! [`OutputMode::Null`] are what they say.

use std::borrow::Cow;
use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
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
/// [`OutputMode::Tracing`] pipes them; for other modes this does nothing).
/// One task per stream; each ends at end of file, that is when the last
/// process holding the pipe (the child or one of its descendants) is gone.
pub(crate) fn forward(child: &mut Child, path: &Arc<str>, generation: u64) {
    forward_streams(child.stdout.take(), child.stderr.take(), path, generation);
}

/// Start forwarding `stdout` and `stderr` (the read ends of a child's output
/// pipes, where it has them) as [`forward`] does.
pub(crate) fn forward_streams<O, E>(stdout: Option<O>, stderr: Option<E>, path: &Arc<str>, generation: u64)
where
    O: AsyncRead + Unpin + Send + 'static,
    E: AsyncRead + Unpin + Send + 'static,
{
    if let Some(stdout) = stdout {
        let path = Arc::clone(path);
        tokio::spawn(async move {
            forward_lines(stdout, |line| {
                tracing::info!(target: "vigil::child", path = &*path, generation, stream = "stdout", "{line}");
            })
            .await;
        });
    }
    if let Some(stderr) = stderr {
        let path = Arc::clone(path);
        tokio::spawn(async move {
            forward_lines(stderr, |line| {
                tracing::warn!(target: "vigil::child", path = &*path, generation, stream = "stderr", "{line}");
            })
            .await;
        });
    }
}

/// Read `reader` to its end and call `emit` once per line, without the line
/// terminator (`\n`, or `\r\n`). A line longer than [`MAX_LINE`] bytes is
/// emitted in pieces; a last line without a terminator is emitted too.
/// Invalid UTF-8 is converted lossily. A read error ends the stream.
pub(crate) async fn forward_lines<R, F>(reader: R, mut emit: F)
where
    R: AsyncRead + Unpin,
    F: FnMut(&str),
{
    let mut reader = BufReader::with_capacity(16 * 1024, reader);
    let mut line: Vec<u8> = Vec::new();
    loop {
        let available = match reader.fill_buf().await {
            Ok(buf) => buf,
            Err(e) => {
                tracing::debug!(target: "vigil::child", error = %e, "reading child output failed");
                break;
            }
        };
        if available.is_empty() {
            if !line.is_empty() {
                emit(&text(&line));
            }
            break;
        }
        let take = available.len().min(MAX_LINE - line.len());
        if let Some(newline) = available[..take].iter().position(|&b| b == b'\n') {
            line.extend_from_slice(&available[..newline]);
            reader.consume(newline + 1);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            emit(&text(&line));
            line.clear();
        } else {
            line.extend_from_slice(&available[..take]);
            reader.consume(take);
            if line.len() >= MAX_LINE {
                let cut = char_boundary_before_end(&line);
                emit(&text(&line[..cut]));
                line.drain(..cut);
            }
        }
    }
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

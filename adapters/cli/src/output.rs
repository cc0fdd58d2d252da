//! A closed or failing standard output ends the command cleanly, whatever
//! command wrote to it.
//!
//! `println!` panics when stdout cannot be written (std ignores SIGPIPE, so a
//! reader that went away is an `EPIPE` error, and `println!` turns every
//! error into a panic). Rather than replacing every `println!` of every
//! command, [`install`] adds a panic hook, once, in `main`: a panic that is
//! std's "failed printing to stdout/stderr" ends the process at once, before
//! any unwinding, with
//!
//! - [`OUTPUT_CLOSED`] (141) and no message when the reader went away
//!   (`EPIPE`), as `ls | head` does;
//! - [`OUTPUT_FAILED`] (74) and one line on stderr for any other error (a
//!   full disk: `vigil sim ... > /dev/full`).
//!
//! Every other panic goes to the hook that was there before (the default
//! one prints the message and the backtrace).
//!
//! A command that waits before it writes (`vigil ctl subscribe` on an idle
//! tree) would only notice at its next line; [`stdout_reader_gone`] tells it
//! as soon as the reader leaves, and [`exit_closed`] ends it the same way.

use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::PanicHookInfo;

use std::os::unix::fs::FileTypeExt;

use tokio::io::Interest;
use tokio::net::unix::pipe;

use crate::exit::{OUTPUT_CLOSED, OUTPUT_FAILED};

/// The text std's `print!` family panics with (library/std/src/io/stdio.rs);
/// the hostile `pipes` tests fail if a new std words it differently.
const FAILED_PRINTING: &str = "failed printing to ";

/// `EPIPE`'s text as `io::Error` displays it.
const BROKEN_PIPE: &str = "(os error 32)";

/// Install the hook (see the module documentation).
pub fn install() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| match failed_output(info) {
        Some(failure) => exit_for(&failure),
        None => previous(info),
    }));
}

/// A failed write to stdout or stderr, from a panic's message.
#[derive(Debug, PartialEq, Eq)]
struct OutputFailure {
    /// `stdout` or `stderr`.
    stream: String,
    /// The I/O error, as displayed.
    error: String,
}

fn failed_output(info: &PanicHookInfo<'_>) -> Option<OutputFailure> {
    let payload = info.payload();
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())?;
    parse(text)
}

/// `failed printing to stdout: Broken pipe (os error 32)` → its parts.
fn parse(text: &str) -> Option<OutputFailure> {
    let rest = text.strip_prefix(FAILED_PRINTING)?;
    let (stream, error) = rest.split_once(": ")?;
    matches!(stream, "stdout" | "stderr").then(|| OutputFailure {
        stream: stream.to_owned(),
        error: error.to_owned(),
    })
}

fn exit_for(failure: &OutputFailure) -> ! {
    if failure.error.ends_with(BROKEN_PIPE) {
        std::process::exit(i32::from(OUTPUT_CLOSED));
    }
    let name = if failure.stream == "stdout" {
        "the standard output"
    } else {
        "the standard error"
    };
    // Best effort: stderr may be the stream that failed.
    let _ = writeln!(std::io::stderr(), "error: cannot write to {name}: {}", failure.error);
    std::process::exit(i32::from(OUTPUT_FAILED));
}

/// End the command as a closed output does: quietly, [`OUTPUT_CLOSED`].
pub fn exit_closed() -> ! {
    std::process::exit(i32::from(OUTPUT_CLOSED))
}

/// Resolves when the standard output is a pipe whose reader has gone (the
/// pipe reports an error to `epoll`); never when stdout is a file, a
/// terminal or anything else `epoll` cannot watch. Needs a tokio runtime
/// with I/O enabled.
pub async fn stdout_reader_gone() {
    match std::io::stdout().as_fd().try_clone_to_owned() {
        Ok(fd) => reader_gone(fd).await,
        Err(_) => std::future::pending().await,
    }
}

/// [`stdout_reader_gone`] for the write end `fd`. It is only watched,
/// never written through, so its blocking mode is left alone (a non-blocking
/// stdout would make `println!` fail with `EAGAIN`).
async fn reader_gone(fd: OwnedFd) {
    let file = std::fs::File::from(fd);
    let is_pipe = file.metadata().is_ok_and(|m| m.file_type().is_fifo());
    let watched = match is_pipe.then(|| pipe::Sender::from_file_unchecked(file)) {
        Some(Ok(sender)) => sender,
        _ => return std::future::pending().await,
    };
    loop {
        match watched.ready(Interest::ERROR).await {
            Ok(ready) if ready.is_error() => return,
            Ok(_) => tokio::task::yield_now().await,
            Err(_) => return std::future::pending().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_print_failures_are_recognised() {
        assert_eq!(
            parse("failed printing to stdout: Broken pipe (os error 32)"),
            Some(OutputFailure {
                stream: "stdout".into(),
                error: "Broken pipe (os error 32)".into()
            })
        );
        let full = parse("failed printing to stderr: No space left on device (os error 28)").unwrap();
        assert_eq!(full.stream, "stderr");
        assert!(!full.error.ends_with(BROKEN_PIPE));
        assert_eq!(parse("failed printing to a file: x"), None);
        assert_eq!(parse("index out of bounds"), None);
    }

    #[test]
    fn a_pipe_whose_reader_leaves_is_seen_at_once_a_file_never() {
        let dir = std::env::temp_dir().join(format!("vigil-output-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("out");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        // Opening read-write never blocks: it is the reader.
        let reader = std::fs::OpenOptions::new().read(true).write(true).open(&fifo).unwrap();
        let writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
        let file = std::fs::File::create(dir.join("file")).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let gone = reader_gone(OwnedFd::from(writer));
            tokio::pin!(gone);
            let wait = std::time::Duration::from_millis(100);
            assert!(
                tokio::time::timeout(wait, &mut gone).await.is_err(),
                "a reader is still there"
            );
            drop(reader);
            let safety = std::time::Duration::from_secs(10);
            assert!(tokio::time::timeout(safety, &mut gone).await.is_ok(), "the reader left");
            assert!(
                tokio::time::timeout(wait, reader_gone(OwnedFd::from(file)))
                    .await
                    .is_err(),
                "a regular file has no reader to lose"
            );
        });
        let _ = std::fs::remove_dir_all(&dir);
    }
}

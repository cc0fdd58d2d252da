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

use std::io::Write;
use std::panic::PanicHookInfo;

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
}

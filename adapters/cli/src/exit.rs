//! The exit codes of the `vigil` command (docs/ADAPTER.md lists them for
//! users, and `vigil --help` prints them).
//!
//! 0 ok; 1 a check, an invariant or the tree failed (`vigil run`: the root
//! gave up or the tree could not start); 2 bad usage or bad input; and:

/// The trace (`--trace FILE`) or the standard output could not be written,
/// for example on a full disk; the error was reported when it happened.
/// 74 is `EX_IOERR` of sysexits.h. A failure of the tree itself (1, 130)
/// takes precedence: its code is the one returned.
pub const OUTPUT_FAILED: u8 = 74;

/// The reader of the standard output (or error) went away, as in
/// `vigil ctl subscribe | head -1`: the command ends quietly with 128 +
/// SIGPIPE, what a shell reports for `ls` or `cat` in the same pipe.
pub const OUTPUT_CLOSED: u8 = 141;

/// `vigil ctl` got no answer from the control server within `--timeout`
/// (a stopped or wedged vigil); the code `timeout(1)` uses. An operation
/// that changes the tree may still complete.
pub const NO_ANSWER: u8 = 124;

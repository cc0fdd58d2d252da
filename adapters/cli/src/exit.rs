//! The exit codes of the `vigil` command (docs/CLI.md lists them for users,
//! and `vigil --help` prints them).
//!
//! 0 ok; 1 a check, an invariant or the tree failed (`vigil run`: the root
//! gave up or the tree could not start); 2 bad usage or bad input; and:

/// `vigil sim`: a run exceeded its step budget (`--max-steps`) without
/// breaking an invariant, so it made no progress in virtual time; the report
/// says where and prints the replay command. A broken invariant (1) takes
/// precedence.
pub const STEP_BUDGET: u8 = 3;

/// `vigil merge`: some seeds of the range are in no file (a shard has not
/// finished, or its file was left out); the message names the missing
/// seeds and shards. Nothing is printed but the error.
pub const SHARDS_MISSING: u8 = 4;

/// `vigil run`: the driver (vigil's own supervision loop) panicked, a bug in
/// vigil; every child was killed before exiting and the ERROR log line has
/// the panic's message. 70 is `EX_SOFTWARE` of sysexits.h.
pub const DRIVER_PANIC: u8 = 70;

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

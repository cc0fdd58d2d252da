//! Why a trace cannot be explained.

/// Why a trace cannot be explained; every variant names the line.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExplainError {
    /// A line that is not JSON (a truncated *last* line is skipped instead,
    /// and counted in [`Explanation::truncated_last_line`](crate::Explanation::truncated_last_line)).
    #[error("line {line}: not JSON: {message}")]
    NotJson {
        /// 1-based.
        line: usize,
        /// The parser's message.
        message: String,
    },
    /// JSON, but not a trace event.
    #[error("line {line}: not a trace event: {why}")]
    NotAnEvent {
        /// 1-based.
        line: usize,
        /// What is missing or wrong.
        why: String,
    },
    /// Time went backwards.
    #[error("line {line}: `t` goes back from {previous} ns to {t} ns (a trace's time never decreases)")]
    Backwards {
        /// 1-based.
        line: usize,
        /// The line's `t`.
        t: u64,
        /// The largest `t` before it.
        previous: u64,
    },
}

//! Why a replay could not be done, or how it differed.

/// Why a replay could not be done, or how it differed.
#[derive(Debug, PartialEq, Eq)]
pub enum ReplayError {
    /// The first line is not a vigil meta line.
    BadMeta(String),
    /// The replayed run wrote a different trace.
    Diverged {
        /// 1-based line number of the first difference.
        line: usize,
        /// The line in the file (`None`: the file ended first).
        recorded: Option<String>,
        /// The line of the replay (`None`: the replay ended first).
        replayed: Option<String>,
    },
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayError::BadMeta(m) => write!(f, "not a vigil trace: {m}"),
            ReplayError::Diverged {
                line,
                recorded,
                replayed,
            } => write!(
                f,
                "the replay differs at line {line}:\n  recorded: {}\n  replayed: {}",
                recorded.as_deref().unwrap_or("(end of trace)"),
                replayed.as_deref().unwrap_or("(end of replay)")
            ),
        }
    }
}

impl std::error::Error for ReplayError {}

//! Why a replay could not be done, or how it differed.

/// Why a replay could not be done, or how it differed.
#[derive(Debug, PartialEq, Eq)]
pub enum ReplayError {
    /// The first line is not a vigil meta line.
    BadMeta(String),
    /// The config's digest is not the one the trace was recorded with.
    DigestMismatch {
        /// The digest in the trace's meta line.
        recorded: String,
        /// The digest of the config given now.
        config: String,
    },
    /// The config's tree cannot be built into an engine.
    BadConfig(String),
    /// A line of a real run's trace cannot be read or fed to the engine.
    BadLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        error: String,
    },
    /// A line of a real run's trace that no input caused, at an instant
    /// when the engine had no deadline due: the engine would not write it.
    NoCause {
        /// 1-based line number.
        line: usize,
        /// The line.
        recorded: String,
    },
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

impl ReplayError {
    /// The line the error is about, for errors about one line.
    pub fn line(&self) -> Option<usize> {
        match self {
            ReplayError::BadLine { line, .. }
            | ReplayError::NoCause { line, .. }
            | ReplayError::Diverged { line, .. } => Some(*line),
            _ => None,
        }
    }
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayError::BadMeta(m) => write!(f, "not a vigil trace: {m}"),
            ReplayError::DigestMismatch { recorded, config } => write!(
                f,
                "the config is not the one the trace was recorded with (digest {config}, the trace's {recorded}); \
                 replay with the config as it was then, or pass --ignore-digest to try anyway"
            ),
            ReplayError::BadConfig(m) => write!(f, "the config cannot be replayed: {m}"),
            ReplayError::BadLine { line, error } => write!(f, "line {line} of the trace: {error}"),
            ReplayError::NoCause { line, recorded } => write!(
                f,
                "the replay differs at line {line}: no input caused it and no deadline of the engine was due by then\n  recorded: {recorded}\n  replayed: (nothing)"
            ),
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

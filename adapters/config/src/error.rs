//! Why a config file or a scenario script was rejected, and where.

use std::fmt;

use vigil_core::SpecError;

/// A rejected config file or scenario script: which file, where in it, which
/// key, and what is wrong.
///
/// It displays as `FILE:LINE:COLUMN: MESSAGE` (`FILE:MESSAGE` when the position
/// is unknown, for example when the file cannot be read):
///
/// ```
/// let err = vigil_config::parse_tree("[[child]]\nname = \"db\"\ncomand = [\"x\"]\n", "web.toml").unwrap_err();
/// assert_eq!((err.line, err.column, err.key.as_deref()), (Some(3), Some(1), Some("comand")));
/// assert!(err.to_string().starts_with("web.toml:3:1: unknown key `comand` in [[child]]"));
/// ```
#[derive(Debug)]
pub struct ConfigError {
    /// The file (or the `source` name given to a `parse_*` function).
    pub source: String,
    /// 1-based line of the problem, when known.
    pub line: Option<usize>,
    /// 1-based column (in characters) of the problem, when known.
    pub column: Option<usize>,
    /// The key the problem is about, when there is one.
    pub key: Option<String>,
    /// What is wrong (boxed to keep `Result<_, ConfigError>` small).
    pub kind: Box<ConfigErrorKind>,
}

impl ConfigError {
    /// An error at an unknown position.
    pub(crate) fn new(source: &str, kind: ConfigErrorKind) -> Self {
        ConfigError {
            source: source.to_owned(),
            line: None,
            column: None,
            key: None,
            kind: Box::new(kind),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.kind)
    }
}

/// The message already holds everything (also the I/O error and the spec
/// error), so there is no separate `source()`.
impl std::error::Error for ConfigError {}

/// What is wrong in a [`ConfigError`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The file could not be read (missing, unreadable, not UTF-8).
    #[error("cannot read the file: {0}")]
    Io(std::io::Error),
    /// Invalid TOML, or a value of the wrong type, as the TOML parser reports it.
    #[error("{0}")]
    Toml(String),
    /// A key that the table does not have (most often a typo).
    #[error("unknown key `{key}` in {table} ({})", expected_list(suggestion.as_deref(), expected))]
    UnknownKey {
        /// The key as written.
        key: String,
        /// The table it was found in: `[[child]]`, `[supervisor]`, `` `sim` ``...
        table: String,
        /// A known key close to it (a likely typo), if any.
        suggestion: Option<String>,
        /// The keys that table accepts.
        expected: Vec<String>,
    },
    /// A required key is absent.
    #[error("missing key `{key}` in {table}")]
    MissingKey {
        /// The key.
        key: String,
        /// The table that lacks it.
        table: String,
    },
    /// A value of the right type that does not mean anything valid: a duration
    /// without a unit, an unknown strategy, a probability above 1...
    #[error("bad value for `{key}`: {message}")]
    BadValue {
        /// The key.
        key: String,
        /// What is wrong with its value.
        message: String,
    },
    /// A table needs exactly one key out of a set (a child: `command` or
    /// `supervisor`; a script entry: `exit`, `fail_starts`, `hang_on_stop` or
    /// `request`) and has none or several.
    #[error("{what} needs exactly one of {}, {}", or_list(choices), found_list(found))]
    NotExactlyOne {
        /// The table, for example ``child `web` ``.
        what: String,
        /// The keys it may have one of.
        choices: Vec<String>,
        /// The ones it has (none, or more than one).
        found: Vec<String>,
    },
    /// A key that does not go with the rest of its table (`count` without
    /// `fail_starts`, `sim` on a supervisor child...).
    #[error("`{key}` {reason}")]
    Misplaced {
        /// The key.
        key: String,
        /// Why it does not belong there.
        reason: String,
    },
    /// The tree was rejected by [`vigil_core::SupervisorSpec::validate`] (the
    /// error's position is the offending child's, or its offending key's).
    #[error("{0}")]
    Spec(SpecError),
}

fn expected_list(suggestion: Option<&str>, expected: &[String]) -> String {
    let mut out = String::new();
    if let Some(s) = suggestion {
        out.push_str(&format!("did you mean `{s}`? "));
    }
    match expected {
        [] => out.push_str("this table takes no keys"),
        [one] => out.push_str(&format!("expected `{one}`")),
        many => {
            let keys: Vec<String> = many.iter().map(|k| format!("`{k}`")).collect();
            out.push_str(&format!("expected one of {}", keys.join(", ")));
        }
    }
    out
}

fn or_list(choices: &[String]) -> String {
    let quoted: Vec<String> = choices.iter().map(|k| format!("`{k}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

fn found_list(found: &[String]) -> String {
    let quoted: Vec<String> = found.iter().map(|k| format!("`{k}`")).collect();
    match quoted.split_last() {
        None => "found none".to_owned(),
        Some((last, [])) => format!("found only {last}"),
        Some((last, rest)) => format!("found {} and {last}", rest.join(", ")),
    }
}

/// A text value that does not parse: a duration, a byte size, a lifetime, a
/// keyword. Returned by [`parse_duration`](crate::parse_duration) and friends;
/// inside a file it becomes a [`ConfigErrorKind::BadValue`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValueError {
    message: String,
}

impl ValueError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ValueError {
            message: message.into(),
        }
    }

    /// What is wrong, as one sentence without the key.
    pub fn message(&self) -> &str {
        &self.message
    }
}

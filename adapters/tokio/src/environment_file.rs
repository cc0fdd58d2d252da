//! `environment_file`: the subset of systemd's `EnvironmentFile=` syntax
//! vigil reads (docs/CONFIG.md, "identity, limits and environment").
//!
//! One `KEY=VALUE` per line; blank lines and lines starting with `#` or `;`
//! are skipped; spaces around the key and before the value are trimmed.
//! A value in double quotes may hold `\"`, `\\`, `\n` and `\t` escapes; a
//! value in single quotes is taken as is; an unquoted value loses its
//! trailing spaces and is otherwise taken as is (a `#` inside it is part of
//! it). Continuation lines (a trailing `\`) are not supported: a value is
//! one line.

/// A line of an environment file that is not `KEY=VALUE`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct EnvironmentFileError {
    /// The 1-based line.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

/// The variables of an environment file's text, in file order (a later
/// line overrides an earlier one where they are applied).
///
/// ```
/// use vigil_tokio::identity::parse_environment_file;
///
/// let vars = parse_environment_file("# db\nPGHOST=db.local\nGREETING=\"hello\\tworld\"\n\nA='$B'\n")?;
/// assert_eq!(vars, [
///     ("PGHOST".to_owned(), "db.local".to_owned()),
///     ("GREETING".to_owned(), "hello\tworld".to_owned()),
///     ("A".to_owned(), "$B".to_owned()),
/// ]);
/// let err = parse_environment_file("OK=1\nnot a variable\n").unwrap_err();
/// assert_eq!(err.to_string(), "line 2: expected KEY=VALUE");
/// # Ok::<(), vigil_tokio::identity::EnvironmentFileError>(())
/// ```
pub fn parse_environment_file(text: &str) -> Result<Vec<(String, String)>, EnvironmentFileError> {
    let mut vars = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let error = |message: String| EnvironmentFileError { line, message };
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        let Some((key, value)) = trimmed.split_once('=') else {
            return Err(error("expected KEY=VALUE".to_owned()));
        };
        let key = key.trim_end();
        if !is_name(key) {
            return Err(error(format!(
                "`{key}` is not a variable name (letters, digits and `_`, not starting with a digit)"
            )));
        }
        if value.contains('\0') {
            return Err(error(format!("the value of `{key}` contains a NUL character")));
        }
        vars.push((key.to_owned(), unquote(value.trim_start()).map_err(error)?));
    }
    Ok(vars)
}

fn is_name(key: &str) -> bool {
    let mut chars = key.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// A value without its quotes, escapes applied in double quotes.
fn unquote(value: &str) -> Result<String, String> {
    let quote = match value.chars().next() {
        Some(q @ ('"' | '\'')) => q,
        _ => return Ok(value.trim_end().to_owned()),
    };
    let body = &value[1..];
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c == quote => {
                let rest = chars.as_str().trim();
                if !rest.is_empty() {
                    return Err(format!("text after the closing quote: `{rest}`"));
                }
                return Ok(out);
            }
            '\\' if quote == '"' => match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(c @ ('"' | '\\' | '$' | '`')) => out.push(c),
                Some(c) => {
                    out.push('\\');
                    out.push(c);
                }
                None => return Err("the value ends with `\\` inside quotes".to_owned()),
            },
            c => out.push(c),
        }
    }
    Err(format!("missing the closing {quote}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_subset() {
        let vars = parse_environment_file("  K = v w  \n;c\nE=\nQ=\"a\\\"b\\\\c\"\nS='x\\n'\n").unwrap();
        assert_eq!(
            vars,
            [
                ("K".to_owned(), "v w".to_owned()),
                ("E".to_owned(), String::new()),
                ("Q".to_owned(), "a\"b\\c".to_owned()),
                ("S".to_owned(), "x\\n".to_owned()),
            ]
        );
    }

    #[test]
    fn errors_name_their_line() {
        for (text, line, part) in [
            ("A=1\n1A=2\n", 2, "not a variable name"),
            ("A=\"open\n", 1, "missing the closing \""),
            ("\n\nA='x' y\n", 3, "text after the closing quote"),
            ("=x\n", 1, "not a variable name"),
            ("A=\"x\\", 1, "ends with `\\`"),
        ] {
            let err = parse_environment_file(text).unwrap_err();
            assert_eq!(err.line, line, "{text:?}");
            assert!(err.message.contains(part), "{text:?}: {err}");
        }
    }
}

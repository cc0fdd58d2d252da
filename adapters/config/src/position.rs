//! Positions in the text: byte offsets to lines and columns, and the small
//! amount of text inspection that makes TOML parser errors precise.

use std::ops::Range;

use crate::error::{ConfigError, ConfigErrorKind};

/// The text being parsed and its name, to turn byte spans into positioned errors.
#[derive(Clone, Copy)]
pub(crate) struct Doc<'a> {
    pub text: &'a str,
    pub source: &'a str,
}

impl<'a> Doc<'a> {
    pub fn new(text: &'a str, source: &'a str) -> Self {
        Doc { text, source }
    }

    /// An error at the start of `span`, about `key`.
    pub fn error(&self, span: &Range<usize>, key: Option<&str>, kind: ConfigErrorKind) -> ConfigError {
        let (line, column) = line_col(self.text, span.start);
        ConfigError {
            source: self.source.to_owned(),
            line: Some(line),
            column: Some(column),
            key: key.map(str::to_owned),
            kind: Box::new(kind),
        }
    }

    /// A [`ConfigErrorKind::BadValue`] for `key`, whose value is at `span`.
    pub fn bad_value(&self, span: &Range<usize>, key: &str, message: impl Into<String>) -> ConfigError {
        self.error(
            span,
            Some(key),
            ConfigErrorKind::BadValue {
                key: key.to_owned(),
                message: message.into(),
            },
        )
    }

    /// The 1-based line of a byte offset.
    pub fn line(&self, offset: usize) -> usize {
        line_col(self.text, offset).0
    }
}

/// 1-based line and column (in characters) of a byte offset; offsets past the
/// end or inside a character are clamped.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// The text of the line holding `offset`, up to `offset`.
fn line_before(text: &str, offset: usize) -> &str {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    &before[line_start..]
}

/// The last table header (`[supervisor]`, `[[child.child]]`) on a line before
/// the one holding `offset`, trimmed and without a trailing comment. Best
/// effort (used only to word messages): headers with quoted keys are not seen.
pub(crate) fn enclosing_header(text: &str, offset: usize) -> Option<&str> {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    text[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| is_header(line))
        .map(|line| {
            let end = line.rfind(']').map_or(line.len(), |i| i + 1);
            &line[..end]
        })
}

fn is_header(line: &str) -> bool {
    let line = line.split('#').next().unwrap_or("").trim_end();
    let inner = if let Some(rest) = line.strip_prefix("[[") {
        rest.strip_suffix("]]")
    } else if let Some(rest) = line.strip_prefix('[') {
        rest.strip_suffix(']')
    } else {
        None
    };
    inner.is_some_and(|inner| {
        !inner.trim().is_empty()
            && inner
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ' ' | '\t'))
    })
}

/// The key whose value starts at `offset`, read back from `KEY = ` on the same
/// line (strings skipped); `None` when the value is not on its key's line.
pub(crate) fn key_before(text: &str, offset: usize) -> Option<String> {
    let line = line_before(text, offset);
    // The last `=` outside strings.
    let mut eq = None;
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some('"') if escaped => escaped = false,
            Some('"') if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' => break,
            None if c == '=' => eq = Some(i),
            None => {}
        }
    }
    let key_text = line[..eq?].trim_end();
    if let Some(q) = key_text.chars().last().filter(|&c| c == '"' || c == '\'') {
        let inner = &key_text[..key_text.len() - 1];
        let open = inner.rfind(q)?;
        return Some(inner[open + 1..].to_owned());
    }
    let start = key_text
        .char_indices()
        .rev()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let key = &key_text[start..];
    (!key.is_empty()).then(|| key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_are_one_based_and_count_characters() {
        let text = "ab\nçd = 1\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, 5), (2, 2)); // after the two-byte `ç`
        assert_eq!(line_col(text, 4), (2, 1)); // inside `ç`: clamped back
        assert_eq!(line_col(text, 999), (3, 1));
    }

    #[test]
    fn headers_are_found_above_the_offset() {
        let text = "[supervisor]\na = 1\n[[child]]\nname = \"x\"\n  [[child.child]] # nested\n  b = 2\n";
        assert_eq!(
            enclosing_header(text, text.find("a = 1").unwrap()),
            Some("[supervisor]")
        );
        assert_eq!(enclosing_header(text, text.find("name").unwrap()), Some("[[child]]"));
        assert_eq!(
            enclosing_header(text, text.find("b = 2").unwrap()),
            Some("[[child.child]]")
        );
        assert_eq!(enclosing_header(text, 0), None);
        assert_eq!(enclosing_header("command = [\n  [\"a\"],\n  x", 20), None);
    }

    #[test]
    fn keys_are_read_back_from_their_line() {
        let at = |text: &str, needle: &str| key_before(text, text.find(needle).unwrap());
        assert_eq!(at("period = 5", "5").as_deref(), Some("period"));
        assert_eq!(
            at("sim = { a = \"x=y\", lifetime = 5 }", "5").as_deref(),
            Some("lifetime")
        );
        assert_eq!(at("command = [\"a=b\", 5]", "5").as_deref(), Some("command"));
        assert_eq!(at("sim.exit-reason = 5", "5").as_deref(), Some("exit-reason"));
        assert_eq!(at("\"odd key\" = 5", "5").as_deref(), Some("odd key"));
        assert_eq!(at("  5,", "5"), None);
    }
}

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
}

/// 1-based line numbers of increasing byte offsets, in one pass over the
/// text: asking for n offsets in order costs O(text + n), where asking
/// [`line_col`] for each would cost O(text × n) (a 40,000-entry script took
/// 10 s to check).
pub(crate) struct LineCounter<'a> {
    text: &'a str,
    /// Where counting stopped, and the line there.
    offset: usize,
    line: usize,
}

impl<'a> LineCounter<'a> {
    pub fn new(text: &'a str) -> Self {
        LineCounter {
            text,
            offset: 0,
            line: 1,
        }
    }

    /// The 1-based line of `offset` (clamped to the text). Offsets should come
    /// in increasing order; an earlier one starts the count again.
    pub fn line(&mut self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        if offset < self.offset {
            self.offset = 0;
            self.line = 1;
        }
        let newlines = self.text.as_bytes()[self.offset..offset]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        self.line += newlines;
        self.offset = offset;
        self.line
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

/// How deeply children are nested at `offset`, best effort: the `child`
/// parts of the table header above it (`[[child.child]]` is 2) plus the
/// inline `child = [` lists opened after that header and before `offset`
/// (strings and comments are not told apart: used only to word a message).
pub(crate) fn child_nesting_before(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let (from, header_depth) = match enclosing_header(text, offset) {
        Some(h) => {
            let depth = h
                .trim_matches(|c| c == '[' || c == ']')
                .split('.')
                .filter(|part| part.trim() == "child")
                .count();
            let at = text[..offset].rfind(h).unwrap_or(0);
            (at + h.len(), depth)
        }
        None => (0, 0),
    };
    let inline = text[from..offset]
        .match_indices("child")
        .filter(|&(i, _)| {
            let rest = text[from + i + "child".len()..offset].trim_start();
            rest.strip_prefix('=').is_some_and(|r| r.trim_start().starts_with('['))
        })
        .count();
    header_depth + inline
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
    fn the_line_counter_agrees_with_line_col_in_any_order() {
        let text = "a\n\nbç\nc = 1\n\n";
        let mut counter = LineCounter::new(text);
        let offsets = [0, 1, 2, 3, 5, 6, 9, 12, 99, 4, 0, 7];
        for offset in offsets {
            assert_eq!(counter.line(offset), line_col(text, offset).0, "offset {offset}");
        }
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
    fn child_nesting_counts_header_parts_and_inline_lists() {
        let text = "[[child.child]]\nname = \"a\"\nchild = [ { name = \"b\", child = [ { x = 1 } ] } ]";
        assert_eq!(child_nesting_before(text, text.find("x = 1").unwrap()), 4);
        assert_eq!(child_nesting_before(text, text.find("name").unwrap()), 2);
        assert_eq!(child_nesting_before("a = [[[1]]]", 8), 0);
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

//! Turning the TOML parser's errors into positioned [`ConfigError`]s.

use vigil_core::MAX_DEPTH;

use crate::error::{ConfigError, ConfigErrorKind};
use crate::position::{child_nesting_before, enclosing_header, key_before, line_col, Doc};
use crate::raw::too_deep_message;

/// One kind of table the files have, with the keys it accepts (kept equal to
/// the fields of its serde struct; a unit test checks this).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    TreeTop,
    Supervisor,
    Control,
    Monitor,
    Http,
    Run,
    Child,
    Backoff,
    Sim,
    ScriptTop,
    At,
    /// A worker's `health = { .. }` (src/health_probe.rs).
    Health,
    Log,
}

impl Table {
    pub const ALL: [Table; 13] = [
        Table::TreeTop,
        Table::Supervisor,
        Table::Control,
        Table::Monitor,
        Table::Http,
        Table::Run,
        Table::Child,
        Table::Backoff,
        Table::Sim,
        Table::ScriptTop,
        Table::At,
        Table::Health,
        Table::Log,
    ];

    /// The keys it accepts, in the order of its serde struct.
    pub fn keys(self) -> &'static [&'static str] {
        match self {
            Table::TreeTop => &["supervisor", "control", "monitor", "child", "http", "run", "log"],
            Table::Supervisor => &[
                "strategy",
                "intensity",
                "period",
                "auto_shutdown",
                "lifespan",
                "shutdown_order",
            ],
            Table::Control => &["socket", "logs_lines", "logs_bytes", "group"],
            Table::Http => &["listen"],
            Table::Run => &["keep_running"],
            Table::Monitor => &["interval", "memory_limit", "leak_growth", "leak_count"],
            Table::Child => &[
                "name",
                "command",
                "supervisor",
                "child",
                "env",
                "cwd",
                "restart",
                "shutdown",
                "significant",
                "readiness",
                "startup_timeout",
                "health_timeout",
                "backoff",
                "memory_limit",
                "sim",
                // PROBES
                "health",
                "count",
                // IDENTITY
                "user",
                "group",
                "umask",
                "limits",
                "cgroup",
                "environment_file",
                "clear_env",
                "log",
                // LIFECYCLE:
                "stop_signal",
                "reload_signal",
                "success_exit_codes",
                "restart_prevent_exit_codes",
                "autostart",
                "start_delay",
            ],
            Table::Backoff => &["initial", "max", "multiplier", "jitter", "reset_after"],
            Table::Sim => &[
                "lifetime",
                "exit",
                "start_fail",
                "start_latency",
                "ready_latency",
                "stop_latency",
                "ignore_stop",
            ],
            Table::Health => crate::health_probe::HEALTH_KEYS,
            Table::ScriptTop => &["at"],
            Table::Log => &crate::log::LOG_KEYS,
            Table::At => &[
                "time",
                "exit",
                "reason",
                "fail_starts",
                "count",
                "hang_on_stop",
                "request",
                "path",
                "name",
                "rolling",
            ],
        }
    }

    /// How messages name it; `header` is the table header above the error.
    fn describe(self, header: Option<&str>) -> String {
        match self {
            Table::TreeTop | Table::ScriptTop => "the top-level table".to_owned(),
            Table::Supervisor if header == Some("[supervisor]") => "[supervisor]".to_owned(),
            Table::Supervisor => "`supervisor`".to_owned(),
            Table::Control => "[control]".to_owned(),
            Table::Monitor => "[monitor]".to_owned(),
            Table::Http => "[http]".to_owned(),
            Table::Run => "[run]".to_owned(),
            Table::Child => match header {
                Some(h) if h.starts_with("[[child") => h.to_owned(),
                _ => "[[child]]".to_owned(),
            },
            Table::Backoff => "`backoff`".to_owned(),
            Table::Sim => "`sim`".to_owned(),
            Table::At => "[[at]]".to_owned(),
            Table::Health => "`health`".to_owned(),
            Table::Log if header == Some("[log]") => "[log]".to_owned(),
            Table::Log => "`log`".to_owned(),
        }
    }

    fn from_keys(keys: &[String]) -> Option<Table> {
        let mut mine: Vec<&str> = keys.iter().map(String::as_str).collect();
        mine.sort_unstable();
        Table::ALL.into_iter().find(|t| {
            let mut theirs = t.keys().to_vec();
            theirs.sort_unstable();
            theirs == mine
        })
    }
}

/// A TOML parser error (syntax, wrong type, unknown key) as a [`ConfigError`].
pub(crate) fn from_toml(doc: Doc<'_>, err: &toml::de::Error) -> ConfigError {
    let mut message = in_config_terms(&err.message().trim().replace('\n', ": "));
    if message.is_empty() {
        // The TOML parser gives no message for some characters it rejects
        // (a control character in a comment): name the character instead.
        let at = err.span().map_or(doc.text.len(), |s| s.start.min(doc.text.len()));
        message = match doc.text.get(at..).and_then(|rest| rest.chars().next()) {
            Some(c) => format!("invalid character {:?} (U+{:04X})", c, u32::from(c)),
            None => "invalid TOML".to_owned(),
        };
    }
    let Some(span) = err.span() else {
        return ConfigError::new(doc.source, ConfigErrorKind::Toml(message));
    };
    if message.contains("recursion limit exceeded") {
        // The TOML reader's own nesting limit is above MAX_DEPTH; reached by a
        // tree of children, it is the tree's depth limit that was exceeded.
        message = if child_nesting_before(doc.text, span.start) > MAX_DEPTH {
            too_deep_message()
        } else {
            "tables and lists are nested too deeply to be read".to_owned()
        };
    }
    if let Some((key, expected)) = parse_unknown_field(&message) {
        let table = Table::from_keys(&expected)
            .map(|t| t.describe(enclosing_header(doc.text, span.start)))
            .unwrap_or_else(|| "this table".to_owned());
        let suggestion = closest(&key, &expected);
        return doc.error(
            &span,
            Some(&key),
            ConfigErrorKind::UnknownKey {
                key: key.clone(),
                table,
                suggestion,
                expected,
            },
        );
    }
    let key = key_before(doc.text, span.start);
    let (line, column) = line_col(doc.text, span.start);
    ConfigError {
        source: doc.source.to_owned(),
        line: Some(line),
        column: Some(column),
        key,
        kind: Box::new(ConfigErrorKind::Toml(message)),
    }
}

/// The TOML parser's and serde's generic words for what was expected, in the
/// config's own terms (the values with types of their own say it themselves).
fn in_config_terms(message: &str) -> String {
    const WORDS: [(&str, &str); 8] = [
        ("invalid type: sequence", "invalid type: list"),
        ("invalid type: map", "invalid type: table"),
        ("expected a sequence", "expected a list, like [\"a\", \"b\"]"),
        ("expected a map", "expected a table, like { key = \"value\" }"),
        ("expected a boolean", "expected true or false"),
        ("expected u32", "expected a whole number from 0 to 4294967295"),
        ("expected f64", "expected a number"),
        ("floating point `", "number `"),
    ];
    let mut out = message.to_owned();
    for (from, to) in WORDS {
        if out.contains(from) {
            out = out.replace(from, to);
        }
    }
    out
}

/// serde's ``unknown field `KEY`, expected one of `A`, `B` `` (or ``expected
/// `A` ``, or `there are no fields`): the key and the expected keys.
fn parse_unknown_field(message: &str) -> Option<(String, Vec<String>)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (key, tail) = [rest.find("`, expected"), rest.find("`, there are no fields")]
        .into_iter()
        .flatten()
        .min()
        .map(|end| (&rest[..end], &rest[end + 1..]))?;
    let expected = tail.split('`').skip(1).step_by(2).map(str::to_owned).collect();
    Some((key.to_owned(), expected))
}

/// The expected key nearest to `key` if it is a plausible typo of it.
fn closest(key: &str, expected: &[String]) -> Option<String> {
    let max = match key.chars().count() {
        0..=2 => 0,
        3..=5 => 1,
        _ => 2,
    };
    expected
        .iter()
        .map(|e| (edit_distance(key, e), e))
        .filter(|&(d, _)| d > 0 && d <= max)
        .min_by_key(|&(d, _)| d)
        .map(|(_, e)| e.clone())
}

/// Levenshtein distance, in characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == cb { prev } else { 1 + prev.min(cur).min(row[j]) };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_field_messages_are_taken_apart() {
        let (key, expected) = parse_unknown_field("unknown field `comand`, expected one of `name`, `command`").unwrap();
        assert_eq!(key, "comand");
        assert_eq!(expected, ["name", "command"]);
        let (key, expected) = parse_unknown_field("unknown field `b`, expected `a`").unwrap();
        assert_eq!((key.as_str(), expected), ("b", vec!["a".to_owned()]));
        let (key, expected) = parse_unknown_field("unknown field `x`, there are no fields").unwrap();
        assert_eq!((key.as_str(), expected.len()), ("x", 0));
        assert_eq!(parse_unknown_field("invalid type: integer `5`"), None);
    }

    #[test]
    fn typos_get_a_suggestion() {
        let keys: Vec<String> = Table::Child.keys().iter().map(|k| (*k).to_owned()).collect();
        assert_eq!(closest("comand", &keys).as_deref(), Some("command"));
        assert_eq!(closest("restrat", &keys).as_deref(), Some("restart"));
        assert_eq!(closest("zzzzzz", &keys), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}

#[cfg(test)]
mod table_keys {
    use super::*;
    use crate::raw::{RawScript, RawTree};

    /// `Table::keys` must list exactly the fields of each serde struct, in order.
    #[test]
    fn table_keys_match_the_serde_structs() {
        let tree = |text: &str| toml::from_str::<RawTree>(text).err();
        let script = |text: &str| toml::from_str::<RawScript>(text).err();
        let cases = [
            (Table::TreeTop, tree("zzz = 1")),
            (Table::Supervisor, tree("[supervisor]\nzzz = 1")),
            (Table::Control, tree("[control]\nzzz = 1")),
            (Table::Monitor, tree("[monitor]\nzzz = 1")),
            (Table::Child, tree("[[child]]\nzzz = 1")),
            (Table::Backoff, tree("[[child]]\nbackoff = { zzz = 1 }")),
            (Table::Health, tree("[[child]]\nhealth = { zzz = 1 }")),
            (Table::Sim, tree("[[child]]\nsim = { zzz = 1 }")),
            (Table::Log, tree("[log]\nzzz = 1")),
            (Table::ScriptTop, script("zzz = 1")),
            (Table::At, script("[[at]]\nzzz = 1")),
        ];
        for (table, err) in cases {
            let err = err.unwrap_or_else(|| panic!("{table:?}: no error"));
            let (key, expected) = parse_unknown_field(err.message()).unwrap_or_else(|| panic!("{err}"));
            assert_eq!(key, "zzz");
            assert_eq!(expected, table.keys(), "{table:?}");
            assert_eq!(Table::from_keys(&expected), Some(table));
        }
    }
}

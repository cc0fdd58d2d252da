//! The `log` settings of workers: the top-level `[log]` table, which every
//! worker inherits, and a `[[child]]`'s `log = { .. }` table, whose keys
//! override the inherited ones one by one (docs/CONFIG.md, "logs").

use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use crate::byte_size::parse_byte_size;
use crate::error::{ConfigError, ConfigErrorKind};
use crate::position::Doc;
use crate::raw::{Count, SizeValue};

/// The log files `vigil run` writes for one worker (its `log` table over
/// the tree's `[log]`): `<dir>/<path>.out.log` and `<dir>/<path>.err.log`,
/// rotated by size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// The directory (relative: to vigil's working directory, like `cwd`).
    pub dir: PathBuf,
    /// The size a file may reach before it is rotated, in bytes (at least
    /// [`LogConfig::MIN_MAX_SIZE`]; default [`LogConfig::DEFAULT_MAX_SIZE`]).
    pub max_size: u64,
    /// Rotated files kept (default [`LogConfig::DEFAULT_KEEP`]; at most
    /// [`LogConfig::MAX_KEEP`]; 0: a full file is deleted).
    pub keep: u32,
    /// Prefix each line with an RFC 3339 UTC timestamp (default: no).
    pub timestamps: bool,
}

impl LogConfig {
    /// The default `max_size`: 10 MiB.
    pub const DEFAULT_MAX_SIZE: u64 = 10 << 20;
    /// The default `keep`.
    pub const DEFAULT_KEEP: u32 = 5;
    /// The smallest `max_size`: 4 KiB (a timestamped line must fit).
    pub const MIN_MAX_SIZE: u64 = 4 << 10;
    /// The largest `keep`.
    pub const MAX_KEEP: u32 = 1000;
}

/// `[log]`, or a child's `log = { .. }`.
#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table like { dir = \"logs\", max_size = \"10MiB\", keep = 5, timestamps = true }"
)]
pub(crate) struct RawLog {
    pub dir: Option<Spanned<PathBuf>>,
    pub max_size: Option<Spanned<SizeValue>>,
    pub keep: Option<Spanned<Count>>,
    pub timestamps: Option<Spanned<bool>>,
}

/// The keys of [`RawLog`], in order (toml_error.rs's `Table::Log`).
pub(crate) const LOG_KEYS: [&str; 4] = ["dir", "max_size", "keep", "timestamps"];

/// Settings being merged: the tree's, then a child's over them.
#[derive(Clone, Debug, Default)]
pub(crate) struct LogDefaults {
    dir: Option<PathBuf>,
    max_size: Option<u64>,
    keep: Option<u32>,
    timestamps: Option<bool>,
}

/// The top-level `[log]` table, checked: the defaults of every worker. It
/// needs `dir` (every worker gets log files from it).
pub(crate) fn tree_log(doc: Doc<'_>, raw: Option<&Spanned<RawLog>>) -> Result<Option<LogDefaults>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let defaults = merge(doc, LogDefaults::default(), raw.get_ref())?;
    if defaults.dir.is_none() {
        return Err(missing_dir(doc, &raw.span(), "[log]"));
    }
    Ok(Some(defaults))
}

/// The log of one worker: its own `log` table over the tree's `[log]`;
/// `None` when it has neither. A worker's table without `dir` needs `[log]`
/// to give one.
pub(crate) fn worker_log(
    doc: Doc<'_>,
    tree: Option<&LogDefaults>,
    raw: Option<&Spanned<RawLog>>,
) -> Result<Option<LogConfig>, ConfigError> {
    let merged = match (tree, raw) {
        (None, None) => return Ok(None),
        (Some(tree), None) => tree.clone(),
        (tree, Some(raw)) => {
            let merged = merge(doc, tree.cloned().unwrap_or_default(), raw.get_ref())?;
            if merged.dir.is_none() {
                return Err(missing_dir(
                    doc,
                    &raw.span(),
                    "`log` (and there is no [log] table to inherit it from)",
                ));
            }
            merged
        }
    };
    Ok(merged.dir.map(|dir| LogConfig {
        dir,
        max_size: merged.max_size.unwrap_or(LogConfig::DEFAULT_MAX_SIZE),
        keep: merged.keep.unwrap_or(LogConfig::DEFAULT_KEEP),
        timestamps: merged.timestamps.unwrap_or(false),
    }))
}

fn missing_dir(doc: Doc<'_>, span: &Range<usize>, table: &str) -> ConfigError {
    doc.error(
        span,
        Some("dir"),
        ConfigErrorKind::MissingKey {
            key: "dir".to_owned(),
            table: table.to_owned(),
        },
    )
}

/// `raw`'s keys, checked, over `base`.
fn merge(doc: Doc<'_>, mut base: LogDefaults, raw: &RawLog) -> Result<LogDefaults, ConfigError> {
    if let Some(v) = &raw.dir {
        if v.get_ref().as_os_str().is_empty() {
            return Err(doc.bad_value(&v.span(), "dir", "the path is empty"));
        }
        base.dir = Some(v.get_ref().clone());
    }
    if let Some(v) = &raw.max_size {
        let bytes = match v.get_ref() {
            SizeValue::Text(text) => {
                parse_byte_size(text).map_err(|e| doc.bad_value(&v.span(), "max_size", e.message()))?
            }
            SizeValue::Bytes(n) => u64::try_from(*n).unwrap_or(0),
        };
        if bytes < LogConfig::MIN_MAX_SIZE {
            return Err(doc.bad_value(
                &v.span(),
                "max_size",
                format!(
                    "a log file must be allowed at least 4KiB ({} bytes), got {bytes}",
                    LogConfig::MIN_MAX_SIZE
                ),
            ));
        }
        base.max_size = Some(bytes);
    }
    if let Some(v) = &raw.keep {
        let keep = v.get_ref().0;
        if keep > LogConfig::MAX_KEEP {
            return Err(doc.bad_value(
                &v.span(),
                "keep",
                format!("at most {} rotated files are kept, got {keep}", LogConfig::MAX_KEEP),
            ));
        }
        base.keep = Some(keep);
    }
    if let Some(v) = &raw.timestamps {
        base.timestamps = Some(*v.get_ref());
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use crate::parse_tree;

    use super::LogConfig;

    #[test]
    fn children_inherit_the_tree_log_and_override_it_key_by_key() {
        let cfg = parse_tree(
            r#"
[log]
dir = "logs"
keep = 2

[[child]]
name = "a"
command = ["true"]

[[child]]
name = "b"
command = ["true"]
log = { max_size = "1MiB", timestamps = true }

[[child]]
name = "c"
command = ["true"]
log = { dir = "other" }
"#,
            "t.toml",
        )
        .unwrap();
        let log = |i: usize| cfg.workers[i].log.clone().unwrap();
        assert_eq!(
            log(0),
            LogConfig {
                dir: "logs".into(),
                max_size: LogConfig::DEFAULT_MAX_SIZE,
                keep: 2,
                timestamps: false
            }
        );
        assert_eq!((log(1).max_size, log(1).keep, log(1).timestamps), (1 << 20, 2, true));
        assert_eq!((log(2).dir, log(2).keep), ("other".into(), 2));
    }

    #[test]
    fn vigil_check_shows_each_workers_merged_log() {
        let cfg = parse_tree(
            "[log]\ndir = \"logs\"\n[[child]]\nname = \"a\"\ncommand = [\"true\"]\nlog = { timestamps = true }\n",
            "t.toml",
        )
        .unwrap();
        let text = cfg.render();
        assert!(text.contains(" log=logs(max_size=10MiB,keep=5,timestamps)"), "{text}");
    }

    #[test]
    fn a_worker_without_log_has_none() {
        let cfg = parse_tree("[[child]]\nname = \"a\"\ncommand = [\"true\"]\n", "t.toml").unwrap();
        assert_eq!(cfg.workers[0].log, None);
    }

    #[test]
    fn bad_log_settings_are_refused_at_their_key() {
        let err = |text: &str| parse_tree(text, "t.toml").unwrap_err().to_string();
        assert_eq!(
            err("[[child]]\nname = \"a\"\ncommand = [\"true\"]\nlog = { keep = 3 }\n"),
            "t.toml:4:7: missing key `dir` in `log` (and there is no [log] table to inherit it from)"
        );
        assert_eq!(err("[log]\nkeep = 3\n"), "t.toml:1:1: missing key `dir` in [log]");
        assert_eq!(
            err("[log]\ndir = \"l\"\nmax_size = \"1KiB\"\n"),
            "t.toml:3:12: bad value for `max_size`: a log file must be allowed at least 4KiB (4096 bytes), got 1024"
        );
        assert_eq!(
            err("[log]\ndir = \"l\"\nkeep = 1001\n"),
            "t.toml:3:8: bad value for `keep`: at most 1000 rotated files are kept, got 1001"
        );
        assert_eq!(
            err("[log]\ndir = \"\"\n"),
            "t.toml:2:7: bad value for `dir`: the path is empty"
        );
        assert!(err("[log]\ndir = \"l\"\nsize = 3\n").starts_with("t.toml:3:1: unknown key `size` in [log]"));
        assert!(err("[log]\ndir = \"l\"\nmax_size = \"10mb\"\n").contains("bad value for `max_size`"));
        let on_sup = err("[[child]]\nname = \"s\"\nsupervisor = {}\nlog = { dir = \"l\" }\n");
        assert!(
            on_sup.starts_with("t.toml:4:7: `log` applies to workers only"),
            "{on_sup}"
        );
    }
}

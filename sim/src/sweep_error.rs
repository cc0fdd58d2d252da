//! Why a sweep file cannot be read, or sweep files cannot be merged.

use std::ops::Range;

/// Why a sweep file (`vigil sim --json`) cannot be read, or several cannot
/// be merged (`vigil merge`). Files are named by their position in the list
/// given to [`merge_sweeps`](crate::merge_sweeps), from 0.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SweepError {
    /// Not JSON at all (a truncated file ends here too).
    #[error("not JSON: {0}")]
    Json(String),
    /// JSON, but not a vigil sweep summary.
    #[error("not a vigil sweep summary (no \"vigil_sweep\" key)")]
    NotASweep,
    /// A format this version cannot read.
    #[error("sweep format {found}, this vigil reads format {}", crate::sweep::FORMAT)]
    Format {
        /// The file's `vigil_sweep`.
        found: u64,
    },
    /// A key is missing or has the wrong type.
    #[error("`{key}`: {why}")]
    Malformed {
        /// Where, as `summary.outcomes.up`.
        key: String,
        /// What is wrong with it.
        why: String,
    },
    /// The file's digest does not match its content: it was edited or damaged.
    #[error("the content does not match its digest (edited or damaged): {0}")]
    Tampered(String),
    /// The content contradicts itself (counts that do not add up).
    #[error("the content contradicts itself: {0}")]
    Inconsistent(String),
    /// No file to merge.
    #[error("nothing to merge")]
    Nothing,
    /// Two files were not made by the same sweep.
    #[error("file {other} does not belong with file 0: `{key}` is {found} there, {expected} in file 0")]
    Disagree {
        /// The key that differs (`config_digest`, `options.duration_ns` ...).
        key: String,
        /// The value in file 0.
        expected: String,
        /// The value in file `other`.
        found: String,
        /// Which file.
        other: usize,
    },
    /// Two files cover some of the same seeds (the same shard twice, say).
    #[error("files {first} and {second} both cover seeds {}..{}", seeds.start, seeds.end)]
    Overlap {
        /// The earlier file.
        first: usize,
        /// The later file.
        second: usize,
        /// The seeds both cover.
        seeds: Range<u64>,
    },
    /// Seeds of the range that no file covers.
    #[error("{}", missing_text(.gaps, .shards))]
    Missing {
        /// The seeds no file covers.
        gaps: Vec<Range<u64>>,
        /// The shards (`K` of `--shard K/N`) with no file, when every file is a shard of the same `N`.
        shards: Vec<u64>,
    },
}

impl SweepError {
    pub(crate) fn malformed(key: String, why: &str) -> Self {
        SweepError::Malformed {
            key,
            why: why.to_owned(),
        }
    }
}

fn missing_text(gaps: &[Range<u64>], shards: &[u64]) -> String {
    let seeds: Vec<String> = gaps.iter().map(|g| format!("{}..{}", g.start, g.end)).collect();
    let mut text = format!("seeds {} are in no file", seeds.join(", "));
    if !shards.is_empty() {
        let list: Vec<String> = shards.iter().map(u64::to_string).collect();
        text.push_str(&format!(" (missing shard(s) {})", list.join(", ")));
    }
    text
}

//! The recent output of process children, kept for `vigil ctl logs`.
//!
//! Off until [`enable`] is called (the `vigil` binary does; an embedding
//! program pays nothing unless it does too). Once on, every line a child
//! writes to a piped stdout or stderr ([`crate::OutputMode::Tracing`]) is
//! also kept in a bounded ring of that child's, by path: at most
//! [`RecentLimits::lines`] lines and [`RecentLimits::bytes`] bytes of text,
//! the oldest dropped first. A child's ring is allocated when it writes its
//! first line, so a child that never writes costs nothing; it keeps the
//! lines of every run (each line carries its run's generation) and is
//! dropped when the child is removed from the tree. Lines a follower of
//! [`follow`] did not take in time are dropped for it and counted, never
//! waited for: a client that does not read cannot slow a child down.
//!
//! The store is one per process (a process runs one tree with `vigil run`);
//! two trees embedded in one process that have children of the same path
//! share that path's ring.
//!
//! ```
//! use vigil_tokio::recent_output::{self, RecentLimits};
//!
//! recent_output::enable(RecentLimits::default());
//! assert!(recent_output::is_enabled());
//! // Nothing was written by `web`: it has no ring.
//! assert!(recent_output::snapshot("web", 10).is_none());
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::SystemTime;

use serde::Serialize;
use tokio::sync::broadcast;

/// How much output each child keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecentLimits {
    /// Lines kept per child, at most (at least 1). Default 200.
    pub lines: usize,
    /// Bytes of line text kept per child, at most (at least 1). Default
    /// 64 KiB. A longer line is kept cut to this many bytes (at a character
    /// boundary), alone.
    pub bytes: usize,
}

impl Default for RecentLimits {
    fn default() -> Self {
        RecentLimits {
            lines: 200,
            bytes: 64 * 1024,
        }
    }
}

/// Which stream a line came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// The child's standard output.
    Stdout,
    /// The child's standard error.
    Stderr,
}

/// One line of a child's output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecentLine {
    /// Its number among every line the child wrote since vigil started (from 1).
    pub seq: u64,
    /// When vigil read it (wall clock).
    #[serde(serialize_with = "unix_ms")]
    pub at: SystemTime,
    /// The run that wrote it.
    pub generation: u64,
    /// stdout or stderr.
    pub stream: Stream,
    /// The text, without its line terminator.
    pub text: String,
}

fn unix_ms<S: serde::Serializer>(at: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    let ms = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    s.serialize_u64(ms)
}

/// The lines a child's ring holds now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    /// The newest lines, oldest first.
    pub lines: Vec<RecentLine>,
    /// Lines the child wrote that the ring no longer holds.
    pub dropped: u64,
}

/// How many lines a follower may fall behind before it misses some.
pub const FOLLOW_QUEUE: usize = 1024;

/// One child's ring.
struct Ring {
    lines: VecDeque<RecentLine>,
    bytes: usize,
    written: u64,
    /// Allocated for the first follower.
    followers: Option<broadcast::Sender<Arc<RecentLine>>>,
}

struct Store {
    limits: RecentLimits,
    rings: Mutex<BTreeMap<Arc<str>, Ring>>,
}

static STORE: OnceLock<Store> = OnceLock::new();

/// Keep every child's recent output from now on, within `limits` (each
/// at least 1). The first call decides the limits; later calls change
/// nothing and return `false`.
pub fn enable(limits: RecentLimits) -> bool {
    let limits = RecentLimits {
        lines: limits.lines.max(1),
        bytes: limits.bytes.max(1),
    };
    let mut first = false;
    STORE.get_or_init(|| {
        first = true;
        Store {
            limits,
            rings: Mutex::default(),
        }
    });
    first
}

/// Whether [`enable`] was called.
pub fn is_enabled() -> bool {
    STORE.get().is_some()
}

/// The limits in force, if enabled.
pub fn limits() -> Option<RecentLimits> {
    STORE.get().map(|s| s.limits)
}

/// Keep one line of the child at `path` (a no-op until [`enable`]).
pub(crate) fn record(path: &str, generation: u64, stream: Stream, text: &str) {
    let Some(store) = STORE.get() else {
        return;
    };
    let limits = store.limits;
    let text = cut(text, limits.bytes);
    let mut rings = store.rings.lock().unwrap_or_else(PoisonError::into_inner);
    let ring = match rings.get_mut(path) {
        Some(r) => r,
        None => rings.entry(Arc::from(path)).or_insert_with(|| Ring {
            lines: VecDeque::new(),
            bytes: 0,
            written: 0,
            followers: None,
        }),
    };
    while !ring.lines.is_empty() && (ring.lines.len() >= limits.lines || ring.bytes + text.len() > limits.bytes) {
        if let Some(old) = ring.lines.pop_front() {
            ring.bytes -= old.text.len();
        }
    }
    ring.written = ring.written.saturating_add(1);
    let line = RecentLine {
        seq: ring.written,
        at: SystemTime::now(),
        generation,
        stream,
        text: text.to_owned(),
    };
    if let Some(tx) = &ring.followers {
        // No receiver left: the next follower makes a new channel.
        if tx.send(Arc::new(line.clone())).is_err() {
            ring.followers = None;
        }
    }
    ring.bytes += line.text.len();
    ring.lines.push_back(line);
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The newest `last` lines of the child at `path` (all it holds if fewer),
/// or `None` if it never wrote a line (or vigil does not keep output).
pub fn snapshot(path: &str, last: usize) -> Option<Snapshot> {
    let rings = STORE.get()?.rings.lock().unwrap_or_else(PoisonError::into_inner);
    let ring = rings.get(path)?;
    Some(snapshot_of(ring, last))
}

fn snapshot_of(ring: &Ring, last: usize) -> Snapshot {
    let skip = ring.lines.len().saturating_sub(last);
    Snapshot {
        lines: ring.lines.iter().skip(skip).cloned().collect(),
        dropped: ring.written.saturating_sub(ring.lines.len() as u64),
    }
}

/// The newest `last` lines of the child at `path` and a receiver of every
/// line it writes after them (a receiver that falls more than
/// [`FOLLOW_QUEUE`] lines behind is told how many it missed). Creates the
/// child's ring if it has none yet, so that its first line is followed too;
/// `None` only when vigil does not keep output.
pub fn follow(path: &str, last: usize) -> Option<(Snapshot, broadcast::Receiver<Arc<RecentLine>>)> {
    let store = STORE.get()?;
    let mut rings = store.rings.lock().unwrap_or_else(PoisonError::into_inner);
    let ring = rings.entry(Arc::from(path)).or_insert_with(|| Ring {
        lines: VecDeque::new(),
        bytes: 0,
        written: 0,
        followers: None,
    });
    let rx = match &ring.followers {
        Some(tx) => tx.subscribe(),
        None => {
            let (tx, rx) = broadcast::channel(FOLLOW_QUEUE);
            ring.followers = Some(tx);
            rx
        }
    };
    Some((snapshot_of(ring, last), rx))
}

/// Drop the rings of `path` and of every path below it (the child was
/// removed from the tree); its followers' streams end.
pub(crate) fn forget(path: &str) {
    let Some(store) = STORE.get() else {
        return;
    };
    let mut rings = store.rings.lock().unwrap_or_else(PoisonError::into_inner);
    if path.is_empty() {
        rings.clear();
        return;
    }
    let prefix = format!("{path}/");
    rings.retain(|p, _| &**p != path && !p.starts_with(&prefix));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> Ring {
        Ring {
            lines: VecDeque::new(),
            bytes: 0,
            written: 0,
            followers: None,
        }
    }

    #[test]
    fn cut_keeps_characters_whole() {
        assert_eq!(cut("héllo", 2), "h");
        assert_eq!(cut("héllo", 3), "hé");
        assert_eq!(cut("abc", 10), "abc");
    }

    #[test]
    fn a_snapshot_counts_what_the_ring_dropped() {
        let mut r = ring();
        for i in 1..=5u64 {
            r.written = i;
            r.lines.push_back(RecentLine {
                seq: i,
                at: SystemTime::UNIX_EPOCH,
                generation: 1,
                stream: Stream::Stdout,
                text: i.to_string(),
            });
            if r.lines.len() > 3 {
                r.lines.pop_front();
            }
        }
        let s = snapshot_of(&r, 2);
        assert_eq!(s.lines.iter().map(|l| l.seq).collect::<Vec<_>>(), [4, 5]);
        assert_eq!(s.dropped, 2);
        assert_eq!(snapshot_of(&r, 100).lines.len(), 3);
    }
}

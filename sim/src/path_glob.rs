//! Path globs: which workers a [`SimModels::glob`](crate::SimModels::glob)
//! attaches a model to.
//!
//! A glob is a path whose segments (split at `/`) are matched one by one:
//! `*` in a segment matches any run of characters within that one segment
//! (`web/w*` matches `web/w1` and `web/w`, not `web/x/w1`), and a segment
//! that is exactly `**` matches any number of whole segments, none included
//! (`**/db` matches `db` and `a/b/db`). There is no escape: a worker whose
//! name contains `*` is attached by its exact path.

/// Why a glob is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GlobProblem {
    /// The glob is empty.
    Empty,
    /// A segment is empty (`a//b`, a leading or trailing `/`).
    EmptySegment,
    /// `**` inside a segment (`a**`): it must be a whole segment.
    DoubleStarInSegment,
}

impl std::fmt::Display for GlobProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GlobProblem::Empty => "it is empty",
            GlobProblem::EmptySegment => "it has an empty segment (`//`, or a `/` at an end)",
            GlobProblem::DoubleStarInSegment => "`**` must be a whole segment (`a/**/b`, not `a**`)",
        })
    }
}

/// A checked glob, split into segments.
#[derive(Clone, Debug)]
pub(crate) struct PathGlob<'a> {
    segments: Vec<&'a str>,
}

impl<'a> PathGlob<'a> {
    /// Check `glob` and split it.
    pub(crate) fn new(glob: &'a str) -> Result<Self, GlobProblem> {
        if glob.is_empty() {
            return Err(GlobProblem::Empty);
        }
        let segments: Vec<&str> = glob.split('/').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(GlobProblem::EmptySegment);
        }
        if segments.iter().any(|s| *s != "**" && s.contains("**")) {
            return Err(GlobProblem::DoubleStarInSegment);
        }
        Ok(PathGlob { segments })
    }

    /// Whether the worker at `path` matches.
    pub(crate) fn matches(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        match_segments(&self.segments, &parts)
    }
}

/// Segments against path parts: the classic wildcard walk, with `**` as
/// the star and each other segment matching exactly one part. On a
/// mismatch it goes back to the latest `**` and lets it take one more part,
/// so a glob of `g` segments over a path of `p` parts costs at most `g * p`
/// segment matches, however many `**` it has.
fn match_segments(glob: &[&str], parts: &[&str]) -> bool {
    let (mut g, mut p) = (0, 0);
    // The latest `**`: the glob index after it, and the part it stopped before.
    let mut star: Option<(usize, usize)> = None;
    while p < parts.len() {
        if glob.get(g) == Some(&"**") {
            star = Some((g + 1, p));
            g += 1;
        } else if glob.get(g).is_some_and(|seg| match_segment(seg, parts[p])) {
            g += 1;
            p += 1;
        } else if let Some((after, taken)) = star {
            star = Some((after, taken + 1));
            g = after;
            p = taken + 1;
        } else {
            return false;
        }
    }
    glob[g..].iter().all(|seg| *seg == "**")
}

/// One segment with `*` wildcards against one path part.
fn match_segment(pattern: &str, text: &str) -> bool {
    let mut pieces = pattern.split('*');
    // `split` always yields a first piece: the literal before any `*`.
    let first = pieces.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let pieces: Vec<&str> = pieces.collect();
    let Some((last, middle)) = pieces.split_last() else {
        return rest.is_empty(); // no `*`: the whole segment is literal
    };
    for piece in middle {
        match rest.find(piece) {
            Some(i) => rest = &rest[i + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(glob: &str, path: &str) -> bool {
        PathGlob::new(glob).expect("a valid glob").matches(path)
    }

    #[test]
    fn star_stays_within_one_segment() {
        assert!(m("web/*", "web/w1"));
        assert!(m("web/w*", "web/w"));
        assert!(m("*", "db"));
        assert!(!m("*", "web/w1"));
        assert!(!m("web/*", "web/x/w1"));
        assert!(m("w*b*d", "wxxbyyd"));
        assert!(!m("w*b*d", "wxxbyy"));
        assert!(m("*-*", "a-b-c"));
        assert!(!m("ab*ba", "aba"), "a star's two sides must not overlap");
        assert!(m("db", "db") && !m("db", "dbx") && !m("db", "xdb"));
    }

    #[test]
    fn double_star_spans_any_number_of_segments() {
        assert!(m("**", "db"));
        assert!(m("**", "a/b/c"));
        assert!(m("**/db", "db"));
        assert!(m("**/db", "a/b/db"));
        assert!(!m("**/db", "a/b/dbx"));
        assert!(m("a/**/z", "a/z"));
        assert!(m("a/**/z", "a/b/c/z"));
        assert!(!m("a/**/z", "b/z"));
        assert!(m("a/**/w*", "a/x/w1"));
        assert!(m("**/b/**/d", "a/b/c/b/d"));
        assert!(!m("**/b/**/d", "a/b/c/b/e"));
        // Many `**` over a long path: linear-ish, not exponential.
        let long = vec!["x"; 33].join("/");
        assert!(!m("**/**/**/**/**/**/**/**/y", &long));
        assert!(m("**/**/**/**/**/**/**/**/x", &long));
    }

    #[test]
    fn bad_globs_are_refused() {
        assert_eq!(PathGlob::new("").unwrap_err(), GlobProblem::Empty);
        assert_eq!(PathGlob::new("a//b").unwrap_err(), GlobProblem::EmptySegment);
        assert_eq!(PathGlob::new("/a").unwrap_err(), GlobProblem::EmptySegment);
        assert_eq!(PathGlob::new("a/").unwrap_err(), GlobProblem::EmptySegment);
        assert_eq!(PathGlob::new("a**").unwrap_err(), GlobProblem::DoubleStarInSegment);
        assert_eq!(PathGlob::new("***").unwrap_err(), GlobProblem::DoubleStarInSegment);
    }
}

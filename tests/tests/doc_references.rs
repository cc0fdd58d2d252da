//! Every reference to the project's documentation points somewhere real.
//!
//! Comments, doc strings, `--help` texts and the docs themselves cite
//! `docs/<NAME>.md`, often with a section: `docs/SEMANTICS.md §7`,
//! `docs/SEMANTICS.md section 6`, `docs/CONFIG.md, "Values"`. This test
//! reads every `.rs`, `.md` and `.toml` file of the repository (not `target/`
//! nor hidden directories) and fails, naming the file and line, when
//!
//! - a file cites one of the two contract files that were never part of the
//!   repository (their names are built below, so that this file does not
//!   cite them itself);
//! - a cited `docs/<NAME>.md` does not exist;
//! - a cited `§N` or `section N` is not a numbered heading (`## N.`) of that
//!   file, or a bare `§N` inside a doc is not one of its own;
//! - a cited `"Title"` is not in a heading of that file.

use std::fs;
use std::path::{Path, PathBuf};

/// The repository's root (this crate is `tests/`).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Every `.rs`, `.md` and `.toml` file under `dir`, sorted, skipping build
/// output and hidden directories.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                sources(&path, out);
            }
        } else if ["rs", "md", "toml"]
            .iter()
            .any(|x| path.extension().is_some_and(|e| e == *x))
        {
            out.push(path);
        }
    }
}

/// A source file's text, with its path relative to the root.
struct Source {
    path: String,
    text: String,
}

fn all_sources() -> Vec<Source> {
    let root = root();
    let mut paths = Vec::new();
    sources(&root, &mut paths);
    assert!(
        paths.len() > 50,
        "the walk found the repository ({} files)",
        paths.len()
    );
    paths
        .into_iter()
        .filter_map(|p| {
            let text = fs::read_to_string(&p).ok()?;
            let path = p.strip_prefix(&root).unwrap_or(&p).display().to_string();
            Some(Source { path, text })
        })
        .collect()
}

/// One citation of a doc: where it is, the doc, and what follows the name.
struct Citation<'a> {
    at: String,
    doc: &'a str,
    rest: &'a str,
}

/// Every `docs/<NAME>.md` in `text` (NAME: letters, digits, `_`, `-`).
fn citations<'a>(source: &'a Source) -> Vec<Citation<'a>> {
    let mut found = Vec::new();
    for (n, line) in source.text.lines().enumerate() {
        let mut from = 0;
        while let Some(i) = line[from..].find("docs/") {
            let start = from + i + "docs/".len();
            let name_len = line[start..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(line.len() - start);
            let after = start + name_len;
            from = after;
            // `docs/` inside a longer path (`fuzz/docs/`) is not a citation.
            let own = !line[..start - 5].ends_with(|c: char| c.is_ascii_alphanumeric() || "_/.-".contains(c));
            if name_len > 0 && own && line[after..].starts_with(".md") {
                found.push(Citation {
                    at: format!("{}:{}", source.path, n + 1),
                    doc: &line[start..after],
                    // A citation in backticks cites the same way.
                    rest: line[after + 3..].strip_prefix('`').unwrap_or(&line[after + 3..]),
                });
            }
        }
    }
    found
}

/// The headings of a doc (lines starting with `#`).
fn headings(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with('#')).collect()
}

/// Whether `doc` has a numbered heading `## N.` for `number` (`7`, `11c`).
fn has_numbered_section(doc: &str, number: &str) -> bool {
    headings(doc).iter().any(|h| {
        let title = h.trim_start_matches('#').trim_start();
        title.split_once('.').is_some_and(|(n, _)| n == number)
    })
}

/// The section number right after a citation: `§7`, ` §11c`, ` section 6`,
/// `, section 13`.
fn section_number(rest: &str) -> Option<&str> {
    let r = rest.trim_start_matches([',', ' ']);
    let r = r.strip_prefix('§').or_else(|| r.strip_prefix("section "))?;
    let len = r.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(r.len());
    let n = &r[..len];
    n.starts_with(|c: char| c.is_ascii_digit()).then_some(n)
}

/// The quoted title right after a citation: `, "Values"` or ` ("Values"`.
fn quoted_title(rest: &str) -> Option<&str> {
    let r = rest.strip_prefix(", \"").or_else(|| rest.strip_prefix(" (\""))?;
    r.find('"').map(|end| &r[..end])
}

#[test]
fn no_file_cites_the_contract_files_that_are_not_in_the_repository() {
    let words = [concat!("CONTR", "ACTS"), concat!("SUPER", "VISION")];
    let mut bad = Vec::new();
    for s in all_sources() {
        for (n, line) in s.text.lines().enumerate() {
            for w in words {
                if line.contains(w) {
                    bad.push(format!("{}:{}: {}", s.path, n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "cite docs/SEMANTICS.md, docs/CONFIG.md, docs/TRACE.md or docs/CLI.md instead:\n{}",
        bad.join("\n")
    );
}

#[test]
fn every_cited_doc_and_section_exists() {
    let root = root();
    let sources = all_sources();
    let mut bad = Vec::new();
    let mut checked = 0;
    for s in &sources {
        for c in citations(s) {
            checked += 1;
            let Ok(doc) = fs::read_to_string(root.join("docs").join(format!("{}.md", c.doc))) else {
                bad.push(format!("{}: docs/{}.md does not exist", c.at, c.doc));
                continue;
            };
            if let Some(n) = section_number(c.rest) {
                if !has_numbered_section(&doc, n) {
                    bad.push(format!("{}: docs/{}.md has no section {n}", c.at, c.doc));
                }
            }
            if let Some(title) = quoted_title(c.rest) {
                if !headings(&doc).iter().any(|h| h.contains(title)) {
                    bad.push(format!("{}: docs/{}.md has no heading \"{title}\"", c.at, c.doc));
                }
            }
        }
    }
    assert!(checked > 100, "the scan found the citations ({checked})");
    assert!(bad.is_empty(), "broken references:\n{}", bad.join("\n"));
}

#[test]
fn a_docs_own_section_references_exist() {
    let mut bad = Vec::new();
    for s in all_sources().iter().filter(|s| s.path.starts_with("docs/")) {
        for (n, line) in s.text.lines().enumerate() {
            for (i, _) in line.match_indices('§') {
                // `docs/<NAME>.md §N` is another doc's section, checked above.
                let before = line[..i].trim_end();
                if before.ends_with(".md") || before.ends_with(".md`") {
                    continue;
                }
                if let Some(number) = section_number(&line[i..]) {
                    if !has_numbered_section(&s.text, number) {
                        bad.push(format!("{}:{}: no section {number} in this file", s.path, n + 1));
                    }
                }
            }
        }
    }
    assert!(bad.is_empty(), "broken references:\n{}", bad.join("\n"));
}

#[test]
fn the_reference_parser_reads_the_forms_the_docs_use() {
    assert_eq!(section_number(" §7: the shutdown"), Some("7"));
    assert_eq!(section_number(", section 13)"), Some("13"));
    assert_eq!(section_number(" §11c)"), Some("11c"));
    assert_eq!(section_number(" (the tokio adapter)"), None);
    assert_eq!(quoted_title(", \"Values\")."), Some("Values"));
    assert_eq!(quoted_title(" (\"The meta line\") puts"), Some("The meta line"));
    let doc = "# T\n\n## 7. Shutdown\n\n## 11c. Saturation and bounds\n";
    assert!(has_numbered_section(doc, "7"));
    assert!(has_numbered_section(doc, "11c"));
    assert!(!has_numbered_section(doc, "1"), "`1` is not `11c`");
    assert!(!has_numbered_section(doc, "11"), "`11` is not `11c`");
    assert!(!has_numbered_section(doc, "8"));
    let s = Source {
        path: "x.rs".into(),
        text: "// see docs/SEMANTICS.md §7 and fuzz/docs/X.md and docs/TRACE.md, \"Lines\"".into(),
    };
    let quoted = Source {
        path: "y.md".into(),
        text: "recorded in `docs/SEMANTICS.md` §11".into(),
    };
    let found: Vec<(&str, &str)> = citations(&quoted).iter().map(|c| (c.doc, c.rest)).collect();
    assert_eq!(found, [("SEMANTICS", " §11")]);
    let found: Vec<(&str, &str)> = citations(&s).iter().map(|c| (c.doc, c.rest)).collect();
    assert_eq!(
        found,
        [
            ("SEMANTICS", " §7 and fuzz/docs/X.md and docs/TRACE.md, \"Lines\""),
            ("TRACE", ", \"Lines\"")
        ]
    );
}

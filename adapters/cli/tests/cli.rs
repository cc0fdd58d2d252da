//! The `vigil` binary end to end: exit codes and messages of `check`, usage
//! errors, `tour`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

fn vigil(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .output()
        .expect("the vigil binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed by a signal")
}

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(name)
}

/// A file in the temp dir, removed when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(tag: &str, contents: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "vigil-cli-test-{}-{}-{tag}.toml",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, contents).expect("write a temp file");
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temp path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `vigil check` of an example: exit 0, every named node in the printed tree,
/// and the summary line.
fn check_example(file: &str, names: &[&str], summary: &str) {
    let path = example(file);
    let out = vigil(&["check", path.to_str().unwrap()]);
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(code(&out), 0, "{file}: stdout:\n{so}\nstderr:\n{se}");
    for name in names {
        assert!(so.contains(name), "{file}: `{name}` is not in the printed tree:\n{so}");
    }
    let last = so.lines().last().unwrap_or_default();
    assert!(last.contains(summary), "{file}: summary `{last}` lacks `{summary}`");
    assert!(last.contains(": ok: "), "{file}: summary `{last}`");
}

#[test]
fn check_web_stack_prints_the_tree() {
    check_example(
        "web-stack.toml",
        &["db", "cache", "migrate", "web", "router", "http-1", "http-2", "http-3"],
        "7 workers, 2 supervisors",
    );
}

#[test]
fn check_flaky_pool_prints_the_tree() {
    let workers: Vec<String> = (1..=8).map(|i| format!("worker-{i}")).collect();
    let mut names: Vec<&str> = workers.iter().map(String::as_str).collect();
    names.extend(["queue", "pool"]);
    check_example("flaky-pool.toml", &names, "9 workers, 2 supervisors");
}

#[test]
fn check_nested_prints_the_tree() {
    check_example(
        "nested.toml",
        &[
            "metrics",
            "ingest",
            "feeder",
            "parser",
            "store",
            "writer",
            "indexer",
            "compactor",
            "session",
            "proxy",
            "sidecar",
        ],
        "8 workers, 4 supervisors",
    );
}

#[test]
fn check_validates_the_example_scripts_against_web_stack() {
    let config = example("web-stack.toml");
    for (script, actions) in [
        ("restart-storm.toml", "7 actions"),
        ("rolling-restart.toml", "6 actions"),
        ("hung-stop.toml", "7 actions"),
    ] {
        let path = example(&format!("scripts/{script}"));
        let out = vigil(&["check", config.to_str().unwrap(), "--script", path.to_str().unwrap()]);
        let (so, se) = (stdout(&out), stderr(&out));
        assert_eq!(code(&out), 0, "{script}: stdout:\n{so}\nstderr:\n{se}");
        assert!(se.is_empty(), "{script}: warnings:\n{se}");
        let last = so.lines().last().unwrap_or_default();
        assert!(last.contains(&format!("{script}: ok: {actions}")), "{script}: {last}");
    }
}

#[test]
fn check_warns_about_script_paths_outside_the_tree() {
    let script = TempFile::new("typo-script", "[[at]]\ntime = \"1s\"\nexit = \"web/htp-1\"\n");
    let out = vigil(&[
        "check",
        example("web-stack.toml").to_str().unwrap(),
        "--script",
        script.path(),
    ]);
    let se = stderr(&out);
    assert_eq!(code(&out), 0, "stderr:\n{se}");
    assert!(
        se.contains(&format!("warning: {}:1: `web/htp-1` is not a worker", script.path())),
        "{se}"
    );
}

#[test]
fn check_a_bad_script_gives_its_line() {
    let script = TempFile::new(
        "bad-script",
        "[[at]]\ntime = \"1s\"\nexit = \"db\"\n\n[[at]]\ntime = \"2s\"\nexit = \"db\"\nreason = \"sad\"\n",
    );
    let out = vigil(&[
        "check",
        example("web-stack.toml").to_str().unwrap(),
        "--script",
        script.path(),
    ]);
    let se = stderr(&out);
    assert_eq!(code(&out), 2, "stderr:\n{se}");
    assert!(
        se.contains(&format!("{}:8:", script.path())),
        "file:line is not given:\n{se}"
    );
    assert!(se.contains("reason"), "the key is not named:\n{se}");
}

#[test]
fn check_an_unknown_key_names_the_key_and_its_line() {
    let f = TempFile::new(
        "unknown-key",
        "[supervisor]\n\
         strategy = \"one_for_one\"\n\
         \n\
         [[child]]\n\
         name = \"db\"\n\
         command = [\"sleep\", \"100\"]\n\
         restrat = \"permanent\"\n",
    );
    let out = vigil(&["check", f.path()]);
    let se = stderr(&out);
    assert_eq!(code(&out), 2, "stderr:\n{se}");
    assert!(se.contains("restrat"), "the key is not named:\n{se}");
    assert!(
        se.contains(&format!("{}:7:", f.path())),
        "file:line is not given:\n{se}"
    );
    assert!(stdout(&out).is_empty(), "nothing on stdout on error:\n{}", stdout(&out));
}

#[test]
fn check_a_bad_duration_gives_its_line() {
    let f = TempFile::new(
        "bad-duration",
        "[[child]]\n\
         name = \"db\"\n\
         command = [\"sleep\", \"100\"]\n\
         shutdown = \"10 parsecs\"\n",
    );
    let out = vigil(&["check", f.path()]);
    let se = stderr(&out);
    assert_eq!(code(&out), 2, "stderr:\n{se}");
    assert!(
        se.contains(&format!("{}:4:", f.path())),
        "file:line is not given:\n{se}"
    );
}

#[test]
fn check_an_invalid_tree_is_bad_input() {
    // A significant child under a supervisor whose auto_shutdown is `never`.
    let f = TempFile::new(
        "invalid-tree",
        "[[child]]\n\
         name = \"job\"\n\
         command = [\"true\"]\n\
         restart = \"transient\"\n\
         significant = true\n",
    );
    let out = vigil(&["check", f.path()]);
    let se = stderr(&out);
    assert_eq!(code(&out), 2, "stderr:\n{se}");
    assert!(se.contains(f.path()), "the file is not named:\n{se}");
}

#[test]
fn check_a_missing_file_is_bad_input() {
    let missing = std::env::temp_dir().join(format!("vigil-cli-test-{}-no-such-file.toml", std::process::id()));
    let out = vigil(&["check", missing.to_str().unwrap()]);
    let se = stderr(&out);
    assert_eq!(code(&out), 2, "stderr:\n{se}");
    assert!(se.contains("no-such-file.toml"), "the file is not named:\n{se}");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["sim", "x", "--seed", "1", "--seeds", "1..2"][..],
        &["bogus"],
        &["check"],
        &["check", "a.toml", "b.toml"],
        &["sim"],
        &["sim", "x", "--seeds", "5..5"],
        &["sim", "x", "--seeds", "five"],
        &["sim", "x", "--duration", "10"],
        &["sim", "x", "--duration", "0s"],
        &["sim", "x", "--jobs", "0"],
        &["sim", "x", "--seeds", "0..10", "--trace", "t.jsonl"],
        &["tour", "--loud"],
    ] {
        let out = vigil(args);
        let se = stderr(&out);
        assert_eq!(code(&out), 2, "{args:?}: stderr:\n{se}");
        assert!(se.contains("error"), "{args:?}: no clear message:\n{se}");
    }
}

#[test]
fn seed_and_seeds_conflict_with_a_clear_message() {
    let out = vigil(&["sim", "x", "--seed", "1", "--seeds", "1..2"]);
    let se = stderr(&out);
    assert!(se.contains("--seed") && se.contains("--seeds"), "{se}");
}

#[test]
fn a_bad_seed_range_says_what_is_expected() {
    let out = vigil(&["sim", "x", "--seeds", "9..3"]);
    let se = stderr(&out);
    assert_eq!(code(&out), 2);
    assert!(se.contains("9..3") && se.contains("A..B"), "{se}");
}

#[test]
fn tour_quiet_exits_0() {
    let out = vigil(&["tour", "--quiet"]);
    assert_eq!(code(&out), 0, "stderr:\n{}", stderr(&out));
    assert!(stdout(&out).contains("events"), "{}", stdout(&out));
}

#[test]
fn help_and_version_exit_0() {
    let out = vigil(&["--version"]);
    assert_eq!(code(&out), 0);
    assert_eq!(stdout(&out).trim(), format!("vigil {}", env!("CARGO_PKG_VERSION")));
    for args in [&["--help"][..], &[], &["sim", "--help"], &["check", "--help"]] {
        let out = vigil(args);
        assert_eq!(code(&out), 0, "{args:?}");
        assert!(stdout(&out).contains("Usage"), "{args:?}: {}", stdout(&out));
    }
}

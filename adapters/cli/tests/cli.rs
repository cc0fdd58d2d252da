//! The `vigil` binary end to end: exit codes and messages of `check`, `sim`
//! (runs, seed ranges, bad input, traces and replays, and with the
//! `bug-injection` feature, violations and the replay commands they print),
//! usage errors, `tour`.

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
        Self::with_ext(tag, "toml", contents)
    }

    fn with_ext(tag: &str, ext: &str, contents: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "vigil-cli-test-{}-{}-{tag}.{ext}",
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
fn check_names_the_control_socket_the_http_endpoint_and_keep_running() {
    let dir = std::env::temp_dir().join(format!("vigil-check-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("shop.toml");
    std::fs::write(
        &config,
        "[http]\nlisten = \"9100\"\n\n[run]\nkeep_running = true\n\n[[child]]\nname = \"a\"\ncommand = [\"true\"]\n",
    )
    .unwrap();
    let out = vigil(&["check", config.to_str().unwrap()]);
    let so = stdout(&out);
    assert_eq!(code(&out), 0, "{so}{}", stderr(&out));
    assert!(so.contains("\ncontrol socket: "), "{so}");
    assert!(so.contains("shop.sock\n"), "the socket is named for the config: {so}");
    assert!(
        so.contains("\nhttp: GET /metrics /healthz /readyz /status on 127.0.0.1:9100\n"),
        "{so}"
    );
    assert!(so.contains("\nrun: keep_running "), "{so}");
    assert!(so.lines().last().unwrap_or_default().contains(": ok: 1 worker"), "{so}");
    let _ = std::fs::remove_dir_all(&dir);
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
    // `vigil` alone is a usage error (exit 2): tests/conventions.rs.
    for args in [&["--help"][..], &["sim", "--help"], &["check", "--help"]] {
        let out = vigil(args);
        assert_eq!(code(&out), 0, "{args:?}");
        assert!(stdout(&out).contains("Usage"), "{args:?}: {}", stdout(&out));
    }
}

// ---------------------------------------------------------------------------
// `vigil sim`

fn example_str(name: &str) -> String {
    example(name).to_str().expect("a UTF-8 path").to_owned()
}

/// The lines of the summary's "how the runs ended" table, as (count, outcome).
fn outcome_table(so: &str) -> Vec<(u64, String)> {
    so.lines()
        .skip_while(|l| !l.contains("how the runs ended:"))
        .skip(1)
        .take_while(|l| l.contains('%'))
        .map(|l| {
            let (count, rest) = l.trim().split_once(' ').expect("`N (p%)  outcome`");
            let outcome = rest.split_once(')').expect("`(p%)`").1.trim();
            (count.parse().expect("a count"), outcome.to_owned())
        })
        .collect()
}

#[test]
fn sim_one_seed_of_web_stack_is_ok() {
    let out = vigil(&[
        "sim",
        &example_str("web-stack.toml"),
        "--seed",
        "1",
        "--duration",
        "10m",
    ]);
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(code(&out), 0, "stdout:\n{so}\nstderr:\n{se}");
    assert!(so.starts_with("seed 1: "), "{so}");
    assert!(so.contains("the same seed gave the same trace twice"), "{so}");
    assert!(
        so.lines().last().unwrap_or_default().starts_with("ok"),
        "the last line says ok:\n{so}"
    );
    assert!(!so.contains("VIOLATION"), "{so}");
}

#[test]
fn sim_a_seed_range_prints_the_summary() {
    let out = vigil(&[
        "sim",
        &example_str("web-stack.toml"),
        "--seeds",
        "0..50",
        "--duration",
        "10m",
        "-q",
    ]);
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(code(&out), 0, "stdout:\n{so}\nstderr:\n{se}");
    assert!(se.is_empty(), "-q prints no progress:\n{se}");
    let first = so.lines().next().unwrap_or_default();
    assert!(
        first.contains("web-stack.toml: 50 seeds (0..50)"),
        "the first line names the config and the seeds: {first}"
    );
    for part in ["virtual time:", "events:", "how the runs ended:", "restart decisions:"] {
        assert!(so.contains(part), "no `{part}` in the summary:\n{so}");
    }
    let table = outcome_table(&so);
    assert!(!table.is_empty(), "no outcome lines:\n{so}");
    assert_eq!(
        table.iter().map(|(n, _)| n).sum::<u64>(),
        50,
        "every run ended one way: {table:?}"
    );
    assert!(
        so.contains("determinism: seed 0 run twice gave identical traces"),
        "{so}"
    );
    assert_eq!(
        so.lines().last().unwrap_or_default(),
        "ok: every invariant held in every run"
    );
}

#[test]
fn sim_an_unknown_config_key_names_the_key_and_its_line() {
    let f = TempFile::new(
        "sim-unknown-key",
        "[supervisor]\n\
         intensity = 3\n\
         \n\
         [[child]]\n\
         name = \"db\"\n\
         command = [\"x\"]\n\
         restrat = \"permanent\"\n",
    );
    let out = vigil(&["sim", f.path(), "--seed", "1"]);
    let se = stderr(&out);
    assert_eq!(code(&out), 2, "stderr:\n{se}");
    assert!(se.contains("restrat"), "the key is not named:\n{se}");
    assert!(
        se.contains(&format!("{}:7:", f.path())),
        "file:line is not given:\n{se}"
    );
    assert!(stdout(&out).is_empty(), "nothing simulated:\n{}", stdout(&out));
}

#[test]
fn sim_a_bad_script_names_the_key_and_its_line() {
    // An unknown key on line 8, and a time without a unit on line 6.
    let unknown = TempFile::new(
        "sim-script-unknown-key",
        "[[at]]\ntime = \"1s\"\nexit = \"db\"\n\n[[at]]\ntime = \"2s\"\nexit = \"db\"\nwhen = \"later\"\n",
    );
    let bad_time = TempFile::new(
        "sim-script-bad-time",
        "[[at]]\ntime = \"1s\"\nexit = \"db\"\n\n[[at]]\ntime = \"2 parsecs\"\nexit = \"db\"\n",
    );
    for (script, key, line) in [(&unknown, "when", 8), (&bad_time, "time", 6)] {
        let out = vigil(&[
            "sim",
            &example_str("web-stack.toml"),
            "--script",
            script.path(),
            "--no-random-faults",
        ]);
        let se = stderr(&out);
        assert_eq!(code(&out), 2, "{key}: stderr:\n{se}");
        assert!(se.contains(&format!("`{key}`")), "the key is not named:\n{se}");
        assert!(
            se.contains(&format!("{}:{line}:", script.path())),
            "file:line is not given:\n{se}"
        );
        assert!(stdout(&out).is_empty(), "nothing simulated:\n{}", stdout(&out));
    }
}

#[test]
fn sim_a_missing_file_is_bad_input() {
    let missing = std::env::temp_dir().join(format!("vigil-cli-test-{}-no-such-config.toml", std::process::id()));
    let out = vigil(&["sim", missing.to_str().unwrap(), "--seed", "1"]);
    let se = stderr(&out);
    assert_eq!(code(&out), 2, "stderr:\n{se}");
    assert!(se.contains("no-such-config.toml"), "the file is not named:\n{se}");

    let out = vigil(&[
        "sim",
        &example_str("web-stack.toml"),
        "--script",
        "/nonexistent/vigil-no-such-script.toml",
    ]);
    let se = stderr(&out);
    assert_eq!(code(&out), 2, "stderr:\n{se}");
    assert!(se.contains("vigil-no-such-script.toml"), "the file is not named:\n{se}");
}

/// `vigil sim ... --trace FILE`: exit 0; returns the trace text.
fn write_trace(args: &[&str], trace: &TempFile) -> String {
    let mut all = vec!["sim"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--trace", trace.path()]);
    let out = vigil(&all);
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(code(&out), 0, "{all:?}: stdout:\n{so}\nstderr:\n{se}");
    assert!(so.contains(&format!("written to {}", trace.path())), "{so}");
    let text = std::fs::read_to_string(&trace.0).expect("the trace was written");
    let lines = text.lines().count();
    assert!(
        so.contains(&format!("trace: {lines} lines")),
        "the summary counts the lines in the file ({lines}):\n{so}"
    );
    text
}

#[test]
fn sim_a_trace_replays_identically() {
    let config = example_str("web-stack.toml");
    let trace = TempFile::with_ext("trace", "jsonl", "");
    let text = write_trace(&[&config, "--seed", "7", "--duration", "10m"], &trace);
    let meta = text.lines().next().unwrap_or_default();
    assert!(
        meta.contains(r#""ev":"meta""#) && meta.contains(r#""seed":7"#),
        "{meta}"
    );

    let out = vigil(&["sim", &config, "--replay", trace.path()]);
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(code(&out), 0, "stdout:\n{so}\nstderr:\n{se}");
    assert!(so.contains("identical"), "{so}");
    assert!(so.contains("seed 7"), "{so}");
    assert!(
        so.contains(&format!("all {} lines identical", text.lines().count())),
        "{so}"
    );
}

#[test]
fn sim_a_scripted_trace_replays_identically() {
    let config = example_str("web-stack.toml");
    let script = example_str("scripts/hung-stop.toml");
    let trace = TempFile::with_ext("scripted-trace", "jsonl", "");
    let text = write_trace(
        &[&config, "--script", &script, "--no-random-faults", "--duration", "2m"],
        &trace,
    );
    assert!(text.contains(r#""ev":"kill""#), "the hung stops are in the trace");
    // With the script given again, and without it (the meta line names it).
    for extra in [&["--script", script.as_str()][..], &[]] {
        let mut args = vec!["sim", config.as_str(), "--replay", trace.path()];
        args.extend_from_slice(extra);
        let out = vigil(&args);
        let (so, se) = (stdout(&out), stderr(&out));
        assert_eq!(code(&out), 0, "{args:?}: stdout:\n{so}\nstderr:\n{se}");
        assert!(so.contains("identical"), "{args:?}: {so}");
    }
}

#[test]
fn sim_a_tampered_trace_fails_the_replay_and_names_the_line() {
    let config = example_str("web-stack.toml");
    let trace = TempFile::with_ext("tampered-trace", "jsonl", "");
    let text = write_trace(&[&config, "--seed", "7", "--duration", "10m"], &trace);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 10, "a trace of {} lines", lines.len());

    // Change the generation of one spawn in the middle.
    let k = (lines.len() / 2..lines.len())
        .find(|&i| lines[i].contains(r#""ev":"spawn""#))
        .or_else(|| (1..lines.len()).find(|&i| lines[i].contains(r#""ev":"spawn""#)))
        .expect("a spawn line");
    let original = lines[k];
    let tampered_line = original.replace(r#""gen":"#, r#""gen":9"#);
    assert_ne!(original, tampered_line);
    let mut edited: Vec<&str> = lines.clone();
    edited[k] = &tampered_line;
    let tampered = TempFile::with_ext("tampered", "jsonl", &(edited.join("\n") + "\n"));
    let out = vigil(&["sim", &config, "--replay", tampered.path()]);
    let (so, se) = (stdout(&out), stderr(&out));
    assert_eq!(code(&out), 1, "stdout:\n{so}\nstderr:\n{se}");
    assert!(so.contains(&format!("differs at line {}", k + 1)), "{so}");
    assert!(so.contains(&tampered_line), "the recorded line is shown:\n{so}");
    assert!(so.contains(original), "the replayed line is shown:\n{so}");

    // A trace cut short differs where it ends.
    let cut = TempFile::with_ext("cut", "jsonl", &(lines[..k].join("\n") + "\n"));
    let out = vigil(&["sim", &config, "--replay", cut.path()]);
    let so = stdout(&out);
    assert_eq!(code(&out), 1, "stdout:\n{so}\nstderr:\n{}", stderr(&out));
    assert!(so.contains(&format!("differs at line {}", k + 1)), "{so}");
    assert!(so.contains("(end of trace)"), "{so}");
}

#[test]
fn sim_replaying_a_file_that_is_not_a_trace_is_bad_input() {
    let config = example_str("web-stack.toml");
    let not_json = example_str("nested.toml");
    let empty = TempFile::with_ext("empty", "jsonl", "");
    let no_meta = TempFile::with_ext("no-meta", "jsonl", "{\"t\":0,\"ev\":\"sup_starting\",\"path\":\"\"}\n");
    let missing = std::env::temp_dir().join(format!("vigil-cli-test-{}-no-such-trace.jsonl", std::process::id()));
    for file in [
        not_json.as_str(),
        empty.path(),
        no_meta.path(),
        missing.to_str().unwrap(),
    ] {
        let out = vigil(&["sim", &config, "--replay", file]);
        let se = stderr(&out);
        assert_eq!(code(&out), 2, "{file}: stdout:\n{}\nstderr:\n{se}", stdout(&out));
        assert!(se.contains("error"), "{file}: {se}");
        assert!(se.contains(file), "{file}: the file is not named:\n{se}");
    }
    let out = vigil(&["sim", &config, "--replay", &not_json]);
    assert!(stderr(&out).contains("not a vigil trace"), "{}", stderr(&out));
}

/// With a deliberately broken engine (`--inject-bug`), `vigil sim` reports
/// the violation and a command that reproduces it.
#[cfg(feature = "bug-injection")]
mod injected_bugs {
    use super::*;

    /// A single worker that crashes every second under `intensity = 1`: the
    /// second restart within 10 s must end the root.
    const FLAKY: &str = "[supervisor]\n\
                         intensity = 1\n\
                         period = \"10s\"\n\
                         \n\
                         [[child]]\n\
                         name = \"flaky\"\n\
                         command = [\"x\"]\n\
                         sim = { lifetime = \"1s\", exit = \"error\" }\n";

    /// Run a printed `vigil sim ...` command with this build's binary.
    fn run_printed(command: &str) -> Output {
        let mut words = command.split_whitespace();
        assert_eq!(words.next(), Some("vigil"), "{command}");
        let args: Vec<&str> = words.collect();
        vigil(&args)
    }

    /// The `VIOLATION ...` line of a single-seed run.
    fn violation_line(so: &str) -> &str {
        so.lines()
            .find(|l| l.starts_with("VIOLATION"))
            .unwrap_or_else(|| panic!("no VIOLATION line:\n{so}"))
    }

    #[test]
    fn a_violation_prints_a_replay_command_that_reproduces_it() {
        let cfg = TempFile::new("flaky", FLAKY);
        // The first seed that breaks the rule (every seed does, with this tree).
        let (seed, out) = (0..20u64)
            .map(|seed| {
                let n = seed.to_string();
                let out = vigil(&[
                    "sim",
                    cfg.path(),
                    "--seed",
                    &n,
                    "--duration",
                    "1m",
                    "--inject-bug",
                    "skip_intensity",
                ]);
                (seed, out)
            })
            .find(|(_, out)| code(out) != 0)
            .expect("skip_intensity breaks a rule on some seed");
        let (so, se) = (stdout(&out), stderr(&out));
        assert_eq!(code(&out), 1, "stdout:\n{so}\nstderr:\n{se}");
        let violation = violation_line(&so);
        assert!(violation.contains("intensity"), "{violation}");
        assert!(so.starts_with(&format!("seed {seed}: ")), "{so}");
        let replay = so
            .lines()
            .find_map(|l| l.strip_prefix("replay: "))
            .unwrap_or_else(|| panic!("no replay line:\n{so}"));
        assert!(
            replay.starts_with(&format!("vigil sim {} --seed {seed} ", cfg.path())),
            "{replay}"
        );
        assert!(replay.ends_with(" --inject-bug skip_intensity"), "{replay}");
        assert!(replay.contains(" --duration 1m"), "{replay}");

        let again = run_printed(replay);
        let so2 = stdout(&again);
        assert_eq!(code(&again), 1, "{replay}: stdout:\n{so2}\nstderr:\n{}", stderr(&again));
        assert_eq!(violation_line(&so2), violation, "the same violation");
        assert!(
            so2.contains(&format!("replay: {replay}")),
            "the same replay command:\n{so2}"
        );
    }

    #[test]
    fn a_seed_range_prints_a_replay_command_for_each_violation() {
        let cfg = TempFile::new("flaky-range", FLAKY);
        let out = vigil(&[
            "sim",
            cfg.path(),
            "--seeds",
            "0..20",
            "--duration",
            "1m",
            "--inject-bug",
            "skip_intensity",
            "-q",
        ]);
        let (so, se) = (stdout(&out), stderr(&out));
        assert_eq!(code(&out), 1, "stdout:\n{so}\nstderr:\n{se}");
        let broke: usize = so
            .lines()
            .find_map(|l| l.strip_suffix(" run(s) broke an invariant:"))
            .unwrap_or_else(|| panic!("no count of broken runs:\n{so}"))
            .parse()
            .expect("a count");
        assert!(broke >= 1, "{so}");
        // Each violation: `  seed N: <violation>` then `    replay: <command>`.
        let lines: Vec<&str> = so.lines().collect();
        let mut seen = 0;
        for (i, l) in lines.iter().enumerate() {
            let Some(rest) = l.strip_prefix("  seed ") else {
                continue;
            };
            let (seed, violation) = rest.split_once(": ").expect("`seed N: violation`");
            let seed: u64 = seed.parse().expect("a seed");
            assert!((0..20).contains(&seed), "{l}");
            assert!(violation.contains("intensity"), "{l}");
            assert!(
                se.contains(&format!("seed {seed}: VIOLATION {violation}")),
                "reported as it happened, on stderr:\n{se}"
            );
            let replay = lines
                .get(i + 1)
                .and_then(|n| n.strip_prefix("    replay: "))
                .unwrap_or_else(|| panic!("no replay command after `{l}`"));
            assert!(
                replay.starts_with(&format!("vigil sim {} --seed {seed} ", cfg.path())),
                "{replay}"
            );
            assert!(replay.ends_with(" --inject-bug skip_intensity"), "{replay}");
            // The printed command reproduces that very violation.
            let again = run_printed(replay);
            let so2 = stdout(&again);
            assert_eq!(code(&again), 1, "{replay}: stdout:\n{so2}\nstderr:\n{}", stderr(&again));
            assert_eq!(
                violation_line(&so2),
                format!("VIOLATION {violation}"),
                "{replay} gives the same violation"
            );
            seen += 1;
        }
        assert_eq!(seen, broke, "one replay command per broken run:\n{so}");
    }

    /// A misspelt bug name is bad usage, not a silent run of the correct engine.
    #[test]
    fn an_unknown_bug_name_is_bad_usage() {
        let cfg = TempFile::new("flaky-unknown-bug", FLAKY);
        let out = vigil(&[
            "sim",
            cfg.path(),
            "--seed",
            "0",
            "--duration",
            "1m",
            "--inject-bug",
            "skip_intensty",
        ]);
        let (so, se) = (stdout(&out), stderr(&out));
        assert_eq!(code(&out), 2, "stdout:\n{so}\nstderr:\n{se}");
        assert!(se.contains("skip_intensty"), "{se}");
    }

    /// A trace written with `--inject-bug` replays with it.
    #[test]
    fn a_trace_of_a_broken_engine_replays_identically() {
        let cfg = TempFile::new("flaky-bug-trace", FLAKY);
        let trace = TempFile::with_ext("bug-trace", "jsonl", "");
        let out = vigil(&[
            "sim",
            cfg.path(),
            "--seed",
            "0",
            "--duration",
            "1m",
            "--inject-bug",
            "skip_intensity",
            "--trace",
            trace.path(),
        ]);
        assert_eq!(code(&out), 1, "stdout:\n{}", stdout(&out));
        let out = vigil(&[
            "sim",
            cfg.path(),
            "--replay",
            trace.path(),
            "--inject-bug",
            "skip_intensity",
        ]);
        let (so, se) = (stdout(&out), stderr(&out));
        assert_eq!(code(&out), 0, "stdout:\n{so}\nstderr:\n{se}");
        assert!(so.contains("identical"), "{so}");
    }
}

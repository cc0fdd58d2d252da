//! `vigil explain CONFIG TRACE`: snapshots of the timeline of a simulated
//! trace (a give-up of web-stack's `web`, its restart by the root) and of a
//! hand-written `vigil run` trace (a health timeout, a one_for_all round
//! with backoff, a request, the root's give-up and the tree's end, a cut
//! last line, keys and events from the future), and the errors on bad input.

use std::path::Path;

mod support;

use support::{code, text, vigil_output as vigil};

const RUN_CONFIG: &str = "tests/explain/run-style.toml";
const RUN_TRACE: &str = "tests/explain/run-style.jsonl";
const WEB_STACK: &str = "../../examples/web-stack.toml";

fn explained(args: &[&str]) -> String {
    let out = vigil(args);
    assert_eq!(code(&out), 0, "{args:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// A scratch file, removed when dropped.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str, contents: &str) -> Self {
        let p = std::env::temp_dir().join(format!("vigil-explain-test-{}-{name}", std::process::id()));
        std::fs::write(&p, contents).expect("a scratch file");
        Scratch(p)
    }
    fn path(&self) -> &str {
        self.0.to_str().expect("UTF-8")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn a_run_trace_with_a_timeout_a_request_and_a_give_up() {
    insta::assert_snapshot!("run_style_text", explained(&["explain", RUN_CONFIG, RUN_TRACE]));
    insta::assert_snapshot!(
        "run_style_json",
        explained(&["explain", RUN_CONFIG, RUN_TRACE, "--json"])
    );
}

#[test]
fn a_simulated_give_up_of_web_stack() {
    let trace = Scratch::new("seed5.jsonl", "");
    let out = vigil(&["sim", WEB_STACK, "--seed", "5", "--trace", trace.path(), "-q"]);
    assert_eq!(code(&out), 0, "{}", text(&out.stderr));
    let timeline = explained(&["explain", WEB_STACK, trace.path(), "--from", "1900s", "--to", "1930s"]);
    insta::assert_snapshot!("web_stack_seed_5", timeline.replace(trace.path(), "TRACE"));
    // Focused on one worker: only what concerns it (and the tree's end).
    let focused = explained(&["explain", WEB_STACK, trace.path(), "--path", "web/http-3", "--json"]);
    assert!(!focused.is_empty());
    for line in focused.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let about = |k: &str| v[k].as_str().is_some_and(|p| p.starts_with("web/http-3"));
        assert!(about("path") || about("child") || v["kind"] == "tree_down", "{line}");
    }
}

#[test]
fn bad_traces_name_the_line() {
    let whole = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(RUN_TRACE)).unwrap();
    let lines: Vec<&str> = whole.lines().collect();
    let with = |n: usize, replacement: &str| {
        let mut l = lines.clone();
        l[n - 1] = replacement;
        l.join("\n") + "\n"
    };
    for (name, contents, says) in [
        ("garbage", with(3, "this is not JSON"), "line 3: not JSON"),
        ("cut", with(3, r#"{"t":0,"ev":"spa"#), "line 3: not JSON"),
        (
            "array",
            with(4, "[1,2]"),
            "line 4: not a trace event: not a JSON object",
        ),
        (
            "no-t",
            with(4, r#"{"ev":"started","path":"db","gen":2}"#),
            "line 4: not a trace event: no `t`",
        ),
        (
            "backwards",
            with(5, r#"{"t":1,"ev":"ready","path":"db","gen":2}"#),
            "line 5: `t` goes back",
        ),
        (
            "no-child",
            with(14, r#"{"t":10910000000,"ev":"restart","path":""}"#),
            "line 14: not a trace event: a `restart` line without a `child`",
        ),
    ] {
        let f = Scratch::new(&format!("{name}.jsonl"), &contents);
        let out = vigil(&["explain", RUN_CONFIG, f.path()]);
        assert_eq!(code(&out), 2, "{name}: {}", text(&out.stdout));
        assert!(
            text(&out.stderr).contains(says),
            "{name}: `{says}` not in {}",
            text(&out.stderr)
        );
    }
    let out = vigil(&["explain", RUN_CONFIG, RUN_TRACE, "--path", "cache"]);
    assert_eq!(code(&out), 2);
    assert!(
        text(&out.stderr).contains("--path cache: no such node"),
        "{}",
        text(&out.stderr)
    );
    let out = vigil(&["explain", RUN_CONFIG, "tests/explain/absent.jsonl"]);
    assert_eq!(code(&out), 2);
    assert!(text(&out.stderr).contains("cannot read"));
    // An empty trace explains to nothing.
    let empty = Scratch::new("empty.jsonl", "");
    assert!(explained(&["explain", RUN_CONFIG, empty.path()]).contains("nothing to explain"));
}

#[test]
fn a_decision_of_a_supervisor_the_config_lacks_is_shown_without_a_window_and_exits_1() {
    let whole = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(RUN_TRACE)).unwrap();
    let mut lines: Vec<&str> = whole.lines().collect();
    lines[13] = r#"{"t":10910000000,"ev":"restart","path":"nope","child":"nope/x","strategy":"one_for_one"}"#;
    // The trace's cut last line stays cut (it is skipped, as in the original).
    let mut contents = lines.join("\n");
    if whole.ends_with('\n') {
        contents.push('\n');
    }
    let f = Scratch::new("stranger.jsonl", &contents);
    let out = vigil(&["explain", RUN_CONFIG, f.path()]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    let so = text(&out.stdout);
    assert!(
        so.contains("window of nope: unknown (neither the config nor the trace gives its intensity)"),
        "{so}"
    );
    assert!(
        so.contains("WARNING: 1 decision(s) of supervisors this config does not have"),
        "{so}"
    );
}

#[test]
fn a_trace_of_another_config_disagrees_and_exits_1() {
    // The same tree with a larger intensity: the give-up no longer overflows.
    let lenient = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(RUN_CONFIG))
        .unwrap()
        .replace("intensity = 2", "intensity = 9");
    let cfg = Scratch::new("lenient.toml", &lenient);
    let out = vigil(&["explain", cfg.path(), RUN_TRACE]);
    assert_eq!(code(&out), 1, "{}", text(&out.stderr));
    let so = text(&out.stdout);
    assert!(
        so.contains("DISAGREES: the window rebuilt from the config did not overflow here"),
        "{so}"
    );
    assert!(so.contains("WARNING: 1 decision(s) disagree"), "{so}");
}

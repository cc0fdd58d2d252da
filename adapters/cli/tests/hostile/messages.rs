//! Class 13 (the CLI's share): messages that were silent or unclear. An
//! invalid `VIGIL_LOG` is said in one line naming the variable and the error,
//! and vigil runs on at the default level (docs/ADAPTER.md); `--help` lists
//! every exit code the commands use.

use std::process::Command;

use crate::support::{sh, Scratch, Vigil};

fn tree(s: &Scratch) -> std::path::PathBuf {
    s.write(
        "tree.toml",
        &format!(
            "[[child]]\nname = \"a\"\ncommand = {}\n",
            sh(&format!("echo $$ > {}; exec sleep 1000", s.p("a.pid")))
        ),
    )
}

/// Start with `VIGIL_LOG=value`; the tree runs, SIGTERM ends it with 0.
fn run_with_log_filter(tag: &str, value: &str) -> (Vigil, Scratch) {
    let s = Scratch::new(tag);
    let config = tree(&s);
    let trace = s.path("trace.jsonl");
    let v = Vigil::start_with(&s, &config, &trace, &[("VIGIL_LOG", value)]);
    let pid = s.wait_pid(&v, "a.pid");
    v.wait_for("the child to run", || v.alive(pid));
    (v, s)
}

#[test]
fn an_invalid_vigil_log_is_said_once_and_the_default_level_applies() {
    for value in ["[[[", "vigil=loud", "=debug,,x=y=z"] {
        let (mut v, _s) = run_with_log_filter("log-invalid", value);
        v.wait_log(&["supervising"]);
        let warnings = v.log_lines(&["WARN", "VIGIL_LOG="]);
        assert_eq!(warnings.len(), 1, "{value:?}: log:\n{}", v.log_text());
        assert!(
            warnings[0].contains(&format!("VIGIL_LOG={value:?} is not a valid log filter ("))
                && warnings[0].contains("logging at the default level, info"),
            "{value:?}: {}",
            warnings[0]
        );
        v.signal("TERM");
        assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
        assert!(
            !v.log_text().contains(" DEBUG "),
            "{value:?}: not the default level:\n{}",
            v.log_text()
        );
        v.wait_nothing_left();
    }
}

#[test]
fn a_valid_or_empty_vigil_log_is_taken_without_a_word() {
    for (value, debug) in [("debug", true), ("", false), ("info,vigil_tokio=debug", true)] {
        let (mut v, _s) = run_with_log_filter("log-valid", value);
        v.wait_log(&["supervising"]);
        v.signal("TERM");
        assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
        let log = v.log_text();
        assert!(!log.contains("VIGIL_LOG"), "{value:?}: {log}");
        assert_eq!(log.contains(" DEBUG "), debug, "{value:?}: {log}");
        v.wait_nothing_left();
    }
}

#[test]
fn help_lists_every_exit_code() {
    for args in [&["--help"][..], &["sim", "--help"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(args)
            .output()
            .expect("vigil runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?}");
        for code in [
            "0 ",
            "1 ",
            "2 bad usage",
            "74 the trace or the output",
            "141 the output's reader went away",
        ] {
            assert!(text.contains(code), "{args:?} does not document `{code}`:\n{text}");
        }
    }
}

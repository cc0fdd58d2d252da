//! The command-line conventions of a packaged tool: shell completions and a
//! man page generated from the command line itself, `vigil` alone as a usage
//! error, and `NO_COLOR` (no-color.org) honoured on a terminal.

use std::path::Path;
use std::process::{Command, Output};

fn vigil(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigil"))
        .args(args)
        .output()
        .expect("the vigil binary runs")
}

const SUBCOMMANDS: [&str; 9] = [
    "tour",
    "check",
    "sim",
    "run",
    "ctl",
    "merge",
    "explain",
    "completions",
    "man",
];

#[test]
fn completions_are_generated_for_each_shell_with_every_subcommand() {
    for shell in ["bash", "zsh", "fish"] {
        let out = vigil(&["completions", shell]);
        assert!(
            out.status.success(),
            "{shell}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        for sub in SUBCOMMANDS {
            assert!(text.contains(sub), "{shell}: no `{sub}` in the completions");
        }
        // ctl's own subcommands and options complete too.
        for word in ["restart-all", "socket", "seeds"] {
            assert!(text.contains(word), "{shell}: no `{word}`");
        }
    }
    let bad = vigil(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2), "an unknown shell is a usage error");
}

#[test]
fn bash_accepts_its_completion_script() {
    let out = vigil(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("vigil.bash");
    std::fs::write(&script, &out.stdout).unwrap();
    // Sourced, it registers a completion function for `vigil`.
    let check = Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p vigil", script.display()))
        .output()
        .expect("bash runs");
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    assert!(String::from_utf8_lossy(&check.stdout).contains("vigil"));
}

#[test]
fn the_man_page_is_roff_naming_every_subcommand() {
    let out = vigil(&["man"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().any(|l| l.starts_with(".TH vigil 1")), "{text}");
    assert!(text.contains(".SH NAME") && text.contains(".SH SYNOPSIS"), "{text}");
    for sub in SUBCOMMANDS {
        assert!(text.contains(sub), "no `{sub}` in the man page");
    }
    // groff, where installed, formats it without a warning.
    if Path::new("/usr/bin/groff").exists() {
        let dir = tempfile::tempdir().unwrap();
        let page = dir.path().join("vigil.1");
        std::fs::write(&page, &text).unwrap();
        let groff = Command::new("groff")
            .args(["-man", "-Tutf8", "-ww", "-z"])
            .arg(&page)
            .output()
            .expect("groff runs");
        assert!(groff.status.success(), "{}", String::from_utf8_lossy(&groff.stderr));
        assert_eq!(String::from_utf8_lossy(&groff.stderr), "", "groff warned");
    } else {
        println!("groff is not installed: the man page was checked only by its sections");
    }
}

#[test]
fn vigil_alone_is_a_usage_error_with_the_help_on_stderr() {
    let out = vigil(&[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "nothing on stdout");
    let help = String::from_utf8_lossy(&out.stderr);
    assert!(help.contains("Usage: vigil") && help.contains("Commands:"), "{help}");
    // --help is not an error.
    let out = vigil(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: vigil"));
}

/// `vigil ARGS` on a pseudo-terminal (`script`), with `NO_COLOR` set to
/// `no_color` or unset: what the terminal received.
fn on_a_terminal(args: &str, no_color: Option<&str>) -> String {
    let mut c = Command::new("script");
    c.args(["-qec", &format!("{} {args}", env!("CARGO_BIN_EXE_vigil")), "/dev/null"]);
    c.env_remove("NO_COLOR").env("TERM", "xterm-256color");
    if let Some(v) = no_color {
        c.env("NO_COLOR", v);
    }
    let out = c.output().expect("script runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn no_color_turns_off_the_colours_of_the_log_and_of_usage_errors() {
    if Command::new("script").arg("--version").output().is_err() {
        println!("SKIPPED: `script` (util-linux) is not installed: no pseudo-terminal to test on");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gives-up.toml");
    std::fs::write(
        &config,
        format!(
            "[control]\nsocket = \"{}\"\n[supervisor]\nintensity = 0\n\n[[child]]\nname = \"crash\"\ncommand = [\"false\"]\n",
            dir.path().join("s.sock").display()
        ),
    )
    .unwrap();
    let run = format!("run {}", config.display());
    for args in [run.as_str(), "--no-such-flag"] {
        let coloured = on_a_terminal(args, None);
        assert!(
            coloured.contains('\u{1b}'),
            "{args}: a terminal gets colours: {coloured}"
        );
        for value in ["1", "true"] {
            let plain = on_a_terminal(args, Some(value));
            assert!(!plain.contains('\u{1b}'), "{args}: NO_COLOR={value}: {plain:?}");
            assert!(plain.contains("error"), "{args}: the same text: {plain}");
        }
        // Empty is unset (no-color.org).
        assert!(on_a_terminal(args, Some("")).contains('\u{1b}'), "{args}");
    }
}

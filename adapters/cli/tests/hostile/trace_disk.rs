//! Class 7: `--trace` on a full disk. `/dev/full` fails every write with
//! ENOSPC, as a full disk does. The error is logged when it happens (naming
//! the file and the errno), the tree keeps being supervised, the trace is
//! never left with a partial line (the writer's unit tests cut a short write
//! back: adapters/trace/src/file.rs), and the command exits 74 at the end,
//! unless the tree itself failed (its own code wins). The same for `vigil
//! sim --trace` and for any command whose standard output is full.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::support::{sh, Scratch, Vigil};

const FULL: &str = "/dev/full";

fn dev_full_exists() -> bool {
    Path::new(FULL).exists()
}

/// A worker that appends its pid to `NAME.pids` at each start, then sleeps.
fn pid_recorder(s: &Scratch, name: &str) -> String {
    sh(&format!("echo $$ >> {}; exec sleep 1000", s.p(&format!("{name}.pids"))))
}

fn pids(s: &Scratch, name: &str) -> Vec<u32> {
    s.lines(&format!("{name}.pids"))
        .iter()
        .map(|l| l.trim().parse().expect("a pid"))
        .collect()
}

/// The trace fails at its first line: the error is logged at once, while the
/// tree runs; a crash is still handled (restart), the sibling untouched; the
/// run ends with exit code 74.
#[test]
fn a_full_disk_is_reported_at_once_and_supervision_goes_on() {
    if !dev_full_exists() {
        eprintln!("skipped: no {FULL}");
        return;
    }
    let s = Scratch::new("trace-full");
    let config = s.write(
        "tree.toml",
        &format!(
            "[[child]]\nname = \"a\"\ncommand = {}\n\n[[child]]\nname = \"b\"\ncommand = {}\n",
            pid_recorder(&s, "a"),
            pid_recorder(&s, "b")
        ),
    );
    let mut v = Vigil::start_with(&s, &config, Path::new(FULL), &[]);
    s.wait_lines(&v, "a.pids", 1);
    s.wait_lines(&v, "b.pids", 1);
    // Reported while vigil runs, not at the end.
    v.wait_log(&["ERROR", "cannot write the trace to /dev/full", "ENOSPC", "errno=ENOSPC"]);
    let (a, b) = (pids(&s, "a")[0], pids(&s, "b")[0]);
    crate::support::send("KILL", &[a]);
    s.wait_lines(&v, "a.pids", 2);
    let a2 = pids(&s, "a")[1];
    v.wait_for("a's new run", || v.alive(a2));
    assert!(v.alive(b), "b was touched");
    assert_eq!(pids(&s, "b").len(), 1, "b was restarted");
    assert_eq!(
        v.log_lines(&["vigil goes on supervising without it"]).len(),
        1,
        "the error is reported once, not for every line:\n{}",
        v.log_text()
    );
    v.signal("TERM");
    assert_eq!(v.wait_code(), 74, "log:\n{}", v.log_text());
    v.wait_log(&["ERROR", "the trace is incomplete", "/dev/full"]);
    v.wait_nothing_left();
}

/// When the tree fails too (the root gives up), the tree's code wins: 1.
#[test]
fn a_failed_tree_keeps_its_exit_code_when_the_trace_failed_too() {
    if !dev_full_exists() {
        eprintln!("skipped: no {FULL}");
        return;
    }
    let s = Scratch::new("trace-full-giveup");
    let config = s.write(
        "tree.toml",
        "[supervisor]\nintensity = 0\n\n[[child]]\nname = \"crash\"\ncommand = [\"sh\", \"-c\", \"exit 3\"]\n",
    );
    let mut v = Vigil::start_with(&s, &config, Path::new(FULL), &[]);
    assert_eq!(v.wait_code(), 1, "log:\n{}", v.log_text());
    assert!(
        v.log_text().contains("cannot write the trace to /dev/full"),
        "log:\n{}",
        v.log_text()
    );
    v.wait_nothing_left();
}

fn vigil(args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vigil"));
    cmd.args(args).stdin(Stdio::null());
    cmd
}

/// `vigil sim --trace /dev/full`: one error line naming the file and ENOSPC
/// when it happens, no claim that the trace was written, exit 74.
#[test]
fn sim_with_a_full_disk_trace_says_so_and_exits_74() {
    if !dev_full_exists() {
        eprintln!("skipped: no {FULL}");
        return;
    }
    let s = Scratch::new("sim-trace-full");
    let config = s.write("tree.toml", "[[child]]\nname = \"a\"\ncommand = [\"true\"]\n");
    let out = vigil(&[
        "sim",
        config.to_str().expect("a UTF-8 path"),
        "--seed",
        "3",
        "--trace",
        FULL,
    ])
    .output()
    .expect("vigil sim runs");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(74), "stdout:\n{stdout}\nstderr:\n{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error: ")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].starts_with("error: cannot write the trace to /dev/full: ENOSPC: "),
        "{stderr}"
    );
    assert!(!stdout.contains("written to /dev/full"), "{stdout}");
    assert!(stdout.contains("NOT written whole to /dev/full"), "{stdout}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A full standard output: one error line, exit 74, no panic, for every
/// command that prints.
#[test]
fn a_full_stdout_ends_each_command_with_74() {
    if !dev_full_exists() {
        eprintln!("skipped: no {FULL}");
        return;
    }
    let s = Scratch::new("stdout-full");
    let config = s.write("tree.toml", "[[child]]\nname = \"a\"\ncommand = [\"true\"]\n");
    let config = config.to_str().expect("a UTF-8 path");
    for args in [
        &["tour"][..],
        &["check", config],
        &["sim", config, "--seed", "1"],
        &["sim", config, "--seeds", "0..4", "--jobs", "2"],
    ] {
        let out = vigil(args)
            .stdout(
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(FULL)
                    .expect("open /dev/full"),
            )
            .output()
            .expect("vigil runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(74), "{args:?}: {stderr}");
        assert!(
            stderr.contains("error: cannot write to the standard output: No space left on device"),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

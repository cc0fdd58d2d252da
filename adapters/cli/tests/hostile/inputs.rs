//! Classes 9 and 13 (the config's share): big and malformed inputs. A
//! 40,000-entry script took 10 s to check (each entry's line was counted from
//! the start of the file); a 100-level tree got the TOML reader's "recursion
//! limit exceeded"; errors named Rust types (`struct RawSupervisor`, `u32`).
//! These cases check big inputs functionally (no timing: the linear line
//! count is unit-tested in adapters/config) and every message's wording.

use crate::support::{exit_code, vigil_output, Scratch};

fn both(out: &std::process::Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn check_reads_a_100k_entry_script() {
    let s = Scratch::new("inputs-script");
    let tree = s.write("tree.toml", "[[child]]\nname = \"w\"\ncommand = [\"x\"]\n");
    let mut script = String::with_capacity(100_000 * 40);
    for i in 0..100_000 {
        script.push_str(&format!("[[at]]\ntime = \"{i}ms\"\nexit = \"w\"\n"));
    }
    // One entry naming a worker the tree lacks: its warning must give its line.
    script.push_str("[[at]]\ntime = \"1s\"\nexit = \"nope\"\n");
    let script = s.write("big-script.toml", &script);
    let out = vigil_output(&[
        "check",
        tree.to_str().expect("utf-8"),
        "--script",
        script.to_str().expect("utf-8"),
    ]);
    assert_eq!(exit_code(&out), 0, "{}", both(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("big-script.toml: ok: 100001 actions over 99.999s"),
        "{}",
        both(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("big-script.toml:300001: `nope` is not a worker of"),
        "{}",
        both(&out)
    );
}

#[test]
fn check_reads_a_100k_child_config() {
    let s = Scratch::new("inputs-tree");
    let mut tree = String::with_capacity(100_000 * 50);
    tree.push_str("[supervisor]\nintensity = 5\n");
    for i in 0..100_000 {
        tree.push_str(&format!(
            "[[child]]\nname = \"w{i}\"\ncommand = [\"sleep\", \"1000\"]\n"
        ));
    }
    let tree = s.write("big-tree.toml", &tree);
    let out = vigil_output(&["check", tree.to_str().expect("utf-8")]);
    assert_eq!(exit_code(&out), 0, "{}", both(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ok: 100000 workers, 1 supervisor"),
        "{}",
        both(&out)
    );
}

/// `levels` nested supervisors written with `[[child.child...]]` headers.
fn deep_headers(levels: usize) -> String {
    let mut text = String::new();
    for depth in 1..=levels {
        let header = vec!["child"; depth].join(".");
        text.push_str(&format!("[[{header}]]\nname = \"s{depth}\"\nsupervisor = {{}}\n"));
    }
    text
}

/// `levels` nested supervisors written inline.
fn deep_inline(levels: usize) -> String {
    let mut inner = "{ name = \"leaf\", command = [\"x\"] }".to_owned();
    for depth in 1..levels {
        inner = format!("{{ name = \"s{depth}\", supervisor = {{}}, child = [{inner}] }}");
    }
    format!("child = [{inner}]\n")
}

#[test]
fn a_100_level_tree_gets_the_32_level_message() {
    let s = Scratch::new("inputs-deep");
    for (name, text) in [("headers.toml", deep_headers(100)), ("inline.toml", deep_inline(100))] {
        let config = s.write(name, &text);
        for cmd in ["check", "sim"] {
            let out = vigil_output(&[cmd, config.to_str().expect("utf-8")]);
            assert_eq!(exit_code(&out), 2, "{cmd} {name}: {}", both(&out));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                stderr.contains(name) && stderr.contains("the tree is nested deeper than 32 levels"),
                "{cmd} {name}: {}",
                both(&out)
            );
            assert!(!stderr.contains("recursion"), "{cmd} {name}: {}", both(&out));
        }
    }
}

#[test]
fn errors_speak_the_config_language() {
    let s = Scratch::new("inputs-words");
    let cases = [
        (
            "supervisor = 5\n",
            "expected a table of supervisor settings",
        ),
        ("[supervisor]\nintensity = -1\n", "expected a whole number from 0 to 4294967295"),
        ("[supervisor]\nperiod = inf\n", "inf is not a duration"),
        (
            "[[child]]\nname = \"a\"\ncommand = \"./server --port 80\"\n",
            "a command is a list of strings",
        ),
        (
            "[[child]]\nname = \"a\"\ncommand = [\"x\"]\nbackoff = { initial = \"1s\", max = \"2s\", multiplier = [2] }\n",
            "invalid type: list, expected a number",
        ),
    ];
    for (text, expected) in cases {
        let config = s.write("bad.toml", text);
        let out = vigil_output(&["check", config.to_str().expect("utf-8")]);
        assert_eq!(exit_code(&out), 2, "{text}: {}", both(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("bad.toml:") && stderr.contains(expected),
            "{text}: {stderr}"
        );
        for internal in ["Raw", "struct", "u32", "f64", "sequence", "infs"] {
            assert!(!stderr.contains(internal), "`{internal}` in: {stderr}");
        }
    }
}

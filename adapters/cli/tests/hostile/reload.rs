//! Class 6: an empty, half-written or churning config on SIGHUP. A reload
//! reads the file once as one version, validates it whole, refuses to empty
//! the tree (the error names the file), logs every child it starts, stops or
//! replaces by name, and a step that fails leaves a logged, consistent tree
//! that the next SIGHUP completes.

use std::io::Write;
use std::time::Duration;

use crate::support::{sh, Scratch, Vigil};

/// A worker that appends `VERSION $$` to `NAME.starts` at each start, then sleeps.
fn recorder(s: &Scratch, name: &str, version: &str) -> String {
    sh(&format!(
        "echo {version} $$ >> {}; exec sleep 1000",
        s.p(&format!("{name}.starts"))
    ))
}

/// A top-level worker table.
fn child(name: &str, command: &str) -> String {
    format!("[[child]]\nname = \"{name}\"\ncommand = {command}\n\n")
}

/// `(version, pid)` of every start of `name`.
fn starts(s: &Scratch, name: &str) -> Vec<(String, u32)> {
    s.lines(&format!("{name}.starts"))
        .iter()
        .map(|l| {
            let (v, pid) = l.split_once(' ').unwrap_or_else(|| panic!("{name}: {l:?}"));
            (v.to_owned(), pid.trim().parse().expect("a pid"))
        })
        .collect()
}

/// The pid of the first start of each of `names`, waiting for it.
fn first_pids(s: &Scratch, v: &Vigil, names: &[&str]) -> Vec<u32> {
    names
        .iter()
        .map(|n| {
            s.wait_lines(v, &format!("{n}.starts"), 1);
            starts(s, n)[0].1
        })
        .collect()
}

/// Every child still runs its first process, never restarted; nothing was stopped.
fn assert_untouched(s: &Scratch, v: &Vigil, names: &[&str], pids: &[u32]) {
    for (name, pid) in names.iter().zip(pids) {
        assert!(v.alive(*pid), "{name} (pid {pid}) was stopped; log:\n{}", v.log_text());
        assert_eq!(starts(s, name).len(), 1, "{name} was restarted; log:\n{}", v.log_text());
    }
}

/// Wait until vigil has logged `n` refused reloads.
fn wait_refusals(v: &Vigil, n: usize) {
    v.wait_for(&format!("{n} refused reload(s)"), || {
        v.log_lines(&["reload failed; the running tree is unchanged"]).len() >= n
    });
}

/// After the tree is shut down: no child was stopped before the shutdown.
fn assert_no_stop_before_shutdown(v: &Vigil) {
    let trace = v.trace();
    let shutdown = trace.shutdown_request();
    assert!(
        !trace.0[..shutdown]
            .iter()
            .any(|l| matches!(l.ev.as_str(), "stop" | "kill" | "removed")),
        "a reload acted on the tree:\n{trace}"
    );
}

/// `: > tree.toml; kill -HUP`: refused, the tree untouched, and the error
/// names the file. The same for a file of blank lines or comments only.
#[test]
fn an_emptied_config_is_refused_and_the_tree_is_untouched() {
    let s = Scratch::new("reload-empty");
    let names = ["a", "b", "c"];
    let full: String = names.iter().map(|n| child(n, &recorder(&s, n, "v1"))).collect();
    let config = s.write("tree.toml", &full);
    let mut v = Vigil::start_supervising(&s, &config);
    let pids = first_pids(&s, &v, &names);
    for (i, empty) in ["", "\n   \n", "# emptied by a script\n"].into_iter().enumerate() {
        s.write("tree.toml", empty);
        v.signal("HUP");
        wait_refusals(&v, i + 1);
    }
    let refusals = v.log_lines(&["reload failed", "ERROR"]);
    for line in &refusals {
        assert!(
            line.contains(&format!("{} has no children", config.display()))
                && line.contains("stop and delete all 3 children"),
            "the refusal does not name the file and what it would do: {line}"
        );
    }
    assert_untouched(&s, &v, &names, &pids);
    // The same file again: a no-op reload, which still finds the 3 children.
    s.write("tree.toml", &full);
    v.signal("HUP");
    v.wait_log(&["reloaded", "started [], stopped [], replaced []"]);
    assert_untouched(&s, &v, &names, &pids);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    assert_no_stop_before_shutdown(&v);
    v.wait_nothing_left();
}

/// A file cut in the middle of a table or of a string (a copy read while it
/// was being written) does not validate: refused with `file:line:col`, the
/// tree untouched.
#[test]
fn a_half_written_config_is_refused_and_the_tree_is_untouched() {
    let s = Scratch::new("reload-half");
    let names = ["a", "b", "c"];
    let full: String = names.iter().map(|n| child(n, &recorder(&s, n, "v1"))).collect();
    let config = s.write("tree.toml", &full);
    let mut v = Vigil::start_supervising(&s, &config);
    let pids = first_pids(&s, &v, &names);
    let table_c = full.find("[[child]]\nname = \"c\"").expect("c's table");
    let cuts = [
        // Mid-table: c has its name but not its command yet.
        full[..table_c + "[[child]]\nname = \"c\"\n".len()].to_owned(),
        // Mid-string: inside c's command.
        full[..full.rfind("echo").expect("c's command") + 2].to_owned(),
        // Mid-key.
        full[..table_c + "[[child]]\nna".len()].to_owned(),
    ];
    for (i, cut) in cuts.iter().enumerate() {
        s.write("tree.toml", cut);
        v.signal("HUP");
        wait_refusals(&v, i + 1);
    }
    let refusals = v.log_lines(&["reload failed; the running tree is unchanged"]);
    assert_eq!(refusals.len(), cuts.len(), "{refusals:#?}");
    let located = format!("{}:", config.display());
    for line in &refusals {
        assert!(
            line.contains(&located),
            "the error does not name the file and line: {line}"
        );
    }
    assert_untouched(&s, &v, &names, &pids);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    assert_no_stop_before_shutdown(&v);
    v.wait_nothing_left();
}

/// The tree of churn version `k`: a, b, d, e constant, c's command changing;
/// the final version (`None`) also changes c and adds f.
fn churn_version(s: &Scratch, k: Option<usize>) -> String {
    let c = match k {
        Some(k) => recorder(s, "c", &format!("v{k}")),
        None => recorder(s, "c", "final"),
    };
    let mut text = String::from("[supervisor]\nintensity = 1000\nperiod = \"1s\"\n\n");
    for n in ["a", "b"] {
        text.push_str(&child(n, &recorder(s, n, "v")));
    }
    text.push_str(&child("c", &c));
    for n in ["d", "e"] {
        text.push_str(&child(n, &recorder(s, n, "v")));
    }
    if k.is_none() {
        text.push_str(&child("f", &recorder(s, "f", "final")));
    }
    text
}

/// Rewrite `path` in place (truncate, then small chunks), as an editor
/// without atomic saves or `cat > tree.toml` does.
fn write_in_place(path: &std::path::Path, text: &str) {
    let mut f = std::fs::File::create(path).expect("truncate the config");
    for chunk in text.as_bytes().chunks(24) {
        f.write_all(chunk).expect("write a chunk");
        std::thread::sleep(Duration::from_micros(300));
    }
}

/// The config rewritten in place again and again while SIGHUPs arrive, then
/// replaced atomically (temp file + rename) with its final version: the final
/// tree is the final file's, every child of it runs exactly one process, and
/// a last SIGHUP finds nothing to change.
#[test]
fn reloads_during_churn_end_with_the_final_file_and_no_child_lost() {
    let s = Scratch::new("reload-churn");
    let config = s.write("tree.toml", &churn_version(&s, Some(0)));
    let mut v = Vigil::start_supervising(&s, &config);
    first_pids(&s, &v, &["a", "b", "c", "d", "e"]);
    let writer = {
        let versions: Vec<String> = (1..=15).map(|k| churn_version(&s, Some(k))).collect();
        let path = config.clone();
        std::thread::spawn(move || {
            for text in versions {
                write_in_place(&path, &text);
            }
        })
    };
    while !writer.is_finished() {
        v.signal("HUP");
        std::thread::sleep(Duration::from_millis(4));
    }
    writer.join().expect("the writer");
    let tmp = s.write("tree.toml.tmp", &churn_version(&s, None));
    std::fs::rename(&tmp, &config).expect("rename the final config into place");
    v.signal("HUP");
    let final_runs = |name: &str| {
        starts(&s, name)
            .last()
            .is_some_and(|(ver, pid)| ver == "final" && v.alive(*pid))
    };
    v.wait_for("c and f to run their final versions", || {
        final_runs("c") && final_runs("f")
    });
    // One more reload reads the final file (no write is left): it must find
    // the tree already matching it.
    let before = v.log_lines(&["reloaded"]).len();
    v.signal("HUP");
    v.wait_for("a reload that finds nothing to change", || {
        let lines = v.log_lines(&["reloaded"]);
        lines.len() > before
            && lines
                .last()
                .is_some_and(|l| l.contains("started [], stopped [], replaced []"))
    });
    for name in ["a", "b", "c", "d", "e", "f"] {
        let runs = starts(&s, name);
        let (last, older) = runs.split_last().unwrap_or_else(|| panic!("{name} never ran"));
        assert!(
            v.alive(last.1),
            "{name} is not running at the end; log:\n{}",
            v.log_text()
        );
        for (_, pid) in older {
            assert!(!v.alive(*pid), "{name} has two processes ({pid} and {})", last.1);
        }
    }
    assert!(!v.log_text().contains("panicked"), "log:\n{}", v.log_text());
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    assert_never_emptied(&v);
    v.wait_nothing_left();
}

/// From the start of the tree to its shutdown, some child always ran: no
/// reload of a truncated file emptied the tree, even for a moment.
fn assert_never_emptied(v: &Vigil) {
    let trace = v.trace();
    let shutdown = trace.shutdown_request();
    let mut live = std::collections::BTreeSet::new();
    let mut started = false;
    for (i, l) in trace.0[..shutdown].iter().enumerate() {
        match l.ev.as_str() {
            "spawn" => {
                live.insert(l.path.clone());
                started |= live.len() == 5;
            }
            "exited" | "start_failed" => {
                live.remove(&l.path);
                assert!(
                    !started || !live.is_empty(),
                    "the tree was emptied at line {i} ({}):\n{trace}",
                    l.raw
                );
            }
            _ => {}
        }
    }
}

/// Each child a reload acts on is logged by name at INFO, and the summary
/// lists them.
#[test]
fn a_reload_logs_each_child_by_name() {
    let s = Scratch::new("reload-names");
    let v1: String = ["a", "b", "c"]
        .iter()
        .map(|n| child(n, &recorder(&s, n, "v1")))
        .collect();
    let v2 = child("b", &recorder(&s, "b", "v2"))
        + &child("c", &recorder(&s, "c", "v1"))
        + &child("d", &recorder(&s, "d", "v2"));
    let config = s.write("tree.toml", &v1);
    let mut v = Vigil::start_supervising(&s, &config);
    first_pids(&s, &v, &["a", "b", "c"]);
    s.write("tree.toml", &v2);
    v.signal("HUP");
    v.wait_log(&["INFO", "reloaded", "started [d], stopped [a], replaced [b]"]);
    for (what, name) in [
        ("stopped and deleted a child", "a"),
        ("replaced a changed child", "b"),
        ("started a new child", "d"),
    ] {
        let lines = v.log_lines(&["INFO", what, &format!("child={name}")]);
        assert_eq!(
            lines.len(),
            1,
            "no INFO line `{what}` naming {name}; log:\n{}",
            v.log_text()
        );
    }
    assert!(v.log_lines(&["child=c"]).is_empty(), "the unchanged c was logged");
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    v.wait_nothing_left();
}

/// A reload whose new child cannot start (its program does not exist)
/// applies the rest, logs the failure by name and says the reload was
/// partial; the next SIGHUP, after the file is fixed, starts it.
#[test]
fn a_reload_that_fails_halfway_is_logged_and_completed_by_the_next() {
    let s = Scratch::new("reload-partial");
    let v1 = child("a", &recorder(&s, "a", "v1"));
    let v2 = format!(
        "{v1}{}{}",
        child("x", "[\"/nonexistent/vigil-test-program\"]"),
        child("y", &recorder(&s, "y", "v2"))
    );
    let v3 = format!(
        "{v1}{}{}",
        child("x", &recorder(&s, "x", "v3")),
        child("y", &recorder(&s, "y", "v2"))
    );
    let config = s.write("tree.toml", &v1);
    let mut v = Vigil::start_supervising(&s, &config);
    let a = first_pids(&s, &v, &["a"])[0];
    s.write("tree.toml", &v2);
    v.signal("HUP");
    v.wait_log(&["ERROR", "reload applied in part", "[x] failed"]);
    assert_eq!(
        v.log_lines(&["ERROR", "could not start a new child", "child=x"]).len(),
        1
    );
    let y = first_pids(&s, &v, &["y"])[0];
    s.write("tree.toml", &v3);
    v.signal("HUP");
    v.wait_log(&["reloaded", "started [x], stopped [], replaced []"]);
    first_pids(&s, &v, &["x"]);
    v.wait_for("y to run", || v.alive(y));
    assert!(v.alive(a), "a was touched; log:\n{}", v.log_text());
    assert_eq!(starts(&s, "y").len(), 1, "y was restarted");
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    v.wait_nothing_left();
}

#[test]
fn a_fifo_or_a_directory_in_place_of_the_config_is_refused_without_blocking() {
    // A blocking open of a FIFO waits for a writer for ever: the reload hung,
    // and so did vigil's exit after a SIGTERM.
    let s = Scratch::new("reload-fifo");
    let names = ["a", "b"];
    let full: String = names.iter().map(|n| child(n, &recorder(&s, n, "v1"))).collect();
    let config = s.write("tree.toml", &full);
    let mut v = Vigil::start_supervising(&s, &config);
    let pids = first_pids(&s, &v, &names);
    std::fs::remove_file(&config).expect("remove the config");
    let status = std::process::Command::new("mkfifo")
        .arg(&config)
        .status()
        .expect("mkfifo runs");
    assert!(status.success());
    v.signal("HUP");
    wait_refusals(&v, 1);
    std::fs::remove_file(&config).expect("remove the FIFO");
    std::fs::create_dir(&config).expect("a directory in its place");
    v.signal("HUP");
    wait_refusals(&v, 2);
    let refusals = v.log_lines(&["reload failed", "ERROR"]);
    assert!(
        refusals[0].contains("is not a regular file but a FIFO") && refusals[1].contains("but a directory"),
        "{refusals:?}"
    );
    assert_untouched(&s, &v, &names, &pids);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    v.wait_nothing_left();
}

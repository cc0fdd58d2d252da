//! Class 12: a temporary child outlived a failed start. Tree: a temporary
//! `t` and a permanent `w` under one_for_one; `t`'s start fails during
//! `restart_all`; vigil kept `t` as a stopped child and a later
//! `restart_child "t"` started it again. OTP never keeps a stopped temporary
//! child (docs/SEMANTICS.md §3): a failed start is an end, and it is removed.

use std::os::unix::fs::PermissionsExt;

use crate::support::{exit_code, q, sh, vigil_output, Scratch, Vigil};

fn both(out: &std::process::Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

const TREE: &str = "[[child]]\nname = \"t\"\ncommand = [\"x\"]\nrestart = \"temporary\"\n\n\
                    [[child]]\nname = \"w\"\ncommand = [\"x\"]\n";

const SCRIPT: &str = "[[at]]\ntime = \"1s\"\nfail_starts = \"t\"\n\n\
                      [[at]]\ntime = \"2s\"\nrequest = \"restart_all\"\npath = \"\"\n\n\
                      [[at]]\ntime = \"3s\"\nrequest = \"restart_child\"\npath = \"t\"\n";

#[test]
fn the_issue_script_removes_t_and_restart_child_finds_nothing() {
    let s = Scratch::new("temporary-sim");
    let tree = s.write("tree.toml", TREE);
    let script = s.write("script.toml", SCRIPT);
    let trace = s.p("trace.jsonl");
    let out = vigil_output(&[
        "sim",
        tree.to_str().expect("utf-8"),
        "--script",
        script.to_str().expect("utf-8"),
        "--no-random-faults",
        "--duration",
        "10s",
        "--trace",
        &trace,
    ]);
    assert_eq!(exit_code(&out), 0, "{}", both(&out));
    let lines: Vec<String> = std::fs::read_to_string(&trace)
        .expect("the trace")
        .lines()
        .map(str::to_owned)
        .collect();
    let is = |l: &str, ev: &str, path: &str| {
        l.contains(&format!("\"ev\":\"{ev}\"")) && l.contains(&format!("\"path\":\"{path}\""))
    };
    let failed = lines
        .iter()
        .position(|l| is(l, "start_failed", "t"))
        .unwrap_or_else(|| panic!("no failed start of t:\n{}", lines.join("\n")));
    let removed = lines
        .iter()
        .position(|l| is(l, "removed", "t"))
        .unwrap_or_else(|| panic!("t was never removed:\n{}", lines.join("\n")));
    assert!(removed > failed);
    assert_eq!(
        lines.iter().filter(|l| is(l, "spawn", "t")).count(),
        2,
        "{}",
        lines.join("\n")
    );
    let reply = lines
        .iter()
        .find(|l| l.contains("\"ev\":\"reply\"") && l.contains("\"op\":\"restart_child\""))
        .expect("the restart_child reply");
    assert!(reply.contains("not_found"), "{reply}");
    assert!(lines
        .iter()
        .any(|l| is(l, "spawn", "w") && l.contains("\"t\":2000000000")));
}

/// The same through `vigil run`: `t`'s program is made unexecutable before
/// `vigil ctl restart-all`, so its start fails for real (exec error).
#[test]
fn a_real_temporary_child_whose_start_fails_during_restart_all_is_removed() {
    let s = Scratch::new("temporary-run");
    let program = s.write(
        "t.sh",
        &format!("#!/bin/sh\necho $$ >> {}\nexec sleep 1000\n", q(&s.p("t.pids"))),
    );
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let w = sh(&format!("echo $$ >> {}; exec sleep 1000", q(&s.p("w.pids"))));
    let socket = s.p("vigil.sock");
    let config = s.write(
        "tree.toml",
        &format!(
            "[control]\nsocket = {}\n\n\
             [[child]]\nname = \"t\"\ncommand = [{}]\nrestart = \"temporary\"\n\n\
             [[child]]\nname = \"w\"\ncommand = {w}\n",
            q(&socket),
            q(&s.p("t.sh"))
        ),
    );
    let mut vigil = Vigil::start_supervising(&s, &config);
    let w_first = s.wait_pid(&vigil, "w.pids");
    s.wait_lines(&vigil, "t.pids", 1);
    vigil.wait_for("the control socket", || s.exists("vigil.sock"));
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o644)).expect("chmod");

    let restart_all = vigil_output(&["ctl", "--socket", &socket, "restart-all"]);
    assert_eq!(
        exit_code(&restart_all),
        1,
        "start_failed is a refusal: {}",
        both(&restart_all)
    );
    assert!(
        String::from_utf8_lossy(&restart_all.stderr).contains("start_failed"),
        "{}",
        both(&restart_all)
    );
    let w_pids = s.wait_lines(&vigil, "w.pids", 2);
    let w_second: u32 = w_pids[1].trim().parse().expect("a pid");
    assert_ne!(w_second, w_first, "w was restarted by restart_all");

    let restart_t = vigil_output(&["ctl", "--socket", &socket, "restart", "t"]);
    assert_eq!(exit_code(&restart_t), 2, "an unknown path: {}", both(&restart_t));
    assert!(
        String::from_utf8_lossy(&restart_t.stderr).contains("not_found"),
        "{}",
        both(&restart_t)
    );
    assert_eq!(s.lines("t.pids").len(), 1, "t never ran again");
    assert!(vigil.alive(w_second), "w is up");

    vigil.signal("TERM");
    assert_eq!(vigil.wait_code(), 0);
    vigil.wait_nothing_left();
    let trace = vigil.trace();
    let failed = trace.first("start_failed", "t");
    let removed = trace.first("removed", "t");
    assert!(removed > failed, "{trace}");
    assert_eq!(trace.count("spawn", "t"), 2, "{trace}");
}

//! `vigil run` and its children's logs, with real processes: log files with
//! rotation and timestamps (`[log]`, a child's `log`), a directory that
//! cannot be written and a full disk (lines dropped and counted, the child
//! never blocked), child stderr at INFO, one lifecycle line per event with
//! the child's path, and `shutdown_order = "parallel"` stopping every
//! process child at once.
//!
//! Nothing here sleeps to assert: each test waits for a file or a log line.

mod support;

use std::path::Path;

use support::*;

/// Every file of `dir` whose name starts with `prefix`, sorted.
fn files(dir: &Path, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with(prefix))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A child writing 400 numbered lines of 100 bytes to stdout and 3 to
/// stderr: its files rotate at 4 KiB, at line boundaries, the tree's
/// `[log]` inherited and its `keep` overridden; with timestamps, each line
/// starts with an RFC 3339 UTC time. Nothing is lost: with its timestamp
/// (30 bytes and a space) a line is 131 bytes, 31 of them fit in a file,
/// so 400 lines are 12 full files and one of 28 (keep = 20), each file
/// within max_size.
#[test]
fn log_files_rotate_at_line_boundaries_and_keep_every_line() {
    let s = Scratch::new("logrot");
    let logs = s.path("logs");
    let script = "i=1; while [ $i -le 400 ]; do printf 'line %04d %s\\n' $i \
                  xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; \
                  i=$((i+1)); done; echo e1 >&2; echo e2 >&2; echo e3 >&2; touch \"$DONE\"; exec sleep 1000";
    let config = s.write(
        "tree.toml",
        &format!(
            "[log]\ndir = {logs:?}\nmax_size = \"4KiB\"\nkeep = 3\n\n\
             [[child]]\nname = \"web\"\nsupervisor = {{}}\n\n\
             [[child.child]]\nname = \"chatty\"\ncommand = {}\nenv = {{ DONE = {:?} }}\n\
             log = {{ keep = 20, timestamps = true }}\n",
            sh(script),
            s.p("done")
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    v.wait_for("the child's last line", || s.exists("done"));
    let err = logs.join("web__chatty.err.log");
    v.wait_for("the stderr log", || lines_of(&err).len() == 3);
    // The last stdout line was written before `done` was touched; it reaches
    // the file once vigil read it.
    let out_files = || files(&logs, "web__chatty.out.log");
    v.wait_for("the last stdout line in the files", || {
        lines_of(&logs.join("web__chatty.out.log"))
            .last()
            .is_some_and(|l| l.ends_with(&format!("line 0400 {}", "x".repeat(90))))
    });
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());

    let names = out_files();
    assert_eq!(names.len(), 13, "{names:?}");
    // Oldest first: .12, .11, ..., .1, then the current file.
    let mut ordered: Vec<String> = (1..=12).rev().map(|n| format!("web__chatty.out.log.{n}")).collect();
    ordered.push("web__chatty.out.log".to_owned());
    let mut all = Vec::new();
    for name in &ordered {
        let path = logs.join(name);
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size <= 4096, "{name}: {size} bytes");
        let lines = lines_of(&path);
        let expected = if name.ends_with(".log") { 28 } else { 31 };
        assert_eq!(lines.len(), expected, "{name}");
        all.extend(lines);
    }
    assert_eq!(all.len(), 400);
    for (i, line) in all.iter().enumerate() {
        let (stamp, text) = line.split_once(' ').unwrap();
        assert_eq!(text, format!("line {:04} {}", i + 1, "x".repeat(90)));
        assert!(
            stamp.len() == 30 && stamp.ends_with('Z') && stamp.as_bytes()[10] == b'T',
            "not an RFC 3339 UTC time: {stamp}"
        );
    }
    let err_text: Vec<String> = lines_of(&err)
        .iter()
        .map(|l| l.split_once(' ').unwrap().1.to_owned())
        .collect();
    assert_eq!(err_text, ["e1", "e2", "e3"]);
    // Written by vigil: none of it went to vigil's own log.
    assert!(!v.log_text().contains("line 0001"), "{}", v.log_text());
}

/// A log directory that cannot be created (its parent is a file): the child
/// runs on, never blocked (it writes 1 MiB, more than a pipe holds, then a
/// marker: 1 MiB with the newlines), its lines are dropped and counted in `vigil ctl metrics`, and
/// vigil warns once, not once per line.
#[test]
fn an_unwritable_log_dir_drops_and_counts_lines_and_never_blocks_the_child() {
    let s = Scratch::new("logdeny");
    s.touch("blocker");
    let socket = s.path("ctl.sock");
    let config = s.write(
        "tree.toml",
        &format!(
            "[control]\nsocket = {:?}\n\n[[child]]\nname = \"w\"\ncommand = {}\nenv = {{ DONE = {:?} }}\n\
             log = {{ dir = {:?} }}\n",
            s.p("ctl.sock"),
            sh("head -c 1047552 /dev/zero | tr '\\0' 'x' | fold -w 1023; echo; touch \"$DONE\"; exec sleep 1000"),
            s.p("done"),
            s.p("blocker/logs"),
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    v.wait_for("the child past its output", || s.exists("done"));
    let dropped = || {
        let out = v.ctl(&socket, &["metrics"]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| {
                l.strip_prefix("vigil_log_lines_dropped_total{path=\"w\"} ")?
                    .parse::<u64>()
                    .ok()
            })
            .unwrap_or(0)
    };
    // 1023 KiB in lines of 1023 bytes (and a newline): 1024 lines.
    v.wait_for("1024 dropped lines in the metrics", || dropped() == 1024);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    let log = v.log_text();
    let warnings = log.lines().filter(|l| l.contains("cannot write the log file")).count();
    assert_eq!(warnings, 1, "one warning per episode:\n{log}");
}

/// A full disk (a 64 KiB tmpfs, mounted when the test runs as root): lines
/// are dropped and counted, one warning is logged, the child is never
/// blocked; once space is freed, writing resumes and one INFO line says how
/// many lines were lost. Skipped (with a printed reason) where the tmpfs
/// cannot be mounted.
#[test]
fn a_full_disk_drops_lines_warns_once_and_recovers() {
    let s = Scratch::new("logfull");
    let mnt = s.path("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&mnt)
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|st| st.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs at {} (not root?)", mnt.display());
        return;
    }
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&mnt);
    // Fill the tmpfs: whatever the filler could not write is what is left.
    let filler = mnt.join("filler");
    let _ = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("head -c 1000000 /dev/zero > {}", filler.display()))
        .status();
    let config = s.write(
        "tree.toml",
        &format!(
            "[[child]]\nname = \"w\"\ncommand = {}\nenv = {{ DONE = {:?}, GO = {:?} }}\n\
             log = {{ dir = {:?}, max_size = \"16KiB\", keep = 1 }}\n",
            sh(
                "head -c 261120 /dev/zero | tr '\\0' 'y' | fold -w 255; echo; touch \"$DONE\"; \
                while [ ! -e \"$GO\" ]; do sleep 0.05; done; echo after; exec sleep 1000"
            ),
            s.p("done"),
            s.p("go"),
            mnt.join("logs").to_str().unwrap(),
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    v.wait_for("the child past its output", || s.exists("done"));
    v.wait_log(&["cannot write the log file", "path=\"w\""]);
    std::fs::remove_file(&filler).unwrap();
    s.touch("go");
    v.wait_log(&["writing the log file again", "path=\"w\"", "lines_dropped="]);
    let out = mnt.join("logs").join("w.out.log");
    v.wait_for("the line written after space was freed", || {
        lines_of(&out).last().is_some_and(|l| l == "after")
    });
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    let log = v.log_text();
    // A batch that fits the last free bytes of the disk may be written
    // between failures: each episode of failures has one warning and one
    // line when writing works again, never one per line (1024 lines).
    let warnings = log.lines().filter(|l| l.contains("cannot write the log file")).count();
    let recoveries = log.lines().filter(|l| l.contains("writing the log file again")).count();
    assert!(
        warnings >= 1 && warnings == recoveries && warnings < 20,
        "{warnings} warnings, {recoveries} recoveries:\n{log}"
    );
    // Every line in the files is whole.
    for name in files(&mnt.join("logs"), "w.out.log") {
        for line in lines_of(&mnt.join("logs").join(&name)) {
            assert!(
                line == "after" || line == "y".repeat(255),
                "{name}: a cut line {line:?}"
            );
        }
    }
}

/// In tracing mode (no `log`), a child's stderr line is logged at INFO with
/// `stream="stderr"`, as its stdout is.
#[test]
fn child_stderr_is_logged_at_info() {
    let s = Scratch::new("stderrinfo");
    let config = s.write(
        "tree.toml",
        &format!(
            "[[child]]\nname = \"w\"\ncommand = {}\nenv = {{ DONE = {:?} }}\n",
            sh("echo to-stdout; echo to-stderr >&2; touch \"$DONE\"; exec sleep 1000"),
            s.p("done")
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    v.wait_log(&["to-stderr", "stream=\"stderr\""]);
    v.wait_log(&["to-stdout", "stream=\"stdout\""]);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0);
    let log = v.log_text();
    let line = log.lines().find(|l| l.contains("to-stderr")).unwrap();
    assert!(line.contains(" INFO vigil::child: to-stderr path=\"w\""), "{line}");
}

/// Each lifecycle event of a child is one log line with its path: started
/// (with its process group), ready (a notify child), exited (with the
/// reason, normal ones too), restart (with the supervisor), restart delayed
/// (with the delay), stopping and the shutdown exit; none is logged twice.
#[test]
fn lifecycle_events_are_logged_once_each_with_the_childs_path() {
    let s = Scratch::new("lifecycle");
    let starts = s.p("starts");
    let config = s.write(
        "tree.toml",
        &format!(
            "[supervisor]\nintensity = 10\n\n\
             [[child]]\nname = \"app\"\nsupervisor = {{}}\n\n\
             [[child.child]]\nname = \"flaky\"\ncommand = {}\n\
             backoff = {{ initial = \"50ms\", max = \"50ms\" }}\n\n\
             [[child.child]]\nname = \"notify\"\nreadiness = \"notify\"\ncommand = {}\n",
            sh(&format!(
                "echo x >> {starts}; if [ $(wc -l < {starts}) -lt 2 ]; then exit 3; fi; exec sleep 1000"
            )),
            sh("systemd-notify --ready; exec sleep 1000"),
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    v.wait_log(&["ready", "path=\"app/notify\""]);
    s.wait_lines(&v, "starts", 2);
    v.wait_log(&["started", "path=\"app/flaky\"", "generation="]);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    let log = v.log_text();
    let tree_lines: Vec<&str> = log.lines().filter(|l| l.contains("vigil::tree:")).collect();
    let count = |parts: &[&str]| {
        tree_lines
            .iter()
            .filter(|l| parts.iter().all(|p| l.contains(p)))
            .count()
    };
    let all = tree_lines.join("\n");
    assert_eq!(
        count(&[" WARN ", "exited path=\"app/flaky\"", "reason=error(exit code 3)"]),
        1,
        "{all}"
    );
    assert_eq!(
        count(&["restart path=\"app/flaky\"", "supervisor=\"app\"", "strategy=OneForOne"]),
        1,
        "{all}"
    );
    assert_eq!(
        count(&["restart delayed path=\"app/flaky\"", "delay_ms=50"]),
        1,
        "{all}"
    );
    assert_eq!(count(&["started path=\"app/flaky\"", "pgid="]), 2, "{all}");
    assert_eq!(count(&["started path=\"app/notify\""]), 1, "{all}");
    assert_eq!(count(&[" INFO ", "ready path=\"app/notify\""]), 1, "{all}");
    for child in ["app/flaky", "app/notify"] {
        assert_eq!(
            count(&[" INFO ", &format!("stopping path=\"{child}\""), "pgid="]),
            1,
            "{all}"
        );
        assert_eq!(
            count(&[" INFO ", &format!("exited path=\"{child}\""), "reason=shutdown"]),
            1,
            "{all}"
        );
    }
}

/// `shutdown_order = "parallel"`: 20 process children that trap SIGTERM,
/// write a file and exit after a drain are all asked to stop before any of
/// them exits (each waits, before exiting, until all 20 got SIGTERM: in
/// `reverse` order this would deadlock until each shutdown timeout), and
/// vigil waits for all of them.
#[test]
fn parallel_shutdown_stops_every_process_child_at_once_and_waits_for_all() {
    let s = Scratch::new("parallel");
    let got = s.path("got");
    std::fs::create_dir_all(&got).unwrap();
    let mut config = String::from("[supervisor]\nshutdown_order = \"parallel\"\n");
    for i in 0..20 {
        let script = format!(
            "trap 'touch {got}/{i}; \
             while [ $(ls {got} | wc -l) -lt 20 ]; do sleep 0.02; done; \
             touch {done}/{i}; exit 0' TERM; \
             echo $$ > {pids}/{i}; while :; do sleep 0.05; done",
            got = got.display(),
            done = s.p("exited"),
            pids = s.p("pids"),
        );
        config.push_str(&format!(
            "\n[[child]]\nname = \"c{i:02}\"\nshutdown = \"20s\"\ncommand = {}\n",
            sh(&script)
        ));
    }
    std::fs::create_dir_all(s.path("exited")).unwrap();
    std::fs::create_dir_all(s.path("pids")).unwrap();
    let config = s.write("tree.toml", &config);
    let mut v = Vigil::start_supervising(&s, &config);
    v.wait_for("20 children running", || files(&s.path("pids"), "").len() == 20);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    assert_eq!(files(&got, "").len(), 20, "every child got SIGTERM");
    assert_eq!(files(&s.path("exited"), "").len(), 20, "every child drained and exited");
    let trace = v.trace();
    for i in 0..20 {
        let path = format!("c{i:02}");
        assert_eq!(trace.count("kill", &path), 0, "{path} was killed:\n{trace}");
        assert_eq!(trace.all("exited", &path).last().unwrap().reason, "normal");
    }
}

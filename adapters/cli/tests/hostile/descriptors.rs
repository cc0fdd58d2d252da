//! Class 4, descriptor starvation: control connections must never take the
//! descriptors that process children need. `vigil run` under a low
//! open-files limit (`ulimit -n`, soft and hard, so vigil cannot raise it)
//! with 240 children (2 descriptors each in vigil: their output pipes) and
//! 60 idle control connections: the connections the
//! budget has no room for are refused with a clear error, a crash is
//! restarted, every other child keeps its PID, and vigil's descriptors stay
//! within the budget. A spawn that does run out of descriptors in vigil is a
//! distinct, logged failure.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::support::{metric_on, q, sh, string_field, Scratch, Vigil, SAFETY};

/// Connect and ask for `workers`: `Ok(stream)` if admitted (kept open,
/// idle), `Err(refusal line)` if refused.
fn connect(socket: &Path) -> Result<UnixStream, String> {
    let mut s = UnixStream::connect(socket).expect("connect to the control socket");
    s.set_read_timeout(Some(SAFETY)).unwrap();
    // A refused client may find the server's end closed already: read anyway.
    let _ = s.write_all(b"{\"op\":\"workers\"}\n");
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).expect("an answer line");
    if line.contains("\"ok\":true") {
        Ok(s)
    } else {
        Err(line)
    }
}

#[test]
fn two_hundred_forty_children_and_sixty_connections_under_ulimit_560() {
    const SLEEPERS: usize = 239;
    let s = Scratch::new("fd-starve");
    let socket = s.path("ctl.sock");
    let mut config = format!(
        "[control]\nsocket = {}\n\n[[child]]\nname = \"crash\"\nshutdown = \"brutal\"\ncommand = {}\n",
        q(&s.p("ctl.sock")),
        sh(&format!(
            "echo $$ >> {pids}; while [ ! -e {t} ]; do sleep 0.05; done; rm -f {t}; exit 1",
            pids = s.p("crash.pids"),
            t = s.p("trigger")
        ))
    );
    for i in 0..SLEEPERS {
        config.push_str(&format!(
            "\n[[child]]\nname = \"s{i}\"\nshutdown = \"brutal\"\ncommand = {}\n",
            sh(&format!("echo $$ > {}; exec sleep 100000", s.p(&format!("s{i}.pid"))))
        ));
    }
    let cfg = s.write("tree.toml", &config);
    // 240 × 2 reserved + 48 for vigil itself leave 32 for connections.
    let mut vigil = Vigil::start_with_nofile(&s, &cfg, 560);
    let pids: Vec<u32> = (0..SLEEPERS)
        .map(|i| s.wait_pid(&vigil, &format!("s{i}.pid")))
        .collect();
    s.wait_lines(&vigil, "crash.pids", 1);
    vigil.wait_for("the control socket", || socket.exists());
    let fds_before = vigil.open_fds();

    // 60 idle control connections: the budget admits what 1024 leaves once
    // the 240 children and vigil itself have their share, refuses the rest.
    let mut admitted = Vec::new();
    let mut refusals = Vec::new();
    for _ in 0..60 {
        match connect(&socket) {
            Ok(c) => admitted.push(c),
            Err(line) => refusals.push(line),
        }
    }
    assert!(
        !admitted.is_empty() && !refusals.is_empty(),
        "{} admitted",
        admitted.len()
    );
    let allowed = metric_on(&admitted[0], "vigil_control_connections_allowed");
    assert_eq!(admitted.len() as u64, allowed);
    for r in &refusals {
        assert!(r.contains("\"code\":\"too_many_connections\""), "{r}");
        assert!(
            r.contains("descriptor budget allows: its open-files limit is 560"),
            "{r}"
        );
        assert!(r.contains("its 240 process children reserve 480 descriptors"), "{r}");
    }
    // `vigil ctl` is refused with the same clear error (exit 1).
    let out = vigil.ctl(&socket, &["status"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("too_many_connections"));
    let fds_open = vigil.open_fds();
    assert!(
        fds_open <= fds_before + admitted.len() + 2 && fds_open < 560,
        "{fds_before} descriptors before, {fds_open} with {} connections",
        admitted.len()
    );

    // A crash: restarted, nobody else touched.
    s.touch("trigger");
    s.wait_lines(&vigil, "crash.pids", 2);
    vigil.wait_for("the restarted crash child waits again", || !s.exists("trigger"));
    for (i, pid) in pids.iter().enumerate() {
        assert!(vigil.alive(*pid), "s{i} (pid {pid}) is gone");
        assert_eq!(s.lines(&format!("s{i}.pid")), [pid.to_string()], "s{i} was restarted");
    }
    assert!(vigil.open_fds() <= fds_open + 2, "{} descriptors", vigil.open_fds());
    assert!(
        !vigil.log_text().contains("out of file descriptors"),
        "{}",
        vigil.log_text()
    );

    // Connections closed: operators get in again.
    drop(admitted);
    vigil.wait_for("vigil ctl is admitted again", || {
        vigil.ctl(&socket, &["status"]).status.success()
    });
    vigil.signal("TERM");
    assert_eq!(vigil.wait_code(), 0, "{}", vigil.log_text());
    vigil.wait_nothing_left();
    let trace = vigil.trace();
    assert_eq!(trace.count("spawn", "crash"), 2, "{trace}");
    assert!(
        trace.find(|l| l.ev == "start_failed" || l.ev == "give_up").is_none(),
        "{trace}"
    );
    for i in 0..SLEEPERS {
        assert_eq!(trace.count("spawn", &format!("s{i}")), 1);
    }
}

#[test]
fn a_spawn_out_of_descriptors_in_vigil_is_a_distinct_logged_failure() {
    let s = Scratch::new("fd-emfile");
    let mut config = String::new();
    for i in 0..12 {
        config.push_str(&format!(
            "[[child]]\nname = \"c{i}\"\nshutdown = \"brutal\"\ncommand = [\"sleep\", \"100000\"]\n\n"
        ));
    }
    let cfg = s.write("tree.toml", &config);
    // 12 children need 24 descriptors (their output pipes), vigil a dozen
    // more at start and one for its spawner: some spawn fails for lack of
    // descriptors in vigil.
    let mut vigil = Vigil::start_with_nofile(&s, &cfg, 32);
    assert_eq!(vigil.wait_code(), 1, "{}", vigil.log_text());
    vigil.wait_nothing_left();
    let log = vigil.log_text();
    assert!(log.contains("the open-files limit is low"), "{log}");
    assert!(
        log.lines().any(|l| l.contains("ERROR")
            && l.contains("vigil is out of file descriptors (EMFILE)")
            && l.contains("limit=32")),
        "{log}"
    );
    let trace = vigil.trace();
    let failed = trace
        .0
        .iter()
        .find(|l| l.ev == "start_failed")
        .unwrap_or_else(|| panic!("no start_failed in the trace:\n{trace}"));
    let error = string_field(&failed.raw, "error").unwrap_or_default();
    assert!(
        error.starts_with("vigil is out of file descriptors (its limit is 32): cannot start `sleep`"),
        "{}",
        failed.raw
    );
}

//! Suspended vigil: `vigil run` is stopped (SIGSTOP: a debugger, a
//! suspended laptop, an overloaded host) while its child keeps sending
//! `WATCHDOG=1`. On SIGCONT the health deadline has long passed, but the
//! heartbeats sent in time are queued in the child's notify socket: they
//! must be handled before the deadline fires, so the healthy child keeps
//! running with the same pid. A child that really falls silent is still
//! killed for `health`: the watchdog is not disabled.

use crate::support::*;

/// A `notify` worker with a 1 s health timeout that sends `WATCHDOG=1`
/// every 200 ms, appending a line to `beats` after each.
fn beating_tree(s: &Scratch) -> std::path::PathBuf {
    let beat_py = s.write(
        "beat.py",
        &format!(
            "import os, socket, time\n\
             s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
             open({pid}, 'a').write('%d\\n' % os.getpid())\n\
             s.sendto(b'READY=1', os.environ['NOTIFY_SOCKET'])\n\
             while True:\n    \
                 s.sendto(b'WATCHDOG=1', os.environ['NOTIFY_SOCKET'])\n    \
                 with open({beats}, 'a') as f: f.write('beat\\n')\n    \
                 time.sleep(0.2)\n",
            pid = q(&s.p("hb.pid")),
            beats = q(&s.p("beats")),
        ),
    );
    s.write(
        "tree.toml",
        &format!(
            "[supervisor]\nintensity = 20\nperiod = \"10s\"\n\n\
             [[child]]\nname = \"hb\"\nreadiness = \"notify\"\nhealth_timeout = \"1s\"\nshutdown = \"200ms\"\n\
             command = [\"python3\", {}]\n",
            q(beat_py.to_str().expect("UTF-8"))
        ),
    )
}

/// The number of complete lines of the marker file `name`.
fn count(s: &Scratch, name: &str) -> usize {
    s.lines(name).len()
}

#[test]
fn heartbeats_queued_while_vigil_was_stopped_are_handled_before_the_health_deadline() {
    let s = Scratch::new("suspended");
    let config = beating_tree(&s);
    let mut v = Vigil::start_supervising(&s, &config);
    let pid = s.wait_pid(&v, "hb.pid");
    let child = Proc::of(pid).expect("the child runs");
    s.wait_lines(&v, "beats", 3);
    // Three stops, each far longer than the health timeout (the issue saw
    // the spurious kill in 4 runs of 4).
    for round in 1..=3 {
        v.signal("STOP");
        v.wait_for("vigil to be stopped", || state(v.pid()) == Some('T'));
        // 8 beats at 200 ms: 1.6 s, past the health deadline, while vigil
        // sleeps. (Not many more: the socket queues `net.unix.max_dgram_qlen`
        // datagrams, 10 by default, and the child's next `sendto` blocks
        // until vigil reads; it is still healthy.)
        let before = count(&s, "beats");
        v.wait_for("the child to keep beating", || count(&s, "beats") >= before + 8);
        v.signal("CONT");
        v.wait_for("vigil to run again", || state(v.pid()) != Some('T'));
        // vigil notices it ran late, then handles the queued heartbeats
        // first; more beats after that prove it carried on with the child.
        v.wait_for(&format!("the late wake-up of round {round}"), || {
            v.log_text().matches("the driver ran late").count() >= round
        });
        let after = count(&s, "beats");
        v.wait_for("more beats after SIGCONT", || count(&s, "beats") >= after + 3);
        assert_eq!(
            Proc::of(pid),
            Some(child),
            "the child was replaced; log:\n{}",
            v.log_text()
        );
        assert!(v.alive(pid));
    }
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    let trace = v.trace();
    assert_eq!(trace.count("timeout", "hb"), 0, "a spurious health kill:\n{trace}");
    assert_eq!(trace.count("spawn", "hb"), 1, "{trace}");
    assert!(trace.count("heartbeat", "hb") >= 30, "{trace}");
    assert_eq!(s.lines("hb.pid").len(), 1, "one run only");
    v.wait_nothing_left();
}

#[test]
fn a_child_that_really_stops_beating_is_still_killed_for_health() {
    let s = Scratch::new("silent");
    let config = beating_tree(&s);
    let mut v = Vigil::start_supervising(&s, &config);
    let pid = s.wait_pid(&v, "hb.pid");
    s.wait_lines(&v, "beats", 3);
    // The child itself is stopped: no heartbeat is queued anywhere.
    send("STOP", &[pid]);
    v.wait_for("the next run (the silent one was killed for health)", || {
        s.lines("hb.pid").len() >= 2
    });
    v.wait_gone("the silent run", pid);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    let trace = v.trace();
    let timeouts = trace.all("timeout", "hb");
    assert!(!timeouts.is_empty(), "{trace}");
    assert_eq!(timeouts[0].reason, "health", "{}", timeouts[0].raw);
    let exit = trace.all("exited", "hb")[0];
    assert_eq!(exit.reason, "health", "{}", exit.raw);
    assert_eq!(exit.gen, timeouts[0].gen);
    v.wait_nothing_left();
}

//! `vigil run` end to end, with real processes: restarts, transient exits,
//! shutdown timeouts, process groups, dying with vigil, sd_notify readiness and
//! watchdog, SIGHUP reloads, the second signal, exit codes, and the command
//! order compared with `vigil sim`.
//!
//! Nothing here sleeps to assert: a test waits for a condition (a file a child
//! writes, a process gone, a line in vigil's log, vigil's signal handlers being
//! installed) by polling, with a generous timeout only as a safety net, and
//! checks the engine's decisions in the trace once vigil has exited (the trace
//! is buffered: it is complete only then). Times are only compared through the
//! trace's `t` values, which are the engine's own.
//!
//! Every process a test starts carries a unique environment variable (vigil's
//! children inherit vigil's environment), so the guard can find and SIGKILL
//! whatever is left, grandchildren and orphans included, even when a test fails.

mod support;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;
// ---------------------------------------------------------------------------
// Restarts

/// A worker that crashes is restarted (one_for_one), with a new generation
/// each time; its sibling is untouched.
#[test]
fn a_crashed_child_is_restarted() {
    let s = Scratch::new("crash");
    let starts = s.p("crash.starts");
    // Crashes (exit 3) on its first three runs, then stays up.
    let crash = format!(
        "echo $VIGIL_GENERATION >> {starts}; \
         if [ $(wc -l < {starts}) -gt 3 ]; then exec sleep 1000; fi; exit 3"
    );
    let config = s.write(
        "tree.toml",
        &format!(
            "[supervisor]\nintensity = 10\nperiod = \"10s\"\n\n\
             [[child]]\nname = \"steady\"\ncommand = [\"sleep\", \"1000\"]\n\n\
             [[child]]\nname = \"crash\"\ncommand = {}\n",
            sh(&crash)
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    let gens = s.wait_lines(&v, "crash.starts", 4);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());

    let trace = v.trace();
    let exits = trace.all("exited", "crash");
    assert_eq!(exits.len(), 4, "three crashes and the shutdown:\n{trace}");
    for e in &exits[..3] {
        assert_eq!(e.reason, "error(exit code 3)", "{}", e.raw);
    }
    assert_eq!(exits[3].reason, "shutdown");
    // Every crash is followed by the root's restart decision and a new run.
    for e in &exits[..3] {
        let i = trace.find(|l| l.raw == e.raw).expect("the exit line");
        let restart = &trace.0[i + 1];
        assert!(
            restart.ev == "restart" && restart.path.is_empty() && restart.child == "crash",
            "after {}: {}",
            e.raw,
            restart.raw
        );
        let spawn = &trace.0[i + 2];
        assert!(spawn.is("spawn", "crash") && spawn.gen > e.gen, "{}", spawn.raw);
    }
    let spawned: Vec<String> = trace
        .all("spawn", "crash")
        .iter()
        .map(|l| l.gen.expect("a generation").to_string())
        .collect();
    assert_eq!(spawned, gens, "each run saw its own generation");
    assert_eq!(trace.count("spawn", "steady"), 1, "{trace}");
    assert!(trace.first("stop", "steady") > trace.shutdown_request(), "{trace}");
    v.wait_nothing_left();
}

/// A transient worker that exits normally is not restarted; one that exits
/// abnormally is.
#[test]
fn a_transient_child_that_exits_normally_is_not_restarted() {
    let s = Scratch::new("transient");
    let once = format!("echo $VIGIL_GENERATION >> {}; exit 0", s.p("once.starts"));
    let oops_starts = s.p("oops.starts");
    let oops = format!(
        "echo $VIGIL_GENERATION >> {oops_starts}; \
         if [ $(wc -l < {oops_starts}) -gt 1 ]; then exec sleep 1000; fi; exit 1"
    );
    let config = s.write(
        "tree.toml",
        &format!(
            "[supervisor]\nintensity = 10\nperiod = \"10s\"\n\n\
             [[child]]\nname = \"once\"\nrestart = \"transient\"\ncommand = {}\n\n\
             [[child]]\nname = \"oops\"\nrestart = \"transient\"\ncommand = {}\n\n\
             [[child]]\nname = \"steady\"\ncommand = [\"sleep\", \"1000\"]\n",
            sh(&once),
            sh(&oops)
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    s.wait_lines(&v, "oops.starts", 2);
    // The engine has decided about `once` when it logs its exit (a restart
    // would be decided in the same step).
    v.wait_exit_handled("once");
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());

    let trace = v.trace();
    assert_eq!(s.lines("once.starts").len(), 1);
    assert_eq!(trace.count("spawn", "once"), 1, "{trace}");
    let exits = trace.all("exited", "once");
    assert_eq!(exits.len(), 1, "{trace}");
    assert_eq!(exits[0].reason, "normal");
    assert!(
        trace.find(|l| l.ev == "restart" && l.child == "once").is_none(),
        "a transient child's normal exit caused a restart:\n{trace}"
    );
    assert!(trace.find(|l| l.is("stop", "once")).is_none(), "{trace}");

    assert_eq!(trace.all("exited", "oops")[0].reason, "error(exit code 1)");
    assert!(
        trace.find(|l| l.ev == "restart" && l.child == "oops").is_some(),
        "a transient child's abnormal exit is restarted:\n{trace}"
    );
    assert_eq!(trace.count("spawn", "oops"), 2, "{trace}");
    v.wait_nothing_left();
}

// ---------------------------------------------------------------------------
// Stopping: timeouts and process groups

/// A child that ignores SIGTERM is SIGKILLed when its shutdown timeout runs
/// out, not before, with its whole process group; the ordered shutdown then
/// goes on with the next sibling.
#[test]
fn a_child_that_traps_sigterm_is_killed_after_its_shutdown_timeout() {
    let s = Scratch::new("stubborn");
    // The background sleep inherits the ignored SIGTERM: only SIGKILL ends it.
    let stubborn = format!(
        "trap '' TERM; sleep 1000 & echo $! > {gc}; echo $$ > {pid}; while :; do sleep 0.05; done",
        gc = s.p("grandchild.pid"),
        pid = s.p("stubborn.pid")
    );
    let config = s.write(
        "tree.toml",
        &format!(
            "[[child]]\nname = \"polite\"\ncommand = [\"sleep\", \"1000\"]\n\n\
             [[child]]\nname = \"stubborn\"\nshutdown = \"300ms\"\ncommand = {}\n",
            sh(&stubborn)
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    let leader = s.wait_pid(&v, "stubborn.pid");
    let grandchild = s.wait_pid(&v, "grandchild.pid");
    assert!(v.alive(leader) && v.alive(grandchild));
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    v.wait_gone("the stubborn leader", leader);
    v.wait_gone("the stubborn leader's child", grandchild);

    let trace = v.trace();
    let stop = &trace.0[trace.first("stop", "stubborn")];
    let kill = &trace.0[trace.first("kill", "stubborn")];
    assert_eq!(stop.gen, kill.gen);
    assert!(
        kill.t - stop.t >= 300_000_000,
        "killed {} ns after the stop, before the 300 ms timeout:\n{trace}",
        kill.t - stop.t
    );
    let exit = trace.first("exited", "stubborn");
    assert_eq!(trace.0[exit].reason, "killed", "{trace}");
    // Reverse start order: `polite` is stopped only once `stubborn` is gone.
    assert!(trace.first("stop", "polite") > exit, "{trace}");
    assert_eq!(trace.count("kill", "polite"), 0, "{trace}");
    v.wait_nothing_left();
}

/// When a group leader exits by itself, what is left of its process group
/// (here a child that ignores SIGTERM) is killed with it.
#[test]
fn grandchildren_die_with_their_group_when_the_leader_exits() {
    let s = Scratch::new("family");
    let family = format!(
        "trap '' TERM; sleep 1000 & echo $! > {gc}; \
         while [ ! -e {go} ]; do sleep 0.02; done; exit 3",
        gc = s.p("grandchild.pid"),
        go = s.p("go")
    );
    let config = s.write(
        "tree.toml",
        &format!(
            "[[child]]\nname = \"family\"\nrestart = \"temporary\"\ncommand = {}\n\n\
             [[child]]\nname = \"steady\"\ncommand = [\"sleep\", \"1000\"]\n",
            sh(&family)
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    let grandchild = s.wait_pid(&v, "grandchild.pid");
    assert!(v.alive(grandchild));
    s.touch("go");
    v.wait_gone("the leader's child", grandchild);
    v.wait_exit_handled("family");
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    let trace = v.trace();
    assert_eq!(trace.all("exited", "family")[0].reason, "error(exit code 3)", "{trace}");
    assert_eq!(trace.count("spawn", "family"), 1, "temporary: not restarted:\n{trace}");
    v.wait_nothing_left();
}

/// `kill -9` of vigil leaves no process of the tree behind: not the direct
/// children (group leaders, nested ones too), not their own children (shells
/// that start `sleep`s in the background, one ignoring SIGTERM), not the
/// process guards. Each run's guard sees its control socket close when the
/// kernel closes vigil's descriptors, and SIGKILLs its whole process group.
#[test]
fn no_process_of_the_tree_outlives_a_kill_9_of_vigil() {
    let s = Scratch::new("kill9");
    let solo = format!("echo $$ > {}; exec sleep 1000", s.p("solo.pid"));
    let family = |name: &str| {
        format!(
            "sleep 1000 & echo $! > {gc1}; (trap '' TERM; exec sleep 1000) & echo $! > {gc2}; \
             echo $$ > {pid}; wait",
            gc1 = s.p(&format!("{name}.gc1.pid")),
            gc2 = s.p(&format!("{name}.gc2.pid")),
            pid = s.p(&format!("{name}.pid"))
        )
    };
    let config = s.write(
        "tree.toml",
        &format!(
            "[[child]]\nname = \"solo\"\ncommand = {}\n\n\
             [[child]]\nname = \"family\"\ncommand = {}\n\n\
             [[child]]\nname = \"pool\"\nsupervisor = {{ strategy = \"one_for_all\" }}\n\
             \x20 [[child.child]]\n  name = \"inner\"\n  command = {}\n\n\
             \x20 [[child.child]]\n  name = \"clan\"\n  command = {}\n",
            sh(&solo),
            sh(&family("family")),
            sh(&family("inner")),
            sh(&family("clan"))
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    let mut pids = vec![("solo".to_owned(), s.wait_pid(&v, "solo.pid"))];
    for name in ["family", "inner", "clan"] {
        for file in [
            format!("{name}.pid"),
            format!("{name}.gc1.pid"),
            format!("{name}.gc2.pid"),
        ] {
            pids.push((file.clone(), s.wait_pid(&v, &file)));
        }
    }
    for (what, pid) in &pids {
        assert!(v.alive(*pid), "{what} ({pid}) runs before the kill");
    }
    let everything = tagged(&v.tag);
    assert!(
        everything.len() > pids.len() + 1,
        "vigil, its guards and the {} processes above: {everything:?}",
        pids.len()
    );
    v.signal("KILL");
    let status = v.wait_exit();
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status:?}");
    for (what, pid) in &pids {
        v.wait_gone(what, *pid);
    }
    // The guards, and anything else the tree started.
    v.wait_nothing_left();
}

// ---------------------------------------------------------------------------
// sd_notify

/// A `notify` worker's READY=1 (from `systemd-notify --ready`, and from a
/// plain datagram to `$NOTIFY_SOCKET`) gates the start of the next sibling.
#[test]
fn sd_notify_readiness_gates_the_next_sibling() {
    let s = Scratch::new("notify");
    let first = format!(
        "echo $$ > {pid}; while [ ! -e {go} ]; do sleep 0.02; done; systemd-notify --ready; exec sleep 1000",
        pid = s.p("first.pid"),
        go = s.p("go")
    );
    let second_py = s.write(
        "second.py",
        &format!(
            "import os, socket, time\n\
             with open({pid}, 'w') as f:\n    f.write(str(os.getpid()) + '\\n')\n\
             while not os.path.exists({go}):\n    time.sleep(0.02)\n\
             s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
             s.sendto(b'STATUS=warming up\\nREADY=1', os.environ['NOTIFY_SOCKET'])\n\
             time.sleep(1000)\n",
            pid = q(&s.p("second.pid")),
            go = q(&s.p("go2"))
        ),
    );
    let third = format!("echo $$ > {}; exec sleep 1000", s.p("third.pid"));
    let config = s.write(
        "tree.toml",
        &format!(
            "[[child]]\nname = \"first\"\nreadiness = \"notify\"\ncommand = {}\n\n\
             [[child]]\nname = \"second\"\nreadiness = \"notify\"\ncommand = [\"python3\", {}]\n\n\
             [[child]]\nname = \"third\"\ncommand = {}\n",
            sh(&first),
            q(second_py.to_str().expect("UTF-8")),
            sh(&third)
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    s.wait_pid(&v, "first.pid");
    // `first` is up but cannot be ready before `go`: nothing after it exists.
    assert!(!s.exists("second.pid") && !s.exists("third.pid"));
    s.touch("go");
    s.wait_pid(&v, "second.pid");
    assert!(!s.exists("third.pid"));
    s.touch("go2");
    s.wait_pid(&v, "third.pid");
    // The pid file can be written before vigil hears that `third` started:
    // wait for the tree to finish starting before asking it to stop.
    v.wait_log(&["path=\"\"", "notice=SupStarted"]);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());

    let trace = v.trace();
    let ready_first = trace.first("ready", "first");
    let ready_second = trace.first("ready", "second");
    assert!(trace.first("spawn", "second") > ready_first, "{trace}");
    assert!(trace.first("spawn", "third") > ready_second, "{trace}");
    assert!(ready_second > ready_first);
    assert!(
        trace.first("sup_started", "") > trace.first("started", "third"),
        "{trace}"
    );
    v.wait_nothing_left();
}

/// A worker with a `health_timeout` that never sends WATCHDOG=1 is killed
/// and restarted with reason `health`; one that keeps sending it is left alone.
#[test]
fn a_missed_watchdog_restarts_the_child_with_reason_health() {
    let s = Scratch::new("watchdog");
    let beat_py = s.write(
        "beat.py",
        "import os, socket, time\n\
         s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
         s.sendto(b'READY=1', os.environ['NOTIFY_SOCKET'])\n\
         while True:\n    s.sendto(b'WATCHDOG=1', os.environ['NOTIFY_SOCKET'])\n    time.sleep(0.05)\n",
    );
    let silent = format!("echo $VIGIL_GENERATION >> {}; exec sleep 1000", s.p("silent.starts"));
    let config = s.write(
        "tree.toml",
        &format!(
            "[supervisor]\nintensity = 20\nperiod = \"10s\"\n\n\
             [[child]]\nname = \"beating\"\nreadiness = \"notify\"\nhealth_timeout = \"3s\"\n\
             command = [\"python3\", {}]\n\n\
             [[child]]\nname = \"silent\"\nhealth_timeout = \"300ms\"\ncommand = {}\n",
            q(beat_py.to_str().expect("UTF-8")),
            sh(&silent)
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    s.wait_lines(&v, "silent.starts", 3);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());

    let trace = v.trace();
    let timeouts = trace.all("timeout", "silent");
    assert!(timeouts.len() >= 2, "{trace}");
    for t in &timeouts {
        assert_eq!(t.reason, "health", "{}", t.raw);
        let i = trace.find(|l| l.raw == t.raw).expect("the timeout line");
        let exit = trace.0[i..]
            .iter()
            .find(|l| l.is("exited", "silent"))
            .expect("the exit after the timeout");
        assert_eq!(exit.gen, t.gen);
        assert_eq!(exit.reason, "health", "{}", exit.raw);
        let j = trace.find(|l| l.raw == exit.raw).expect("the exit line");
        assert!(
            trace.0[j + 1].ev == "restart" && trace.0[j + 1].child == "silent",
            "{}",
            trace.0[j + 1].raw
        );
        assert!(trace.0[j + 2].is("spawn", "silent") && trace.0[j + 2].gen > t.gen);
    }
    // The first health timeout comes when the timeout has run out since the start.
    let started = &trace.0[trace.first("started", "silent")];
    assert!(timeouts[0].t - started.t >= 300_000_000, "{trace}");
    // The heartbeats were seen, and kept `beating` alive.
    assert!(trace.count("heartbeat", "beating") > 0, "{trace}");
    assert_eq!(trace.count("timeout", "beating"), 0, "{trace}");
    assert_eq!(trace.count("spawn", "beating"), 1, "{trace}");
    v.wait_nothing_left();
}

/// A child over its `memory_limit` is evicted by the memory monitor: the
/// engine stops it, its exit reads as `memory`, and it is restarted; a child
/// within its limit is left alone. Exercises the config wiring end to end:
/// each worker's `memory_limit` and the `[monitor]` table.
#[test]
fn a_child_over_its_memory_limit_is_restarted_with_reason_memory() {
    let s = Scratch::new("memory");
    // `tail` buffers its whole input while it waits for the end of a line.
    let hog = |mib: u64, starts: &str| {
        format!(
            "echo $VIGIL_GENERATION >> {}; {{ head -c {} /dev/zero; exec sleep 1000; }} | tail",
            s.p(starts),
            mib << 20
        )
    };
    let config = s.write(
        "tree.toml",
        &format!(
            "[supervisor]\nintensity = 20\nperiod = \"10s\"\n\n\
             [monitor]\ninterval = \"50ms\"\n\n\
             [[child]]\nname = \"hog\"\nmemory_limit = \"16MiB\"\ncommand = {}\n\n\
             [[child]]\nname = \"calm\"\nmemory_limit = \"64MiB\"\ncommand = {}\n",
            sh(&hog(48, "hog.starts")),
            sh(&hog(4, "calm.starts"))
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    s.wait_lines(&v, "hog.starts", 2);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());

    let trace = v.trace();
    let evicted = &trace.0[trace.first("evict", "hog")];
    assert_eq!(evicted.reason, "memory", "{}", evicted.raw);
    let i = trace.find(|l| l.raw == evicted.raw).expect("the evict line");
    let after: Vec<&Line> = trace.0[i + 1..]
        .iter()
        .filter(|l| l.path == "hog" || l.child == "hog")
        .collect();
    assert!(after[0].is("stop", "hog") && after[0].gen == evicted.gen, "{trace}");
    assert!(after[1].is("exited", "hog") && after[1].reason == "memory", "{trace}");
    assert_eq!(after[2].ev, "restart", "{trace}");
    assert!(after[3].is("spawn", "hog") && after[3].gen > evicted.gen, "{trace}");
    assert_eq!(trace.count("evict", "calm"), 0, "{trace}");
    assert_eq!(trace.count("spawn", "calm"), 1, "{trace}");
    v.wait_nothing_left();
}

// ---------------------------------------------------------------------------
// SIGHUP reload

/// The `command` of a worker that appends `version generation pid $X` to
/// `<name>.starts` on every start, then sleeps.
fn recorder(s: &Scratch, name: &str, version: &str) -> String {
    sh(&format!(
        "echo {version} $VIGIL_GENERATION $$ $X >> {}; exec sleep 1000",
        s.p(&format!("{name}.starts"))
    ))
}

/// Fields of the last line of `name.starts`: version, generation, pid, $X.
fn last_start(s: &Scratch, name: &str) -> Vec<String> {
    let lines = s.lines(&format!("{name}.starts"));
    let last = lines.last().unwrap_or_else(|| panic!("{name} never started"));
    last.split_whitespace().map(str::to_owned).collect()
}

fn pid_of(s: &Scratch, name: &str) -> u32 {
    last_start(s, name)[2].parse().expect("a pid")
}

/// SIGHUP applies the diff between the running config and the file: removed
/// children are stopped and deleted, changed ones (command, env, spec, or
/// anything in a nested supervisor) are replaced by a new generation, new
/// ones are started, and unchanged ones (workers and supervisors) are not touched.
#[test]
fn sighup_reloads_the_config_diff() {
    let s = Scratch::new("reload");
    let v1 = format!(
        "[[child]]\nname = \"a\"\ncommand = {a}\n\n\
         [[child]]\nname = \"b\"\ncommand = {b}\n\n\
         [[child]]\nname = \"c\"\ncommand = {c}\n\n\
         [[child]]\nname = \"e\"\ncommand = {e}\nenv = {{ X = \"one\" }}\n\n\
         [[child]]\nname = \"s\"\nshutdown = \"1s\"\ncommand = {sp}\n\n\
         [[child]]\nname = \"m\"\nsupervisor = {{ strategy = \"one_for_all\" }}\n\
         \x20 [[child.child]]\n  name = \"x\"\n  command = {mx}\n\n\
         [[child]]\nname = \"n\"\nsupervisor = {{ strategy = \"one_for_all\" }}\n\
         \x20 [[child.child]]\n  name = \"x\"\n  command = {nx}\n\
         \x20 [[child.child]]\n  name = \"y\"\n  command = {ny}\n",
        a = recorder(&s, "a", "v1"),
        b = recorder(&s, "b", "v1"),
        c = recorder(&s, "c", "v1"),
        e = recorder(&s, "e", "v1"),
        sp = recorder(&s, "s", "v1"),
        mx = recorder(&s, "mx", "v1"),
        nx = recorder(&s, "nx", "v1"),
        ny = recorder(&s, "ny", "v1"),
    );
    // b removed; c's command, e's env, s's shutdown timeout and n/y's command
    // changed; d added; a and m unchanged.
    let v2 = format!(
        "[[child]]\nname = \"a\"\ncommand = {a}\n\n\
         [[child]]\nname = \"c\"\ncommand = {c}\n\n\
         [[child]]\nname = \"e\"\ncommand = {e}\nenv = {{ X = \"two\" }}\n\n\
         [[child]]\nname = \"s\"\nshutdown = \"2s\"\ncommand = {sp}\n\n\
         [[child]]\nname = \"m\"\nsupervisor = {{ strategy = \"one_for_all\" }}\n\
         \x20 [[child.child]]\n  name = \"x\"\n  command = {mx}\n\n\
         [[child]]\nname = \"n\"\nsupervisor = {{ strategy = \"one_for_all\" }}\n\
         \x20 [[child.child]]\n  name = \"x\"\n  command = {nx}\n\
         \x20 [[child.child]]\n  name = \"y\"\n  command = {ny}\n\n\
         [[child]]\nname = \"d\"\ncommand = {d}\n",
        a = recorder(&s, "a", "v1"),
        c = recorder(&s, "c", "v2"),
        e = recorder(&s, "e", "v1"),
        sp = recorder(&s, "s", "v1"),
        mx = recorder(&s, "mx", "v1"),
        nx = recorder(&s, "nx", "v1"),
        ny = recorder(&s, "ny", "v2"),
        d = recorder(&s, "d", "v2"),
    );
    let config = s.write("tree.toml", &v1);
    let mut v = Vigil::start_supervising(&s, &config);
    for name in ["a", "b", "c", "e", "s", "mx", "nx", "ny"] {
        s.wait_lines(&v, &format!("{name}.starts"), 1);
    }
    let before: Vec<(&str, u32)> = ["a", "b", "c", "e", "s", "mx", "nx", "ny"]
        .into_iter()
        .map(|n| (n, pid_of(&s, n)))
        .collect();
    let old = |n: &str| before.iter().find(|(m, _)| *m == n).expect("a child").1;

    s.write("tree.toml", &v2);
    v.signal("HUP");
    s.wait_lines(&v, "d.starts", 1);
    for name in ["c", "e", "s", "nx", "ny"] {
        s.wait_lines(&v, &format!("{name}.starts"), 2);
    }
    for name in ["b", "c", "e", "s", "nx", "ny"] {
        v.wait_gone(name, old(name));
    }
    // Unchanged: the same processes, never restarted.
    for name in ["a", "mx"] {
        assert!(v.alive(old(name)), "{name} was stopped by the reload");
        assert_eq!(s.lines(&format!("{name}.starts")).len(), 1, "{name} restarted");
    }
    assert_eq!(s.lines("b.starts").len(), 1, "b was started again");
    assert_eq!(last_start(&s, "c")[0], "v2", "c runs its new command");
    assert_eq!(last_start(&s, "e")[3], "two", "e runs with its new environment");
    assert_eq!(last_start(&s, "ny")[0], "v2");
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());

    let trace = v.trace();
    let shutdown = trace.shutdown_request();
    let before_shutdown = |ev: &str, path: &str| -> Vec<Line> {
        trace.0[..shutdown].iter().filter(|l| l.is(ev, path)).cloned().collect()
    };
    // a and m (and m/x) untouched.
    for path in ["a", "m/x"] {
        assert_eq!(trace.count("spawn", path), 1, "{path}:\n{trace}");
        assert!(before_shutdown("stop", path).is_empty(), "{path} stopped:\n{trace}");
    }
    assert!(before_shutdown("sup_stop", "m").is_empty(), "{trace}");
    // b stopped and deleted, never started again.
    assert_eq!(before_shutdown("stop", "b").len(), 1, "{trace}");
    assert_eq!(before_shutdown("removed", "b").len(), 1, "{trace}");
    assert_eq!(trace.count("spawn", "b"), 1, "{trace}");
    assert!(trace.first("removed", "b") < shutdown);
    // Replaced: stopped, then a new generation.
    for path in ["c", "e", "s", "n/x", "n/y"] {
        let spawns = before_shutdown("spawn", path);
        assert_eq!(spawns.len(), 2, "{path}:\n{trace}");
        assert!(spawns[1].gen > spawns[0].gen, "{path}");
        let stop = before_shutdown("stop", path);
        assert_eq!(stop.len(), 1, "{path}:\n{trace}");
        assert_eq!(stop[0].gen, spawns[0].gen, "{path}");
        assert!(stop[0].t <= spawns[1].t);
    }
    // Replaced in place (replace_child): never removed, so they keep their
    // position (`a_reload_keeps_the_config_order` checks the order itself).
    for path in ["c", "e", "s", "n"] {
        assert!(before_shutdown("removed", path).is_empty(), "{path}:\n{trace}");
    }
    assert_eq!(before_shutdown("spawn", "d").len(), 1, "{trace}");
    v.wait_nothing_left();
}

/// A config that no longer loads is refused on SIGHUP: the tree runs on unchanged.
#[test]
fn sighup_with_a_broken_config_changes_nothing() {
    let s = Scratch::new("reload-bad");
    let config = s.write(
        "tree.toml",
        &format!("[[child]]\nname = \"a\"\ncommand = {}\n", recorder(&s, "a", "v1")),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    s.wait_lines(&v, "a.starts", 1);
    let a = pid_of(&s, "a");
    s.write("tree.toml", "[[child]]\nname = \"a\"\ncomand = [\"true\"]\n");
    v.signal("HUP");
    v.wait_log(&["reload failed"]);
    assert!(v.alive(a));
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    let trace = v.trace();
    assert_eq!(trace.count("spawn", "a"), 1, "{trace}");
    assert!(trace.first("stop", "a") > trace.shutdown_request(), "{trace}");
    v.wait_nothing_left();
}

/// After a reload that replaces a child in the middle, the running tree keeps
/// the config's order, as a fresh start of the same file would: under
/// rest_for_one, a crash of the replaced `b` still restarts `c` (which the
/// config puts after it), and the ordered shutdown stops c, b, a.
#[test]
fn a_reload_keeps_the_config_order() {
    let s = Scratch::new("reload-order");
    // The new `b` crashes once, when the test says so, then stays up.
    let b_v2 = sh(&format!(
        "echo v2 $VIGIL_GENERATION $$ >> {starts}; \
         if [ ! -e {crashed} ]; then while [ ! -e {go} ]; do sleep 0.02; done; touch {crashed}; exit 3; fi; \
         exec sleep 1000",
        starts = s.p("b.starts"),
        crashed = s.p("crashed"),
        go = s.p("go")
    ));
    let tree = |b: &str| {
        format!(
            "[supervisor]\nstrategy = \"rest_for_one\"\nintensity = 5\nperiod = \"10s\"\n\n\
             [[child]]\nname = \"a\"\ncommand = {}\n\n\
             [[child]]\nname = \"b\"\ncommand = {b}\n\n\
             [[child]]\nname = \"c\"\ncommand = {}\n",
            recorder(&s, "a", "v1"),
            recorder(&s, "c", "v1"),
        )
    };
    let config = s.write("tree.toml", &tree(&recorder(&s, "b", "v1")));
    let mut v = Vigil::start_supervising(&s, &config);
    s.wait_lines(&v, "c.starts", 1);
    s.write("tree.toml", &tree(&b_v2));
    v.signal("HUP");
    s.wait_lines(&v, "b.starts", 2);
    v.wait_log(&["reloaded"]);
    let c_starts = s.lines("c.starts").len();
    s.touch("go");
    s.wait_lines(&v, "b.starts", 3);
    // rest_for_one starts `c` again after `b`: wait for it, or the shutdown
    // could come first and find `c` still stopped.
    s.wait_lines(&v, "c.starts", c_starts + 1);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    let trace = v.trace();

    // rest_for_one: `b`'s crash stops `c` before `b` starts again.
    let crash = trace
        .find(|l| l.is("exited", "b") && l.reason == "error(exit code 3)")
        .unwrap_or_else(|| panic!("no crash of b:\n{trace}"));
    let respawn = crash
        + trace.0[crash..]
            .iter()
            .position(|l| l.is("spawn", "b"))
            .unwrap_or_else(|| panic!("b was not restarted:\n{trace}"));
    assert!(
        trace.0[crash..respawn].iter().any(|l| l.is("stop", "c")),
        "after the reload replaced `b`, rest_for_one no longer restarts `c` (after `b` in the config) \
         when `b` crashes:\n{trace}"
    );
    let shutdown = trace.shutdown_request();
    let stops: Vec<&str> = trace.0[shutdown..]
        .iter()
        .filter(|l| l.ev == "stop")
        .map(|l| l.path.as_str())
        .collect();
    assert_eq!(
        stops,
        ["c", "b", "a"],
        "after replacing `b`, the shutdown order is not the config's reverse order:\n{trace}"
    );
    v.wait_nothing_left();
}

/// A SIGHUP during the ordered shutdown starts nothing new.
#[test]
fn a_sighup_during_the_shutdown_starts_nothing() {
    let s = Scratch::new("reload-while-stopping");
    // Takes its time to stop: until the test releases it.
    let slow = sh(&format!(
        "trap 'echo term >> {got}; while [ ! -e {release} ]; do sleep 0.02; done; exit 0' TERM; \
         echo $$ > {pid}; while :; do sleep 0.05; done",
        got = s.p("got-term"),
        release = s.p("release"),
        pid = s.p("slow.pid")
    ));
    let v1 = format!(
        "[[child]]\nname = \"a\"\ncommand = {a}\n\n\
         [[child]]\nname = \"slow\"\nshutdown = \"1m\"\ncommand = {slow}\n",
        a = recorder(&s, "a", "v1"),
    );
    let v2 = format!("{v1}\n[[child]]\nname = \"d\"\ncommand = {}\n", recorder(&s, "d", "v2"));
    let config = s.write("tree.toml", &v1);
    let mut v = Vigil::start_supervising(&s, &config);
    s.wait_pid(&v, "slow.pid");
    v.signal("TERM");
    s.wait_lines(&v, "got-term", 1);
    s.write("tree.toml", &v2);
    v.signal("HUP");
    // A reload during a shutdown is ignored (docs/ADAPTER.md): nothing starts.
    v.wait_log(&["SIGHUP during shutdown"]);
    s.touch("release");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    assert!(!s.exists("d.starts"), "a child was started during the shutdown");
    let trace = v.trace();
    assert_eq!(trace.count("spawn", "d"), 0, "{trace}");
    assert!(
        trace.find(|l| l.ev == "request" && l.op == "start_child").is_none(),
        "the reload still acted:\n{trace}"
    );
    v.wait_nothing_left();
}

/// vigil keeps handling SIGTERM while a reload waits for a removed child that
/// is slow to stop: the first SIGTERM starts the ordered shutdown, the second
/// kills everything (exit 130), without waiting for the child's shutdown
/// timeout (1 minute here).
#[test]
fn signals_are_handled_while_a_reload_waits_for_a_slow_stop() {
    let s = Scratch::new("slow-reload");
    // Ignores SIGTERM (records it): only its 1 minute timeout or a kill ends it.
    let slow = sh(&format!(
        "trap 'echo term >> {got}' TERM; echo $$ > {pid}; while :; do sleep 0.05; done",
        got = s.p("got-term"),
        pid = s.p("slow.pid")
    ));
    let v1 = format!(
        "[[child]]\nname = \"a\"\ncommand = {a}\n\n\
         [[child]]\nname = \"slow\"\nshutdown = \"1m\"\ncommand = {slow}\n",
        a = recorder(&s, "a", "v1"),
    );
    let v2 = format!("[[child]]\nname = \"a\"\ncommand = {}\n", recorder(&s, "a", "v1"));
    let config = s.write("tree.toml", &v1);
    let mut v = Vigil::start_supervising(&s, &config);
    s.wait_lines(&v, "a.starts", 1);
    s.wait_pid(&v, "slow.pid");
    s.write("tree.toml", &v2);
    v.signal("HUP");
    // The reload is removing `slow`, which refuses to stop.
    s.wait_lines(&v, "got-term", 1);
    v.signal("TERM");
    // Safety net shorter than the 1 minute timeout: normally milliseconds.
    v.wait_for_within(
        Duration::from_secs(10),
        "the SIGTERM sent during the reload to be handled",
        || v.log_text().contains("shutting the tree down in order"),
    );
    v.signal("TERM");
    assert_eq!(v.wait_code(), 130, "log:\n{}", v.log_text());
    v.wait_nothing_left();
}

// ---------------------------------------------------------------------------
// Signals and exit codes

/// A second SIGTERM during the ordered shutdown kills everything at once:
/// exit 130, no process left (grandchildren included).
#[test]
fn a_second_sigterm_kills_everything_and_exits_130() {
    let s = Scratch::new("second-term");
    // Ignores SIGTERM (its background child too) but records it; its shutdown
    // timeout is far away, so only the second signal can end it.
    let stubborn = format!(
        "trap '' TERM; sleep 1000 & echo $! > {gc}; trap 'echo term >> {got}' TERM; \
         echo $$ > {pid}; while :; do sleep 0.05; done",
        gc = s.p("grandchild.pid"),
        got = s.p("got-term"),
        pid = s.p("stubborn.pid")
    );
    let config = s.write(
        "tree.toml",
        &format!(
            "[[child]]\nname = \"steady\"\ncommand = {}\n\n\
             [[child]]\nname = \"stubborn\"\nshutdown = \"1m\"\ncommand = {}\n",
            sh(&format!("echo $$ > {}; exec sleep 1000", s.p("steady.pid"))),
            sh(&stubborn)
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    let pids = [
        s.wait_pid(&v, "steady.pid"),
        s.wait_pid(&v, "stubborn.pid"),
        s.wait_pid(&v, "grandchild.pid"),
    ];
    v.signal("TERM");
    // The ordered shutdown has asked `stubborn` to stop, and it refuses.
    s.wait_lines(&v, "got-term", 1);
    assert!(pids.iter().all(|&p| v.alive(p)));
    v.signal("TERM");
    assert_eq!(v.wait_code(), 130, "log:\n{}", v.log_text());
    v.wait_nothing_left();
    let trace = v.trace();
    assert!(trace.find(|l| l.is("stop", "stubborn")).is_some(), "{trace}");
    assert!(trace.find(|l| l.is("stop", "steady")).is_none(), "{trace}");
    // The trace records the kills of the second signal, one per live run.
    assert!(trace.find(|l| l.is("kill", "stubborn")).is_some(), "{trace}");
    assert!(trace.find(|l| l.is("kill", "steady")).is_some(), "{trace}");
}

/// SIGINT shuts the tree down in order, like SIGTERM: exit 0.
#[test]
fn sigint_shuts_down_in_order_and_exits_0() {
    let s = Scratch::new("sigint");
    let config = s.write(
        "tree.toml",
        &format!(
            "[[child]]\nname = \"a\"\ncommand = {}\n\n\
             [[child]]\nname = \"b\"\ncommand = {}\n",
            recorder(&s, "a", "v1"),
            recorder(&s, "b", "v1")
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    s.wait_lines(&v, "b.starts", 1);
    v.signal("INT");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    let trace = v.trace();
    let stops: Vec<&str> = trace
        .0
        .iter()
        .filter(|l| l.ev == "stop")
        .map(|l| l.path.as_str())
        .collect();
    assert_eq!(stops, ["b", "a"], "{trace}");
    let last = trace.0.iter().rev().find(|l| l.ev == "tree_down").expect("tree_down");
    assert_eq!(last.reason, "shutdown");
    v.wait_nothing_left();
}

/// The root supervisor gives up (restart intensity exceeded): the tree goes
/// down by itself and vigil exits 1, whether or not other children were still
/// running when it gave up.
#[test]
fn the_root_giving_up_exits_1() {
    let s = Scratch::new("give-up");
    // With a sibling left to stop after the give-up.
    let with_sibling = s.write(
        "sibling.toml",
        "[supervisor]\nintensity = 1\nperiod = \"10s\"\n\n\
         [[child]]\nname = \"ok\"\ncommand = [\"sleep\", \"1000\"]\n\n\
         [[child]]\nname = \"crash\"\ncommand = [\"sh\", \"-c\", \"exit 3\"]\n",
    );
    let mut v = Vigil::start(&s, &with_sibling);
    assert_eq!(v.wait_code(), 1, "log:\n{}", v.log_text());
    let trace = v.trace();
    assert_eq!(trace.count("give_up", ""), 1, "{trace}");
    assert_eq!(trace.count("spawn", "crash"), 2, "{trace}");
    v.wait_nothing_left();
    drop(v);

    // Alone: the tree is down in the same step as the give-up. Run it a few
    // times: the exit code must not depend on timing.
    let alone = s.write(
        "alone.toml",
        "[supervisor]\nintensity = 1\nperiod = \"10s\"\n\n\
         [[child]]\nname = \"crash\"\ncommand = [\"sh\", \"-c\", \"exit 3\"]\n",
    );
    let mut codes = Vec::new();
    for _ in 0..50 {
        let mut v = Vigil::start(&s, &alone);
        codes.push(v.wait_code());
        let trace = v.trace();
        assert_eq!(trace.count("give_up", ""), 1, "{trace}");
    }
    assert!(
        codes.iter().all(|&c| c == 1),
        "the root gave up in every run, but the exit codes were {codes:?}"
    );
}

/// A tree whose first start fails (a program that does not exist) exits 1,
/// after stopping what it had started.
#[test]
fn a_tree_that_fails_to_start_exits_1() {
    let s = Scratch::new("failed-start");
    let config = s.write(
        "tree.toml",
        &format!(
            "[[child]]\nname = \"ok\"\ncommand = [\"sleep\", \"1000\"]\n\n\
             [[child]]\nname = \"missing\"\ncommand = [{}]\n",
            q(&s.p("no-such-program"))
        ),
    );
    let mut v = Vigil::start(&s, &config);
    assert_eq!(v.wait_code(), 1, "log:\n{}", v.log_text());
    let trace = v.trace();
    assert_eq!(trace.count("start_failed", "missing"), 1, "{trace}");
    assert!(trace.first("stop", "ok") > trace.first("start_failed", "missing"));
    let down = &trace.0[trace.first("tree_down", "")];
    assert!(down.reason.contains("failed_to_start_child"), "{}", down.raw);
    v.wait_nothing_left();
}

/// Bad input exits 2 without starting anything: an unknown key, an invalid
/// tree, a missing config, a trace that cannot be written.
#[test]
fn bad_input_exits_2() {
    let s = Scratch::new("bad-input");
    let marker = s.p("started");
    let unknown_key = s.write(
        "unknown-key.toml",
        &format!(
            "[[child]]\nname = \"a\"\ncommand = {}\nrestrat = \"permanent\"\n",
            sh(&format!("touch {marker}; exec sleep 1000"))
        ),
    );
    let duplicate = s.write(
        "duplicate.toml",
        &format!(
            "[[child]]\nname = \"a\"\ncommand = {c}\n\n[[child]]\nname = \"a\"\ncommand = {c}\n",
            c = sh(&format!("touch {marker}; exec sleep 1000"))
        ),
    );
    let good = s.write(
        "good.toml",
        &format!(
            "[[child]]\nname = \"a\"\ncommand = {}\n",
            sh(&format!("touch {marker}; exec sleep 1000"))
        ),
    );
    let tag = unique("bad-input-tag");
    let run = |args: &[&str]| {
        let err = s.path("bad-input.err");
        let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .arg("run")
            .args(args)
            .env("XDG_RUNTIME_DIR", s.path("xdg"))
            .env(TAG_VAR, &tag)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).expect("create the stderr file"))
            .spawn()
            .expect("the vigil binary starts");
        let mut status = None;
        let exited = poll(|| {
            status = child.try_wait().expect("wait for vigil");
            status.is_some()
        });
        if !exited {
            let _ = child.kill();
            let _ = child.wait();
            send("KILL", &tagged(&tag));
            panic!("`vigil run {args:?}` did not exit on bad input");
        }
        let stderr = std::fs::read_to_string(&err).unwrap_or_default();
        (status.and_then(|s| s.code()), stderr)
    };
    let no_trace_dir = s.p("no-such-dir/trace.jsonl");
    let missing = s.p("no-such-config.toml");
    let cases: [(&str, Vec<&str>, &str); 4] = [
        ("unknown key", vec![unknown_key.to_str().unwrap()], "restrat"),
        ("duplicate name", vec![duplicate.to_str().unwrap()], "duplicate.toml"),
        ("missing config", vec![&missing], "no-such-config.toml"),
        (
            "unwritable trace",
            vec![good.to_str().unwrap(), "--trace", &no_trace_dir],
            "no-such-dir",
        ),
    ];
    for (what, args, needle) in cases {
        let (code, stderr) = run(&args);
        assert_eq!(code, Some(2), "{what}: stderr:\n{stderr}");
        assert!(
            stderr.contains(needle),
            "{what}: the error does not name `{needle}`:\n{stderr}"
        );
    }
    assert!(!s.exists("started"), "a child ran although the input was bad");
    // In case one did, leave nothing behind.
    send("KILL", &tagged(&tag));
}

/// `vigil run` without a config explains what to do, as bad usage (exit 2).
#[test]
fn run_without_a_config_explains_and_exits_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("run")
        .stdin(Stdio::null())
        .output()
        .expect("the vigil binary runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    assert!(stderr.contains("needs a tree config"), "{stderr}");
    assert!(stderr.contains("[[child]]"), "a minimal config is shown:\n{stderr}");
}

// ---------------------------------------------------------------------------
// Same decisions as the simulator

/// The same config and scenario give the same spawn/stop/kill commands, in
/// the same order, from `vigil run` (real processes, real time) and from
/// `vigil sim` (the matching script, no random faults). Scenario: the tree
/// starts; `app/worker` crashes (rest_for_one restarts it and `app/after`);
/// then shutdown, where `stubborn` ignores SIGTERM and is killed after 200 ms.
#[test]
fn run_and_sim_give_the_same_command_order() {
    let s = Scratch::new("sim-vs-run");
    let worker = format!(
        "echo $VIGIL_GENERATION >> {starts}; if [ -e {crashed} ]; then exec sleep 1000; fi; \
         while [ ! -e {go} ]; do sleep 0.02; done; touch {crashed}; exit 3",
        starts = s.p("worker.starts"),
        crashed = s.p("crashed"),
        go = s.p("go")
    );
    let after = format!("echo $VIGIL_GENERATION >> {}; exec sleep 1000", s.p("after.starts"));
    let stubborn = format!(
        "trap '' TERM; echo $$ > {}; while :; do sleep 0.05; done",
        s.p("stubborn.pid")
    );
    let config = s.write(
        "tree.toml",
        &format!(
            "[supervisor]\nstrategy = \"one_for_one\"\nintensity = 10\nperiod = \"10s\"\n\n\
             [[child]]\nname = \"db\"\ncommand = [\"sleep\", \"1000\"]\n\n\
             [[child]]\nname = \"app\"\n\
             supervisor = {{ strategy = \"rest_for_one\", intensity = 5, period = \"10s\" }}\n\
             \x20 [[child.child]]\n  name = \"worker\"\n  command = {}\n\
             \x20 [[child.child]]\n  name = \"after\"\n  command = {}\n\n\
             [[child]]\nname = \"stubborn\"\nshutdown = \"200ms\"\ncommand = {}\n",
            sh(&worker),
            sh(&after),
            sh(&stubborn)
        ),
    );
    let script = s.write(
        "script.toml",
        "[[at]]\ntime = \"1s\"\nexit = \"app/worker\"\nreason = \"error\"\n\n\
         [[at]]\ntime = \"2s\"\nhang_on_stop = \"stubborn\"\n\n\
         [[at]]\ntime = \"3s\"\nrequest = \"shutdown\"\n",
    );

    // The simulator.
    let sim_trace = s.path("sim.jsonl");
    let out = Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("sim")
        .arg(&config)
        .arg("--script")
        .arg(&script)
        .arg("--no-random-faults")
        .args(["--duration", "10s", "--trace"])
        .arg(&sim_trace)
        .output()
        .expect("the vigil binary runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "vigil sim: stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let sim = Trace(
        std::fs::read_to_string(&sim_trace)
            .expect("the sim trace")
            .lines()
            .filter(|l| !l.contains("\"ev\":\"meta\""))
            .map(Line::parse)
            .collect(),
    );

    // The real run, driven through the same scenario.
    let mut v = Vigil::start_supervising(&s, &config);
    s.wait_pid(&v, "stubborn.pid"); // the whole tree is up
    s.touch("go"); // app/worker crashes
    s.wait_lines(&v, "worker.starts", 2);
    s.wait_lines(&v, "after.starts", 2);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    let real = v.trace();

    let expected: Vec<(String, String)> = [
        ("spawn", "db"),
        ("spawn", "app/worker"),
        ("spawn", "app/after"),
        ("spawn", "stubborn"),
        ("stop", "app/after"),
        ("spawn", "app/worker"),
        ("spawn", "app/after"),
        ("stop", "stubborn"),
        ("kill", "stubborn"),
        ("stop", "app/after"),
        ("stop", "app/worker"),
        ("stop", "db"),
    ]
    .iter()
    .map(|(e, p)| ((*e).to_owned(), (*p).to_owned()))
    .collect();
    assert_eq!(sim.commands(), expected, "the simulator's commands:\n{sim}");
    assert_eq!(
        real.commands(),
        sim.commands(),
        "vigil run and vigil sim disagree; run's trace:\n{real}\nsim's trace:\n{sim}"
    );
    v.wait_nothing_left();
}

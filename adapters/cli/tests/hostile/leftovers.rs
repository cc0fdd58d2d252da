//! Leftovers: after `vigil run` exits, however it exits (ordered shutdown,
//! a second signal, its driver panicking, SIGKILL), no process of the tree
//! remains in any state, zombies included. Zombies carry no environment, so
//! the processes are tracked by the pids they write (the program, its
//! grandchild) and by their process group (the guard leads it), each with
//! its start time. Restarts must leave nothing behind either: each ended run
//! is killed and reaped by its guard, and the guard by vigil.
//!
//! This matters where init does not reap orphans (some containers): a
//! zombie left to it stays forever.

use crate::support::*;

/// A worker whose program starts a grandchild and records both pids in
/// `<name>.pids` (one `program grandchild` line per run). With `stubborn`,
/// both ignore SIGTERM (only a kill ends them); otherwise the program dies
/// of SIGTERM and leaves the grandchild, which ignores it, behind.
fn worker(s: &Scratch, name: &str, stubborn: bool, shutdown: &str) -> String {
    let pids = s.p(&format!("{name}.pids"));
    let script = if stubborn {
        format!("trap '' TERM; sleep 1000 & echo \"$$ $!\" >> {pids}; while :; do sleep 0.05; done")
    } else {
        format!("(trap '' TERM; exec sleep 1000) & echo \"$$ $!\" >> {pids}; wait")
    };
    format!(
        "[[child]]\nname = {}\nshutdown = {}\ncommand = {}\n\n",
        q(name),
        q(shutdown),
        sh(&script)
    )
}

/// The processes of the first `runs` runs of `name`: program, grandchild
/// and guard (the program's process group leader), read while they run.
fn run_procs(s: &Scratch, v: &Vigil, name: &str, runs: usize) -> Vec<Proc> {
    let lines = s.wait_lines(v, &format!("{name}.pids"), runs);
    lines[..runs].iter().flat_map(|line| line_procs(name, line)).collect()
}

/// The program, grandchild and guard of one `program grandchild` line, read
/// while they run.
fn line_procs(name: &str, line: &str) -> [Proc; 3] {
    let mut pids = line.split_whitespace().map(|p| p.parse::<u32>().expect("a pid"));
    let (program, grandchild) = (pids.next().expect("program"), pids.next().expect("grandchild"));
    let program = Proc::of(program).unwrap_or_else(|| panic!("{name}: program {program} is gone already"));
    let grandchild = Proc::of(grandchild).unwrap_or_else(|| panic!("{name}: grandchild {grandchild} is gone"));
    let guard = program.pgid().and_then(Proc::of).expect("the program's guard");
    assert_ne!(guard.pid, program.pid, "{name} runs under a guard");
    [program, grandchild, guard]
}

#[test]
fn an_ordered_shutdown_leaves_no_process_and_no_zombie() {
    let s = Scratch::new("left-shutdown");
    let config = s.write(
        "tree.toml",
        &(worker(&s, "quits", false, "5s") + &worker(&s, "stubborn", true, "200ms")),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    let mut procs = run_procs(&s, &v, "quits", 1);
    procs.extend(run_procs(&s, &v, "stubborn", 1));
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    wait_reaped(&v, &procs);
    v.wait_nothing_left();
}

#[test]
fn runs_that_crash_and_restart_leave_no_zombie_behind() {
    let s = Scratch::new("left-restart");
    let pids = s.p("crashy.pids");
    // Each run leaves a grandchild behind and crashes, until the third run.
    let crashy = format!(
        "sleep 1000 & echo \"$$ $!\" >> {pids}; \
         if [ $(wc -l < {pids}) -lt 3 ]; then sleep 0.1; exit 3; fi; wait"
    );
    let config = s.write(
        "tree.toml",
        &format!(
            "[supervisor]\nintensity = 10\nperiod = \"10s\"\n\n\
             [[child]]\nname = \"crashy\"\ncommand = {}\n",
            sh(&crashy)
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    // The guard pid of a crashed run cannot be read any more: check the
    // programs and grandchildren of the crashed runs, all of the last.
    let lines = s.wait_lines(&v, "crashy.pids", 3);
    let mut procs = line_procs("crashy", &lines[2]).to_vec();
    for line in &lines[..2] {
        for pid in line.split_whitespace() {
            // Reaped already (the start time is unknown): nothing to check.
            if let Some(p) = Proc::of(pid.parse().expect("a pid")) {
                procs.push(p);
            }
        }
    }
    v.wait_exit_handled("crashy");
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    wait_reaped(&v, &procs);
    v.wait_nothing_left();
}

#[test]
fn a_second_signal_leaves_no_process_and_no_zombie() {
    let s = Scratch::new("left-second");
    let config = s.write(
        "tree.toml",
        &(worker(&s, "quits", false, "1m") + &worker(&s, "stubborn", true, "1m")),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    let mut procs = run_procs(&s, &v, "quits", 1);
    procs.extend(run_procs(&s, &v, "stubborn", 1));
    v.signal("TERM");
    // `stubborn` refuses to stop and has a minute to do so.
    v.wait_log(&["SIGTERM to the process group", "stubborn"]);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 130, "log:\n{}", v.log_text());
    wait_reaped(&v, &procs);
    v.wait_nothing_left();
}

#[test]
fn when_vigil_is_killed_every_guard_kills_and_reaps_its_run_then_exits() {
    let s = Scratch::new("left-kill9");
    let config = s.write(
        "tree.toml",
        &(worker(&s, "quits", false, "5s") + &worker(&s, "stubborn", true, "5s")),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    let mut procs = run_procs(&s, &v, "quits", 1);
    procs.extend(run_procs(&s, &v, "stubborn", 1));
    v.signal("KILL");
    assert!(v.wait_exit().code().is_none(), "vigil was killed");
    // Each program and grandchild was reaped by its guard. The guards
    // themselves end, and only the parent they were reparented to (init, or
    // a subreaper such as systemd) can reap them: vigil is gone.
    let (guards, others): (Vec<Proc>, Vec<Proc>) = procs.chunks(3).map(|c| (c[2], [c[0], c[1]])).fold(
        (Vec::new(), Vec::new()),
        |(mut g, mut o), (guard, pair)| {
            g.push(guard);
            o.extend(pair);
            (g, o)
        },
    );
    wait_reaped(&v, &others);
    v.wait_for("every guard to end", || {
        guards.iter().all(|g| matches!(g.state(), None | Some('Z' | 'X')))
    });
    v.wait_nothing_left();
}

/// A panic in vigil's driver (injected: `VIGIL_INJECT_DRIVER_PANIC`, test
/// builds only) ends `vigil run` with 70 and a clear log line, never 0, and
/// every child is killed and reaped first.
#[cfg(feature = "bug-injection")]
#[test]
fn a_driver_panic_exits_70_and_leaves_no_process_and_no_zombie() {
    let s = Scratch::new("left-panic");
    let trigger = s.p("crash-now");
    let crasher = format!(
        "echo $$ > {pid}; while [ ! -e {trigger} ]; do sleep 0.02; done; exit 1",
        pid = s.p("crasher.pid")
    );
    let config = s.write(
        "tree.toml",
        &(worker(&s, "steady", true, "5s") + &format!("[[child]]\nname = \"crasher\"\ncommand = {}\n", sh(&crasher))),
    );
    let mut v = Vigil::start_supervising_with_env(&s, &config, &[("VIGIL_INJECT_DRIVER_PANIC", "crasher")]);
    let mut procs = run_procs(&s, &v, "steady", 1);
    let crasher = Proc::of(s.wait_pid(&v, "crasher.pid")).expect("the crasher runs");
    procs.push(crasher);
    procs.extend(crasher.pgid().and_then(Proc::of));
    s.touch("crash-now");
    assert_eq!(v.wait_code(), 70, "log:\n{}", v.log_text());
    let log = v.log_text();
    assert!(log.contains("the vigil driver panicked"), "log:\n{log}");
    assert!(
        log.contains("injected driver panic at the exit of crasher"),
        "log:\n{log}"
    );
    wait_reaped(&v, &procs);
    v.wait_nothing_left();
}

//! docs/SEMANTICS.md §7: the shutdown protocol (brutal / timeout /
//! infinity), ordered tree shutdown, subtree kills, and no spawn after a
//! supervisor decided to end.

use std::time::Duration;

use vigil_core::*;
use vigil_tests::Harness;

const NS: Duration = Duration::from_nanos(1);
const T: Duration = Duration::from_millis(300);

fn w(name: &str) -> ChildSpec {
    ChildSpec::worker(name)
}

fn sup(name: &str, spec: SupervisorSpec) -> ChildSpec {
    ChildSpec::supervisor(name, spec)
}

fn terminate(h: &mut Harness, path: &str) {
    h.request(Request::TerminateChild { path: path.into() })
        .expect("terminate_child accepted");
}

fn shutdown(h: &mut Harness) {
    h.request(Request::Shutdown).expect("shutdown accepted");
}

// ----- the three policies, one run -----

#[test]
fn brutal_child_is_killed_at_once_without_a_stop() {
    let spec = SupervisorSpec::new()
        .child(w("a").shutdown(Shutdown::Brutal))
        .child(w("b"));
    let mut h = Harness::started(spec);
    let a = h.run("a");
    terminate(&mut h, "a");
    assert_eq!(h.commands(), ["kill a"]);
    assert!(h
        .events()
        .contains(&format!("exited a gen={} reason=killed", a.generation)));
    assert_eq!(h.engine().stats().stops, 0);
}

#[test]
fn brutal_child_is_killed_during_tree_shutdown() {
    let spec = SupervisorSpec::new()
        .child(w("a").shutdown(Shutdown::Brutal))
        .child(w("b"));
    let mut h = Harness::started(spec);
    shutdown(&mut h);
    assert_eq!(h.commands(), ["stop b", "kill a"]);
}

#[test]
fn timeout_child_is_stopped_and_killed_exactly_at_stop_time_plus_timeout() {
    let spec = SupervisorSpec::new().child(w("a").shutdown(Shutdown::Timeout(T)));
    let mut h = Harness::started(spec);
    h.ignore_stop("a");
    terminate(&mut h, "a");
    assert_eq!(h.commands(), ["stop a"]);
    h.advance(T - NS);
    assert_eq!(h.commands(), ["stop a"], "no kill one nanosecond before the deadline");
    h.advance(NS);
    assert_eq!(h.commands(), ["stop a", "kill a"], "kill exactly at the deadline");
    let a = h.engine().lookup("a").unwrap();
    assert_eq!(h.engine().state(a), Some(ChildState::Stopped));
}

#[test]
fn timeout_child_that_exits_in_time_is_not_killed() {
    let spec = SupervisorSpec::new().child(w("a").shutdown(Shutdown::Timeout(T)));
    let mut h = Harness::started(spec);
    h.ignore_stop("a");
    let a = h.run("a");
    terminate(&mut h, "a");
    h.advance(T - NS);
    h.stopping().remove("a");
    h.input(Input::Exited(a, ExitReason::shutdown()));
    h.advance(Duration::from_secs(3600));
    assert_eq!(h.commands(), ["stop a"]);
    assert_eq!(h.engine().stats().kills, 0);
}

#[test]
fn kill_is_never_emitted_twice_for_one_run() {
    // `a` is last, so a tree shutdown comes to it first.
    let spec = SupervisorSpec::new()
        .child(w("b"))
        .child(w("a").shutdown(Shutdown::Timeout(T)));
    let mut h = Harness::started(spec);
    h.set_auto(false);
    terminate(&mut h, "a");
    assert_eq!(h.pending_commands(), ["stop a"]);
    h.pending().clear(); // the run ignores the stop
    h.advance(T);
    assert_eq!(h.pending_commands(), ["kill a"]);
    h.pending().clear(); // and takes its time to die
    h.advance(Duration::from_secs(3600));
    // A tree shutdown on top of it does not kill it again either.
    shutdown(&mut h);
    h.advance(Duration::from_secs(3600));
    assert_eq!(h.commands(), ["stop a", "kill a"]);
    assert_eq!(h.engine().stats().kills, 1);
    // Once it is gone, the shutdown goes on with `b`.
    let a = h.run("a");
    h.input(Input::Exited(a, ExitReason::Killed));
    h.flush();
    assert_eq!(h.commands(), ["stop a", "kill a", "stop b"]);
    assert!(h.engine().is_down());
}

#[test]
fn kill_deadline_counts_from_each_runs_own_stop_time() {
    let spec = SupervisorSpec::new()
        .child(w("a").shutdown(Shutdown::Timeout(T)))
        .child(w("b").shutdown(Shutdown::Timeout(T)));
    let mut h = Harness::started(spec);
    h.ignore_stop("a").ignore_stop("b");
    shutdown(&mut h);
    assert_eq!(h.commands(), ["stop b"]);
    h.advance(T);
    // `a` is asked to stop only now, so its deadline is one T later.
    assert_eq!(h.commands(), ["stop b", "kill b", "stop a"]);
    h.advance(T - NS);
    assert_eq!(h.commands(), ["stop b", "kill b", "stop a"]);
    h.advance(NS);
    assert_eq!(h.commands(), ["stop b", "kill b", "stop a", "kill a"]);
    assert!(h.engine().is_down());
}

#[test]
fn default_worker_shutdown_is_five_seconds() {
    let mut h = Harness::started(SupervisorSpec::new().child(w("a")));
    h.ignore_stop("a");
    terminate(&mut h, "a");
    h.advance(DEFAULT_WORKER_SHUTDOWN - NS);
    assert_eq!(h.commands(), ["stop a"]);
    h.advance(NS);
    assert_eq!(h.commands(), ["stop a", "kill a"]);
}

#[test]
fn infinity_child_is_stopped_and_waited_for_for_ever() {
    let spec = SupervisorSpec::new().child(w("a").shutdown(Shutdown::Infinity));
    let mut h = Harness::started(spec);
    h.ignore_stop("a");
    let a = h.run("a");
    terminate(&mut h, "a");
    assert_eq!(h.commands(), ["stop a"]);
    for _ in 0..10 {
        h.advance(Duration::from_secs(3600));
    }
    assert_eq!(h.commands(), ["stop a"], "no kill after ten hours");
    assert_eq!(h.engine().state(a.node), Some(ChildState::Stopping));
    // It is done whenever the run finally exits.
    h.stopping().remove("a");
    h.input(Input::Exited(a, ExitReason::shutdown()));
    assert_eq!(h.engine().state(a.node), Some(ChildState::Stopped));
    assert_eq!(h.log_lines("result=ok").len(), 1);
}

#[test]
fn child_exiting_by_itself_while_being_stopped_keeps_its_own_reason() {
    let spec = SupervisorSpec::new().child(w("a")).child(w("b"));
    let mut h = Harness::started(spec);
    h.stop_reason("a", ExitReason::Error("disk full".into()));
    let a = h.run("a");
    terminate(&mut h, "a");
    assert_eq!(h.commands(), ["stop a"], "terminate never triggers a restart");
    assert!(
        h.events()
            .contains(&format!("exited a gen={} reason=error(disk full)", a.generation)),
        "{:#?}",
        h.events()
    );
    assert_eq!(h.engine().state(a.node), Some(ChildState::Stopped));
}

#[test]
fn child_exiting_by_itself_during_tree_shutdown_keeps_its_own_reason() {
    let spec = SupervisorSpec::new().child(w("a")).child(w("b"));
    let mut h = Harness::started(spec);
    h.stop_reason("b", ExitReason::Panic("in drop".into()));
    let b = h.run("b");
    shutdown(&mut h);
    assert_eq!(h.commands(), ["stop b", "stop a"]);
    assert!(h
        .events()
        .contains(&format!("exited b gen={} reason=panic(in drop)", b.generation)));
    assert!(h.log_lines("restart ").is_empty());
    assert!(h.engine().is_down());
}

// ----- tree shutdown -----

#[test]
fn tree_shutdown_is_depth_first_in_reverse_start_order() {
    let inner = SupervisorSpec::new().child(w("x")).child(w("y"));
    let spec = SupervisorSpec::new().child(w("a")).child(sup("s", inner)).child(w("b"));
    let mut h = Harness::started(spec);
    let r = h.request(Request::Shutdown);
    assert!(matches!(r, Ok(Reply::Pending(_)) | Ok(Reply::Ok)), "{r:?}");
    assert_eq!(h.commands(), ["stop b", "stop s/y", "stop s/x", "stop a"]);
    assert_eq!(
        h.events_starting("sup_exit "),
        ["sup_exit s reason=shutdown", "sup_exit / reason=shutdown"]
    );
    assert!(h.engine().is_down());
    let ev = h.events();
    let down = ev
        .iter()
        .position(|e| e == "tree_down reason=shutdown")
        .expect("tree_down");
    let reply = ev
        .iter()
        .position(|e| e.contains("shutdown path= result=ok"))
        .expect("shutdown answered");
    assert!(down < reply, "the shutdown is answered once the tree is down: {ev:#?}");
}

#[test]
fn tree_shutdown_stops_one_child_at_a_time() {
    let inner = SupervisorSpec::new().child(w("x")).child(w("y"));
    let spec = SupervisorSpec::new().child(w("a")).child(sup("s", inner)).child(w("b"));
    let mut h = Harness::started(spec);
    h.set_auto(false);
    shutdown(&mut h);
    assert_eq!(h.pending_commands(), ["stop b"]);
    assert_eq!(h.step(), ["stop s/y"]);
    assert_eq!(h.step(), ["stop s/x"]);
    assert_eq!(h.step(), ["stop a"]);
    assert_eq!(h.step(), Vec::<String>::new());
    assert!(h.engine().is_down());
}

#[test]
fn tree_shutdown_waits_for_a_child_that_ignores_stop_until_it_is_killed() {
    let spec = SupervisorSpec::new()
        .child(w("a"))
        .child(w("b").shutdown(Shutdown::Timeout(T)))
        .child(w("c"));
    let mut h = Harness::started(spec);
    h.ignore_stop("b");
    shutdown(&mut h);
    assert_eq!(h.commands(), ["stop c", "stop b"]);
    h.advance(T - NS);
    assert_eq!(h.commands(), ["stop c", "stop b"], "`a` waits for `b`");
    h.advance(NS);
    assert_eq!(h.commands(), ["stop c", "stop b", "kill b", "stop a"]);
    assert!(h.engine().is_down());
}

#[test]
fn supervisor_child_with_timeout_whose_subtree_hangs_gets_its_whole_subtree_killed_at_the_deadline() {
    let inner = SupervisorSpec::new()
        .child(w("x"))
        .child(w("y").shutdown(Shutdown::Infinity));
    let spec = SupervisorSpec::new()
        .child(w("a"))
        .child(sup("s", inner).shutdown(Shutdown::Timeout(T)));
    let mut h = Harness::started(spec);
    h.ignore_stop("s/y");
    shutdown(&mut h);
    assert_eq!(h.commands(), ["stop s/y"]);
    h.advance(T - NS);
    assert_eq!(h.commands(), ["stop s/y"]);
    h.advance(NS);
    // At s's deadline everything still alive under s is killed: y, and x which
    // was not even asked to stop yet. Then the shutdown goes on with `a`.
    assert_eq!(h.commands(), ["stop s/y", "kill s/y", "kill s/x", "stop a"]);
    h.advance(Duration::from_secs(3600));
    assert_eq!(h.engine().stats().kills, 2, "each run is killed once");
    assert!(h.engine().is_down());
}

#[test]
fn brutal_supervisor_child_kills_its_subtree_at_once() {
    let inner = SupervisorSpec::new().child(w("x")).child(w("y"));
    let spec = SupervisorSpec::new()
        .child(w("a"))
        .child(sup("s", inner).shutdown(Shutdown::Brutal))
        .child(w("b"));
    let mut h = Harness::started(spec);
    shutdown(&mut h);
    assert_eq!(h.commands(), ["stop b", "kill s/y", "kill s/x", "stop a"]);
    assert!(h.engine().is_down());
}

#[test]
fn brutal_supervisor_child_kills_its_whole_subtree_without_waiting() {
    let inner = SupervisorSpec::new().child(w("x")).child(w("y"));
    let spec = SupervisorSpec::new()
        .child(w("a"))
        .child(sup("s", inner).shutdown(Shutdown::Brutal));
    let mut h = Harness::started(spec);
    h.set_auto(false);
    terminate(&mut h, "s");
    // Both kills are out before either run has answered.
    assert_eq!(h.pending_commands(), ["kill s/y", "kill s/x"]);
    h.flush();
    assert_eq!(h.commands(), ["kill s/y", "kill s/x"]);
    assert_eq!(
        h.engine().state(h.engine().lookup("s").unwrap()),
        Some(ChildState::Stopped)
    );
}

// ----- nothing starts after the decision to end -----

#[test]
fn no_spawn_after_shutdown_is_decided_in_the_middle_of_a_restart_round() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .intensity(10)
        .child(w("a"))
        .child(w("b"))
        .child(w("c"));
    let mut h = Harness::started(spec);
    h.set_auto(false);
    h.crash("c");
    assert_eq!(h.pending_commands(), ["stop b"]);
    assert_eq!(h.step(), ["stop a"]);
    assert_eq!(h.step(), ["spawn a"]);
    // The round is starting children again when the tree is asked to shut down.
    shutdown(&mut h);
    h.flush();
    assert_eq!(h.commands(), ["stop b", "stop a", "spawn a", "stop a"]);
    assert!(h.engine().is_down());
}

#[test]
fn spawned_child_is_stopped_only_once_it_reports_started() {
    let spec = SupervisorSpec::new().intensity(10).child(w("a")).child(w("b"));
    let mut h = Harness::started(spec);
    h.set_auto(false);
    h.crash("b");
    assert_eq!(h.pending_commands(), ["spawn b"]);
    shutdown(&mut h);
    assert_eq!(
        h.pending_commands(),
        ["spawn b"],
        "no stop for a run that has not started"
    );
    assert_eq!(h.step(), ["stop b"]);
    assert_eq!(h.step(), ["stop a"]);
    assert_eq!(h.step(), Vec::<String>::new());
    assert_eq!(h.commands(), ["spawn b", "stop b", "stop a"]);
    assert!(h.engine().is_down());
}

#[test]
fn no_spawn_after_a_supervisor_gives_up_while_a_retry_is_pending() {
    let spec = SupervisorSpec::new().intensity(1).child(w("a")).child(w("b"));
    let mut h = Harness::started(spec);
    h.fail_starts("a", 5);
    h.crash("a");
    h.advance(Duration::from_secs(3600));
    assert_eq!(h.commands(), ["spawn a", "stop b"]);
    assert!(h.engine().is_down());
}

#[test]
fn pending_backoff_restart_is_cancelled_by_shutdown() {
    let backoff = Backoff::exponential(Duration::from_secs(1), Duration::from_secs(10));
    let spec = SupervisorSpec::new()
        .intensity(10)
        .child(w("a"))
        .child(w("b").backoff(backoff));
    let mut h = Harness::started(spec);
    h.crash("b");
    assert_eq!(h.log_lines("backoff b").len(), 1);
    assert_eq!(h.commands(), Vec::<String>::new(), "b waits for its backoff");
    shutdown(&mut h);
    h.advance(Duration::from_secs(60));
    assert_eq!(h.commands(), ["stop a"]);
    assert!(h.engine().is_down());
}

#[test]
fn pending_backoff_restart_is_cancelled_by_terminate_child() {
    let backoff = Backoff::exponential(Duration::from_secs(1), Duration::from_secs(10));
    let spec = SupervisorSpec::new()
        .intensity(10)
        .child(w("a"))
        .child(w("b").backoff(backoff));
    let mut h = Harness::started(spec);
    h.crash("b");
    terminate(&mut h, "b");
    h.advance(Duration::from_secs(60));
    assert_eq!(h.commands(), Vec::<String>::new());
    assert_eq!(
        h.engine().state(h.engine().lookup("b").unwrap()),
        Some(ChildState::Stopped)
    );
}

#[test]
fn subtree_kill_at_the_deadline_reaches_every_level_of_nested_supervisors() {
    let deepest = SupervisorSpec::new()
        .child(w("p"))
        .child(w("q").shutdown(Shutdown::Infinity));
    let inner = SupervisorSpec::new().child(w("x")).child(sup("s2", deepest));
    let spec = SupervisorSpec::new()
        .child(w("a"))
        .child(sup("s", inner).shutdown(Shutdown::Timeout(T)));
    let mut h = Harness::started(spec);
    h.ignore_stop("s/s2/q");
    shutdown(&mut h);
    assert_eq!(h.commands(), ["stop s/s2/q"]);
    h.advance(T - NS);
    assert_eq!(h.commands(), ["stop s/s2/q"]);
    h.advance(NS);
    assert_eq!(
        h.commands(),
        ["stop s/s2/q", "kill s/s2/q", "kill s/s2/p", "kill s/x", "stop a"]
    );
    assert_eq!(h.engine().stats().kills, 3);
    assert!(h.engine().is_down());
}

#[test]
fn brutal_kill_of_a_subtree_kills_a_spawning_run_only_once_it_has_started() {
    let inner = SupervisorSpec::new().intensity(10).child(w("x")).child(w("y"));
    let spec = SupervisorSpec::new()
        .child(w("a"))
        .child(sup("s", inner).shutdown(Shutdown::Brutal));
    let mut h = Harness::started(spec);
    h.set_auto(false);
    h.crash("s/y");
    assert_eq!(h.pending_commands(), ["spawn s/y"]);
    shutdown(&mut h);
    // `x` is killed at once; `y` has not reported Started, so it gets nothing yet.
    assert_eq!(h.pending_commands(), ["spawn s/y", "kill s/x"]);
    h.flush();
    assert_eq!(h.commands(), ["spawn s/y", "kill s/x", "kill s/y", "stop a"]);
    assert_eq!(h.engine().stats().kills, 2);
    assert!(h.engine().is_down());
}

#[test]
fn child_crashing_while_its_supervisor_is_ending_is_not_restarted() {
    let spec = SupervisorSpec::new()
        .intensity(10)
        .child(w("a"))
        .child(w("b"))
        .child(w("c").shutdown(Shutdown::Timeout(T)));
    let mut h = Harness::started(spec);
    h.ignore_stop("c");
    shutdown(&mut h);
    assert_eq!(h.commands(), ["stop c"]);
    // `a` crashes while the root is already ending: part of the stop, no restart.
    h.crash("a");
    assert_eq!(h.commands(), ["stop c"]);
    h.advance(T);
    assert_eq!(h.commands(), ["stop c", "kill c", "stop b"]);
    assert!(h.log_lines("restart ").is_empty());
    assert!(h.engine().is_down());
}

#[test]
fn kill_deadline_of_an_earlier_run_does_not_hit_a_later_run() {
    let spec = SupervisorSpec::new().child(w("a").shutdown(Shutdown::Timeout(T)));
    let mut h = Harness::started(spec);
    h.ignore_stop("a");
    let first = h.run("a");
    terminate(&mut h, "a"); // deadline at now + T
    h.advance(T / 2);
    h.stopping().remove("a");
    h.input(Input::Exited(first, ExitReason::shutdown()));
    h.request(Request::RestartChild { path: "a".into() }).unwrap();
    terminate(&mut h, "a"); // the second run's deadline: T later than this
    assert_eq!(h.commands(), ["stop a", "spawn a", "stop a"]);
    h.advance(T / 2);
    assert_eq!(
        h.commands(),
        ["stop a", "spawn a", "stop a"],
        "the first run's deadline is gone"
    );
    h.advance(T / 2 - NS);
    assert_eq!(h.commands(), ["stop a", "spawn a", "stop a"]);
    h.advance(NS);
    assert_eq!(h.commands(), ["stop a", "spawn a", "stop a", "kill a"]);
}

#[test]
fn supervisor_child_deadline_is_cancelled_once_its_subtree_is_down() {
    let inner = SupervisorSpec::new()
        .child(w("x").shutdown(Shutdown::Timeout(T)))
        .child(w("y"));
    let spec = SupervisorSpec::new()
        .child(w("a"))
        .child(sup("s", inner).shutdown(Shutdown::Timeout(T * 2)));
    let mut h = Harness::started(spec);
    h.ignore_stop("s/x");
    terminate(&mut h, "s");
    assert_eq!(h.commands(), ["stop s/y", "stop s/x"]);
    h.advance(T); // x's own deadline, before s's
    assert_eq!(h.commands(), ["stop s/y", "stop s/x", "kill s/x"]);
    assert_eq!(
        h.engine().state(h.engine().lookup("s").unwrap()),
        Some(ChildState::Stopped)
    );
    // s is started again; its old deadline (at 2T) must not touch the new runs.
    h.request(Request::RestartChild { path: "s".into() }).unwrap();
    h.advance(T * 10);
    assert_eq!(
        h.commands(),
        ["stop s/y", "stop s/x", "kill s/x", "spawn s/x", "spawn s/y"]
    );
    assert_eq!(h.engine().stats().kills, 1);
}

#[test]
fn shutdown_during_the_first_start_spawns_nothing_more() {
    let inner = SupervisorSpec::new().child(w("x")).child(w("y"));
    let spec = SupervisorSpec::new().child(w("a")).child(sup("s", inner)).child(w("b"));
    let mut h = Harness::new(spec);
    h.set_auto(false);
    h.start();
    assert_eq!(h.pending_commands(), ["spawn a"]);
    assert_eq!(h.step(), ["spawn s/x"]);
    // The tree is asked to shut down while `s/x` is still starting.
    shutdown(&mut h);
    assert_eq!(h.pending_commands(), ["spawn s/x"]);
    h.flush();
    assert_eq!(h.commands(), ["spawn a", "spawn s/x", "stop s/x", "stop a"]);
    assert!(h.engine().is_down());
}

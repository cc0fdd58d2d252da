//! docs/SEMANTICS.md §7, "Shutdown order": a supervisor whose
//! `shutdown_order` is `parallel` asks all its children to stop at the same
//! instant when it ends, each by its own policy from then on, and ends when
//! the last one has ended; restart rounds keep OTP's order.

use std::time::Duration;

use vigil_core::*;
use vigil_tests::Harness;

const NS: Duration = Duration::from_nanos(1);
const T: Duration = Duration::from_millis(300);
const HOUR: Duration = Duration::from_secs(3600);

fn w(name: &str) -> ChildSpec {
    ChildSpec::worker(name)
}

fn sup(name: &str, spec: SupervisorSpec) -> ChildSpec {
    ChildSpec::supervisor(name, spec)
}

fn parallel() -> SupervisorSpec {
    SupervisorSpec::new().shutdown_order(ShutdownOrder::Parallel)
}

fn shutdown(h: &mut Harness) -> Result<Reply, RequestError> {
    h.request(Request::Shutdown)
}

// ----- the order of the commands -----

#[test]
fn the_default_order_is_reverse() {
    assert_eq!(SupervisorSpec::new().shutdown_order, ShutdownOrder::Reverse);
    assert_eq!(ShutdownOrder::default(), ShutdownOrder::Reverse);
}

#[test]
fn a_parallel_supervisor_asks_every_child_to_stop_at_once_last_first() {
    let spec = parallel().child(w("a")).child(w("b")).child(w("c"));
    let mut h = Harness::started(spec);
    h.set_auto(false);
    let _ = shutdown(&mut h);
    // All three before any of them has answered.
    assert_eq!(h.pending_commands(), ["stop c", "stop b", "stop a"]);
    h.flush();
    assert!(h.engine().is_down());
}

#[test]
fn a_reverse_supervisor_asks_one_child_at_a_time() {
    let spec = SupervisorSpec::new().child(w("a")).child(w("b")).child(w("c"));
    let mut h = Harness::started(spec);
    h.set_auto(false);
    let _ = shutdown(&mut h);
    assert_eq!(h.pending_commands(), ["stop c"]);
}

#[test]
fn the_children_may_end_in_any_order_and_the_supervisor_ends_after_the_last() {
    let spec = parallel().child(w("a")).child(w("b")).child(w("c"));
    let mut h = Harness::started(spec);
    h.ignore_stop("a").ignore_stop("b").ignore_stop("c");
    let (a, b, c) = (h.run("a"), h.run("b"), h.run("c"));
    let answer = shutdown(&mut h);
    assert!(matches!(answer, Ok(Reply::Pending(_))), "{answer:?}");
    // The first child ends first, against start order.
    for run in [a, c] {
        h.input(Input::Exited(run, ExitReason::shutdown()));
        assert!(!h.engine().is_down());
    }
    assert!(h.log_lines("tree_down").is_empty());
    h.input(Input::Exited(b, ExitReason::shutdown()));
    assert!(h.engine().is_down());
    assert_eq!(h.commands(), ["stop c", "stop b", "stop a"]);
    let ev = h.events();
    let last_exit = ev.iter().rposition(|e| e.starts_with("exited ")).unwrap();
    let sup_exit = ev.iter().position(|e| e == "sup_exit / reason=shutdown").unwrap();
    assert!(last_exit < sup_exit, "{ev:#?}");
    assert_eq!(h.log_lines("shutdown path= result=ok").len(), 1);
}

// ----- each child's own policy, from the common instant -----

#[test]
fn each_child_is_killed_at_its_own_deadline_counted_from_the_common_stop() {
    let spec = parallel()
        .child(w("a").shutdown(Shutdown::Timeout(T)))
        .child(w("b").shutdown(Shutdown::Timeout(2 * T)))
        .child(w("c").shutdown(Shutdown::Brutal));
    let mut h = Harness::started(spec);
    h.ignore_stop("a").ignore_stop("b");
    let _ = shutdown(&mut h);
    assert_eq!(h.commands(), ["kill c", "stop b", "stop a"], "brutal: killed at once");
    h.advance(T - NS);
    assert_eq!(h.commands(), ["kill c", "stop b", "stop a"]);
    h.advance(NS);
    assert_eq!(h.commands(), ["kill c", "stop b", "stop a", "kill a"], "a at stop + T");
    assert!(!h.engine().is_down());
    h.advance(T - NS);
    assert!(!h.engine().is_down());
    h.advance(NS);
    assert_eq!(
        h.commands(),
        ["kill c", "stop b", "stop a", "kill a", "kill b"],
        "b at stop + 2T"
    );
    assert!(h.engine().is_down());
    // Sequentially, `a` would have been asked only after `b` was killed, 2T in.
    assert_eq!(h.now(), Instant::ZERO + Duration::from_secs(1) + 2 * T);
}

#[test]
fn equal_deadlines_kill_in_the_order_the_stops_were_sent() {
    let spec = parallel()
        .child(w("a").shutdown(Shutdown::Timeout(T)))
        .child(w("b").shutdown(Shutdown::Timeout(T)));
    let mut h = Harness::started(spec);
    h.ignore_stop("a").ignore_stop("b");
    let _ = shutdown(&mut h);
    h.advance(T);
    assert_eq!(h.commands(), ["stop b", "stop a", "kill b", "kill a"]);
    assert!(h.engine().is_down());
}

#[test]
fn a_child_that_ignores_stop_under_infinity_is_waited_for_and_the_others_are_not_held_up() {
    let spec = parallel()
        .child(w("a"))
        .child(w("b"))
        .child(w("c").shutdown(Shutdown::Infinity));
    let mut h = Harness::started(spec);
    h.ignore_stop("c");
    let c = h.run("c");
    let _ = shutdown(&mut h);
    assert_eq!(h.commands(), ["stop c", "stop b", "stop a"]);
    assert_eq!(h.state("a"), ChildState::Stopped, "a ended without waiting for c");
    assert_eq!(h.state("b"), ChildState::Stopped);
    for _ in 0..10 {
        h.advance(HOUR);
    }
    assert_eq!(
        h.commands(),
        ["stop c", "stop b", "stop a"],
        "never a kill under infinity"
    );
    assert!(!h.engine().is_down());
    assert_eq!(h.engine().poll_timeout(), None, "nothing to wait for but the run");
    h.stopping().remove("c");
    h.input(Input::Exited(c, ExitReason::shutdown()));
    assert!(h.engine().is_down());
}

#[test]
fn a_child_still_starting_is_stopped_the_moment_it_starts() {
    let spec = parallel().child(w("a")).child(w("b")).child(w("c"));
    let mut h = Harness::new(spec);
    h.hang_start("b");
    h.start();
    assert_eq!(h.commands(), ["spawn a", "spawn b"]);
    let _ = shutdown(&mut h);
    // `c` never started; `b` waits for its Started.
    assert_eq!(h.commands(), ["spawn a", "spawn b", "stop a"]);
    h.answer_start("b");
    assert_eq!(h.commands(), ["spawn a", "spawn b", "stop a", "stop b"]);
    assert!(h.engine().is_down());
}

#[test]
fn a_pending_backoff_is_cancelled_and_never_spawned() {
    let backoff = Backoff::exponential(Duration::from_secs(10), Duration::from_secs(60));
    let spec = parallel().intensity(5).child(w("a").backoff(backoff)).child(w("b"));
    let mut h = Harness::started(spec);
    h.crash("a");
    assert_eq!(h.state("a"), ChildState::Restarting);
    let _ = shutdown(&mut h);
    h.advance(HOUR);
    assert_eq!(h.commands(), ["stop b"]);
    assert!(h.engine().is_down());
}

// ----- nested supervisors -----

#[test]
fn a_nested_reverse_supervisor_is_told_to_stop_at_once_and_stops_its_own_children_in_order() {
    let inner = SupervisorSpec::new().child(w("x")).child(w("y"));
    let spec = parallel().child(w("a")).child(sup("s", inner)).child(w("b"));
    let mut h = Harness::started(spec);
    h.set_auto(false);
    let _ = shutdown(&mut h);
    // b, then s (whose own walk begins with y), then a: all at once.
    assert_eq!(h.pending_commands(), ["stop b", "stop s/y", "stop a"]);
    assert_eq!(h.events_starting("sup_stop "), ["sup_stop s"]);
    h.step(); // b
    assert_eq!(h.step(), ["stop a", "stop s/x"], "y's exit lets s go on to x");
    h.flush();
    assert_eq!(
        h.events_starting("sup_exit "),
        ["sup_exit s reason=shutdown", "sup_exit / reason=shutdown"]
    );
    assert!(h.engine().is_down());
}

#[test]
fn a_nested_parallel_supervisor_under_a_reverse_one_stops_all_its_children_when_reached() {
    let inner = parallel().child(w("x")).child(w("y"));
    let spec = SupervisorSpec::new().child(w("a")).child(sup("s", inner)).child(w("b"));
    let mut h = Harness::started(spec);
    h.set_auto(false);
    let _ = shutdown(&mut h);
    assert_eq!(h.pending_commands(), ["stop b"]);
    assert_eq!(h.step(), ["stop s/y", "stop s/x"]);
    h.step();
    assert_eq!(h.step(), ["stop a"], "a only after all of s has ended");
    h.flush();
    assert!(h.engine().is_down());
}

#[test]
fn nested_parallel_supervisors_stop_the_whole_tree_at_once() {
    let inner = parallel().child(w("x")).child(w("y"));
    let spec = parallel().child(w("a")).child(sup("s", inner));
    let mut h = Harness::started(spec);
    h.set_auto(false);
    let _ = shutdown(&mut h);
    assert_eq!(h.pending_commands(), ["stop s/y", "stop s/x", "stop a"]);
    h.flush();
    assert!(h.engine().is_down());
}

#[test]
fn a_supervisor_childs_deadline_kills_what_is_left_of_its_parallel_stop() {
    let inner = parallel()
        .child(w("x").shutdown(Shutdown::Infinity))
        .child(w("y").shutdown(Shutdown::Timeout(10 * T)));
    let spec = SupervisorSpec::new().child(sup("s", inner).shutdown(Shutdown::Timeout(T)));
    let mut h = Harness::started(spec);
    h.ignore_stop("s/x").ignore_stop("s/y");
    let _ = shutdown(&mut h);
    assert_eq!(h.commands(), ["stop s/y", "stop s/x"]);
    h.advance(T - NS);
    assert_eq!(h.commands(), ["stop s/y", "stop s/x"]);
    h.advance(NS);
    // s's own deadline: everything still alive under it, last first.
    assert_eq!(h.commands(), ["stop s/y", "stop s/x", "kill s/y", "kill s/x"]);
    assert!(h.engine().is_down());
}

#[test]
fn a_brutal_parallel_supervisor_child_has_its_subtree_killed() {
    let inner = parallel().child(w("x")).child(w("y"));
    let spec = SupervisorSpec::new()
        .child(sup("s", inner).shutdown(Shutdown::Brutal))
        .child(w("b"));
    let mut h = Harness::started(spec);
    let _ = shutdown(&mut h);
    assert_eq!(h.commands(), ["stop b", "kill s/y", "kill s/x"]);
    assert!(h.engine().is_down());
}

// ----- every way a supervisor ends -----

#[test]
fn a_terminated_parallel_supervisor_child_stops_its_children_at_once() {
    let inner = parallel().child(w("x")).child(w("y")).child(w("z"));
    let spec = SupervisorSpec::new().child(sup("s", inner)).child(w("b"));
    let mut h = Harness::started(spec);
    h.set_auto(false);
    let answer = h.request(Request::TerminateChild { path: "s".into() });
    assert!(matches!(answer, Ok(Reply::Pending(_))), "{answer:?}");
    assert_eq!(h.pending_commands(), ["stop s/z", "stop s/y", "stop s/x"]);
    h.flush();
    assert_eq!(h.state("s"), ChildState::Stopped);
    assert_eq!(h.state("b"), ChildState::Running);
}

#[test]
fn a_give_up_stops_the_survivors_at_once() {
    let spec = parallel().intensity(0).child(w("a")).child(w("b")).child(w("c"));
    let mut h = Harness::started(spec);
    h.set_auto(false);
    h.crash("b");
    assert_eq!(h.events_starting("give_up "), ["give_up /"]);
    assert_eq!(h.pending_commands(), ["stop c", "stop a"]);
    h.flush();
    assert_eq!(h.events_starting("tree_down "), ["tree_down reason=shutdown"]);
}

#[test]
fn auto_shutdown_ends_a_parallel_supervisor_with_its_children_stopped_at_once() {
    let spec = parallel()
        .auto_shutdown(AutoShutdown::AnySignificant)
        .child(w("a"))
        .child(w("job").restart(Restart::Transient).significant(true))
        .child(w("c"));
    let mut h = Harness::started(spec);
    h.set_auto(false);
    h.exit("job", ExitReason::Normal);
    assert_eq!(h.pending_commands(), ["stop c", "stop a"]);
}

#[test]
fn a_failed_first_start_stops_the_children_already_up_at_once() {
    let spec = parallel().child(w("a")).child(w("b")).child(w("c"));
    let mut h = Harness::new(spec);
    h.fail_starts("c", 1);
    h.set_auto(false);
    h.start();
    h.step(); // a up
    h.step(); // b up
    assert_eq!(h.pending_commands(), ["spawn c"]);
    assert_eq!(h.step(), ["stop b", "stop a"], "c failed: both at once");
    h.flush();
    assert!(h.engine().is_down());
    assert_eq!(h.engine().outcome(), Outcome::StartFailed);
}

// ----- what keeps OTP's order -----

#[test]
fn a_one_for_all_round_of_a_parallel_supervisor_keeps_reverse_order() {
    let spec = parallel()
        .strategy(Strategy::OneForAll)
        .intensity(5)
        .child(w("a"))
        .child(w("b"))
        .child(w("c"));
    let mut h = Harness::started(spec);
    h.set_auto(false);
    h.crash("a");
    assert_eq!(h.pending_commands(), ["stop c"]);
    assert_eq!(h.step(), ["stop b"]);
    assert_eq!(h.step(), ["spawn a"]);
}

#[test]
fn a_rest_for_one_round_and_restart_all_of_a_parallel_supervisor_keep_reverse_order() {
    let spec = parallel()
        .strategy(Strategy::RestForOne)
        .intensity(5)
        .child(w("a"))
        .child(w("b"))
        .child(w("c"))
        .child(w("d"));
    let mut h = Harness::started(spec);
    h.set_auto(false);
    h.crash("b");
    assert_eq!(h.pending_commands(), ["stop d"]);
    h.flush();
    h.take_commands();
    h.set_auto(false);
    let answer = h.request(Request::RestartAll {
        path: String::new(),
        mode: RestartAllMode::AllAtOnce,
    });
    assert!(matches!(answer, Ok(Reply::Pending(_))), "{answer:?}");
    assert_eq!(h.pending_commands(), ["stop d"]);
}

// ----- what happens during a parallel stop -----

#[test]
fn a_crash_during_a_parallel_stop_is_part_of_the_stop_not_a_restart() {
    let spec = parallel().intensity(0).child(w("a")).child(w("b"));
    let mut h = Harness::started(spec);
    h.ignore_stop("a").ignore_stop("b");
    let (a, b) = (h.run("a"), h.run("b"));
    let _ = shutdown(&mut h);
    assert_eq!(h.commands(), ["stop b", "stop a"]);
    h.input(Input::Exited(b, ExitReason::Error("crash while stopping".into())));
    h.input(Input::Exited(a, ExitReason::Panic("in drop".into())));
    assert!(h.log_lines("restart ").is_empty());
    assert!(h.log_lines("give_up").is_empty(), "intensity 0, and still no give-up");
    assert_eq!(h.engine().stats().spawns, 2, "nothing was spawned again");
    assert!(h.engine().is_down());
    assert!(h
        .events()
        .iter()
        .any(|e| e.ends_with("reason=error(crash while stopping)")));
}

#[test]
fn a_nested_parallel_supervisor_gives_up_while_the_tree_shuts_down_in_order() {
    let pool = parallel()
        .intensity(0)
        .child(w("p1"))
        .child(w("p2"))
        .child(w("p3").shutdown(Shutdown::Timeout(T)));
    let spec = SupervisorSpec::new()
        .child(sup("pool", pool))
        .child(w("db").shutdown(Shutdown::Infinity));
    let mut h = Harness::started(spec);
    h.ignore_stop("db").ignore_stop("pool/p3");
    let db = h.run("db");
    let _ = shutdown(&mut h);
    assert_eq!(
        h.commands(),
        ["stop db"],
        "the root waits for db before it reaches pool"
    );
    // Meanwhile pool still supervises: a crash there is its own decision.
    h.crash("pool/p1");
    assert_eq!(h.events_starting("give_up "), ["give_up pool"]);
    // p2 is not held up by p3, which ignores its stop.
    assert_eq!(h.commands(), ["stop db", "stop pool/p3", "stop pool/p2"]);
    assert_eq!(h.state("pool/p2"), ChildState::Stopped);
    h.advance(T);
    assert_eq!(
        h.commands(),
        ["stop db", "stop pool/p3", "stop pool/p2", "kill pool/p3"]
    );
    assert_eq!(
        h.state("pool"),
        ChildState::Stopped,
        "its end is part of the root's stop"
    );
    assert!(h.log_lines("restart ").is_empty());
    h.stopping().remove("db");
    h.input(Input::Exited(db, ExitReason::shutdown()));
    assert!(h.engine().is_down());
    assert_eq!(h.engine().stats().give_ups, 1);
}

#[test]
fn operator_requests_during_a_parallel_stop_are_answered() {
    let spec = parallel()
        .child(w("a").shutdown(Shutdown::Infinity))
        .child(w("b").shutdown(Shutdown::Infinity))
        .child(sup("s", SupervisorSpec::new().child(w("x"))));
    let mut h = Harness::started(spec);
    h.ignore_stop("a").ignore_stop("b");
    let a = h.run("a");
    let first = shutdown(&mut h);
    let Ok(Reply::Pending(first)) = first else {
        panic!("{first:?}")
    };
    // A live view of the stop in progress.
    let Ok(Reply::Children(kids)) = h.request(Request::WhichChildren { path: String::new() }) else {
        panic!("which_children answers at once")
    };
    let states: Vec<_> = kids.iter().map(|c| (c.name.as_str(), c.state)).collect();
    assert_eq!(
        states,
        [
            ("a", ChildState::Stopping),
            ("b", ChildState::Stopping),
            ("s", ChildState::Stopped)
        ]
    );
    assert_eq!(
        h.request(Request::TerminateChild { path: "a".into() }),
        Err(RequestError::ShuttingDown)
    );
    assert_eq!(
        h.request(Request::RestartChild { path: "s".into() }),
        Err(RequestError::ShuttingDown)
    );
    assert_eq!(
        h.request(Request::StartChild {
            parent: String::new(),
            spec: w("late")
        }),
        Err(RequestError::ShuttingDown)
    );
    // A second shutdown waits for the same end.
    let Ok(Reply::Pending(second)) = shutdown(&mut h) else {
        panic!("pending")
    };
    h.stopping().remove("a");
    h.input(Input::Exited(a, ExitReason::shutdown()));
    assert!(!h.engine().is_down(), "b still runs");
    let b = h.run("b");
    h.stopping().remove("b");
    h.input(Input::Exited(b, ExitReason::shutdown()));
    assert!(h.engine().is_down());
    for id in [first, second] {
        assert_eq!(h.log_lines(&format!("reply {id} shutdown path= result=ok")).len(), 1);
    }
    assert_eq!(h.log_lines("spawn ").len(), 0, "nothing started during the stop");
}

//! docs/SEMANTICS.md §4: what each strategy's restart does, command by command.

use std::time::Duration;

use vigil_core::*;
use vigil_tests::Harness;

fn w(name: &str) -> ChildSpec {
    ChildSpec::worker(name)
}

fn started(strategy: Strategy, children: &[&str]) -> Harness {
    let mut spec = SupervisorSpec::new().strategy(strategy).intensity(10);
    for c in children {
        spec = spec.child(w(c));
    }
    Harness::started(spec)
}

// ----- one_for_one -----

#[test]
fn one_for_one_restarts_only_the_failed_child() {
    let mut h = started(Strategy::OneForOne, &["a", "b", "c", "d"]);
    h.crash("b");
    assert_eq!(h.commands(), ["spawn b"]);
    assert_eq!(h.events_starting("restart "), ["restart / child=b strategy=OneForOne"]);
}

// ----- one_for_all -----

#[test]
fn one_for_all_stops_others_in_reverse_order_then_starts_all_in_order() {
    let mut h = started(Strategy::OneForAll, &["a", "b", "c", "d"]);
    h.crash("b");
    assert_eq!(
        h.commands(),
        ["stop d", "stop c", "stop a", "spawn a", "spawn b", "spawn c", "spawn d"]
    );
    assert_eq!(h.events_starting("restart "), ["restart / child=b strategy=OneForAll"]);
    assert_eq!(h.engine().stats().restart_decisions, 1);
}

#[test]
fn one_for_all_stops_and_starts_one_child_at_a_time() {
    let mut h = started(Strategy::OneForAll, &["a", "b", "c", "d"]);
    h.set_auto(false);
    h.crash("b");
    // Each step answers the one outstanding command; only then does the next appear.
    assert_eq!(h.pending_commands(), ["stop d"]);
    assert_eq!(h.step(), ["stop c"]);
    assert_eq!(h.step(), ["stop a"]);
    assert_eq!(h.step(), ["spawn a"]);
    assert_eq!(h.step(), ["spawn b"]);
    assert_eq!(h.step(), ["spawn c"]);
    assert_eq!(h.step(), ["spawn d"]);
    assert_eq!(h.step(), Vec::<String>::new());
    assert_eq!(
        h.commands(),
        ["stop d", "stop c", "stop a", "spawn a", "spawn b", "spawn c", "spawn d"]
    );
}

#[test]
fn one_for_all_of_the_last_child_stops_all_earlier_ones() {
    let mut h = started(Strategy::OneForAll, &["a", "b", "c"]);
    h.crash("c");
    assert_eq!(h.commands(), ["stop b", "stop a", "spawn a", "spawn b", "spawn c"]);
}

#[test]
fn one_for_all_also_starts_transient_children_that_had_stopped_normally() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .intensity(10)
        .child(w("a"))
        .child(w("t").restart(Restart::Transient))
        .child(w("c"));
    let mut h = Harness::started(spec);
    h.exit("t", ExitReason::Normal);
    assert_eq!(h.commands(), Vec::<String>::new());
    h.crash("c");
    // `t` is not running, so it gets no stop; but it is started again with everybody.
    assert_eq!(h.commands(), ["stop a", "spawn a", "spawn t", "spawn c"]);
    assert_eq!(
        h.engine().state(h.engine().lookup("t").unwrap()),
        Some(ChildState::Running)
    );
}

#[test]
fn one_for_all_also_starts_children_terminated_by_request() {
    let mut h = started(Strategy::OneForAll, &["a", "b", "c"]);
    h.request(Request::TerminateChild { path: "b".into() }).unwrap();
    assert_eq!(h.take_commands(), ["stop b"]);
    h.crash("c");
    assert_eq!(h.commands(), ["stop a", "spawn a", "spawn b", "spawn c"]);
}

#[test]
fn one_for_all_removes_temporary_siblings_it_stops_instead_of_restarting_them() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .intensity(10)
        .child(w("a"))
        .child(w("tmp").restart(Restart::Temporary))
        .child(w("c"));
    let mut h = Harness::started(spec);
    h.crash("c");
    assert_eq!(h.commands(), ["stop tmp", "stop a", "spawn a", "spawn c"]);
    assert_eq!(h.events_starting("removed "), ["removed tmp"]);
    assert_eq!(h.engine().lookup("tmp"), None);
}

// ----- rest_for_one -----

#[test]
fn rest_for_one_stops_later_children_last_first_then_starts_failed_and_later_in_order() {
    let mut h = started(Strategy::RestForOne, &["a", "b", "c", "d"]);
    h.crash("b");
    // `a`, before the failed child, gets no command at all.
    assert_eq!(h.commands(), ["stop d", "stop c", "spawn b", "spawn c", "spawn d"]);
    assert_eq!(h.events_starting("restart "), ["restart / child=b strategy=RestForOne"]);
}

#[test]
fn rest_for_one_stops_and_starts_one_child_at_a_time() {
    let mut h = started(Strategy::RestForOne, &["a", "b", "c", "d"]);
    h.set_auto(false);
    h.crash("b");
    assert_eq!(h.pending_commands(), ["stop d"]);
    assert_eq!(h.step(), ["stop c"]);
    assert_eq!(h.step(), ["spawn b"]);
    assert_eq!(h.step(), ["spawn c"]);
    assert_eq!(h.step(), ["spawn d"]);
    assert_eq!(h.step(), Vec::<String>::new());
}

#[test]
fn rest_for_one_of_the_last_child_restarts_only_it() {
    let mut h = started(Strategy::RestForOne, &["a", "b", "c"]);
    h.crash("c");
    assert_eq!(h.commands(), ["spawn c"]);
}

#[test]
fn rest_for_one_of_the_first_child_restarts_everything() {
    let mut h = started(Strategy::RestForOne, &["a", "b", "c"]);
    h.crash("a");
    assert_eq!(h.commands(), ["stop c", "stop b", "spawn a", "spawn b", "spawn c"]);
}

#[test]
fn rest_for_one_removes_temporary_children_it_stops() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::RestForOne)
        .intensity(10)
        .child(w("a"))
        .child(w("b"))
        .child(w("tmp").restart(Restart::Temporary))
        .child(w("d"));
    let mut h = Harness::started(spec);
    h.crash("b");
    assert_eq!(h.commands(), ["stop d", "stop tmp", "spawn b", "spawn d"]);
    assert_eq!(h.engine().lookup("tmp"), None);
}

// ----- exits during a round are absorbed -----

#[test]
fn one_for_all_sibling_crashing_while_being_stopped_is_absorbed_into_the_one_restart() {
    let mut h = started(Strategy::OneForAll, &["a", "b", "c"]);
    // Asked to stop, `b` dies of its own error instead of `shutdown`.
    h.stop_reason("b", ExitReason::Error("boom".into()));
    let b = h.run("b");
    h.crash("c");
    assert_eq!(h.commands(), ["stop b", "stop a", "spawn a", "spawn b", "spawn c"]);
    assert_eq!(h.events_starting("restart "), ["restart / child=c strategy=OneForAll"]);
    assert_eq!(h.engine().stats().restart_decisions, 1);
    // Its own reason stays in the trace.
    assert!(h
        .events()
        .contains(&format!("exited b gen={} reason=error(boom)", b.generation)));
}

#[test]
fn one_for_all_sibling_crashing_before_its_stop_is_absorbed_into_the_one_restart() {
    let mut h = started(Strategy::OneForAll, &["a", "b", "c"]);
    h.set_auto(false);
    h.crash("c");
    assert_eq!(h.pending_commands(), ["stop b"]);
    // While `b` is being stopped, `a` crashes by itself.
    h.crash("a");
    assert_eq!(
        h.pending_commands(),
        ["stop b"],
        "nothing new while the round waits for b"
    );
    h.flush();
    // `a` is already gone: no stop for it; everybody is started once.
    assert_eq!(h.commands(), ["stop b", "spawn a", "spawn b", "spawn c"]);
    assert_eq!(h.events_starting("restart "), ["restart / child=c strategy=OneForAll"]);
    assert_eq!(h.engine().stats().restart_decisions, 1);
    for c in ["a", "b", "c"] {
        assert_eq!(
            h.engine().state(h.engine().lookup(c).unwrap()),
            Some(ChildState::Running)
        );
    }
}

#[test]
fn rest_for_one_later_sibling_crashing_while_being_stopped_is_absorbed_into_the_one_restart() {
    let mut h = started(Strategy::RestForOne, &["a", "b", "c", "d"]);
    h.stop_reason("c", ExitReason::Panic("oops".into()));
    h.crash("b");
    assert_eq!(h.commands(), ["stop d", "stop c", "spawn b", "spawn c", "spawn d"]);
    assert_eq!(h.events_starting("restart "), ["restart / child=b strategy=RestForOne"]);
    assert_eq!(h.engine().stats().restart_decisions, 1);
}

#[test]
fn sibling_ignoring_stop_and_then_crashing_is_absorbed_into_the_one_restart() {
    let mut h = started(Strategy::OneForAll, &["a", "b", "c"]);
    h.ignore_stop("b");
    let b = h.run("b");
    h.crash("c");
    assert_eq!(h.commands(), ["stop b"]);
    // `b` ignored the stop, then crashes by itself before its deadline.
    h.advance(Duration::from_millis(10));
    h.stopping().remove("b");
    h.input(Input::Exited(b, ExitReason::Error("late".into())));
    assert_eq!(h.commands(), ["stop b", "stop a", "spawn a", "spawn b", "spawn c"]);
    assert_eq!(h.engine().stats().restart_decisions, 1);
    assert_eq!(h.engine().stats().kills, 0);
}

#[test]
fn nested_supervisor_under_one_for_all_is_stopped_depth_first_and_rebuilt_in_order() {
    let inner = SupervisorSpec::new().child(w("x")).child(w("y"));
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .intensity(10)
        .child(w("a"))
        .child(ChildSpec::supervisor("s", inner))
        .child(w("c"));
    let mut h = Harness::started(spec);
    h.crash("a");
    assert_eq!(
        h.commands(),
        [
            "stop c",
            "stop s/y",
            "stop s/x",
            "spawn a",
            "spawn s/x",
            "spawn s/y",
            "spawn c"
        ]
    );
}

#[test]
fn rest_for_one_earlier_sibling_crashing_during_a_round_is_handled_after_it() {
    let mut h = started(Strategy::RestForOne, &["a", "b", "c", "d"]);
    h.set_auto(false);
    h.crash("c");
    assert_eq!(h.pending_commands(), ["stop d"]);
    // `a` is not part of c's round: its crash is a decision of its own, taken after the round.
    h.crash("a");
    h.flush();
    assert_eq!(
        h.commands(),
        [
            "stop d", "spawn c", "spawn d", // c's round
            "stop d", "stop c", "stop b", "spawn a", "spawn b", "spawn c", "spawn d", // a's round
        ]
    );
    assert_eq!(
        h.events_starting("restart "),
        [
            "restart / child=c strategy=RestForOne",
            "restart / child=a strategy=RestForOne"
        ]
    );
}

#[test]
fn one_for_all_sibling_crashing_after_being_restarted_in_a_round_gets_a_new_round() {
    let mut h = started(Strategy::OneForAll, &["a", "b", "c"]);
    h.set_auto(false);
    h.crash("c");
    assert_eq!(h.pending_commands(), ["stop b"]);
    assert_eq!(h.step(), ["stop a"]);
    assert_eq!(h.step(), ["spawn a"]);
    assert_eq!(h.step(), ["spawn b"]);
    // The new run of `a` crashes while the round is still starting `b`.
    h.crash("a");
    h.flush();
    assert_eq!(
        h.commands(),
        [
            "stop b", "stop a", "spawn a", "spawn b", "spawn c", // c's round
            "stop c", "stop b", "spawn a", "spawn b", "spawn c", // a's round
        ]
    );
    assert_eq!(h.engine().stats().restart_decisions, 2);
}

#[test]
fn rest_for_one_also_starts_later_children_that_had_stopped_normally() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::RestForOne)
        .intensity(10)
        .child(w("a"))
        .child(w("b"))
        .child(w("t").restart(Restart::Transient))
        .child(w("d"));
    let mut h = Harness::started(spec);
    h.exit("t", ExitReason::Normal);
    h.crash("b");
    assert_eq!(h.commands(), ["stop d", "spawn b", "spawn t", "spawn d"]);
}

#[test]
fn rest_for_one_does_not_start_earlier_children_that_had_stopped() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::RestForOne)
        .intensity(10)
        .child(w("t").restart(Restart::Transient))
        .child(w("a"))
        .child(w("b"))
        .child(w("c"));
    let mut h = Harness::started(spec);
    h.exit("t", ExitReason::Normal);
    h.crash("b");
    // `t` comes before the failed child: it gets no command, stopped or not.
    assert_eq!(h.commands(), ["stop c", "spawn b", "spawn c"]);
    assert_eq!(
        h.engine().state(h.engine().lookup("t").unwrap()),
        Some(ChildState::Stopped)
    );
}

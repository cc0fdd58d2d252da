//! docs/SEMANTICS.md §6: failed starts, during the first start and during
//! automatic restarts.

use std::time::Duration;

use vigil_core::*;
use vigil_tests::Harness;

fn w(name: &str) -> ChildSpec {
    ChildSpec::worker(name)
}

fn sup(name: &str, spec: SupervisorSpec) -> ChildSpec {
    ChildSpec::supervisor(name, spec)
}

/// Take the oldest unanswered command without answering it.
fn take_pending(h: &mut Harness) -> Command {
    h.pending().pop_front().expect("a pending command")
}

fn four(strategy: Strategy) -> SupervisorSpec {
    SupervisorSpec::new()
        .strategy(strategy)
        .intensity(10)
        .child(w("a"))
        .child(w("b"))
        .child(w("c"))
        .child(w("d"))
}

// ----- during the first start -----

#[test]
fn first_start_failure_aborts_and_stops_started_children_in_reverse_order() {
    let mut h = Harness::new(four(Strategy::OneForOne));
    h.fail_starts("c", 1);
    h.start();
    // `d` is never spawned; `b` and `a` are stopped last-first.
    assert_eq!(h.commands(), ["spawn a", "spawn b", "spawn c", "stop b", "stop a"]);
}

#[test]
fn first_start_failure_at_the_root_reports_tree_down_with_failed_to_start_child() {
    let mut h = Harness::new(four(Strategy::OneForOne));
    h.fail_starts("c", 1);
    h.start();
    let exits = h.events_starting("sup_exit ");
    assert_eq!(exits.len(), 1, "{exits:?}");
    assert!(
        exits[0].starts_with("sup_exit / reason=shutdown(failed_to_start_child c"),
        "{exits:?}"
    );
    let down = h.events_starting("tree_down ");
    assert_eq!(down.len(), 1);
    assert!(
        down[0].starts_with("tree_down reason=shutdown(failed_to_start_child c"),
        "{down:?}"
    );
    assert_eq!(h.events().last(), down.last(), "tree_down is the last word");
    assert!(h.engine().is_down());
}

#[test]
fn first_start_failure_is_not_retried() {
    let mut h = Harness::new(four(Strategy::OneForOne));
    h.fail_starts("c", 1);
    h.start();
    h.advance(Duration::from_secs(3600));
    assert_eq!(h.log_lines("spawn c").len(), 1);
    assert!(h.log_lines("restart ").is_empty());
    assert_eq!(h.engine().stats().restart_decisions, 0);
    assert_eq!(h.next_deadline(), None);
}

#[test]
fn first_start_failure_of_the_first_child_stops_nothing() {
    let mut h = Harness::new(four(Strategy::OneForAll));
    h.fail_starts("a", 1);
    h.start();
    assert_eq!(h.commands(), ["spawn a"]);
    assert!(h.engine().is_down());
}

#[test]
fn nested_supervisor_failing_during_first_start_fails_its_parent_start() {
    let inner = SupervisorSpec::new().child(w("x")).child(w("y")).child(w("z"));
    let spec = SupervisorSpec::new().child(w("a")).child(sup("s", inner)).child(w("b"));
    let mut h = Harness::new(spec);
    h.fail_starts("s/y", 1);
    h.start();
    assert_eq!(
        h.commands(),
        ["spawn a", "spawn s/x", "spawn s/y", "stop s/x", "stop a"]
    );
    let exits = h.events_starting("sup_exit ");
    assert_eq!(exits.len(), 2, "{exits:?}");
    assert!(exits[0].starts_with("sup_exit s reason=shutdown(failed_to_start_child s/y"));
    assert!(exits[1].starts_with("sup_exit / reason=shutdown(failed_to_start_child s"));
    assert!(h.engine().is_down());
    assert!(h.log_lines("restart ").is_empty());
}

#[test]
fn exit_before_started_during_first_start_is_a_failed_start() {
    let mut h = Harness::new(four(Strategy::OneForOne));
    h.set_auto(false);
    h.start();
    assert_eq!(h.pending_commands(), ["spawn a"]);
    let Command::Spawn(a) = take_pending(&mut h) else {
        panic!("a spawn")
    };
    h.input(Input::Exited(a, ExitReason::Error("early".into())));
    assert_eq!(h.pending_commands(), Vec::<String>::new());
    assert_eq!(h.commands(), ["spawn a"]);
    assert!(h.engine().is_down());
    let exits = h.events_starting("sup_exit ");
    assert!(
        exits[0].starts_with("sup_exit / reason=shutdown(failed_to_start_child a"),
        "{exits:?}"
    );
    assert!(exits[0].contains("error(early)"), "{exits:?}");
}

// ----- during an automatic restart -----

#[test]
fn failed_restart_counts_as_another_restart_decision() {
    let spec = SupervisorSpec::new().intensity(1).child(w("a")).child(w("b"));
    let mut h = Harness::started(spec);
    h.fail_starts("a", 1);
    h.crash("a"); // decision 1; its start fails: decision 2 > intensity 1
    assert_eq!(h.commands(), ["spawn a", "stop b"]);
    assert_eq!(h.events_starting("restart "), ["restart / child=a strategy=OneForOne"]);
    assert_eq!(h.log_lines("give_up /").len(), 1);
    assert!(h.engine().is_down());
    assert_eq!(h.engine().stats().restart_decisions, 2);
}

#[test]
fn failed_restart_is_retried_at_once() {
    let spec = SupervisorSpec::new().intensity(3).child(w("a")).child(w("b"));
    let mut h = Harness::started(spec);
    let t = h.now();
    h.fail_starts("a", 2);
    h.crash("a");
    // Three decisions at the same instant, each followed by a start.
    assert_eq!(h.commands(), ["spawn a", "spawn a", "spawn a"]);
    assert_eq!(
        h.events_starting("restart "),
        [
            "restart / child=a strategy=OneForOne",
            "restart / child=a strategy=OneForOne",
            "restart / child=a strategy=OneForOne"
        ]
    );
    assert_eq!(h.events_starting("start_failed a").len(), 2);
    assert_eq!(h.now(), t);
    assert_eq!(
        h.engine().state(h.engine().lookup("a").unwrap()),
        Some(ChildState::Running)
    );
    assert!(!h.engine().is_down());
}

#[test]
fn pending_events_are_handled_before_the_retry() {
    let spec = SupervisorSpec::new().intensity(10).child(w("a")).child(w("b"));
    let mut h = Harness::started(spec);
    h.set_auto(false);
    h.crash("a");
    assert_eq!(h.pending_commands(), ["spawn a"]);
    // `b` crashes while `a`'s restart is in progress: its exit waits.
    h.crash("b");
    assert_eq!(h.pending_commands(), ["spawn a"]);
    // Then `a`'s restart fails: `b`'s earlier exit is handled before the retry of `a`.
    let Command::Spawn(a) = take_pending(&mut h) else {
        panic!("a spawn")
    };
    h.input(Input::StartFailed(a, "no".into()));
    assert_eq!(h.pending_commands(), ["spawn b"]);
    h.flush();
    assert_eq!(h.commands(), ["spawn a", "spawn b", "spawn a"]);
    assert_eq!(
        h.events_starting("restart "),
        [
            "restart / child=a strategy=OneForOne",
            "restart / child=b strategy=OneForOne",
            "restart / child=a strategy=OneForOne"
        ]
    );
}

#[test]
fn one_for_all_retry_stops_siblings_already_restarted_in_that_round() {
    let mut h = Harness::started(four(Strategy::OneForAll));
    h.fail_starts("c", 1);
    h.crash("b");
    assert_eq!(
        h.commands(),
        [
            // the round
            "stop d", "stop c", "stop a", "spawn a", "spawn b", "spawn c",
            // `c` failed: a and b, already restarted, are stopped again (d never started)
            "stop b", "stop a", "spawn a", "spawn b", "spawn c", "spawn d",
        ]
    );
    assert_eq!(
        h.events_starting("restart "),
        [
            "restart / child=b strategy=OneForAll",
            "restart / child=c strategy=OneForAll"
        ]
    );
}

#[test]
fn rest_for_one_retry_starts_at_the_failed_child() {
    let mut h = Harness::started(four(Strategy::RestForOne));
    h.fail_starts("c", 1);
    h.crash("b");
    // `b` (restarted fine) is not touched again; the retry begins at `c`.
    assert_eq!(
        h.commands(),
        ["stop d", "stop c", "spawn b", "spawn c", "spawn c", "spawn d"]
    );
    assert_eq!(
        h.events_starting("restart "),
        [
            "restart / child=b strategy=RestForOne",
            "restart / child=c strategy=RestForOne"
        ]
    );
}

#[test]
fn exit_before_started_during_restart_is_a_failed_start_and_is_retried() {
    let spec = SupervisorSpec::new().intensity(10).child(w("a")).child(w("b"));
    let mut h = Harness::started(spec);
    h.set_auto(false);
    h.crash("a");
    let Command::Spawn(a) = take_pending(&mut h) else {
        panic!("a spawn")
    };
    h.input(Input::Exited(a, ExitReason::Error("early".into())));
    assert_eq!(h.pending_commands(), ["spawn a"], "retried at once");
    h.flush();
    assert_eq!(h.commands(), ["spawn a", "spawn a"]);
    assert_eq!(h.events_starting("restart ").len(), 2);
    assert_eq!(h.engine().stats().restart_decisions, 2);
}

#[test]
fn exit_before_started_during_restart_counts_in_intensity() {
    let spec = SupervisorSpec::new().intensity(1).child(w("a")).child(w("b"));
    let mut h = Harness::started(spec);
    h.set_auto(false);
    h.crash("a");
    let Command::Spawn(a) = take_pending(&mut h) else {
        panic!("a spawn")
    };
    h.input(Input::Exited(a, ExitReason::Normal));
    h.flush();
    assert_eq!(h.commands(), ["spawn a", "stop b"]);
    assert_eq!(h.log_lines("give_up /").len(), 1);
    assert!(h.engine().is_down());
}

#[test]
fn nested_supervisor_failing_init_while_its_parent_restarts_it_counts_as_a_failed_start() {
    let inner = SupervisorSpec::new().intensity(0).child(w("x")).child(w("y"));
    let spec = SupervisorSpec::new()
        .intensity(2)
        .period(Duration::from_secs(60))
        .child(w("a"))
        .child(sup("s", inner));
    let mut h = Harness::started(spec);
    h.fail_starts("s/y", 1);
    h.crash("s/x"); // s gives up at once (intensity 0); the root restarts s
    assert_eq!(
        h.commands(),
        [
            "stop s/y",
            // the root's restart of s: s's init fails at y and stops x
            "spawn s/x",
            "spawn s/y",
            "stop s/x",
            // the failed start is retried at once
            "spawn s/x",
            "spawn s/y",
        ]
    );
    assert_eq!(
        h.events_starting("restart /"),
        [
            "restart / child=s strategy=OneForOne",
            "restart / child=s strategy=OneForOne"
        ]
    );
    let exits = h.events_starting("sup_exit s ");
    assert_eq!(exits.len(), 2, "{exits:?}");
    assert_eq!(exits[0], "sup_exit s reason=shutdown");
    assert!(exits[1].starts_with("sup_exit s reason=shutdown(failed_to_start_child s/y"));
    assert!(!h.engine().is_down());
}

#[test]
fn nested_supervisor_failing_init_during_restart_uses_up_the_parent_intensity() {
    let inner = SupervisorSpec::new().intensity(0).child(w("x")).child(w("y"));
    let spec = SupervisorSpec::new()
        .intensity(1)
        .period(Duration::from_secs(60))
        .child(w("a"))
        .child(sup("s", inner));
    let mut h = Harness::started(spec);
    h.fail_starts("s/y", 1);
    h.crash("s/x");
    // root decision 1 restarts s; s fails to start: decision 2 > 1, the root gives up.
    assert_eq!(
        h.commands(),
        ["stop s/y", "spawn s/x", "spawn s/y", "stop s/x", "stop a"]
    );
    assert_eq!(h.log_lines("give_up /").len(), 1);
    assert!(h.engine().is_down());
}

// ----- operator start_child -----

#[test]
fn operator_start_child_whose_start_fails_returns_the_error_and_keeps_nothing() {
    let spec = SupervisorSpec::new().child(w("a"));
    let mut h = Harness::started(spec);
    h.fail_starts("n", 1);
    let r = h.request(Request::StartChild {
        parent: String::new(),
        spec: w("n"),
    });
    assert!(
        matches!(r, Ok(Reply::Pending(_)) | Err(RequestError::StartFailed { .. })),
        "{r:?}"
    );
    let replies = h.events_starting("reply ");
    assert_eq!(replies.len(), 1);
    assert!(
        replies[0].ends_with("start_child path=n result=error(start_failed)"),
        "{replies:?}"
    );
    assert_eq!(h.engine().lookup("n"), None);
    assert_eq!(h.commands(), ["spawn n"]);
    assert!(h.log_lines("restart ").is_empty());
    // Nothing was kept: the same name can be started again.
    h.request(Request::StartChild {
        parent: String::new(),
        spec: w("n"),
    })
    .unwrap();
    assert_eq!(h.commands(), ["spawn n", "spawn n"]);
    assert_eq!(
        h.engine().state(h.engine().lookup("n").unwrap()),
        Some(ChildState::Running)
    );
}

#[test]
fn first_start_failure_stops_an_already_started_nested_supervisor_depth_first() {
    let inner = SupervisorSpec::new().child(w("x")).child(w("y"));
    let spec = SupervisorSpec::new()
        .child(sup("s", inner))
        .child(w("a"))
        .child(w("b"))
        .child(w("c"));
    let mut h = Harness::new(spec);
    h.fail_starts("b", 1);
    h.start();
    assert_eq!(
        h.commands(),
        [
            "spawn s/x",
            "spawn s/y",
            "spawn a",
            "spawn b",
            "stop a",
            "stop s/y",
            "stop s/x"
        ]
    );
    assert!(h.engine().is_down());
}

#[test]
fn operator_start_child_of_a_supervisor_whose_init_fails_keeps_nothing() {
    let spec = SupervisorSpec::new().child(w("a"));
    let mut h = Harness::started(spec);
    h.fail_starts("n/y", 1);
    let inner = SupervisorSpec::new().child(w("x")).child(w("y")).child(w("z"));
    h.request(Request::StartChild {
        parent: String::new(),
        spec: sup("n", inner),
    })
    .unwrap();
    assert_eq!(h.commands(), ["spawn n/x", "spawn n/y", "stop n/x"]);
    let replies = h.events_starting("reply ");
    assert_eq!(replies.len(), 1);
    assert!(
        replies[0].ends_with("start_child path=n result=error(start_failed)"),
        "{replies:?}"
    );
    assert_eq!(h.engine().lookup("n"), None);
    assert!(h.log_lines("restart ").is_empty());
    assert!(!h.engine().is_down());
}

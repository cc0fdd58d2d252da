//! docs/SEMANTICS.md §5: restart intensity, the sliding window, giving up
//! and escalation.

use std::time::Duration;

use vigil_core::*;
use vigil_tests::Harness;

fn w(name: &str) -> ChildSpec {
    ChildSpec::worker(name)
}

fn sup(name: &str, spec: SupervisorSpec) -> ChildSpec {
    ChildSpec::supervisor(name, spec)
}

/// Decision lines only: restart, give_up, sup_exit, tree_down.
fn decisions(h: &Harness) -> Vec<String> {
    h.events()
        .into_iter()
        .filter(|e| {
            e.starts_with("restart ")
                || e.starts_with("give_up ")
                || e.starts_with("sup_exit ")
                || e.starts_with("tree_down ")
        })
        .collect()
}

fn index_of(h: &Harness, line: &str) -> usize {
    h.events()
        .iter()
        .position(|e| e == line)
        .unwrap_or_else(|| panic!("no `{line}` in {:#?}", h.events()))
}

/// Root one_for_one with children `a` and `b`.
fn root(intensity: u32, period: Duration) -> Harness {
    Harness::started(
        SupervisorSpec::new()
            .intensity(intensity)
            .period(period)
            .child(w("a"))
            .child(w("b")),
    )
}

fn assert_tree_down(h: &Harness) {
    assert!(h.engine().is_down());
    let ev = h.events();
    assert_eq!(
        ev.last().map(String::as_str),
        Some("tree_down reason=shutdown"),
        "{ev:#?}"
    );
}

// ----- counting -----

#[test]
fn exactly_intensity_restarts_within_the_period_are_allowed() {
    let mut h = root(3, Duration::from_secs(10));
    for _ in 0..3 {
        h.crash("a");
        assert_eq!(h.take_commands(), ["spawn a"]);
        h.advance(Duration::from_secs(1));
    }
    assert!(!h.engine().is_down());
    assert!(h.log_lines("give_up").is_empty());
    assert_eq!(h.engine().stats().restart_decisions, 3);
}

#[test]
fn one_decision_more_than_intensity_gives_up() {
    let mut h = root(3, Duration::from_secs(10));
    for _ in 0..3 {
        h.crash("a");
        h.advance(Duration::from_secs(1));
    }
    h.take_commands();
    h.take_log();
    h.crash("a");
    // No `spawn a`: the supervisor stops what is left and ends.
    assert_eq!(h.commands(), ["stop b"]);
    assert_eq!(
        decisions(&h),
        ["give_up /", "sup_exit / reason=shutdown", "tree_down reason=shutdown"]
    );
    assert_tree_down(&h);
    assert_eq!(h.engine().stats().give_ups, 1);
}

#[test]
fn window_boundary_is_inclusive_a_decision_exactly_period_later_still_counts() {
    let mut h = root(1, Duration::from_secs(5));
    h.crash("a"); // decision at t = 1 s
    assert_eq!(h.take_commands(), ["spawn a"]);
    h.advance(Duration::from_secs(5));
    h.crash("a"); // decision at t = 6 s: the one at 1 s is still inside [1 s, 6 s]
    assert_eq!(h.commands(), ["stop b"]);
    assert_tree_down(&h);
}

#[test]
fn decisions_older_than_the_period_expire_one_nanosecond_later() {
    let mut h = root(1, Duration::from_secs(5));
    h.crash("a"); // t = 1 s
    assert_eq!(h.take_commands(), ["spawn a"]);
    h.advance(Duration::from_secs(5) + Duration::from_nanos(1));
    h.crash("a"); // t = 6 s + 1 ns: the decision at 1 s has left the window
    assert_eq!(h.take_commands(), ["spawn a"]);
    assert!(!h.engine().is_down());
    // And the window keeps sliding: one crash every period + 1 ns never gives up.
    for _ in 0..20 {
        h.advance(Duration::from_secs(5) + Duration::from_nanos(1));
        h.crash("a");
        assert_eq!(h.take_commands(), ["spawn a"]);
    }
    assert!(!h.engine().is_down());
    assert_eq!(h.engine().stats().give_ups, 0);
}

#[test]
fn intensity_zero_gives_up_on_the_first_automatic_restart() {
    let mut h = root(0, Duration::from_secs(5));
    h.crash("a");
    assert_eq!(h.commands(), ["stop b"]);
    assert!(h.log_lines("restart /").is_empty());
    assert_tree_down(&h);
}

#[test]
fn one_for_all_restart_of_many_children_counts_once() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .intensity(2)
        .period(Duration::from_secs(60))
        .child(w("a"))
        .child(w("b"))
        .child(w("c"))
        .child(w("d"))
        .child(w("e"));
    let mut h = Harness::started(spec);
    // Two whole rounds of five children each fit in intensity 2 ...
    for _ in 0..2 {
        h.crash("e");
        assert_eq!(
            h.take_commands(),
            ["stop d", "stop c", "stop b", "stop a", "spawn a", "spawn b", "spawn c", "spawn d", "spawn e"]
        );
    }
    assert!(!h.engine().is_down());
    assert_eq!(h.engine().stats().restart_decisions, 2);
    // ... and the third decision is the one too many.
    h.crash("e");
    assert_eq!(h.commands(), ["stop d", "stop c", "stop b", "stop a"]);
    assert_tree_down(&h);
}

#[test]
fn operator_restart_child_does_not_count_towards_intensity() {
    let mut h = root(1, Duration::from_secs(60));
    for _ in 0..5 {
        h.request(Request::TerminateChild { path: "a".into() }).unwrap();
        h.request(Request::RestartChild { path: "a".into() }).unwrap();
        assert_eq!(h.take_commands(), ["stop a", "spawn a"]);
    }
    // The first automatic restart is still allowed ...
    h.crash("a");
    assert_eq!(h.take_commands(), ["spawn a"]);
    assert!(!h.engine().is_down());
    // ... and the second one is the one too many.
    h.crash("a");
    assert_eq!(h.take_commands(), ["stop b"]);
    assert_tree_down(&h);
}

#[test]
fn operator_restart_all_does_not_count_towards_intensity() {
    let mut h = root(1, Duration::from_secs(60));
    for _ in 0..3 {
        h.request(Request::RestartAll {
            path: String::new(),
            mode: RestartAllMode::AllAtOnce,
        })
        .unwrap();
        assert_eq!(h.take_commands(), ["stop b", "stop a", "spawn a", "spawn b"]);
    }
    h.crash("a");
    assert_eq!(h.take_commands(), ["spawn a"]);
    assert!(!h.engine().is_down());
}

// ----- giving up -----

#[test]
fn give_up_is_reported_before_any_child_is_stopped() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .intensity(0)
        .child(w("a"))
        .child(w("b"))
        .child(w("c"));
    let mut h = Harness::started(spec);
    let (a, b, c) = (h.run("a"), h.run("b"), h.run("c"));
    h.crash("b");
    assert_eq!(
        h.events(),
        [
            format!("exited b gen={} reason=error(crash)", b.generation),
            "give_up /".to_owned(),
            "sup_ending / reason=shutdown".to_owned(),
            format!("stop c gen={}", c.generation),
            format!("exited c gen={} reason=shutdown", c.generation),
            format!("stop a gen={}", a.generation),
            format!("exited a gen={} reason=shutdown", a.generation),
            "sup_exit / reason=shutdown".to_owned(),
            "tree_down reason=shutdown".to_owned(),
        ]
    );
}

#[test]
fn nested_give_up_is_reported_before_its_children_are_stopped() {
    let inner = SupervisorSpec::new().intensity(0).child(w("x")).child(w("y"));
    let spec = SupervisorSpec::new().intensity(5).child(sup("s", inner)).child(w("z"));
    let mut h = Harness::started(spec);
    h.crash("s/x");
    let stop_y = h
        .events()
        .iter()
        .position(|e| e.starts_with("stop s/y gen="))
        .expect("s/y stopped");
    assert!(index_of(&h, "give_up s") < stop_y, "{:#?}", h.events());
    assert!(stop_y < index_of(&h, "sup_exit s reason=shutdown"));
}

#[test]
fn root_give_up_reports_tree_down() {
    let mut h = root(0, Duration::from_secs(5));
    h.crash("b");
    assert_eq!(h.commands(), ["stop a"]);
    assert_eq!(
        decisions(&h),
        ["give_up /", "sup_exit / reason=shutdown", "tree_down reason=shutdown"]
    );
    assert!(h.engine().is_down());
    assert_eq!(h.engine().stats().give_ups, 1);
}

// ----- escalation -----

#[test]
fn transient_child_supervisor_that_gives_up_is_not_restarted_by_its_parent() {
    let inner = SupervisorSpec::new().intensity(0).child(w("w")).child(w("v"));
    let spec = SupervisorSpec::new()
        .intensity(5)
        .child(w("x"))
        .child(sup("s", inner).restart(Restart::Transient));
    let mut h = Harness::started(spec);
    h.crash("s/w");
    assert_eq!(h.commands(), ["stop s/v"]);
    assert_eq!(decisions(&h), ["give_up s", "sup_exit s reason=shutdown"]);
    let s = h.engine().lookup("s").expect("transient spec kept");
    assert_eq!(h.engine().state(s), Some(ChildState::Stopped));
    assert!(!h.engine().is_down());
    assert_eq!(
        h.engine().state(h.engine().lookup("x").unwrap()),
        Some(ChildState::Running)
    );
}

#[test]
fn permanent_child_supervisor_that_gives_up_is_restarted_and_counts_in_the_parent_window() {
    let inner = SupervisorSpec::new().intensity(0).child(w("w")).child(w("v"));
    let spec = SupervisorSpec::new()
        .intensity(1)
        .period(Duration::from_secs(60))
        .child(w("x"))
        .child(sup("s", inner));
    let mut h = Harness::started(spec);
    h.crash("s/w");
    assert_eq!(h.take_commands(), ["stop s/v", "spawn s/w", "spawn s/v"]);
    assert_eq!(
        decisions(&h),
        [
            "give_up s",
            "sup_exit s reason=shutdown",
            "restart / child=s strategy=OneForOne"
        ]
    );
    h.take_log();
    h.advance(Duration::from_secs(1));
    // The second escalation is the root's second decision in its window: too many.
    h.crash("s/w");
    assert_eq!(h.take_commands(), ["stop s/v", "stop x"]);
    assert_eq!(
        decisions(&h),
        [
            "give_up s",
            "sup_exit s reason=shutdown",
            "give_up /",
            "sup_exit / reason=shutdown",
            "tree_down reason=shutdown"
        ]
    );
    assert!(h.engine().is_down());
}

#[test]
fn escalation_through_three_levels_of_permanent_supervisors_brings_the_tree_down() {
    let low = SupervisorSpec::new().intensity(0).child(w("w")).child(w("bv"));
    let mid = SupervisorSpec::new().intensity(0).child(w("ax")).child(sup("b", low));
    let spec = SupervisorSpec::new().intensity(0).child(w("x")).child(sup("a", mid));
    let mut h = Harness::started(spec);
    h.crash("a/b/w");
    assert_eq!(h.commands(), ["stop a/b/bv", "stop a/ax", "stop x"]);
    assert_eq!(
        decisions(&h),
        [
            "give_up a/b",
            "sup_exit a/b reason=shutdown",
            "give_up a",
            "sup_exit a reason=shutdown",
            "give_up /",
            "sup_exit / reason=shutdown",
            "tree_down reason=shutdown",
        ]
    );
    assert!(h.engine().is_down());
}

#[test]
fn escalation_stops_at_a_transient_supervisor_that_gives_up() {
    // root (permanent) -> a (transient) -> b (permanent) -> w
    let low = SupervisorSpec::new().intensity(0).child(w("w")).child(w("bv"));
    let mid = SupervisorSpec::new().intensity(0).child(w("ax")).child(sup("b", low));
    let spec = SupervisorSpec::new()
        .intensity(0)
        .child(w("x"))
        .child(sup("a", mid).restart(Restart::Transient));
    let mut h = Harness::started(spec);
    h.crash("a/b/w");
    // b gives up; a (intensity 0) gives up on restarting b; a is transient and
    // ended with `shutdown`, so the root (intensity 0!) makes no decision at all.
    assert_eq!(h.commands(), ["stop a/b/bv", "stop a/ax"]);
    assert_eq!(
        decisions(&h),
        [
            "give_up a/b",
            "sup_exit a/b reason=shutdown",
            "give_up a",
            "sup_exit a reason=shutdown",
        ]
    );
    assert!(!h.engine().is_down());
    assert_eq!(
        h.engine().state(h.engine().lookup("a").unwrap()),
        Some(ChildState::Stopped)
    );
    assert_eq!(
        h.engine().state(h.engine().lookup("x").unwrap()),
        Some(ChildState::Running)
    );
}

#[test]
fn escalation_through_three_levels_restarts_the_middle_supervisor_when_it_still_may() {
    // root (intensity 0) -> a (permanent, intensity 1) -> b (permanent, intensity 0) -> w
    let low = SupervisorSpec::new().intensity(0).child(w("w")).child(w("bv"));
    let mid = SupervisorSpec::new().intensity(1).child(w("ax")).child(sup("b", low));
    let spec = SupervisorSpec::new().intensity(0).child(w("x")).child(sup("a", mid));
    let mut h = Harness::started(spec);
    h.crash("a/b/w");
    // a restarts b (its first decision); the root is not involved.
    assert_eq!(h.take_commands(), ["stop a/b/bv", "spawn a/b/w", "spawn a/b/bv"]);
    assert_eq!(
        decisions(&h),
        [
            "give_up a/b",
            "sup_exit a/b reason=shutdown",
            "restart a child=a/b strategy=OneForOne"
        ]
    );
    assert!(!h.engine().is_down());
}

#[test]
fn supervisor_restarted_by_its_parent_starts_with_an_empty_restart_history() {
    let inner = SupervisorSpec::new()
        .intensity(1)
        .period(Duration::from_secs(60))
        .child(w("w"))
        .child(w("v"));
    let spec = SupervisorSpec::new().intensity(5).child(sup("s", inner));
    let mut h = Harness::started(spec);
    h.crash("s/w"); // s: decision 1 of 1
    assert_eq!(h.take_commands(), ["spawn s/w"]);
    h.crash("s/w"); // s: decision 2 -> gives up; the root restarts s
    assert_eq!(h.take_commands(), ["stop s/v", "spawn s/w", "spawn s/v"]);
    assert_eq!(h.log_lines("give_up s").len(), 1);
    // Still well inside s's old window: with a fresh history this is decision 1 of 1.
    h.crash("s/w");
    assert_eq!(h.take_commands(), ["spawn s/w"]);
    assert_eq!(h.log_lines("give_up s").len(), 1);
}

#[test]
fn supervisor_restarted_in_a_sibling_one_for_all_round_starts_with_an_empty_history() {
    let inner = SupervisorSpec::new()
        .intensity(1)
        .period(Duration::from_secs(60))
        .child(w("w"));
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .intensity(5)
        .child(sup("s", inner))
        .child(w("a"));
    let mut h = Harness::started(spec);
    h.crash("s/w"); // s: decision 1 of 1
    h.crash("a"); // the root restarts everything, s included
    h.take_commands();
    h.crash("s/w"); // a fresh s: decision 1 of 1 again
    assert_eq!(h.take_commands(), ["spawn s/w"]);
    assert!(h.log_lines("give_up").is_empty());
    h.crash("s/w"); // and this one is too many
    assert_eq!(h.log_lines("give_up s").len(), 1);
}

#[test]
fn operator_restart_child_whose_start_fails_is_not_retried_and_does_not_count() {
    let mut h = root(1, Duration::from_secs(60));
    h.request(Request::TerminateChild { path: "a".into() }).unwrap();
    h.fail_starts("a", 3);
    for _ in 0..3 {
        h.request(Request::RestartChild { path: "a".into() }).unwrap();
    }
    assert_eq!(h.take_commands(), ["stop a", "spawn a", "spawn a", "spawn a"]);
    assert_eq!(h.log_lines("result=error(start_failed)").len(), 3);
    assert!(h.log_lines("restart /").is_empty());
    assert_eq!(
        h.engine().state(h.engine().lookup("a").unwrap()),
        Some(ChildState::Stopped)
    );
    // The window is still empty: one automatic restart is allowed.
    h.crash("b");
    assert_eq!(h.take_commands(), ["spawn b"]);
    assert!(!h.engine().is_down());
}

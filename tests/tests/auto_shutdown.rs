//! auto_shutdown and significant children (docs/SEMANTICS.md §8).

use std::time::Duration;

use vigil_core::*;
use vigil_tests::Harness;

fn w(name: &str) -> ChildSpec {
    ChildSpec::worker(name)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A significant transient worker.
fn sig(name: &str) -> ChildSpec {
    w(name).restart(Restart::Transient).significant(true)
}

fn strip_time(line: &str) -> String {
    line.split_once("ms ").expect("timestamped line").1.to_owned()
}

fn terminate(path: &str) -> Request {
    Request::TerminateChild { path: path.to_owned() }
}

fn root(auto: AutoShutdown) -> SupervisorSpec {
    SupervisorSpec::new().intensity(10).auto_shutdown(auto)
}

// ----- any_significant -----

#[test]
fn any_significant_ends_the_supervisor_when_a_significant_child_ends_normally() {
    let spec = root(AutoShutdown::AnySignificant)
        .child(w("a"))
        .child(sig("s"))
        .child(w("b"));
    let mut h = Harness::new(spec);
    h.start();
    let (ga, gs, gb) = (h.run("a").generation, h.run("s").generation, h.run("b").generation);
    h.take_events();
    h.exit("s", ExitReason::Normal);
    assert_eq!(h.commands(), ["stop b", "stop a"]);
    assert_eq!(
        h.events(),
        [
            format!("exited s gen={gs} reason=normal"),
            "sup_ending / reason=shutdown".to_owned(),
            format!("stop b gen={gb}"),
            format!("exited b gen={gb} reason=shutdown"),
            format!("stop a gen={ga}"),
            format!("exited a gen={ga} reason=shutdown"),
            "sup_exit / reason=shutdown".to_owned(),
            "tree_down reason=shutdown".to_owned(),
        ]
    );
    assert!(h.engine().is_down());
    assert_eq!(h.engine().stats().restart_decisions, 0);
}

#[test]
fn any_significant_ends_the_supervisor_when_a_significant_temporary_child_crashes() {
    let spec = root(AutoShutdown::AnySignificant)
        .child(w("a"))
        .child(w("t").restart(Restart::Temporary).significant(true));
    let mut h = Harness::new(spec);
    h.start();
    h.take_events();
    h.crash("t");
    assert_eq!(h.commands(), ["stop a"]);
    let ev = h.events();
    assert_eq!(ev[1], "removed t");
    assert_eq!(
        ev[ev.len() - 2..],
        ["sup_exit / reason=shutdown", "tree_down reason=shutdown"]
    );
    assert!(
        h.log_lines("restart").is_empty(),
        "a temporary child is never restarted"
    );
}

#[test]
fn any_significant_ignores_a_non_significant_child_that_ends() {
    let spec = root(AutoShutdown::AnySignificant)
        .child(sig("s"))
        .child(w("n").restart(Restart::Transient))
        .child(w("t").restart(Restart::Temporary));
    let mut h = Harness::new(spec);
    h.start();
    h.take_events();
    h.exit("n", ExitReason::Normal);
    h.crash("t");
    h.advance(Duration::from_secs(1));
    assert!(h.commands().is_empty(), "{:?}", h.commands());
    assert!(h.log_lines("sup_exit").is_empty());
    assert!(!h.engine().is_down());
    assert_eq!(h.state("s"), ChildState::Running);
}

#[test]
fn any_significant_nested_supervisor_that_auto_shuts_down_is_judged_by_its_own_restart_type() {
    // g is transient: its auto_shutdown (reason shutdown, a normal exit) is final.
    let g = SupervisorSpec::new()
        .auto_shutdown(AutoShutdown::AnySignificant)
        .child(sig("x"))
        .child(w("y"));
    let spec = SupervisorSpec::new()
        .child(w("a"))
        .child(ChildSpec::supervisor("g", g.clone()).restart(Restart::Transient));
    let mut h = Harness::new(spec);
    h.start();
    h.take_events();
    h.exit("g/x", ExitReason::Normal);
    assert_eq!(h.commands(), ["stop g/y"]);
    assert_eq!(h.log_lines("sup_exit").len(), 1);
    assert_eq!(strip_time(h.log().last().expect("log")), "sup_exit g reason=shutdown");
    assert_eq!(h.state("g"), ChildState::Stopped);
    assert_eq!(h.state("a"), ChildState::Running);
    assert!(!h.engine().is_down());

    // g permanent: its parent restarts it (and counts the restart).
    let spec = SupervisorSpec::new().child(w("a")).child(ChildSpec::supervisor("g", g));
    let mut h = Harness::new(spec);
    h.start();
    h.take_events();
    h.exit("g/x", ExitReason::Normal);
    assert_eq!(h.commands(), ["stop g/y", "spawn g/x", "spawn g/y"]);
    let ev = h.events();
    let i = ev
        .iter()
        .position(|l| l == "sup_exit g reason=shutdown")
        .expect("g ended");
    assert_eq!(ev[i + 1], "restart / child=g strategy=OneForOne");
    assert_eq!(h.engine().stats().restart_decisions, 1);
    assert_eq!(h.state("g"), ChildState::Running);
}

#[test]
fn any_significant_child_ending_while_the_supervisor_is_busy_ends_it_once_it_is_free() {
    let spec = root(AutoShutdown::AnySignificant).child(w("a")).child(sig("s"));
    let mut h = Harness::new(spec);
    h.start();
    h.hang_start("a");
    h.crash("a"); // the restart of `a` hangs: the supervisor is busy
    h.take_events();
    h.exit("s", ExitReason::Normal);
    assert!(h.commands().is_empty());
    assert!(!h.engine().is_down());
    h.answer_start("a");
    assert_eq!(h.commands(), ["stop a"]);
    assert!(h.engine().is_down());
    assert_eq!(h.log_lines("sup_exit / reason=shutdown").len(), 1);
}

// ----- all_significant -----

#[test]
fn all_significant_ends_the_supervisor_only_when_the_last_significant_child_has_ended() {
    let spec = root(AutoShutdown::AllSignificant)
        .child(sig("s1"))
        .child(w("a"))
        .child(sig("s2"));
    let mut h = Harness::new(spec);
    h.start();
    h.take_events();
    h.exit("s1", ExitReason::Normal);
    assert!(h.commands().is_empty(), "s2 still runs: {:?}", h.commands());
    assert!(!h.engine().is_down());
    assert_eq!(h.state("s1"), ChildState::Stopped);
    h.exit("s2", ExitReason::Shutdown("done".into()));
    assert_eq!(h.commands(), ["stop a"]);
    let ev = h.events();
    assert_eq!(
        ev[ev.len() - 2..],
        ["sup_exit / reason=shutdown", "tree_down reason=shutdown"]
    );
}

#[test]
fn all_significant_counts_a_significant_child_waiting_for_its_restart_as_left() {
    let spec = root(AutoShutdown::AllSignificant)
        .child(sig("s1").backoff(Backoff::exponential(ms(500), ms(500))))
        .child(sig("s2"))
        .child(w("a"));
    let mut h = Harness::new(spec);
    h.start();
    h.crash("s1"); // transient + abnormal: restarted after 500 ms
    assert_eq!(h.state("s1"), ChildState::Restarting);
    h.take_events();
    h.exit("s2", ExitReason::Normal);
    assert!(h.commands().is_empty(), "s1 is restarting: {:?}", h.commands());
    assert!(!h.engine().is_down());
    h.advance(ms(500));
    assert_eq!(h.commands(), ["spawn s1"]);
    h.exit("s1", ExitReason::Normal);
    assert_eq!(h.commands(), ["spawn s1", "stop a"]);
    assert!(h.engine().is_down());
}

#[test]
fn all_significant_ends_when_the_last_running_significant_child_ends_after_others_were_terminated() {
    let spec = root(AutoShutdown::AllSignificant)
        .child(sig("s1"))
        .child(sig("s2"))
        .child(w("a"));
    let mut h = Harness::new(spec);
    h.start();
    h.request(terminate("s1")).expect("terminate");
    assert!(!h.engine().is_down(), "a terminate never triggers auto_shutdown");
    h.take_events();
    h.exit("s2", ExitReason::Normal);
    assert_eq!(h.commands(), ["stop a"]);
    assert!(h.engine().is_down());
}

// ----- stops the supervisor caused itself -----

#[test]
fn terminate_child_of_a_significant_child_never_triggers_auto_shutdown() {
    for auto in [AutoShutdown::AnySignificant, AutoShutdown::AllSignificant] {
        let spec = root(auto).child(w("a")).child(sig("s1")).child(sig("s2"));
        let mut h = Harness::new(spec);
        h.start();
        h.take_events();
        h.request(terminate("s1")).expect("terminate s1");
        h.request(terminate("s2")).expect("terminate s2");
        h.advance(Duration::from_secs(1));
        assert_eq!(h.commands(), ["stop s1", "stop s2"], "{auto:?}");
        assert!(h.log_lines("sup_exit").is_empty(), "{auto:?}");
        assert!(!h.engine().is_down(), "{auto:?}");
        assert_eq!(h.state("a"), ChildState::Running);
    }
}

#[test]
fn a_one_for_all_round_stopping_a_significant_child_never_triggers_auto_shutdown() {
    for auto in [AutoShutdown::AnySignificant, AutoShutdown::AllSignificant] {
        let spec = root(auto).strategy(Strategy::OneForAll).child(w("a")).child(sig("s"));
        let mut h = Harness::new(spec);
        h.start();
        // Asked to stop, `s` exits `normal`, which would look like ending by itself.
        h.stop_reason("s", ExitReason::Normal);
        h.take_events();
        h.crash("a");
        assert_eq!(h.commands(), ["stop s", "spawn a", "spawn s"], "{auto:?}");
        assert!(h.log_lines("sup_exit").is_empty(), "{auto:?}");
        assert!(!h.engine().is_down());
        assert_eq!(h.state("s"), ChildState::Running);
    }
}

#[test]
fn a_rest_for_one_round_stopping_a_significant_child_never_triggers_auto_shutdown() {
    let spec = root(AutoShutdown::AnySignificant)
        .strategy(Strategy::RestForOne)
        .child(w("a"))
        .child(sig("s"));
    let mut h = Harness::new(spec);
    h.start();
    h.stop_reason("s", ExitReason::Normal);
    h.take_events();
    h.crash("a");
    assert_eq!(h.commands(), ["stop s", "spawn a", "spawn s"]);
    assert!(!h.engine().is_down());
    assert_eq!(h.state("s"), ChildState::Running);
}

#[test]
fn a_parent_round_stopping_an_auto_shutdown_supervisor_never_triggers_auto_shutdown() {
    // The root's one_for_all round stops g; g's significant child exits
    // `normal` when asked. g is stopped as part of the round and started again.
    let g = SupervisorSpec::new()
        .auto_shutdown(AutoShutdown::AnySignificant)
        .child(w("y"))
        .child(sig("x"));
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .intensity(5)
        .child(ChildSpec::supervisor("g", g))
        .child(w("b"));
    let mut h = Harness::new(spec);
    h.start();
    h.stop_reason("g/x", ExitReason::Normal);
    h.take_events();
    h.crash("b");
    assert_eq!(
        h.commands(),
        ["stop g/x", "stop g/y", "spawn g/y", "spawn g/x", "spawn b"]
    );
    assert_eq!(h.log_lines("sup_exit g reason=shutdown").len(), 1);
    assert_eq!(
        h.engine().stats().restart_decisions,
        1,
        "only the root's decision for b"
    );
    assert_eq!(h.state("g"), ChildState::Running);
}

#[test]
fn shutdown_never_triggers_auto_shutdown() {
    let g = SupervisorSpec::new()
        .auto_shutdown(AutoShutdown::AnySignificant)
        .child(sig("x"))
        .child(w("y"));
    let spec = SupervisorSpec::new()
        .auto_shutdown(AutoShutdown::AllSignificant)
        .child(
            ChildSpec::supervisor("g", g)
                .restart(Restart::Transient)
                .significant(true),
        )
        .child(sig("z"));
    let mut h = Harness::new(spec);
    h.start();
    h.stop_reason("g/x", ExitReason::Normal);
    h.stop_reason("z", ExitReason::Normal);
    h.take_events();
    h.request(Request::Shutdown).expect("accepted");
    assert_eq!(h.commands(), ["stop z", "stop g/y", "stop g/x"]);
    let ends: Vec<_> = h
        .events()
        .into_iter()
        .filter(|l| l.starts_with("sup_exit") || l.starts_with("tree_down") || l.starts_with("reply"))
        .collect();
    assert_eq!(
        ends,
        [
            "sup_exit g reason=shutdown",
            "sup_exit / reason=shutdown",
            "tree_down reason=shutdown",
            "reply req1 shutdown path= result=ok",
        ]
    );
}

// ----- restarted significant children -----

#[test]
fn a_transient_significant_child_that_crashes_is_restarted_not_an_auto_shutdown() {
    for auto in [AutoShutdown::AnySignificant, AutoShutdown::AllSignificant] {
        let spec = root(auto).child(w("a")).child(sig("s"));
        let mut h = Harness::new(spec);
        h.start();
        let gs = h.run("s").generation;
        h.take_events();
        h.crash("s");
        assert_eq!(h.commands(), ["spawn s"], "{auto:?}");
        let ev = h.events();
        assert_eq!(ev[0], format!("exited s gen={gs} reason=error(crash)"));
        assert_eq!(ev[1], "restart / child=s strategy=OneForOne");
        assert!(h.log_lines("sup_exit").is_empty());
        assert!(!h.engine().is_down());
        assert_eq!(h.state("s"), ChildState::Running);
    }
}

#[test]
fn a_significant_child_killed_for_a_missed_heartbeat_is_restarted_not_an_auto_shutdown() {
    let spec = root(AutoShutdown::AnySignificant).child(sig("s").health_timeout(ms(100)));
    let mut h = Harness::new(spec);
    h.start();
    h.take_events();
    h.advance(ms(100));
    assert_eq!(h.commands(), ["kill s", "spawn s"]);
    assert!(!h.engine().is_down());
}

#[test]
fn restart_all_stopping_a_significant_child_never_triggers_auto_shutdown() {
    for mode in [RestartAllMode::AllAtOnce, RestartAllMode::Rolling] {
        let spec = root(AutoShutdown::AnySignificant).child(w("a")).child(sig("s"));
        let mut h = Harness::new(spec);
        h.start();
        h.stop_reason("s", ExitReason::Normal);
        h.take_events();
        h.request(Request::RestartAll {
            path: String::new(),
            mode,
        })
        .expect("accepted");
        assert!(h.log_lines("sup_exit").is_empty(), "{mode:?}");
        assert!(!h.engine().is_down(), "{mode:?}");
        assert_eq!(h.state("s"), ChildState::Running, "{mode:?}");
    }
}

#[test]
fn a_significant_child_that_ends_by_itself_during_a_rolling_restart_still_ends_the_supervisor() {
    // While a rolling restart waits for `a` to be ready again, `s` (whose turn
    // has not come) ends by itself with a normal reason: it is not restarted
    // (transient, normal exit), so any_significant ends the supervisor.
    let spec = root(AutoShutdown::AnySignificant)
        .child(w("a").readiness(Readiness::Notify))
        .child(sig("s"))
        .child(w("b"));
    let mut h = Harness::new(spec);
    h.start();
    h.never_ready("a");
    h.take_events();
    h.request(Request::RestartAll {
        path: String::new(),
        mode: RestartAllMode::Rolling,
    })
    .expect("accepted");
    h.exit("s", ExitReason::Normal);
    h.input(Input::Ready(h.run("a")));
    assert!(!h.commands().contains(&"spawn s".to_owned()), "{:?}", h.commands());
    assert!(h.engine().is_down(), "auto_shutdown: {:?}", h.commands());
    assert_eq!(h.log_lines("sup_exit / reason=shutdown").len(), 1);
}

//! The opt-in extensions [ext] of docs/SEMANTICS.md: one_terminate_all, lifespan
//! transient, restart backoff, readiness (notify + startup_timeout), health
//! deadlines, monitor evictions, and restart_all (all_at_once / rolling).

use std::time::Duration;

use vigil_core::*;
use vigil_tests::Harness;

// ----- helpers -----

fn w(name: &str) -> ChildSpec {
    ChildSpec::worker(name)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

const NS: Duration = Duration::from_nanos(1);

fn strip_time(line: &str) -> String {
    line.split_once("ms ").expect("timestamped line").1.to_owned()
}

fn pending(r: Result<Reply, RequestError>) -> RequestId {
    match r {
        Ok(Reply::Pending(id)) => id,
        other => panic!("expected a pending answer, got {other:?}"),
    }
}

/// Advance to just before `d` from now and check that nothing new was
/// commanded, then advance the last nanosecond and return the new commands.
fn fire_exactly_after(h: &mut Harness, d: Duration) -> Vec<String> {
    let before = h.commands().len();
    h.advance(d - NS);
    assert_eq!(
        h.commands()[before..],
        [] as [String; 0],
        "nothing may happen 1ns before the deadline"
    );
    h.advance(NS);
    h.commands()[before..].to_vec()
}

/// The delays of the `backoff` notices of `path`, in ns.
fn backoff_delays(h: &Harness, path: &str) -> Vec<u64> {
    let prefix = format!("backoff {path} delay=");
    h.log()
        .iter()
        .map(|l| strip_time(l))
        .filter_map(|l| {
            let ms: f64 = l.strip_prefix(&prefix)?.strip_suffix("ms")?.parse().expect("a number");
            Some((ms * 1e6).round() as u64)
        })
        .collect()
}

fn restart_all(path: &str, mode: RestartAllMode) -> Request {
    Request::RestartAll {
        path: path.to_owned(),
        mode,
    }
}

// ======================= one_terminate_all =======================

fn ota() -> SupervisorSpec {
    SupervisorSpec::new().strategy(Strategy::OneTerminateAll)
}

/// Under one_terminate_all the supervisor ends with the reason of the child
/// that ended (not `shutdown`); its parent then applies the restart table to
/// that reason, by the supervisor's own restart type.
#[test]
fn one_terminate_all_a_crash_stops_the_others_in_reverse_order_and_ends_the_supervisor_with_the_childs_reason() {
    let g = ota().intensity(0).child(w("x")).child(w("y")).child(w("z"));
    let spec = SupervisorSpec::new().intensity(5).child(ChildSpec::supervisor("g", g));
    let mut h = Harness::new(spec);
    h.start();
    let (gx, gy, gz) = (
        h.run("g/x").generation,
        h.run("g/y").generation,
        h.run("g/z").generation,
    );
    h.take_events();
    h.crash("g/y");
    assert_eq!(
        h.commands(),
        ["stop g/z", "stop g/x", "spawn g/x", "spawn g/y", "spawn g/z"]
    );
    let ev = h.events();
    assert_eq!(
        ev[..8],
        [
            format!("exited g/y gen={gy} reason=error(crash)"),
            // It decides to end with its child's reason...
            "sup_ending g reason=error(crash)".to_owned(),
            format!("stop g/z gen={gz}"),
            format!("exited g/z gen={gz} reason=shutdown"),
            format!("stop g/x gen={gx}"),
            format!("exited g/x gen={gx} reason=shutdown"),
            // ...and ends with it...
            "sup_exit g reason=error(crash)".to_owned(),
            // ...and its (permanent) parent restarts it.
            "restart / child=g strategy=OneForOne".to_owned(),
        ]
    );
    // g itself took no restart decision (intensity 0 would have given up).
    assert!(h.log_lines("give_up").is_empty());
    assert_eq!(h.engine().stats().restart_decisions, 1);
    assert_eq!(h.state("g"), ChildState::Running);
}

#[test]
fn one_terminate_all_a_normal_exit_of_a_permanent_child_ends_it_with_reason_normal() {
    let g = ota().child(w("x")).child(w("y")).child(w("z"));
    let spec = SupervisorSpec::new().child(ChildSpec::supervisor("g", g).restart(Restart::Transient));
    let mut h = Harness::new(spec);
    h.start();
    h.take_events();
    h.exit("g/x", ExitReason::Normal);
    assert_eq!(h.commands(), ["stop g/z", "stop g/y"]);
    assert_eq!(h.log_lines("sup_exit").len(), 1);
    assert_eq!(strip_time(h.log().last().expect("log")), "sup_exit g reason=normal");
    // A transient g that ended normally is not restarted by its parent.
    assert_eq!(h.state("g"), ChildState::Stopped);
    assert!(!h.engine().is_down());
}

#[test]
fn one_terminate_all_a_temporary_child_ending_ends_it_and_is_removed() {
    let g = ota()
        .child(w("x"))
        .child(w("t").restart(Restart::Temporary))
        .child(w("z"));
    let spec = SupervisorSpec::new().child(ChildSpec::supervisor("g", g).restart(Restart::Transient));
    let mut h = Harness::new(spec);
    h.start();
    h.take_events();
    h.exit("g/t", ExitReason::Shutdown("bye".into()));
    assert_eq!(h.commands(), ["stop g/z", "stop g/x"]);
    let ev = h.events();
    assert!(ev.contains(&"removed g/t".to_owned()), "{ev:?}");
    assert_eq!(ev.last().map(String::as_str), Some("sup_exit g reason=shutdown(bye)"));
    assert_eq!(h.state("g"), ChildState::Stopped);
}

#[test]
fn one_terminate_all_a_transient_child_that_crashes_is_not_restarted_but_ends_it() {
    let g = ota().child(w("x").restart(Restart::Transient)).child(w("y"));
    let spec = SupervisorSpec::new().child(ChildSpec::supervisor("g", g).restart(Restart::Transient));
    let mut h = Harness::new(spec);
    h.start();
    h.take_events();
    h.input(Input::Exited(h.run("g/x"), ExitReason::Killed));
    // g ends with `killed` (abnormal): its transient parent entry restarts it.
    assert_eq!(h.commands(), ["stop g/y", "spawn g/x", "spawn g/y"]);
    let ev = h.events();
    let i = ev
        .iter()
        .position(|l| l == "sup_exit g reason=killed")
        .expect("g ended with killed");
    assert_eq!(ev[i + 1], "restart / child=g strategy=OneForOne");
}

#[test]
fn one_terminate_all_at_the_root_brings_the_tree_down_with_the_childs_reason() {
    let spec = ota().child(w("a")).child(w("b").health_timeout(ms(100))).child(w("c"));
    let mut h = Harness::new(spec);
    h.start();
    h.take_events();
    h.advance(ms(100)); // b misses its heartbeat
    assert_eq!(h.commands(), ["kill b", "stop c", "stop a"]);
    let ev = h.events();
    assert_eq!(
        ev[ev.len() - 2..],
        ["sup_exit / reason=health", "tree_down reason=health"]
    );
}

// ======================= lifespan transient =======================

#[test]
fn lifespan_transient_ends_normally_when_the_last_child_ends_by_itself() {
    let g = SupervisorSpec::new()
        .lifespan(Lifespan::Transient)
        .child(w("x").restart(Restart::Transient))
        .child(w("t").restart(Restart::Temporary));
    let spec = SupervisorSpec::new()
        .child(w("a"))
        .child(ChildSpec::supervisor("g", g).restart(Restart::Transient));
    let mut h = Harness::new(spec);
    h.start();
    h.take_events();
    h.crash("g/t"); // temporary: removed; x still runs
    assert!(h.log_lines("sup_exit").is_empty());
    h.exit("g/x", ExitReason::Normal);
    assert!(h.commands().is_empty(), "nothing left to stop: {:?}", h.commands());
    let ev = h.events();
    assert_eq!(ev.last().map(String::as_str), Some("sup_exit g reason=normal"));
    assert_eq!(
        h.state("g"),
        ChildState::Stopped,
        "transient g ended normally: not restarted"
    );
    assert_eq!(h.state("a"), ChildState::Running);
}

#[test]
fn lifespan_transient_root_brings_the_tree_down_with_reason_normal() {
    let spec = SupervisorSpec::new()
        .lifespan(Lifespan::Transient)
        .child(w("x").restart(Restart::Transient))
        .child(w("y").restart(Restart::Transient));
    let mut h = Harness::new(spec);
    h.start();
    h.exit("y", ExitReason::Normal);
    assert!(!h.engine().is_down());
    h.exit("x", ExitReason::Normal);
    assert!(h.engine().is_down());
    assert_eq!(strip_time(h.log().last().expect("log")), "tree_down reason=normal");
}

#[test]
fn lifespan_transient_does_not_end_while_a_child_is_waiting_for_its_restart() {
    let g = SupervisorSpec::new()
        .intensity(5)
        .lifespan(Lifespan::Transient)
        .child(
            w("x")
                .restart(Restart::Transient)
                .backoff(Backoff::exponential(ms(500), ms(500))),
        )
        .child(w("y").restart(Restart::Transient));
    let spec = SupervisorSpec::new().child(ChildSpec::supervisor("g", g).restart(Restart::Transient));
    let mut h = Harness::new(spec);
    h.start();
    h.crash("g/x"); // restarting after 500 ms
    h.take_events();
    h.exit("g/y", ExitReason::Normal);
    assert!(h.log_lines("sup_exit").is_empty(), "x is still restarting");
    h.advance(ms(500));
    assert_eq!(h.commands(), ["spawn g/x"]);
    h.exit("g/x", ExitReason::Normal);
    assert_eq!(strip_time(h.log().last().expect("log")), "sup_exit g reason=normal");
}

#[test]
fn lifespan_transient_does_not_end_when_a_permanent_child_ends_and_is_restarted() {
    let g = SupervisorSpec::new()
        .intensity(5)
        .lifespan(Lifespan::Transient)
        .child(w("x"));
    let spec = SupervisorSpec::new().child(ChildSpec::supervisor("g", g).restart(Restart::Transient));
    let mut h = Harness::new(spec);
    h.start();
    h.take_events();
    h.exit("g/x", ExitReason::Normal);
    assert_eq!(h.commands(), ["spawn g/x"]);
    assert!(h.log_lines("sup_exit").is_empty());
}

#[test]
fn lifespan_transient_does_not_end_when_its_children_are_terminated_by_request() {
    let g = SupervisorSpec::new()
        .lifespan(Lifespan::Transient)
        .child(w("x").restart(Restart::Transient))
        .child(w("y"));
    let spec = SupervisorSpec::new().child(ChildSpec::supervisor("g", g).restart(Restart::Transient));
    let mut h = Harness::new(spec);
    h.start();
    h.take_events();
    pending(h.request(Request::TerminateChild { path: "g/x".into() }));
    pending(h.request(Request::TerminateChild { path: "g/y".into() }));
    h.advance(Duration::from_secs(1));
    assert_eq!(h.commands(), ["stop g/x", "stop g/y"]);
    assert!(h.log_lines("sup_exit").is_empty());
    assert_eq!(h.state("g"), ChildState::Running);
}

// ======================= backoff =======================

#[test]
fn backoff_delays_are_initial_then_times_the_multiplier_capped_at_max() {
    let b = Backoff::exponential(ms(100), ms(350));
    let spec = SupervisorSpec::new()
        .intensity(100)
        .child(w("a").backoff(b))
        .child(w("b"));
    let mut h = Harness::new(spec);
    h.start();
    h.take_events();
    for delay in [100, 200, 350, 350] {
        h.crash("a");
        assert_eq!(h.state("a"), ChildState::Restarting);
        assert_eq!(fire_exactly_after(&mut h, ms(delay)), ["spawn a"], "delay {delay}");
    }
    assert_eq!(
        backoff_delays(&h, "a"),
        [100_000_000, 200_000_000, 350_000_000, 350_000_000]
    );
    // Spawn times: 100, 300, 650, 1000 ms.
    let spawns: Vec<_> = h
        .log_lines("spawn a")
        .iter()
        .map(|l| l.split("ms").next().unwrap().trim().to_owned())
        .collect();
    assert_eq!(spawns, ["100.0", "300.0", "650.0", "1000.0"]);
    // The sibling was never touched.
    assert!(h.commands().iter().all(|c| c == "spawn a"));
}

#[test]
fn backoff_with_a_fractional_multiplier_grows_by_it() {
    let b = Backoff {
        multiplier: 1.5,
        ..Backoff::exponential(ms(100), ms(300))
    };
    let spec = SupervisorSpec::new().intensity(100).child(w("a").backoff(b));
    let mut h = Harness::new(spec);
    h.start();
    for delay in [100, 150, 225, 300] {
        h.crash("a");
        assert_eq!(fire_exactly_after(&mut h, ms(delay)), ["spawn a"], "delay {delay}");
    }
}

#[test]
fn backoff_reset_after_a_run_that_stayed_up_long_enough_resets_the_delay() {
    let b = Backoff {
        reset_after: Some(ms(1000)),
        ..Backoff::exponential(ms(100), ms(10_000))
    };
    let spec = SupervisorSpec::new().intensity(100).child(w("a").backoff(b));
    let mut h = Harness::new(spec);
    h.start();
    h.crash("a");
    assert_eq!(fire_exactly_after(&mut h, ms(100)), ["spawn a"]);
    h.crash("a"); // lived 0
    assert_eq!(fire_exactly_after(&mut h, ms(200)), ["spawn a"]);
    h.advance(ms(999));
    h.crash("a"); // lived 999 ms: no reset
    assert_eq!(fire_exactly_after(&mut h, ms(400)), ["spawn a"]);
    h.advance(ms(1000));
    h.crash("a"); // lived exactly reset_after: back to initial
    assert_eq!(fire_exactly_after(&mut h, ms(100)), ["spawn a"]);
    h.crash("a"); // and grows again from there
    assert_eq!(fire_exactly_after(&mut h, ms(200)), ["spawn a"]);
}

#[test]
fn backoff_jitter_is_deterministic_for_a_seed_and_differs_between_seeds() {
    let b = Backoff {
        jitter: 0.5,
        multiplier: 1.0,
        ..Backoff::exponential(ms(1000), ms(1000))
    };
    let run = |seed: u64| {
        let spec = SupervisorSpec::new()
            .intensity(100)
            .period(ms(1))
            .child(w("a").backoff(b));
        let mut h = Harness::with_seed(spec, seed);
        h.start();
        for _ in 0..8 {
            h.crash("a");
            let d = Duration::from_nanos(*backoff_delays(&h, "a").last().expect("a backoff notice"));
            assert!(d >= ms(500) && d <= ms(1000), "jitter stays within its fraction: {d:?}");
            // The restart happens exactly after the (jittered) delay it announced.
            assert_eq!(fire_exactly_after(&mut h, d), ["spawn a"]);
        }
        (backoff_delays(&h, "a"), h.log().to_vec())
    };
    let (d7, log7) = run(7);
    let (d7_again, log7_again) = run(7);
    assert_eq!(d7, d7_again);
    assert_eq!(log7, log7_again, "same seed, same inputs: identical trace");
    let (d8, _) = run(8);
    assert_ne!(d7, d8, "another seed draws other delays");
    let distinct: std::collections::BTreeSet<_> = d7.iter().collect();
    assert!(distinct.len() > 1, "jitter varies from one restart to the next: {d7:?}");
}

#[test]
fn backoff_one_for_all_round_runs_after_the_failed_childs_backoff_and_siblings_run_meanwhile() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .intensity(5)
        .child(w("a"))
        .child(w("b").backoff(Backoff::exponential(ms(500), ms(5000))))
        .child(w("c"));
    let mut h = Harness::new(spec);
    h.start();
    h.advance(ms(10));
    h.take_events();
    h.crash("b");
    assert!(h.commands().is_empty(), "the whole restart waits: {:?}", h.commands());
    assert_eq!(h.state("a"), ChildState::Running);
    assert_eq!(h.state("b"), ChildState::Restarting);
    assert_eq!(h.state("c"), ChildState::Running);
    assert_eq!(
        fire_exactly_after(&mut h, ms(500)),
        ["stop c", "stop a", "spawn a", "spawn b", "spawn c"]
    );
    // The next failure of b waits twice as long.
    h.take_commands();
    h.crash("b");
    assert!(h.commands().is_empty());
    assert_eq!(
        fire_exactly_after(&mut h, ms(1000)),
        ["stop c", "stop a", "spawn a", "spawn b", "spawn c"]
    );
}

#[test]
fn backoff_rest_for_one_round_runs_after_the_failed_childs_backoff() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::RestForOne)
        .intensity(5)
        .child(w("a"))
        .child(w("b").backoff(Backoff::exponential(ms(300), ms(5000))))
        .child(w("c"));
    let mut h = Harness::new(spec);
    h.start();
    h.take_events();
    h.crash("b");
    assert!(h.commands().is_empty());
    assert_eq!(fire_exactly_after(&mut h, ms(300)), ["stop c", "spawn b", "spawn c"]);
    // The last child: nothing to stop, its start still waits for its backoff.
    let spec = SupervisorSpec::new()
        .strategy(Strategy::RestForOne)
        .intensity(5)
        .child(w("a"))
        .child(w("c").backoff(Backoff::exponential(ms(300), ms(5000))));
    let mut h = Harness::new(spec);
    h.start();
    h.take_events();
    h.crash("c");
    assert!(h.commands().is_empty());
    assert_eq!(fire_exactly_after(&mut h, ms(300)), ["spawn c"]);
}

#[test]
fn backoff_applies_to_the_retry_of_a_failed_restart_and_each_retry_counts() {
    let spec = SupervisorSpec::new()
        .intensity(10)
        .child(w("a").backoff(Backoff::exponential(ms(100), ms(5000))));
    let mut h = Harness::new(spec);
    h.start();
    h.fail_starts("a", 1);
    h.take_events();
    h.crash("a");
    assert_eq!(fire_exactly_after(&mut h, ms(100)), ["spawn a"]); // fails
    assert_eq!(h.log_lines("start_failed a").len(), 1);
    assert_eq!(fire_exactly_after(&mut h, ms(200)), ["spawn a"]); // succeeds
    assert_eq!(h.state("a"), ChildState::Running);
    assert_eq!(h.engine().stats().restart_decisions, 2);
}

#[test]
fn shutdown_cancels_a_pending_backoff_restart() {
    // one_for_one: the child's own backoff timer.
    let spec = SupervisorSpec::new()
        .child(w("a").backoff(Backoff::exponential(ms(100), ms(100))))
        .child(w("b"));
    let mut h = Harness::new(spec);
    h.start();
    h.crash("a");
    h.take_events();
    pending(h.request(Request::Shutdown));
    assert_eq!(h.commands(), ["stop b"]);
    assert!(h.engine().is_down());
    h.advance(Duration::from_secs(10));
    assert_eq!(h.commands(), ["stop b"], "no spawn after the tree is down");

    // one_for_all: the round waiting for the failed child's backoff.
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .child(w("a").backoff(Backoff::exponential(ms(100), ms(100))))
        .child(w("b"));
    let mut h = Harness::new(spec);
    h.start();
    h.crash("a");
    h.take_events();
    pending(h.request(Request::Shutdown));
    assert_eq!(h.commands(), ["stop b"]);
    assert!(h.engine().is_down());
    h.advance(Duration::from_secs(10));
    assert_eq!(h.commands(), ["stop b"], "no spawn after the tree is down");
}

// ======================= readiness =======================

#[test]
fn notify_child_the_next_sibling_is_spawned_only_after_it_is_ready() {
    let spec = SupervisorSpec::new()
        .child(w("a").readiness(Readiness::Notify))
        .child(w("b"));
    let mut h = Harness::new(spec);
    h.never_ready("a");
    h.start();
    assert_eq!(h.commands(), ["spawn a"]);
    assert_eq!(h.state("a"), ChildState::Starting);
    h.advance(Duration::from_secs(3600));
    assert_eq!(h.commands(), ["spawn a"], "no startup_timeout: waits for ever");
    assert!(h.log_lines("sup_started").is_empty());
    let run = h.run("a");
    h.take_events();
    h.input(Input::Ready(run));
    assert_eq!(h.commands(), ["spawn b"]);
    let gb = h.run("b").generation;
    assert_eq!(
        h.events(),
        [
            format!("ready a gen={}", run.generation),
            format!("spawn b gen={gb}"),
            format!("started b gen={gb}"),
            "sup_started /".to_owned(),
        ]
    );
    assert_eq!(h.state("a"), ChildState::Running);
}

#[test]
fn notify_child_in_a_one_for_all_round_is_waited_for_before_the_next_start() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .intensity(5)
        .child(w("a").readiness(Readiness::Notify))
        .child(w("b"));
    let mut h = Harness::new(spec);
    h.start();
    h.never_ready("a");
    h.take_events();
    h.crash("b");
    assert_eq!(h.commands(), ["stop a", "spawn a"]);
    let run = h.run("a");
    h.input(Input::Ready(run));
    assert_eq!(h.commands(), ["stop a", "spawn a", "spawn b"]);
}

#[test]
fn ready_from_an_immediate_worker_is_stale() {
    let mut h = Harness::new(SupervisorSpec::new().child(w("a")));
    h.start();
    let run = h.run("a");
    h.input(Input::Ready(run));
    assert_eq!(h.engine().stats().stale_inputs, 1);
    assert_eq!(h.log_lines("stale").len(), 1);
}

#[test]
fn startup_timeout_kills_exactly_at_the_deadline_and_the_restart_is_retried() {
    let spec = SupervisorSpec::new()
        .intensity(10)
        .child(w("a").readiness(Readiness::Notify).startup_timeout(ms(1000)));
    let mut h = Harness::new(spec);
    h.start(); // ready at once the first time
    h.never_ready("a");
    h.crash("a");
    let g1 = h.run("a").generation;
    assert_eq!(h.state("a"), ChildState::Starting);
    h.take_events();
    assert_eq!(fire_exactly_after(&mut h, ms(1000)), ["kill a", "spawn a"]);
    let g2 = h.run("a").generation;
    assert_eq!(
        h.events(),
        [
            format!("timeout a gen={g1} reason=start_timeout"),
            format!("kill a gen={g1}"),
            format!("exited a gen={g1} reason=start_timeout"),
            "restart / child=a strategy=OneForOne".to_owned(),
            format!("spawn a gen={g2}"),
            format!("started a gen={g2}"),
        ]
    );
    // The retry gets its own deadline.
    assert_eq!(fire_exactly_after(&mut h, ms(1000)), ["kill a", "spawn a"]);
    assert_eq!(h.engine().stats().restart_decisions, 3, "crash + two failed starts");
}

#[test]
fn startup_timeout_counts_in_the_restart_intensity() {
    let spec = SupervisorSpec::new()
        .intensity(1)
        .child(w("a").readiness(Readiness::Notify).startup_timeout(ms(200)))
        .child(w("b"));
    let mut h = Harness::new(spec);
    h.start();
    h.never_ready("a");
    h.crash("a"); // decision 1
    h.take_events();
    h.advance(ms(200)); // failed start: decision 2 > intensity 1
    assert_eq!(h.commands(), ["kill a", "stop b"]);
    let ev = h.events();
    assert!(ev.contains(&"give_up /".to_owned()), "{ev:?}");
    assert!(h.engine().is_down());
}

#[test]
fn startup_timeout_during_the_first_start_fails_the_start_without_retry() {
    let spec = SupervisorSpec::new()
        .intensity(10)
        .child(w("z"))
        .child(w("a").readiness(Readiness::Notify).startup_timeout(ms(250)))
        .child(w("b"));
    let mut h = Harness::new(spec);
    h.never_ready("a");
    h.start();
    assert_eq!(h.commands(), ["spawn z", "spawn a"]);
    assert_eq!(fire_exactly_after(&mut h, ms(250)), ["kill a", "stop z"]);
    assert!(h.engine().is_down());
    assert_eq!(
        strip_time(h.log().last().expect("log")),
        "tree_down reason=shutdown(failed_to_start_child a: start_timeout)"
    );
    assert_eq!(h.engine().stats().restart_decisions, 0);
}

#[test]
fn startup_timeout_is_disarmed_by_ready() {
    let spec = SupervisorSpec::new().child(w("a").readiness(Readiness::Notify).startup_timeout(ms(1000)));
    let mut h = Harness::new(spec);
    h.never_ready("a");
    h.start();
    h.advance(ms(1000) - NS);
    let run = h.run("a");
    h.input(Input::Ready(run));
    h.advance(Duration::from_secs(60));
    assert_eq!(h.commands(), ["spawn a"]);
    assert_eq!(h.state("a"), ChildState::Running);
}

#[test]
fn startup_timeout_of_a_start_child_answers_start_failed_and_keeps_nothing() {
    let mut h = Harness::new(SupervisorSpec::new());
    h.start();
    h.never_ready("a");
    let id = pending(h.request(Request::StartChild {
        parent: String::new(),
        spec: w("a").readiness(Readiness::Notify).startup_timeout(ms(50)),
    }));
    assert_eq!(fire_exactly_after(&mut h, ms(50)), ["kill a"]);
    assert_eq!(
        h.log_lines("reply"),
        [format!(
            "    50.0ms reply {id} start_child path=a result=error(start_failed)"
        )]
    );
    assert_eq!(h.engine().lookup("a"), None);
}

// ======================= health =======================

#[test]
fn health_timeout_kills_a_silent_child_exactly_at_the_deadline_and_restarts_it() {
    let spec = SupervisorSpec::new()
        .intensity(10)
        .child(w("a").health_timeout(ms(1000)))
        .child(w("b"));
    let mut h = Harness::new(spec);
    h.start();
    let g1 = h.run("a").generation;
    h.take_events();
    assert_eq!(fire_exactly_after(&mut h, ms(1000)), ["kill a", "spawn a"]);
    let g2 = h.run("a").generation;
    assert_eq!(
        h.events(),
        [
            format!("timeout a gen={g1} reason=health"),
            format!("kill a gen={g1}"),
            format!("exited a gen={g1} reason=health"),
            "restart / child=a strategy=OneForOne".to_owned(),
            format!("spawn a gen={g2}"),
            format!("started a gen={g2}"),
        ]
    );
    // The new run has a fresh deadline.
    assert_eq!(fire_exactly_after(&mut h, ms(1000)), ["kill a", "spawn a"]);
}

#[test]
fn heartbeats_push_the_health_deadline() {
    let spec = SupervisorSpec::new()
        .intensity(10)
        .child(w("a").health_timeout(ms(1000)));
    let mut h = Harness::new(spec);
    h.start();
    h.advance(ms(600));
    h.input(Input::Heartbeat(h.run("a"))); // deadline now 1600
    h.advance(ms(600));
    h.input(Input::Heartbeat(h.run("a"))); // deadline now 2200
    assert_eq!(h.commands(), ["spawn a"]);
    assert_eq!(fire_exactly_after(&mut h, ms(1000)), ["kill a", "spawn a"]);
    assert_eq!(h.log_lines("timeout a").len(), 1);
    assert!(h.log_lines("timeout a")[0].starts_with("  2200.0ms"));
    assert_eq!(h.log_lines("heartbeat a").len(), 2);
}

#[test]
fn health_deadline_of_a_notify_child_starts_when_it_is_ready() {
    let spec = SupervisorSpec::new()
        .intensity(10)
        .child(w("a").readiness(Readiness::Notify).health_timeout(ms(1000)));
    let mut h = Harness::new(spec);
    h.never_ready("a");
    h.start();
    h.advance(ms(2000));
    assert_eq!(h.commands(), ["spawn a"], "no health deadline before ready");
    h.input(Input::Ready(h.run("a")));
    assert_eq!(fire_exactly_after(&mut h, ms(1000)), ["kill a", "spawn a"]);
}

// ======================= evictions (monitors) =======================

#[test]
fn eviction_stops_the_run_gracefully_and_restarts_it_with_reason_memory() {
    let spec = SupervisorSpec::new().intensity(10).child(w("a")).child(w("b"));
    let mut h = Harness::started(spec);
    let g1 = h.run("a").generation;
    h.take_events();
    h.input(Input::Evict(h.run("a"), Eviction::Memory));
    let g2 = h.run("a").generation;
    assert_eq!(
        h.events(),
        [
            format!("evicted a gen={g1} reason=memory"),
            format!("stop a gen={g1}"),
            // The run's own status (shutdown, as it was asked to stop) reads as memory.
            format!("exited a gen={g1} reason=memory"),
            "restart / child=a strategy=OneForOne".to_owned(),
            format!("spawn a gen={g2}"),
            format!("started a gen={g2}"),
        ]
    );
}

#[test]
fn eviction_of_a_run_that_ignores_stop_kills_it_at_its_shutdown_deadline() {
    let spec = SupervisorSpec::new()
        .intensity(10)
        .child(w("a").shutdown(Shutdown::Timeout(ms(500))));
    let mut h = Harness::started(spec);
    h.ignore_stop("a");
    h.input(Input::Evict(h.run("a"), Eviction::Memory));
    assert_eq!(h.take_commands(), ["stop a"]);
    assert_eq!(fire_exactly_after(&mut h, ms(500)), ["kill a", "spawn a"]);
    assert_eq!(h.log_lines("reason=memory").len(), 2, "the notice and the exit");
}

#[test]
fn evictions_count_in_the_restart_intensity() {
    let spec = SupervisorSpec::new().intensity(1).period(ms(5000)).child(w("a"));
    let mut h = Harness::started(spec);
    h.input(Input::Evict(h.run("a"), Eviction::Memory));
    h.input(Input::Evict(h.run("a"), Eviction::Memory));
    assert_eq!(h.events_starting("give_up").len(), 1);
    assert_eq!(h.events_starting("tree_down"), ["tree_down reason=shutdown"]);
}

#[test]
fn eviction_of_a_transient_child_restarts_it() {
    let spec = SupervisorSpec::new()
        .intensity(10)
        .child(w("a").restart(Restart::Transient));
    let mut h = Harness::started(spec);
    let g1 = h.run("a").generation;
    h.input(Input::Evict(h.run("a"), Eviction::Memory));
    assert!(h.run("a").generation > g1, "memory is not a normal exit");
}

#[test]
fn a_monitors_eviction_carries_its_reason_to_the_exit_whatever_the_run_ends_with() {
    let spec = SupervisorSpec::new()
        .intensity(10)
        .child(w("a").restart(Restart::Transient).shutdown(Shutdown::Timeout(ms(500))));
    let mut h = Harness::started(spec);
    let g1 = h.run("a").generation;
    h.take_events();
    let why = Eviction::Monitor("queue depth 120 > 100".into());
    h.input(Input::Evict(h.run("a"), why.clone()));
    let g2 = h.run("a").generation;
    assert_eq!(
        h.events(),
        [
            format!("evicted a gen={g1} reason=evicted(queue depth 120 > 100)"),
            format!("stop a gen={g1}"),
            // Its own status (shutdown, a normal exit) reads as the eviction:
            // a transient child is restarted.
            format!("exited a gen={g1} reason=evicted(queue depth 120 > 100)"),
            "restart / child=a strategy=OneForOne".to_owned(),
            format!("spawn a gen={g2}"),
            format!("started a gen={g2}"),
        ]
    );
    // The next run's exit is its own again, even if it is killed, and a
    // memory eviction reads `memory`.
    h.ignore_stop("a");
    h.take_events();
    h.input(Input::Evict(h.run("a"), Eviction::Memory));
    assert_eq!(fire_exactly_after(&mut h, ms(500)), ["kill a", "spawn a"]);
    assert_eq!(h.log_lines("reason=memory").len(), 2, "the notice and the exit");
    assert_eq!(h.log_lines("reason=evicted").len(), 0);
}

#[test]
fn a_health_eviction_stops_the_run_and_its_exit_reads_health_a_failure() {
    // A failing health probe (an adapter's) evicts with `Eviction::Health`:
    // a graceful stop, and the exit reads `health` whatever the status, so a
    // transient child is restarted and intensity counts it.
    let spec = SupervisorSpec::new()
        .intensity(10)
        .child(w("a").restart(Restart::Transient).shutdown(Shutdown::Timeout(ms(500))));
    let mut h = Harness::started(spec);
    let g1 = h.run("a").generation;
    h.take_events();
    h.input(Input::Evict(h.run("a"), Eviction::Health));
    let g2 = h.run("a").generation;
    assert_eq!(
        h.events(),
        [
            format!("evicted a gen={g1} reason=health"),
            format!("stop a gen={g1}"),
            format!("exited a gen={g1} reason=health"),
            "restart / child=a strategy=OneForOne".to_owned(),
            format!("spawn a gen={g2}"),
            format!("started a gen={g2}"),
        ]
    );
}

#[test]
fn eviction_of_a_stopping_run_or_an_old_generation_is_stale() {
    let spec = SupervisorSpec::new()
        .intensity(10)
        .child(w("a").shutdown(Shutdown::Timeout(ms(500))));
    let mut h = Harness::started(spec);
    h.ignore_stop("a");
    let g1 = h.run("a");
    h.request(Request::TerminateChild { path: "a".into() }).ok();
    h.input(Input::Evict(g1, Eviction::Memory));
    assert_eq!(h.engine().stats().stale_inputs, 1);
    h.advance(ms(500));
    h.input(Input::Evict(g1, Eviction::Memory));
    assert_eq!(h.engine().stats().stale_inputs, 2);
    assert_eq!(h.log_lines("evicted").len(), 0);
}

// ======================= restart_all =======================

#[test]
fn restart_all_all_at_once_stops_running_children_in_reverse_then_starts_them_in_order() {
    // intensity 0: a counted restart would make the supervisor give up.
    let spec = SupervisorSpec::new()
        .intensity(0)
        .child(w("a"))
        .child(w("b"))
        .child(w("c"));
    let mut h = Harness::new(spec);
    h.start();
    let old: Vec<_> = ["a", "b", "c"].iter().map(|p| h.run(p).generation).collect();
    h.take_events();
    let id = pending(h.request(restart_all("", RestartAllMode::AllAtOnce)));
    assert_eq!(
        h.commands(),
        ["stop c", "stop b", "stop a", "spawn a", "spawn b", "spawn c"]
    );
    let ev = h.events();
    assert_eq!(ev.last(), Some(&format!("reply {id} restart_all path= result=ok")));
    assert!(h.log_lines("give_up").is_empty());
    assert!(h.log_lines("restart /").is_empty());
    assert_eq!(h.engine().stats().restart_decisions, 0);
    for (p, g) in ["a", "b", "c"].iter().zip(old) {
        assert!(h.run(p).generation > g, "{p} has a new run");
        assert_eq!(h.state(p), ChildState::Running);
    }
}

#[test]
fn restart_all_rolling_restarts_one_child_at_a_time() {
    let spec = SupervisorSpec::new()
        .intensity(0)
        .child(w("a"))
        .child(w("b"))
        .child(w("c"));
    let mut h = Harness::new(spec);
    h.start();
    h.take_events();
    let id = pending(h.request(restart_all("", RestartAllMode::Rolling)));
    assert_eq!(
        h.commands(),
        ["stop a", "spawn a", "stop b", "spawn b", "stop c", "spawn c"]
    );
    assert_eq!(
        h.events().last(),
        Some(&format!("reply {id} restart_all path= result=ok"))
    );
    assert_eq!(h.engine().stats().restart_decisions, 0);
}

#[test]
fn restart_all_rolling_stops_the_next_child_only_after_the_previous_is_ready_again() {
    let spec = SupervisorSpec::new()
        .child(w("a").readiness(Readiness::Notify))
        .child(w("b").readiness(Readiness::Notify))
        .child(w("c"));
    let mut h = Harness::new(spec);
    h.start();
    h.never_ready("a");
    h.never_ready("b");
    h.take_events();
    let id = pending(h.request(restart_all("", RestartAllMode::Rolling)));
    assert_eq!(h.commands(), ["stop a", "spawn a"]);
    h.advance(Duration::from_secs(10));
    assert_eq!(h.commands(), ["stop a", "spawn a"], "b keeps running until a is ready");
    assert_eq!(h.state("b"), ChildState::Running);
    h.input(Input::Ready(h.run("a")));
    assert_eq!(h.commands(), ["stop a", "spawn a", "stop b", "spawn b"]);
    assert!(h.log_lines("reply").is_empty());
    h.input(Input::Ready(h.run("b")));
    assert_eq!(
        h.commands(),
        ["stop a", "spawn a", "stop b", "spawn b", "stop c", "spawn c"]
    );
    assert_eq!(
        h.events().last(),
        Some(&format!("reply {id} restart_all path= result=ok"))
    );
}

#[test]
fn restart_all_all_at_once_waits_for_ready_before_the_next_start() {
    let spec = SupervisorSpec::new()
        .child(w("a").readiness(Readiness::Notify))
        .child(w("b"));
    let mut h = Harness::new(spec);
    h.start();
    h.never_ready("a");
    h.take_events();
    pending(h.request(restart_all("", RestartAllMode::AllAtOnce)));
    assert_eq!(h.commands(), ["stop b", "stop a", "spawn a"]);
    h.input(Input::Ready(h.run("a")));
    assert_eq!(h.commands(), ["stop b", "stop a", "spawn a", "spawn b"]);
}

#[test]
fn restart_all_leaves_stopped_children_stopped() {
    for (mode, expected) in [
        (RestartAllMode::AllAtOnce, ["stop c", "stop a", "spawn a", "spawn c"]),
        (RestartAllMode::Rolling, ["stop a", "spawn a", "stop c", "spawn c"]),
    ] {
        let spec = SupervisorSpec::new()
            .child(w("a"))
            .child(w("b"))
            .child(w("c"))
            .child(w("t").restart(Restart::Transient));
        let mut h = Harness::new(spec);
        h.start();
        pending(h.request(Request::TerminateChild { path: "b".into() }));
        h.exit("t", ExitReason::Normal);
        let gb = h.engine().lookup("b").map(|_| h.log_lines("spawn b").len());
        h.take_events();
        pending(h.request(restart_all("", mode)));
        assert_eq!(h.commands(), expected, "{mode:?}");
        assert_eq!(h.state("b"), ChildState::Stopped, "{mode:?}");
        assert_eq!(h.state("t"), ChildState::Stopped, "{mode:?}");
        assert_eq!(gb, Some(1));
    }
}

#[test]
fn restart_all_with_no_running_child_is_ok_at_once() {
    let mut h = Harness::new(SupervisorSpec::new().child(w("a")));
    h.start();
    pending(h.request(Request::TerminateChild { path: "a".into() }));
    h.take_events();
    assert_eq!(h.request(restart_all("", RestartAllMode::Rolling)), Ok(Reply::Ok));
    assert!(h.commands().is_empty());
}

#[test]
fn restart_all_of_a_nested_supervisor_restarts_only_its_children() {
    let g = SupervisorSpec::new().child(w("x")).child(w("y"));
    let spec = SupervisorSpec::new()
        .child(w("a"))
        .child(ChildSpec::supervisor("g", g))
        .child(w("b"));
    let mut h = Harness::new(spec);
    h.start();
    h.take_events();
    pending(h.request(restart_all("g", RestartAllMode::AllAtOnce)));
    assert_eq!(h.commands(), ["stop g/y", "stop g/x", "spawn g/x", "spawn g/y"]);
    assert!(h.log_lines("sup_exit").is_empty());
}

#[test]
fn backoff_reset_after_applies_to_a_supervisor_child() {
    // Backoff is a child-spec field valid on supervisor children too; a
    // supervisor child that stayed up for reset_after resets its delay.
    let g = SupervisorSpec::new().intensity(0).child(w("x"));
    let b = Backoff {
        reset_after: Some(ms(1000)),
        ..Backoff::exponential(ms(100), ms(10_000))
    };
    let spec = SupervisorSpec::new()
        .intensity(100)
        .child(ChildSpec::supervisor("g", g).backoff(b));
    let mut h = Harness::new(spec);
    h.start();
    h.crash("g/x"); // g gives up at once (intensity 0): the root restarts g after 100 ms
    assert_eq!(fire_exactly_after(&mut h, ms(100)), ["spawn g/x"]);
    h.crash("g/x"); // g lived 0: 200 ms
    assert_eq!(fire_exactly_after(&mut h, ms(200)), ["spawn g/x"]);
    h.advance(ms(5000));
    h.crash("g/x"); // g lived 5 s >= reset_after: back to 100 ms
    assert_eq!(backoff_delays(&h, "g"), [100_000_000, 200_000_000, 100_000_000]);
    assert_eq!(fire_exactly_after(&mut h, ms(100)), ["spawn g/x"]);
}

#[test]
fn startup_timeout_in_a_one_for_all_round_stops_the_siblings_already_restarted_and_retries() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .intensity(10)
        .child(w("a"))
        .child(w("b").readiness(Readiness::Notify).startup_timeout(ms(300)))
        .child(w("c"));
    let mut h = Harness::new(spec);
    h.start();
    h.never_ready("b");
    h.take_events();
    h.crash("a");
    assert_eq!(h.commands(), ["stop c", "stop b", "spawn a", "spawn b"]);
    h.take_commands();
    // b is not ready in time: a failed start; the round is decided again
    // (counted), a (already restarted) is stopped again, then all start in order.
    assert_eq!(
        fire_exactly_after(&mut h, ms(300)),
        ["kill b", "stop a", "spawn a", "spawn b"]
    );
    assert_eq!(h.engine().stats().restart_decisions, 2);
    h.input(Input::Ready(h.run("b")));
    assert_eq!(h.commands(), ["kill b", "stop a", "spawn a", "spawn b", "spawn c"]);
}

/// During a rolling restart, the supervisor is busy while it waits for each
/// child to be ready again. A child whose turn has not come yet may end by
/// itself meanwhile; its end is then judged by the restart table, as always:
/// a temporary child that ended is removed and never restarted.
#[test]
fn restart_all_rolling_does_not_restart_a_temporary_child_that_ended_by_itself_before_its_turn() {
    let spec = SupervisorSpec::new()
        .intensity(10)
        .child(w("a").readiness(Readiness::Notify))
        .child(w("t").restart(Restart::Temporary))
        .child(w("b"));
    let mut h = Harness::new(spec);
    h.start();
    h.never_ready("a");
    h.take_events();
    pending(h.request(restart_all("", RestartAllMode::Rolling)));
    assert_eq!(h.commands(), ["stop a", "spawn a"]);
    h.crash("t"); // t ends by itself while a is not ready yet
    h.input(Input::Ready(h.run("a")));
    assert_eq!(
        h.commands(),
        ["stop a", "spawn a", "stop b", "spawn b"],
        "t is not spawned again"
    );
    assert_eq!(h.engine().lookup("t"), None, "an ended temporary child is removed");
}

/// Same for a transient child that ended normally: it stays stopped.
#[test]
fn restart_all_rolling_does_not_restart_a_transient_child_that_ended_normally_before_its_turn() {
    let spec = SupervisorSpec::new()
        .intensity(10)
        .child(w("a").readiness(Readiness::Notify))
        .child(w("u").restart(Restart::Transient))
        .child(w("b"));
    let mut h = Harness::new(spec);
    h.start();
    h.never_ready("a");
    h.take_events();
    pending(h.request(restart_all("", RestartAllMode::Rolling)));
    h.exit("u", ExitReason::Normal);
    h.input(Input::Ready(h.run("a")));
    assert_eq!(
        h.commands(),
        ["stop a", "spawn a", "stop b", "spawn b"],
        "u is not spawned again"
    );
    assert_eq!(h.state("u"), ChildState::Stopped);
}

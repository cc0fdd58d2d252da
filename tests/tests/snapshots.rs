//! Snapshot tests: a dozen canonical scenarios, each rendered one line per
//! notice by the [`Harness`], recorded under `tests/snapshots/`.
//!
//! Every snapshot was read line by line against docs/SEMANTICS.md when it was
//! recorded; a changed snapshot is a changed behaviour and must be checked
//! against that page again before it is accepted.

use std::time::Duration;

use vigil_core::{
    AutoShutdown, Backoff, ChildSpec, ExitReason, Input, Readiness, Reply, Request, RequestError, Restart,
    RestartAllMode, Shutdown, Strategy, SupervisorSpec,
};
use vigil_tests::Harness;

fn w(name: &str) -> ChildSpec {
    ChildSpec::worker(name)
}

fn sup(name: &str, spec: SupervisorSpec) -> ChildSpec {
    ChildSpec::supervisor(name, spec)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn snap(name: &str, h: &Harness) {
    insta::assert_snapshot!(name, h.log().join("\n"));
}

/// (1) one_for_one: only the crashed child is restarted, with a new generation.
#[test]
fn one_for_one_crash_and_restart() {
    let spec = SupervisorSpec::new().child(w("a")).child(w("b")).child(w("c"));
    let mut h = Harness::new(spec);
    h.start();
    h.advance(ms(1000));
    h.crash("b");
    snap("01_one_for_one_crash_and_restart", &h);
}

/// (2) one_for_all: the others are stopped in reverse start order, the
/// temporary sibling is removed instead of restarted, then all start in order,
/// including the transient child that had ended normally before the round.
#[test]
fn one_for_all_round_removes_temporary_sibling() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .child(w("a"))
        .child(w("t").restart(Restart::Temporary))
        .child(w("n").restart(Restart::Transient))
        .child(w("b"))
        .child(w("c"));
    let mut h = Harness::new(spec);
    h.start();
    h.advance(ms(500));
    h.exit("n", ExitReason::Normal);
    h.advance(ms(500));
    h.crash("b");
    snap("02_one_for_all_round_removes_temporary_sibling", &h);
}

/// (3) rest_for_one: the children after the failed one are stopped (last
/// first), then it and they start in order; the earlier child gets no command.
#[test]
fn rest_for_one_four_children() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::RestForOne)
        .child(w("a"))
        .child(w("b"))
        .child(w("c"))
        .child(w("d"));
    let mut h = Harness::new(spec);
    h.start();
    h.advance(ms(1000));
    h.crash("b");
    snap("03_rest_for_one_four_children", &h);
}

/// (4) A restart storm in a leaf supervisor escalates: the leaf gives up
/// (intensity 1), its parent restarts it until it gives up too, and the root
/// (intensity 0) gives up on the first escalation: the tree is down.
#[test]
fn restart_storm_escalates_three_levels() {
    let leaf = SupervisorSpec::new().intensity(1).child(w("w"));
    let mid = SupervisorSpec::new().intensity(1).child(sup("leaf", leaf));
    let root = SupervisorSpec::new()
        .intensity(0)
        .child(w("first"))
        .child(sup("mid", mid))
        .child(w("last"));
    let mut h = Harness::new(root);
    h.start();
    for _ in 0..10 {
        h.advance(ms(100));
        if h.engine().is_down() {
            break;
        }
        h.crash("mid/leaf/w");
    }
    assert!(h.engine().is_down());
    snap("04_restart_storm_escalates_three_levels", &h);
}

/// (5) A failed start during the first start aborts: no retry, the children
/// already started are stopped in reverse order, the nested supervisor fails
/// to start, so the root fails to start and the tree is down.
#[test]
fn failed_start_during_init_aborts() {
    let spec = SupervisorSpec::new()
        .child(w("a"))
        .child(sup(
            "s",
            SupervisorSpec::new().child(w("x")).child(w("y")).child(w("z")),
        ))
        .child(w("c"));
    let mut h = Harness::new(spec);
    h.fail_starts("s/y", 1);
    h.start();
    assert!(h.engine().is_down());
    snap("05_failed_start_during_init_aborts", &h);
}

/// (6) A failed start during a one_for_all restart is another restart
/// decision; the round is retried and the sibling already restarted in it is
/// stopped again.
#[test]
fn failed_restart_is_retried_one_for_all() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .intensity(5)
        .child(w("a"))
        .child(w("b"))
        .child(w("c"));
    let mut h = Harness::new(spec);
    h.start();
    h.advance(ms(1000));
    h.fail_starts("b", 1);
    h.crash("c");
    snap("06_failed_restart_is_retried_one_for_all", &h);
}

/// (7) A child that ignores Stop is killed exactly at its shutdown deadline
/// (2 s after the Stop), not before; then the one_for_all round goes on.
#[test]
fn shutdown_timeout_kills_at_deadline() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .child(w("stubborn").shutdown(Shutdown::Timeout(ms(2000))))
        .child(w("b"));
    let mut h = Harness::new(spec);
    h.ignore_stop("stubborn");
    h.start();
    h.advance(ms(1000));
    h.crash("b");
    h.advance(ms(1999));
    assert!(h.log_lines("kill").is_empty(), "no kill before the deadline");
    h.advance(ms(1));
    h.advance(ms(10_000));
    snap("07_shutdown_timeout_kills_at_deadline", &h);
}

/// (8) Shutting down a nested tree: depth-first, reverse start order, one
/// child at a time; the shutdown request is answered when the tree is down.
#[test]
fn ordered_shutdown_of_nested_tree() {
    let inner = SupervisorSpec::new().child(w("p")).child(w("q"));
    let middle = SupervisorSpec::new()
        .child(w("x"))
        .child(sup("inner", inner))
        .child(w("y"));
    let spec = SupervisorSpec::new()
        .child(w("a"))
        .child(sup("middle", middle))
        .child(w("b"));
    let mut h = Harness::new(spec);
    h.start();
    h.advance(ms(1000));
    let r = h.request(Request::Shutdown);
    assert!(matches!(r, Ok(Reply::Pending(_))), "{r:?}");
    assert!(h.engine().is_down());
    snap("08_ordered_shutdown_of_nested_tree", &h);
}

/// (9) auto_shutdown = any_significant: terminating the significant child by
/// request does not end the supervisor; the significant child ending by itself
/// (normally, transient: not restarted) does. The transient supervisor ends
/// with `shutdown` and is not restarted by the root.
#[test]
fn auto_shutdown_any_significant() {
    let svc = SupervisorSpec::new()
        .auto_shutdown(AutoShutdown::AnySignificant)
        .child(w("a"))
        .child(w("main").restart(Restart::Transient).significant(true))
        .child(w("b"));
    let spec = SupervisorSpec::new()
        .child(sup("svc", svc).restart(Restart::Transient))
        .child(w("other"));
    let mut h = Harness::new(spec);
    h.start();
    h.advance(ms(1000));
    let r = h.request(Request::TerminateChild {
        path: "svc/main".into(),
    });
    assert!(matches!(r, Ok(Reply::Pending(_))), "{r:?}");
    h.advance(ms(1000));
    let r = h.request(Request::RestartChild {
        path: "svc/main".into(),
    });
    assert!(matches!(r, Ok(Reply::Pending(_))), "{r:?}");
    h.advance(ms(1000));
    h.exit("svc/main", ExitReason::Normal);
    assert!(!h.engine().is_down());
    snap("09_auto_shutdown_any_significant", &h);
}

/// (10) A rolling restart_all of notify children: one at a time, the next
/// only after the previous is ready again.
#[test]
fn rolling_restart_all_with_notify_children() {
    let n = |name: &str| w(name).readiness(Readiness::Notify);
    let spec = SupervisorSpec::new().child(n("a")).child(n("b")).child(n("c"));
    let mut h = Harness::new(spec);
    h.start();
    h.advance(ms(1000));
    // From now on `b` reports ready only when the test says so.
    h.never_ready("b");
    let r = h.request(Request::RestartAll {
        path: String::new(),
        mode: RestartAllMode::Rolling,
    });
    assert!(matches!(r, Ok(Reply::Pending(_))), "{r:?}");
    h.advance(ms(500));
    let b = h.run("b");
    h.input(Input::Ready(b));
    snap("10_rolling_restart_all_with_notify_children", &h);
}

/// (11) Backoff with jitter (seeded) growing over quick failures, and reset
/// after a run that lived `reset_after`.
#[test]
fn backoff_with_jitter_and_reset_after() {
    let backoff = Backoff {
        initial: ms(100),
        max: ms(1000),
        multiplier: 2.0,
        jitter: 0.25,
        reset_after: Some(ms(2000)),
    };
    let spec = SupervisorSpec::new()
        .intensity(100)
        .period(Duration::from_secs(60))
        .child(w("w").backoff(backoff))
        .child(w("other"));
    let mut h = Harness::with_seed(spec, 7);
    h.start();
    // Five quick failures: the delay grows (100, 200, 400, 800, 1000 ms, each
    // shortened by at most 25 %).
    for _ in 0..5 {
        h.advance(ms(10));
        h.crash("w");
        h.advance(ms(1000));
    }
    // A run that lives 3 s (>= reset_after) resets the delay to `initial`.
    h.advance(ms(3000));
    h.crash("w");
    h.advance(ms(1000));
    snap("11_backoff_with_jitter_and_reset_after", &h);
}

/// (12) A worker that stops sending heartbeats is killed at its health
/// deadline and restarted; the exit reads `health`.
#[test]
fn health_timeout_kill_and_restart() {
    let spec = SupervisorSpec::new()
        .child(w("w").health_timeout(ms(1000)))
        .child(w("other"));
    let mut h = Harness::new(spec);
    h.start();
    h.advance(ms(500));
    let run = h.run("w");
    h.input(Input::Heartbeat(run));
    h.advance(ms(700));
    h.input(Input::Heartbeat(run));
    // Silent from 1200 ms: the deadline is 2200 ms.
    h.advance(ms(999));
    assert!(h.log_lines("timeout").is_empty(), "no timeout before the deadline");
    h.advance(ms(1));
    h.advance(ms(100));
    snap("12_health_timeout_kill_and_restart", &h);
}

/// (13) Operator requests with their replies: start_child, terminate_child,
/// restart_child, delete_child, the error answers, and a failed start_child
/// that keeps nothing.
#[test]
fn operator_requests_with_replies() {
    let spec = SupervisorSpec::new().child(w("a"));
    let mut h = Harness::new(spec);
    h.start();
    h.advance(ms(100));

    let start = |name: &str| Request::StartChild {
        parent: String::new(),
        spec: w(name),
    };
    let path = |p: &str| p.to_owned();

    assert!(matches!(h.request(start("d")), Ok(Reply::Pending(_))));
    assert_eq!(
        h.request(start("d")),
        Err(RequestError::AlreadyStarted(path("d"))),
        "start_child of a running name"
    );
    assert_eq!(
        h.request(Request::RestartChild { path: path("d") }),
        Err(RequestError::Running(path("d")))
    );
    assert_eq!(
        h.request(Request::DeleteChild { path: path("d") }),
        Err(RequestError::Running(path("d")))
    );
    h.advance(ms(100));
    assert!(matches!(
        h.request(Request::TerminateChild { path: path("d") }),
        Ok(Reply::Pending(_))
    ));
    assert_eq!(
        h.request(Request::TerminateChild { path: path("d") }),
        Ok(Reply::Ok),
        "terminate_child of a stopped child is ok"
    );
    assert_eq!(
        h.request(start("d")),
        Err(RequestError::AlreadyPresent(path("d"))),
        "start_child of a stopped name"
    );
    h.advance(ms(100));
    assert!(matches!(
        h.request(Request::RestartChild { path: path("d") }),
        Ok(Reply::Pending(_))
    ));
    h.advance(ms(100));
    assert!(matches!(
        h.request(Request::TerminateChild { path: path("d") }),
        Ok(Reply::Pending(_))
    ));
    assert_eq!(h.request(Request::DeleteChild { path: path("d") }), Ok(Reply::Ok));
    assert_eq!(
        h.request(Request::DeleteChild { path: path("d") }),
        Err(RequestError::NotFound(path("d")))
    );
    assert_eq!(
        h.request(Request::RestartChild { path: path("d") }),
        Err(RequestError::NotFound(path("d")))
    );
    h.advance(ms(100));
    // A start_child whose start fails returns the error and keeps nothing.
    h.fail_starts("bad", 1);
    assert!(matches!(h.request(start("bad")), Ok(Reply::Pending(_))));
    assert_eq!(h.engine().lookup("bad"), None);
    // terminate_child of a temporary child removes it.
    h.advance(ms(100));
    let temp = Request::StartChild {
        parent: String::new(),
        spec: w("temp").restart(Restart::Temporary),
    };
    assert!(matches!(h.request(temp), Ok(Reply::Pending(_))));
    assert!(matches!(
        h.request(Request::TerminateChild { path: path("temp") }),
        Ok(Reply::Pending(_))
    ));
    assert_eq!(h.engine().lookup("temp"), None);
    snap("13_operator_requests_with_replies", &h);
}

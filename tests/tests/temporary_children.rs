//! docs/SEMANTICS.md §3 (restart types): a temporary child's spec is removed
//! when the child ends, and a failed start is an end. OTP never keeps a
//! stopped temporary child, whatever started it: the first start, an automatic
//! restart round, `restart_all` (all at once or rolling), `restart_child`,
//! or a `terminate_child` that lands while it is starting.

use std::time::Duration;

use vigil_core::*;
use vigil_tests::Harness;

fn w(name: &str) -> ChildSpec {
    ChildSpec::worker(name)
}

fn temporary(name: &str) -> ChildSpec {
    w(name).restart(Restart::Temporary)
}

fn restart_all(path: &str, mode: RestartAllMode) -> Request {
    Request::RestartAll {
        path: path.to_owned(),
        mode,
    }
}

fn restart_child(path: &str) -> Request {
    Request::RestartChild { path: path.to_owned() }
}

fn counts(h: &mut Harness) -> ChildCounts {
    match h.request(Request::CountChildren { path: String::new() }) {
        Ok(Reply::Counts(c)) => c,
        other => panic!("count_children gave {other:?}"),
    }
}

/// The tree of the issue: a temporary `t` and a permanent `w` under one_for_one.
fn issue_tree() -> Harness {
    let mut h = Harness::new(SupervisorSpec::new().intensity(10).child(temporary("t")).child(w("w")));
    h.start();
    h
}

#[test]
fn a_temporary_child_whose_start_fails_during_restart_all_is_removed_and_cannot_be_restarted() {
    let mut h = issue_tree();
    h.advance(Duration::from_secs(1));
    h.fail_starts("t", 1);
    h.advance(Duration::from_secs(1));
    let w_before = h.run("w").generation;
    h.take_events();
    let r = h.request(restart_all("", RestartAllMode::AllAtOnce));
    assert!(matches!(r, Ok(Reply::Pending(_))), "{r:?}");
    assert_eq!(h.engine().lookup("t"), None, "the failed temporary child is gone");
    assert_eq!(h.events_starting("removed "), ["removed t"]);
    // `w` was restarted all the same and runs.
    assert_eq!(h.state("w"), ChildState::Running);
    assert!(h.run("w").generation > w_before);
    let replies = h.events_starting("reply ");
    assert_eq!(replies.len(), 1, "{replies:?}");
    assert!(replies[0].contains("result=error(start_failed)"), "{replies:?}");
    // At 3 s the script's restart_child finds nothing to start.
    h.advance(Duration::from_secs(1));
    assert_eq!(h.request(restart_child("t")), Err(RequestError::NotFound("t".into())));
    assert_eq!(h.log_lines("spawn t").len(), 1, "t is never spawned again");
    let c = counts(&mut h);
    assert_eq!((c.specs, c.active), (1, 1));
}

#[test]
fn a_temporary_child_whose_start_fails_during_a_rolling_restart_all_is_removed() {
    let mut h = Harness::new(
        SupervisorSpec::new()
            .intensity(10)
            .child(w("a"))
            .child(temporary("t"))
            .child(w("b")),
    );
    h.start();
    let b_before = h.run("b").generation;
    h.fail_starts("t", 1);
    h.take_events();
    let r = h.request(restart_all("", RestartAllMode::Rolling));
    assert!(matches!(r, Ok(Reply::Pending(_))), "{r:?}");
    assert_eq!(h.engine().lookup("t"), None);
    assert_eq!(h.events_starting("removed "), ["removed t"]);
    // A rolling restart stops at the first failure: `b` was left running as it was.
    assert_eq!(h.run("b").generation, b_before);
    assert_eq!(h.state("a"), ChildState::Running);
    assert_eq!(counts(&mut h).specs, 2);
}

#[test]
fn a_temporary_child_whose_start_times_out_during_restart_all_is_removed() {
    let mut h = Harness::new(
        SupervisorSpec::new().intensity(10).child(w("a")).child(
            temporary("t")
                .readiness(Readiness::Notify)
                .startup_timeout(Duration::from_millis(100)),
        ),
    );
    h.start();
    h.never_ready("t");
    let r = h.request(restart_all("", RestartAllMode::AllAtOnce));
    assert!(matches!(r, Ok(Reply::Pending(_))), "{r:?}");
    assert!(h.engine().lookup("t").is_some(), "still starting");
    h.advance(Duration::from_millis(100));
    assert_eq!(
        h.engine().lookup("t"),
        None,
        "a start timeout is a failed start: removed"
    );
    assert_eq!(h.events_starting("removed "), ["removed t"]);
    assert_eq!(h.state("a"), ChildState::Running);
}

#[test]
fn a_temporary_child_that_exits_before_it_started_during_restart_all_is_removed() {
    let mut h = issue_tree();
    h.hang_start("t");
    let r = h.request(restart_all("", RestartAllMode::AllAtOnce));
    assert!(matches!(r, Ok(Reply::Pending(_))), "{r:?}");
    let run = h.hanging().remove("t").expect("t is starting");
    h.input(Input::Exited(run, ExitReason::Error("no such file".into())));
    assert_eq!(h.engine().lookup("t"), None);
    assert_eq!(h.state("w"), ChildState::Running);
}

#[test]
fn restart_child_of_a_temporary_child_whose_start_fails_removes_it() {
    // The only way to have a stopped temporary child: replace a stopped
    // permanent one's spec with a temporary one.
    let mut h = issue_tree();
    assert!(h.request(Request::TerminateChild { path: "w".into() }).is_ok());
    assert_eq!(h.state("w"), ChildState::Stopped);
    let replaced = h.request(Request::ReplaceChild {
        path: "w".into(),
        spec: temporary("w"),
    });
    assert_eq!(replaced, Ok(Reply::Ok));
    h.fail_starts("w", 1);
    h.take_events();
    let r = h.request(restart_child("w"));
    assert!(matches!(r, Ok(Reply::Pending(_))), "{r:?}");
    assert_eq!(h.engine().lookup("w"), None);
    assert_eq!(h.events_starting("removed "), ["removed w"]);
    let replies = h.events_starting("reply ");
    assert!(replies[0].contains("result=error(start_failed)"), "{replies:?}");
    assert_eq!(h.request(restart_child("w")), Err(RequestError::NotFound("w".into())));
}

#[test]
fn terminate_child_of_a_starting_temporary_child_whose_start_fails_removes_it_once() {
    let mut h = issue_tree();
    h.hang_start("t");
    assert!(h.request(restart_all("", RestartAllMode::AllAtOnce)).is_ok());
    let run = h.hanging().remove("t").expect("t is starting");
    // The supervisor is busy with restart_all: the terminate waits its turn...
    assert!(h.request(Request::TerminateChild { path: "t".into() }).is_ok());
    h.input(Input::StartFailed(run, "boom".into()));
    // ...and the failed start already ended `t`: removed exactly once.
    assert_eq!(h.engine().lookup("t"), None);
    assert_eq!(h.events_starting("removed "), ["removed t"]);
    let c = counts(&mut h);
    assert_eq!((c.specs, c.active, c.workers), (1, 1, 1));
}

#[test]
fn a_removed_failed_temporary_child_leaves_the_nested_supervisor_counts_right() {
    let inner = SupervisorSpec::new().child(temporary("t")).child(w("u"));
    let mut h = Harness::new(
        SupervisorSpec::new()
            .child(ChildSpec::supervisor("g", inner))
            .child(w("x")),
    );
    h.start();
    h.fail_starts("g/t", 1);
    assert!(h.request(restart_all("g", RestartAllMode::AllAtOnce)).is_ok());
    assert_eq!(h.engine().lookup("g/t"), None);
    let c = match h.request(Request::CountChildren { path: "g".into() }) {
        Ok(Reply::Counts(c)) => c,
        other => panic!("{other:?}"),
    };
    assert_eq!((c.specs, c.active, c.workers), (1, 1, 1));
    assert_eq!(h.state("g/u"), ChildState::Running);
}

//! `Engine::outcome`: `Up` until the root ends, then how it ended, for good.
//! The root's give-up is known only here (no flag elsewhere to agree with).

use std::time::Duration;

use vigil_core::{
    AutoShutdown, ChildSpec, Command, Engine, ExitReason, Input, Instant, Outcome, Request, Restart, SupervisorSpec,
};

fn at(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

/// Answer every spawn with `Started` and every stop with a `shutdown` exit,
/// until the engine has nothing more to do.
fn settle(e: &mut Engine, now: Instant) {
    while let Some(cmd) = e.poll_command() {
        match cmd {
            Command::Spawn(r) => e.handle(Input::Started(r), now),
            Command::Stop(r) | Command::Kill(r) => e.handle(Input::Exited(r, ExitReason::shutdown()), now),
        }
    }
}

fn run_of(e: &Engine, path: &str) -> vigil_core::RunId {
    let node = e.lookup(path).expect("the child exists");
    e.current_run(node).expect("the child runs")
}

fn crash(e: &mut Engine, path: &str, now: Instant) {
    let run = run_of(e, path);
    e.handle(Input::Exited(run, ExitReason::Error("boom".into())), now);
    settle(e, now);
}

#[test]
fn up_before_the_start_and_while_running() {
    let mut e = Engine::new(SupervisorSpec::new().child(ChildSpec::worker("w")), 0).unwrap();
    assert_eq!(e.outcome(), Outcome::Up);
    assert!(!e.is_down());
    e.start(at(0));
    settle(&mut e, at(0));
    assert_eq!(e.outcome(), Outcome::Up);
}

#[test]
fn a_shutdown_request_reads_shut_down() {
    let mut e = Engine::new(SupervisorSpec::new().child(ChildSpec::worker("w")), 0).unwrap();
    e.start(at(0));
    settle(&mut e, at(0));
    e.request(Request::Shutdown, at(1)).unwrap();
    assert_eq!(e.outcome(), Outcome::Up, "still up while the children stop");
    settle(&mut e, at(2));
    assert_eq!(e.outcome(), Outcome::ShutDown);
    assert!(e.is_down());
}

#[test]
fn a_shutdown_before_the_start_reads_shut_down() {
    let mut e = Engine::new(SupervisorSpec::new().child(ChildSpec::worker("w")), 0).unwrap();
    e.request(Request::Shutdown, at(0)).unwrap();
    assert_eq!(e.outcome(), Outcome::ShutDown);
}

#[test]
fn the_root_giving_up_reads_root_gave_up_only_once_it_has_ended() {
    let spec = SupervisorSpec::new()
        .intensity(0)
        .child(ChildSpec::worker("a"))
        .child(ChildSpec::worker("b"));
    let mut e = Engine::new(spec, 0).unwrap();
    e.start(at(0));
    settle(&mut e, at(0));
    let a = run_of(&e, "a");
    e.handle(Input::Exited(a, ExitReason::Error("boom".into())), at(1));
    assert_eq!(e.outcome(), Outcome::Up, "b is still stopping");
    // A shutdown asked while the root ends does not change why it ends.
    e.request(Request::Shutdown, at(1)).unwrap();
    settle(&mut e, at(2));
    assert_eq!(e.outcome(), Outcome::RootGaveUp);
    assert_eq!(e.stats().give_ups, 1);
}

#[test]
fn a_nested_supervisor_giving_up_is_not_the_root_giving_up() {
    let inner = SupervisorSpec::new().intensity(0).child(ChildSpec::worker("w"));
    let spec = SupervisorSpec::new()
        .intensity(0)
        .child(ChildSpec::supervisor("s", inner).restart(Restart::Temporary));
    let mut e = Engine::new(spec, 0).unwrap();
    e.start(at(0));
    settle(&mut e, at(0));
    crash(&mut e, "s/w", at(1));
    assert_eq!(e.stats().give_ups, 1, "s gave up");
    assert_eq!(e.outcome(), Outcome::Up, "the root did not: s was temporary");
    e.request(Request::Shutdown, at(2)).unwrap();
    settle(&mut e, at(2));
    assert_eq!(e.outcome(), Outcome::ShutDown);
}

#[test]
fn a_failed_first_start_reads_start_failed() {
    let mut e = Engine::new(SupervisorSpec::new().child(ChildSpec::worker("w")), 0).unwrap();
    e.start(at(0));
    let Some(Command::Spawn(w)) = e.poll_command() else {
        panic!("w is spawned")
    };
    e.handle(Input::StartFailed(w, "no such program".into()), at(0));
    settle(&mut e, at(0));
    assert_eq!(e.outcome(), Outcome::StartFailed);
    assert!(e.outcome().is_failure());
}

#[test]
fn a_root_ending_by_itself_reads_shut_down() {
    let spec = SupervisorSpec::new()
        .auto_shutdown(AutoShutdown::AnySignificant)
        .child(ChildSpec::worker("w").restart(Restart::Transient).significant(true));
    let mut e = Engine::new(spec, 0).unwrap();
    e.start(at(0));
    settle(&mut e, at(0));
    let w = run_of(&e, "w");
    e.handle(Input::Exited(w, ExitReason::Normal), at(1));
    settle(&mut e, at(1));
    assert_eq!(e.outcome(), Outcome::ShutDown);
    assert!(!e.outcome().is_failure());
}

#[test]
fn outcomes_print_as_the_simulator_summary_does() {
    let all = [
        Outcome::Up,
        Outcome::RootGaveUp,
        Outcome::ShutDown,
        Outcome::StartFailed,
    ];
    let shown: Vec<String> = all.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "tree up at the end",
            "root gave up",
            "tree shut down",
            "tree failed to start"
        ]
    );
    let mut sorted = all;
    sorted.sort();
    assert_eq!(sorted, all, "the summary's order");
}

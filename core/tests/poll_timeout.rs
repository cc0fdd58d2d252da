//! `Engine::poll_timeout` reads the next live deadline without changing the
//! engine: cancelled deadlines never surface, whichever call cancelled them.

use std::time::Duration;

use vigil_core::{
    ChildSpec, Command, Engine, Input, Instant, Readiness, Request, SupervisorSpec, DEFAULT_WORKER_SHUTDOWN,
};

fn at(ms: u64) -> Instant {
    Instant::ZERO + Duration::from_millis(ms)
}

fn spawned(e: &mut Engine) -> vigil_core::RunId {
    match e.poll_command() {
        Some(Command::Spawn(run)) => run,
        other => panic!("expected a spawn, got {other:?}"),
    }
}

/// A notify worker with a short startup deadline and a long health deadline.
fn engine() -> Engine {
    let worker = ChildSpec::worker("w")
        .readiness(Readiness::Notify)
        .startup_timeout(Duration::from_millis(100))
        .health_timeout(Duration::from_millis(1_000));
    Engine::new(SupervisorSpec::new().child(worker), 1).expect("valid spec")
}

#[test]
fn a_cancelled_deadline_is_never_the_next_one() {
    let mut e = engine();
    e.start(at(0));
    let run = spawned(&mut e);
    e.handle(Input::Started(run), at(0));
    assert_eq!(e.poll_timeout(), Some(at(100)), "the startup deadline");
    // Ready cancels the startup deadline (its heap entry stays, earlier than
    // the health deadline) and arms the health deadline.
    e.handle(Input::Ready(run), at(50));
    assert_eq!(
        e.poll_timeout(),
        Some(at(1_050)),
        "the health deadline, not the cancelled one"
    );
    // Asking twice changes nothing.
    assert_eq!(e.poll_timeout(), Some(at(1_050)));
    // A request stops the worker: its health deadline is cancelled (still in
    // the heap, earlier) and its kill deadline armed.
    e.request(Request::TerminateChild { path: "w".into() }, at(60))
        .expect("terminate_child is accepted");
    assert!(matches!(e.poll_command(), Some(Command::Stop(r)) if r == run));
    let kill_at = at(60) + DEFAULT_WORKER_SHUTDOWN;
    assert!(kill_at > at(1_050), "the cancelled deadline is the earlier one");
    assert_eq!(e.poll_timeout(), Some(kill_at));
}

#[test]
fn a_deadline_cancelled_while_firing_others_does_not_surface() {
    let mut e = engine();
    e.start(at(0));
    let run = spawned(&mut e);
    e.handle(Input::Started(run), at(0));
    e.handle(Input::Ready(run), at(50));
    // Nothing is due at 60 ms: handle_timeout fires nothing but must leave the
    // next live deadline on top.
    e.handle_timeout(at(60));
    assert_eq!(e.poll_timeout(), Some(at(1_050)));
    // The health deadline fires: the run is killed, and nothing else is armed.
    e.handle_timeout(at(1_050));
    assert!(matches!(e.poll_command(), Some(Command::Kill(r)) if r == run));
    assert_eq!(e.poll_timeout(), None);
}

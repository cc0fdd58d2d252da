//! `ManualWorld`: the oracle over hand-chosen input sequences, and the three
//! oracle limitations the `engine` fuzz target found (each also kept as a
//! fuzz input in `fuzz/regressions/engine/`).

use std::time::Duration;

use vigil_core::{ChildSpec, ExitReason, Input, Request, Restart, RunId, SupervisorSpec};
use vigil_sim::{ManualWorld, RunPhase, TraceWriter};

fn world(spec: SupervisorSpec) -> ManualWorld {
    let mut w = ManualWorld::new(spec, 0, TraceWriter::hashing()).expect("valid spec");
    w.start();
    w
}

fn live(w: &ManualWorld, path: &str) -> RunId {
    let node = w.engine().lookup(path).expect("node");
    w.live_runs().find(|r| r.node == node).expect("a live run")
}

#[test]
fn valid_and_stale_inputs_are_told_apart() {
    let spec = SupervisorSpec::new().child(ChildSpec::worker("a").readiness(vigil_core::Readiness::Notify));
    let mut w = world(spec);
    let a = live(&w, "a");
    assert_eq!(w.phase(a), Some(RunPhase::Spawning));
    assert!(!w.deliver(Input::Ready(a)), "Ready before Started");
    assert!(!w.deliver(Input::Heartbeat(a)), "Heartbeat before Started");
    assert!(w.deliver(Input::Started(a)));
    assert!(w.deliver(Input::Heartbeat(a)));
    assert!(w.deliver(Input::Ready(a)));
    assert!(!w.deliver(Input::Ready(a)), "a second Ready");
    let unknown = RunId {
        node: vigil_core::NodeId::from_index(99),
        generation: 1,
    };
    assert!(!w.deliver(Input::Exited(unknown, ExitReason::Normal)));
    assert!(w.deliver(Input::Exited(a, ExitReason::Error("x".into()))));
    assert!(!w.deliver(Input::Exited(a, ExitReason::Normal)), "the run has ended");
    w.shutdown_cooperatively(1000);
    assert!(w.engine().is_down());
    assert!(w.violation().is_none(), "{:?}", w.violation());
}

/// A run killed for a missed heartbeat may report any reason (it ended by
/// itself just before the kill landed): it failed, so a permanent child is
/// restarted. The oracle used to read it as a stop unless the reason was
/// `health` and flagged the restart.
#[test]
fn a_run_killed_for_its_heartbeat_may_exit_with_another_reason() {
    let spec = SupervisorSpec::new().child(ChildSpec::worker("w").health_timeout(Duration::from_millis(10)));
    let mut w = world(spec);
    let first = live(&w, "w");
    w.deliver(Input::Started(first));
    w.advance(Duration::from_millis(10));
    assert_eq!(w.phase(first), Some(RunPhase::Stopping), "killed for its heartbeat");
    assert!(w.deliver(Input::Exited(first, ExitReason::Memory)));
    let second = live(&w, "w");
    assert!(second.generation > first.generation, "restarted");
    assert!(w.violation().is_none(), "{:?}", w.violation());
}

/// A temporary child that ends while its supervisor is still starting the
/// others is removed from the sibling list during the call in which the
/// start goes on; the start order must still be judged right.
#[test]
fn a_temporary_child_ending_during_its_supervisors_start() {
    let inner = SupervisorSpec::new()
        .child(ChildSpec::worker("t").restart(Restart::Temporary))
        .child(ChildSpec::supervisor(
            "s1",
            SupervisorSpec::new().child(ChildSpec::worker("x")),
        ))
        .child(ChildSpec::supervisor("s2", SupervisorSpec::new()));
    let mut w = world(SupervisorSpec::new().child(ChildSpec::supervisor("s", inner)));
    let t = live(&w, "s/t");
    w.deliver(Input::Started(t));
    let x = live(&w, "s/s1/x");
    assert!(w.deliver(Input::Exited(t, ExitReason::Error("x".into()))));
    w.deliver(Input::Started(x));
    assert!(w.engine().lookup("s/t").is_none(), "the temporary child is gone");
    assert!(w.engine().lookup("s/s2").is_some());
    assert!(w.violation().is_none(), "{:?}", w.violation());
    let _ = w.request(Request::Shutdown);
    w.shutdown_cooperatively(1000);
    assert!(w.violation().is_none(), "{:?}", w.violation());
}

/// A supervisor child gives up while its parent is busy starting a dynamic
/// child; an operator then asks to terminate it and to replace its spec with
/// a transient worker. When the parent is free it restarts the (permanent)
/// supervisor first, then terminates and replaces it, all in one call: the
/// restart must be judged by the spec it ran under, not the replacement the
/// oracle used to read after the call.
#[test]
fn a_restart_is_judged_by_the_spec_the_child_ran_under() {
    use std::time::Duration as D;
    let inner = SupervisorSpec::new().intensity(0).period(D::from_millis(1));
    let middle = SupervisorSpec::new()
        .intensity(1)
        .period(D::from_millis(10))
        .child(ChildSpec::supervisor("s", inner));
    let mut w = world(SupervisorSpec::new().child(ChildSpec::supervisor("m", middle)));
    let _ = w.request(Request::StartChild {
        parent: "m/s".into(),
        spec: ChildSpec::worker("d0"),
    });
    let d0 = live(&w, "m/s/d0");
    w.deliver(Input::Started(d0));
    let _ = w.request(Request::StartChild {
        parent: "m".into(),
        spec: ChildSpec::worker("d1").readiness(vigil_core::Readiness::Notify),
    });
    let d1 = live(&w, "m/d1");
    assert!(
        w.deliver(Input::Exited(d0, ExitReason::Normal)),
        "m/s gives up (intensity 0)"
    );
    let _ = w.request(Request::TerminateChild { path: "m/s".into() });
    let _ = w.request(Request::ReplaceChild {
        path: "m/s".into(),
        spec: ChildSpec::worker("s").restart(Restart::Transient),
    });
    assert!(w.deliver(Input::Exited(d1, ExitReason::Normal)), "d1's start fails");
    let s = w.engine().lookup("m/s").expect("m/s");
    assert_eq!(w.engine().restart_type(s), Some(Restart::Transient), "replaced");
    assert!(!w.engine().is_supervisor(s));
    assert!(w.violation().is_none(), "{:?}", w.violation());
}

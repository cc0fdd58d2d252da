//! The oracle's rules for the shutdown order (docs/SIMULATION.md, "The
//! oracle", `stop_order`): a supervisor whose `shutdown_order` is `parallel`
//! may stop all its children at once when it ends, in any order; any
//! supervisor ends only after all its children.

use std::time::Duration;

use vigil_core::{
    ChildSpec, Command, Engine, ExitReason, Input, Instant, Notice, Request, RunId, Shutdown, ShutdownOrder,
    SupervisorSpec,
};
use vigil_sim::{ManualWorld, Oracle, Rule, TraceWriter};

fn workers(spec: SupervisorSpec, names: &[&str]) -> SupervisorSpec {
    names
        .iter()
        .fold(spec, |s, n| s.child(ChildSpec::worker(*n).shutdown(Shutdown::Infinity)))
}

/// A started world whose every run is up.
fn started(spec: SupervisorSpec) -> ManualWorld {
    let mut w = ManualWorld::new(spec, 0, TraceWriter::hashing()).expect("valid spec");
    w.start();
    loop {
        let next = w.live_runs().find(|r| w.is_valid(&Input::Started(*r)));
        let Some(run) = next else { break };
        assert!(w.deliver(Input::Started(run)));
    }
    w
}

fn run_of(w: &ManualWorld, path: &str) -> RunId {
    let node = w.engine().lookup(path).expect("a node at the path");
    w.engine().current_run(node).expect("a current run")
}

#[test]
fn a_parallel_end_whose_children_exit_in_start_order_breaks_no_rule() {
    let spec = workers(
        SupervisorSpec::new().shutdown_order(ShutdownOrder::Parallel),
        &["a", "b", "c"],
    );
    let mut w = started(spec);
    let runs = ["a", "b", "c"].map(|p| run_of(&w, p));
    let _ = w.request(Request::Shutdown);
    w.advance(Duration::from_millis(1));
    // First started, first gone: the reverse of the reverse order.
    for run in runs {
        assert!(w.deliver(Input::Exited(run, ExitReason::shutdown())));
        w.advance(Duration::from_millis(1));
    }
    assert!(w.engine().is_down());
    assert_eq!(w.violation(), None);
}

#[test]
fn a_nested_parallel_end_breaks_no_rule() {
    let inner = workers(
        SupervisorSpec::new().shutdown_order(ShutdownOrder::Parallel),
        &["x", "y"],
    );
    let spec = workers(SupervisorSpec::new(), &["a"])
        .child(ChildSpec::supervisor("s", inner))
        .child(ChildSpec::worker("b").shutdown(Shutdown::Infinity));
    let mut w = started(spec);
    let (x, y, b, a) = (run_of(&w, "s/x"), run_of(&w, "s/y"), run_of(&w, "b"), run_of(&w, "a"));
    let _ = w.request(Request::Shutdown);
    assert!(w.deliver(Input::Exited(b, ExitReason::shutdown())));
    assert!(w.deliver(Input::Exited(x, ExitReason::shutdown())));
    assert!(w.deliver(Input::Exited(y, ExitReason::Error("late".into()))));
    assert!(w.deliver(Input::Exited(a, ExitReason::shutdown())));
    assert!(w.engine().is_down());
    assert_eq!(w.violation(), None);
}

/// Feed `oracle` everything `engine` reported so far, answering every
/// `Spawn` with `Started`.
fn settle(engine: &mut Engine, oracle: &mut Oracle) {
    loop {
        while let Some(n) = engine.poll_notice() {
            oracle.observe(engine, &n, engine.now());
        }
        match engine.poll_command() {
            Some(Command::Spawn(run)) => engine.handle(Input::Started(run), engine.now()),
            Some(_) => {}
            None => return,
        }
    }
}

#[test]
fn a_supervisor_that_ends_before_its_children_is_caught() {
    // The engine never does it: the oracle is shown the end it would report.
    let spec = workers(
        SupervisorSpec::new().shutdown_order(ShutdownOrder::Parallel),
        &["a", "b"],
    );
    let mut engine = Engine::new(spec.clone(), 0).expect("valid spec");
    let mut oracle = Oracle::new(&spec);
    engine.start(Instant::ZERO);
    settle(&mut engine, &mut oracle);
    assert_eq!(oracle.violation(), None);
    let early = Notice::SupExit {
        sup: engine.root(),
        reason: ExitReason::shutdown(),
    };
    oracle.observe(&engine, &early, engine.now());
    let v = oracle.violation().expect("a violation");
    assert_eq!(v.rule, Rule::StopOrder, "{v}");
    assert!(v.detail.contains("ended while its child a was still live"), "{v}");
}

#[test]
fn a_reverse_supervisor_that_stops_two_children_at_once_is_caught() {
    // The same two stops that a parallel end may send, from a supervisor
    // whose order is reverse.
    let spec = workers(SupervisorSpec::new(), &["a", "b"]);
    let mut engine = Engine::new(spec.clone(), 0).expect("valid spec");
    let mut oracle = Oracle::new(&spec);
    engine.start(Instant::ZERO);
    settle(&mut engine, &mut oracle);
    let _ = engine.request(Request::Shutdown, engine.now());
    let mut stops = Vec::new();
    while let Some(n) = engine.poll_notice() {
        if let Notice::Stop(run) = n {
            stops.push(run);
        }
        oracle.observe(&engine, &n, engine.now());
    }
    assert_eq!(stops.len(), 1, "the engine stops one child at a time");
    let a = engine.current_run(engine.lookup("a").unwrap()).unwrap();
    oracle.observe(&engine, &Notice::Stop(a), engine.now());
    let v = oracle.violation().expect("a violation");
    assert_eq!(v.rule, Rule::StopOrder, "{v}");
}

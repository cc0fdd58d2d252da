//! docs/SEMANTICS.md §1 (and `vigil_core::Input`): an event for an unknown
//! node, an old generation, or a run in a state where it means nothing is
//! stale: ignored, counted, traced, never an error, never a panic.

use vigil_core::*;
use vigil_tests::Harness;

fn w(name: &str) -> ChildSpec {
    ChildSpec::worker(name)
}

/// Root with `a`, `b` and a nested supervisor `s` holding `x`.
fn tree() -> Harness {
    let inner = SupervisorSpec::new().child(w("x"));
    Harness::started(
        SupervisorSpec::new()
            .intensity(10)
            .child(w("a"))
            .child(w("b"))
            .child(ChildSpec::supervisor("s", inner)),
    )
}

/// Every input kind about `run`.
fn all_inputs(run: RunId) -> Vec<Input> {
    vec![
        Input::Started(run),
        Input::StartFailed(run, "late".into()),
        Input::Ready(run),
        Input::Heartbeat(run),
        Input::Exited(run, ExitReason::Error("late".into())),
    ]
}

fn kind_name(input: &Input) -> &'static str {
    input.kind().as_str()
}

/// Snapshot of everything an ignored input must leave alone.
#[derive(Debug, PartialEq)]
struct World {
    commands: usize,
    states: Vec<(String, Option<ChildState>, Option<RunId>)>,
    stats: Stats,
    timeout: Option<Instant>,
}

fn world(h: &mut Harness) -> World {
    let paths = ["a", "b", "s", "s/x", "t", "n"];
    let states = paths
        .iter()
        .map(|p| {
            let node = h.engine().lookup(p);
            (
                p.to_string(),
                node.and_then(|n| h.engine().state(n)),
                node.and_then(|n| h.engine().current_run(n)),
            )
        })
        .collect();
    World {
        commands: h.commands().len(),
        states,
        stats: h.engine().stats(),
        timeout: h.next_deadline(),
    }
}

/// Feed `input`; it must be stale: counted once, one `stale` notice, nothing else changes.
fn assert_stale(h: &mut Harness, input: Input) {
    let before = world(h);
    let log_len = h.log().len();
    let run = input.run();
    let kind = kind_name(&input);
    h.input(input);
    let after = world(h);
    assert_eq!(
        after.stats.stale_inputs,
        before.stats.stale_inputs + 1,
        "{kind} counted"
    );
    assert_eq!(
        World {
            stats: Stats {
                stale_inputs: before.stats.stale_inputs,
                ..after.stats
            },
            ..after
        },
        before,
        "a stale {kind} changes nothing"
    );
    assert_eq!(
        h.events()[log_len..],
        [format!("stale {} gen={} input={kind}", run.node, run.generation)],
        "exactly one stale notice"
    );
}

#[test]
fn inputs_for_an_old_generation_are_stale() {
    let mut h = tree();
    let old = h.run("a");
    h.crash("a");
    let new = h.run("a");
    assert_ne!(old, new);
    h.take_commands();
    for input in all_inputs(old) {
        assert_stale(&mut h, input);
    }
    assert_eq!(h.engine().stats().stale_inputs, 5);
    assert_eq!(h.commands(), Vec::<String>::new());
    assert_eq!(h.run("a"), new);
}

#[test]
fn inputs_for_an_unknown_node_index_are_stale() {
    let mut h = tree();
    let run = RunId {
        node: NodeId::from_index(9999),
        generation: 1,
    };
    for input in all_inputs(run) {
        assert_stale(&mut h, input);
    }
    assert_eq!(h.engine().stats().stale_inputs, 5);
    assert_eq!(h.commands(), Vec::<String>::new());
}

#[test]
fn inputs_for_a_supervisor_node_are_stale() {
    let mut h = tree();
    let s = h.engine().lookup("s").unwrap();
    // The supervisor's own generation, as which_children reports it.
    let Ok(Reply::Children(children)) = h.request(Request::WhichChildren { path: String::new() }) else {
        panic!("which_children")
    };
    let generation = children.iter().find(|c| c.name == "s").unwrap().generation;
    for run in [
        RunId { node: s, generation },
        RunId {
            node: NodeId::ROOT,
            generation: 1,
        },
    ] {
        for input in all_inputs(run) {
            assert_stale(&mut h, input);
        }
    }
    assert_eq!(h.engine().stats().stale_inputs, 10);
    assert_eq!(h.commands(), Vec::<String>::new());
    assert_eq!(h.engine().state(s), Some(ChildState::Running));
}

#[test]
fn duplicate_started_is_stale() {
    let mut h = tree();
    let a = h.run("a");
    assert_stale(&mut h, Input::Started(a));
    assert_eq!(h.engine().state(a.node), Some(ChildState::Running));
}

#[test]
fn ready_for_an_immediate_worker_is_stale() {
    let mut h = tree();
    let a = h.run("a");
    assert_stale(&mut h, Input::Ready(a));
}

#[test]
fn duplicate_ready_for_a_notify_worker_is_stale() {
    let spec = SupervisorSpec::new().child(w("n").readiness(Readiness::Notify));
    let mut h = Harness::started(spec);
    let n = h.run("n");
    assert_eq!(h.engine().state(n.node), Some(ChildState::Running));
    assert_stale(&mut h, Input::Ready(n));
}

#[test]
fn start_failed_for_a_running_worker_is_stale() {
    let mut h = tree();
    let a = h.run("a");
    assert_stale(&mut h, Input::StartFailed(a, "too late".into()));
    assert_eq!(h.engine().state(a.node), Some(ChildState::Running));
}

#[test]
fn duplicate_exit_of_a_transient_child_kept_stopped_is_stale() {
    let spec = SupervisorSpec::new()
        .child(w("a"))
        .child(w("t").restart(Restart::Transient));
    let mut h = Harness::started(spec);
    let t = h.run("t");
    h.exit("t", ExitReason::Normal);
    assert_stale(&mut h, Input::Exited(t, ExitReason::Error("again".into())));
    assert_stale(&mut h, Input::Heartbeat(t));
    assert_eq!(h.engine().state(t.node), Some(ChildState::Stopped));
    assert_eq!(h.commands(), Vec::<String>::new());
}

#[test]
fn inputs_for_a_removed_temporary_child_are_stale_even_when_its_slot_is_reused() {
    let spec = SupervisorSpec::new()
        .intensity(10)
        .child(w("a"))
        .child(w("t").restart(Restart::Temporary));
    let mut h = Harness::started(spec);
    let t = h.run("t");
    h.crash("t");
    assert_eq!(h.engine().lookup("t"), None);
    // A new dynamic child may take the removed node's slot.
    h.request(Request::StartChild {
        parent: String::new(),
        spec: w("n"),
    })
    .unwrap();
    h.take_commands();
    let n = h.run("n");
    assert_eq!(
        n.node, t.node,
        "scenario check: the new child reuses the removed node's slot"
    );
    assert!(n.generation > t.generation);
    for input in all_inputs(t) {
        assert_stale(&mut h, input);
    }
    assert_eq!(
        h.engine().state(h.engine().lookup("n").unwrap()),
        Some(ChildState::Running)
    );
}

#[test]
fn inputs_after_tree_down_are_stale() {
    let mut h = tree();
    let a = h.run("a");
    let x = h.run("s/x");
    h.request(Request::Shutdown).unwrap();
    assert!(h.engine().is_down());
    h.take_commands();
    for run in [a, x] {
        for input in all_inputs(run) {
            assert_stale(&mut h, input);
        }
    }
    assert_eq!(h.engine().stats().stale_inputs, 10);
    assert_eq!(h.commands(), Vec::<String>::new());
    assert_eq!(h.next_deadline(), None);
}

#[test]
fn inputs_after_the_root_gave_up_are_stale() {
    let spec = SupervisorSpec::new().intensity(0).child(w("a")).child(w("b"));
    let mut h = Harness::started(spec);
    let a = h.run("a");
    let b = h.run("b");
    h.crash("a");
    assert!(h.engine().is_down());
    h.take_commands();
    assert_stale(&mut h, Input::Exited(a, ExitReason::Killed));
    assert_stale(&mut h, Input::Exited(b, ExitReason::shutdown()));
    assert_stale(&mut h, Input::Started(b));
    assert_eq!(h.commands(), Vec::<String>::new());
}

#[test]
fn inputs_after_a_failed_first_start_are_stale() {
    let mut h = Harness::new(SupervisorSpec::new().child(w("a")).child(w("b")));
    h.set_auto(false);
    h.start();
    let Some(Command::Spawn(a)) = h.pending().pop_front() else {
        panic!("spawn a")
    };
    h.input(Input::StartFailed(a, "no".into()));
    assert!(h.engine().is_down());
    assert_stale(&mut h, Input::Started(a));
    assert_stale(&mut h, Input::Exited(a, ExitReason::Normal));
    assert!(h.pending().is_empty());
}

#[test]
fn requests_after_tree_down_return_tree_down() {
    let mut h = tree();
    h.request(Request::Shutdown).unwrap();
    assert!(h.engine().is_down());
    let requests = [
        Request::StartChild {
            parent: String::new(),
            spec: w("n"),
        },
        Request::TerminateChild { path: "a".into() },
        Request::RestartChild { path: "a".into() },
        Request::DeleteChild { path: "a".into() },
        Request::WhichChildren { path: String::new() },
        Request::CountChildren { path: String::new() },
        Request::RestartAll {
            path: String::new(),
            mode: RestartAllMode::AllAtOnce,
        },
        Request::Shutdown,
    ];
    h.take_commands();
    for req in requests {
        let op = req.op();
        assert_eq!(h.request(req), Err(RequestError::TreeDown), "{op:?}");
    }
    assert_eq!(h.commands(), Vec::<String>::new());
    assert_eq!(h.log_lines("result=error(tree_down)").len(), 8);
}

#[test]
fn stale_inputs_do_not_disturb_a_restart_in_progress() {
    let mut h = tree();
    let old = h.run("b");
    h.set_auto(false);
    h.crash("b");
    assert_eq!(h.pending().len(), 1, "spawn b waiting");
    for input in all_inputs(old) {
        assert_stale(&mut h, input);
    }
    assert_eq!(h.pending().len(), 1, "still only the spawn");
    let Some(Command::Spawn(new)) = h.pending().pop_front() else {
        panic!("spawn b")
    };
    h.input(Input::Started(new));
    assert_eq!(h.engine().state(new.node), Some(ChildState::Running));
    assert_eq!(h.engine().stats().stale_inputs, 5);
}

/// Found by the simulator's oracle: a node that reuses the arena slot of a
/// removed one must not inherit the deadlines the removed one had armed.
#[test]
fn a_reused_slot_does_not_fire_the_previous_occupants_kill_deadline() {
    use std::time::Duration;
    let ms = Duration::from_millis;
    let mut h = Harness::new(SupervisorSpec::new().intensity(10));
    h.start();
    let temp = |name: &str, timeout: u64| {
        ChildSpec::worker(name)
            .restart(Restart::Temporary)
            .shutdown(Shutdown::Timeout(ms(timeout)))
    };
    h.ignore_stop("old").ignore_stop("new");
    // `old` is asked to stop: a kill deadline 1 s away is armed. It exits by
    // itself first and, being temporary, is removed.
    h.request(Request::StartChild {
        parent: String::new(),
        spec: temp("old", 1000),
    })
    .expect("accepted");
    let old = h.run("old");
    h.request(Request::TerminateChild { path: "old".into() })
        .expect("accepted");
    h.input(Input::Exited(old, ExitReason::Normal));
    assert!(h.engine().lookup("old").is_none());
    // `new` takes the freed slot and is asked to stop, with a 5 s deadline.
    h.request(Request::StartChild {
        parent: String::new(),
        spec: temp("new", 5000),
    })
    .expect("accepted");
    let new = h.run("new");
    assert_eq!(new.node, old.node, "the test needs the slot to be reused");
    h.request(Request::TerminateChild { path: "new".into() })
        .expect("accepted");
    h.take_events();
    // The old deadline passes: `new` must not be killed before its own.
    h.advance(ms(4999));
    assert_eq!(h.events_starting("kill"), [] as [&str; 0]);
    h.advance(ms(1));
    assert_eq!(h.events_starting("kill"), [format!("kill new gen={}", new.generation)]);
}

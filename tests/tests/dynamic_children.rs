//! Dynamic children: children added at run time with `start_child`
//! (docs/SEMANTICS.md §11: dynamic children and the requests; OTP's
//! start_child / simple_one_for_one).

use std::time::Duration;

use vigil_core::*;
use vigil_tests::Harness;

fn w(name: &str) -> ChildSpec {
    ChildSpec::worker(name)
}

fn start_child(h: &mut Harness, parent: &str, spec: ChildSpec) {
    let name = spec.name.clone();
    match h.request(Request::StartChild {
        parent: parent.to_owned(),
        spec,
    }) {
        Ok(Reply::Pending(_)) => {}
        other => panic!("start_child {name}: {other:?}"),
    }
    let path = if parent.is_empty() {
        name
    } else {
        format!("{parent}/{name}")
    };
    assert_eq!(h.state(&path), ChildState::Running, "{path} started");
}

fn names(h: &mut Harness, path: &str) -> Vec<String> {
    match h.request(Request::WhichChildren { path: path.to_owned() }) {
        Ok(Reply::Children(c)) => c.into_iter().map(|c| c.name).collect(),
        other => panic!("which_children({path}): {other:?}"),
    }
}

fn counts(h: &mut Harness, path: &str) -> ChildCounts {
    match h.request(Request::CountChildren { path: path.to_owned() }) {
        Ok(Reply::Counts(c)) => c,
        other => panic!("count_children({path}): {other:?}"),
    }
}

#[test]
fn start_child_appends_at_the_end_of_the_start_order() {
    let mut h = Harness::new(SupervisorSpec::new().child(w("a")).child(w("b")));
    h.start();
    start_child(&mut h, "", w("d"));
    start_child(&mut h, "", w("c"));
    assert_eq!(names(&mut h, ""), ["a", "b", "d", "c"]);
    // Shutdown goes in reverse start order: the dynamic children first, latest first.
    h.take_events();
    h.request(Request::Shutdown).expect("accepted");
    assert_eq!(h.commands(), ["stop c", "stop d", "stop b", "stop a"]);
}

#[test]
fn dynamic_children_take_part_in_a_one_for_all_round_in_start_order() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .intensity(5)
        .child(w("a"))
        .child(w("b"));
    let mut h = Harness::new(spec);
    h.start();
    start_child(&mut h, "", w("d"));
    h.take_events();
    h.crash("a");
    assert_eq!(h.commands(), ["stop d", "stop b", "spawn a", "spawn b", "spawn d"]);
    assert_eq!(
        names(&mut h, ""),
        ["a", "b", "d"],
        "kept across its own supervisor's rounds"
    );
}

#[test]
fn dynamic_children_after_the_failed_one_take_part_in_a_rest_for_one_round() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::RestForOne)
        .intensity(5)
        .child(w("a"))
        .child(w("b"));
    let mut h = Harness::new(spec);
    h.start();
    start_child(&mut h, "", w("d"));
    start_child(&mut h, "", w("e"));
    h.take_events();
    h.crash("b");
    assert_eq!(h.commands(), ["stop e", "stop d", "spawn b", "spawn d", "spawn e"]);
    h.take_events();
    h.crash("e");
    assert_eq!(h.commands(), ["spawn e"], "the last child: nothing after it to stop");
}

#[test]
fn a_thousand_dynamic_children_under_one_for_one_crash_one_and_only_it_restarts() {
    let mut h = Harness::new(SupervisorSpec::new().intensity(3));
    h.start();
    for i in 0..1000 {
        start_child(&mut h, "", w(&format!("w{i}")));
    }
    assert_eq!(
        counts(&mut h, ""),
        ChildCounts {
            specs: 1000,
            active: 1000,
            supervisors: 0,
            workers: 1000
        }
    );
    let old = h.run("w500").generation;
    let neighbours = [h.run("w499"), h.run("w501"), h.run("w0"), h.run("w999")];
    h.take_events();
    h.crash("w500");
    assert_eq!(h.commands(), ["spawn w500"]);
    let new = h.run("w500").generation;
    assert!(new > old);
    assert_eq!(
        h.events(),
        [
            format!("exited w500 gen={old} reason=error(crash)"),
            "restart / child=w500 strategy=OneForOne".to_owned(),
            format!("spawn w500 gen={new}"),
            format!("started w500 gen={new}"),
        ]
    );
    for run in neighbours {
        let path = h.engine().path(run.node).expect("path");
        assert_eq!(h.run(&path), run, "{path} untouched");
    }
    assert_eq!(counts(&mut h, "").active, 1000);
    let list = names(&mut h, "");
    assert_eq!(list.len(), 1000);
    assert_eq!(list[500], "w500", "the restarted child keeps its place");
}

#[test]
fn a_dynamic_temporary_child_that_ends_is_removed() {
    let mut h = Harness::new(SupervisorSpec::new().child(w("a")));
    h.start();
    start_child(&mut h, "", w("t").restart(Restart::Temporary));
    h.take_events();
    h.crash("t");
    assert!(h.commands().is_empty());
    assert_eq!(h.events()[1], "removed t");
    assert_eq!(h.engine().lookup("t"), None);
    assert_eq!(names(&mut h, ""), ["a"]);
}

#[test]
fn a_dynamic_permanent_child_is_restarted_and_counts_in_the_intensity() {
    let mut h = Harness::new(SupervisorSpec::new().intensity(1).child(w("a")));
    h.start();
    start_child(&mut h, "", w("d"));
    h.take_events();
    h.crash("d");
    assert_eq!(h.commands(), ["spawn d"]);
    h.crash("d");
    assert_eq!(
        h.commands(),
        ["spawn d", "stop a"],
        "second decision in the period gives up"
    );
    assert!(h.engine().is_down());
}

#[test]
fn dynamic_children_are_lost_when_their_supervisor_is_restarted_by_its_parent() {
    // OTP semantics: a restarted supervisor is a new process that starts from
    // its static spec; children added with start_child are gone.
    let g = SupervisorSpec::new().intensity(0).child(w("x"));
    let spec = SupervisorSpec::new()
        .intensity(5)
        .child(w("a"))
        .child(ChildSpec::supervisor("g", g));
    let mut h = Harness::new(spec);
    h.start();
    start_child(&mut h, "g", w("d"));
    start_child(&mut h, "g", w("e").restart(Restart::Transient));
    assert_eq!(names(&mut h, "g"), ["x", "d", "e"]);
    h.take_events();
    h.crash("g/x"); // intensity 0: g gives up, the root restarts it
    assert_eq!(h.commands(), ["stop g/e", "stop g/d", "spawn g/x"]);
    let ev = h.events();
    assert!(ev.contains(&"give_up g".to_owned()));
    assert!(ev.contains(&"restart / child=g strategy=OneForOne".to_owned()));
    assert_eq!(names(&mut h, "g"), ["x"]);
    assert_eq!(h.engine().lookup("g/d"), None);
    assert_eq!(h.engine().lookup("g/e"), None);
    assert_eq!(
        counts(&mut h, "g"),
        ChildCounts {
            specs: 1,
            active: 1,
            supervisors: 0,
            workers: 1
        }
    );
    // The name is free again in the new incarnation.
    start_child(&mut h, "g", w("d"));
    assert_eq!(names(&mut h, "g"), ["x", "d"]);
}

#[test]
fn dynamic_children_are_lost_when_a_parent_round_restarts_their_supervisor() {
    let g = SupervisorSpec::new().child(w("x"));
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .intensity(5)
        .child(ChildSpec::supervisor("g", g))
        .child(w("b"));
    let mut h = Harness::new(spec);
    h.start();
    start_child(&mut h, "g", w("d"));
    h.take_events();
    h.crash("b");
    assert_eq!(h.commands(), ["stop g/d", "stop g/x", "spawn g/x", "spawn b"]);
    assert_eq!(names(&mut h, "g"), ["x"]);
}

#[test]
fn dynamic_children_are_lost_when_their_supervisor_is_terminated_and_restarted_by_request() {
    let g = SupervisorSpec::new().child(w("x"));
    let mut h = Harness::new(SupervisorSpec::new().child(ChildSpec::supervisor("g", g)));
    h.start();
    start_child(&mut h, "g", w("d"));
    h.take_events();
    h.request(Request::TerminateChild { path: "g".into() })
        .expect("terminate");
    assert_eq!(h.commands(), ["stop g/d", "stop g/x"]);
    h.request(Request::RestartChild { path: "g".into() }).expect("restart");
    assert_eq!(h.commands(), ["stop g/d", "stop g/x", "spawn g/x"]);
    assert_eq!(names(&mut h, "g"), ["x"]);
}

#[test]
fn dynamic_children_can_be_terminated_restarted_and_deleted() {
    let mut h = Harness::new(SupervisorSpec::new().child(w("a")));
    h.start();
    start_child(&mut h, "", w("d"));
    h.take_events();
    h.request(Request::TerminateChild { path: "d".into() })
        .expect("terminate");
    h.request(Request::RestartChild { path: "d".into() }).expect("restart");
    assert_eq!(h.state("d"), ChildState::Running);
    h.request(Request::TerminateChild { path: "d".into() })
        .expect("terminate");
    assert_eq!(h.request(Request::DeleteChild { path: "d".into() }), Ok(Reply::Ok));
    assert_eq!(h.commands(), ["stop d", "spawn d", "stop d"]);
    assert_eq!(names(&mut h, ""), ["a"]);
}

#[test]
fn dynamic_supervisor_children_start_their_own_children() {
    let mut h = Harness::new(SupervisorSpec::new().child(w("a")));
    h.start();
    let sub = SupervisorSpec::new().child(w("x")).child(w("y"));
    h.take_events();
    start_child(&mut h, "", ChildSpec::supervisor("s", sub));
    assert_eq!(h.commands(), ["spawn s/x", "spawn s/y"]);
    start_child(&mut h, "s", w("z"));
    assert_eq!(names(&mut h, "s"), ["x", "y", "z"]);
    h.crash("s/y");
    assert_eq!(h.commands(), ["spawn s/x", "spawn s/y", "spawn s/z", "spawn s/y"]);
}

#[test]
fn many_dynamic_children_shut_down_in_reverse_start_order() {
    let mut h = Harness::new(SupervisorSpec::new());
    h.start();
    for i in 0..200 {
        start_child(&mut h, "", w(&format!("w{i:03}")));
    }
    h.take_events();
    h.request(Request::Shutdown).expect("accepted");
    let expected: Vec<_> = (0..200).rev().map(|i| format!("stop w{i:03}")).collect();
    assert_eq!(h.commands(), expected);
    assert!(h.engine().is_down());
    h.advance(Duration::from_secs(1));
}

#[test]
fn which_children_tells_dynamic_children_from_static_ones() {
    let mut h = Harness::new(SupervisorSpec::new().child(w("a")));
    h.start();
    start_child(&mut h, "", w("d"));
    let Ok(Reply::Children(list)) = h.request(Request::WhichChildren { path: String::new() }) else {
        panic!("which_children answers at once")
    };
    let flags: Vec<_> = list.iter().map(|c| (c.name.as_str(), c.dynamic)).collect();
    assert_eq!(flags, [("a", false), ("d", true)]);
}

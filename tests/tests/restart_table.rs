//! docs/SEMANTICS.md §3: the restart table, cell by cell.
//!
//! Every test builds the same tree (root one_for_one with a generous intensity,
//! children `a`, `c`, `z`; `c` has the restart type under test), lets `c` end
//! with one exit reason, and checks exactly which commands follow, what the
//! trace says, and what became of `c`'s spec.

use vigil_core::*;
use vigil_tests::Harness;

fn w(name: &str) -> ChildSpec {
    ChildSpec::worker(name)
}

/// `a`, `c` (restart type under test), `z` under a one_for_one root.
fn started(restart: Restart) -> Harness {
    let spec = SupervisorSpec::new()
        .intensity(10)
        .child(w("a"))
        .child(w("c").restart(restart))
        .child(w("z"));
    let h = Harness::started(spec);
    assert!(h.engine().lookup("c").is_some());
    h
}

fn child_names(h: &mut Harness) -> Vec<(String, ChildState)> {
    match h.request(Request::WhichChildren { path: String::new() }) {
        Ok(Reply::Children(list)) => list.into_iter().map(|c| (c.name, c.state)).collect(),
        other => panic!("unexpected which_children answer {other:?}"),
    }
}

/// `c` must be restarted: exactly one `spawn c`, a new generation, one restart decision.
fn assert_restarted(restart: Restart, reason: ExitReason) {
    let mut h = started(restart);
    let old = h.run("c");
    h.exit("c", reason.clone());
    assert_eq!(h.commands(), ["spawn c"], "only c is started again, siblings untouched");
    let new = h.run("c");
    assert_eq!(new.node, old.node);
    assert!(new.generation > old.generation);
    assert_eq!(
        h.events(),
        [
            format!("exited c gen={} reason={reason}", old.generation),
            "restart / child=c strategy=OneForOne".to_owned(),
            format!("spawn c gen={}", new.generation),
            format!("started c gen={}", new.generation),
        ]
    );
    assert_eq!(h.engine().state(new.node), Some(ChildState::Running));
    assert_eq!(h.engine().stats().restart_decisions, 1);
}

/// `c` (transient) must stay stopped with its spec kept.
fn assert_kept_stopped(reason: ExitReason) {
    let mut h = started(Restart::Transient);
    let old = h.run("c");
    h.exit("c", reason.clone());
    assert_eq!(h.commands(), Vec::<String>::new(), "no command at all");
    assert_eq!(
        h.events(),
        [format!("exited c gen={} reason={reason}", old.generation)],
        "no restart, no removal"
    );
    let c = h.engine().lookup("c").expect("the transient spec is kept");
    assert_eq!(c, old.node);
    assert_eq!(h.engine().state(c), Some(ChildState::Stopped));
    assert_eq!(h.engine().current_run(c), None);
    assert_eq!(h.engine().stats().restart_decisions, 0);
    assert_eq!(
        child_names(&mut h),
        [
            ("a".to_owned(), ChildState::Running),
            ("c".to_owned(), ChildState::Stopped),
            ("z".to_owned(), ChildState::Running),
        ]
    );
}

/// `c` (temporary) must not be restarted and its spec must be gone.
fn assert_removed(reason: ExitReason) {
    let mut h = started(Restart::Temporary);
    let old = h.run("c");
    h.exit("c", reason.clone());
    assert_eq!(h.commands(), Vec::<String>::new(), "no command at all");
    assert_eq!(
        h.events(),
        [
            format!("exited c gen={} reason={reason}", old.generation),
            "removed c".to_owned()
        ]
    );
    assert_eq!(h.engine().lookup("c"), None, "the temporary spec is removed");
    assert_eq!(h.engine().stats().restart_decisions, 0);
    assert_eq!(
        child_names(&mut h),
        [
            ("a".to_owned(), ChildState::Running),
            ("z".to_owned(), ChildState::Running)
        ]
    );
}

fn shutdown_detail() -> ExitReason {
    ExitReason::Shutdown("maintenance".into())
}

fn error() -> ExitReason {
    ExitReason::Error("boom".into())
}

fn panic_reason() -> ExitReason {
    ExitReason::Panic("index out of bounds".into())
}

// ----- permanent: always restarted -----

#[test]
fn permanent_child_is_restarted_after_normal_exit() {
    assert_restarted(Restart::Permanent, ExitReason::Normal);
}

#[test]
fn permanent_child_is_restarted_after_shutdown_exit() {
    assert_restarted(Restart::Permanent, ExitReason::shutdown());
}

#[test]
fn permanent_child_is_restarted_after_shutdown_with_detail_exit() {
    assert_restarted(Restart::Permanent, shutdown_detail());
}

#[test]
fn permanent_child_is_restarted_after_error_exit() {
    assert_restarted(Restart::Permanent, error());
}

#[test]
fn permanent_child_is_restarted_after_killed_exit() {
    assert_restarted(Restart::Permanent, ExitReason::Killed);
}

#[test]
fn permanent_child_is_restarted_after_panic_exit() {
    assert_restarted(Restart::Permanent, panic_reason());
}

// ----- transient: restarted only after an abnormal exit, otherwise kept as stopped -----

#[test]
fn transient_child_is_not_restarted_after_normal_exit() {
    assert_kept_stopped(ExitReason::Normal);
}

#[test]
fn transient_child_is_not_restarted_after_shutdown_exit() {
    assert_kept_stopped(ExitReason::shutdown());
}

#[test]
fn transient_child_is_not_restarted_after_shutdown_with_detail_exit() {
    assert_kept_stopped(shutdown_detail());
}

#[test]
fn transient_child_is_restarted_after_error_exit() {
    assert_restarted(Restart::Transient, error());
}

#[test]
fn transient_child_is_restarted_after_killed_exit() {
    assert_restarted(Restart::Transient, ExitReason::Killed);
}

#[test]
fn transient_child_is_restarted_after_panic_exit() {
    assert_restarted(Restart::Transient, panic_reason());
}

#[test]
fn transient_child_is_restarted_after_memory_exit() {
    assert_restarted(Restart::Transient, ExitReason::Memory);
}

// ----- temporary: never restarted, spec removed -----

#[test]
fn temporary_child_is_removed_after_normal_exit() {
    assert_removed(ExitReason::Normal);
}

#[test]
fn temporary_child_is_removed_after_shutdown_exit() {
    assert_removed(ExitReason::shutdown());
}

#[test]
fn temporary_child_is_removed_after_shutdown_with_detail_exit() {
    assert_removed(shutdown_detail());
}

#[test]
fn temporary_child_is_removed_after_error_exit() {
    assert_removed(error());
}

#[test]
fn temporary_child_is_removed_after_killed_exit() {
    assert_removed(ExitReason::Killed);
}

#[test]
fn temporary_child_is_removed_after_panic_exit() {
    assert_removed(panic_reason());
}

// ----- a child that is not restarted never disturbs its siblings -----

#[test]
fn transient_normal_exit_under_one_for_all_disturbs_no_sibling() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .intensity(10)
        .child(w("a"))
        .child(w("c").restart(Restart::Transient))
        .child(w("z"));
    let mut h = Harness::started(spec);
    h.exit("c", ExitReason::Normal);
    assert_eq!(h.commands(), Vec::<String>::new());
    assert_eq!(h.engine().stats().restart_decisions, 0);
    assert_eq!(
        h.engine().state(h.engine().lookup("c").unwrap()),
        Some(ChildState::Stopped)
    );
}

#[test]
fn temporary_abnormal_exit_under_one_for_all_disturbs_no_sibling() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .intensity(10)
        .child(w("a"))
        .child(w("c").restart(Restart::Temporary))
        .child(w("z"));
    let mut h = Harness::started(spec);
    h.crash("c");
    assert_eq!(h.commands(), Vec::<String>::new());
    assert_eq!(h.engine().stats().restart_decisions, 0);
    assert_eq!(h.engine().lookup("c"), None);
}

#[test]
fn temporary_abnormal_exit_under_rest_for_one_disturbs_no_later_sibling() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::RestForOne)
        .intensity(10)
        .child(w("a"))
        .child(w("c").restart(Restart::Temporary))
        .child(w("z"));
    let mut h = Harness::started(spec);
    h.exit("c", ExitReason::Killed);
    assert_eq!(h.commands(), Vec::<String>::new());
    assert_eq!(h.engine().lookup("c"), None);
}

// ----- what "kept" and "removed" mean afterwards -----

#[test]
fn transient_child_kept_after_normal_exit_can_be_restarted_by_operator() {
    let mut h = started(Restart::Transient);
    h.exit("c", ExitReason::Normal);
    let r = h.request(Request::RestartChild { path: "c".into() });
    assert!(matches!(r, Ok(Reply::Pending(_)) | Ok(Reply::Started { .. })), "{r:?}");
    assert_eq!(h.commands(), ["spawn c"]);
    assert_eq!(
        h.engine().state(h.engine().lookup("c").unwrap()),
        Some(ChildState::Running)
    );
}

#[test]
fn temporary_child_removed_after_exit_is_not_found_by_operator() {
    let mut h = started(Restart::Temporary);
    h.crash("c");
    assert_eq!(
        h.request(Request::RestartChild { path: "c".into() }),
        Err(RequestError::NotFound("c".into()))
    );
    assert_eq!(h.commands(), Vec::<String>::new());
}

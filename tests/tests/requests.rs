//! Operator requests (docs/SEMANTICS.md §11): every request, every answer.
//!
//! Most tests use the scripted [`Harness`] and assert on its rendered log and
//! commands. Where the exact value of a *final* answer matters (a
//! [`Notice::Reply`] for a request answered [`Reply::Pending`]), the small
//! [`Direct`] driver below runs the engine itself and keeps the raw notices.

use std::collections::BTreeSet;
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

fn strip_time(line: &str) -> String {
    line.split_once("ms ").expect("timestamped line").1.to_owned()
}

fn start_child(parent: &str, spec: ChildSpec) -> Request {
    Request::StartChild {
        parent: parent.to_owned(),
        spec,
    }
}

fn terminate(path: &str) -> Request {
    Request::TerminateChild { path: path.to_owned() }
}

fn restart(path: &str) -> Request {
    Request::RestartChild { path: path.to_owned() }
}

fn delete(path: &str) -> Request {
    Request::DeleteChild { path: path.to_owned() }
}

fn which(path: &str) -> Request {
    Request::WhichChildren { path: path.to_owned() }
}

fn count(path: &str) -> Request {
    Request::CountChildren { path: path.to_owned() }
}

fn pending_id(r: Result<Reply, RequestError>) -> RequestId {
    match r {
        Ok(Reply::Pending(id)) => id,
        other => panic!("expected a pending answer, got {other:?}"),
    }
}

fn children(h: &mut Harness, path: &str) -> Vec<ChildInfo> {
    match h.request(which(path)) {
        Ok(Reply::Children(c)) => c,
        other => panic!("which_children({path}) gave {other:?}"),
    }
}

fn counts(h: &mut Harness, path: &str) -> ChildCounts {
    match h.request(count(path)) {
        Ok(Reply::Counts(c)) => c,
        other => panic!("count_children({path}) gave {other:?}"),
    }
}

fn backoff(initial_ms: u64) -> Backoff {
    Backoff::exponential(ms(initial_ms), ms(initial_ms * 100))
}

/// A minimal driver that runs the engine directly and keeps the raw notices,
/// so that final answers can be compared by value. Spawns succeed at once
/// unless the path is in `fail`, Stop exits with `shutdown`, Kill with `killed`.
struct Direct {
    e: Engine,
    now: Instant,
    notices: Vec<Notice>,
    spawned: Vec<RunId>,
    fail: BTreeSet<String>,
}

impl Direct {
    fn new(spec: SupervisorSpec) -> Self {
        let mut d = Direct {
            e: Engine::new(spec, 0).expect("valid spec"),
            now: Instant::ZERO,
            notices: Vec::new(),
            spawned: Vec::new(),
            fail: BTreeSet::new(),
        };
        d.e.start(d.now);
        d.pump();
        d
    }

    fn pump(&mut self) {
        loop {
            while let Some(n) = self.e.poll_notice() {
                self.notices.push(n);
            }
            let Some(cmd) = self.e.poll_command() else { break };
            let input = match cmd {
                Command::Spawn(run) => {
                    self.spawned.push(run);
                    let path = self.e.path(run.node).expect("path");
                    if self.fail.contains(&path) {
                        Input::StartFailed(run, "no such binary".into())
                    } else {
                        Input::Started(run)
                    }
                }
                Command::Stop(run) => Input::Exited(run, ExitReason::shutdown()),
                Command::Kill(run) => Input::Exited(run, ExitReason::Killed),
            };
            self.e.handle(input, self.now);
        }
    }

    fn request(&mut self, r: Request) -> Result<Reply, RequestError> {
        let out = self.e.request(r, self.now);
        self.pump();
        out
    }

    /// The final answer to request `id` (there must be exactly one).
    fn final_reply(&self, id: RequestId) -> Result<Reply, RequestError> {
        let answers: Vec<_> = self
            .notices
            .iter()
            .filter_map(|n| match n {
                Notice::Reply { id: i, result, .. } if *i == id => Some((**result).clone()),
                _ => None,
            })
            .collect();
        assert_eq!(answers.len(), 1, "exactly one final answer for {id}: {answers:?}");
        answers.into_iter().next().expect("one answer")
    }
}

fn two_workers() -> SupervisorSpec {
    SupervisorSpec::new().intensity(10).child(w("a")).child(w("b"))
}

// ----- start_child -----

#[test]
fn start_child_replies_started_with_the_run_it_spawned() {
    let mut d = Direct::new(two_workers());
    let before = d.spawned.len();
    let id = match d.request(start_child("", w("c"))) {
        Ok(Reply::Pending(id)) => id,
        other => panic!("expected pending, got {other:?}"),
    };
    assert_eq!(d.spawned.len(), before + 1, "exactly one spawn");
    let spawned = *d.spawned.last().expect("a spawn");
    let node = d.e.lookup("c").expect("c kept");
    assert_eq!(spawned.node, node);
    assert_eq!(
        d.final_reply(id),
        Ok(Reply::Started {
            node,
            run: Some(spawned)
        })
    );
    assert_eq!(d.e.current_run(node), Some(spawned));
    assert_eq!(d.e.state(node), Some(ChildState::Running));
}

#[test]
fn start_child_of_a_supervisor_replies_started_without_a_run() {
    let mut d = Direct::new(two_workers());
    let sub = SupervisorSpec::new().child(w("x"));
    let id = pending_id(d.request(start_child("", ChildSpec::supervisor("s", sub))));
    let node = d.e.lookup("s").expect("s kept");
    assert_eq!(d.final_reply(id), Ok(Reply::Started { node, run: None }));
    assert!(d.e.lookup("s/x").and_then(|x| d.e.current_run(x)).is_some(), "s/x runs");
    assert_eq!(d.e.state(node), Some(ChildState::Running));
}

#[test]
fn start_child_trace_is_request_spawn_started_reply() {
    let mut h = Harness::new(two_workers());
    h.start();
    h.take_events();
    let id = pending_id(h.request(start_child("", w("c"))));
    let gen = h.run("c").generation;
    assert_eq!(
        h.events(),
        [
            format!("request {id} start_child path=c"),
            format!("spawn c gen={gen}"),
            format!("started c gen={gen}"),
            format!("reply {id} start_child path=c result=started"),
        ]
    );
    assert_eq!(h.commands(), ["spawn c"]);
}

#[test]
fn start_child_with_the_name_of_a_running_child_is_already_started() {
    let mut h = Harness::new(two_workers());
    h.start();
    let gen = h.run("a").generation;
    h.take_events();
    assert_eq!(
        h.request(start_child("", w("a"))),
        Err(RequestError::AlreadyStarted("a".into()))
    );
    assert!(h.commands().is_empty());
    assert_eq!(h.run("a").generation, gen, "the running child is untouched");
    assert_eq!(
        h.events()[1],
        "reply req1 start_child path=a result=error(already_started)"
    );
}

#[test]
fn start_child_with_the_name_of_a_stopped_child_is_already_present() {
    let mut h = Harness::new(two_workers());
    h.start();
    h.request(terminate("a")).expect("terminate");
    h.take_events();
    assert_eq!(
        h.request(start_child("", w("a"))),
        Err(RequestError::AlreadyPresent("a".into()))
    );
    assert!(h.commands().is_empty());
    assert_eq!(h.state("a"), ChildState::Stopped);
}

#[test]
fn start_child_whose_start_fails_returns_the_error_and_keeps_nothing() {
    let mut d = Direct::new(two_workers());
    d.fail.insert("c".into());
    let id = pending_id(d.request(start_child("", w("c"))));
    assert_eq!(
        d.final_reply(id),
        Err(RequestError::StartFailed {
            path: "c".into(),
            error: "no such binary".into(),
        })
    );
    assert_eq!(d.e.lookup("c"), None, "nothing kept");
    assert!(d.notices.iter().any(|n| matches!(n, Notice::Removed { .. })));
    assert_eq!(d.e.stats().restart_decisions, 0, "no retry, no restart decision");

    // Same with the harness: the trace, and the name is free again afterwards.
    let mut h = Harness::new(two_workers());
    h.start();
    h.fail_starts("c", 1);
    h.take_events();
    let id = pending_id(h.request(start_child("", w("c"))));
    assert_eq!(h.commands(), ["spawn c"], "one attempt, no retry");
    let ev = h.events();
    assert_eq!(
        ev.first().map(String::as_str),
        Some(&*format!("request {id} start_child path=c"))
    );
    assert!(ev[2].starts_with("start_failed c gen="), "{ev:?}");
    assert_eq!(ev[3], "removed c");
    assert_eq!(
        ev[4],
        format!("reply {id} start_child path=c result=error(start_failed)")
    );
    assert_eq!(ev.len(), 5, "{ev:?}");
    assert_eq!(h.engine().lookup("c"), None);
    assert_eq!(counts(&mut h, "").specs, 2);
    // The failure did not leave a spec behind: the same name starts fine now.
    h.request(start_child("", w("c"))).expect("accepted");
    assert_eq!(h.state("c"), ChildState::Running);
}

#[test]
fn start_child_with_a_bad_spec_is_rejected_with_the_precise_spec_error() {
    let sub = SupervisorSpec::new().child(w("x"));
    let mut h = Harness::new(two_workers().child(ChildSpec::supervisor("s", sub)));
    h.start();
    h.take_events();
    let bad = |path: &str, kind| {
        Err(RequestError::BadSpec(SpecError {
            path: path.into(),
            kind,
        }))
    };

    // A child-level error names the would-be child's path.
    assert_eq!(
        h.request(start_child("s", w("d").restart(Restart::Transient).significant(true))),
        bad("s/d", SpecErrorKind::SignificantUnderNever)
    );
    assert_eq!(
        h.request(start_child("", w("d").significant(true))),
        bad("d", SpecErrorKind::SignificantPermanent)
    );
    assert_eq!(
        h.request(start_child("s", w("d").shutdown(Shutdown::Timeout(Duration::ZERO)))),
        bad("s/d", SpecErrorKind::ZeroShutdownTimeout)
    );
    assert_eq!(
        h.request(start_child("", w("d").startup_timeout(ms(10)))),
        bad("d", SpecErrorKind::StartupTimeoutWithoutNotify)
    );
    // A name error names the parent.
    assert_eq!(
        h.request(start_child("s", w("x/y"))),
        bad("s", SpecErrorKind::NameWithSlash { name: "x/y".into() })
    );
    assert_eq!(h.request(start_child("", w(""))), bad("", SpecErrorKind::EmptyName));
    // A nested supervisor spec is checked as a whole.
    let nested = SupervisorSpec::new().child(w("k")).child(w("k"));
    assert_eq!(
        h.request(start_child("s", ChildSpec::supervisor("t", nested))),
        bad("s/t", SpecErrorKind::DuplicateName { name: "k".into() })
    );

    assert!(h.commands().is_empty(), "nothing spawned: {:?}", h.commands());
    assert_eq!(h.engine().lookup("d"), None);
    assert_eq!(h.engine().lookup("s/d"), None);
    assert_eq!(h.engine().lookup("s/t"), None);
    assert_eq!(h.log_lines("result=error(bad_spec)").len(), 7);
}

#[test]
fn start_child_under_a_worker_is_not_a_supervisor() {
    let mut h = Harness::new(two_workers());
    h.start();
    assert_eq!(
        h.request(start_child("a", w("d"))),
        Err(RequestError::NotASupervisor("a".into()))
    );
    assert_eq!(
        h.request(start_child("nope", w("d"))),
        Err(RequestError::NotFound("nope".into()))
    );
}

#[test]
fn start_child_under_a_supervisor_that_has_ended_is_not_running() {
    // `s` is transient and ends (gives up, reason shutdown): its parent keeps it stopped.
    let sub = SupervisorSpec::new().intensity(0).child(w("x"));
    let mut h = Harness::new(two_workers().child(ChildSpec::supervisor("s", sub).restart(Restart::Transient)));
    h.start();
    h.crash("s/x");
    assert_eq!(h.state("s"), ChildState::Stopped);
    h.take_events();
    assert_eq!(
        h.request(start_child("s", w("d"))),
        Err(RequestError::NotRunning("s".into()))
    );
    assert!(h.commands().is_empty());
}

// ----- terminate_child -----

#[test]
fn terminate_child_stops_the_child_and_replies_ok_once_it_has_exited() {
    let mut h = Harness::new(two_workers());
    h.start();
    let gen = h.run("a").generation;
    h.take_events();
    let id = pending_id(h.request(terminate("a")));
    assert_eq!(
        h.events(),
        [
            format!("request {id} terminate_child path=a"),
            format!("stop a gen={gen}"),
            format!("exited a gen={gen} reason=shutdown"),
            format!("reply {id} terminate_child path=a result=ok"),
        ]
    );
    assert_eq!(h.commands(), ["stop a"]);
    assert_eq!(h.state("a"), ChildState::Stopped);
}

#[test]
fn terminate_child_of_a_child_that_ignores_stop_kills_it_at_its_shutdown_deadline() {
    let spec = SupervisorSpec::new().child(w("a").shutdown(Shutdown::Timeout(ms(300))));
    let mut h = Harness::new(spec);
    h.start();
    h.ignore_stop("a");
    h.take_events();
    let id = pending_id(h.request(terminate("a")));
    assert_eq!(h.state("a"), ChildState::Stopping);
    h.advance(ms(300) - Duration::from_nanos(1));
    assert_eq!(h.commands(), ["stop a"], "no kill before the deadline");
    assert!(h.log_lines("reply").is_empty(), "no answer before the child is gone");
    h.advance(Duration::from_nanos(1));
    assert_eq!(h.commands(), ["stop a", "kill a"]);
    assert_eq!(
        h.log_lines("result=ok"),
        [format!("   300.0ms reply {id} terminate_child path=a result=ok")]
    );
    assert_eq!(h.state("a"), ChildState::Stopped);
}

#[test]
fn terminate_child_of_an_already_stopped_child_is_ok() {
    let mut h = Harness::new(two_workers().child(w("t").restart(Restart::Transient)));
    h.start();
    h.request(terminate("a")).expect("first terminate");
    h.exit("t", ExitReason::Normal); // a transient child that ended normally is stopped
    h.take_events();
    assert_eq!(h.request(terminate("a")), Ok(Reply::Ok));
    assert_eq!(h.request(terminate("t")), Ok(Reply::Ok));
    assert!(h.commands().is_empty());
    assert_eq!(h.state("a"), ChildState::Stopped);
    assert_eq!(h.state("t"), ChildState::Stopped);
    assert_eq!(
        h.events(),
        [
            "request req2 terminate_child path=a",
            "reply req2 terminate_child path=a result=ok",
            "request req3 terminate_child path=t",
            "reply req3 terminate_child path=t result=ok",
        ]
    );
}

#[test]
fn terminate_child_cancels_a_pending_backoff_restart() {
    let spec = SupervisorSpec::new()
        .intensity(10)
        .child(w("a").backoff(backoff(500)))
        .child(w("b"));
    let mut h = Harness::new(spec);
    h.start();
    h.advance(ms(10));
    h.crash("a");
    assert_eq!(h.state("a"), ChildState::Restarting);
    h.take_events();
    assert_eq!(h.request(terminate("a")), Ok(Reply::Ok));
    assert_eq!(h.state("a"), ChildState::Stopped);
    h.advance(Duration::from_secs(60));
    assert!(
        h.commands().is_empty(),
        "no spawn after the backoff: {:?}",
        h.commands()
    );
    assert_eq!(h.state("a"), ChildState::Stopped);
    assert_eq!(h.next_deadline(), None, "the backoff timer is gone");
}

#[test]
fn terminate_child_never_triggers_a_restart() {
    // one_for_all with intensity 0: any automatic restart would be a give-up.
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .intensity(0)
        .child(w("a"))
        .child(w("b"))
        .child(w("c"));
    let mut h = Harness::new(spec);
    h.start();
    // Asked to stop, b exits with an abnormal reason: still no restart.
    h.stop_reason("b", ExitReason::Error("boom".into()));
    h.take_events();
    pending_id(h.request(terminate("b")));
    h.advance(Duration::from_secs(10));
    assert_eq!(h.commands(), ["stop b"], "siblings get no command");
    assert_eq!(h.engine().stats().restart_decisions, 0);
    assert!(h.log_lines("restart ").is_empty());
    assert!(!h.engine().is_down());
    assert_eq!(h.state("a"), ChildState::Running);
    assert_eq!(h.state("b"), ChildState::Stopped);
    assert_eq!(h.state("c"), ChildState::Running);
}

#[test]
fn terminate_child_removes_a_temporary_child() {
    let mut h = Harness::new(two_workers().child(w("t").restart(Restart::Temporary)));
    h.start();
    let gen = h.run("t").generation;
    h.take_events();
    let id = pending_id(h.request(terminate("t")));
    assert_eq!(
        h.events(),
        [
            format!("request {id} terminate_child path=t"),
            format!("stop t gen={gen}"),
            format!("exited t gen={gen} reason=shutdown"),
            "removed t".to_owned(),
            format!("reply {id} terminate_child path=t result=ok"),
        ]
    );
    assert_eq!(h.engine().lookup("t"), None);
    assert_eq!(h.request(restart("t")), Err(RequestError::NotFound("t".into())));
    assert_eq!(counts(&mut h, "").specs, 2);
}

// ----- restart_child -----

#[test]
fn restart_child_starts_a_stopped_child_with_a_new_generation() {
    let mut h = Harness::new(two_workers());
    h.start();
    let old = h.run("a").generation;
    h.request(terminate("a")).expect("terminate");
    h.take_events();
    let id = pending_id(h.request(restart("a")));
    let new = h.run("a").generation;
    assert!(new > old);
    assert_eq!(
        h.events(),
        [
            format!("request {id} restart_child path=a"),
            format!("spawn a gen={new}"),
            format!("started a gen={new}"),
            format!("reply {id} restart_child path=a result=started"),
        ]
    );
    assert_eq!(h.state("a"), ChildState::Running);
}

#[test]
fn restart_child_replies_started_with_the_new_run() {
    let mut d = Direct::new(two_workers());
    pending_id(d.request(terminate("b")));
    let id = pending_id(d.request(restart("b")));
    let node = d.e.lookup("b").expect("b");
    let run = *d.spawned.last().expect("spawned");
    assert_eq!(run.node, node);
    assert_eq!(d.final_reply(id), Ok(Reply::Started { node, run: Some(run) }));
}

#[test]
fn restart_child_of_a_running_child_is_running() {
    let mut h = Harness::new(two_workers());
    h.start();
    h.take_events();
    assert_eq!(h.request(restart("a")), Err(RequestError::Running("a".into())));
    assert!(h.commands().is_empty());
    assert_eq!(h.events()[1], "reply req1 restart_child path=a result=error(running)");
}

#[test]
fn restart_child_of_a_child_waiting_for_backoff_is_restarting() {
    let spec = SupervisorSpec::new().intensity(10).child(w("a").backoff(backoff(500)));
    let mut h = Harness::new(spec);
    h.start();
    h.crash("a");
    h.take_events();
    assert_eq!(h.request(restart("a")), Err(RequestError::Restarting("a".into())));
    assert!(h.commands().is_empty());
    // The pending automatic restart is not disturbed.
    h.advance(ms(500));
    assert_eq!(h.commands(), ["spawn a"]);
}

#[test]
fn restart_child_of_an_unknown_child_is_not_found() {
    let mut h = Harness::new(two_workers());
    h.start();
    assert_eq!(h.request(restart("zz")), Err(RequestError::NotFound("zz".into())));
    assert_eq!(h.request(restart("a/zz")), Err(RequestError::NotFound("a/zz".into())));
    assert!(h.commands().iter().all(|c| c.starts_with("spawn")));
}

#[test]
fn restart_child_whose_start_fails_returns_the_error_and_keeps_the_spec() {
    let mut d = Direct::new(two_workers());
    pending_id(d.request(terminate("a")));
    d.fail.insert("a".into());
    let id = pending_id(d.request(restart("a")));
    assert_eq!(
        d.final_reply(id),
        Err(RequestError::StartFailed {
            path: "a".into(),
            error: "no such binary".into(),
        })
    );
    let node = d.e.lookup("a").expect("spec kept");
    assert_eq!(d.e.state(node), Some(ChildState::Stopped));
    assert_eq!(d.e.stats().restart_decisions, 0, "no automatic retry");
    d.fail.clear();
    let id = pending_id(d.request(restart("a")));
    assert!(matches!(d.final_reply(id), Ok(Reply::Started { .. })));
}

#[test]
fn restart_child_is_not_counted_in_the_restart_intensity() {
    let spec = SupervisorSpec::new().intensity(0).child(w("a")).child(w("b"));
    let mut h = Harness::new(spec);
    h.start();
    for _ in 0..5 {
        pending_id(h.request(terminate("a")));
        pending_id(h.request(restart("a")));
    }
    assert!(!h.engine().is_down());
    assert!(h.log_lines("give_up").is_empty());
    assert_eq!(h.engine().stats().restart_decisions, 0);
    assert_eq!(h.state("a"), ChildState::Running);
}

// ----- delete_child -----

#[test]
fn delete_child_removes_a_stopped_child() {
    let mut h = Harness::new(two_workers());
    h.start();
    h.request(terminate("a")).expect("terminate");
    h.take_events();
    assert_eq!(h.request(delete("a")), Ok(Reply::Ok));
    assert_eq!(
        h.events(),
        [
            "request req2 delete_child path=a",
            "removed a",
            "reply req2 delete_child path=a result=ok",
        ]
    );
    assert_eq!(h.engine().lookup("a"), None);
    assert!(h.commands().is_empty());
    let names: Vec<_> = children(&mut h, "").into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["b"]);
    // The name is free: start_child adds it again (at the end).
    pending_id(h.request(start_child("", w("a"))));
    let names: Vec<_> = children(&mut h, "").into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["b", "a"]);
    assert_eq!(h.request(delete("a")), Err(RequestError::Running("a".into())));
}

#[test]
fn delete_child_of_a_running_child_is_running() {
    let mut h = Harness::new(two_workers());
    h.start();
    h.take_events();
    assert_eq!(h.request(delete("b")), Err(RequestError::Running("b".into())));
    assert!(h.commands().is_empty());
    assert_eq!(h.state("b"), ChildState::Running);
}

#[test]
fn delete_child_of_a_child_waiting_for_backoff_is_restarting() {
    let spec = SupervisorSpec::new().intensity(10).child(w("a").backoff(backoff(500)));
    let mut h = Harness::new(spec);
    h.start();
    h.crash("a");
    h.take_events();
    assert_eq!(h.request(delete("a")), Err(RequestError::Restarting("a".into())));
    assert!(h.engine().lookup("a").is_some());
    h.advance(ms(500));
    assert_eq!(h.commands(), ["spawn a"], "the restart still happens");
}

#[test]
fn delete_child_of_an_unknown_child_is_not_found() {
    let mut h = Harness::new(two_workers());
    h.start();
    assert_eq!(h.request(delete("zz")), Err(RequestError::NotFound("zz".into())));
    assert_eq!(h.request(delete("a/b")), Err(RequestError::NotFound("a/b".into())));
}

// ----- which_children / count_children -----

#[test]
fn which_children_lists_children_in_start_order_with_live_state_and_generation() {
    let sub = SupervisorSpec::new().child(w("x"));
    let spec = SupervisorSpec::new()
        .intensity(10)
        .child(w("a").tag(7))
        .child(w("b").backoff(backoff(1000)))
        .child(ChildSpec::supervisor("s", sub))
        .child(w("c").shutdown(Shutdown::Infinity))
        .child(w("d"));
    let mut h = Harness::new(spec);
    h.start();
    let gen = |h: &Harness, p: &str| h.run(p).generation;
    let (ga, gb, gc) = (gen(&h, "a"), gen(&h, "b"), gen(&h, "c"));

    let list = children(&mut h, "");
    let view: Vec<_> = list
        .iter()
        .map(|c| (c.name.as_str(), c.supervisor, c.state, c.tag))
        .collect();
    assert_eq!(
        view,
        [
            ("a", false, ChildState::Running, 7),
            ("b", false, ChildState::Running, 0),
            ("s", true, ChildState::Running, 0),
            ("c", false, ChildState::Running, 0),
            ("d", false, ChildState::Running, 0),
        ]
    );
    assert_eq!(list[0].generation, ga);
    assert_eq!(list[1].generation, gb);
    assert_eq!(list[3].generation, gc);
    assert_eq!(list[0].node, h.engine().lookup("a").expect("a"));

    // Now: b waits for its backoff, c is being stopped, d was terminated.
    h.crash("b");
    h.ignore_stop("c");
    pending_id(h.request(terminate("c")));
    let list = children(&mut h, "");
    let states: Vec<_> = list.iter().map(|c| (c.name.as_str(), c.state)).collect();
    assert_eq!(
        states,
        [
            ("a", ChildState::Running),
            ("b", ChildState::Restarting),
            ("s", ChildState::Running),
            ("c", ChildState::Stopping),
            ("d", ChildState::Running),
        ]
    );
    assert_eq!(list[1].generation, gb, "the last run's generation while restarting");

    // The backoff elapses: b runs again with a new generation.
    let c = h.stopping().remove("c").expect("c ignores stop");
    h.input(Input::Exited(c, ExitReason::shutdown()));
    h.advance(ms(1000));
    let list = children(&mut h, "");
    assert_eq!(list[1].state, ChildState::Running);
    assert!(list[1].generation > gb);
    assert_eq!(list[1].generation, h.run("b").generation);
    assert_eq!(list[3].state, ChildState::Stopped);
    assert_eq!(list[3].generation, gc, "a stopped child shows its last run");

    // Of a nested supervisor.
    let sub = children(&mut h, "s");
    assert_eq!(sub.len(), 1);
    assert_eq!((sub[0].name.as_str(), sub[0].state), ("x", ChildState::Running));
    assert_eq!(sub[0].generation, h.run("s/x").generation);
}

#[test]
fn which_children_shows_a_child_whose_start_hangs_as_starting() {
    let mut h = Harness::new(two_workers());
    h.start();
    h.hang_start("c");
    pending_id(h.request(start_child("", w("c"))));
    let list = children(&mut h, "");
    assert_eq!(list[2].name, "c");
    assert_eq!(list[2].state, ChildState::Starting);
    let c = counts(&mut h, "");
    assert_eq!((c.specs, c.active), (3, 3));
}

#[test]
fn count_children_counts_specs_active_supervisors_and_workers() {
    let spec = SupervisorSpec::new()
        .intensity(10)
        .child(w("a"))
        .child(w("b").backoff(backoff(1000)))
        .child(ChildSpec::supervisor(
            "s",
            SupervisorSpec::new().child(w("x")).child(w("y")),
        ))
        .child(w("c"));
    let mut h = Harness::new(spec);
    h.start();
    assert_eq!(
        counts(&mut h, ""),
        ChildCounts {
            specs: 4,
            active: 4,
            supervisors: 1,
            workers: 3
        }
    );
    assert_eq!(
        counts(&mut h, "s"),
        ChildCounts {
            specs: 2,
            active: 2,
            supervisors: 0,
            workers: 2
        }
    );
    h.crash("b"); // waiting for its backoff: not active
    pending_id(h.request(terminate("c"))); // stopped: not active
    assert_eq!(
        counts(&mut h, ""),
        ChildCounts {
            specs: 4,
            active: 2,
            supervisors: 1,
            workers: 3
        }
    );
    h.request(delete("c")).expect("delete");
    pending_id(h.request(start_child("", ChildSpec::supervisor("t", SupervisorSpec::new()))));
    assert_eq!(
        counts(&mut h, ""),
        ChildCounts {
            specs: 4,
            active: 3,
            supervisors: 2,
            workers: 2
        }
    );
    assert_eq!(counts(&mut h, "t"), ChildCounts::default());
}

#[test]
fn which_and_count_children_of_a_worker_is_not_a_supervisor() {
    let mut h = Harness::new(two_workers());
    h.start();
    assert_eq!(h.request(which("a")), Err(RequestError::NotASupervisor("a".into())));
    assert_eq!(h.request(count("b")), Err(RequestError::NotASupervisor("b".into())));
    assert_eq!(h.request(which("nope")), Err(RequestError::NotFound("nope".into())));
    assert_eq!(h.request(count("a/x")), Err(RequestError::NotFound("a/x".into())));
    assert_eq!(
        h.request(Request::RestartAll {
            path: "a".into(),
            mode: RestartAllMode::AllAtOnce
        }),
        Err(RequestError::NotASupervisor("a".into()))
    );
}

// ----- resolution errors -----

#[test]
fn requests_naming_the_root_as_a_child_are_root_not_allowed() {
    let mut h = Harness::new(two_workers());
    h.start();
    h.take_events();
    assert_eq!(h.request(terminate("")), Err(RequestError::RootNotAllowed));
    assert_eq!(h.request(restart("")), Err(RequestError::RootNotAllowed));
    assert_eq!(h.request(delete("")), Err(RequestError::RootNotAllowed));
    assert!(h.commands().is_empty());
    assert_eq!(h.log_lines("error(root_not_allowed)").len(), 3);
    assert!(!h.engine().is_down());
}

#[test]
fn requests_naming_a_missing_node_are_not_found() {
    let mut h = Harness::new(two_workers().child(ChildSpec::supervisor("s", SupervisorSpec::new().child(w("x")))));
    h.start();
    h.take_events();
    for r in [terminate("s/nope"), restart("nope"), delete("s/x/y"), which("s/nope")] {
        let path = r.target_path();
        assert_eq!(h.request(r), Err(RequestError::NotFound(path)));
    }
    assert_eq!(
        h.request(start_child("s/nope", w("d"))),
        Err(RequestError::NotFound("s/nope".into()))
    );
    assert!(h.commands().is_empty());
}

// ----- a busy supervisor -----

#[test]
fn requests_to_a_busy_supervisor_are_pending_and_run_in_order_after_it() {
    let mut h = Harness::new(two_workers().child(w("t").restart(Restart::Transient)));
    h.start();
    h.exit("t", ExitReason::Normal); // t is stopped
    h.hang_start("c");
    h.take_events();
    let r1 = pending_id(h.request(start_child("", w("c"))));
    assert_eq!(h.commands(), ["spawn c"]);
    // The supervisor is busy starting c: everything else waits, even a delete
    // that would be answered at once otherwise.
    let r2 = pending_id(h.request(terminate("a")));
    let r3 = pending_id(h.request(delete("t")));
    let r4 = pending_id(h.request(restart("a")));
    let r5 = pending_id(h.request(restart("b")));
    assert_eq!(h.commands(), ["spawn c"], "nothing runs while busy");
    assert!(h.log_lines("reply").is_empty());
    h.advance(Duration::from_secs(1));
    assert_eq!(h.commands(), ["spawn c"]);

    h.answer_start("c");
    assert_eq!(h.commands(), ["spawn c", "stop a", "spawn a"]);
    let replies: Vec<_> = h
        .log()
        .iter()
        .map(|l| strip_time(l))
        .filter(|l| l.starts_with("reply"))
        .collect();
    assert_eq!(
        replies,
        [
            format!("reply {r1} start_child path=c result=started"),
            format!("reply {r2} terminate_child path=a result=ok"),
            format!("reply {r3} delete_child path=t result=ok"),
            format!("reply {r4} restart_child path=a result=started"),
            format!("reply {r5} restart_child path=b result=error(running)"),
        ]
    );
    // Each one ran after the previous one finished: r2's stop before r4's spawn.
    let ev = h.events();
    let pos = |needle: &str| ev.iter().position(|l| l.starts_with(needle)).expect(needle);
    assert!(pos(&format!("reply {r1}")) < pos("stop a"));
    assert!(pos("exited a") < pos(&format!("reply {r2}")));
    assert!(pos(&format!("reply {r3}")) < pos("spawn a"));
    assert_eq!(h.engine().lookup("t"), None);
}

#[test]
fn read_requests_to_a_busy_supervisor_are_answered_at_once() {
    let mut h = Harness::new(two_workers());
    h.start();
    h.hang_start("c");
    pending_id(h.request(start_child("", w("c"))));
    assert!(matches!(h.request(which("")), Ok(Reply::Children(c)) if c.len() == 3));
    assert!(matches!(h.request(count("")), Ok(Reply::Counts(c)) if c.specs == 3));
}

#[test]
fn requests_queued_when_the_tree_starts_shutting_down_are_answered_shutting_down() {
    let mut h = Harness::new(two_workers());
    h.start();
    h.hang_start("c");
    let r1 = pending_id(h.request(start_child("", w("c"))));
    let r2 = pending_id(h.request(terminate("a")));
    let r3 = pending_id(h.request(Request::Shutdown));
    let ev = h.events();
    assert!(ev.contains(&format!("reply {r1} start_child path=c result=error(shutting_down)")));
    assert!(ev.contains(&format!(
        "reply {r2} terminate_child path=a result=error(shutting_down)"
    )));
    // The hanging start is stopped as soon as it answers; then the tree goes down.
    h.answer_start("c");
    assert_eq!(h.commands()[2..], ["spawn c", "stop c", "stop b", "stop a"]);
    let last: Vec<_> = h.events().into_iter().rev().take(2).collect();
    assert_eq!(
        last,
        [
            format!("reply {r3} shutdown path= result=ok"),
            "tree_down reason=shutdown".to_owned()
        ]
    );
}

// ----- shutdown -----

#[test]
fn shutdown_stops_the_tree_in_order_and_replies_ok_after_tree_down() {
    let sub = SupervisorSpec::new().child(w("x")).child(w("y"));
    let spec = SupervisorSpec::new()
        .child(w("a"))
        .child(ChildSpec::supervisor("s", sub))
        .child(w("b"));
    let mut h = Harness::new(spec);
    h.start();
    let g = |h: &Harness, p: &str| h.run(p).generation;
    let (ga, gx, gy, gb) = (g(&h, "a"), g(&h, "s/x"), g(&h, "s/y"), g(&h, "b"));
    h.take_events();
    let id = pending_id(h.request(Request::Shutdown));
    assert_eq!(h.commands(), ["stop b", "stop s/y", "stop s/x", "stop a"]);
    assert_eq!(
        h.events(),
        [
            format!("request {id} shutdown path="),
            "sup_ending / reason=shutdown".to_owned(),
            format!("stop b gen={gb}"),
            format!("exited b gen={gb} reason=shutdown"),
            // The root asks s to stop; s decides to end and stops its children.
            "sup_stop s".to_owned(),
            "sup_ending s reason=shutdown".to_owned(),
            format!("stop s/y gen={gy}"),
            format!("exited s/y gen={gy} reason=shutdown"),
            format!("stop s/x gen={gx}"),
            format!("exited s/x gen={gx} reason=shutdown"),
            "sup_exit s reason=shutdown".to_owned(),
            format!("stop a gen={ga}"),
            format!("exited a gen={ga} reason=shutdown"),
            "sup_exit / reason=shutdown".to_owned(),
            "tree_down reason=shutdown".to_owned(),
            format!("reply {id} shutdown path= result=ok"),
        ]
    );
    assert!(h.engine().is_down());
}

#[test]
fn shutdown_waits_for_a_child_that_ignores_stop_until_its_kill_deadline() {
    let spec = SupervisorSpec::new()
        .child(w("a").shutdown(Shutdown::Timeout(ms(200))))
        .child(w("b").shutdown(Shutdown::Timeout(ms(700))));
    let mut h = Harness::new(spec);
    h.start();
    h.ignore_stop("b");
    let id = pending_id(h.request(Request::Shutdown));
    // A second shutdown while the first is in progress is answered with the first.
    let id2 = pending_id(h.request(Request::Shutdown));
    assert_eq!(h.commands()[2..], ["stop b"]);
    h.advance(ms(700) - Duration::from_nanos(1));
    assert_eq!(h.commands()[2..], ["stop b"]);
    assert!(!h.engine().is_down());
    h.advance(Duration::from_nanos(1));
    assert_eq!(h.commands()[2..], ["stop b", "kill b", "stop a"]);
    assert!(h.engine().is_down());
    assert_eq!(
        h.log_lines("result=ok"),
        [
            format!("   700.0ms reply {id} shutdown path= result=ok"),
            format!("   700.0ms reply {id2} shutdown path= result=ok"),
        ]
    );
}

#[test]
fn requests_while_the_tree_is_shutting_down_are_shutting_down() {
    let mut h = Harness::new(two_workers());
    h.start();
    h.ignore_stop("b");
    pending_id(h.request(Request::Shutdown));
    assert_eq!(h.request(terminate("a")), Err(RequestError::ShuttingDown));
    assert_eq!(h.request(start_child("", w("c"))), Err(RequestError::ShuttingDown));
    assert_eq!(h.request(restart("a")), Err(RequestError::ShuttingDown));
    assert_eq!(h.commands()[2..], ["stop b"]);
}

#[test]
fn requests_after_the_tree_is_down_are_tree_down() {
    let mut h = Harness::new(two_workers());
    h.start();
    pending_id(h.request(Request::Shutdown));
    assert!(h.engine().is_down());
    h.take_events();
    let all = [
        start_child("", w("c")),
        terminate("a"),
        restart("a"),
        delete("a"),
        which(""),
        count(""),
        Request::RestartAll {
            path: "".into(),
            mode: RestartAllMode::Rolling,
        },
        Request::Shutdown,
    ];
    let n = all.len();
    for r in all {
        assert_eq!(h.request(r), Err(RequestError::TreeDown));
    }
    assert!(h.commands().is_empty());
    assert_eq!(h.log_lines("result=error(tree_down)").len(), n);
}

#[test]
fn shutdown_before_start_is_ok_at_once_and_the_tree_never_starts() {
    let mut h = Harness::new(two_workers());
    assert_eq!(h.request(Request::Shutdown), Ok(Reply::Ok));
    assert!(h.engine().is_down());
    h.start();
    assert!(h.commands().is_empty());
    assert_eq!(h.request(which("")), Err(RequestError::TreeDown));
}

#[test]
fn terminate_child_cancels_the_pending_restart_of_a_one_for_all_round_waiting_for_backoff() {
    // docs/SEMANTICS.md §7 and §9: a pending backoff restart is cancelled by
    // shutdown and by terminate_child. Here b's one_for_all restart waits for b's backoff
    // (the siblings keep running meanwhile, docs/SEMANTICS.md section 9).
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .intensity(10)
        .child(w("a"))
        .child(w("b").backoff(backoff(500)))
        .child(w("c"));
    let mut h = Harness::new(spec);
    h.start();
    h.crash("b");
    assert_eq!(h.commands()[3..], [] as [&str; 0], "the round waits for b's backoff");
    h.take_events();
    assert_eq!(
        h.request(terminate("b")),
        Ok(Reply::Ok),
        "answered at once: nothing to stop"
    );
    h.advance(Duration::from_secs(60));
    assert!(
        !h.commands().contains(&"spawn b".to_owned()),
        "b must not be spawned after terminate_child(b): {:?}",
        h.commands()
    );
    assert_eq!(h.log_lines("terminate_child path=b result=ok").len(), 1);
    assert_eq!(h.state("b"), ChildState::Stopped);
    assert_eq!(
        h.state("a"),
        ChildState::Running,
        "the cancelled round touches no sibling"
    );
    assert_eq!(h.state("c"), ChildState::Running);
    assert!(h.commands().is_empty(), "{:?}", h.commands());
}

#[test]
fn restart_child_of_a_child_waiting_for_a_one_for_all_rounds_backoff_is_restarting() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .intensity(10)
        .child(w("a"))
        .child(w("b").backoff(backoff(500)));
    let mut h = Harness::new(spec);
    h.start();
    h.crash("b");
    h.take_events();
    let answer = h.request(restart("b"));
    h.advance(Duration::from_secs(1));
    // Whether answered at once or later, the answer is `restarting`, and the
    // request starts nothing by itself.
    assert_ne!(answer, Ok(Reply::Ok));
    assert_eq!(
        h.log_lines("reply req")
            .iter()
            .map(|l| strip_time(l))
            .collect::<Vec<_>>(),
        ["reply req1 restart_child path=b result=error(restarting)"]
    );
    assert_eq!(
        h.commands(),
        ["stop a", "spawn a", "spawn b"],
        "only the round's own stop and starts"
    );
}

#[test]
fn which_children_shows_a_child_waiting_for_a_one_for_all_rounds_backoff_as_restarting() {
    // ChildState::Restarting: "Ended and waiting for its restart (backoff, or
    // the supervisor is busy)".
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .intensity(10)
        .child(w("a"))
        .child(w("b").backoff(backoff(500)))
        .child(w("c"));
    let mut h = Harness::new(spec);
    h.start();
    h.crash("b");
    let list = children(&mut h, "");
    let states: Vec<_> = list.iter().map(|c| (c.name.as_str(), c.state)).collect();
    assert_eq!(states[1], ("b", ChildState::Restarting), "{states:?}");
    assert_eq!(states[0].1, ChildState::Running, "siblings run until the round begins");
    assert_eq!(states[2].1, ChildState::Running);
}

#[test]
fn start_child_of_a_supervisor_whose_child_fails_to_start_stops_what_it_started_and_keeps_nothing() {
    let mut d = Direct::new(two_workers());
    d.fail.insert("s/y".into());
    let sub = SupervisorSpec::new().child(w("x")).child(w("y")).child(w("z"));
    let before = d.spawned.len();
    let id = pending_id(d.request(start_child("", ChildSpec::supervisor("s", sub))));
    let spawned: Vec<_> = d.spawned[before..].iter().map(|r| r.generation).collect();
    assert_eq!(spawned.len(), 2, "x, then y (fails); z is never spawned");
    match d.final_reply(id) {
        Err(RequestError::StartFailed { path, error }) => {
            assert_eq!(path, "s");
            assert!(error.contains("s/y"), "the error names the child that failed: {error}");
        }
        other => panic!("expected start_failed, got {other:?}"),
    }
    assert_eq!(d.e.lookup("s"), None, "nothing kept");
    assert_eq!(d.e.lookup("s/x"), None);
    // x was stopped before the answer.
    let stop_x = d
        .notices
        .iter()
        .position(|n| matches!(n, Notice::Stop(_)))
        .expect("x stopped");
    let reply = d
        .notices
        .iter()
        .position(|n| matches!(n, Notice::Reply { id: i, .. } if *i == id))
        .expect("reply");
    assert!(stop_x < reply);
}

#[test]
fn queued_start_child_requests_are_checked_when_they_run() {
    let mut h = Harness::new(two_workers());
    h.start();
    h.hang_start("c");
    let r1 = pending_id(h.request(start_child("", w("c"))));
    let r2 = pending_id(h.request(start_child("", w("d"))));
    let r3 = pending_id(h.request(start_child("", w("d"))));
    h.answer_start("c");
    let replies: Vec<_> = h.events().into_iter().filter(|l| l.starts_with("reply")).collect();
    assert_eq!(
        replies,
        [
            format!("reply {r1} start_child path=c result=started"),
            format!("reply {r2} start_child path=d result=started"),
            format!("reply {r3} start_child path=d result=error(already_started)"),
        ]
    );
    assert_eq!(h.commands()[2..], ["spawn c", "spawn d"]);
}

/// Every request answered `Pending` gets exactly one final answer, also when
/// the supervisor it waits for never becomes idle again.
#[test]
fn requests_queued_behind_a_first_start_that_fails_are_still_answered() {
    let mut h = Harness::new(two_workers());
    h.hang_start("b");
    h.start();
    let r1 = pending_id(h.request(terminate("a")));
    let r2 = pending_id(h.request(start_child("", w("c"))));
    // b's start fails: the first start aborts, a is stopped, the tree is down.
    let b = h.hanging().remove("b").expect("b hangs");
    h.input(Input::StartFailed(b, "nope".into()));
    assert!(h.engine().is_down());
    assert_eq!(h.commands(), ["spawn a", "spawn b", "stop a"]);
    for id in [r1, r2] {
        let answers = h.log_lines(&format!("reply {id} "));
        assert_eq!(
            answers.len(),
            1,
            "{id} must be answered exactly once: {answers:?}\n{:#?}",
            h.log()
        );
        assert!(answers[0].contains("result=error("), "{answers:?}");
    }
}

/// A request queued on a supervisor whose start then fails belongs to that
/// failed incarnation: it is answered (with an error) and never executed on
/// the next incarnation the parent starts.
#[test]
fn requests_queued_on_a_supervisor_whose_restart_fails_are_answered_and_not_replayed() {
    let g = SupervisorSpec::new().intensity(0).child(w("x")).child(w("y"));
    let spec = SupervisorSpec::new().intensity(10).child(ChildSpec::supervisor("g", g));
    let mut h = Harness::new(spec);
    h.start();
    h.hang_start("g/y");
    h.crash("g/x"); // g gives up; the root restarts it; g/y's start hangs
    assert_eq!(h.state("g"), ChildState::Starting);
    let id = pending_id(h.request(terminate("g/x")));
    // g/y fails to start: that incarnation of g fails, the root tries again.
    let y = h.hanging().remove("g/y").expect("g/y hangs");
    h.input(Input::StartFailed(y, "nope".into()));
    let answers = h.log_lines(&format!("reply {id} "));
    assert_eq!(answers.len(), 1, "answered when its supervisor failed: {:#?}", h.log());
    assert!(answers[0].contains("result=error("), "{answers:?}");
    // The new incarnation starts; the old request does not stop its x.
    h.answer_start("g/y");
    assert_eq!(h.state("g"), ChildState::Running);
    assert_eq!(h.state("g/x"), ChildState::Running, "{:?}", h.commands());
    assert_eq!(h.log_lines(&format!("reply {id} ")).len(), 1);
}

#[test]
fn start_child_of_a_notify_child_replies_started_only_once_it_is_ready() {
    let mut h = Harness::new(two_workers());
    h.start();
    h.never_ready("c");
    let id = pending_id(h.request(start_child("", w("c").readiness(Readiness::Notify))));
    assert_eq!(h.state("c"), ChildState::Starting);
    assert!(h.log_lines("reply").is_empty());
    let run = h.run("c");
    h.input(Input::Ready(run));
    let ev = h.events();
    assert_eq!(
        ev[ev.len() - 2..],
        [
            format!("ready c gen={}", run.generation),
            format!("reply {id} start_child path=c result=started")
        ]
    );
}

// ----- replace_child [ext] -----

#[test]
fn replace_child_gives_a_stopped_child_its_new_spec_in_place() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::RestForOne)
        .child(w("a"))
        .child(w("b"))
        .child(w("c"));
    let mut h = Harness::new(spec);
    h.start();
    h.request(terminate("b")).expect("accepted");
    assert_eq!(h.state("b"), ChildState::Stopped);
    let new = w("b").shutdown(Shutdown::Brutal);
    assert_eq!(
        h.request(Request::ReplaceChild {
            path: "b".into(),
            spec: new
        }),
        Ok(Reply::Ok)
    );
    // Still stopped, still second in start order.
    assert_eq!(h.state("b"), ChildState::Stopped);
    let names: Vec<String> = children(&mut h, "").into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["a", "b", "c"]);
    h.request(restart("b")).expect("accepted");
    assert_eq!(h.state("b"), ChildState::Running);
    // rest_for_one still treats c as after b, and b now stops brutally.
    h.take_events();
    h.crash("b");
    assert_eq!(h.commands(), ["stop c", "spawn b", "spawn c"]);
    h.take_events();
    let _ = h.request(Request::Shutdown);
    assert_eq!(h.commands(), ["stop c", "kill b", "stop a"]);
}

#[test]
fn replace_child_of_a_running_child_is_refused_and_changes_nothing() {
    let mut h = Harness::new(two_workers());
    h.start();
    let before = h.run("a");
    assert_eq!(
        h.request(Request::ReplaceChild {
            path: "a".into(),
            spec: w("a").restart(Restart::Temporary)
        }),
        Err(RequestError::Running("a".into()))
    );
    assert_eq!(h.run("a"), before);
    assert_eq!(h.engine().restart_type(before.node), Some(Restart::Permanent));
}

#[test]
fn replace_child_keeps_the_name_and_validates_the_spec() {
    let mut h = Harness::new(two_workers());
    h.start();
    h.request(terminate("a")).expect("accepted");
    assert_eq!(h.state("a"), ChildState::Stopped);
    assert_eq!(
        h.request(Request::ReplaceChild {
            path: "a".into(),
            spec: w("z")
        }),
        Err(RequestError::NameMismatch {
            path: "a".into(),
            name: "z".into()
        })
    );
    let bad = w("a").restart(Restart::Permanent).significant(true);
    assert!(matches!(
        h.request(Request::ReplaceChild {
            path: "a".into(),
            spec: bad
        }),
        Err(RequestError::BadSpec(_))
    ));
    assert_eq!(
        h.request(Request::ReplaceChild {
            path: "nope".into(),
            spec: w("nope")
        }),
        Err(RequestError::NotFound("nope".into()))
    );
}

#[test]
fn replace_child_can_turn_a_worker_into_a_supervisor() {
    let mut h = Harness::new(two_workers());
    h.start();
    h.request(terminate("b")).expect("accepted");
    assert_eq!(h.state("b"), ChildState::Stopped);
    let sub = SupervisorSpec::new().child(w("x")).child(w("y"));
    assert_eq!(
        h.request(Request::ReplaceChild {
            path: "b".into(),
            spec: ChildSpec::supervisor("b", sub)
        }),
        Ok(Reply::Ok)
    );
    h.take_events();
    h.request(restart("b")).expect("accepted");
    assert_eq!(h.state("b"), ChildState::Running);
    assert_eq!(h.commands(), ["spawn b/x", "spawn b/y"]);
    assert_eq!(counts(&mut h, "").supervisors, 1);
}

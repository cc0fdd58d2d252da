//! `autostart = false`: the child is defined but its supervisor's start
//! passes over it (the next sibling still starts in order); a strategy's
//! restart does not start it while it has never run; `restart_child` starts
//! it, and from then on it is restarted like any other child.

use vigil_core::{
    ChildSpec, ChildState, Command, Engine, ExitReason, Input, Instant, Reply, Request, Strategy, SupervisorSpec,
};

fn spawns(e: &mut Engine) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(c) = e.poll_command() {
        if let Command::Spawn(run) = c {
            out.push(e.path(run.node).unwrap());
        }
    }
    while e.poll_notice().is_some() {}
    out
}

fn start_all(e: &mut Engine, t: u64) -> Vec<String> {
    let mut started = Vec::new();
    loop {
        let mut runs = Vec::new();
        while let Some(c) = e.poll_command() {
            if let Command::Spawn(run) = c {
                runs.push(run);
            }
        }
        while e.poll_notice().is_some() {}
        if runs.is_empty() {
            return started;
        }
        for run in runs {
            started.push(e.path(run.node).unwrap());
            e.handle(Input::Started(run), Instant::from_nanos(t));
        }
    }
}

#[test]
fn a_child_without_autostart_is_defined_not_started_until_asked() {
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .intensity(10)
        .child(ChildSpec::worker("a"))
        .child(ChildSpec::worker("lazy").autostart(false))
        .child(ChildSpec::worker("c"));
    let mut e = Engine::new(spec, 1).unwrap();
    e.start(Instant::from_nanos(0));
    assert_eq!(start_all(&mut e, 1), ["a", "c"]);
    let lazy = e.lookup("lazy").unwrap();
    assert_eq!(e.state(lazy), Some(ChildState::Stopped));

    // A one_for_all restart after `a` crashes: `lazy` has never run, so it stays put.
    let a = e.current_run(e.lookup("a").unwrap()).unwrap();
    e.handle(
        Input::Exited(a, ExitReason::Error("boom".into())),
        Instant::from_nanos(2),
    );
    let c = e.current_run(e.lookup("c").unwrap()).unwrap();
    e.handle(Input::Exited(c, ExitReason::shutdown()), Instant::from_nanos(3));
    assert_eq!(start_all(&mut e, 4), ["a", "c"]);
    assert_eq!(e.state(lazy), Some(ChildState::Stopped));

    // Started on request; then a one_for_all restart restarts it too.
    let r = e.request(Request::RestartChild { path: "lazy".into() }, Instant::from_nanos(5));
    assert!(matches!(r, Ok(Reply::Pending(_))), "{r:?}");
    assert_eq!(start_all(&mut e, 6), ["lazy"]);
    assert_eq!(e.state(lazy), Some(ChildState::Running));
    let a = e.current_run(e.lookup("a").unwrap()).unwrap();
    e.handle(
        Input::Exited(a, ExitReason::Error("boom".into())),
        Instant::from_nanos(7),
    );
    for name in ["c", "lazy"] {
        let run = e.current_run(e.lookup(name).unwrap()).unwrap();
        e.handle(Input::Exited(run, ExitReason::shutdown()), Instant::from_nanos(8));
    }
    assert_eq!(start_all(&mut e, 9), ["a", "lazy", "c"]);
    assert!(spawns(&mut e).is_empty());
}

//! Fuzz the engine: the bytes choose a tree shape and a sequence of inputs
//! (valid, stale and out of order), requests and clock advances. The engine
//! must never panic.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use vigil_core::{
    ChildSpec, Command, Engine, ExitReason, Input, Instant, NodeId, Readiness, Request, Restart, RunId, Shutdown,
    Strategy, SupervisorSpec,
};

fn tree(b: u8) -> SupervisorSpec {
    let strategy = [Strategy::OneForOne, Strategy::OneForAll, Strategy::RestForOne, Strategy::OneTerminateAll]
        [usize::from(b % 4)];
    let mut inner = SupervisorSpec::new().strategy(strategy).intensity(u32::from(b % 3));
    for i in 0..(b % 3 + 1) {
        inner = inner.child(ChildSpec::worker(format!("w{i}")).restart(Restart::Transient));
    }
    SupervisorSpec::new()
        .strategy(strategy)
        .intensity(u32::from(b >> 4))
        .child(ChildSpec::worker("a").readiness(Readiness::Notify).startup_timeout(Duration::from_millis(5)))
        .child(ChildSpec::supervisor("s", inner).shutdown(Shutdown::Timeout(Duration::from_millis(3))))
        .child(ChildSpec::worker("b").restart(Restart::Temporary).shutdown(Shutdown::Brutal))
}

fuzz_target!(|data: &[u8]| {
    let Some((&shape, steps)) = data.split_first() else { return };
    let Ok(mut e) = Engine::new(tree(shape), u64::from(shape)) else { return };
    let mut now = Instant::ZERO;
    let mut runs: Vec<RunId> = Vec::new();
    e.start(now);
    for pair in steps.chunks(2) {
        let (op, arg) = (pair[0], *pair.get(1).unwrap_or(&0));
        while let Some(c) = e.poll_command() {
            if let Command::Spawn(r) = c {
                runs.push(r);
            }
        }
        while e.poll_notice().is_some() {}
        let run = if runs.is_empty() || arg == 255 {
            RunId { node: NodeId::from_index(u32::from(arg)), generation: u64::from(op) }
        } else {
            runs[usize::from(arg) % runs.len()]
        };
        match op % 9 {
            0 => e.handle(Input::Started(run), now),
            1 => e.handle(Input::StartFailed(run, String::new()), now),
            2 => e.handle(Input::Ready(run), now),
            3 => e.handle(Input::Heartbeat(run), now),
            4 => e.handle(Input::Exited(run, ExitReason::Error(String::new())), now),
            5 => e.handle(Input::Exited(run, ExitReason::Normal), now),
            6 => {
                now = now + Duration::from_millis(u64::from(arg));
                e.handle_timeout(now);
            }
            7 => {
                let path = ["", "a", "s", "s/w0", "b", "zz"][usize::from(arg % 6)].to_owned();
                let req = match arg / 6 % 5 {
                    0 => Request::TerminateChild { path },
                    1 => Request::RestartChild { path },
                    2 => Request::DeleteChild { path },
                    3 => Request::WhichChildren { path },
                    _ => Request::StartChild { parent: path, spec: ChildSpec::worker("d") },
                };
                let _ = e.request(req, now);
            }
            _ => {
                let _ = e.request(Request::Shutdown, now);
            }
        }
    }
});

//! A steady one_for_one crash/restart loop, for profilers (`perf record`,
//! `valgrind --tool=callgrind`): `cargo run --release -p vigil-core --example restart_loop -- 1000000`.
use std::time::Duration;

use vigil_core::{ChildSpec, Command, Engine, ExitReason, Input, Instant, SupervisorSpec};

fn main() {
    let cycles: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let n = 10_000;
    let mut spec = SupervisorSpec::new()
        .intensity(1_000_000_000)
        .period(Duration::from_nanos(1));
    for i in 0..n {
        spec = spec.child(ChildSpec::worker(format!("w{i}")));
    }
    let mut e = Engine::new(spec, 0).expect("valid spec");
    let mut now = Instant::ZERO;
    let mut gens = vec![0u64; n + 1];
    e.start(now);
    while let Some(Command::Spawn(r)) = e.poll_command() {
        gens[r.node.index()] = r.generation;
        e.handle(Input::Started(r), now);
    }
    while e.poll_notice().is_some() {}
    let nodes: Vec<_> = e.children(e.root()).collect();
    for i in 0..cycles {
        now = now + Duration::from_micros(1);
        let node = nodes[(i as usize) % n];
        let run = vigil_core::RunId {
            node,
            generation: gens[node.index()],
        };
        e.handle(Input::Exited(run, ExitReason::Error(String::new())), now);
        while let Some(c) = e.poll_command() {
            if let Command::Spawn(r) = c {
                gens[r.node.index()] = r.generation;
                e.handle(Input::Started(r), now);
            }
        }
        while e.poll_notice().is_some() {}
    }
    println!("{} restarts, {:?}", cycles, e.stats());
}

//! Property: for random trees and random sequences of inputs (valid, stale,
//! out of order), requests and clock advances, the engine never panics and
//! keeps its basic promises after every step:
//! - at most one live run per worker, and every command names the worker's current run;
//! - no Stop/Kill for a run that was never spawned, no Kill twice for a run;
//! - nothing is spawned after tree_down.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use proptest::prelude::*;
use vigil_core::{
    AutoShutdown, Backoff, ChildSpec, Command, Engine, Eviction, ExitReason, Input, Instant, Lifespan, NodeId,
    Readiness, Request, Restart, RestartAllMode, RunId, Shutdown, ShutdownOrder, Strategy as Strat, SupervisorSpec,
};

#[derive(Clone, Debug)]
enum Step {
    Answer(u8),
    Exit(u8, u8),
    StaleExit(u8),
    Ready(u8),
    Heartbeat(u8),
    Evict(u8),
    Advance(u16),
    Request(u8, u8),
}

fn reason(k: u8) -> ExitReason {
    match k % 6 {
        0 => ExitReason::Normal,
        1 => ExitReason::shutdown(),
        2 => ExitReason::Error("e".into()),
        3 => ExitReason::Killed,
        4 => ExitReason::Panic("p".into()),
        _ => ExitReason::Shutdown("detail".into()),
    }
}

fn child(i: usize, k: u8, depth: usize, auto: AutoShutdown) -> ChildSpec {
    let name = format!("c{i}");
    let mut c = if depth < 2 && k % 5 == 0 {
        ChildSpec::supervisor(name, sup_spec(k.wrapping_mul(7), depth + 1))
    } else {
        let mut w = ChildSpec::worker(name);
        if k % 3 == 0 {
            w = w
                .readiness(Readiness::Notify)
                .startup_timeout(Duration::from_millis(50));
        }
        if k % 4 == 0 {
            w = w.health_timeout(Duration::from_millis(80));
        }
        if k % 7 == 0 {
            w = w.backoff(Backoff {
                jitter: 0.5,
                reset_after: Some(Duration::from_millis(100)),
                ..Backoff::exponential(Duration::from_millis(5), Duration::from_millis(40))
            });
        }
        w
    };
    c = c.restart(match k % 3 {
        0 => Restart::Permanent,
        1 => Restart::Transient,
        _ => Restart::Temporary,
    });
    c = c.shutdown(match k % 4 {
        0 => Shutdown::Brutal,
        1 => Shutdown::Infinity,
        _ => Shutdown::Timeout(Duration::from_millis(20)),
    });
    if auto != AutoShutdown::Never && c.restart != Restart::Permanent && k % 2 == 0 {
        c = c.significant(true);
    }
    c
}

fn sup_spec(k: u8, depth: usize) -> SupervisorSpec {
    let auto = match k % 5 {
        0 => AutoShutdown::AnySignificant,
        1 => AutoShutdown::AllSignificant,
        _ => AutoShutdown::Never,
    };
    let mut s = SupervisorSpec::new()
        .strategy(match k % 4 {
            0 => Strat::OneForOne,
            1 => Strat::OneForAll,
            2 => Strat::RestForOne,
            _ => Strat::OneTerminateAll,
        })
        .intensity(u32::from(k % 4) + 1)
        .period(Duration::from_millis(100))
        .auto_shutdown(auto)
        .lifespan(if k % 6 == 0 {
            Lifespan::Transient
        } else {
            Lifespan::Permanent
        })
        .shutdown_order(if k % 7 == 3 {
            ShutdownOrder::Parallel
        } else {
            ShutdownOrder::Reverse
        });
    for i in 0..(usize::from(k % 4) + 1) {
        s = s.child(child(i, k.wrapping_mul(31).wrapping_add(i as u8 * 13), depth, auto));
    }
    s
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => any::<u8>().prop_map(Step::Answer),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Step::Exit(a, b)),
        1 => any::<u8>().prop_map(Step::StaleExit),
        1 => any::<u8>().prop_map(Step::Ready),
        1 => any::<u8>().prop_map(Step::Heartbeat),
        1 => any::<u8>().prop_map(Step::Evict),
        2 => (1u16..200).prop_map(Step::Advance),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Step::Request(a, b)),
    ]
}

/// The model of the world: which runs exist.
#[derive(Default)]
struct World {
    /// Spawned runs not yet answered.
    spawned: Vec<RunId>,
    /// Runs that exist (answered Started), by node.
    live: BTreeMap<NodeId, RunId>,
    /// Runs ever spawned.
    ever: BTreeSet<RunId>,
    killed: BTreeSet<RunId>,
    stopped: BTreeSet<RunId>,
}

fn drain(e: &mut Engine, w: &mut World) -> Result<(), TestCaseError> {
    while let Some(c) = e.poll_command() {
        match c {
            Command::Spawn(r) => {
                prop_assert!(!e.is_down(), "spawn after tree_down");
                prop_assert!(!w.live.contains_key(&r.node), "second live run of {:?}", r.node);
                prop_assert!(
                    !w.spawned.iter().any(|s| s.node == r.node),
                    "second spawn of {:?}",
                    r.node
                );
                prop_assert!(w.ever.insert(r), "generation reused {r:?}");
                w.spawned.push(r);
            }
            Command::Stop(r) => {
                prop_assert!(w.live.get(&r.node) == Some(&r), "stop of a run that is not live {r:?}");
                prop_assert!(w.stopped.insert(r), "stop twice {r:?}");
            }
            Command::Kill(r) => {
                prop_assert!(w.live.get(&r.node) == Some(&r), "kill of a run that is not live {r:?}");
                prop_assert!(w.killed.insert(r), "kill twice {r:?}");
            }
        }
    }
    while e.poll_notice().is_some() {}
    Ok(())
}

fn pick<T: Copy>(v: &[T], k: u8) -> Option<T> {
    (!v.is_empty()).then(|| v[usize::from(k) % v.len()])
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("VIGIL_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn engine_never_panics_and_keeps_runs_consistent(k in any::<u8>(), seed in any::<u64>(), steps in prop::collection::vec(step(), 1..120)) {
        let mut e = Engine::new(sup_spec(k, 0), seed).expect("generated specs are valid");
        let mut w = World::default();
        let mut now = Instant::ZERO;
        e.start(now);
        drain(&mut e, &mut w)?;
        for s in steps {
            match s {
                Step::Answer(k) => {
                    if let Some(r) = pick(&w.spawned, k) {
                        w.spawned.retain(|x| *x != r);
                        if k % 5 == 0 {
                            e.handle(Input::StartFailed(r, "no".into()), now);
                        } else {
                            w.live.insert(r.node, r);
                            e.handle(Input::Started(r), now);
                        }
                    } else {
                        // Answer a stop or kill: the run exits.
                        let live: Vec<RunId> = w.live.values().copied().filter(|r| w.stopped.contains(r) || w.killed.contains(r)).collect();
                        if let Some(r) = pick(&live, k) {
                            w.live.remove(&r.node);
                            let reason = if w.killed.contains(&r) { ExitReason::Killed } else { ExitReason::shutdown() };
                            e.handle(Input::Exited(r, reason), now);
                        }
                    }
                }
                Step::Exit(k, why) => {
                    // Any existing run may end, also one that has not reported Started yet.
                    let mut runs: Vec<RunId> = w.live.values().copied().collect();
                    runs.extend(w.spawned.iter().copied());
                    if let Some(r) = pick(&runs, k) {
                        w.live.remove(&r.node);
                        w.spawned.retain(|x| *x != r);
                        e.handle(Input::Exited(r, reason(why)), now);
                    }
                }
                Step::StaleExit(k) => {
                    let ever: Vec<RunId> = w.ever.iter().copied().filter(|r| w.live.get(&r.node) != Some(r) && !w.spawned.contains(r)).collect();
                    let r = pick(&ever, k).unwrap_or(RunId { node: NodeId::from_index(u32::from(k)), generation: u64::MAX - u64::from(k) });
                    let before = e.stats().stale_inputs;
                    e.handle(Input::Exited(r, ExitReason::Normal), now);
                    prop_assert_eq!(e.stats().stale_inputs, before + 1, "an input for a dead run must be stale");
                }
                Step::Ready(k) => {
                    let live: Vec<RunId> = w.live.values().copied().collect();
                    if let Some(r) = pick(&live, k) { e.handle(Input::Ready(r), now); }
                }
                Step::Heartbeat(k) => {
                    let live: Vec<RunId> = w.live.values().copied().collect();
                    if let Some(r) = pick(&live, k) { e.handle(Input::Heartbeat(r), now); }
                }
                Step::Evict(k) => {
                    let live: Vec<RunId> = w.live.values().copied().collect();
                    // Both kinds: the memory monitor's, and any other monitor's with its reason.
                    let why = if k % 2 == 0 { Eviction::Memory } else { Eviction::Monitor(format!("monitor {k}")) };
                    if let Some(r) = pick(&live, k) { e.handle(Input::Evict(r, why), now); }
                }
                Step::Advance(ms) => {
                    now = now + Duration::from_millis(u64::from(ms));
                    e.handle_timeout(now);
                }
                Step::Request(op, target) => {
                    let mut paths = vec![String::new()];
                    let mut stack = vec![e.root()];
                    while let Some(n) = stack.pop() {
                        for c in e.children(n) { paths.push(e.path(c).unwrap_or_default()); stack.push(c); }
                    }
                    let path = paths[usize::from(target) % paths.len()].clone();
                    let req = match op % 8 {
                        0 => Request::TerminateChild { path },
                        1 => Request::RestartChild { path },
                        2 => Request::DeleteChild { path },
                        3 => Request::StartChild { parent: path, spec: ChildSpec::worker(format!("d{target}")).restart(Restart::Temporary) },
                        4 => Request::RestartAll { path, mode: RestartAllMode::Rolling },
                        5 => Request::RestartAll { path, mode: RestartAllMode::AllAtOnce },
                        6 => Request::WhichChildren { path },
                        _ => if target % 16 == 0 { Request::Shutdown } else { Request::CountChildren { path } },
                    };
                    let _ = e.request(req, now);
                }
            }
            drain(&mut e, &mut w)?;
            // Every node the engine thinks has a live run matches the world.
            for (node, r) in &w.live {
                if let Some(cur) = e.current_run(*node) {
                    prop_assert_eq!(cur, *r, "engine and world disagree on the run of {:?}", node);
                }
            }
        }
        // Shut down, answering everything: the tree must come down.
        let _ = e.request(Request::Shutdown, now);
        drain(&mut e, &mut w)?;
        for _ in 0..10_000 {
            if e.is_down() { break; }
            if let Some(r) = w.spawned.pop() {
                w.live.insert(r.node, r);
                e.handle(Input::Started(r), now);
            } else if let Some((_, r)) = w.live.iter().find(|(_, r)| w.stopped.contains(r) || w.killed.contains(r)).map(|(n, r)| (*n, *r)) {
                w.live.remove(&r.node);
                e.handle(Input::Exited(r, ExitReason::shutdown()), now);
            } else {
                now = now + Duration::from_millis(50);
                e.handle_timeout(now);
            }
            drain(&mut e, &mut w)?;
        }
        prop_assert!(e.is_down(), "tree did not come down after shutdown");
        prop_assert!(w.live.is_empty() && w.spawned.is_empty(), "runs left after tree_down: {:?} {:?}", w.live, w.spawned);
    }
}

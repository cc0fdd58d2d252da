//! Property: for random trees whose every number is extreme (0, 1 ns,
//! `u32::MAX`, `u64::MAX` ns, `Duration::MAX`, backoff multipliers up to
//! `f64::MAX`, jitter from 0 to 1) and random inputs, requests and clock
//! jumps (up to `Instant::MAX`), the engine never panics: every arithmetic
//! path saturates or is bounded by validation (docs/SEMANTICS.md, "Saturation
//! and bounds"). After each `handle_timeout(now)` no deadline is still due
//! (even at `Instant::MAX`, where every deadline saturates), nothing is
//! spawned after `tree_down`, and a shutdown still brings the tree down.
//!
//! `VIGIL_PROPTEST_CASES` scales the number of cases (default 256).

use std::time::Duration;

use proptest::prelude::*;
use vigil_core::{
    Backoff, ChildSpec, Command, Engine, ExitReason, Input, Instant, Readiness, Request, Restart, RestartAllMode,
    RunId, Shutdown, Strategy as Strat, SupervisorSpec,
};

/// Durations at the edges, zero excluded (validation refuses zero timeouts).
fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::from_nanos(1)),
        Just(Duration::from_nanos(2)),
        Just(Duration::from_millis(1)),
        Just(Duration::from_secs(5)),
        Just(Duration::from_nanos(u64::MAX)),
        Just(Duration::from_nanos(u64::MAX) + Duration::from_nanos(1)),
        Just(Duration::MAX),
    ]
}

fn multiplier() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(1.0),
        Just(2.0),
        Just(1e20),
        Just(1e308),
        Just(f64::MAX),
        1.0f64..1e300
    ]
}

fn backoff() -> impl Strategy<Value = Backoff> {
    (
        prop_oneof![Just(Duration::ZERO), duration()],
        duration(),
        multiplier(),
        prop_oneof![Just(0.0), Just(1.0), 0.0f64..=1.0],
        proptest::option::of(duration()),
    )
        .prop_map(|(a, b, multiplier, jitter, reset_after)| Backoff {
            initial: a.min(b),
            max: a.max(b),
            multiplier,
            jitter,
            reset_after,
        })
}

fn worker(i: usize) -> impl Strategy<Value = ChildSpec> {
    (
        0u8..3,
        prop_oneof![
            Just(Shutdown::Brutal),
            Just(Shutdown::Infinity),
            duration().prop_map(Shutdown::Timeout)
        ],
        proptest::option::of(duration()),
        proptest::option::of(duration()),
        proptest::option::of(backoff()),
    )
        .prop_map(move |(restart, shutdown, startup, health, backoff)| {
            let mut w = ChildSpec::worker(format!("w{i}"))
                .restart(match restart {
                    0 => Restart::Permanent,
                    1 => Restart::Transient,
                    _ => Restart::Temporary,
                })
                .shutdown(shutdown);
            if let Some(t) = startup {
                w = w.readiness(Readiness::Notify).startup_timeout(t);
            }
            if let Some(t) = health {
                w = w.health_timeout(t);
            }
            if let Some(b) = backoff {
                w = w.backoff(b);
            }
            w
        })
}

fn spec() -> impl Strategy<Value = SupervisorSpec> {
    (
        0u8..4,
        prop_oneof![Just(0u32), Just(1), Just(3), Just(4094), Just(4095), Just(u32::MAX)],
        duration(),
        1usize..5,
    )
        .prop_flat_map(|(strategy, intensity, period, n)| {
            let workers: Vec<_> = (0..n).map(worker).collect();
            workers.prop_map(move |children| {
                let mut s = SupervisorSpec::new()
                    .strategy(match strategy {
                        0 => Strat::OneForOne,
                        1 => Strat::OneForAll,
                        2 => Strat::RestForOne,
                        _ => Strat::OneTerminateAll,
                    })
                    .intensity(intensity)
                    .period(period);
                for c in children {
                    s = s.child(c);
                }
                // A nested copy exercises supervisor shutdown deadlines too.
                let nested = s.clone().shutdown_nested();
                s.child(nested)
            })
        })
}

trait Nested {
    fn shutdown_nested(self) -> ChildSpec;
}

impl Nested for SupervisorSpec {
    fn shutdown_nested(self) -> ChildSpec {
        ChildSpec::supervisor("sub", self).shutdown(Shutdown::Timeout(Duration::MAX))
    }
}

#[derive(Clone, Debug)]
enum Step {
    Start(u8, bool),
    Exit(u8, bool),
    Ready(u8),
    Heartbeat(u8),
    /// Advance the clock: 1 ns, 1 s, half of all time, or to the end of time.
    Advance(u8),
    Request(u8, u8),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (any::<u8>(), any::<bool>()).prop_map(|(k, ok)| Step::Start(k, ok)),
        3 => (any::<u8>(), any::<bool>()).prop_map(|(k, n)| Step::Exit(k, n)),
        1 => any::<u8>().prop_map(Step::Ready),
        1 => any::<u8>().prop_map(Step::Heartbeat),
        3 => (0u8..4).prop_map(Step::Advance),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Step::Request(a, b)),
    ]
}

/// Runs the driver has: spawned (not answered) and started.
#[derive(Default)]
struct Runs {
    spawned: Vec<RunId>,
    started: Vec<RunId>,
}

fn drain(e: &mut Engine, runs: &mut Runs) -> Result<(), TestCaseError> {
    while let Some(c) = e.poll_command() {
        match c {
            Command::Spawn(r) => {
                prop_assert!(!e.is_down(), "spawn after tree_down");
                runs.spawned.push(r);
            }
            // Stops and kills are answered by `Exit` steps and by the final shutdown.
            Command::Stop(_) | Command::Kill(_) => {}
        }
    }
    while e.poll_notice().is_some() {}
    Ok(())
}

fn pick(v: &mut Vec<RunId>, k: u8) -> Option<RunId> {
    (!v.is_empty()).then(|| v.remove(usize::from(k) % v.len()))
}

fn advance(now: Instant, k: u8) -> Instant {
    match k {
        0 => now + Duration::from_nanos(1),
        1 => now + Duration::from_secs(1),
        2 => now + Duration::from_nanos(u64::MAX / 2),
        _ => Instant::MAX,
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("VIGIL_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256),
        ..ProptestConfig::default()
    })]

    #[test]
    fn extreme_specs_and_clock_jumps_never_panic(spec in spec(), seed in any::<u64>(), steps in prop::collection::vec(step(), 1..150)) {
        let mut e = Engine::new(spec, seed).expect("extreme but valid specs are accepted");
        let mut runs = Runs::default();
        let mut now = Instant::ZERO;
        e.start(now);
        drain(&mut e, &mut runs)?;
        for s in steps {
            match s {
                Step::Start(k, ok) => if let Some(r) = pick(&mut runs.spawned, k) {
                    if ok {
                        runs.started.push(r);
                        e.handle(Input::Started(r), now);
                    } else {
                        e.handle(Input::StartFailed(r, "no".into()), now);
                    }
                },
                Step::Exit(k, normal) => if let Some(r) = pick(&mut runs.started, k) {
                    let reason = if normal { ExitReason::Normal } else { ExitReason::Killed };
                    e.handle(Input::Exited(r, reason), now);
                },
                Step::Ready(k) => if let Some(&r) = runs.started.get(usize::from(k) % runs.started.len().max(1)) {
                    e.handle(Input::Ready(r), now);
                },
                Step::Heartbeat(k) => if let Some(&r) = runs.started.get(usize::from(k) % runs.started.len().max(1)) {
                    e.handle(Input::Heartbeat(r), now);
                },
                Step::Advance(k) => {
                    now = advance(now, k);
                    e.handle_timeout(now);
                    if let Some(at) = e.poll_timeout() {
                        prop_assert!(at > now, "a deadline at {at} is still due at {now}");
                    }
                }
                Step::Request(op, target) => {
                    let path = if target % 3 == 0 { "sub".to_owned() } else { format!("w{}", target % 4) };
                    let req = match op % 5 {
                        0 => Request::RestartChild { path },
                        1 => Request::TerminateChild { path },
                        2 => Request::RestartAll { path: String::new(), mode: RestartAllMode::AllAtOnce },
                        3 => Request::RestartAll { path: String::new(), mode: RestartAllMode::Rolling },
                        _ => Request::DeleteChild { path },
                    };
                    let _ = e.request(req, now);
                }
            }
            drain(&mut e, &mut runs)?;
        }
        // Shut down; every run obeys at once: the tree must come down.
        let _ = e.request(Request::Shutdown, now);
        drain(&mut e, &mut runs)?;
        for _ in 0..10_000 {
            if e.is_down() { break; }
            if let Some(r) = runs.spawned.pop() {
                runs.started.push(r);
                e.handle(Input::Started(r), now);
            } else if let Some(r) = runs.started.pop() {
                e.handle(Input::Exited(r, ExitReason::shutdown()), now);
            } else {
                now = advance(now, 3);
                e.handle_timeout(now);
            }
            drain(&mut e, &mut runs)?;
        }
        prop_assert!(e.is_down(), "tree did not come down after shutdown");
    }
}

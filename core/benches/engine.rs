//! Criterion benchmarks of the vigil-core engine (results and method: `docs/BENCHMARKS.md`).
//!
//! Every benchmark plays the driver: it feeds inputs to the engine with a
//! virtual clock and drains `poll_command` / `poll_notice` after every call,
//! as the crate documentation asks.
//!
//! * `one_for_one/*`: one worker of a flat one_for_one tree (10, 10k, 1M
//!   workers under the root) exits and is restarted.
//!   - `decision_*`: only `handle(Exited)` + draining the commands (the
//!     `Spawn`) + draining the notices is timed, one clock pair per restart
//!     (see `clock/instant_pair` for what that pair costs). The `Started`
//!     answer that brings the child back to steady state is fed outside the
//!     timed part.
//!   - `cycle_*`: the whole cycle (exit, restart, `Started`, all draining) is
//!     timed as one batch, so no per-iteration clock overhead.
//!   - `*_seq`: the crashing child is `i % n`; `*_rand`: a fixed xorshift
//!     sequence over the indices (cache misses at 1M).
//! * `start_child/dynamic_1M`: 1M `Request::StartChild` under an empty root,
//!   each `Spawn` answered with `Started`; per child = time / 1M.
//! * `one_for_all/round/1000`: one of 1000 workers crashes; every `Stop` is
//!   answered with `Exited(shutdown)` and every `Spawn` with `Started` until
//!   the engine is quiet.
//!
//! Restart intensity: 1_000_000_000 with a 1 ns period, and the virtual clock
//! advances 1 µs per restart, so every earlier entry of the restart window has
//! expired at each decision and the window holds one entry (checked in
//! `examples/memory_per_worker.rs`: live heap bytes do not grow over 1M restarts).

use std::hint::black_box;
use std::time::{Duration, Instant as WallClock};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput};
use vigil_core::{
    ChildSpec, Command, Engine, ExitReason, Input, Instant, NodeId, Reply, Request, RunId, Strategy, SupervisorSpec,
};

/// Virtual time between two restarts (far more than the 1 ns period).
const STEP: Duration = Duration::from_micros(1);
const INTENSITY: u32 = 1_000_000_000;
const PERIOD: Duration = Duration::from_nanos(1);

/// A minimal driver around an engine: the current generation of every node
/// (indexed by `NodeId::index`) and the workers in start order.
struct Driver {
    engine: Engine,
    now: Instant,
    gens: Vec<u64>,
    workers: Vec<NodeId>,
}

impl Driver {
    /// A started flat tree of `n` workers under the root, every worker running.
    fn flat(n: usize, strategy: Strategy) -> Driver {
        let mut spec = SupervisorSpec::new()
            .strategy(strategy)
            .intensity(INTENSITY)
            .period(PERIOD);
        spec.children = (0..n).map(|i| ChildSpec::worker(format!("w{i}"))).collect();
        let engine = Engine::new(spec, 1).expect("valid spec");
        let mut d = Driver {
            engine,
            now: Instant::ZERO,
            gens: vec![0; n + 1],
            workers: Vec::new(),
        };
        d.engine.start(d.now);
        d.drain_notices();
        // Starts are sequential: each `Started` makes the engine emit the next `Spawn`.
        let spawned = d.pump();
        assert_eq!(spawned, n, "every worker spawned once");
        d.workers = d.engine.children(d.engine.root()).collect();
        assert_eq!(d.workers.len(), n);
        d
    }

    fn drain_notices(&mut self) {
        while let Some(n) = self.engine.poll_notice() {
            black_box(n);
        }
    }

    /// Answer every command until the engine is quiet (`Spawn` -> `Started`,
    /// `Stop` -> `Exited(shutdown)`, `Kill` -> `Exited(killed)`), draining
    /// notices and polling the timer after each call as a real driver does.
    /// Returns the number of spawns answered.
    fn pump(&mut self) -> usize {
        let mut spawns = 0;
        while let Some(cmd) = self.engine.poll_command() {
            let input = match cmd {
                Command::Spawn(r) => {
                    spawns += 1;
                    self.gens[r.node.index()] = r.generation;
                    Input::Started(r)
                }
                Command::Stop(r) => Input::Exited(r, ExitReason::shutdown()),
                Command::Kill(r) => Input::Exited(r, ExitReason::Killed),
            };
            self.engine.handle(input, self.now);
            self.drain_notices();
            black_box(self.engine.poll_timeout());
        }
        spawns
    }

    fn run_of(&self, idx: usize) -> RunId {
        let node = self.workers[idx];
        RunId {
            node,
            generation: self.gens[node.index()],
        }
    }

    /// Check that nothing went wrong during a benchmark (no give-up, no stale
    /// input, one restart decision per exit).
    fn check(&self, restarts: u64) {
        let s = self.engine.stats();
        assert!(!self.engine.is_down());
        assert_eq!(s.give_ups, 0);
        assert_eq!(s.stale_inputs, 0);
        assert_eq!(s.restart_decisions, restarts);
    }
}

/// Which child crashes next.
#[derive(Clone, Copy)]
enum Order {
    Sequential(usize),
    /// xorshift64 state.
    Random(u64),
}

impl Order {
    fn next(&mut self, n: usize) -> usize {
        match self {
            Order::Sequential(i) => {
                let v = *i % n;
                *i = i.wrapping_add(1);
                v
            }
            Order::Random(x) => {
                *x ^= *x << 13;
                *x ^= *x >> 7;
                *x ^= *x << 17;
                (*x % n as u64) as usize
            }
        }
    }
}

const SEED: u64 = 0x9E37_79B9_7F4A_7C15;

/// `iters` restarts; only `handle(Exited)` + drain commands + drain notices is timed.
fn decision_only(d: &mut Driver, order: &mut Order, iters: u64, make_reason: &dyn Fn() -> ExitReason) -> Duration {
    let n = d.workers.len();
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let run = d.run_of(order.next(n));
        d.now = d.now + STEP;
        let now = d.now;
        let input = Input::Exited(run, make_reason());
        let mut commands = 0u32;
        let mut spawned = None;

        let t0 = WallClock::now();
        d.engine.handle(black_box(input), now);
        while let Some(c) = d.engine.poll_command() {
            commands += 1;
            spawned = Some(c);
        }
        while let Some(notice) = d.engine.poll_notice() {
            black_box(notice);
        }
        total += t0.elapsed();

        // Untimed: back to steady state.
        assert_eq!(commands, 1);
        let Some(Command::Spawn(r)) = spawned else {
            panic!("expected a Spawn, got {spawned:?}")
        };
        d.gens[r.node.index()] = r.generation;
        d.engine.handle(Input::Started(r), now);
        d.drain_notices();
    }
    total
}

/// `iters` full cycles (exit, restart decision, `Started`), timed as one batch.
fn full_cycle(d: &mut Driver, order: &mut Order, iters: u64) -> Duration {
    let n = d.workers.len();
    let t0 = WallClock::now();
    for _ in 0..iters {
        let run = d.run_of(order.next(n));
        d.now = d.now + STEP;
        let now = d.now;
        d.engine
            .handle(Input::Exited(run, ExitReason::Error(String::new())), now);
        while let Some(c) = d.engine.poll_command() {
            if let Command::Spawn(r) = c {
                d.gens[r.node.index()] = r.generation;
                d.engine.handle(Input::Started(r), now);
            }
        }
        while let Some(notice) = d.engine.poll_notice() {
            black_box(notice);
        }
    }
    t0.elapsed()
}

fn no_detail() -> ExitReason {
    ExitReason::Error(String::new())
}

fn with_detail() -> ExitReason {
    ExitReason::Panic("boom".to_owned())
}

fn one_for_one(c: &mut Criterion) {
    let mut group = c.benchmark_group("one_for_one");
    for n in [10usize, 10_000, 1_000_000] {
        let mut d = Driver::flat(n, Strategy::OneForOne);
        let mut restarts = 0u64;
        let mut seq = Order::Sequential(0);
        let mut rand = Order::Random(SEED);

        group.bench_function(BenchmarkId::new("decision_seq", n), |b| {
            b.iter_custom(|iters| {
                restarts += iters;
                decision_only(&mut d, &mut seq, iters, &no_detail)
            })
        });
        group.bench_function(BenchmarkId::new("decision_rand", n), |b| {
            b.iter_custom(|iters| {
                restarts += iters;
                decision_only(&mut d, &mut rand, iters, &no_detail)
            })
        });
        if n == 10 {
            // The same with a reason that carries a detail string, as a
            // driver reporting a panic message would send.
            group.bench_function(BenchmarkId::new("decision_seq_detail_reason", n), |b| {
                b.iter_custom(|iters| {
                    restarts += iters;
                    decision_only(&mut d, &mut seq, iters, &with_detail)
                })
            });
        }
        group.bench_function(BenchmarkId::new("cycle_seq", n), |b| {
            b.iter_custom(|iters| {
                restarts += iters;
                full_cycle(&mut d, &mut seq, iters)
            })
        });
        group.bench_function(BenchmarkId::new("cycle_rand", n), |b| {
            b.iter_custom(|iters| {
                restarts += iters;
                full_cycle(&mut d, &mut rand, iters)
            })
        });
        d.check(restarts);
    }
    group.finish();
}

/// What one `WallClock::now()` + `elapsed()` pair adds to each `decision_*` iteration.
fn clock(c: &mut Criterion) {
    c.bench_function("clock/instant_pair", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t0 = WallClock::now();
                total += black_box(t0).elapsed();
            }
            total
        })
    });
}

fn start_child(c: &mut Criterion) {
    const N: usize = 1_000_000;
    let mut group = c.benchmark_group("start_child");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(15))
        .throughput(Throughput::Elements(N as u64));
    group.bench_function("dynamic_1M", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // Untimed setup: an empty started root and the 1M requests.
                let mut d = Driver {
                    engine: Engine::new(SupervisorSpec::new(), 1).expect("valid spec"),
                    now: Instant::ZERO,
                    gens: vec![0; N + 1],
                    workers: Vec::new(),
                };
                d.engine.start(d.now);
                d.drain_notices();
                let requests: Vec<Request> = (0..N)
                    .map(|i| Request::StartChild {
                        parent: String::new(),
                        spec: ChildSpec::worker(format!("d{i}")),
                    })
                    .collect();

                let t0 = WallClock::now();
                for req in requests {
                    let reply = d.engine.request(req, d.now);
                    debug_assert!(matches!(reply, Ok(Reply::Pending(_))));
                    let _ = black_box(reply);
                    d.drain_notices();
                    d.pump();
                }
                total += t0.elapsed();

                // Untimed: check, then drop the engine.
                assert_eq!(d.engine.stats().spawns, N as u64);
                assert_eq!(d.engine.children(d.engine.root()).count(), N);
            }
            total
        })
    });
    group.finish();
}

fn one_for_all(c: &mut Criterion) {
    const N: usize = 1_000;
    let mut group = c.benchmark_group("one_for_all");
    let mut d = Driver::flat(N, Strategy::OneForAll);
    let mut order = Order::Sequential(0);
    let mut restarts = 0u64;
    group.bench_function(BenchmarkId::new("round", N), |b| {
        b.iter_custom(|iters| {
            restarts += iters;
            let t0 = WallClock::now();
            for _ in 0..iters {
                let run = d.run_of(order.next(N));
                d.now = d.now + STEP;
                d.engine
                    .handle(Input::Exited(run, ExitReason::Error(String::new())), d.now);
                d.drain_notices();
                let spawns = d.pump();
                debug_assert_eq!(spawns, N);
            }
            t0.elapsed()
        })
    });
    d.check(restarts);
    assert_eq!(d.engine.stats().stops, restarts * (N as u64 - 1));
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5));
    targets = clock, one_for_one, one_for_all, start_child
}
criterion_main!(benches);

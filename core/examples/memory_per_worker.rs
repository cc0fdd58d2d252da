//! Heap bytes the engine keeps per idle worker, measured with a counting
//! global allocator (results: `docs/BENCHMARKS.md`).
//!
//! ```text
//! cargo run --release -p vigil-core --example memory_per_worker
//! ```
//!
//! Each case can also run alone, smaller (CI runs them so, in a debug
//! build: `.ci/examples`): `static N` and `dynamic N` with N workers, and
//! `hot CYCLES` (1,000,000 restarts by default).
//!
//! The allocator counts the bytes requested (`Layout::size`) that are live:
//! `alloc` adds, `dealloc` subtracts, `realloc` adds the difference. This is
//! what the engine asks for; the C allocator's own per-block overhead is not
//! included (the RSS growth, printed alongside, includes it).
//!
//! Also measured: heap allocations per operation on the hot paths, and
//! that the restart window stays small with intensity 1_000_000_000 and a
//! 1 ns period (the configuration of `benches/engine.rs`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use vigil_core::{
    ChildSpec, Command, Engine, ExitReason, Input, Instant, NodeId, Request, RunId, Strategy, SupervisorSpec,
};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

fn grew(by: usize) {
    let live = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(live, Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the counters have no effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            ALLOCS.fetch_add(1, Relaxed);
            grew(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            ALLOCS.fetch_add(1, Relaxed);
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded contract.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            ALLOCS.fetch_add(1, Relaxed);
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> usize {
    LIVE.load(Relaxed)
}

fn allocs() -> u64 {
    ALLOCS.load(Relaxed)
}

/// Resident set size in bytes (Linux), if readable.
fn rss() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn rss_delta(before: Option<usize>, after: Option<usize>, n: usize) -> String {
    match (before, after) {
        (Some(b), Some(a)) => {
            let d = a as i64 - b as i64;
            format!("{d} B ({:.1} B/worker)", d as f64 / n as f64)
        }
        _ => "n/a".to_owned(),
    }
}

/// The driver side: answer every command until the engine is quiet.
fn pump(engine: &mut Engine, now: Instant, gens: &mut [u64]) -> usize {
    let mut spawns = 0;
    while let Some(n) = engine.poll_notice() {
        drop(n);
    }
    while let Some(cmd) = engine.poll_command() {
        let input = match cmd {
            Command::Spawn(r) => {
                spawns += 1;
                gens[r.node.index()] = r.generation;
                Input::Started(r)
            }
            Command::Stop(r) => Input::Exited(r, ExitReason::shutdown()),
            Command::Kill(r) => Input::Exited(r, ExitReason::Killed),
        };
        engine.handle(input, now);
        while let Some(n) = engine.poll_notice() {
            drop(n);
        }
        let _ = engine.poll_timeout();
    }
    spawns
}

fn flat_spec(n: usize, strategy: Strategy, intensity: u32, period: Duration) -> SupervisorSpec {
    let mut spec = SupervisorSpec::new()
        .strategy(strategy)
        .intensity(intensity)
        .period(period);
    spec.children = (0..n).map(|i| ChildSpec::worker(format!("w{i}"))).collect();
    spec
}

fn per(bytes: usize, n: usize) -> f64 {
    bytes as f64 / n as f64
}

fn static_tree(n: usize) {
    // The driver's table, allocated before the baseline.
    let mut gens = vec![0u64; n + 1];
    let base = live();
    let rss0 = rss();
    PEAK.store(base, Relaxed);
    let spec = flat_spec(n, Strategy::OneForOne, 1, Duration::from_secs(5));
    let spec_bytes = live() - base;

    let mut engine = Engine::new(spec, 1).expect("valid spec");
    engine.start(Instant::ZERO);
    let spawns = pump(&mut engine, Instant::ZERO, &mut gens);
    assert_eq!(spawns, n);
    // `Engine::new` consumes the spec: the root's children are built into the
    // arena and their specs freed, so everything still live is the engine's.
    let total = live() - base;
    let peak = PEAK.load(Relaxed) - base;
    let rss1 = rss();
    drop(engine);
    assert_eq!(live(), base, "everything freed");
    println!(
        "static {n} workers: engine {:.2} B/worker ({total} B, the spec given to Engine::new is not kept), \
         spec alone before new {:.2} B/worker ({spec_bytes} B), peak while building {:.2} B/worker, RSS growth {}",
        per(total, n),
        per(spec_bytes, n),
        per(peak, n),
        rss_delta(rss0, rss1, n),
    );
}

fn dynamic_tree(n: usize) {
    let mut gens = vec![0u64; n + 1];
    let base = live();
    let rss0 = rss();
    PEAK.store(base, Relaxed);
    let mut engine = Engine::new(SupervisorSpec::new(), 1).expect("valid spec");
    engine.start(Instant::ZERO);
    pump(&mut engine, Instant::ZERO, &mut gens);
    let mut engine_allocs = 0u64;
    for i in 0..n {
        let req = Request::StartChild {
            parent: String::new(),
            spec: ChildSpec::worker(format!("w{i}")),
        };
        // Only the engine's allocations: the request is built before counting.
        let a0 = allocs();
        let _ = engine.request(req, Instant::ZERO);
        pump(&mut engine, Instant::ZERO, &mut gens);
        engine_allocs += allocs() - a0;
    }
    let allocs_per_start = engine_allocs as f64 / n as f64;
    let total = live() - base;
    let peak = PEAK.load(Relaxed) - base;
    let rss1 = rss();
    drop(engine);
    assert_eq!(live(), base, "everything freed");
    println!(
        "dynamic {n} workers: engine {:.2} B/worker ({total} B; no spec kept), peak during starts {:.2} B/worker, \
         RSS growth {}; {allocs_per_start:.2} heap allocations by the engine per start_child",
        per(total, n),
        per(peak, n),
        rss_delta(rss0, rss1, n),
    );
}

/// Heap allocations per one_for_one restart cycle (exit + restart + Started),
/// live-byte growth over the cycles (the restart window must not grow), and
/// allocations per one_for_all round: `cycles` restarts (1,000,000 for the
/// published numbers; fewer for a quick run), a tenth of them with intensity
/// 1, and `cycles / 1000` one_for_all rounds.
fn hot_paths(cycles: usize) {
    const N: usize = 10_000;
    let cycles = cycles.max(1);
    let mut gens = vec![0u64; N + 1];
    let mut engine = Engine::new(
        flat_spec(N, Strategy::OneForOne, 1_000_000_000, Duration::from_nanos(1)),
        1,
    )
    .expect("valid spec");
    let mut now = Instant::ZERO;
    engine.start(now);
    pump(&mut engine, now, &mut gens);
    let workers: Vec<NodeId> = engine.children(engine.root()).collect();
    let cycle = |engine: &mut Engine, gens: &mut [u64], now: &mut Instant, i: usize, reason: ExitReason| {
        let node = workers[i % N];
        *now = *now + Duration::from_micros(1);
        let run = RunId {
            node,
            generation: gens[node.index()],
        };
        engine.handle(Input::Exited(run, reason), *now);
        assert_eq!(pump(engine, *now, gens), 1);
    };
    // Warm the queues' capacities.
    for i in 0..N {
        cycle(&mut engine, &mut gens, &mut now, i, ExitReason::Error(String::new()));
    }
    let (b0, a0) = (live(), allocs());
    for i in 0..cycles {
        cycle(&mut engine, &mut gens, &mut now, i, ExitReason::Error(String::new()));
    }
    let (b1, a1) = (live(), allocs());
    println!(
        "one_for_one, intensity 1e9, period 1 ns, 1 us between restarts: {cycles} restarts of {N} workers: \
         {:.3} heap allocations per restart (reason without detail), live heap change {} B",
        (a1 - a0) as f64 / cycles as f64,
        b1 as i64 - b0 as i64,
    );
    // Reasons with a detail string, built before counting.
    let reasons: Vec<ExitReason> = (0..cycles).map(|_| ExitReason::Panic("boom".to_owned())).collect();
    let a0 = allocs();
    for (i, reason) in reasons.into_iter().enumerate() {
        cycle(&mut engine, &mut gens, &mut now, i, reason);
    }
    let a1 = allocs();
    println!(
        "one_for_one: {:.3} heap allocations per restart when the exit reason carries a detail string \
         (reason built by the driver beforehand, not counted)",
        (a1 - a0) as f64 / cycles as f64,
    );
    let s = engine.stats();
    assert!(!engine.is_down() && s.give_ups == 0 && s.stale_inputs == 0);
    drop(engine);

    // Same clock pattern with intensity 1: a window that failed to expire would give up at once.
    let mut engine =
        Engine::new(flat_spec(10, Strategy::OneForOne, 1, Duration::from_nanos(1)), 1).expect("valid spec");
    let mut gens = vec![0u64; 11];
    let mut now = Instant::ZERO;
    engine.start(now);
    pump(&mut engine, now, &mut gens);
    let workers: Vec<NodeId> = engine.children(engine.root()).collect();
    for i in 0..cycles / 10 {
        let node = workers[i % 10];
        now = now + Duration::from_micros(1);
        let run = RunId {
            node,
            generation: gens[node.index()],
        };
        engine.handle(Input::Exited(run, ExitReason::Killed), now);
        pump(&mut engine, now, &mut gens);
    }
    println!(
        "intensity 1, period 1 ns, 1 us between restarts: {} restart decisions, {} give-ups",
        engine.stats().restart_decisions,
        engine.stats().give_ups
    );
    assert_eq!(engine.stats().give_ups, 0);
    drop(engine);

    // one_for_all, 1000 workers.
    const M: usize = 1_000;
    let rounds = (cycles / 1_000).max(1);
    let mut engine = Engine::new(
        flat_spec(M, Strategy::OneForAll, 1_000_000_000, Duration::from_nanos(1)),
        1,
    )
    .expect("valid spec");
    let mut gens = vec![0u64; M + 1];
    let mut now = Instant::ZERO;
    engine.start(now);
    pump(&mut engine, now, &mut gens);
    let workers: Vec<NodeId> = engine.children(engine.root()).collect();
    let round = |engine: &mut Engine, gens: &mut [u64], now: &mut Instant, i: usize| {
        let node = workers[i % M];
        *now = *now + Duration::from_micros(1);
        let run = RunId {
            node,
            generation: gens[node.index()],
        };
        engine.handle(Input::Exited(run, ExitReason::Error(String::new())), *now);
        assert_eq!(pump(engine, *now, gens), M);
    };
    for i in 0..10 {
        round(&mut engine, &mut gens, &mut now, i);
    }
    let (b0, a0) = (live(), allocs());
    for i in 0..rounds {
        round(&mut engine, &mut gens, &mut now, i);
    }
    let (b1, a1) = (live(), allocs());
    println!(
        "one_for_all, {M} workers: {:.3} heap allocations per round, live heap change over {rounds} rounds {} B",
        (a1 - a0) as f64 / rounds as f64,
        b1 as i64 - b0 as i64,
    );
}

fn sizes() {
    use std::mem::size_of;
    println!(
        "size_of: ChildSpec {} B, Request {} B, Input {} B, Command {} B, Notice {} B, ExitReason {} B",
        size_of::<ChildSpec>(),
        size_of::<Request>(),
        size_of::<Input>(),
        size_of::<Command>(),
        size_of::<vigil_core::Notice>(),
        size_of::<ExitReason>(),
    );
}

/// Each case runs in a fresh process (this program with the case's name as
/// argument) so that its RSS growth is not hidden by memory freed earlier.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["static", n] => static_tree(n.parse().expect("a number")),
        ["dynamic", n] => dynamic_tree(n.parse().expect("a number")),
        ["hot"] => hot_paths(1_000_000),
        ["hot", cycles] => hot_paths(cycles.parse().expect("a number")),
        [] => {
            println!(
                "live-byte counting allocator: bytes requested from the allocator, without malloc's \
                 per-block overhead (RSS growth includes it)\ntarget: <= 256 B per idle worker"
            );
            sizes();
            let exe = std::env::current_exe().expect("own path");
            for case in [
                &["static", "10000"][..],
                &["static", "1000000"],
                &["dynamic", "1000000"],
                &["hot"],
            ] {
                let status = std::process::Command::new(&exe).args(case).status().expect("run case");
                assert!(status.success(), "case {case:?} failed");
            }
        }
        other => panic!("unknown arguments {other:?}"),
    }
}

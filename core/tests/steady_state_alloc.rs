//! A steady-state one_for_one restart allocates nothing.
//!
//! A counting global allocator wraps the system allocator. It counts
//! allocations (alloc, alloc_zeroed, realloc) made on the measuring thread
//! while that thread's flag is on, so allocations of other test threads (and
//! of the test's own setup) do not count. After a warm-up that brings every
//! queue and the restart window to its working capacity, N crash/restart
//! cycles must allocate exactly zero times.
//!
//! To find an allocation site, run with `VIGIL_ALLOC_BACKTRACE=1`: the first
//! few counted allocations print a backtrace (captured with counting off).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use vigil_core::{ChildSpec, Command, Engine, ExitReason, Input, Instant, RunId, SupervisorSpec};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BACKTRACES: AtomicBool = AtomicBool::new(false);
static BACKTRACES_PRINTED: AtomicU64 = AtomicU64::new(0);
const MAX_BACKTRACES: u64 = 5;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

impl Counting {
    fn record(&self) {
        // `try_with`: the thread-local may be gone during thread teardown.
        if COUNTING.try_with(|c| c.get()).unwrap_or(false) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            if BACKTRACES.load(Ordering::Relaxed) && BACKTRACES_PRINTED.fetch_add(1, Ordering::Relaxed) < MAX_BACKTRACES
            {
                // Capturing and printing allocate: do it with counting off.
                COUNTING.with(|c| c.set(false));
                let bt = std::backtrace::Backtrace::force_capture();
                eprintln!("counted allocation:\n{bt}");
                COUNTING.with(|c| c.set(true));
            }
        }
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.record();
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.record();
        System.alloc_zeroed(layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.record();
        System.realloc(ptr, layout, new_size)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One measurement at a time (the counter is global).
static MEASURE: Mutex<()> = Mutex::new(());

/// Count the allocations `f` makes on this thread.
fn count_allocations(f: impl FnOnce()) -> u64 {
    BACKTRACES.store(std::env::var_os("VIGIL_ALLOC_BACKTRACE").is_some(), Ordering::Relaxed);
    BACKTRACES_PRINTED.store(0, Ordering::Relaxed);
    ALLOCATIONS.store(0, Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    ALLOCATIONS.load(Ordering::Relaxed)
}

const WORKERS: usize = 1000;
const WARMUP: usize = 500;
const CYCLES: usize = 10_000;
const STEP: Duration = Duration::from_secs(1);

/// A root with `WORKERS` permanent workers under one_for_one.
fn engine(intensity: u32, period: Duration) -> Engine {
    let mut spec = SupervisorSpec::new().intensity(intensity).period(period);
    for i in 0..WORKERS {
        spec = spec.child(ChildSpec::worker(format!("w{i}")));
    }
    Engine::new(spec, 0).expect("valid spec")
}

/// Start the tree, answering every Spawn with Started; returns each worker's run.
fn start(e: &mut Engine, now: Instant) -> Vec<RunId> {
    e.start(now);
    let mut runs = Vec::with_capacity(WORKERS);
    while let Some(cmd) = e.poll_command() {
        let Command::Spawn(run) = cmd else {
            panic!("unexpected {cmd:?}")
        };
        runs.push(run);
        e.handle(Input::Started(run), now);
        while e.poll_notice().is_some() {}
    }
    while e.poll_notice().is_some() {}
    assert_eq!(runs.len(), WORKERS);
    assert!(!e.is_down());
    runs
}

/// One crash/restart cycle of worker `i` at `now`: the driver reports the
/// exit with `reason` (built beforehand), drains, answers the Spawn with
/// Started, drains again. No allocation in here other than the engine's: the
/// checks only compare plain values.
#[inline(never)]
fn cycle(e: &mut Engine, runs: &mut [RunId], i: usize, reason: ExitReason, now: Instant) {
    let old = runs[i];
    e.handle(Input::Exited(old, reason), now);
    let mut spawned = None;
    while let Some(cmd) = e.poll_command() {
        match cmd {
            Command::Spawn(run) if spawned.is_none() && run.node == old.node && run.generation > old.generation => {
                spawned = Some(run)
            }
            _ => panic!("unexpected command"),
        }
    }
    while e.poll_notice().is_some() {}
    let Some(new) = spawned else { panic!("no restart") };
    e.handle(Input::Started(new), now);
    assert_eq!(e.poll_command(), None);
    while e.poll_notice().is_some() {}
    // A driver would also ask when to wake up.
    assert_eq!(e.poll_timeout(), None);
    runs[i] = new;
}

/// Warm up, then count the allocations of `CYCLES` crash/restart cycles whose
/// exit reason is `error(detail)` (`error` for an empty detail).
fn steady_state(intensity: u32, period: Duration, detail: &str) {
    let _guard = MEASURE.lock().unwrap_or_else(|p| p.into_inner());
    let mut e = engine(intensity, period);
    let mut now = Instant::ZERO;
    let mut runs = start(&mut e, now);
    // Warm-up: queues, the notice deque and the restart window reach the
    // capacity the steady state needs.
    for k in 0..WARMUP {
        now = now + STEP;
        cycle(
            &mut e,
            &mut runs,
            k % WORKERS,
            ExitReason::Error(detail.to_owned()),
            now,
        );
    }
    // Inputs are built before counting starts (an empty detail would not
    // allocate anyway; a non-empty one would, on the test's side).
    let mut reasons: Vec<ExitReason> = (0..CYCLES).map(|_| ExitReason::Error(detail.to_owned())).collect();
    let before = e.stats();
    let allocations = count_allocations(|| {
        for k in WARMUP..WARMUP + CYCLES {
            now = now + STEP;
            let reason = reasons.pop().expect("one reason per cycle");
            cycle(&mut e, &mut runs, k % WORKERS, reason, now);
        }
    });
    let after = e.stats();
    assert!(!e.is_down());
    assert_eq!(after.give_ups, 0);
    assert_eq!(after.restart_decisions - before.restart_decisions, CYCLES as u64);
    assert_eq!(after.spawns - before.spawns, CYCLES as u64);
    assert_eq!(after.stale_inputs, 0);
    assert_eq!(
        allocations, 0,
        "{allocations} allocations in {CYCLES} steady-state restart cycles \
         (run with VIGIL_ALLOC_BACKTRACE=1 to see where)"
    );
}

/// Unlimited intensity with a 1 ms period: each decision finds the previous
/// one (1 s old) expired, so the window holds one entry.
#[test]
fn one_for_one_restart_allocates_nothing_unbounded_intensity() {
    steady_state(u32::MAX, Duration::from_millis(1), "");
}

/// Intensity 10 in 5 s with a decision every second: the window slides with
/// about six entries and never gives up.
#[test]
fn one_for_one_restart_allocates_nothing_sliding_window() {
    steady_state(10, Duration::from_secs(5), "");
}

/// The same with an exit reason that carries a detail (`error(boom)`), as real
/// drivers report: the reason moves into the `Exited` notice, never cloned.
#[test]
fn one_for_one_restart_allocates_nothing_with_reason_detail() {
    steady_state(10, Duration::from_secs(5), "boom");
}

/// The counter works: an allocation inside the measured closure is counted.
#[test]
fn the_counter_sees_allocations() {
    let _guard = MEASURE.lock().unwrap_or_else(|p| p.into_inner());
    let n = count_allocations(|| {
        let v: Vec<u64> = Vec::with_capacity(std::hint::black_box(16));
        std::hint::black_box(v);
    });
    assert_eq!(n, 1);
}

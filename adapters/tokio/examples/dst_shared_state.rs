//! A restart bug found by a seed, and its fix checked over the same seeds
//! (own-code simulation: docs/SIMULATION.md, "Simulating your own task
//! code").
//!
//! The service keeps a "connected" flag in an `Arc` captured by the task's
//! closure: a run sets it when it connects and clears it when it
//! disconnects, and a run that finds it set refuses to connect twice. The
//! flag is cleared only on the clean path, so a run that ends any other way
//! (a crash, a panic, a kill) leaves it set: every later run fails at once,
//! and the root gives up. No test that stops the service cleanly finds
//! that; a seed that crashes it at a checkpoint does. The fix clears the
//! flag in a guard's `Drop`, which runs however the run ends.
//!
//! ```sh
//! cargo run --release -p vigil-tokio --features dst --example dst_shared_state [SEEDS]
//! cargo run --release -p vigil-tokio --features dst --example dst_shared_state -- --bench [SEEDS]
//! cargo run --release -p vigil-tokio --features dst --example dst_shared_state -- --checkpoint-cost N
//! VIGIL_DST_SEED=3 cargo run -p vigil-tokio --features dst --example dst_shared_state   # one seed
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use vigil_core::{ChildSpec, Readiness, SupervisorSpec};
use vigil_tokio::dst::{Dst, DstFaults, DstSummary};
use vigil_tokio::{RunContext, Tree};

/// The faults of every seed: rare enough that some seeds never crash the
/// client during its minute, so the sweep shows which seeds find the bug.
fn faults() -> DstFaults {
    DstFaults {
        checkpoint_crash: 0.01,
        checkpoint_panic: 0.002,
        start_delay: 0.2,
        ready_delay: 0.2,
        max_delay: Duration::from_millis(500),
        ignore_stop: 0.1,
        kill_every: Some(Duration::from_secs(600)),
        ..DstFaults::none()
    }
}

/// The root: one_for_one, up to 20 restarts in 10 s (a healthy service
/// never comes near that under these faults).
fn root() -> SupervisorSpec {
    SupervisorSpec::new().intensity(20).period(Duration::from_secs(10))
}

/// Serve until asked to stop: one request a second, each a checkpoint.
async fn serve(ctx: &RunContext) {
    loop {
        tokio::select! {
            biased;
            _ = ctx.stopped() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => ctx.checkpoint().await,
        }
    }
}

/// A sibling that works on its own (its faults are injected too).
async fn metrics(ctx: RunContext) -> Result<(), String> {
    serve(&ctx).await;
    Ok(())
}

/// The buggy service: the flag is cleared only if `serve` returns.
fn buggy_tree() -> Tree {
    let connected = Arc::new(AtomicBool::new(false));
    Tree::new(root())
        .task(ChildSpec::worker("client").readiness(Readiness::Notify), move |ctx| {
            let connected = Arc::clone(&connected);
            async move {
                if connected.swap(true, Ordering::SeqCst) {
                    return Err("already connected: refusing a second connection".to_owned());
                }
                tokio::time::sleep(Duration::from_millis(50)).await; // the handshake
                ctx.ready();
                serve(&ctx).await;
                connected.store(false, Ordering::SeqCst); // BUG: only on the clean path
                Ok(())
            }
        })
        .task(ChildSpec::worker("metrics"), metrics)
}

/// The connection as a guard: dropped however the run ends (its future
/// returns, unwinds from a panic, or is dropped by a kill).
struct Connection(Arc<AtomicBool>);

impl Connection {
    fn open(flag: &Arc<AtomicBool>) -> Result<Self, String> {
        if flag.swap(true, Ordering::SeqCst) {
            return Err("already connected: refusing a second connection".to_owned());
        }
        Ok(Connection(Arc::clone(flag)))
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// The fixed service: the same code, with the flag held by a guard.
fn fixed_tree() -> Tree {
    let connected = Arc::new(AtomicBool::new(false));
    Tree::new(root())
        .task(ChildSpec::worker("client").readiness(Readiness::Notify), move |ctx| {
            let connected = Arc::clone(&connected);
            async move {
                let _connection = Connection::open(&connected)?;
                tokio::time::sleep(Duration::from_millis(50)).await;
                ctx.ready();
                serve(&ctx).await;
                Ok::<(), String>(())
            }
        })
        .task(ChildSpec::worker("metrics"), metrics)
}

fn simulate<F: Fn() -> Tree + Sync>(factory: F, jobs: usize) -> Dst<F> {
    Dst::new(factory)
        .duration(Duration::from_secs(60))
        .faults(faults())
        .require_up(true)
        .jobs(jobs)
        .reproduce_with("cargo run -p vigil-tokio --features dst --example dst_shared_state")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bench = args.iter().any(|a| a == "--bench");
    let seeds: u64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(200);
    if args.iter().any(|a| a == "--checkpoint-cost") {
        return checkpoint_cost(seeds);
    }
    if bench {
        return print_bench(seeds);
    }
    let jobs = std::thread::available_parallelism().map_or(1, usize::from);
    let buggy = simulate(buggy_tree, jobs)
        .run(0..seeds)
        .expect("a tree of tasks can be simulated");
    // `VIGIL_DST_SEED` runs one seed only: say how many ran.
    let ran = buggy.reports.len();
    println!("the buggy service, {ran} seed(s):\n{buggy}");
    let Some(found) = buggy.first_failure() else {
        println!("no seed found the bug");
        std::process::exit(1);
    };
    // The failing seed again, alone: the same trace, byte for byte.
    let (again, trace) = simulate(buggy_tree, 1).trace_seed(found.seed).expect("simulated");
    assert_eq!(again.trace_hash, found.trace_hash, "a seed replays exactly");
    println!(
        "\nseed {} replayed: the same trace ({} lines); how it ended:",
        found.seed, again.trace_lines
    );
    for line in trace
        .lines()
        .filter(|l| l.contains("give_up") || l.contains("tree_down"))
    {
        println!("  {line}");
    }
    let fixed = simulate(fixed_tree, jobs).run(0..seeds).expect("simulated");
    println!("\nthe fixed service, the same {ran} seed(s):\n{fixed}");
    if fixed.first_failure().is_some() {
        std::process::exit(1);
    }
}

/// `--checkpoint-cost N`: a real (not simulated) tree whose task awaits
/// `N` checkpoints, then returns; under callgrind at two `N`s, the
/// difference is the cost of a checkpoint outside a simulation.
fn checkpoint_cost(n: u64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let tree = Tree::new(SupervisorSpec::new())
            .task(
                ChildSpec::worker("w").restart(vigil_core::Restart::Temporary),
                move |ctx| async move {
                    for _ in 0..n {
                        ctx.checkpoint().await;
                    }
                    Ok::<(), String>(())
                },
            )
            .start()
            .expect("a valid tree");
        let mut events = tree.events();
        while let Some(Ok(e)) = events.recv().await {
            if matches!(e.kind, vigil_tokio::EventKind::Exited { .. }) {
                break;
            }
        }
        tree.shutdown().await;
    });
    println!("{n} checkpoints outside a simulation");
}

/// `--bench`: the fixed service's sweep on 1 and 2 threads, as a markdown
/// table, beside its floor: the same seeds' virtual time spent by the
/// service's two loops alone (a sleep of 1 s and a checkpoint, for as many
/// seconds as a seed covers) on the same kind of runtime, without vigil.
fn print_bench(seeds: u64) {
    println!("| threads | seeds | wall s | seeds/s | virtual s per wall s | floor s (1 thread) | ratio to floor |");
    println!("|---|---|---|---|---|---|---|");
    let floor = floor(seeds);
    for jobs in [1, 2] {
        let s: DstSummary = simulate(fixed_tree, jobs)
            .determinism_check(false)
            .run(0..seeds)
            .expect("simulated");
        s.assert_ok();
        let wall = s.wall_time.as_secs_f64();
        println!(
            "| {jobs} | {seeds} | {wall:.3} | {:.0} | {:.0} | {floor:.3} | {:.1} |",
            seeds as f64 / wall,
            s.virtual_time().as_secs_f64() / wall,
            wall / floor
        );
    }
}

/// The floor of `--bench`, in wall seconds: per seed, a fresh paused
/// current-thread runtime running two tasks that each sleep 1 s and await
/// a checkpoint-free loop body for the seed's 121 virtual seconds.
fn floor(seeds: u64) -> f64 {
    let wall = std::time::Instant::now();
    for _ in 0..seeds {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime");
        rt.block_on(async {
            let tick = || async {
                for _ in 0..121 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            };
            let (a, b) = (tokio::spawn(tick()), tokio::spawn(tick()));
            let _ = (a.await, b.await);
        });
    }
    wall.elapsed().as_secs_f64()
}

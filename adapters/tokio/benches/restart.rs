//! Mean cost of a task restart cycle under the vigil-tokio driver (criterion).
//!
//! ```sh
//! cargo bench -p vigil-tokio --bench restart
//! ```
//!
//! `task_restart_cycle/<runtime>/<siblings>`: one worker crashes (`Err`) as
//! soon as each of its runs is polled, `iters` times in a row, next to
//! `siblings` idle task workers; the time of the whole batch divided by
//! `iters` is the mean time from one crash to the next, that is, one full
//! cycle: exit report, engine decision, replacement spawned, `Started`
//! handled, replacement polled. The tree is built once per benchmark, the
//! root is one_for_one with intensity 1 000 000 000 and a 1 ns period (it
//! never gives up), and between batches the crasher waits idle.
//!
//! `tokio_spawn_join/<runtime>`: `tokio::spawn(async {}).await`, `iters`
//! times in a row inside one task, for scale.
//!
//! The latency distributions (p50/p99) are in the
//! `task_restart_latency` example; this is the mean throughput view.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tokio::sync::Notify;
use vigil_core::{ChildSpec, SupervisorSpec};
use vigil_tokio::{Tree, TreeHandle};

use flavor::Flavor;

// The latency examples' runtimes; the bench names them by its own ids.
#[allow(dead_code)]
#[path = "../examples/common/flavor.rs"]
mod flavor;

/// The criterion id of `flavor` (the names docs/BENCHMARKS.md records).
fn bench_id(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::CurrentThread => "current_thread",
        Flavor::MultiThread2 => "multi_thread2",
    }
}

/// Crashes left in the current batch, and the signals around a batch.
struct Batch {
    left: AtomicU64,
    go: Notify,
    done: Notify,
}

fn start_tree(siblings: usize, batch: &Arc<Batch>) -> TreeHandle {
    let mut tree = Tree::new(
        SupervisorSpec::new()
            .intensity(1_000_000_000)
            .period(Duration::from_nanos(1)),
    );
    for i in 0..siblings {
        tree = tree.task(ChildSpec::worker(format!("s{i}")), |ctx| async move {
            ctx.stopped().await;
            Ok::<(), &'static str>(())
        });
    }
    let b = Arc::clone(batch);
    tree.task(ChildSpec::worker("crasher"), move |ctx| {
        let b = Arc::clone(&b);
        async move {
            loop {
                let left = b.left.load(Ordering::Relaxed);
                if left > 0 {
                    b.left.store(left - 1, Ordering::Relaxed);
                    return Err("crash");
                }
                b.done.notify_one();
                tokio::select! {
                    _ = b.go.notified() => {}
                    _ = ctx.stopped() => return Ok(()),
                }
            }
        }
    })
    .start()
    .expect("valid tree")
}

fn task_restart_cycle(c: &mut Criterion) {
    let mut g = c.benchmark_group("task_restart_cycle");
    for flavor in Flavor::ALL {
        for siblings in [10usize, 10_000] {
            let rt = flavor.runtime();
            let batch = Arc::new(Batch {
                left: AtomicU64::new(0),
                go: Notify::new(),
                done: Notify::new(),
            });
            let sup = rt.block_on(async {
                let sup = start_tree(siblings, &batch);
                batch.done.notified().await; // every child is up, the crasher idle
                sup
            });
            g.bench_with_input(BenchmarkId::new(bench_id(flavor), siblings), &siblings, |b, _| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        batch.left.store(iters, Ordering::Relaxed);
                        let t0 = Instant::now();
                        batch.go.notify_one();
                        batch.done.notified().await;
                        t0.elapsed()
                    })
                })
            });
            rt.block_on(async {
                assert!(!sup.is_down(), "the tree gave up");
                assert!(sup.shutdown().await.is_normal());
            });
        }
    }
    g.finish();
}

fn tokio_spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("tokio_spawn_join");
    for flavor in Flavor::ALL {
        let rt = flavor.runtime();
        g.bench_function(bench_id(flavor), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    tokio::spawn(async move {
                        let t0 = Instant::now();
                        for _ in 0..iters {
                            tokio::spawn(async {}).await.unwrap();
                        }
                        t0.elapsed()
                    })
                    .await
                    .unwrap()
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, task_restart_cycle, tokio_spawn_join);
criterion_main!(benches);

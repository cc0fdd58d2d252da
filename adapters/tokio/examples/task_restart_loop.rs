//! A fixed number of task restarts on a current_thread runtime, then exit:
//! the noise-free check of the adapter's task restart path, by instruction
//! count (docs/BENCHMARKS.md, "Task restart: instructions"):
//!
//! ```sh
//! cargo build --release -p vigil-tokio --example task_restart_loop
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/task_restart_loop 10000
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/task_restart_loop 30000
//! ```
//!
//! Instructions per restart = (total at 30 000 - total at 10 000) / 20 000:
//! start-up, the tree's construction and its shutdown cancel out. One worker
//! (the last child of a one_for_one root that never gives up) fails on every
//! run as soon as it is polled, next to 10 idle siblings; every restart is
//! one full cycle: exit report, engine decision, replacement spawned and
//! polled. The argument is the number of restarts (default 10 000).
//!
//! `--floor N` counts the floor the same way instead: N times
//! `tokio::spawn(async {}).await` on the same runtime, without vigil (the
//! least a restart can cost: a new task, scheduled once; the floor of the
//! peer benchmark, `benches/peers/`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use vigil_core::{ChildSpec, SupervisorSpec};
use vigil_tokio::Tree;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let floor = args.first().is_some_and(|a| a == "--floor");
    if floor {
        args.remove(0);
    }
    let restarts: u64 = args
        .first()
        .map(|a| a.parse().expect("the number of restarts"))
        .unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    if floor {
        rt.block_on(async {
            // In a task, as the peer benchmark's floor and as the driver.
            tokio::spawn(async move {
                for _ in 0..restarts {
                    tokio::spawn(async {}).await.expect("the empty task ends");
                }
            })
            .await
            .expect("the floor's task ends");
        });
        println!("{restarts} spawns and joins");
        return;
    }
    let runs = Arc::new(AtomicU64::new(0));
    let done = Arc::new(Notify::new());
    rt.block_on(async {
        let mut tree = Tree::new(
            SupervisorSpec::new()
                .intensity(u32::MAX)
                .period(Duration::from_nanos(1)),
        );
        for i in 0..10 {
            tree = tree.task(ChildSpec::worker(format!("s{i}")), |ctx| async move {
                ctx.stopped().await;
                Ok::<(), &'static str>(())
            });
        }
        let (r, d) = (Arc::clone(&runs), Arc::clone(&done));
        let tree = tree.task(ChildSpec::worker("crasher"), move |ctx| {
            let (r, d) = (Arc::clone(&r), Arc::clone(&d));
            async move {
                if r.fetch_add(1, Ordering::Relaxed) >= restarts {
                    d.notify_one();
                    ctx.stopped().await;
                    return Ok(());
                }
                Err("crash")
            }
        });
        let tree = tree.start().expect("a valid tree");
        done.notified().await;
        assert!(tree.shutdown().await.is_normal());
    });
    println!("{} restarts", runs.load(Ordering::Relaxed).saturating_sub(1));
}

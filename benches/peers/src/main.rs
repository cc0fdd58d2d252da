//! Task crash -> replacement running: vigil-tokio, kameo and ractor-supervisor
//! side by side in one process, each next to 10, 1 000 and 10 000 idle siblings, on a
//! current_thread runtime and on a multi_thread runtime with 2 workers, with a
//! bare `tokio::spawn` + join as the floor of each runtime.
//!
//! ```sh
//! cargo run --release --manifest-path benches/peers/Cargo.toml            # 20 000 samples per case
//! cargo run --release --manifest-path benches/peers/Cargo.toml -- 2000    # quicker
//! cargo run --release --manifest-path benches/peers/Cargo.toml -- 10000 10,1000   # chosen sibling counts
//! ```
//!
//! The same two timestamps for every contender (docs/BENCHMARKS.md, "Peers"):
//! **crash** right before the failing child returns its error, and
//! **running**, the first statement of the replacement in its own task
//! (vigil: the task's future; kameo: `on_start`; ractor: `pre_start`). Each
//! child fails on every run as soon as it has started (loop mode). The first
//! 10 % of samples of each case are dropped as warm-up. Percentiles are
//! nearest-rank. Every case runs inside a task spawned on its runtime (on
//! multi_thread, a worker thread), as a service's code does. Prints one
//! markdown table.

mod floor;
mod kameo_side;
mod probe;
mod ractor_side;
mod vigil_side;

use std::future::Future;
use std::sync::Arc;

use probe::{Percentiles, Probe};

#[derive(Clone, Copy)]
enum Flavor {
    CurrentThread,
    MultiThread2,
}

impl Flavor {
    fn name(self) -> &'static str {
        match self {
            Flavor::CurrentThread => "current_thread",
            Flavor::MultiThread2 => "multi_thread(2)",
        }
    }

    fn runtime(self) -> tokio::runtime::Runtime {
        match self {
            Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
            Flavor::MultiThread2 => {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(2);
                b
            }
        }
        .enable_all()
        .build()
        .expect("a tokio runtime")
    }
}

fn measure<F, Fut>(flavor: Flavor, want: usize, f: F) -> Percentiles
where
    F: FnOnce(Arc<Probe>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let probe = Probe::new(want / 10, want);
    let rt = flavor.runtime();
    let case = f(Arc::clone(&probe));
    rt.block_on(async move { tokio::spawn(case).await }).expect("the case runs");
    drop(rt);
    Percentiles::new(probe.results())
}

fn main() {
    let want: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("the number of samples per case"))
        .unwrap_or(20_000);
    let sibling_counts: Vec<usize> = std::env::args()
        .nth(2)
        .map(|a| a.split(',').map(|n| n.trim().parse().expect("sibling counts, comma-separated")).collect())
        .unwrap_or_else(|| vec![10, 1_000, 10_000]);
    println!("| runtime | siblings | contender | samples | p50 µs | p99 µs | p50 / floor p50 | p99 / floor p99 |");
    println!("|---|---|---|---|---|---|---|---|");
    for flavor in [Flavor::CurrentThread, Flavor::MultiThread2] {
        let rt = flavor.runtime();
        let floor = rt.block_on(async move { tokio::spawn(floor::run(want / 10, want)).await });
        let floor = Percentiles::new(floor.expect("the floor runs"));
        drop(rt);
        let row = |siblings: &str, who: &str, p: &Percentiles| {
            println!(
                "| {} | {siblings} | {who} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
                flavor.name(),
                p.n(),
                p.at(0.5),
                p.at(0.99),
                p.at(0.5) / floor.at(0.5),
                p.at(0.99) / floor.at(0.99),
            )
        };
        row("-", "tokio spawn + join (floor)", &floor);
        for &siblings in &sibling_counts {
            let label = if siblings >= 1000 { format!("{}k", siblings / 1000) } else { siblings.to_string() };
            let v = measure(flavor, want, move |p| vigil_side::run(siblings, p));
            row(&label, "vigil-tokio", &v);
            let k = measure(flavor, want, move |p| kameo_side::run(siblings, p));
            row(&label, "kameo 0.22.2", &k);
            let r = measure(flavor, want, move |p| ractor_side::run(siblings, p));
            row(&label, "ractor-supervisor 0.2.0", &r);
        }
    }
}

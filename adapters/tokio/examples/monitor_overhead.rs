//! What monitors cost a task restart: the same crash loop with no monitor of
//! one's own, with 2 trivial monitors of all runs, and with 2 trivial
//! monitors of process runs only (the built-ins are there in every case).
//!
//! ```sh
//! cargo run --release -p vigil-tokio --example monitor_overhead
//! cargo run --release -p vigil-tokio --example monitor_overhead -- 20000 5
//! valgrind --tool=callgrind target/release/examples/monitor_overhead 10000 1 all current_thread
//! ```
//!
//! The optional arguments are the samples per configuration and round
//! (default 20 000), the rounds (default 5): the configurations take turns
//! round after round, so that a drift of the machine hits them alike; then
//! one configuration (`none`, `all` or `process`) and one runtime
//! (`current_thread` or `multi_thread`) to measure alone (default: all of
//! them), for instruction counts that do not depend on the machine's load.
//! 10 % more samples are taken first in each run and dropped.
//!
//! One worker (`crasher`) returns `Err` as soon as each run is polled, next
//! to 10 idle siblings; the root is one_for_one with an intensity it never
//! reaches. A sample is the time from just before a run returns `Err` to
//! the first poll of its replacement (`std::time::Instant`). A trivial
//! monitor returns `Ok` from every method and has no interval; the ones of
//! all runs count their registers, which the table shows next to the
//! restarts, to prove they were told every run.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use vigil_core::{ChildSpec, RunId, SupervisorSpec};
use vigil_tokio::monitor::{Monitor, MonitorContext, MonitoredRun, Watch};
use vigil_tokio::Tree;

use common::flavor::Flavor;
use common::percentiles::Percentiles;

mod common;

const SIBLINGS: usize = 10;

/// A monitor that does nothing but count its registers.
struct Trivial {
    watch: Watch,
    registers: Arc<AtomicU64>,
}

impl Monitor for Trivial {
    type Error = Infallible;

    fn name(&self) -> &str {
        "trivial"
    }

    fn interval(&self) -> Option<Duration> {
        None
    }

    fn watches(&self) -> Watch {
        self.watch
    }

    async fn register(&mut self, _: &MonitoredRun, _: &MonitorContext) -> Result<(), Infallible> {
        self.registers.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn remove(&mut self, _: RunId, _: &MonitorContext) -> Result<(), Infallible> {
        Ok(())
    }

    async fn check(&mut self, _: &MonitorContext) -> Result<(), Infallible> {
        Ok(())
    }
}

/// Which monitors of one's own a tree gets.
#[derive(Clone, Copy)]
enum Setup {
    None,
    TwoOfAllRuns,
    TwoOfProcessRuns,
}

impl Setup {
    const ALL: [Setup; 3] = [Setup::None, Setup::TwoOfAllRuns, Setup::TwoOfProcessRuns];

    fn arg(self) -> &'static str {
        match self {
            Setup::None => "none",
            Setup::TwoOfAllRuns => "all",
            Setup::TwoOfProcessRuns => "process",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Setup::None => "none",
            Setup::TwoOfAllRuns => "2 of all runs",
            Setup::TwoOfProcessRuns => "2 of process runs",
        }
    }

    fn add(self, mut tree: Tree, registers: &Arc<AtomicU64>) -> Tree {
        let watch = match self {
            Setup::None => return tree,
            Setup::TwoOfAllRuns => Watch::AllRuns,
            Setup::TwoOfProcessRuns => Watch::ProcessRuns,
        };
        for _ in 0..2 {
            tree = tree.monitor(Trivial {
                watch,
                registers: Arc::clone(registers),
            });
        }
        tree
    }
}

/// The crasher's side: when the last crash was, and the samples.
struct Probe {
    base: Instant,
    crash: AtomicU64,
    samples: Mutex<Vec<u64>>,
    total: usize,
    done: Notify,
}

impl Probe {
    fn now(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }
}

/// `n` samples (after `n / 10` dropped) of one setup on a fresh runtime;
/// also the restarts and the registers the monitors counted.
fn measure(flavor: Flavor, setup: Setup, n: usize) -> (Vec<u64>, u64, u64) {
    let probe = Arc::new(Probe {
        base: Instant::now(),
        crash: AtomicU64::new(0),
        samples: Mutex::new(Vec::with_capacity(n + n / 10)),
        total: n + n / 10,
        done: Notify::new(),
    });
    let registers = Arc::new(AtomicU64::new(0));
    let rt = flavor.runtime();
    let p = Arc::clone(&probe);
    let restarts = rt.block_on(async {
        let mut tree = Tree::new(
            SupervisorSpec::new()
                .intensity(1_000_000_000)
                .period(Duration::from_nanos(1)),
        );
        for i in 0..SIBLINGS {
            tree = tree.task(ChildSpec::worker(format!("s{i}")), |ctx| async move {
                ctx.stopped().await;
                Ok::<(), &'static str>(())
            });
        }
        let tree = tree.task(ChildSpec::worker("crasher"), move |ctx| {
            let p = Arc::clone(&p);
            async move {
                let at = p.now();
                let crash = p.crash.swap(0, Ordering::Relaxed);
                let enough = {
                    let mut s = p.samples.lock().unwrap();
                    if crash != 0 {
                        s.push(at - crash);
                    }
                    s.len() >= p.total
                };
                if enough {
                    p.done.notify_one();
                    ctx.stopped().await;
                    return Ok(());
                }
                p.crash.store(p.now(), Ordering::Relaxed);
                Err("crash")
            }
        });
        let sup = setup.add(tree, &registers).start().expect("valid tree");
        probe.done.notified().await;
        let restarts = probe.samples.lock().unwrap().len() as u64;
        assert!(sup.shutdown().await.is_normal());
        restarts
    });
    let samples = probe.samples.lock().unwrap()[n / 10..].to_vec();
    (samples, restarts, registers.load(Ordering::Relaxed))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: usize| args.get(i).map_or(default, |a| a.parse().expect("a number"));
    let (n, rounds) = (number(0, 20_000), number(1, 5).max(1));
    let setups: Vec<Setup> = Setup::ALL
        .into_iter()
        .filter(|s| args.get(2).is_none_or(|a| a == s.arg()))
        .collect();
    let flavors: Vec<Flavor> = Flavor::ALL
        .into_iter()
        .filter(|f| args.get(3).is_none_or(|a| f.name().starts_with(a.as_str())))
        .collect();
    assert!(
        !setups.is_empty() && !flavors.is_empty(),
        "usage: [SAMPLES] [ROUNDS] [none|all|process] [current_thread|multi_thread]"
    );
    println!(
        "| runtime | monitors of one's own | samples | p50 µs | p90 µs | p99 µs | max µs | mean µs | restarts | registers seen |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for flavor in flavors {
        let mut all: Vec<(Vec<u64>, u64, u64)> = vec![(Vec::new(), 0, 0); setups.len()];
        for _ in 0..rounds {
            for (i, setup) in setups.iter().enumerate() {
                let (samples, restarts, registers) = measure(flavor, *setup, n);
                all[i].0.extend(samples);
                all[i].1 += restarts;
                all[i].2 += registers;
            }
        }
        for (setup, (samples, restarts, registers)) in setups.iter().zip(all) {
            let mean = samples.iter().sum::<u64>() as f64 / samples.len() as f64 / 1000.0;
            let p = Percentiles::of(samples);
            println!(
                "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.1} | {:.2} | {restarts} | {registers} |",
                flavor.name(),
                setup.name(),
                p.n(),
                p.at(0.50),
                p.at(0.90),
                p.at(0.99),
                p.max(),
                mean,
            );
        }
    }
}

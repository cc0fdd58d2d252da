//! Latency of a task restart: from just before a crashing task returns `Err`
//! to the moment its replacement runs, under the real vigil-tokio driver.
//!
//! ```sh
//! cargo run --release -p vigil-tokio --example task_restart_latency
//! cargo run --release -p vigil-tokio --example task_restart_latency -- 20000 3000
//! ```
//!
//! The optional arguments are the number of samples in `loop` and `warm`
//! mode and in `paced` mode (defaults 20 000 and 3 000). 10 % more are taken
//! first as warm-up and dropped.
//!
//! One worker (`crasher`, the last child) crashes on every run; `siblings`
//! other workers sleep in `ctx.stopped()`. The root is one_for_one with
//! intensity 1 000 000 000 and a 1 ns period, so it never gives up. Three
//! timestamps, all `std::time::Instant` (CLOCK_MONOTONIC) in this process:
//!
//! - `crash`: inside the crashing run's future, right before `return Err(..)`;
//! - `closure`: the first statement of the replacement's closure (`|ctx| ...`),
//!   which the driver calls synchronously while carrying out `Spawn`;
//! - `body`: the first statement of the replacement's future (`async move {}`),
//!   that is, the first time tokio polls the new task.
//!
//! `closure - crash` and `body - crash` are recorded for every restart.
//!
//! Three modes:
//! - `loop`: every run crashes as soon as it is polled, so restarts follow
//!   each other back to back and the runtime never sleeps (the driver handles
//!   the replacement's `Started` and its `Exited` in the same wake-up, so the
//!   `Started` is inside the measured interval);
//! - `warm`: every run first yields 3 times (`tokio::task::yield_now`), which
//!   lets the driver handle its `Started` before the crash; the runtime stays
//!   busy, so this is the hot-path cost of the restart alone;
//! - `paced`: every run first sleeps 1 ms (`tokio::time::sleep`), so each
//!   crash arrives at a runtime that was idle (parked worker threads).
//!
//! Two baselines, with the same three timestamps, measured the same way:
//! - `spawn+join`: `tokio::spawn(async {}).await` in a loop, timed from before
//!   the spawn to after the join;
//! - `hand-rolled`: the least a channel-based tokio supervisor does: the
//!   crashing task sends its exit on an unbounded mpsc channel, a loop task
//!   receives it and `tokio::spawn`s the replacement (no engine, no bookkeeping).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};
use vigil_core::{ChildSpec, SupervisorSpec};
use vigil_tokio::Tree;

use common::flavor::Flavor;
use common::percentiles::Percentiles;

mod common;

const PACE: Duration = Duration::from_millis(1);
const WARM_YIELDS: usize = 3;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Loop,
    Warm,
    Paced,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Loop => "loop",
            Mode::Warm => "warm",
            Mode::Paced => "paced",
        }
    }
}

/// Shared between the crashing worker's runs and the benchmark.
struct Probe {
    base: Instant,
    /// Time of the last crash (ns since `base`); 0: none pending.
    crash: AtomicU64,
    /// (closure - crash, body - crash) in ns.
    samples: Mutex<Vec<(u64, u64)>>,
    warmup: usize,
    want: usize,
    mode: Mode,
    done: Notify,
}

impl Probe {
    fn new(warmup: usize, want: usize, mode: Mode) -> Arc<Self> {
        Arc::new(Probe {
            base: Instant::now(),
            crash: AtomicU64::new(0),
            samples: Mutex::new(Vec::with_capacity(warmup + want + 16)),
            warmup,
            want,
            mode,
            done: Notify::new(),
        })
    }

    fn now(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// Called first thing in a (replacement) run; returns whether to crash again.
    fn arrived(&self, closure_at: u64, body_at: u64) -> bool {
        let crash = self.crash.swap(0, Ordering::Relaxed);
        let mut s = self.samples.lock().unwrap();
        if crash != 0 {
            s.push((closure_at.saturating_sub(crash), body_at - crash));
        }
        if s.len() >= self.warmup + self.want {
            self.done.notify_one();
            return false;
        }
        true
    }

    /// What a run does between starting and crashing (see the modes).
    async fn pause(&self) {
        match self.mode {
            Mode::Loop => {}
            Mode::Warm => {
                for _ in 0..WARM_YIELDS {
                    tokio::task::yield_now().await;
                }
            }
            Mode::Paced => tokio::time::sleep(PACE).await,
        }
    }

    fn crash_now(&self) {
        self.crash.store(self.now(), Ordering::Relaxed);
    }

    fn results(&self) -> (Vec<u64>, Vec<u64>) {
        let s = self.samples.lock().unwrap();
        let s = &s[self.warmup..];
        (s.iter().map(|x| x.0).collect(), s.iter().map(|x| x.1).collect())
    }
}

fn row(what: &str, flavor: Flavor, siblings: &str, mode: &str, point: &str, s: &Percentiles) {
    println!(
        "| {what} | {} | {siblings} | {mode} | {point} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.1} |",
        flavor.name(),
        s.n(),
        s.at(0.50),
        s.at(0.90),
        s.at(0.99),
        s.at(0.999),
        s.max()
    );
}

/// The vigil tree: `siblings` idle workers, then the crasher.
fn vigil(flavor: Flavor, siblings: usize, mode: Mode, warmup: usize, want: usize) {
    let rt = flavor.runtime();
    let probe = Probe::new(warmup, want, mode);
    let p = Arc::clone(&probe);
    rt.block_on(async move {
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
        let tree = tree.task(ChildSpec::worker("crasher"), move |ctx| {
            let closure_at = p.now();
            let p = Arc::clone(&p);
            async move {
                let body_at = p.now();
                if !p.arrived(closure_at, body_at) {
                    ctx.stopped().await;
                    return Ok(());
                }
                p.pause().await;
                p.crash_now();
                Err("crash")
            }
        });
        let sup = tree.start().expect("valid tree");
        tokio::select! {
            _ = probe.done.notified() => {}
            r = sup.wait() => panic!("the tree went down: {r}"),
        }
        assert!(sup.shutdown().await.is_normal());
        let (closure, body) = probe.results();
        let sib = if siblings >= 1000 {
            format!("{}k", siblings / 1000)
        } else {
            siblings.to_string()
        };
        row("vigil", flavor, &sib, mode.name(), "closure", &Percentiles::of(closure));
        row("vigil", flavor, &sib, mode.name(), "body", &Percentiles::of(body));
    });
}

/// The least a channel-based supervisor does: exit report over mpsc, respawn.
fn hand_rolled(flavor: Flavor, mode: Mode, warmup: usize, want: usize) {
    let rt = flavor.runtime();
    let probe = Probe::new(warmup, want, mode);
    rt.block_on(async {
        let (tx, mut rx) = mpsc::unbounded_channel::<Result<(), String>>();
        fn run(p: Arc<Probe>, tx: mpsc::UnboundedSender<Result<(), String>>) {
            let closure_at = p.now();
            tokio::spawn(async move {
                let body_at = p.now();
                if !p.arrived(closure_at, body_at) {
                    return;
                }
                p.pause().await;
                p.crash_now();
                let _ = tx.send(Err("crash".to_owned()));
            });
        }
        let (p, t) = (Arc::clone(&probe), tx.clone());
        let sup = tokio::spawn(async move {
            run(Arc::clone(&p), t.clone());
            while let Some(r) = rx.recv().await {
                if r.is_err() {
                    run(Arc::clone(&p), t.clone());
                }
            }
        });
        probe.done.notified().await;
        sup.abort();
        let (closure, body) = probe.results();
        row(
            "hand-rolled",
            flavor,
            "0",
            mode.name(),
            "closure",
            &Percentiles::of(closure),
        );
        row("hand-rolled", flavor, "0", mode.name(), "body", &Percentiles::of(body));
    });
    drop(rt);
}

/// `tokio::spawn(async {}).await`, timed around both.
fn spawn_join(flavor: Flavor, warmup: usize, want: usize) {
    let rt = flavor.runtime();
    rt.block_on(async {
        // Run the loop inside a task, as the driver does, not in `block_on`.
        let v = tokio::spawn(async move {
            let mut v = Vec::with_capacity(want);
            for i in 0..warmup + want {
                let t0 = Instant::now();
                tokio::spawn(async {}).await.unwrap();
                let dt = t0.elapsed().as_nanos() as u64;
                if i >= warmup {
                    v.push(dt);
                }
            }
            v
        })
        .await
        .unwrap();
        row("tokio spawn+join", flavor, "0", "loop", "joined", &Percentiles::of(v));
    });
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>().expect("a number"));
    let loops = args.next().unwrap_or(20_000);
    let paced = args.next().unwrap_or(3_000);
    println!(
        "| harness | runtime | siblings | mode | until | samples | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for flavor in Flavor::ALL {
        spawn_join(flavor, loops / 10, loops);
        for mode in [Mode::Loop, Mode::Warm, Mode::Paced] {
            let n = if mode == Mode::Paced { paced } else { loops };
            hand_rolled(flavor, mode, n / 10, n);
            for siblings in [10, 10_000] {
                vigil(flavor, siblings, mode, n / 10, n);
            }
        }
    }
}

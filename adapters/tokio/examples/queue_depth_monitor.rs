//! A monitor of your own: restart a task whose queue stays too deep.
//!
//! ```sh
//! cargo run -p vigil-tokio --example queue_depth_monitor
//! ```
//!
//! Two workers drain a queue each, fed by a producer at one job every 5 ms.
//! `thumbnails` keeps up. `transcoder` keeps up for 200 ms per run, then
//! wedges (it stops draining, as a handler stuck on a lost lock would).
//! The queue depths are gauges shared by path (`Gauges`); the monitor
//! reads them every 50 ms, and evicts a run whose queue stayed deeper than
//! 20 jobs at 3 checks in a row. The engine restarts it like a crash (the
//! restart counts in the intensity), its exit reads `evicted(<reason>)`, and
//! the new run drains the backlog at once. After three evictions the example shuts
//! the tree down and prints what the monitor did. It ends by itself in
//! about 1.5 s (at most 10 s, else it fails).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vigil_core::{ChildSpec, RunId, SupervisorSpec};
use vigil_tokio::monitor::{Monitor, MonitorContext, MonitorState, MonitoredRun};
use vigil_tokio::{EventKind, RunContext, Tree};

/// Deeper than this at `CHECKS` checks in a row is too deep.
const MAX_DEPTH: usize = 20;
const CHECKS: u32 = 3;
const EVICTIONS_TO_SEE: usize = 3;

/// The depth of each worker's queue, by path: written by the producer and
/// the workers, read by the monitor.
#[derive(Clone, Default)]
struct Gauges(Arc<Mutex<BTreeMap<String, Arc<AtomicUsize>>>>);

impl Gauges {
    fn of(&self, path: &str) -> Arc<AtomicUsize> {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(all.entry(path.to_owned()).or_default())
    }
}

/// Evicts a run whose queue is deeper than `max` at `checks` checks in a row.
struct QueueDepth {
    gauges: Gauges,
    max: usize,
    checks: u32,
    /// Every run it watches: its path's gauge and how many checks in a row
    /// found it too deep.
    runs: BTreeMap<RunId, (String, Arc<AtomicUsize>, u32)>,
}

impl Monitor for QueueDepth {
    type Error = Infallible;

    fn name(&self) -> &str {
        "queue-depth"
    }

    fn interval(&self) -> Option<Duration> {
        Some(Duration::from_millis(50))
    }

    async fn register(&mut self, run: &MonitoredRun, _: &MonitorContext) -> Result<(), Infallible> {
        let gauge = self.gauges.of(&run.path);
        self.runs.insert(run.run, (run.path.to_string(), gauge, 0));
        Ok(())
    }

    async fn remove(&mut self, run: RunId, _: &MonitorContext) -> Result<(), Infallible> {
        self.runs.remove(&run);
        Ok(())
    }

    async fn check(&mut self, ctx: &MonitorContext) -> Result<(), Infallible> {
        let mut evict = Vec::new();
        for (run, (path, gauge, over)) in &mut self.runs {
            let depth = gauge.load(Ordering::Relaxed);
            *over = if depth > self.max { *over + 1 } else { 0 };
            if *over >= self.checks {
                *over = 0;
                let reason = format!("queue depth {depth} > {} at {} checks in a row", self.max, self.checks);
                println!("monitor: {path} (run {}): {reason}", run.generation);
                evict.push((*run, reason));
            }
        }
        for (run, reason) in evict {
            // Stale (the run ended since it was looked at) is harmless.
            if let Err(e) = ctx.evict(run, reason).await {
                println!("monitor: not evicted: {e}");
            }
        }
        Ok(())
    }

    fn detail(&self) -> String {
        format!("{} run(s) watched, max depth {}", self.runs.len(), self.max)
    }
}

/// A worker draining its queue (up to 8 jobs every 2 ms: a new run catches
/// up with a backlog at once); after `wedge_after` (if any) it stops
/// draining until it is asked to stop.
fn worker(gauges: Gauges, wedge_after: Option<Duration>) -> impl Fn(RunContext) -> WorkerRun + Send + Sync {
    move |ctx: RunContext| {
        let queue = gauges.of(ctx.path());
        Box::pin(async move {
            let wedged = async {
                match wedge_after {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            let drain = async {
                loop {
                    let _ = queue.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| Some(n.saturating_sub(8)));
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            };
            tokio::select! {
                _ = ctx.stopped() => return Ok(()),
                _ = drain => {}
                _ = wedged => {}
            }
            // Wedged: nothing is drained any more.
            ctx.stopped().await;
            Ok(())
        })
    }
}

type WorkerRun = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), Infallible>> + Send>>;

#[tokio::main]
async fn main() {
    let gauges = Gauges::default();
    let monitor = QueueDepth {
        gauges: gauges.clone(),
        max: MAX_DEPTH,
        checks: CHECKS,
        runs: BTreeMap::new(),
    };
    let sup = Tree::new(SupervisorSpec::new().intensity(10).period(Duration::from_secs(10)))
        .task(ChildSpec::worker("thumbnails"), worker(gauges.clone(), None))
        .task(
            ChildSpec::worker("transcoder"),
            worker(gauges.clone(), Some(Duration::from_millis(200))),
        )
        .monitor(monitor)
        .start()
        .expect("a valid tree");
    let mut events = sup.events();

    // The producer: one job for each queue every 5 ms.
    let producer = {
        let queues = [gauges.of("thumbnails"), gauges.of("transcoder")];
        tokio::spawn(async move {
            loop {
                for q in &queues {
                    q.fetch_add(1, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };

    let watched = async {
        let mut evictions = 0;
        while evictions < EVICTIONS_TO_SEE {
            let e = match events.recv().await {
                Some(Ok(e)) => e,
                Some(Err(lagged)) => {
                    println!("(missed {} events)", lagged.0);
                    continue;
                }
                None => break, // the tree is down
            };
            let t = e
                .time
                .saturating_duration_since(vigil_core::Instant::ZERO)
                .as_secs_f64();
            match &e.kind {
                EventKind::Evicted { generation, reason, .. } => {
                    evictions += 1;
                    println!(
                        "t={t:.3}s  {} (run {generation}): evicted, its exit will read {reason}",
                        e.path
                    );
                }
                EventKind::Exited { generation, reason, .. } => {
                    println!("t={t:.3}s  {} (run {generation}): exited: {reason}", e.path)
                }
                EventKind::Restart { child, .. } => println!("t={t:.3}s  the root restarts {child}"),
                EventKind::Started { generation, .. } => println!("t={t:.3}s  {} (run {generation}): up", e.path),
                _ => {}
            }
        }
        evictions
    };
    let evictions = tokio::time::timeout(Duration::from_secs(10), watched)
        .await
        .expect("three evictions within 10 s");
    producer.abort();
    let reason = sup.shutdown().await;
    println!("tree down: {reason}");
    // The monitors end after the tree: each is told its last removes first.
    let stopped = async {
        while sup.monitors().await.iter().any(|m| m.state == MonitorState::Running) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(1), stopped)
        .await
        .expect("the monitors end with the tree");
    for m in sup.monitors().await {
        println!(
            "monitor {}: {} eviction(s), {} stale, {} error(s), {:?}; {}",
            m.name, m.evictions, m.stale_evictions, m.errors, m.state, m.detail
        );
    }
    assert_eq!(evictions, EVICTIONS_TO_SEE);
    assert!(reason.is_normal(), "the tree was shut down, it did not give up");
}

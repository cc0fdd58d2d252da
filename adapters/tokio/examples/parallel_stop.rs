//! Shutdown time of N process children that each drain for D after SIGTERM,
//! with `shutdown_order = "parallel"` against the default `reverse`, and the
//! floor: one such child alone. Prints a markdown table (docs/BENCHMARKS.md,
//! "Parallel stop").
//!
//! ```text
//! cargo run --release -p vigil-tokio --example parallel_stop -- [CHILDREN] [DRAIN_MS]
//! ```
//!
//! Defaults: 20 children, 500 ms. Each child is `sh -c 'trap ... TERM'`: on
//! SIGTERM it sleeps DRAIN_MS and exits 0. The time is from the shutdown
//! request until `TreeHandle::shutdown` returns (every child reaped), once
//! every child has started.

use std::time::{Duration, Instant};

use vigil_core::{ChildSpec, Shutdown, ShutdownOrder, SupervisorSpec};
use vigil_tokio::{EventKind, OutputMode, ProcessSpec, Tree};

/// One child: traps SIGTERM, drains `drain`, exits 0.
fn draining(drain: Duration) -> ProcessSpec {
    let secs = format!("{}.{:03}", drain.as_secs(), drain.subsec_millis());
    ProcessSpec::new([
        "sh".to_owned(),
        "-c".to_owned(),
        format!("trap 'sleep {secs}; exit 0' TERM; while :; do sleep 1; done"),
    ])
    .output(OutputMode::Null)
}

/// Start `children` draining children under `order`, wait until all are up,
/// shut the tree down; the shutdown's duration.
fn shutdown_time(children: usize, drain: Duration, order: ShutdownOrder) -> Duration {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let mut tree = Tree::new(SupervisorSpec::new().shutdown_order(order));
        for i in 0..children {
            let spec = ChildSpec::worker(format!("c{i}")).shutdown(Shutdown::Timeout(Duration::from_secs(60)));
            tree = tree.process(spec, draining(drain));
        }
        let sup = tree.start().expect("a valid tree");
        let mut events = sup.events();
        let mut started = 0;
        while started < children {
            match events.recv().await {
                Some(Ok(e)) if matches!(e.kind, EventKind::Started { .. }) => started += 1,
                Some(_) => {}
                None => panic!("the tree went down"),
            }
        }
        // `sh` installs its trap before its loop; give it its first instant.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let t0 = Instant::now();
        let reason = sup.shutdown().await;
        let took = t0.elapsed();
        assert!(reason.is_normal(), "{reason}");
        took
    })
}

fn main() {
    vigil_tokio::guard::enter_if_guard();
    let mut args = std::env::args().skip(1);
    let children: usize = args.next().map_or(20, |a| a.parse().expect("CHILDREN: a number"));
    let drain_ms: u64 = args.next().map_or(500, |a| a.parse().expect("DRAIN_MS: a number"));
    let drain = Duration::from_millis(drain_ms);
    let floor = shutdown_time(1, drain, ShutdownOrder::Reverse);
    let parallel = shutdown_time(children, drain, ShutdownOrder::Parallel);
    let reverse = shutdown_time(children, drain, ShutdownOrder::Reverse);
    println!("| case | shutdown | ratio to the floor |");
    println!("|---|---:|---:|");
    let row = |name: &str, d: Duration| {
        let ratio = d.as_secs_f64() / floor.as_secs_f64();
        println!("| {name} | {:.3} s | {ratio:.2} |", d.as_secs_f64());
    };
    row(&format!("floor: 1 child draining {drain_ms} ms"), floor);
    row(&format!("{children} children, `parallel`"), parallel);
    row(&format!("{children} children, `reverse` (default)"), reverse);
}

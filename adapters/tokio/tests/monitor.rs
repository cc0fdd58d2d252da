//! The monitors against real processes: a child that allocates past its
//! `memory_limit` is restarted through the engine with reason `memory`, and
//! the process monitor reports its resources. Timeouts are only safety nets
//! against a hang, never what a test asserts.

use std::time::Duration;

use vigil_core::{ChildSpec, ExitReason, SupervisorSpec};
use vigil_tokio::monitor::{LeakDetection, MonitorSettings};
use vigil_tokio::{EventKind, Events, OutputMode, ProcessSpec, Tree, TreeEvent};

const SAFETY_NET: Duration = Duration::from_secs(30);

/// A shell child whose process group holds about `mib` MiB (in `tail`, which
/// buffers its whole input while it waits for the end of a line) and then
/// sleeps.
fn hog(mib: u64) -> ProcessSpec {
    let script = format!("{{ head -c {} /dev/zero; exec sleep 1000; }} | tail", mib << 20);
    let mut spec = ProcessSpec::new(["sh", "-c", script.as_str()]);
    spec.output = OutputMode::Null;
    spec
}

fn fast(settings: MonitorSettings) -> MonitorSettings {
    MonitorSettings {
        interval: Duration::from_millis(50),
        min_sample_age: Duration::from_millis(10),
        ..settings
    }
}

async fn until(events: &mut Events, what: &str, f: impl Fn(&TreeEvent) -> bool) -> TreeEvent {
    tokio::time::timeout(SAFETY_NET, async {
        loop {
            match events.recv().await {
                Some(Ok(e)) if f(&e) => return e,
                Some(Ok(_) | Err(_)) => {}
                None => panic!("the tree ended before {what}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no {what} within the safety net"))
}

async fn next_eviction(events: &mut Events) -> TreeEvent {
    until(events, "an eviction", |e| matches!(e.kind, EventKind::Evicted { .. })).await
}

fn exited_with_memory(e: &TreeEvent) -> bool {
    matches!(
        &e.kind,
        EventKind::Exited {
            reason: ExitReason::Memory,
            ..
        }
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_child_over_its_memory_limit_is_restarted_with_reason_memory() {
    let mut spec = hog(48);
    spec.memory_limit = Some(16 << 20);
    let sup = Tree::new(SupervisorSpec::new().intensity(100))
        .process(ChildSpec::worker("hog"), spec)
        .process(ChildSpec::worker("calm"), hog(1))
        .monitor_settings(fast(MonitorSettings::default()))
        .start()
        .expect("valid tree");
    let mut events = sup.events();
    let evicted = next_eviction(&mut events).await;
    assert_eq!(evicted.path, "hog");
    let EventKind::Evicted {
        generation: run,
        reason,
        ..
    } = evicted.kind
    else {
        unreachable!()
    };
    assert_eq!(reason, ExitReason::Memory);
    // The engine stops the run (SIGTERM to its group); its exit reads as memory
    // and it is restarted like a crash.
    let stop = until(&mut events, "the stop", |e| matches!(e.kind, EventKind::Stop { .. })).await;
    assert_eq!((stop.path.as_str(), stop.kind.generation()), ("hog", Some(run)));
    let exited = until(&mut events, "the exit", exited_with_memory).await;
    assert_eq!((exited.path.as_str(), exited.kind.generation()), ("hog", Some(run)));
    let restart = until(&mut events, "the restart", |e| {
        matches!(e.kind, EventKind::Restart { .. })
    })
    .await;
    assert!(matches!(restart.kind, EventKind::Restart { .. }));
    // `Started` (not `Spawn`, which is published before the driver spawns):
    // by then the new run is registered with the monitors.
    let started = until(&mut events, "the new run", |e| {
        matches!(e.kind, EventKind::Started { .. })
    })
    .await;
    assert_eq!(started.path, "hog");
    let memory = sup
        .monitors()
        .await
        .into_iter()
        .find(|m| m.name == "memory")
        .expect("the memory monitor");
    assert!(memory.evictions >= 1);
    let resources = sup.resources().await;
    // The calm child was never evicted.
    let calm = resources.iter().find(|r| r.path == "calm").expect("calm is watched");
    assert_eq!(calm.restarts, 0);
    let hog_now = resources.iter().find(|r| r.path == "hog").expect("hog is watched");
    assert!(hog_now.restarts >= 1, "{hog_now:?}");
    sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_process_monitor_reports_memory_cpu_and_uptime_of_each_process_child() {
    let sup = Tree::new(SupervisorSpec::new())
        .process(ChildSpec::worker("a"), hog(24))
        .monitor_settings(fast(MonitorSettings::default()))
        .start()
        .expect("valid tree");
    // Wait until two samples saw the whole 24 MiB (CPU % needs two).
    let got = tokio::time::timeout(SAFETY_NET, async {
        loop {
            let r = sup.resources().await;
            if let [a] = r.as_slice() {
                if a.rss_bytes >= 24 << 20 && a.cpu_percent.is_some() {
                    return a.clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("a full sample within the safety net");
    assert_eq!((got.path.as_str(), got.restarts), ("a", 0));
    assert!(got.generation > 0);
    assert!(got.processes >= 2, "sh and tail (and sleep): {got:?}");
    assert!(got.pid > 1);
    assert!(got.cpu_percent.is_some_and(|c| c >= 0.0));
    assert_eq!(got.pss_bytes, None, "PSS is read only when a memory check needs it");
    sup.shutdown().await;
    assert!(sup.resources().await.is_empty() || sup.is_down());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_the_tree_limit_the_largest_child_is_restarted() {
    let sup = Tree::new(SupervisorSpec::new().intensity(100))
        .process(ChildSpec::worker("small"), hog(8))
        .process(ChildSpec::worker("large"), hog(40))
        .monitor_settings(fast(MonitorSettings {
            tree_memory_limit: Some(32 << 20),
            leak: Some(LeakDetection {
                growth: 1 << 30,
                count: 1,
            }),
            ..MonitorSettings::default()
        }))
        .start()
        .expect("valid tree");
    let mut events = sup.events();
    let evicted = next_eviction(&mut events).await;
    assert_eq!(evicted.path, "large");
    sup.shutdown().await;
}

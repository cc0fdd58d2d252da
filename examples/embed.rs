//! Embedding vigil in a tokio service: a database connection that must be
//! ready before the HTTP front starts, a flaky job that crashes and is restarted
//! with backoff, a dynamic worker added at run time, and an ordered shutdown.
//! The event stream ends once the tree is down, so the printer (and the
//! program) ends with it.
//!
//! `cargo run -p vigil-tokio --example embed` (the example lives in the repository's
//! `examples/` beside the configs; `vigil-tokio` builds it).

use std::time::Duration;

use vigil_core::{Backoff, ChildSpec, Readiness, Request, Restart, SupervisorSpec};
use vigil_tokio::{EventKind, Tree};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let sup = Tree::new(SupervisorSpec::new().intensity(10).period(Duration::from_secs(10)))
        .task(ChildSpec::worker("db").readiness(Readiness::Notify), |ctx| async move {
            tokio::time::sleep(Duration::from_millis(100)).await; // "connect"
            ctx.ready();
            ctx.stopped().await;
            Ok::<(), String>(())
        })
        .task(ChildSpec::worker("http"), |ctx| async move {
            ctx.stopped().await;
            Ok::<(), String>(())
        })
        .task(
            ChildSpec::worker("job").backoff(Backoff::exponential(Duration::from_millis(50), Duration::from_secs(1))),
            |ctx| async move {
                tokio::select! {
                    _ = ctx.stopped() => Ok(()),
                    _ = tokio::time::sleep(Duration::from_millis(300)) => Err("the job lost its lease"),
                }
            },
        )
        .start()
        .expect("a valid tree");

    let mut events = sup.events();
    let printer = tokio::spawn(async move {
        // Ends once the tree is down (after its `tree_down` event).
        while let Some(e) = events.recv().await {
            let e = match e {
                Ok(e) => e,
                Err(lagged) => {
                    println!("{lagged}");
                    continue;
                }
            };
            let what = e.kind.name();
            match &e.kind {
                EventKind::Exited { reason, .. } => {
                    println!("{:>8.3}s {what:<12} {} ({reason})", secs(e.time), e.path)
                }
                EventKind::Restart { child, .. } => println!("{:>8.3}s {what:<12} {child}", secs(e.time)),
                EventKind::TreeDown { outcome, .. } => println!("{:>8.3}s {what:<12} ({outcome})", secs(e.time)),
                EventKind::Heartbeat { .. } => {}
                _ => println!("{:>8.3}s {what:<12} {}", secs(e.time), e.path),
            }
        }
    });

    tokio::time::sleep(Duration::from_millis(500)).await;
    let reply = sup
        .start_task(
            "",
            ChildSpec::worker("report").restart(Restart::Transient),
            |ctx| async move {
                ctx.status("building the report");
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok::<(), String>(())
            },
        )
        .await;
    println!("start_child report: {reply:?}");
    let children = sup.request(Request::CountChildren { path: String::new() }).await;
    println!("count_children: {children:?}");

    tokio::time::sleep(Duration::from_secs(1)).await;
    let reason = sup.shutdown().await;
    let _ = printer.await;
    println!("tree down: {reason} ({})", sup.outcome());
}

fn secs(t: vigil_core::Instant) -> f64 {
    t.as_nanos() as f64 / 1e9
}

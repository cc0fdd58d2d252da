//! Task workers that never yield: real blocking code (`std::thread::sleep`)
//! and a spin loop, which tokio cannot preempt. At the kill deadline the run
//! is abandoned: reported `killed`, its slot freed, the tree goes on (a
//! restart, or a completed shutdown); its future is dropped once the
//! blocking poll returns. On a current_thread runtime such a task blocks
//! the driver itself (docs/ADAPTER.md, "Task workers"): what vigil
//! guarantees there is tested too.
//!
//! Every blocking section here ends when the test releases it, so no test
//! leaves a thread stuck behind. Waits are conditions with a safety net.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_core::{ChildSpec, ExitReason, Restart, Shutdown, SupervisorSpec};
use vigil_tokio::{EventKind, Events, Tree, TreeEvent};

const SAFETY: Duration = Duration::from_secs(30);

/// What a blocking task tells the test, and how the test releases it.
#[derive(Default)]
struct Block {
    running: AtomicBool,
    entered: AtomicBool,
    release: AtomicBool,
    returned: AtomicBool,
    dropped: AtomicBool,
}

/// Releases the blocked code when dropped, so that a failing test does not
/// leave a runtime worker stuck (dropping the runtime would then hang).
struct ReleaseOnDrop(Arc<Block>);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        self.0.release.store(true, Ordering::SeqCst);
    }
}

/// Sets `dropped` when the task's future is dropped.
struct DropFlag(Arc<Block>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.dropped.store(true, Ordering::SeqCst);
    }
}

/// How a task refuses to yield.
#[derive(Clone, Copy)]
enum Stuck {
    /// `std::thread::sleep` in a loop: blocking code.
    Sleeping,
    /// A spin loop: pure computation.
    Spinning,
}

/// Block the current thread (without ever yielding to tokio) until released.
fn block(b: &Block, how: Stuck) {
    b.entered.store(true, Ordering::SeqCst);
    while !b.release.load(Ordering::SeqCst) {
        match how {
            Stuck::Sleeping => std::thread::sleep(Duration::from_millis(5)),
            Stuck::Spinning => std::hint::spin_loop(),
        }
    }
    b.returned.store(true, Ordering::SeqCst);
}

/// Poll `cond` on this thread (the runtime may be blocked) until it holds.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < SAFETY, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

async fn until(rx: &mut Events, f: impl Fn(&TreeEvent) -> bool) -> TreeEvent {
    let wait = async {
        loop {
            match rx.recv().await {
                Some(Ok(e)) if f(&e) => return e,
                Some(Ok(_) | Err(_)) => {}
                None => panic!("the event stream ended"),
            }
        }
    };
    tokio::time::timeout(SAFETY, wait).await.expect("the event came")
}

fn exit_of(e: &TreeEvent, path: &str) -> Option<ExitReason> {
    match &e.kind {
        EventKind::Exited { reason, .. } if e.path == path => Some(reason.clone()),
        _ => None,
    }
}

/// A task that ignores its stop and blocks (never yielding) once asked to
/// stop is abandoned at its kill deadline: the shutdown completes, the run
/// reads `killed`, and the blocking code is still running. Its future is
/// dropped when the blocking poll finally returns.
async fn shutdown_abandons_a_task_stuck_in(how: Stuck) {
    let b = Arc::new(Block::default());
    let _release = ReleaseOnDrop(Arc::clone(&b));
    let b2 = Arc::clone(&b);
    let sup = Tree::new(SupervisorSpec::new())
        .task(
            ChildSpec::worker("stuck").shutdown(Shutdown::Timeout(Duration::from_millis(200))),
            move |ctx| {
                let b = Arc::clone(&b2);
                async move {
                    let _flag = DropFlag(Arc::clone(&b));
                    b.running.store(true, Ordering::SeqCst);
                    ctx.stopped().await;
                    block(&b, how);
                    Ok::<(), String>(())
                }
            },
        )
        .start()
        .expect("valid tree");
    let mut ev = sup.events();
    // (The driver may have published `Started` before `events` subscribed.)
    tokio::time::timeout(SAFETY, async {
        while !b.running.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("the task runs");
    let down = tokio::time::timeout(SAFETY, sup.shutdown())
        .await
        .expect("the shutdown completes although the task never yields");
    assert!(down.is_normal(), "{down:?}");
    let e = until(&mut ev, |e| exit_of(e, "stuck").is_some()).await;
    assert_eq!(exit_of(&e, "stuck"), Some(ExitReason::Killed));
    assert!(b.entered.load(Ordering::SeqCst));
    assert!(
        !b.returned.load(Ordering::SeqCst),
        "the blocking code is still running: the run was abandoned, not awaited"
    );
    assert_eq!(sup.abandoned_runs(), 1);
    b.release.store(true, Ordering::SeqCst);
    wait_until("the abandoned future to be dropped", || {
        b.dropped.load(Ordering::SeqCst)
    });
    assert!(b.returned.load(Ordering::SeqCst));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_in_blocking_sleep_is_abandoned_at_its_kill_deadline_on_multi_thread() {
    shutdown_abandons_a_task_stuck_in(Stuck::Sleeping).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_in_an_endless_spin_loop_is_abandoned_at_its_kill_deadline_on_multi_thread() {
    shutdown_abandons_a_task_stuck_in(Stuck::Spinning).await;
}

/// A run that hangs (no heartbeat, never yielding) is killed for `health`,
/// abandoned, and restarted: its slot is free for the next run, which works,
/// while the first is still stuck.
#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn a_hung_task_is_abandoned_at_its_health_kill_and_restarted() {
    let b = Arc::new(Block::default());
    let _release = ReleaseOnDrop(Arc::clone(&b));
    let runs = Arc::new(AtomicU32::new(0));
    let (b2, runs2) = (Arc::clone(&b), Arc::clone(&runs));
    let sup = Tree::new(SupervisorSpec::new().intensity(5))
        .task(
            ChildSpec::worker("hung")
                .health_timeout(Duration::from_millis(300))
                .shutdown(Shutdown::Brutal),
            move |ctx| {
                let first = runs2.fetch_add(1, Ordering::SeqCst) == 0;
                let b = Arc::clone(&b2);
                async move {
                    if first {
                        block(&b, Stuck::Spinning);
                    }
                    loop {
                        tokio::select! {
                            _ = ctx.stopped() => return Ok::<(), String>(()),
                            _ = tokio::time::sleep(Duration::from_millis(50)) => ctx.heartbeat(),
                        }
                    }
                }
            },
        )
        .start()
        .expect("valid tree");
    let mut ev = sup.events();
    let e = until(&mut ev, |e| exit_of(e, "hung").is_some()).await;
    assert_eq!(exit_of(&e, "hung"), Some(ExitReason::Health));
    let Some(first) = e.kind.generation() else {
        unreachable!()
    };
    until(&mut ev, |e| matches!(e.kind, EventKind::Restart { .. })).await;
    let second = until(&mut ev, |e| {
        matches!(e.kind, EventKind::Started { .. }) && e.path == "hung"
    })
    .await;
    let Some(run) = second.kind.generation() else {
        unreachable!()
    };
    assert!(run > first, "run {run} after run {first}");
    // The second run beats; the first is still stuck.
    until(&mut ev, |e| {
        matches!(e.kind, EventKind::Heartbeat { .. }) && e.kind.generation() == Some(run)
    })
    .await;
    assert!(!b.returned.load(Ordering::SeqCst));
    assert_eq!(sup.abandoned_runs(), 1);
    let down = tokio::time::timeout(SAFETY, sup.shutdown()).await.expect("shutdown");
    assert!(down.is_normal(), "{down:?}");
    b.release.store(true, Ordering::SeqCst);
    wait_until("the first run's code to return", || b.returned.load(Ordering::SeqCst));
}

/// On a current_thread runtime a task that blocks blocks the driver with it:
/// nothing can act until it returns (docs/ADAPTER.md). vigil guarantees
/// that its exit, which came before vigil could look at the kill deadline,
/// is handled before that deadline: the run reads `shutdown` (it did stop),
/// is not killed, and nothing is abandoned.
#[tokio::test(flavor = "current_thread")]
async fn on_current_thread_a_blocking_task_delays_the_driver_and_its_exit_comes_first() {
    let b = Arc::new(Block::default());
    let _release = ReleaseOnDrop(Arc::clone(&b));
    let b2 = Arc::clone(&b);
    let shutdown = Duration::from_millis(100);
    let sup = Tree::new(SupervisorSpec::new())
        .task(
            ChildSpec::worker("blocker")
                .restart(Restart::Permanent)
                .shutdown(Shutdown::Timeout(shutdown)),
            move |ctx| {
                let b = Arc::clone(&b2);
                async move {
                    ctx.stopped().await;
                    block(&b, Stuck::Sleeping);
                    Ok::<(), String>(())
                }
            },
        )
        .start()
        .expect("valid tree");
    let mut ev = sup.events();
    until(&mut ev, |e| matches!(e.kind, EventKind::Started { .. })).await;
    // Released from another thread once the kill deadline has passed for
    // sure (this runtime's only thread is blocked meanwhile).
    let releaser = {
        let b = Arc::clone(&b);
        std::thread::spawn(move || {
            wait_until("the task to block", || b.entered.load(Ordering::SeqCst));
            let blocked_at = Instant::now();
            wait_until("the kill deadline to pass", || blocked_at.elapsed() > shutdown * 3);
            b.release.store(true, Ordering::SeqCst);
        })
    };
    let down = tokio::time::timeout(SAFETY, sup.shutdown()).await.expect("shutdown");
    assert!(down.is_normal(), "{down:?}");
    releaser.join().expect("the releaser");
    let mut kills = 0;
    let mut reason = None;
    // The stream ends with the tree: every event is read.
    while let Some(e) = tokio::time::timeout(SAFETY, ev.recv()).await.expect("the stream ends") {
        let e = e.expect("no lag");
        if matches!(e.kind, EventKind::Kill { .. }) {
            kills += 1;
        }
        if let Some(r) = exit_of(&e, "blocker") {
            reason = Some(r);
        }
    }
    assert_eq!(reason, Some(ExitReason::shutdown()));
    assert_eq!(kills, 0, "the exit came before the kill deadline was looked at");
    assert_eq!(sup.abandoned_runs(), 0);
}

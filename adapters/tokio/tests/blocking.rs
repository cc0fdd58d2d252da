//! Blocking workers (docs/ADAPTER.md, "Blocking children"): a synchronous
//! closure on its own OS thread per run. `Stop` sets the flag the closure
//! reads; at the kill deadline a run still going is abandoned (reported
//! `killed`, the tree goes on), and its thread runs until the closure
//! returns, its result then ignored.
//!
//! These tests run in real time: a thread sleeping on a std clock does not
//! hold tokio's paused clock back, so paused time would let a kill deadline
//! overtake a closure that returns at once. Every deadline a test does not
//! want to reach is far away (a hang guard), and every deadline it wants to
//! reach is met by a closure that never returns before the test releases it.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_core::{ChildSpec, ExitReason, Readiness, Reply, Request, Restart, Shutdown, SupervisorSpec};
use vigil_tokio::{BlockingContext, BlockingOptions, EventKind, Events, Tree, TreeEvent};

/// A hang guard, never a measure.
const SAFETY: Duration = Duration::from_secs(60);
/// A shutdown timeout no cooperative closure comes near.
const PATIENT: Shutdown = Shutdown::Timeout(Duration::from_secs(60));
/// A shutdown timeout for closures that never return by themselves.
const SHORT: Shutdown = Shutdown::Timeout(Duration::from_millis(50));

async fn until(rx: &mut Events, f: impl Fn(&TreeEvent) -> bool) -> TreeEvent {
    let wait = async {
        loop {
            match rx.recv().await {
                Some(Ok(e)) if f(&e) => return e,
                Some(Ok(_) | Err(_)) => {}
                None => panic!("event stream ended"),
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

/// Poll `cond` (the closures run on their own threads) until it holds.
async fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < SAFETY, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A closure's hold on its thread, released by the test (or when dropped,
/// so that a failing test leaves no thread spinning).
#[derive(Default)]
struct Gate {
    entered: AtomicU32,
    release: AtomicBool,
    returned: AtomicU32,
}

impl Gate {
    /// Block this thread, never looking at any stop flag, until released.
    fn hold(&self) {
        self.entered.fetch_add(1, Ordering::SeqCst);
        while !self.release.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.returned.fetch_add(1, Ordering::SeqCst);
    }
}

/// Opened by the test once it listens to the events, so that nothing a
/// closure does happens before (a subscription sees only what follows it).
#[derive(Clone, Default)]
struct Go(Arc<AtomicBool>);

impl Go {
    fn open(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn wait(&self) {
        let start = Instant::now();
        while !self.0.load(Ordering::SeqCst) {
            assert!(start.elapsed() < SAFETY, "the test never opened the gate");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

struct ReleaseOnDrop(Arc<Gate>);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        self.0.release.store(true, Ordering::SeqCst);
    }
}

/// Live threads of this process whose name (as the kernel keeps it, at most
/// 15 bytes) is `name`.
fn threads_named(name: &str) -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim_end() == name))
        .count()
}

// ----- the flag -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closure_that_checks_its_flag_ends_with_shutdown() {
    let seen = Arc::new(AtomicBool::new(false));
    let seen2 = Arc::clone(&seen);
    let tree = Tree::new(SupervisorSpec::new())
        .blocking(ChildSpec::worker("poller").shutdown(PATIENT), move |ctx| {
            while !ctx.is_stopping() {
                std::thread::sleep(Duration::from_millis(1));
            }
            seen2.store(true, Ordering::SeqCst);
            Ok::<(), String>(())
        })
        .start()
        .expect("valid tree");
    let mut ev = tree.events();
    let down = tokio::time::timeout(SAFETY, tree.shutdown()).await.expect("down");
    assert!(down.is_normal(), "{down:?}");
    let e = until(&mut ev, |e| exit_of(e, "poller").is_some()).await;
    assert_eq!(exit_of(&e, "poller"), Some(ExitReason::shutdown()));
    assert!(seen.load(Ordering::SeqCst), "the closure saw its flag");
    assert_eq!((tree.abandoned_runs(), tree.abandoned_threads()), (0, 0));
}

#[tokio::test]
async fn a_sleeping_closure_is_woken_by_its_stop_on_a_current_thread_runtime() {
    let tree = Tree::new(SupervisorSpec::new())
        .blocking(ChildSpec::worker("sleeper").shutdown(PATIENT), |ctx| {
            // An hour, unless asked to stop.
            let slept_through = ctx.sleep(Duration::from_secs(3600));
            if slept_through {
                Err("nobody asked me to stop")
            } else {
                Ok(())
            }
        })
        .start()
        .expect("valid tree");
    let mut ev = tree.events();
    let down = tokio::time::timeout(SAFETY, tree.shutdown()).await.expect("down");
    assert!(down.is_normal());
    let e = until(&mut ev, |e| exit_of(e, "sleeper").is_some()).await;
    assert_eq!(exit_of(&e, "sleeper"), Some(ExitReason::shutdown()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ok_is_normal_err_is_error_and_a_panic_is_panic() {
    let go = Go::default();
    let (go1, go2, go3) = (go.clone(), go.clone(), go.clone());
    let tree = Tree::new(SupervisorSpec::new().intensity(0))
        .blocking(ChildSpec::worker("done").restart(Restart::Transient), move |_ctx| {
            go1.wait();
            Ok::<(), String>(())
        })
        .blocking(ChildSpec::worker("err").restart(Restart::Temporary), move |_ctx| {
            go2.wait();
            Err("disk full")
        })
        .blocking(
            ChildSpec::worker("boom").restart(Restart::Temporary),
            move |_ctx| -> Result<(), String> {
                go3.wait();
                panic!("out of cheese")
            },
        )
        .blocking(ChildSpec::worker("idle").shutdown(PATIENT), |ctx| {
            ctx.sleep(Duration::MAX);
            Ok::<(), String>(())
        })
        .start()
        .expect("valid tree");
    let mut ev = tree.events();
    go.open();
    // The three threads end in any order.
    let mut reasons = std::collections::BTreeMap::new();
    while reasons.len() < 3 {
        let e = until(&mut ev, |e| matches!(e.kind, EventKind::Exited { .. })).await;
        if let EventKind::Exited { reason, .. } = e.kind {
            reasons.insert(e.path, reason);
        }
    }
    assert_eq!(
        reasons,
        std::collections::BTreeMap::from([
            ("done".to_owned(), ExitReason::Normal),
            ("err".to_owned(), ExitReason::Error("disk full".into())),
            ("boom".to_owned(), ExitReason::Panic("out of cheese".into())),
        ])
    );
    assert!(!tree.is_down(), "nothing was restarted, nothing gave up");
    assert!(tree.shutdown().await.is_normal());
}

// ----- a closure that never checks its flag -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closure_that_sleeps_an_hour_is_abandoned_at_its_deadline_and_shutdown_completes() {
    let tree = Tree::new(SupervisorSpec::new())
        .blocking(ChildSpec::worker("nap").shutdown(SHORT), |_ctx| {
            // Never looks at its flag; left behind when the test binary exits.
            std::thread::sleep(Duration::from_secs(3600));
            Ok::<(), String>(())
        })
        .start()
        .expect("valid tree");
    let mut ev = tree.events();
    wait_until("the thread to run", || threads_named("nap") == 1).await;
    let down = tokio::time::timeout(SAFETY, tree.shutdown()).await.expect("down");
    assert!(down.is_normal(), "{down:?}");
    let e = until(&mut ev, |e| exit_of(e, "nap").is_some()).await;
    assert_eq!(exit_of(&e, "nap"), Some(ExitReason::Killed));
    assert_eq!(tree.abandoned_runs(), 1);
    assert_eq!(tree.abandoned_threads(), 1);
    assert_eq!(threads_named("nap"), 1, "the thread still sleeps");
}

#[tokio::test]
async fn an_endless_loop_is_abandoned_on_a_current_thread_runtime_too() {
    let gate = Arc::new(Gate::default());
    let _release = ReleaseOnDrop(Arc::clone(&gate));
    let g = Arc::clone(&gate);
    let tree = Tree::new(SupervisorSpec::new())
        .blocking(ChildSpec::worker("spin").shutdown(SHORT), move |_ctx| {
            g.hold();
            Ok::<(), String>(())
        })
        .start()
        .expect("valid tree");
    wait_until("the closure to run", || gate.entered.load(Ordering::SeqCst) == 1).await;
    // The driver shares this thread with nothing that blocks: the thread is
    // the closure's own.
    let down = tokio::time::timeout(SAFETY, tree.shutdown()).await.expect("down");
    assert!(down.is_normal());
    assert_eq!((tree.abandoned_runs(), tree.abandoned_threads()), (1, 1));
    gate.release.store(true, Ordering::SeqCst);
    wait_until("the abandoned thread to return", || tree.abandoned_threads() == 0).await;
    assert_eq!(gate.returned.load(Ordering::SeqCst), 1);
    assert_eq!(tree.abandoned_runs(), 1, "a total: it stays");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_starts_a_new_thread_while_the_abandoned_one_still_runs() {
    let gate = Arc::new(Gate::default());
    let _release = ReleaseOnDrop(Arc::clone(&gate));
    let g = Arc::clone(&gate);
    let generations = Arc::new(AtomicU64::new(0));
    let gens = Arc::clone(&generations);
    let tree = Tree::new(SupervisorSpec::new().intensity(5))
        .blocking(ChildSpec::worker("w").shutdown(SHORT), move |ctx: BlockingContext| {
            if gens.fetch_add(1, Ordering::SeqCst) == 0 {
                g.hold(); // the first run ignores its stop
                return Err("the first run's late result".to_owned());
            }
            ctx.sleep(Duration::MAX);
            Ok(())
        })
        .start()
        .expect("valid tree");
    let mut ev = tree.events();
    wait_until("the first run", || gate.entered.load(Ordering::SeqCst) == 1).await;
    let answer = tree.request(Request::TerminateChild { path: "w".into() }).await;
    assert_eq!(
        answer,
        Ok(Reply::Ok),
        "terminated once killed: the thread is not awaited"
    );
    let e = until(&mut ev, |e| exit_of(e, "w").is_some()).await;
    assert_eq!(exit_of(&e, "w"), Some(ExitReason::Killed));
    let answer = tree.request(Request::RestartChild { path: "w".into() }).await;
    let Ok(Reply::Started { run: Some(second), .. }) = answer else {
        panic!("{answer:?}")
    };
    wait_until("the second run", || generations.load(Ordering::SeqCst) == 2).await;
    assert_eq!(threads_named("w"), 2, "the abandoned thread and its replacement");
    assert_eq!(gate.returned.load(Ordering::SeqCst), 0);
    // The first returns at last: its result is ignored, the second runs on.
    gate.release.store(true, Ordering::SeqCst);
    wait_until("the abandoned thread to return", || tree.abandoned_threads() == 0).await;
    wait_until("its thread to end", || threads_named("w") == 1).await;
    let answer = tree.request(Request::WhichChildren { path: String::new() }).await;
    let Ok(Reply::Children(kids)) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(
        (kids[0].generation, kids[0].state.as_str()),
        (second.generation, "running")
    );
    assert_eq!(tree.abandoned_runs(), 1);
    let down = tree.shutdown().await;
    assert!(down.is_normal());
    // The stream ends with the tree: what is left is everything after.
    let mut late = Vec::new();
    while let Some(e) = ev.recv().await {
        let e = e.expect("no lag");
        if matches!(&e.kind, EventKind::Exited { generation, .. } if e.path == "w" && *generation != second.generation)
        {
            late.push(e);
        }
    }
    assert!(late.is_empty(), "no second exit for the abandoned run: {late:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_run_keeps_what_its_closure_captured_until_it_returns() {
    let gate = Arc::new(Gate::default());
    let _release = ReleaseOnDrop(Arc::clone(&gate));
    let captured = Arc::new(());
    let tree = Tree::new(SupervisorSpec::new()).start().expect("valid tree");
    let (g, held) = (Arc::clone(&gate), Arc::clone(&captured));
    let started = tree
        .start_blocking(
            "",
            ChildSpec::worker("t").restart(Restart::Temporary).shutdown(SHORT),
            BlockingOptions::new(),
            move |_ctx| {
                let _held = &held;
                g.hold();
                Ok::<(), String>(())
            },
        )
        .await;
    assert!(matches!(started, Ok(Reply::Started { .. })), "{started:?}");
    wait_until("the run", || gate.entered.load(Ordering::SeqCst) == 1).await;
    // Terminated: killed at its deadline, abandoned, and (temporary) removed
    // with what it runs.
    let answer = tree.request(Request::TerminateChild { path: "t".into() }).await;
    assert_eq!(answer, Ok(Reply::Ok));
    assert_eq!(
        tree.request(Request::WhichChildren { path: String::new() }).await,
        Ok(Reply::Children(Vec::new()))
    );
    assert_eq!(
        Arc::strong_count(&captured),
        2,
        "the running thread still holds the closure"
    );
    gate.release.store(true, Ordering::SeqCst);
    wait_until("the closure to be dropped", || Arc::strong_count(&captured) == 1).await;
    tree.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_brutal_blocking_child_is_abandoned_at_once_and_kill_all_does_not_wait() {
    let gate = Arc::new(Gate::default());
    let _release = ReleaseOnDrop(Arc::clone(&gate));
    let (g1, g2) = (Arc::clone(&gate), Arc::clone(&gate));
    let tree = Tree::new(SupervisorSpec::new())
        .blocking(ChildSpec::worker("a").shutdown(Shutdown::Brutal), move |_ctx| {
            g1.hold();
            Ok::<(), String>(())
        })
        .blocking(ChildSpec::worker("b").shutdown(PATIENT), move |_ctx| {
            g2.hold();
            Ok::<(), String>(())
        })
        .start()
        .expect("valid tree");
    wait_until("both runs", || gate.entered.load(Ordering::SeqCst) == 2).await;
    assert_eq!(
        tree.request(Request::TerminateChild { path: "a".into() }).await,
        Ok(Reply::Ok),
        "brutal: abandoned at once, no deadline"
    );
    assert_eq!(tree.abandoned_runs(), 1);
    // `b` would be waited for a minute; `kill_all` abandons it now.
    tokio::time::timeout(SAFETY, tree.kill_all())
        .await
        .expect("kill_all returns");
    assert_eq!((tree.abandoned_runs(), tree.abandoned_threads()), (2, 2));
    gate.release.store(true, Ordering::SeqCst);
    wait_until("both threads to return", || tree.abandoned_threads() == 0).await;
}

// ----- readiness and health -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notify_blocking_child_holds_its_next_sibling_until_ready() {
    let ready = Arc::new(AtomicBool::new(false));
    let (r1, r2) = (Arc::clone(&ready), Arc::clone(&ready));
    let sibling_saw_ready = Arc::new(AtomicBool::new(false));
    let saw = Arc::clone(&sibling_saw_ready);
    let go = Go::default();
    let go1 = go.clone();
    let tree = Tree::new(SupervisorSpec::new())
        .blocking(
            ChildSpec::worker("db")
                .readiness(Readiness::Notify)
                .startup_timeout(Duration::from_secs(60))
                .shutdown(PATIENT),
            move |ctx| {
                go1.wait();
                // Some work before it is ready; the sibling must not start meanwhile.
                std::thread::sleep(Duration::from_millis(20));
                r1.store(true, Ordering::SeqCst);
                ctx.ready();
                ctx.sleep(Duration::MAX);
                Ok::<(), String>(())
            },
        )
        .task(ChildSpec::worker("web"), move |ctx| {
            saw.store(r2.load(Ordering::SeqCst), Ordering::SeqCst);
            async move {
                ctx.stopped().await;
                Ok::<(), String>(())
            }
        })
        .start()
        .expect("valid tree");
    let mut ev = tree.events();
    go.open();
    until(&mut ev, |e| {
        matches!(e.kind, EventKind::Started { .. }) && e.path == "web"
    })
    .await;
    assert!(
        sibling_saw_ready.load(Ordering::SeqCst),
        "web started after db was ready"
    );
    assert!(tree.shutdown().await.is_normal());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_child_that_stops_heartbeating_is_killed_for_health_and_restarted() {
    let gate = Arc::new(Gate::default());
    let _release = ReleaseOnDrop(Arc::clone(&gate));
    let g = Arc::clone(&gate);
    let runs = Arc::new(AtomicU32::new(0));
    let r = Arc::clone(&runs);
    let go = Go::default();
    let go1 = go.clone();
    let tree = Tree::new(SupervisorSpec::new().intensity(5))
        .blocking(
            ChildSpec::worker("beat")
                .health_timeout(Duration::from_millis(200))
                .shutdown(PATIENT),
            move |ctx| {
                go1.wait();
                let first = r.fetch_add(1, Ordering::SeqCst) == 0;
                for _ in 0..5 {
                    ctx.heartbeat();
                    std::thread::sleep(Duration::from_millis(10));
                }
                if first {
                    g.hold(); // hangs: no heartbeat, no look at the flag
                    return Ok(());
                }
                while ctx.sleep(Duration::from_millis(20)) {
                    ctx.heartbeat();
                }
                Ok::<(), String>(())
            },
        )
        .start()
        .expect("valid tree");
    let mut ev = tree.events();
    go.open();
    let timeout = until(&mut ev, |e| {
        matches!(e.kind, EventKind::Timeout { .. }) && e.path == "beat"
    })
    .await;
    assert!(matches!(
        timeout.kind,
        EventKind::Timeout {
            reason: ExitReason::Health,
            ..
        }
    ));
    let e = until(&mut ev, |e| exit_of(e, "beat").is_some()).await;
    assert_eq!(exit_of(&e, "beat"), Some(ExitReason::Health));
    until(&mut ev, |e| {
        matches!(e.kind, EventKind::Started { .. }) && e.path == "beat"
    })
    .await;
    assert_eq!(tree.abandoned_threads(), 1, "the hung first run still holds its thread");
    // The second run heartbeats: no more timeouts while it runs.
    wait_until("the second run", || runs.load(Ordering::SeqCst) == 2).await;
    gate.release.store(true, Ordering::SeqCst);
    wait_until("the hung thread to return", || tree.abandoned_threads() == 0).await;
    assert!(tree.shutdown().await.is_normal());
    let mut more_timeouts = 0;
    while let Some(e) = ev.recv().await {
        more_timeouts += usize::from(matches!(e.expect("no lag").kind, EventKind::Timeout { .. }));
    }
    assert_eq!(more_timeouts, 0);
}

// ----- resources -----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_restarts_leave_no_thread_behind() {
    const RESTARTS: u32 = 300;
    let runs = Arc::new(AtomicU32::new(0));
    let r = Arc::clone(&runs);
    let tree = Tree::new(
        SupervisorSpec::new()
            .intensity(RESTARTS * 2)
            .period(Duration::from_secs(3600)),
    )
    .blocking(ChildSpec::worker("churn"), move |ctx| {
        if r.fetch_add(1, Ordering::SeqCst) < RESTARTS {
            return Err("crash");
        }
        ctx.sleep(Duration::MAX);
        Ok(())
    })
    .start()
    .expect("valid tree");
    wait_until("every restart", || runs.load(Ordering::SeqCst) > RESTARTS).await;
    wait_until("the threads that returned to be gone", || threads_named("churn") == 1).await;
    assert_eq!((tree.abandoned_runs(), tree.abandoned_threads()), (0, 0));
    assert!(tree.shutdown().await.is_normal());
    wait_until("the last thread to be gone", || threads_named("churn") == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_the_system_cannot_make_is_a_failed_start_with_the_reason() {
    // Four exbibytes of stack: more than any address space holds.
    let huge = BlockingOptions::new().stack_size(1 << 62);
    let tree = Tree::new(SupervisorSpec::new())
        .blocking_with(ChildSpec::worker("big"), huge, |_ctx| Ok::<(), String>(()))
        .start()
        .expect("valid tree");
    let down = tokio::time::timeout(SAFETY, tree.wait()).await.expect("down");
    let ExitReason::Shutdown(detail) = &down else {
        panic!("{down:?}")
    };
    assert!(
        detail.starts_with("failed_to_start_child big: cannot start a thread for big: "),
        "{detail}"
    );
    assert!(detail.contains("os error"), "the system's own reason: {detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_stack_size_is_a_failed_start_not_a_panic() {
    let tree = Tree::new(SupervisorSpec::new()).start().expect("valid tree");
    for bytes in [usize::MAX, usize::MAX / 2 + 1, 1] {
        let spec = ChildSpec::worker(format!("s{bytes}"));
        let options = BlockingOptions::new().stack_size(bytes);
        let answer = tree
            .start_blocking("", spec, options, |ctx| {
                ctx.sleep(Duration::MAX);
                Ok::<(), String>(())
            })
            .await;
        if bytes == 1 {
            assert!(
                matches!(answer, Ok(Reply::Started { .. })),
                "a tiny stack is raised to the minimum"
            );
        } else {
            let err = answer.expect_err("no such stack");
            assert!(err.to_string().contains("cannot start a thread"), "{err}");
        }
    }
    assert!(tree.shutdown().await.is_normal());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_kept_after_the_tree_is_down_reports_into_the_void() {
    let kept: Arc<std::sync::Mutex<Option<BlockingContext>>> = Arc::default();
    let k = Arc::clone(&kept);
    let tree = Tree::new(SupervisorSpec::new())
        .blocking(ChildSpec::worker("leaker").shutdown(PATIENT), move |ctx| {
            *k.lock().unwrap() = Some(ctx.clone());
            ctx.sleep(Duration::MAX);
            Ok::<(), String>(())
        })
        .start()
        .expect("valid tree");
    wait_until("the run to hand out its context", || kept.lock().unwrap().is_some()).await;
    assert!(tree.shutdown().await.is_normal());
    drop(tree);
    let ctx = kept.lock().unwrap().take().expect("kept");
    // The driver and its inbox are gone: nothing panics, nothing blocks.
    ctx.ready();
    ctx.heartbeat();
    ctx.status("still here");
    assert!(ctx.is_stopping());
    assert!(!ctx.sleep(Duration::MAX), "a stopped run's sleep returns at once");
    assert_eq!((ctx.path(), ctx.generation() > 0), ("leaker", true));
}

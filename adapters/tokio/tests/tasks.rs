//! Task workers under the real driver: restarts, exit reasons, stop and kill,
//! readiness and heartbeats. Time is tokio's paused clock, so deadlines are
//! exact and nothing waits for real.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use vigil_core::{ChildSpec, ExitReason, Readiness, Reply, Request, Restart, Shutdown, SupervisorSpec};
use vigil_tokio::{EventKind, Events, Tree, TreeEvent};

/// Wait for the first event matching `f` (panics after 60 s of paused time).
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
    tokio::time::timeout(Duration::from_secs(60), wait)
        .await
        .expect("the event came")
}

fn exited(e: &TreeEvent, path: &str) -> Option<ExitReason> {
    match &e.kind {
        EventKind::Exited { reason, .. } if e.path == path => Some(reason.clone()),
        _ => None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_task_is_restarted_with_a_new_generation() {
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let sup = Tree::new(SupervisorSpec::new().intensity(5))
        .task(ChildSpec::worker("w"), move |ctx| {
            let n = r.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    return Err("boom".to_owned());
                }
                ctx.stopped().await;
                Ok(())
            }
        })
        .start()
        .unwrap();
    let mut ev = sup.events();
    let e = until(&mut ev, |e| exited(e, "w").is_some()).await;
    assert_eq!(exited(&e, "w"), Some(ExitReason::Error("boom".into())));
    until(&mut ev, |e| matches!(e.kind, EventKind::Restart { .. })).await;
    until(&mut ev, |e| {
        matches!(e.kind, EventKind::Started { .. }) && e.path == "w"
    })
    .await;
    assert_eq!(runs.load(Ordering::SeqCst), 2);
    assert!(sup.shutdown().await.is_normal());
}

#[tokio::test(start_paused = true)]
async fn a_panicking_task_exits_with_reason_panic_and_its_message() {
    let sup = Tree::new(SupervisorSpec::new().intensity(0))
        .task(ChildSpec::worker("p").restart(Restart::Temporary), |_ctx| async move {
            if true {
                panic!("out of cheese");
            }
            Ok::<(), String>(())
        })
        .start()
        .unwrap();
    let mut ev = sup.events();
    let e = until(&mut ev, |e| exited(e, "p").is_some()).await;
    assert_eq!(exited(&e, "p"), Some(ExitReason::Panic("out of cheese".into())));
    sup.shutdown().await;
}

/// Panics when dropped: the user's future holds one.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("a drop that panics");
    }
}

#[tokio::test(start_paused = true)]
async fn a_killed_future_whose_drop_panics_is_still_reported_killed_and_the_tree_ends() {
    let sup = Tree::new(SupervisorSpec::new())
        .task(
            ChildSpec::worker("w").shutdown(Shutdown::Timeout(Duration::from_secs(1))),
            |_ctx| {
                let guard = PanicsOnDrop;
                async move {
                    let _guard = guard;
                    std::future::pending::<()>().await;
                    Ok::<(), String>(())
                }
            },
        )
        .start()
        .unwrap();
    let mut ev = sup.events();
    until(&mut ev, |e| matches!(e.kind, EventKind::Started { .. })).await;
    let s = sup.clone();
    tokio::spawn(async move { s.shutdown().await });
    until(&mut ev, |e| matches!(e.kind, EventKind::Kill { .. })).await;
    // The kill drops the future between polls; its drop panics. The run
    // still reports its one exit, `killed` (the reason it ended).
    let e = until(&mut ev, |e| exited(e, "w").is_some()).await;
    assert_eq!(exited(&e, "w"), Some(ExitReason::Killed));
    tokio::time::timeout(Duration::from_secs(60), sup.wait())
        .await
        .expect("the tree ended");
}

#[tokio::test(start_paused = true)]
async fn a_transient_task_that_returns_ok_is_not_restarted() {
    let sup = Tree::new(SupervisorSpec::new())
        .task(
            ChildSpec::worker("job").restart(Restart::Transient),
            |_ctx| async move { Ok::<(), String>(()) },
        )
        .start()
        .unwrap();
    let mut ev = sup.events();
    let e = until(&mut ev, |e| exited(e, "job").is_some()).await;
    assert_eq!(exited(&e, "job"), Some(ExitReason::Normal));
    let Ok(Reply::Children(c)) = sup.request(Request::WhichChildren { path: String::new() }).await else {
        panic!()
    };
    assert_eq!(c[0].state, vigil_core::ChildState::Stopped);
    assert!(sup.shutdown().await.is_normal());
}

#[tokio::test(start_paused = true)]
async fn stop_cancels_the_token_and_a_task_that_returns_exits_with_shutdown() {
    let sup = Tree::new(SupervisorSpec::new())
        .task(ChildSpec::worker("w"), |ctx| async move {
            ctx.stopped().await;
            Ok::<(), String>(())
        })
        .start()
        .unwrap();
    let mut ev = sup.events();
    until(&mut ev, |e| matches!(e.kind, EventKind::Started { .. })).await;
    let s = sup.clone();
    let down = tokio::spawn(async move { s.shutdown().await });
    let e = until(&mut ev, |e| exited(e, "w").is_some()).await;
    assert_eq!(exited(&e, "w"), Some(ExitReason::shutdown()));
    assert!(down.await.unwrap().is_normal());
}

#[tokio::test(start_paused = true)]
async fn a_task_that_ignores_stop_is_killed_exactly_at_its_shutdown_deadline() {
    let sup = Tree::new(SupervisorSpec::new())
        .task(
            ChildSpec::worker("stubborn").shutdown(Shutdown::Timeout(Duration::from_secs(3))),
            |_ctx| async move {
                std::future::pending::<()>().await;
                Ok::<(), String>(())
            },
        )
        .start()
        .unwrap();
    let mut ev = sup.events();
    until(&mut ev, |e| matches!(e.kind, EventKind::Started { .. })).await;
    let s = sup.clone();
    tokio::spawn(async move { s.shutdown().await });
    let stop = until(&mut ev, |e| matches!(e.kind, EventKind::Stop { .. })).await;
    let kill = until(&mut ev, |e| matches!(e.kind, EventKind::Kill { .. })).await;
    assert_eq!(kill.time.saturating_duration_since(stop.time), Duration::from_secs(3));
    let e = until(&mut ev, |e| exited(e, "stubborn").is_some()).await;
    assert_eq!(exited(&e, "stubborn"), Some(ExitReason::Killed));
    sup.wait().await;
}

#[tokio::test(start_paused = true)]
async fn readiness_gates_the_start_of_the_next_sibling() {
    let sup = Tree::new(SupervisorSpec::new())
        .task(ChildSpec::worker("db").readiness(Readiness::Notify), |ctx| async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            ctx.ready();
            ctx.stopped().await;
            Ok::<(), String>(())
        })
        .task(ChildSpec::worker("web"), |ctx| async move {
            ctx.stopped().await;
            Ok::<(), String>(())
        })
        .start()
        .unwrap();
    let mut ev = sup.events();
    let ready = until(&mut ev, |e| matches!(e.kind, EventKind::Ready { .. })).await;
    let web = until(&mut ev, |e| {
        matches!(e.kind, EventKind::Spawn { .. }) && e.path == "web"
    })
    .await;
    assert_eq!(ready.time.as_nanos(), 2_000_000_000);
    assert!(web.time >= ready.time, "web was spawned before db was ready");
    sup.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_missed_heartbeat_kills_the_task_with_reason_health_and_restarts_it() {
    let runs = Arc::new(AtomicU32::new(0));
    let r = runs.clone();
    let sup = Tree::new(SupervisorSpec::new().intensity(5))
        .task(
            ChildSpec::worker("hb").health_timeout(Duration::from_secs(1)),
            move |ctx| {
                let first = r.fetch_add(1, Ordering::SeqCst) == 0;
                async move {
                    // The first run beats three times, then falls silent; later runs always beat.
                    let mut beats = 0;
                    loop {
                        tokio::select! {
                            _ = ctx.stopped() => return Ok::<(), String>(()),
                            _ = tokio::time::sleep(Duration::from_millis(300)) => {
                                beats += 1;
                                if !first || beats <= 3 {
                                    ctx.heartbeat();
                                }
                            }
                        }
                    }
                }
            },
        )
        .start()
        .unwrap();
    let mut ev = sup.events();
    let t = until(&mut ev, |e| matches!(e.kind, EventKind::Timeout { .. })).await;
    assert!(matches!(
        t.kind,
        EventKind::Timeout {
            reason: ExitReason::Health,
            ..
        }
    ));
    let e = until(&mut ev, |e| exited(e, "hb").is_some()).await;
    assert_eq!(exited(&e, "hb"), Some(ExitReason::Health));
    until(&mut ev, |e| matches!(e.kind, EventKind::Restart { .. })).await;
    sup.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn dynamic_tasks_start_and_requests_get_their_final_answer() {
    let sup = Tree::new(SupervisorSpec::new()).start().unwrap();
    let r = sup
        .start_task("", ChildSpec::worker("dyn"), |ctx| async move {
            ctx.stopped().await;
            Ok::<(), String>(())
        })
        .await;
    assert!(matches!(r, Ok(Reply::Started { run: Some(_), .. })), "{r:?}");
    assert_eq!(
        sup.request(Request::TerminateChild { path: "dyn".into() }).await,
        Ok(Reply::Ok)
    );
    assert_eq!(
        sup.request(Request::RestartChild { path: "nope".into() }).await,
        Err(vigil_core::RequestError::NotFound("nope".into()))
    );
    sup.shutdown().await;
    assert_eq!(
        sup.request(Request::WhichChildren { path: String::new() }).await,
        Err(vigil_core::RequestError::TreeDown)
    );
}

#[tokio::test(start_paused = true)]
async fn the_stop_token_is_the_runs_stop_signal_whenever_it_is_taken() {
    // `early` takes its token before the stop, `late` after it; `own`
    // cancels its token itself, which is its stop request, as it always was.
    let sup = Tree::new(SupervisorSpec::new())
        .task(ChildSpec::worker("early"), |ctx| async move {
            let token = ctx.stop_token();
            token.cancelled().await;
            if !ctx.is_stop_requested() || !ctx.stop_token().is_cancelled() {
                return Err("the token and the context disagree");
            }
            Ok(())
        })
        .task(ChildSpec::worker("late"), |ctx| async move {
            ctx.stopped().await;
            if !ctx.stop_token().is_cancelled() {
                return Err("a token taken after the stop is not cancelled");
            }
            Ok(())
        })
        .task(ChildSpec::worker("own").restart(Restart::Temporary), |ctx| async move {
            // A waiter from before the token was made sees its cancel too.
            let waiter = {
                let ctx = ctx.clone();
                tokio::spawn(async move { ctx.stopped().await })
            };
            tokio::task::yield_now().await;
            ctx.stop_token().cancel();
            waiter.await.map_err(|_| "the waiter panicked")?;
            ctx.stopped().await;
            if !ctx.is_stop_requested() {
                return Err("a cancelled token is not a stop request");
            }
            Ok::<(), &str>(())
        })
        .start()
        .unwrap();
    let mut ev = sup.events();
    // Its own cancel is its stop: it returns Ok, read as `shutdown`.
    let e = until(&mut ev, |e| exited(e, "own").is_some()).await;
    assert_eq!(exited(&e, "own"), Some(ExitReason::shutdown()));
    let s = sup.clone();
    let down = tokio::spawn(async move { s.shutdown().await });
    for path in ["late", "early"] {
        let e = until(&mut ev, |e| exited(e, path).is_some()).await;
        assert_eq!(exited(&e, path), Some(ExitReason::shutdown()), "{path}");
    }
    assert!(down.await.unwrap().is_normal());
}

#[tokio::test(start_paused = true)]
async fn a_context_kept_after_its_run_ended_is_harmless_before_and_after_the_tree_is_down() {
    // A run leaks a clone of its context (into a static-like slot) and ends;
    // the clone keeps working, its reports are stale, and after the tree is
    // down they go nowhere. Nothing panics and the tree is not disturbed.
    let kept: Arc<std::sync::Mutex<Option<vigil_tokio::RunContext>>> = Arc::default();
    let slot = Arc::clone(&kept);
    let sup = Tree::new(SupervisorSpec::new())
        .task(ChildSpec::worker("leaky").restart(Restart::Temporary), move |ctx| {
            *slot.lock().unwrap() = Some(ctx.clone());
            async move { Ok::<(), String>(()) }
        })
        .task(ChildSpec::worker("steady"), |ctx| async move {
            ctx.stopped().await;
            Ok::<(), String>(())
        })
        .start()
        .unwrap();
    let mut ev = sup.events();
    let e = until(&mut ev, |e| exited(e, "leaky").is_some()).await;
    assert_eq!(exited(&e, "leaky"), Some(ExitReason::Normal));
    let ctx = kept.lock().unwrap().take().expect("the run kept its context");
    ctx.ready();
    ctx.heartbeat();
    ctx.status("still here");
    assert!(!ctx.is_stop_requested(), "nobody stopped the ended run");
    let token = ctx.stop_token();
    assert!(!token.is_cancelled());
    assert!(sup.shutdown().await.is_normal());
    ctx.ready();
    ctx.heartbeat();
    assert_eq!(ctx.path(), "leaky");
    assert!(!ctx.stop_token().is_cancelled(), "the same token, never cancelled");
}

//! The event stream ends with the tree, however the tree ends (issue 13,
//! defect 1), even while handles to it are alive; a listener that falls
//! behind is told, typed; and the tree's outcome is typed (defect 3).
//! Task trees run on tokio's paused clock; timeouts are only hang guards.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use vigil_core::{ChildSpec, ExitReason, Outcome, Readiness, Restart, SupervisorSpec};
use vigil_tokio::{EventKind, Events, Lagged, ProcessSpec, ProcessTreeOptions, Tree, TreeEvent, TreeHandle};

/// Far more than any test needs: only a hang reaches it.
const HANG: Duration = Duration::from_secs(600);

fn idle_tree() -> Tree {
    Tree::new(SupervisorSpec::new()).task(ChildSpec::worker("idle"), |ctx| async move {
        ctx.stopped().await;
        Ok::<(), String>(())
    })
}

/// Every event until the stream ends (a hang fails the test); lags are counted.
async fn to_the_end(events: &mut Events) -> (Vec<TreeEvent>, u64) {
    let mut all = Vec::new();
    let mut missed = 0;
    let read = async {
        while let Some(e) = events.recv().await {
            match e {
                Ok(e) => all.push(e),
                Err(Lagged(n)) => missed += n,
            }
        }
    };
    tokio::time::timeout(HANG, read).await.expect("the stream ended");
    assert!(events.is_ended());
    (all, missed)
}

/// The outcome of the (one) `TreeDown` event, and the kinds after it.
fn tree_down(events: &[TreeEvent]) -> (Outcome, Vec<&'static str>) {
    let at = events
        .iter()
        .position(|e| matches!(e.kind, EventKind::TreeDown { .. }))
        .unwrap_or_else(|| panic!("no tree_down in {events:#?}"));
    let EventKind::TreeDown { outcome, .. } = &events[at].kind else {
        unreachable!()
    };
    let after = events[at + 1..].iter().map(|e| e.kind.name()).collect();
    (*outcome, after)
}

#[tokio::test(start_paused = true)]
async fn the_stream_ends_after_a_shutdown_while_handles_are_alive() {
    let tree = idle_tree().start().expect("a valid tree");
    let clone = tree.clone();
    let mut events = tree.events();
    let reader = tokio::spawn(async move { to_the_end(&mut events).await });
    assert!(tree.shutdown().await.is_normal());
    let (events, missed) = reader.await.expect("the reader");
    assert_eq!(missed, 0);
    let (outcome, after) = tree_down(&events);
    assert_eq!(outcome, Outcome::ShutDown);
    assert_eq!(after, ["reply"], "only the shutdown's answer follows tree_down");
    // Both handles are still alive, and know how the tree ended.
    assert_eq!(
        (tree.outcome(), clone.outcome()),
        (Outcome::ShutDown, Outcome::ShutDown)
    );
}

#[tokio::test(start_paused = true)]
async fn the_stream_ends_after_the_root_gives_up() {
    let tree = Tree::new(SupervisorSpec::new().intensity(1))
        .task(ChildSpec::worker("crash"), |_ctx| async { Err::<(), _>("boom") })
        .start()
        .expect("a valid tree");
    let mut events = tree.events();
    let (events, _) = to_the_end(&mut events).await;
    let (outcome, after) = tree_down(&events);
    assert_eq!(outcome, Outcome::RootGaveUp);
    assert!(after.is_empty(), "{after:?}");
    let give_up = events.iter().find(|e| matches!(e.kind, EventKind::GiveUp));
    assert_eq!(give_up.map(|e| e.path.as_str()), Some(""), "the root gave up");
    assert_eq!(tree.outcome(), Outcome::RootGaveUp);
    assert_eq!(tree.wait().await, ExitReason::shutdown());
}

#[tokio::test(start_paused = true)]
async fn the_stream_ends_after_a_failed_start() {
    // `db` never reports ready: its start times out, and the tree cannot start.
    let db = ChildSpec::worker("db")
        .readiness(Readiness::Notify)
        .startup_timeout(Duration::from_secs(1));
    let tree = Tree::new(SupervisorSpec::new())
        .task(db, |ctx| async move {
            ctx.stopped().await;
            Ok::<(), String>(())
        })
        .start()
        .expect("a valid tree");
    let mut events = tree.events();
    let (events, _) = to_the_end(&mut events).await;
    assert_eq!(tree_down(&events).0, Outcome::StartFailed);
    assert_eq!(tree.outcome(), Outcome::StartFailed);
    let reason = tree.wait().await.to_string();
    assert!(reason.starts_with("shutdown(failed_to_start_child db"), "{reason}");
}

#[tokio::test(start_paused = true)]
async fn the_stream_ends_after_kill_all_without_a_tree_down() {
    let tree = idle_tree().start().expect("a valid tree");
    let mut events = tree.events();
    // Let the tree start (`idle`, then the root) before everything is killed.
    let started = tokio::time::timeout(HANG, async {
        let mut run = None;
        loop {
            let e = events.recv().await.expect("not ended").expect("no lag");
            match e.kind {
                EventKind::Started { generation, .. } => run = Some(generation),
                EventKind::SupStarted if e.path.is_empty() => return run.expect("idle started first"),
                _ => {}
            }
        }
    })
    .await
    .expect("the tree started");
    tree.kill_all().await;
    let (rest, _) = to_the_end(&mut events).await;
    let kinds: Vec<_> = rest.iter().map(|e| (e.kind.name(), e.path.as_str())).collect();
    assert_eq!(
        kinds,
        [("kill", "idle")],
        "the kill is told; the engine never ended the root"
    );
    assert_eq!(rest[0].kind.generation(), Some(started));
    assert_eq!(tree.wait().await, ExitReason::Killed);
    assert_eq!(tree.outcome(), Outcome::ShutDown);
}

#[tokio::test(start_paused = true)]
async fn a_stream_created_after_the_tree_is_down_ends_at_once() {
    let tree = idle_tree().start().expect("a valid tree");
    tree.shutdown().await;
    let mut late = tree.events();
    assert!(late.is_ended());
    assert!(late.recv().await.is_none());
    // The trace lines end the same way.
    let mut lines = tree.trace();
    assert!(lines.recv().await.is_err());
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_falls_behind_is_told_how_many_events_it_missed() {
    let runs = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&runs);
    let tree = Tree::new(
        SupervisorSpec::new()
            .intensity(1_000_000)
            .period(Duration::from_nanos(1)),
    )
    .task(ChildSpec::worker("crash"), move |_ctx| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Err::<(), _>("boom") }
    })
    .start()
    .expect("a valid tree");
    let mut events = tree.events();
    // Each crash makes several events; 2 000 crashes overflow the 4 096 kept.
    tokio::time::timeout(HANG, async {
        while runs.load(Ordering::SeqCst) < 2_000 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("2 000 runs");
    let first = events.recv().await.expect("not ended");
    let Err(Lagged(missed)) = first else {
        panic!("expected a lag, got {first:?}")
    };
    assert!(missed > 0);
    // Then the oldest event still kept, and the stream goes on.
    assert!(matches!(events.recv().await, Some(Ok(_))));
    tree.shutdown().await;
    let (rest, _) = to_the_end(&mut events).await;
    assert_eq!(tree_down(&rest).0, Outcome::ShutDown);
}

#[tokio::test(start_paused = true)]
async fn the_stream_is_a_stream_and_receiving_is_cancel_safe() {
    let tree = Tree::new(SupervisorSpec::new().intensity(10))
        .task(
            ChildSpec::worker("flaky").restart(Restart::Transient),
            |ctx| async move {
                if ctx.generation() < 10 {
                    return Err("not yet".to_owned());
                }
                ctx.stopped().await;
                Ok(())
            },
        )
        .start()
        .expect("a valid tree");
    let whole = tree.events();
    let mut raced = tree.events();
    let collected = tokio::spawn(whole.collect::<Vec<_>>());
    // Receive through a `select!` whose other branch wins whenever no event
    // is ready: the `recv()` futures dropped then must not lose events.
    let racer = tokio::spawn(async move {
        let mut got = Vec::new();
        let mut lost_races = 0;
        loop {
            tokio::select! {
                e = raced.recv() => match e {
                    Some(e) => got.push(e),
                    None => return (got, lost_races),
                },
                () = tokio::time::sleep(Duration::from_millis(10)) => lost_races += 1,
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    tree.shutdown().await;
    let whole = tokio::time::timeout(HANG, collected)
        .await
        .expect("ended")
        .expect("collector");
    let (raced, lost_races) = tokio::time::timeout(HANG, racer).await.expect("ended").expect("racer");
    assert!(lost_races > 0, "no receive was ever dropped");
    assert!(whole.len() > 20, "{whole:#?}");
    assert_eq!(raced, whole);
}

/// A trace sink that panics at the first `exited` line: the driver panics.
struct PanicsAtAnExit;

impl std::io::Write for PanicsAtAnExit {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if String::from_utf8_lossy(buf).contains("\"ev\":\"exited\"") {
            panic!("the sink broke");
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_ends_after_a_driver_panic_and_the_outcome_says_shut_down() {
    let spec = SupervisorSpec::new()
        .child(ChildSpec::worker("steady").tag(0))
        .child(ChildSpec::worker("crasher").tag(1));
    let processes = vec![
        ProcessSpec::new(["sleep", "1000"]),
        ProcessSpec::new(["sh", "-c", "sleep 0.1; exit 1"]),
    ];
    let options = ProcessTreeOptions {
        trace: Some(Box::new(PanicsAtAnExit)),
        ..ProcessTreeOptions::default()
    };
    let tree: TreeHandle = Tree::start_processes(spec, processes, options).expect("a valid spec");
    let mut events = tree.events();
    let (events, _) = to_the_end(&mut events).await;
    assert!(
        !events.iter().any(|e| matches!(e.kind, EventKind::TreeDown { .. })),
        "the engine never ended the root: {events:#?}"
    );
    assert!(tree.driver_panic().is_some());
    assert_eq!(tree.outcome(), Outcome::ShutDown);
    assert!(matches!(tree.wait().await, ExitReason::Panic(_)));
}

#[test]
fn a_handle_that_outlives_its_runtime_reads_the_tree_as_down() {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    };
    let first = runtime();
    let tree = first.block_on(async { idle_tree().start().expect("a valid tree") });
    let mut events = tree.events();
    assert_eq!(tree.outcome(), Outcome::Up);
    // The driver task goes with its runtime, without a word.
    drop(first);
    runtime().block_on(async {
        let end = tokio::time::timeout(HANG, events.recv())
            .await
            .expect("the stream ends");
        assert!(end.is_none());
        assert!(tree.is_down());
        assert_eq!(tree.outcome(), Outcome::ShutDown);
        assert_eq!(tree.wait().await, ExitReason::Killed);
        assert!(tree.events().recv().await.is_none());
        let answer = tree.request(vigil_core::Request::Shutdown).await;
        assert_eq!(answer, Err(vigil_core::RequestError::TreeDown));
    });
}

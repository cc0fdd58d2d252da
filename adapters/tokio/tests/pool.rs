//! Pools of dynamic children (OTP's `simple_one_for_one`): names that are
//! never reused, the `max_children` bound kept exact through starts, stops,
//! failed starts and restarts, typed errors, inboxes, and 100,000 children
//! started and stopped (docs/ADAPTER.md, "Mailboxes and pools"). Time is
//! tokio's paused clock; timeouts are hang guards only.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use vigil_core::{ChildSpec, Readiness, Request, RequestError, Restart, Shutdown, ShutdownOrder, SupervisorSpec};
use vigil_tokio::{BuildError, Inbox, NoInbox, Pool, PoolError, PoolRef, PoolRefError, Tree, TreeHandle};

const GUARD: Duration = Duration::from_secs(600);

fn root() -> SupervisorSpec {
    SupervisorSpec::new()
        .intensity(1_000_000)
        .period(Duration::from_secs(1))
}

/// A pool `jobs` of at most `max` children that wait for their stop; each
/// run reports its argument on `runs`.
fn idle_pool(max: usize, runs: mpsc::UnboundedSender<u32>) -> Tree {
    Tree::new(root()).pool(
        ChildSpec::supervisor("jobs", SupervisorSpec::new().intensity(1_000_000)),
        Pool::new(ChildSpec::worker("job"), max, move |ctx, arg: u32| {
            let _ = runs.send(arg);
            async move {
                ctx.stopped().await;
                Ok::<(), String>(())
            }
        }),
    )
}

async fn guarded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(GUARD, f)
        .await
        .unwrap_or_else(|_| panic!("hang guard: {what}"))
}

async fn jobs(tree: &TreeHandle) -> PoolRef<u32> {
    tree.pool("jobs").await.expect("the pool")
}

#[tokio::test(start_paused = true)]
async fn children_are_named_by_a_counter_that_is_never_reused() {
    let (tx, mut runs) = mpsc::unbounded_channel();
    let tree = idle_pool(10, tx).start().unwrap();
    let pool = jobs(&tree).await;
    let mut paths = Vec::new();
    for arg in 0..3 {
        paths.push(pool.start(arg).await.unwrap().path);
    }
    assert_eq!(paths, ["jobs/job-1", "jobs/job-2", "jobs/job-3"]);
    assert_eq!(
        [runs.recv().await, runs.recv().await, runs.recv().await],
        [Some(0), Some(1), Some(2)]
    );
    pool.terminate("jobs/job-2").await.unwrap();
    assert_eq!(pool.start(9).await.unwrap().path, "jobs/job-4", "2 is not reused");
    // Not after a restart of the pool supervisor either.
    tree.request(Request::TerminateChild { path: "jobs".into() })
        .await
        .unwrap();
    tree.request(Request::RestartChild { path: "jobs".into() })
        .await
        .unwrap();
    assert!(pool.is_empty(), "dynamic children end with their supervisor's run");
    assert_eq!(pool.start(9).await.unwrap().path, "jobs/job-5");
    tree.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn max_children_refuses_a_start_until_a_child_is_removed() {
    let (tx, _runs) = mpsc::unbounded_channel();
    let tree = idle_pool(2, tx).start().unwrap();
    let pool = jobs(&tree).await;
    assert_eq!(pool.max_children(), 2);
    let a = pool.start(1).await.unwrap();
    pool.start(2).await.unwrap();
    assert_eq!(
        pool.start(3).await.unwrap_err(),
        PoolError::Full {
            pool: "jobs".into(),
            max_children: 2
        }
    );
    // A stopped child still holds its seat; a deleted one frees it.
    tree.request(Request::TerminateChild { path: a.path.clone() })
        .await
        .unwrap();
    assert!(matches!(pool.start(3).await, Err(PoolError::Full { .. })));
    tree.request(Request::DeleteChild { path: a.path }).await.unwrap();
    assert_eq!(pool.len(), 1);
    pool.start(3).await.unwrap();
    assert_eq!(pool.len(), 2);
    tree.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_pool_of_zero_refuses_every_start() {
    let (tx, _runs) = mpsc::unbounded_channel();
    let tree = idle_pool(0, tx).start().unwrap();
    assert!(matches!(
        jobs(&tree).await.start(1).await,
        Err(PoolError::Full { max_children: 0, .. })
    ));
    tree.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn temporary_children_that_end_and_failed_starts_free_their_seats() {
    // `job`s end when their argument says so, or never report ready.
    let tree = Tree::new(root())
        .pool(
            ChildSpec::supervisor("jobs", SupervisorSpec::new().intensity(1_000_000)),
            Pool::new(
                ChildSpec::worker("job")
                    .restart(Restart::Temporary)
                    .readiness(Readiness::Notify)
                    .startup_timeout(Duration::from_secs(1)),
                1,
                |ctx, ready: bool| async move {
                    if ready {
                        ctx.ready();
                        tokio::time::sleep(Duration::from_secs(10)).await;
                    } else {
                        ctx.stopped().await;
                    }
                    Ok::<(), String>(())
                },
            ),
        )
        .start()
        .unwrap();
    let pool = jobs_bool(&tree).await;
    let failed = pool.start(false).await.unwrap_err();
    assert!(
        matches!(&failed, PoolError::Request(RequestError::StartFailed { path, .. }) if path == "jobs/job-1"),
        "{failed:?}"
    );
    assert!(pool.is_empty(), "the failed start freed its seat");
    pool.start(true).await.unwrap();
    assert!(matches!(pool.start(true).await, Err(PoolError::Full { .. })));
    tokio::time::sleep(Duration::from_secs(11)).await; // job-2 ends normally and is removed
    guarded("the seat frees", async {
        while !pool.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(pool.start(true).await.unwrap().path, "jobs/job-4");
    tree.shutdown().await;
}

async fn jobs_bool(tree: &TreeHandle) -> PoolRef<bool> {
    tree.pool("jobs").await.expect("the pool")
}

#[tokio::test(start_paused = true)]
async fn concurrent_starts_never_exceed_max_children() {
    // Each child takes 1 s to be ready: starts queue at the pool supervisor.
    let tree = Tree::new(root())
        .pool(
            ChildSpec::supervisor("jobs", SupervisorSpec::new()),
            Pool::new(
                ChildSpec::worker("job").readiness(Readiness::Notify),
                3,
                |ctx, _: u32| async move {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    ctx.ready();
                    ctx.stopped().await;
                    Ok::<(), String>(())
                },
            ),
        )
        .start()
        .unwrap();
    let pool = jobs(&tree).await;
    let starts: Vec<_> = (0..10)
        .map(|i| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.start(i).await })
        })
        .collect();
    let mut started = 0;
    let mut full = 0;
    for s in starts {
        match guarded("a start", s).await.unwrap() {
            Ok(_) => started += 1,
            Err(PoolError::Full { .. }) => full += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!((started, full), (3, 7));
    let counts = tree
        .request(Request::CountChildren { path: "jobs".into() })
        .await
        .unwrap();
    assert!(
        matches!(counts, vigil_core::Reply::Counts(c) if c.specs == 3),
        "{counts:?}"
    );
    tree.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_restarted_pool_supervisor_starts_empty_with_every_seat_free() {
    // `job` fails when its argument is 0; the pool (intensity 0) then gives
    // up and the root restarts it, without its dynamic children.
    let tree = Tree::new(root())
        .pool(
            ChildSpec::supervisor("jobs", SupervisorSpec::new().intensity(0)),
            Pool::new(ChildSpec::worker("job"), 3, |ctx, arg: u32| async move {
                if arg == 0 {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    return Err("zero");
                }
                ctx.stopped().await;
                Ok(())
            }),
        )
        .start()
        .unwrap();
    let pool = jobs(&tree).await;
    pool.start(1).await.unwrap();
    pool.start(2).await.unwrap();
    pool.start(0).await.unwrap();
    assert!(matches!(pool.start(4).await, Err(PoolError::Full { .. })));
    tokio::time::sleep(Duration::from_secs(2)).await;
    guarded("the pool restarts empty", async {
        while !pool.is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    for arg in 5..8 {
        pool.start(arg).await.unwrap();
    }
    assert_eq!(pool.len(), 3);
    tree.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_pool_with_inboxes_hands_out_each_childs_ref_which_survives_its_restarts() {
    let (tx, mut seen) = mpsc::unbounded_channel();
    let tree = Tree::new(root())
        .pool(
            ChildSpec::supervisor("sessions", SupervisorSpec::new().intensity(1_000_000)),
            Pool::with_inbox(
                ChildSpec::worker("s"),
                100,
                NonZeroUsize::new(4).unwrap(),
                move |ctx, user: String, mut inbox: Inbox<u32>| {
                    let seen = tx.clone();
                    async move {
                        while let Some(n) = inbox.recv().await {
                            let _ = seen.send((user.clone(), ctx.generation(), n));
                            if n == 0 {
                                return Err("zero".to_owned());
                            }
                        }
                        Ok(())
                    }
                },
            ),
        )
        .start()
        .unwrap();
    let sessions: PoolRef<String, u32> = tree.pool("sessions").await.unwrap();
    let ada = sessions.start("ada".into()).await.unwrap();
    let bob = sessions.start("bob".into()).await.unwrap();
    assert_eq!(ada.child.path(), "sessions/s-1");
    ada.child.cast(0).await.unwrap(); // ada's child crashes; it keeps its inbox and argument
    ada.child.cast(1).await.unwrap();
    bob.child.cast(2).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(guarded("a message", seen.recv()).await.unwrap());
    }
    got.sort();
    assert_eq!(got[2].0, "bob");
    assert_eq!((got[0].0.as_str(), got[0].2), ("ada", 0));
    assert_eq!((got[1].0.as_str(), got[1].2), ("ada", 1));
    assert!(got[1].1 > got[0].1, "a later run of ada's child");
    // The same inbox by path.
    tree.child::<u32>(&bob.path).await.unwrap().cast(3).await.unwrap();
    assert_eq!(guarded("bob", seen.recv()).await.unwrap().2, 3);
    sessions.terminate(&bob.path).await.unwrap();
    assert!(
        bob.child.is_closed(),
        "a terminated pool child is deleted: its inbox closes"
    );
    tree.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_pool_whose_template_is_a_supervisor_is_refused_before_anything_starts() {
    let err = Tree::new(root())
        .pool(
            ChildSpec::supervisor("bad", SupervisorSpec::new()),
            Pool::new(
                ChildSpec::supervisor("sub", SupervisorSpec::new()),
                5,
                |_ctx, _: ()| async { Ok::<(), String>(()) },
            ),
        )
        .start()
        .unwrap_err();
    assert_eq!(err, BuildError::NotAWorker { path: "bad/sub".into() });
}

#[tokio::test(start_paused = true)]
async fn lookups_and_starts_say_what_is_wrong() {
    let (tx, _runs) = mpsc::unbounded_channel();
    let tree = idle_pool(5, tx)
        .task(ChildSpec::worker("plain"), |ctx| async move {
            ctx.stopped().await;
            Ok::<(), String>(())
        })
        .start()
        .unwrap();
    assert_eq!(
        tree.pool::<u32, NoInbox>("nope").await.unwrap_err(),
        PoolRefError::NotFound("nope".into())
    );
    assert_eq!(
        tree.pool::<u32, NoInbox>("plain").await.unwrap_err(),
        PoolRefError::NotAPool("plain".into())
    );
    assert_eq!(
        tree.pool::<u32, NoInbox>("").await.unwrap_err(),
        PoolRefError::NotAPool(String::new())
    );
    match tree.pool::<String, NoInbox>("jobs").await {
        Err(PoolRefError::WrongType { path, expected, found }) => {
            assert_eq!(path, "jobs");
            assert!(expected.contains("String"), "{expected}");
            assert!(found.contains("u32"), "{found}");
        }
        other => panic!("expected a wrong type: {other:?}"),
    }
    assert!(matches!(
        tree.pool::<u32, u64>("jobs").await,
        Err(PoolRefError::WrongType { .. })
    ));
    let pool = jobs(&tree).await;
    for outside in ["plain", "jobs", "jobs/", "jobsx/job-1", "jobs/job-1/x"] {
        assert!(
            matches!(pool.terminate(outside).await, Err(PoolError::NotInPool { .. })),
            "{outside}"
        );
    }
    // The pool deleted: its refs say so.
    tree.request(Request::TerminateChild { path: "jobs".into() })
        .await
        .unwrap();
    assert!(matches!(
        pool.start(1).await,
        Err(PoolError::Request(RequestError::NotRunning(_)))
    ));
    tree.request(Request::DeleteChild { path: "jobs".into() })
        .await
        .unwrap();
    assert_eq!(pool.start(1).await.unwrap_err(), PoolError::Gone("jobs".into()));
    tree.shutdown().await;
    assert_eq!(
        pool.start(1).await.unwrap_err(),
        PoolError::Request(RequestError::TreeDown)
    );
    assert_eq!(
        tree.pool::<u32, NoInbox>("jobs").await.unwrap_err(),
        PoolRefError::TreeDown
    );
}

#[tokio::test(start_paused = true)]
async fn a_pool_given_a_worker_spec_is_refused_before_anything_starts() {
    let err = Tree::new(root())
        .pool(
            ChildSpec::worker("jobs"),
            Pool::new(ChildSpec::worker("job"), 5, |_ctx, _: ()| async {
                Ok::<(), String>(())
            }),
        )
        .start()
        .unwrap_err();
    assert_eq!(err, BuildError::NotASupervisor { path: "jobs".into() });
}

#[tokio::test(start_paused = true)]
async fn a_pool_child_restarts_with_its_own_arguments() {
    let runs = Arc::new(AtomicU32::new(0));
    let (tx, mut seen) = mpsc::unbounded_channel();
    let r = Arc::clone(&runs);
    let tree = Tree::new(root())
        .pool(
            ChildSpec::supervisor("jobs", SupervisorSpec::new().intensity(100)),
            Pool::new(ChildSpec::worker("job"), 5, move |ctx, arg: String| {
                let n = r.fetch_add(1, Ordering::SeqCst);
                let seen = tx.clone();
                async move {
                    let _ = seen.send(arg);
                    if n == 0 {
                        return Err("first run fails");
                    }
                    ctx.stopped().await;
                    Ok(())
                }
            }),
        )
        .start()
        .unwrap();
    let pool: PoolRef<String> = tree.pool("jobs").await.unwrap();
    pool.start("x".into()).await.unwrap();
    assert_eq!(guarded("run 1", seen.recv()).await.as_deref(), Some("x"));
    assert_eq!(guarded("run 2", seen.recv()).await.as_deref(), Some("x"));
    tree.shutdown().await;
}

/// 100,000 children started through one pool, then stopped: 1,000 one by
/// one (terminate and delete), the rest by shutting the tree down, the pool
/// stopping them all at once (`ShutdownOrder::Parallel`). Every engine
/// request is O(log n) (docs/SEMANTICS.md §11, on dynamic children).
#[tokio::test(start_paused = true)]
async fn a_hundred_thousand_children_are_started_and_stopped() {
    const N: u32 = 100_000;
    let started = Arc::new(AtomicU32::new(0));
    let s = Arc::clone(&started);
    let tree = Tree::new(root())
        .pool(
            ChildSpec::supervisor("jobs", SupervisorSpec::new().shutdown_order(ShutdownOrder::Parallel)),
            Pool::new(ChildSpec::worker("job"), N as usize, move |ctx, _: u32| {
                s.fetch_add(1, Ordering::Relaxed);
                async move {
                    ctx.stopped().await;
                    Ok::<(), String>(())
                }
            }),
        )
        .start()
        .unwrap();
    let pool = jobs(&tree).await;
    let clock = std::time::Instant::now();
    // 8 starters at a time, so that requests queue at the pool supervisor too.
    let starters: Vec<_> = (0..8)
        .map(|k| {
            let pool = pool.clone();
            tokio::spawn(async move {
                for i in (k..N).step_by(8) {
                    pool.start(i).await.expect("room for every child");
                }
            })
        })
        .collect();
    for s in starters {
        s.await.unwrap();
    }
    let start_time = clock.elapsed();
    assert_eq!(started.load(Ordering::Relaxed), N);
    assert_eq!(pool.len(), N as usize);
    assert!(matches!(pool.start(0).await, Err(PoolError::Full { .. })));
    for n in 1..=1_000 {
        pool.terminate(&format!("jobs/job-{n}")).await.unwrap();
    }
    assert_eq!(pool.len(), N as usize - 1_000);
    assert!(tree.shutdown().await.is_normal());
    eprintln!(
        "{N} pool children: started in {start_time:?}, 1,000 stopped one by one and the rest by a parallel shutdown, {:?} in all",
        clock.elapsed()
    );
}

/// A pool of `n` children that ignore their stop, each killed at its 1 s
/// shutdown deadline, under `order`: how long (paused time) the pool
/// supervisor takes to stop.
async fn time_to_stop_a_pool(order: ShutdownOrder, n: u32) -> Duration {
    let tree = Tree::new(root())
        .pool(
            ChildSpec::supervisor("jobs", SupervisorSpec::new().shutdown_order(order)),
            Pool::new(
                ChildSpec::worker("job").shutdown(Shutdown::Timeout(Duration::from_secs(1))),
                n as usize,
                |_ctx, _: u32| async move {
                    std::future::pending::<()>().await;
                    Ok::<(), String>(())
                },
            ),
        )
        .start()
        .unwrap();
    let pool = jobs(&tree).await;
    for i in 0..n {
        pool.start(i).await.unwrap();
    }
    let before = tokio::time::Instant::now();
    tree.request(Request::TerminateChild { path: "jobs".into() })
        .await
        .unwrap();
    let took = tokio::time::Instant::now() - before;
    assert!(pool.is_empty());
    tree.shutdown().await;
    took
}

#[tokio::test(start_paused = true)]
async fn a_pool_with_parallel_shutdown_stops_all_its_children_at_once() {
    // Reverse (the default, OTP's order for other supervisors): one deadline after another.
    assert_eq!(
        time_to_stop_a_pool(ShutdownOrder::Reverse, 20).await,
        Duration::from_secs(20)
    );
    // Parallel (OTP's order for simple_one_for_one): one deadline for all.
    assert_eq!(
        time_to_stop_a_pool(ShutdownOrder::Parallel, 20).await,
        Duration::from_secs(1)
    );
}

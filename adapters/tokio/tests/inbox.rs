//! Inboxes that survive restarts: what a task child with an inbox receives
//! across crashes, stops, kills and abandoned runs, how senders are held
//! back and refused, and when an inbox closes (docs/ADAPTER.md, "Mailboxes
//! and pools"). Time is tokio's paused clock unless a test needs a second
//! worker thread; timeouts are hang guards only.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use tokio::sync::{mpsc, oneshot};
use vigil_core::{ChildSpec, Request, Restart, Shutdown, SupervisorSpec};
use vigil_tokio::{
    CallError, CastError, ChildRef, ChildRefError, Children, Inbox, Tree, TreeHandle, TryCastError, TryRecvError,
};

/// A hang guard, in paused (virtual) time.
const GUARD: Duration = Duration::from_secs(600);

fn cap(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).expect("a capacity above 0")
}

fn tree_spec() -> SupervisorSpec {
    SupervisorSpec::new()
        .intensity(1_000_000)
        .period(Duration::from_secs(1))
}

async fn guarded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(GUARD, f).await {
        Ok(v) => v,
        Err(_) => panic!("hang guard: {what}"),
    }
}

async fn request(tree: &TreeHandle, r: Request) {
    tree.request(r).await.expect("request accepted");
}

async fn delete(tree: &TreeHandle, path: &str) {
    request(tree, Request::TerminateChild { path: path.into() }).await;
    request(tree, Request::DeleteChild { path: path.into() }).await;
}

/// What a run does with a message once it has recorded it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    Handle,
    Fail,
    Panic,
}

#[derive(Debug)]
struct Job {
    sender: usize,
    seq: usize,
    act: Act,
}

/// A child that records every message it takes (sender, seq) in `log`, then
/// fails or panics if the message says so.
fn recording_tree(log: Arc<Mutex<Vec<(usize, usize)>>>, capacity: usize) -> Tree {
    Tree::new(tree_spec()).task_with_inbox(
        ChildSpec::worker("rec"),
        cap(capacity),
        move |_ctx, mut inbox: Inbox<Job>| {
            let log = Arc::clone(&log);
            async move {
                while let Some(job) = inbox.recv().await {
                    log.lock().unwrap().push((job.sender, job.seq));
                    match job.act {
                        Act::Handle => {}
                        Act::Fail => return Err(format!("job {}/{} fails", job.sender, job.seq)),
                        Act::Panic => panic!("job {}/{} panics", job.sender, job.seq),
                    }
                }
                Ok(())
            }
        },
    )
}

/// Every sender's jobs are sent with `cast` (each waiting for room), the
/// child crashing on the jobs that say so; then every job was received
/// exactly once, each sender's in its order.
async fn no_job_is_lost_across_crashes(plan: Vec<Vec<Act>>, capacity: usize) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let tree = recording_tree(Arc::clone(&log), capacity).start().unwrap();
    let rec = tree.child::<Job>("rec").await.unwrap();
    let total: usize = plan.iter().map(Vec::len).sum();
    let mut senders = Vec::new();
    for (sender, acts) in plan.clone().into_iter().enumerate() {
        let rec = rec.clone();
        senders.push(tokio::spawn(async move {
            for (seq, act) in acts.into_iter().enumerate() {
                rec.cast(Job { sender, seq, act }).await.expect("the inbox stays open");
            }
        }));
    }
    for s in senders {
        guarded("senders", s).await.unwrap();
    }
    guarded("every job received", async {
        while log.lock().unwrap().len() < total {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    let log = log.lock().unwrap().clone();
    assert_eq!(log.len(), total, "no job twice: {log:?}");
    for (sender, acts) in plan.iter().enumerate() {
        let seqs: Vec<usize> = log.iter().filter(|(s, _)| *s == sender).map(|(_, q)| *q).collect();
        assert_eq!(seqs, (0..acts.len()).collect::<Vec<_>>(), "sender {sender} in order");
    }
    assert!(tree.shutdown().await.is_normal());
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![6 => Just(Act::Handle), 2 => Just(Act::Fail), 1 => Just(Act::Panic)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn across_any_crash_points_no_accepted_message_is_lost_and_each_senders_order_is_kept(
        plan in prop::collection::vec(prop::collection::vec(act(), 0..40), 1..4),
        capacity in 1usize..5,
    ) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(true)
            .build()
            .unwrap()
            .block_on(no_job_is_lost_across_crashes(plan, capacity));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_two_worker_threads_no_message_is_lost_either() {
    let plan: Vec<Vec<Act>> = (0..3)
        .map(|s| {
            (0..400)
                .map(|i| match (i * 7 + s) % 23 {
                    0 => Act::Fail,
                    1 => Act::Panic,
                    _ => Act::Handle,
                })
                .collect()
        })
        .collect();
    no_job_is_lost_across_crashes(plan, 3).await;
}

/// A child whose runs report their generation and every message they get.
fn echo_tree(seen: mpsc::UnboundedSender<(u64, u32)>, spec: ChildSpec, capacity: usize) -> Tree {
    Tree::new(tree_spec()).task_with_inbox(spec, cap(capacity), move |ctx, mut inbox: Inbox<u32>| {
        let seen = seen.clone();
        async move {
            while let Some(n) = inbox.recv().await {
                let _ = seen.send((ctx.generation(), n));
                if n == 0 {
                    return Err("zero".to_owned());
                }
            }
            Ok(())
        }
    })
}

#[tokio::test(start_paused = true)]
async fn messages_sent_while_the_child_restarts_wait_for_its_next_run() {
    let (tx, mut seen) = mpsc::unbounded_channel();
    // A backoff keeps the child down a while after each crash.
    let spec = ChildSpec::worker("w").backoff(vigil_core::Backoff::exponential(
        Duration::from_secs(5),
        Duration::from_secs(5),
    ));
    let tree = echo_tree(tx, spec, 8).start().unwrap();
    let w = tree.child::<u32>("w").await.unwrap();
    w.cast(0).await.unwrap();
    let (first, _) = seen.recv().await.unwrap();
    // The child is down for 5 s: these wait in its inbox.
    for n in 1..=3 {
        w.cast(n).await.unwrap();
    }
    assert_eq!(w.len(), 3);
    let got: Vec<(u64, u32)> = vec![
        seen.recv().await.unwrap(),
        seen.recv().await.unwrap(),
        seen.recv().await.unwrap(),
    ];
    assert!(got.iter().all(|(g, _)| *g > first), "received by a later run: {got:?}");
    assert_eq!(got.iter().map(|(_, n)| *n).collect::<Vec<_>>(), [1, 2, 3]);
    tree.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_stopped_run_leaves_the_queued_messages_to_the_next_run() {
    let (tx, mut seen) = mpsc::unbounded_channel();
    let (gate_tx, gate) = tokio::sync::watch::channel(false);
    // The run takes one message, then waits for the gate before the next.
    let tree = Tree::new(tree_spec())
        .task_with_inbox(ChildSpec::worker("w"), cap(8), move |ctx, mut inbox: Inbox<u32>| {
            let (seen, mut gate) = (tx.clone(), gate.clone());
            async move {
                while let Some(n) = inbox.recv().await {
                    let _ = seen.send((ctx.generation(), n));
                    let _ = gate.wait_for(|open| *open).await;
                }
                Ok::<(), String>(())
            }
        })
        .start()
        .unwrap();
    let w = tree.child::<u32>("w").await.unwrap();
    for n in 1..=3 {
        w.cast(n).await.unwrap();
    }
    let (g1, first) = seen.recv().await.unwrap();
    assert_eq!(first, 1);
    // Stop: the run finishes its message, and its next `recv` is `None`.
    let stop = tokio::spawn({
        let tree = tree.clone();
        async move { tree.request(Request::TerminateChild { path: "w".into() }).await }
    });
    tokio::task::yield_now().await;
    gate_tx.send(true).unwrap();
    stop.await.unwrap().unwrap();
    assert_eq!(w.len(), 2, "2 and 3 stay queued");
    request(&tree, Request::RestartChild { path: "w".into() }).await;
    let rest = [seen.recv().await.unwrap(), seen.recv().await.unwrap()];
    assert!(rest.iter().all(|(g, _)| *g > g1));
    assert_eq!(rest.map(|(_, n)| n), [2, 3]);
    tree.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_run_killed_while_waiting_in_recv_gives_the_inbox_to_the_next_run() {
    let (tx, mut seen) = mpsc::unbounded_channel();
    // Ignores its stop: it is killed (its future dropped) inside `recv`.
    let tree = Tree::new(tree_spec())
        .task_with_inbox(
            ChildSpec::worker("w").shutdown(Shutdown::Brutal),
            cap(4),
            move |ctx, mut inbox: Inbox<u32>| {
                let seen = tx.clone();
                async move {
                    loop {
                        match inbox.recv().await {
                            Some(n) => {
                                let _ = seen.send((ctx.generation(), n));
                            }
                            None => std::future::pending::<()>().await,
                        }
                    }
                    #[allow(unreachable_code)]
                    Ok::<(), String>(())
                }
            },
        )
        .start()
        .unwrap();
    let w = tree.child::<u32>("w").await.unwrap();
    w.cast(1).await.unwrap();
    let (g1, _) = seen.recv().await.unwrap();
    request(&tree, Request::TerminateChild { path: "w".into() }).await;
    w.cast(2).await.unwrap();
    request(&tree, Request::RestartChild { path: "w".into() }).await;
    let (g2, n) = seen.recv().await.unwrap();
    assert!(g2 > g1);
    assert_eq!(n, 2);
    tree.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_full_inbox_holds_cast_back_and_try_cast_refuses() {
    let (gate_tx, gate) = tokio::sync::watch::channel(false);
    let (tx, mut seen) = mpsc::unbounded_channel();
    // Reads nothing until the gate opens.
    let tree = Tree::new(tree_spec())
        .task_with_inbox(ChildSpec::worker("w"), cap(2), move |_ctx, mut inbox: Inbox<u32>| {
            let (mut gate, seen) = (gate.clone(), tx.clone());
            async move {
                let _ = gate.wait_for(|open| *open).await;
                while let Some(n) = inbox.recv().await {
                    let _ = seen.send(n);
                }
                Ok::<(), String>(())
            }
        })
        .start()
        .unwrap();
    let w = tree.child::<u32>("w").await.unwrap();
    assert_eq!(w.capacity(), 2);
    w.cast(1).await.unwrap();
    assert_eq!(w.try_cast(2), Ok(()));
    assert_eq!(w.try_cast(3), Err(TryCastError::Full(3)));
    let blocked = tokio::spawn({
        let w = w.clone();
        async move { w.cast(3).await }
    });
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(!blocked.is_finished(), "cast waits while the inbox is full");
    gate_tx.send(true).unwrap();
    guarded("the held-back cast", blocked).await.unwrap().unwrap();
    let got = [
        seen.recv().await.unwrap(),
        seen.recv().await.unwrap(),
        seen.recv().await.unwrap(),
    ];
    assert_eq!(got, [1, 2, 3]);
    tree.shutdown().await;
}

enum Ask {
    /// Answers.
    Echo(u32, oneshot::Sender<u32>),
    /// Keeps the reply sender and never answers.
    Ignore(oneshot::Sender<u32>),
    /// The run fails while holding the reply sender.
    Fail(oneshot::Sender<u32>),
    /// The run panics while holding the reply sender.
    Panic(oneshot::Sender<u32>),
}

fn asking_tree() -> Tree {
    Tree::new(tree_spec()).task_with_inbox(
        ChildSpec::worker("srv"),
        cap(4),
        |_ctx, mut inbox: Inbox<Ask>| async move {
            let mut kept = Vec::new();
            while let Some(ask) = inbox.recv().await {
                match ask {
                    Ask::Echo(n, reply) => {
                        let _ = reply.send(n);
                    }
                    Ask::Ignore(reply) => kept.push(reply),
                    Ask::Fail(_reply) => return Err("failed while handling a call"),
                    Ask::Panic(_reply) => panic!("panicked while handling a call"),
                }
            }
            Ok(())
        },
    )
}

#[tokio::test(start_paused = true)]
async fn call_replies_times_out_and_fails_at_once_when_its_handler_crashes() {
    let tree = asking_tree().start().unwrap();
    let srv = tree.child::<Ask>("srv").await.unwrap();
    let t = Duration::from_secs(5);
    assert_eq!(srv.call(|r| Ask::Echo(7, r), t).await, Ok(7));

    let before = tokio::time::Instant::now();
    assert_eq!(srv.call(Ask::Ignore, t).await, Err(CallError::Timeout));
    assert!(tokio::time::Instant::now() - before >= t, "waited its timeout");

    // A crash while handling: the caller hears at once, long before its timeout.
    let long = Duration::from_secs(3600);
    let before = tokio::time::Instant::now();
    assert_eq!(srv.call(Ask::Fail, long).await, Err(CallError::Dropped));
    assert_eq!(srv.call(Ask::Panic, long).await, Err(CallError::Dropped));
    assert!(tokio::time::Instant::now() - before < long);
    // The restarted child serves the next call.
    assert_eq!(srv.call(|r| Ask::Echo(8, r), t).await, Ok(8));
    assert_eq!(srv.call(|r| Ask::Echo(9, r), Duration::MAX).await, Ok(9));
    tree.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn deleting_the_child_closes_its_inbox_for_every_sender_waiting_ones_included() {
    let (gate_tx, gate) = tokio::sync::watch::channel(false);
    // Takes one message and then waits for the gate (which never opens).
    let tree = Tree::new(tree_spec())
        .task_with_inbox(
            ChildSpec::worker("w").shutdown(Shutdown::Brutal),
            cap(1),
            move |_ctx, mut inbox: Inbox<Ask>| {
                let mut gate = gate.clone();
                async move {
                    let _first = inbox.recv().await;
                    let _ = gate.wait_for(|open| *open).await;
                    Ok::<(), String>(())
                }
            },
        )
        .start()
        .unwrap();
    let w = tree.child::<Ask>("w").await.unwrap();
    let (r, _keep) = oneshot::channel();
    w.cast(Ask::Ignore(r)).await.unwrap(); // taken by the run
    let queued_call = tokio::spawn({
        let w = w.clone();
        async move { w.call(Ask::Ignore, GUARD).await }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let waiting_cast = tokio::spawn({
        let w = w.clone();
        async move {
            w.cast(Ask::Echo(3, oneshot::channel().0))
                .await
                .map_err(|CastError(m)| m)
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!waiting_cast.is_finished(), "held back: the inbox is full");
    delete(&tree, "w").await;
    assert!(matches!(
        guarded("waiting cast", waiting_cast).await.unwrap(),
        Err(Ask::Echo(3, _))
    ));
    assert_eq!(
        guarded("queued call", queued_call).await.unwrap(),
        Err(CallError::Closed)
    );
    assert!(w.is_closed());
    assert!(matches!(
        w.try_cast(Ask::Ignore(oneshot::channel().0)),
        Err(TryCastError::Closed(_))
    ));
    assert_eq!(w.call(Ask::Ignore, GUARD).await, Err(CallError::Closed));
    assert_eq!(
        tree.child::<Ask>("w").await.unwrap_err(),
        ChildRefError::NotFound("w".into())
    );
    drop(gate_tx);
    tree.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_child_added_again_under_the_same_name_has_a_new_inbox() {
    let (tx, mut seen) = mpsc::unbounded_channel();
    let tree = echo_tree(tx.clone(), ChildSpec::worker("w"), 4).start().unwrap();
    let old = tree.child::<u32>("w").await.unwrap();
    delete(&tree, "w").await;
    let new = tree
        .start_task_with_inbox("", ChildSpec::worker("w"), cap(4), move |ctx, mut inbox: Inbox<u32>| {
            let seen = tx.clone();
            async move {
                while let Some(n) = inbox.recv().await {
                    let _ = seen.send((ctx.generation(), n));
                }
                Ok::<(), String>(())
            }
        })
        .await
        .unwrap();
    assert_eq!(old.cast(1).await, Err(CastError(1)), "old refs stay closed");
    new.cast(2).await.unwrap();
    tree.child::<u32>("w").await.unwrap().cast(3).await.unwrap();
    assert_eq!(seen.recv().await.unwrap().1, 2);
    assert_eq!(seen.recv().await.unwrap().1, 3);
    tree.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_temporary_child_that_ended_closes_its_inbox() {
    let (tx, mut seen) = mpsc::unbounded_channel();
    let tree = echo_tree(tx, ChildSpec::worker("t").restart(Restart::Temporary), 4)
        .start()
        .unwrap();
    let t = tree.child::<u32>("t").await.unwrap();
    t.cast(0).await.unwrap(); // it fails, and a temporary child is removed
    seen.recv().await.unwrap();
    guarded("the inbox closes", async {
        while !t.is_closed() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert_eq!(t.cast(1).await, Err(CastError(1)));
    tree.shutdown().await;
}

/// A nested supervisor `grp` (intensity 0: it gives up at the first crash,
/// and the root restarts it) with one static child `w` with an inbox.
fn nested_tree(seen: mpsc::UnboundedSender<(u64, u32)>) -> Tree {
    let inner = Children::new().task_with_inbox(ChildSpec::worker("w"), cap(8), move |ctx, mut inbox: Inbox<u32>| {
        let seen = seen.clone();
        async move {
            while let Some(n) = inbox.recv().await {
                let _ = seen.send((ctx.generation(), n));
                if n == 0 {
                    return Err("zero".to_owned());
                }
            }
            Ok(())
        }
    });
    Tree::new(tree_spec()).supervisor(ChildSpec::supervisor("grp", SupervisorSpec::new().intensity(0)), inner)
}

#[tokio::test(start_paused = true)]
async fn the_inbox_survives_a_restart_of_the_supervisor_above_the_child() {
    let (tx, mut seen) = mpsc::unbounded_channel();
    let tree = nested_tree(tx).start().unwrap();
    let w = tree.child::<u32>("grp/w").await.unwrap();
    w.cast(0).await.unwrap(); // `grp` gives up; the root restarts it, and `w` with it
    w.cast(1).await.unwrap();
    let (g0, _) = seen.recv().await.unwrap();
    let (g1, n) = seen.recv().await.unwrap();
    assert!(g1 > g0);
    assert_eq!(n, 1);
    assert!(!w.is_closed());
    tree.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn removing_a_supervisor_closes_the_inboxes_below_it_and_a_rebuilt_child_gets_a_new_one() {
    let (tx, mut seen) = mpsc::unbounded_channel();
    let tree = nested_tree(tx.clone()).start().unwrap();
    // A static child of a nested supervisor, deleted: its inbox closes, and
    // when `grp` restarts it builds `w` again, with a new inbox.
    let w = tree.child::<u32>("grp/w").await.unwrap();
    delete(&tree, "grp/w").await;
    assert!(w.is_closed());
    request(&tree, Request::TerminateChild { path: "grp".into() }).await;
    request(&tree, Request::RestartChild { path: "grp".into() }).await;
    let w2 = tree.child::<u32>("grp/w").await.unwrap();
    assert!(!w2.is_closed());
    w2.cast(5).await.unwrap();
    assert_eq!(seen.recv().await.unwrap().1, 5);
    assert!(w.is_closed(), "the old ref stays closed");
    // Deleting the supervisor closes the inboxes of its children.
    delete(&tree, "grp").await;
    assert!(w2.is_closed());
    tree.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn dynamic_children_of_a_restarted_supervisor_are_gone_and_their_inboxes_closed() {
    let (tx, mut seen) = mpsc::unbounded_channel();
    let tree = nested_tree(tx.clone()).start().unwrap();
    let d = tree
        .start_task_with_inbox(
            "grp",
            ChildSpec::worker("d"),
            cap(2),
            |ctx, _inbox: Inbox<u32>| async move {
                ctx.stopped().await;
                Ok::<(), String>(())
            },
        )
        .await
        .unwrap();
    assert_eq!(d.path(), "grp/d");
    tree.child::<u32>("grp/w").await.unwrap().cast(0).await.unwrap(); // `grp` restarts
    seen.recv().await.unwrap();
    guarded("d's inbox closes", async {
        while !d.is_closed() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await;
    assert_eq!(
        tree.child::<u32>("grp/d").await.unwrap_err(),
        ChildRefError::NotFound("grp/d".into())
    );
    tree.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn lookups_say_what_is_wrong_with_a_path_or_a_type() {
    let (tx, _seen) = mpsc::unbounded_channel();
    let tree = echo_tree(tx, ChildSpec::worker("w"), 4)
        .task(ChildSpec::worker("plain"), |ctx| async move {
            ctx.stopped().await;
            Ok::<(), String>(())
        })
        .start()
        .unwrap();
    match tree.child::<String>("w").await {
        Err(ChildRefError::WrongType { path, expected, found }) => {
            assert_eq!(path, "w");
            assert_eq!(expected, std::any::type_name::<String>());
            assert_eq!(found, "u32");
        }
        other => panic!("expected a wrong type: {other:?}"),
    }
    assert_eq!(
        tree.child::<u32>("plain").await.unwrap_err(),
        ChildRefError::NoInbox("plain".into())
    );
    assert_eq!(
        tree.child::<u32>("").await.unwrap_err(),
        ChildRefError::NoInbox(String::new())
    );
    assert_eq!(
        tree.child::<u32>("nope").await.unwrap_err(),
        ChildRefError::NotFound("nope".into())
    );
    let w = tree.child::<u32>("w").await.unwrap();
    tree.shutdown().await;
    assert_eq!(
        w.cast(1).await,
        Err(CastError(1)),
        "the tree is down: every inbox is closed"
    );
    assert_eq!(tree.child::<u32>("w").await.unwrap_err(), ChildRefError::TreeDown);
}

#[tokio::test(start_paused = true)]
async fn kill_all_closes_every_inbox_before_the_tree_is_reported_down() {
    let (tx, _seen) = mpsc::unbounded_channel();
    let tree = echo_tree(tx, ChildSpec::worker("w"), 4).start().unwrap();
    let w = tree.child::<u32>("w").await.unwrap();
    tree.kill_all().await;
    tree.wait().await;
    assert!(w.is_closed());
}

#[tokio::test(start_paused = true)]
async fn extreme_capacities_and_timeouts_work() {
    let tree = Tree::new(tree_spec())
        .task_with_inbox(
            ChildSpec::worker("big"),
            NonZeroUsize::MAX,
            |_ctx, mut inbox: Inbox<Ask>| async move {
                while let Some(ask) = inbox.recv().await {
                    if let Ask::Echo(n, r) = ask {
                        let _ = r.send(n);
                    }
                }
                Ok::<(), String>(())
            },
        )
        .start()
        .unwrap();
    let big = tree.child::<Ask>("big").await.unwrap();
    assert!(big.capacity() > 1 << 60);
    assert_eq!(big.call(|r| Ask::Echo(1, r), Duration::MAX).await, Ok(1));
    // A zero timeout never waits: no reply can be there yet.
    assert_eq!(
        big.call(|r| Ask::Echo(2, r), Duration::ZERO).await,
        Err(CallError::Timeout)
    );
    tree.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_child_may_send_to_its_own_inbox() {
    let (tx, mut seen) = mpsc::unbounded_channel();
    let tree = Tree::new(tree_spec()).start().unwrap();
    let handle = tree.clone();
    tree.start_task_with_inbox(
        "",
        ChildSpec::worker("self"),
        cap(1),
        move |_ctx, mut inbox: Inbox<u32>| {
            let (handle, seen) = (handle.clone(), tx.clone());
            async move {
                let me = handle.child::<u32>("self").await.map_err(|e| e.to_string())?;
                while let Some(n) = inbox.recv().await {
                    let _ = seen.send(n);
                    if n < 3 {
                        me.cast(n + 1).await.map_err(|e| e.to_string())?;
                    }
                }
                Ok::<(), String>(())
            }
        },
    )
    .await
    .unwrap()
    .cast(1)
    .await
    .unwrap();
    assert_eq!(
        [seen.recv().await, seen.recv().await, seen.recv().await],
        [Some(1), Some(2), Some(3)]
    );
    tree.shutdown().await;
}

/// The abandoned run of docs/ADAPTER.md ("Task workers"): stuck in a poll
/// that never yields, it keeps trying to take messages; once killed it gets
/// none, and the next run receives every one sent after the kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_run_stuck_in_a_poll_takes_nothing_from_its_successor() {
    struct Release(Arc<AtomicBool>);
    impl Drop for Release {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let release = Arc::new(AtomicBool::new(false));
    let _release_at_end = Release(Arc::clone(&release));
    let stolen = Arc::new(Mutex::new(Vec::new()));
    let stuck_runs = Arc::new(AtomicU64::new(0));
    let (tx, mut seen) = mpsc::unbounded_channel();
    let (rel, st, sr) = (Arc::clone(&release), Arc::clone(&stolen), Arc::clone(&stuck_runs));
    let tree = Tree::new(tree_spec())
        .task_with_inbox(
            ChildSpec::worker("w").shutdown(Shutdown::Brutal),
            cap(16),
            move |ctx, mut inbox: Inbox<u32>| {
                let (rel, st, sr, seen) = (Arc::clone(&rel), Arc::clone(&st), Arc::clone(&sr), tx.clone());
                async move {
                    while let Some(n) = inbox.recv().await {
                        if n == 0 && sr.fetch_add(1, Ordering::SeqCst) == 0 {
                            // Never yields again until released: abandoned at its kill.
                            while !rel.load(Ordering::SeqCst) {
                                if let Ok(m) = inbox.try_recv() {
                                    st.lock().unwrap().push(m);
                                }
                                std::thread::sleep(Duration::from_millis(1));
                            }
                            return Ok(());
                        }
                        let _ = seen.send((ctx.generation(), n));
                    }
                    Ok::<(), String>(())
                }
            },
        )
        .start()
        .unwrap();
    let w = tree.child::<u32>("w").await.unwrap();
    w.cast(0).await.unwrap();
    let start = Instant::now();
    while stuck_runs.load(Ordering::SeqCst) == 0 {
        assert!(start.elapsed() < Duration::from_secs(30), "the run got stuck");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Brutal: killed at once, and abandoned (it is inside a poll).
    request(&tree, Request::TerminateChild { path: "w".into() }).await;
    assert_eq!(tree.abandoned_runs(), 1);
    for n in 1..=10 {
        w.cast(n).await.unwrap();
    }
    // The stuck run polls its inbox every millisecond: give it many chances
    // to take what is now queued for its successor.
    tokio::time::sleep(Duration::from_millis(50)).await;
    request(&tree, Request::RestartChild { path: "w".into() }).await;
    let mut got = Vec::new();
    for _ in 1..=10 {
        let (_, n) = tokio::time::timeout(Duration::from_secs(30), seen.recv())
            .await
            .unwrap()
            .unwrap();
        got.push(n);
    }
    assert_eq!(got, (1..=10).collect::<Vec<_>>());
    assert!(
        stolen.lock().unwrap().is_empty(),
        "the abandoned run took {:?}",
        stolen.lock().unwrap()
    );
    release.store(true, Ordering::SeqCst);
    tree.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_ref_is_cloneable_and_sendable_across_tasks() {
    fn is_ref<T: Clone + Send + Sync + 'static>() {}
    is_ref::<ChildRef<Ask>>();
    let (tx, mut seen) = mpsc::unbounded_channel();
    let tree = echo_tree(tx, ChildSpec::worker("w"), 1).start().unwrap();
    let w = tree.child::<u32>("w").await.unwrap();
    let tasks: Vec<_> = (1..=20)
        .map(|n| {
            let w = w.clone();
            tokio::spawn(async move { w.cast(n).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let mut got: Vec<u32> = Vec::new();
    for _ in 1..=20 {
        got.push(seen.recv().await.unwrap().1);
    }
    got.sort_unstable();
    assert_eq!(got, (1..=20).collect::<Vec<_>>());
    tree.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_stopping_run_may_drain_its_inbox_with_try_recv() {
    let (report, mut reports) = mpsc::unbounded_channel();
    let (tx, mut seen) = mpsc::unbounded_channel();
    // Handles messages until asked to stop, then drains what is queued.
    let tree = Tree::new(tree_spec())
        .task_with_inbox(ChildSpec::worker("w"), cap(8), move |ctx, mut inbox: Inbox<u32>| {
            let (report, seen) = (report.clone(), tx.clone());
            async move {
                let _ = report.send(inbox.try_recv());
                ctx.stopped().await;
                assert_eq!(inbox.recv().await, None, "a waiting receive ends at the stop");
                while let Ok(n) = inbox.try_recv() {
                    let _ = seen.send(n);
                }
                let _ = report.send(inbox.try_recv());
                Ok::<(), String>(())
            }
        })
        .start()
        .unwrap();
    assert_eq!(reports.recv().await.unwrap(), Err(TryRecvError::Empty));
    let w = tree.child::<u32>("w").await.unwrap();
    for n in 1..=3 {
        w.cast(n).await.unwrap();
    }
    request(&tree, Request::TerminateChild { path: "w".into() }).await;
    assert_eq!(
        [seen.recv().await, seen.recv().await, seen.recv().await],
        [Some(1), Some(2), Some(3)]
    );
    assert_eq!(reports.recv().await.unwrap(), Err(TryRecvError::Empty));
    assert!(w.is_empty());
    tree.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_closure_that_panics_before_returning_its_future_fails_that_start_only() {
    let (tx, mut seen) = mpsc::unbounded_channel();
    let calls = Arc::new(AtomicU64::new(0));
    let c = Arc::clone(&calls);
    let tree = Tree::new(tree_spec())
        .task_with_inbox(ChildSpec::worker("w"), cap(4), move |ctx, mut inbox: Inbox<u32>| {
            // The second call (the first restart's) panics in the closure itself.
            assert_ne!(
                c.fetch_add(1, Ordering::SeqCst),
                1,
                "the closure of the first restart panics"
            );
            let seen = tx.clone();
            async move {
                while let Some(n) = inbox.recv().await {
                    let _ = seen.send((ctx.generation(), n));
                    if n == 0 {
                        return Err("zero".to_owned());
                    }
                }
                Ok(())
            }
        })
        .start()
        .unwrap();
    let w = tree.child::<u32>("w").await.unwrap();
    w.cast(0).await.unwrap(); // the run fails; its restart's closure panics; the retry runs
    w.cast(1).await.unwrap();
    let (g0, _) = guarded("the first run", seen.recv()).await.unwrap();
    let (g2, n) = guarded("the retried run", seen.recv()).await.unwrap();
    assert_eq!(n, 1);
    assert!(g2 > g0 + 1, "a run in between failed to start ({g0}, {g2})");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(tree.driver_panic().is_none(), "not the driver's panic");
    assert!(tree.shutdown().await.is_normal());
}

#[tokio::test(start_paused = true)]
async fn a_queued_message_whose_drop_panics_does_not_take_the_tree_down_when_its_inbox_closes() {
    struct Grenade(Arc<AtomicU64>);
    impl Drop for Grenade {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
            panic!("a message that explodes when dropped");
        }
    }
    let dropped = Arc::new(AtomicU64::new(0));
    let tree = Tree::new(tree_spec())
        .task_with_inbox(
            ChildSpec::worker("w"),
            cap(4),
            |ctx, _inbox: Inbox<Grenade>| async move {
                ctx.stopped().await; // never reads
                Ok::<(), String>(())
            },
        )
        .task(ChildSpec::worker("other"), |ctx| async move {
            ctx.stopped().await;
            Ok::<(), String>(())
        })
        .start()
        .unwrap();
    let w = tree.child::<Grenade>("w").await.unwrap();
    w.cast(Grenade(Arc::clone(&dropped)))
        .await
        .unwrap_or_else(|_| panic!("open"));
    w.cast(Grenade(Arc::clone(&dropped)))
        .await
        .unwrap_or_else(|_| panic!("open"));
    delete(&tree, "w").await;
    assert_eq!(
        dropped.load(Ordering::SeqCst),
        2,
        "both dropped, the panic of the first notwithstanding"
    );
    assert!(tree.driver_panic().is_none());
    assert!(!tree.is_down());
    request(&tree, Request::TerminateChild { path: "other".into() }).await;
    assert!(tree.shutdown().await.is_normal());
}

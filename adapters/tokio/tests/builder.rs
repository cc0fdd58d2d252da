//! One statement of a nested supervisor (issue 13, defect 2): its strategy
//! and limits are in its `ChildSpec::supervisor`, its children in a
//! `Children`, and what would be ignored is refused by `start()` with a
//! typed error that names the path. Tokio's paused clock.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use vigil_core::{ChildSpec, ExitReason, SpecErrorKind, Strategy, SupervisorSpec};
use vigil_tokio::{BuildError, Children, EventKind, RunContext, Tree};

const HANG: Duration = Duration::from_secs(600);

/// A task that counts its runs, and crashes on its first.
fn crashes_once(runs: &Arc<AtomicU32>) -> impl Fn(RunContext) -> std::future::Ready<Result<(), String>> + Send + Sync {
    let runs = Arc::clone(runs);
    move |_ctx| {
        let first = runs.fetch_add(1, Ordering::SeqCst) == 0;
        std::future::ready(if first { Err("boom".into()) } else { Ok(()) })
    }
}

async fn idle(ctx: RunContext) -> Result<(), String> {
    ctx.stopped().await;
    Ok(())
}

/// One run of [`counted_idle`].
type Run = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send>>;

/// A task that counts its runs and waits to be stopped.
fn counted_idle(runs: &Arc<AtomicU32>) -> impl Fn(RunContext) -> Run + Send + Sync {
    let runs = Arc::clone(runs);
    move |ctx| {
        runs.fetch_add(1, Ordering::SeqCst);
        Box::pin(idle(ctx))
    }
}

#[tokio::test(start_paused = true)]
async fn a_nested_supervisor_runs_the_strategy_of_its_child_spec() {
    let (a_runs, b_runs) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let tree = Tree::new(SupervisorSpec::new())
        .supervisor(
            ChildSpec::supervisor("grp", SupervisorSpec::new().strategy(Strategy::OneForAll)),
            Children::new()
                .task(ChildSpec::worker("a"), counted_idle(&a_runs))
                .task(
                    ChildSpec::worker("b").restart(vigil_core::Restart::Transient),
                    crashes_once(&b_runs),
                ),
        )
        .start()
        .expect("a valid tree");
    let mut events = tree.events();
    let restart = tokio::time::timeout(HANG, async {
        loop {
            let e = events.recv().await.expect("not ended").expect("no lag");
            if let EventKind::Restart { child, strategy, .. } = e.kind {
                return (e.path, child, strategy);
            }
        }
    })
    .await
    .expect("a restart");
    assert_eq!(restart, ("grp".into(), "grp/b".into(), Strategy::OneForAll));
    tree.shutdown().await;
    // one_for_all: `a` was restarted with `b` (one_for_one would have left it).
    assert_eq!(a_runs.load(Ordering::SeqCst), 2);
    assert_eq!(b_runs.load(Ordering::SeqCst), 2);
}

#[tokio::test(start_paused = true)]
async fn a_root_spec_that_lists_children_is_refused_and_nothing_starts() {
    let runs = Arc::new(AtomicU32::new(0));
    let listing = SupervisorSpec::new().child(ChildSpec::worker("ghost"));
    let err = Tree::new(listing)
        .task(ChildSpec::worker("real"), counted_idle(&runs))
        .start()
        .unwrap_err();
    assert_eq!(
        err,
        BuildError::SpecHasChildren {
            path: String::new(),
            children: vec!["ghost".into()]
        }
    );
    assert!(err.to_string().contains("`/` lists children (ghost)"), "{err}");
    tokio::task::yield_now().await;
    assert_eq!(runs.load(Ordering::SeqCst), 0, "nothing ran");
}

#[tokio::test(start_paused = true)]
async fn a_nested_supervisor_spec_that_lists_children_is_refused() {
    let listing = SupervisorSpec::new()
        .child(ChildSpec::worker("x"))
        .child(ChildSpec::worker("y"));
    let err = Tree::new(SupervisorSpec::new())
        .supervisor(
            ChildSpec::supervisor("outer", SupervisorSpec::new()),
            Children::new().supervisor(ChildSpec::supervisor("inner", listing), Children::new()),
        )
        .start()
        .unwrap_err();
    assert_eq!(
        err,
        BuildError::SpecHasChildren {
            path: "outer/inner".into(),
            children: vec!["x".into(), "y".into()]
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_worker_spec_given_to_supervisor_and_the_reverse_are_refused() {
    let err = Tree::new(SupervisorSpec::new())
        .supervisor(
            ChildSpec::worker("grp"),
            Children::new().task(ChildSpec::worker("w"), idle),
        )
        .start()
        .unwrap_err();
    assert_eq!(err, BuildError::NotASupervisor { path: "grp".into() });
    let err = Tree::new(SupervisorSpec::new())
        .task(ChildSpec::supervisor("sup", SupervisorSpec::new()), idle)
        .start()
        .unwrap_err();
    assert_eq!(err, BuildError::NotAWorker { path: "sup".into() });
}

#[tokio::test(start_paused = true)]
async fn the_engines_own_spec_errors_come_through() {
    let err = Tree::new(SupervisorSpec::new())
        .task(ChildSpec::worker("twin"), idle)
        .task(ChildSpec::worker("twin"), idle)
        .start()
        .unwrap_err();
    let BuildError::Spec(spec) = err else {
        panic!("expected a spec error, got {err:?}")
    };
    assert_eq!(spec.kind, SpecErrorKind::DuplicateName { name: "twin".into() });
}

#[tokio::test(start_paused = true)]
async fn an_empty_nested_supervisor_is_a_valid_child() {
    let tree = Tree::new(SupervisorSpec::new())
        .supervisor(ChildSpec::supervisor("empty", SupervisorSpec::new()), Children::new())
        .start()
        .expect("a valid tree");
    assert_eq!(tree.shutdown().await, ExitReason::shutdown());
}

/// Nested far deeper than the engine accepts: refused with the engine's
/// own error, and dropped without overflowing the stack.
#[tokio::test(start_paused = true)]
async fn a_hostile_nesting_is_refused_and_dropped_without_overflow() {
    let mut children = Children::new();
    for _ in 0..200_000 {
        children = Children::new().supervisor(ChildSpec::supervisor("s", SupervisorSpec::new()), children);
    }
    let deep =
        Tree::new(SupervisorSpec::new()).supervisor(ChildSpec::supervisor("top", SupervisorSpec::new()), children);
    let err = deep.start().unwrap_err();
    let BuildError::Spec(spec) = err else {
        panic!("expected the engine's depth error, got {err:?}")
    };
    assert_eq!(
        spec.kind,
        SpecErrorKind::TooDeep {
            max: vigil_core::MAX_DEPTH
        }
    );
    // Built and dropped without being started, too.
    let mut unused = Children::new();
    for _ in 0..200_000 {
        unused = Children::new().supervisor(ChildSpec::supervisor("s", SupervisorSpec::new()), unused);
    }
    drop(unused);
}

/// The dynamic twin of `NotAWorker`: a supervisor's spec given to a
/// `start_*` of one worker is refused, naming the path, and nothing is added
/// (it used to start an empty supervisor and drop the code).
#[tokio::test(start_paused = true)]
async fn a_dynamic_worker_given_a_supervisor_spec_is_refused_and_nothing_is_added() {
    use vigil_core::{Reply, Request, RequestError};
    use vigil_tokio::{BlockingOptions, ProcessSpec};

    let tree = Tree::new(SupervisorSpec::new())
        .task(ChildSpec::worker("a"), idle)
        .start()
        .expect("valid tree");
    let sup = || ChildSpec::supervisor("x", SupervisorSpec::new());
    let refused = |r: Result<Reply, RequestError>| match r {
        Err(RequestError::BadSpec(e)) => (e.path, e.kind),
        other => panic!("refused, not {other:?}"),
    };
    let expected = ("x".to_owned(), SpecErrorKind::NotAWorker);
    assert_eq!(refused(tree.start_task("", sup(), idle).await), expected);
    assert_eq!(
        refused(tree.start_process("", sup(), ProcessSpec::new(["true"])).await),
        expected
    );
    let blocking = tree
        .start_blocking("", sup(), BlockingOptions::new(), |_ctx| Ok::<(), String>(()))
        .await;
    assert_eq!(refused(blocking), expected);
    let with_inbox = tree
        .start_task_with_inbox(
            "",
            sup(),
            std::num::NonZeroUsize::MIN,
            |_ctx, _inbox: vigil_tokio::Inbox<u8>| async { Ok::<(), String>(()) },
        )
        .await;
    match with_inbox {
        Err(RequestError::BadSpec(e)) => assert_eq!((e.path, e.kind), expected),
        other => panic!("refused, not {:?}", other.map(|_| ())),
    }
    let children = tree.request(Request::WhichChildren { path: String::new() }).await;
    let Ok(Reply::Children(list)) = children else {
        panic!("{children:?}")
    };
    assert_eq!(list.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["a"]);
    assert!(tree.shutdown().await.is_normal());
}

//! What an idle process child costs vigil's heap: the bytes still allocated
//! per child once its output was read, counted by a global allocator
//! (issue 16: at most 8 KB of vigil's memory per idle process child, with
//! output in the default tracing mode). The count is a slope: the live bytes
//! with 220 children minus those with 20, over the 200 more, so what the
//! tree and the runtime cost whatever their size drops out.
//!
//! Both ways of starting a process are counted: under the process guard
//! (this test binary serves as one, see `common/guard_hook.rs`), as `vigil
//! run` starts them, and forked directly. This binary holds this one test:
//! the counter sees every allocation of the process, so no other test may
//! run beside it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use vigil_core::{ChildSpec, ChildState, Reply, Request, SupervisorSpec};
use vigil_tokio::{ProcessSpec, Tree, TreeHandle};

// What `common/guard_hook.rs` calls.
use vigil_tokio::guard;

#[path = "common/guard_hook.rs"]
mod guard_hook;

/// The system allocator, counting the bytes allocated and not yet freed.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counter only
// observes sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as is.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            LIVE.fetch_add(new_size, Ordering::Relaxed);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const SAFETY_NET: Duration = Duration::from_secs(120);

/// Counts the lines forwarded from the children (target `vigil::child`).
struct LineCounter;

static LINES: AtomicUsize = AtomicUsize::new(0);

impl tracing::Subscriber for LineCounter {
    fn enabled(&self, metadata: &tracing::Metadata<'_>) -> bool {
        metadata.target() == "vigil::child"
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, _: &tracing::Event<'_>) {
        LINES.fetch_add(1, Ordering::SeqCst);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Each child writes a line to stdout and one to stderr, then idles.
fn tree(n: usize, guarded: bool) -> Tree {
    let mut tree = Tree::new(SupervisorSpec::new()).process_guard(guarded);
    for i in 0..n {
        let spec = ProcessSpec::new(["sh", "-c", "echo out; echo err >&2; exec sleep 3600"]);
        tree = tree.process(ChildSpec::worker(format!("idle{i}")), spec);
    }
    tree
}

async fn running(sup: &TreeHandle) -> usize {
    let reply = sup
        .request(Request::WhichChildren { path: String::new() })
        .await
        .expect("which_children");
    let Reply::Children(children) = reply else {
        panic!("unexpected reply {reply:?}")
    };
    children.iter().filter(|c| c.state == ChildState::Running).count()
}

/// The live heap bytes with a tree of `n` idle children: every child
/// running, both of its lines forwarded (so both of its streams were read).
async fn live_with(n: usize, guarded: bool) -> usize {
    let lines_before = LINES.load(Ordering::SeqCst);
    let sup = tree(n, guarded).start().expect("a valid tree");
    tokio::time::timeout(SAFETY_NET, async {
        while running(&sup).await < n || LINES.load(Ordering::SeqCst) - lines_before < 2 * n {
            assert!(!sup.is_down(), "the tree went down");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("every child runs and wrote its lines (safety net)");
    let live = LIVE.load(Ordering::SeqCst);
    let _ = sup.shutdown().await;
    live
}

/// The heap bytes an idle child keeps: the slope from 20 to 220 children.
async fn per_idle_child(guarded: bool) -> usize {
    // A first tree warms up what is allocated once (runtime, channels).
    live_with(20, guarded).await;
    let small = live_with(20, guarded).await;
    let large = live_with(220, guarded).await;
    let per_child = large.saturating_sub(small) / 200;
    eprintln!("guarded {guarded}: {per_child} bytes per idle child ({small} live with 20 children, {large} with 220)");
    per_child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_process_child_keeps_at_most_8_kib_of_heap() {
    assert!(guard::is_available(), "the test binary serves as a guard");
    tracing::subscriber::set_global_default(LineCounter).expect("the only subscriber");
    for guarded in [true, false] {
        let per_child = per_idle_child(guarded).await;
        assert!(
            per_child <= 8 * 1024,
            "an idle child (guarded: {guarded}) keeps {per_child} bytes of heap"
        );
    }
}

//! What a child's inbox costs, next to plain tokio measured in the same run:
//!
//! 1. `cast` throughput: one sender casts N `u64` messages (then one that
//!    carries a oneshot, answered when all were received) to a task child's
//!    inbox through a `ChildRef`, against the same messages through a tokio
//!    bounded `mpsc` channel of the same capacity to a spawned task;
//! 2. `call` round trip: `ChildRef::call` (with its timeout) against sending
//!    a message that carries a `oneshot::Sender` over a bounded `mpsc`
//!    channel and awaiting the reply, bare and inside `tokio::time::timeout`
//!    (the timer `call` arms);
//! 3. memory per idle task child: live heap bytes of a tree of N idle task
//!    children with inboxes against N without, counted by this example's
//!    global allocator (every allocation and free of the process, so the
//!    driver's and tokio's own bookkeeping per child is included).
//!
//! ```sh
//! cargo run --release -p vigil-tokio --example mailbox_bench
//! cargo run --release -p vigil-tokio --example mailbox_bench -- 1000000 100000 10000
//! ```
//!
//! The optional arguments are the messages per `cast` round, the calls per
//! `call` round, and the children of the memory trees (defaults 1,000,000,
//! 100,000 and 10,000). Each throughput and latency figure is the median
//! of 5 rounds, after one round of warm-up; both sides of a comparison run
//! in alternation on the same runtime.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use vigil_core::{ChildSpec, SupervisorSpec};
use vigil_tokio::{ChildRef, Inbox, Tree, TreeHandle};

use common::flavor::Flavor;
use common::percentiles::Percentiles;

#[allow(dead_code)] // not every example reads every percentile helper
mod common;

/// Counts the bytes the process holds on the heap.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const CAPACITY: usize = 128;
const ROUNDS: usize = 5;
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What the throughput rounds send: work, then a request for the sum.
enum Item {
    Work(u64),
    Done(oneshot::Sender<u64>),
}

/// What the latency rounds send.
enum Ask {
    Echo(u64, oneshot::Sender<u64>),
}

async fn sink_tree() -> (TreeHandle, ChildRef<Item>, ChildRef<Ask>) {
    let cap = NonZeroUsize::new(CAPACITY).unwrap();
    let tree = Tree::new(SupervisorSpec::new())
        .task_with_inbox(
            ChildSpec::worker("sink"),
            cap,
            |_ctx, mut inbox: Inbox<Item>| async move {
                let mut sum = 0u64;
                while let Some(m) = inbox.recv().await {
                    match m {
                        Item::Work(x) => sum = sum.wrapping_add(x),
                        Item::Done(r) => {
                            let _ = r.send(sum);
                        }
                    }
                }
                Ok::<(), String>(())
            },
        )
        .task_with_inbox(
            ChildSpec::worker("echo"),
            cap,
            |_ctx, mut inbox: Inbox<Ask>| async move {
                while let Some(Ask::Echo(x, r)) = inbox.recv().await {
                    let _ = r.send(x);
                }
                Ok::<(), String>(())
            },
        )
        .start()
        .expect("valid tree");
    let sink = tree.child::<Item>("sink").await.expect("sink");
    let echo = tree.child::<Ask>("echo").await.expect("echo");
    (tree, sink, echo)
}

/// The plain tokio counterparts: an mpsc channel to a spawned task each.
fn plain_actors() -> (mpsc::Sender<Item>, mpsc::Sender<Ask>) {
    let (items, mut item_rx) = mpsc::channel::<Item>(CAPACITY);
    tokio::spawn(async move {
        let mut sum = 0u64;
        while let Some(m) = item_rx.recv().await {
            match m {
                Item::Work(x) => sum = sum.wrapping_add(x),
                Item::Done(r) => {
                    let _ = r.send(sum);
                }
            }
        }
    });
    let (asks, mut ask_rx) = mpsc::channel::<Ask>(CAPACITY);
    tokio::spawn(async move {
        while let Some(Ask::Echo(x, r)) = ask_rx.recv().await {
            let _ = r.send(x);
        }
    });
    (items, asks)
}

async fn casts_vigil(sink: &ChildRef<Item>, n: u64) -> Duration {
    let t = Instant::now();
    for i in 0..n {
        sink.cast(Item::Work(i)).await.expect("open");
    }
    let (done, sum) = oneshot::channel();
    sink.cast(Item::Done(done)).await.expect("open");
    black_box(sum.await.expect("sum"));
    t.elapsed()
}

async fn casts_mpsc(items: &mpsc::Sender<Item>, n: u64) -> Duration {
    let t = Instant::now();
    for i in 0..n {
        items.send(Item::Work(i)).await.expect("open");
    }
    let (done, sum) = oneshot::channel();
    items.send(Item::Done(done)).await.expect("open");
    black_box(sum.await.expect("sum"));
    t.elapsed()
}

/// How a round-trip round makes its calls.
#[derive(Clone, Copy)]
enum Caller {
    /// `ChildRef::call` with a 10 s timeout.
    Vigil,
    /// `ChildRef::call` with `Duration::MAX` (no timer).
    VigilNoTimer,
    /// A message carrying a `oneshot::Sender` over a bounded `mpsc`.
    Mpsc,
    /// The same inside `tokio::time::timeout` (10 s).
    MpscTimeout,
}

impl Caller {
    const ALL: [Caller; 4] = [Caller::Vigil, Caller::VigilNoTimer, Caller::Mpsc, Caller::MpscTimeout];

    fn name(self) -> &'static str {
        match self {
            Caller::Vigil => "vigil `call` (10 s timeout)",
            Caller::VigilNoTimer => "vigil `call` (`Duration::MAX`: no timer)",
            Caller::Mpsc => "tokio mpsc + oneshot",
            Caller::MpscTimeout => "tokio mpsc + oneshot in `tokio::time::timeout`",
        }
    }

    /// `n` round trips, each timed (ns).
    async fn calls(self, echo: &ChildRef<Ask>, asks: &mpsc::Sender<Ask>, n: u64) -> Vec<u64> {
        let mut samples = Vec::with_capacity(n as usize);
        for i in 0..n {
            let t = Instant::now();
            let answer = match self {
                Caller::Vigil => echo.call(|r| Ask::Echo(i, r), CALL_TIMEOUT).await.expect("reply"),
                Caller::VigilNoTimer => echo.call(|r| Ask::Echo(i, r), Duration::MAX).await.expect("reply"),
                Caller::Mpsc => plain_call(asks, i).await,
                Caller::MpscTimeout => tokio::time::timeout(CALL_TIMEOUT, plain_call(asks, i))
                    .await
                    .expect("in time"),
            };
            black_box(answer);
            samples.push(t.elapsed().as_nanos() as u64);
        }
        samples
    }
}

async fn plain_call(asks: &mpsc::Sender<Ask>, i: u64) -> u64 {
    let (reply, answer) = oneshot::channel();
    asks.send(Ask::Echo(i, reply)).await.expect("open");
    answer.await.expect("reply")
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Throughput and latency on one runtime flavor: rows of the two tables.
fn speed(flavor: Flavor, casts: u64, calls: u64) -> (String, Vec<String>) {
    flavor.runtime().block_on(async {
        let (tree, sink, echo) = sink_tree().await;
        let (items, asks) = plain_actors();
        // Warm-up.
        casts_vigil(&sink, casts / 10).await;
        casts_mpsc(&items, casts / 10).await;
        let (mut v, mut m) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            v.push(casts_vigil(&sink, casts).await.as_nanos() as f64 / casts as f64);
            m.push(casts_mpsc(&items, casts).await.as_nanos() as f64 / casts as f64);
        }
        let (v, m) = (median(v), median(m));
        let cast_row = format!(
            "| {} | {casts} | {v:.1} | {:.1} | {m:.1} | {:.1} | {:+.0} % |",
            flavor.name(),
            1e3 / v,
            1e3 / m,
            (v / m - 1.0) * 100.0
        );
        for c in Caller::ALL {
            c.calls(&echo, &asks, calls / 10).await;
        }
        // p50 and p99 of every round, per caller, the callers in alternation.
        let mut p50: [Vec<f64>; 4] = Default::default();
        let mut p99: [Vec<f64>; 4] = Default::default();
        for _ in 0..ROUNDS {
            for (i, c) in Caller::ALL.into_iter().enumerate() {
                let r = Percentiles::of(c.calls(&echo, &asks, calls).await);
                p50[i].push(r.at(0.5));
                p99[i].push(r.at(0.99));
            }
        }
        let (p50, p99) = (p50.map(median), p99.map(median));
        let bare = p50[2];
        let call_rows = Caller::ALL
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                format!(
                    "| {} | {} | {calls} | {:.2} | {:.2} | {:+.0} % |",
                    flavor.name(),
                    c.name(),
                    p50[i],
                    p99[i],
                    (p50[i] / bare - 1.0) * 100.0
                )
            })
            .collect();
        tree.shutdown().await;
        (cast_row, call_rows)
    })
}

/// How a tree of idle children is built for the memory measurement.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Idle {
    /// `Tree::task`, waiting in `ctx.stopped()`.
    Task,
    /// `Tree::task_with_inbox`, waiting in `ctx.stopped()` with its `Inbox`
    /// held: what the inbox itself costs.
    InboxHeld,
    /// `Tree::task_with_inbox`, waiting in `inbox.recv()` (the usual loop).
    InboxRecv,
    /// The same after one message each.
    InboxUsed,
}

impl Idle {
    fn name(self) -> &'static str {
        match self {
            Idle::Task => "`Tree::task`, waiting in `ctx.stopped()`",
            Idle::InboxHeld => "`task_with_inbox`, waiting in `ctx.stopped()`, its `Inbox` held",
            Idle::InboxRecv => "`task_with_inbox`, waiting in `inbox.recv()`, never sent to",
            Idle::InboxUsed => "`task_with_inbox`, waiting in `inbox.recv()`, after one message",
        }
    }
}

/// Add the idle child `name` of kind `idle` to `tree`; it counts itself in
/// `up` when first polled.
fn add_idle(tree: Tree, idle: Idle, name: String, up: &Arc<AtomicUsize>) -> Tree {
    let up = Arc::clone(up);
    let spec = ChildSpec::worker(name);
    let cap = NonZeroUsize::new(256).unwrap();
    match idle {
        Idle::Task => tree.task(spec, move |ctx| {
            let up = Arc::clone(&up);
            async move {
                up.fetch_add(1, Ordering::SeqCst);
                ctx.stopped().await;
                Ok::<(), String>(())
            }
        }),
        Idle::InboxHeld => tree.task_with_inbox(spec, cap, move |ctx, inbox: Inbox<u64>| {
            let up = Arc::clone(&up);
            async move {
                up.fetch_add(1, Ordering::SeqCst);
                ctx.stopped().await;
                drop(inbox);
                Ok::<(), String>(())
            }
        }),
        Idle::InboxRecv | Idle::InboxUsed => tree.task_with_inbox(spec, cap, move |_ctx, mut inbox: Inbox<u64>| {
            let up = Arc::clone(&up);
            async move {
                up.fetch_add(1, Ordering::SeqCst);
                while inbox.recv().await.is_some() {}
                Ok::<(), String>(())
            }
        }),
    }
}

/// Live heap bytes per idle child of a tree of `n` children built as `idle`.
fn bytes_per_child(idle: Idle, n: usize) -> f64 {
    let rt = Flavor::CurrentThread.runtime();
    rt.block_on(async {
        let before = LIVE.load(Ordering::SeqCst);
        let up = Arc::new(AtomicUsize::new(0));
        let mut tree = Tree::new(SupervisorSpec::new());
        for i in 0..n {
            tree = add_idle(tree, idle, format!("w{i}"), &up);
        }
        let tree = tree.start().expect("valid tree");
        while up.load(Ordering::SeqCst) < n {
            tokio::task::yield_now().await;
        }
        if idle == Idle::InboxUsed {
            for i in 0..n {
                tree.child::<u64>(&format!("w{i}"))
                    .await
                    .unwrap()
                    .cast(1)
                    .await
                    .unwrap();
            }
        }
        // Let every run settle (receive, then wait again).
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        let during = LIVE.load(Ordering::SeqCst);
        tree.shutdown().await;
        (during - before) as f64 / n as f64
    })
}

/// Live heap bytes per child after a burst: 200 messages queued to each
/// before its run first polls its inbox, then all received.
fn bytes_per_child_after_burst(n: usize) -> f64 {
    let rt = Flavor::CurrentThread.runtime();
    rt.block_on(async {
        let before = LIVE.load(Ordering::SeqCst);
        let received = Arc::new(AtomicUsize::new(0));
        let mut tree = Tree::new(SupervisorSpec::new());
        let cap = NonZeroUsize::new(256).unwrap();
        for i in 0..n {
            let received = Arc::clone(&received);
            tree = tree.task_with_inbox(
                ChildSpec::worker(format!("w{i}")),
                cap,
                move |_ctx, mut inbox: Inbox<u64>| {
                    let received = Arc::clone(&received);
                    async move {
                        while inbox.recv().await.is_some() {
                            received.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok::<(), String>(())
                    }
                },
            );
        }
        let tree = tree.start().expect("valid tree");
        for i in 0..n {
            let path = format!("w{i}");
            let child = tree.child::<u64>(&path).await.unwrap();
            for m in 0..200 {
                child.try_cast(m).expect("room: the child has not run yet");
            }
        }
        while received.load(Ordering::SeqCst) < n * 200 {
            tokio::task::yield_now().await;
        }
        let during = LIVE.load(Ordering::SeqCst);
        tree.shutdown().await;
        (during - before) as f64 / n as f64
    })
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>().expect("a number"));
    let casts = args.next().unwrap_or(1_000_000);
    let calls = args.next().unwrap_or(100_000);
    let children = args.next().unwrap_or(10_000) as usize;

    let rows: Vec<(String, Vec<String>)> = Flavor::ALL.iter().map(|&f| speed(f, casts, calls)).collect();
    println!("cast throughput (capacity {CAPACITY}; median of {ROUNDS} rounds):\n");
    println!("| runtime | messages | vigil ns/msg | vigil M msg/s | tokio mpsc ns/msg | tokio mpsc M msg/s | vigil over mpsc |");
    println!("|---|---|---|---|---|---|---|");
    for (cast, _) in &rows {
        println!("{cast}");
    }
    println!("\ncall round trip (µs; median over {ROUNDS} rounds of each percentile):\n");
    println!("| runtime | caller | calls | p50 | p99 | p50 over tokio mpsc + oneshot |");
    println!("|---|---|---|---|---|---|");
    for (_, calls) in &rows {
        for row in calls {
            println!("{row}");
        }
    }

    // The first tree pays for one-off allocations (runtime, thread locals).
    bytes_per_child(Idle::Task, children);
    let task = bytes_per_child(Idle::Task, children);
    println!("\nlive heap bytes per idle task child ({children} children, current_thread):\n");
    println!("| child | bytes per child | over a plain task |");
    println!("|---|---|---|");
    println!("| {} | {task:.0} | |", Idle::Task.name());
    for idle in [Idle::InboxHeld, Idle::InboxRecv, Idle::InboxUsed] {
        let b = bytes_per_child(idle, children);
        println!("| {} | {b:.0} | {:+.0} |", idle.name(), b - task);
    }
    let burst = bytes_per_child_after_burst(children);
    println!(
        "| `task_with_inbox`, waiting in `inbox.recv()`, after a burst of 200 messages | {burst:.0} | {:+.0} |",
        burst - task
    );
}

//! N OS process children (`sleep 3600`) under one tree: how long they take
//! to start, what they cost vigil (memory, descriptors) and its guards, and
//! how long an ordered and a parallel shutdown take (issue 16, item 4).
//!
//! ```sh
//! cargo run --release -p vigil-tokio --example scale
//! cargo run --release -p vigil-tokio --example scale -- --children 1000
//! ```
//!
//! Options: `--children N` (default 10 000), `--guard on|off` (default on:
//! this binary calls `vigil_tokio::guard::enter_if_guard()`, so each run is
//! guarded, as under `vigil run`), `--output tracing|null` (default tracing,
//! the default output mode: two pipes per child read by vigil),
//! `--settle-ms N` (default 1 000: how long
//! the tree idles once every child runs before memory is read).
//!
//! First the soft `RLIMIT_NOFILE` is raised to the hard limit (as `vigil run`
//! does), and, when that is below what N children need (5 per child at most,
//! plus 1 000) and the process may (root), the hard limit too; the table says
//! what the limits were. Then, on a multi-thread runtime with 2 workers (what
//! `vigil run` builds), with the default output mode (stdout and stderr piped
//! into vigil and forwarded to `tracing`; no subscriber is installed):
//!
//! 1. **floor**: a tree with 0 children (the same root, the same runtime) is
//!    started; vigil's `VmRSS` (from `/proc/self/status`) and open descriptors
//!    (`/proc/self/fd`) are read after the settle time; it is shut down.
//! 2. **ordered**: the tree with N children (`ShutdownOrder::Reverse`, the
//!    default) is started; *start* is `Tree::start` until `which_children`
//!    (polled every 20 ms) shows every child `running`. After the settle
//!    time, `VmRSS` and descriptors are read again, and the PSS of the
//!    guards: the sum of `Pss` in `/proc/<pid>/smaps_rollup` over vigil's
//!    descendants that run vigil's own binary (`/proc/<pid>/exe`), found by
//!    walking `/proc/*/stat` parent links. Then the shutdown is timed
//!    (`TreeHandle::shutdown` until the root ended).
//! 3. **parallel**: the same tree with `ShutdownOrder::Parallel`, started
//!    again, its shutdown timed.
//!
//! Per-child figures are (value at N - value of the floor) / N. The output
//! is a markdown table.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use vigil_core::{ChildSpec, ChildState, Reply, Request, ShutdownOrder, SupervisorSpec};
use vigil_tokio::{OutputMode, ProcessSpec, Tree, TreeHandle};

struct Options {
    children: usize,
    guard: bool,
    output: OutputMode,
    settle: Duration,
}

fn options() -> Options {
    let mut o = Options {
        children: 10_000,
        guard: true,
        output: OutputMode::Tracing,
        settle: Duration::from_millis(1000),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{arg} needs a value"));
        match arg.as_str() {
            "--children" => o.children = value().parse().expect("--children N"),
            "--guard" => o.guard = value() == "on",
            "--output" => {
                o.output = match value().as_str() {
                    "tracing" => OutputMode::Tracing,
                    "null" => OutputMode::Null,
                    other => panic!("--output tracing|null, not {other}"),
                }
            }
            "--settle-ms" => o.settle = Duration::from_millis(value().parse().expect("--settle-ms N")),
            other => {
                panic!("unknown argument {other} (--children N, --guard on|off, --output tracing|null, --settle-ms N)")
            }
        }
    }
    o
}

/// Raise the soft open-files limit to the hard one, and both to `needed` if
/// the hard one is lower and the process may raise it. Returns a sentence.
fn raise_nofile(needed: u64) -> String {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    let mut said = format!("RLIMIT_NOFILE was {soft}/{hard} (soft/hard)");
    let target_hard = hard.max(needed);
    if setrlimit(Resource::RLIMIT_NOFILE, target_hard, target_hard).is_err() {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    said.push_str(&format!(", now {soft}/{hard}"));
    said
}

/// A field of `/proc/self/status` in kB.
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").count()
}

/// The pids of this process's descendants that run this same binary (its
/// guards, or a spawner and what it forked), and how many descendants there
/// are in all.
fn own_binary_descendants() -> (Vec<u32>, usize) {
    let me = std::process::id();
    let mut parent_of: HashMap<u32, u32> = HashMap::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else { continue };
        let ppid = stat[close + 2..].split_whitespace().nth(1).and_then(|p| p.parse().ok());
        if let Some(ppid) = ppid {
            parent_of.insert(pid, ppid);
        }
    }
    let exe: Option<PathBuf> = std::fs::read_link("/proc/self/exe").ok();
    let mut own = Vec::new();
    let mut all = 0;
    for &pid in parent_of.keys() {
        let mut at = pid;
        let descends = loop {
            match parent_of.get(&at) {
                Some(&p) if p == me => break true,
                Some(&p) if p > 1 && p != at => at = p,
                _ => break false,
            }
        };
        if descends {
            all += 1;
            if std::fs::read_link(format!("/proc/{pid}/exe")).ok() == exe {
                own.push(pid);
            }
        }
    }
    own.sort_unstable();
    (own, all)
}

/// Sum of `Pss` (kB) over `pids`, from `/proc/<pid>/smaps_rollup`.
fn pss_kb(pids: &[u32]) -> u64 {
    pids.iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok())
        .filter_map(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Pss:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        })
        .sum()
}

fn tree(n: usize, order: ShutdownOrder, o: &Options) -> Tree {
    let spec = SupervisorSpec::new()
        .intensity(10)
        .period(Duration::from_secs(5))
        .shutdown_order(order);
    let mut tree = Tree::new(spec).process_guard(o.guard);
    for i in 0..n {
        tree = tree.process(
            ChildSpec::worker(format!("sleep{i}")),
            ProcessSpec::new(["sleep", "3600"]).output(o.output.clone()),
        );
    }
    tree
}

/// Start `tree` and wait until its `n` children run; the time that took.
async fn start_all(tree: Tree, n: usize) -> (TreeHandle, Duration) {
    let t = Instant::now();
    let sup = tree.start().expect("a valid tree");
    loop {
        let reply = match sup.request(Request::WhichChildren { path: String::new() }).await {
            Ok(reply) => reply,
            Err(e) => panic!("which_children: {e}; the root ended with {}", sup.wait().await),
        };
        let Reply::Children(children) = reply else {
            panic!("unexpected reply {reply:?}")
        };
        if children.iter().filter(|c| c.state == ChildState::Running).count() == n {
            break;
        }
        assert!(!sup.is_down(), "the tree went down while starting");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (sup, t.elapsed())
}

async fn timed_shutdown(sup: TreeHandle) -> (Duration, String) {
    let t = Instant::now();
    let reason = sup.shutdown().await;
    (t.elapsed(), reason.to_string())
}

/// What one tree cost, read after the settle time.
struct Cost {
    rss_kb: u64,
    fds: usize,
    guards: usize,
    descendants: usize,
    guard_pss_kb: u64,
}

async fn cost(settle: Duration) -> Cost {
    tokio::time::sleep(settle).await;
    let (guards, descendants) = own_binary_descendants();
    Cost {
        rss_kb: status_kb("VmRSS"),
        fds: open_descriptors(),
        guards: guards.len(),
        descendants,
        guard_pss_kb: pss_kb(&guards),
    }
}

fn main() {
    vigil_tokio::guard::enter_if_guard();
    let o = options();
    let n = o.children;
    let limits = raise_nofile(n as u64 * 5 + 1000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (floor_sup, _) = start_all(tree(0, ShutdownOrder::Reverse, &o), 0).await;
        let floor = cost(o.settle).await;
        let _ = floor_sup.shutdown().await;

        let (sup, start) = start_all(tree(n, ShutdownOrder::Reverse, &o), n).await;
        let full = cost(o.settle).await;
        let hwm_kb = status_kb("VmHWM");
        let (ordered, ordered_reason) = timed_shutdown(sup).await;

        let (sup, parallel_start) = start_all(tree(n, ShutdownOrder::Parallel, &o), n).await;
        tokio::time::sleep(o.settle).await;
        let (parallel, parallel_reason) = timed_shutdown(sup).await;

        let per = |delta: f64| if n == 0 { 0.0 } else { delta / n as f64 };
        let rss_delta = full.rss_kb as f64 - floor.rss_kb as f64;
        println!(
            "{n} process children (`sleep 3600`), guard {}, output {:?}; {limits}",
            if o.guard { "on" } else { "off" },
            o.output
        );
        println!();
        println!("| figure | floor (0 children) | {n} children | per child |");
        println!("|---|---|---|---|");
        println!(
            "| start (tree start -> all running) | | {:.3} s | {:.1} µs |",
            start.as_secs_f64(),
            per(start.as_secs_f64() * 1e6)
        );
        println!(
            "| vigil RSS (VmRSS) | {:.1} MiB | {:.1} MiB | {:.2} KiB |",
            floor.rss_kb as f64 / 1024.0,
            full.rss_kb as f64 / 1024.0,
            per(rss_delta)
        );
        println!("| vigil peak RSS (VmHWM) | | {:.1} MiB | |", hwm_kb as f64 / 1024.0);
        println!(
            "| vigil descriptors | {} | {} | {:.2} |",
            floor.fds,
            full.fds,
            per(full.fds as f64 - floor.fds as f64)
        );
        println!(
            "| guard/spawner processes (vigil's binary; descendants in all) | {} ({}) | {} ({}) | |",
            floor.guards, floor.descendants, full.guards, full.descendants
        );
        println!(
            "| guard/spawner PSS (sum of smaps_rollup Pss) | {} KiB | {:.1} MiB | {:.1} KiB |",
            floor.guard_pss_kb,
            full.guard_pss_kb as f64 / 1024.0,
            per(full.guard_pss_kb as f64 - floor.guard_pss_kb as f64)
        );
        println!(
            "| ordered shutdown (Reverse) | | {:.3} s | {:.1} µs |",
            ordered.as_secs_f64(),
            per(ordered.as_secs_f64() * 1e6)
        );
        println!(
            "| parallel shutdown (Parallel; its start took {:.3} s) | | {:.3} s | {:.1} µs |",
            parallel_start.as_secs_f64(),
            parallel.as_secs_f64(),
            per(parallel.as_secs_f64() * 1e6)
        );
        println!();
        println!("root ended with {ordered_reason} (ordered), {parallel_reason} (parallel)");
    });
}

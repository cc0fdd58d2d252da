//! CPU used by vigil itself while it supervises 1 000 sleeping processes.
//!
//! ```sh
//! cargo run --release -p vigil-tokio --example idle_process_cpu
//! cargo run --release -p vigil-tokio --example idle_process_cpu -- 1000 60
//! ```
//!
//! The optional arguments are the number of processes, the seconds to watch
//! (defaults 1 000 and 60) and a `memory_limit` in MiB for every child (none
//! by default; with one, the memory monitor samples `/proc` every 5 s). The tree is what `vigil run` builds: a
//! multi-thread runtime with 2 workers, a one_for_one root, and `sleep 3600`
//! workers with the default output mode (stdout and stderr piped into vigil
//! and forwarded to `tracing`, so 2 000 pipes are open and watched), each
//! under its process guard (this binary calls
//! `vigil_tokio::guard::enter_if_guard()`). No `tracing` subscriber is
//! installed.
//!
//! Memory first: the same tree with 0 children (the floor) is started on the
//! same runtime, left 1 s, and vigil's `VmRSS` (`/proc/self/status`) and open
//! descriptors (`/proc/self/fd`) are read; it is shut down, and the same is
//! read of the N-children tree 1 s after all of them run. The table gives
//! both and the difference per child.
//!
//! Once every child is `running` (polled with `which_children`), the CPU time
//! of this process (user + system, all threads; the children's own time is
//! not included) is read from `/proc/self/stat` (fields 14 and 15, in clock
//! ticks) and from `getrusage(RUSAGE_SELF)` (microseconds), together with the
//! context switches, every 10 s for the watched period. The benchmark's own
//! main thread wakes once per 10 s to take these samples; nothing else of
//! its own runs.

use std::time::{Duration, Instant};

use vigil_core::{ChildSpec, ChildState, Reply, Request, SupervisorSpec};
use vigil_tokio::{ProcessSpec, Tree};

struct Sample {
    at: Instant,
    /// utime + stime from /proc/self/stat, in clock ticks.
    ticks: u64,
    /// ru_utime + ru_stime, in µs.
    rusage_us: u64,
    /// Voluntary and involuntary context switches.
    csw: (i64, i64),
}

fn sample() -> Sample {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3, so field k is fields[k - 3].
    let utime: u64 = fields[14 - 3].parse().unwrap();
    let stime: u64 = fields[15 - 3].parse().unwrap();
    // SAFETY: `ru` is a valid rusage to write to.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Sample {
        at: Instant::now(),
        ticks: utime + stime,
        rusage_us: us(ru.ru_utime) + us(ru.ru_stime),
        csw: (ru.ru_nvcsw, ru.ru_nivcsw),
    }
}

/// vigil's `VmRSS` in KiB and its open descriptors.
fn footprint() -> (u64, usize) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmRSS");
    let fds = std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").count();
    (rss, fds)
}

/// Print the memory table: the floor, the N-children tree, per child.
fn print_footprint(n: usize, floor: (u64, usize), full: (u64, usize)) {
    let per = |a: f64, b: f64| if n == 0 { 0.0 } else { (b - a) / n as f64 };
    println!("| idle tree, 1 s after the start | 0 children (floor) | {n} children | per child |");
    println!("|---|---|---|---|");
    println!(
        "| vigil RSS (VmRSS) | {:.1} MiB | {:.1} MiB | {:.2} KiB |",
        floor.0 as f64 / 1024.0,
        full.0 as f64 / 1024.0,
        per(floor.0 as f64, full.0 as f64)
    );
    println!(
        "| vigil descriptors | {} | {} | {:.2} |",
        floor.1,
        full.1,
        per(floor.1 as f64, full.1 as f64)
    );
    println!();
}

fn main() {
    vigil_tokio::guard::enter_if_guard();
    let mut args = std::env::args().skip(1).map(|a| a.parse::<u64>().expect("a number"));
    let n = args.next().unwrap_or(1000) as usize;
    let secs = args.next().unwrap_or(60);
    // Optional: a memory_limit in MiB on every child, so the memory monitor
    // samples /proc every 5 s (without limits nothing is sampled).
    let limit_mib = args.next();
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let floor_tree = Tree::new(SupervisorSpec::new().intensity(10).period(Duration::from_secs(5)));
        let floor_sup = floor_tree.start().expect("valid tree");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let floor = footprint();
        let _ = floor_sup.shutdown().await;
        let t_start = Instant::now();
        let before_start = sample();
        let mut tree = Tree::new(SupervisorSpec::new().intensity(10).period(Duration::from_secs(5)));
        for i in 0..n {
            let mut spec = ProcessSpec::new(["sleep", "3600"]);
            spec.memory_limit = limit_mib.map(|m| m << 20);
            tree = tree.process(ChildSpec::worker(format!("sleep{i}")), spec);
        }
        let sup = tree.start().expect("valid tree");
        loop {
            let reply = sup
                .request(Request::WhichChildren { path: String::new() })
                .await
                .expect("which_children");
            let Reply::Children(children) = reply else {
                panic!("unexpected reply {reply:?}")
            };
            let running = children.iter().filter(|c| c.state == ChildState::Running).count();
            if running == n {
                break;
            }
            assert!(!sup.is_down(), "the tree went down");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let started = sample();
        tokio::time::sleep(Duration::from_secs(1)).await;
        print_footprint(n, floor, footprint());
        println!(
            "{n} processes running after {:.2} s; vigil CPU while starting them: {:.3} s",
            t_start.elapsed().as_secs_f64(),
            (started.rusage_us - before_start.rusage_us) as f64 / 1e6,
        );
        println!("| after | CPU (stat ticks, 1/{hz} s) | CPU (getrusage) | CPU % of one core | voluntary / involuntary context switches |");
        println!("|---|---|---|---|---|");
        let first = sample();
        for k in 1..=secs.div_ceil(10) {
            let target = first.at + Duration::from_secs((k * 10).min(secs));
            tokio::time::sleep_until(target.into()).await;
            let s = sample();
            let wall = s.at.duration_since(first.at).as_secs_f64();
            let cpu = (s.rusage_us - first.rusage_us) as f64 / 1e6;
            println!(
                "| {wall:.1} s | {} ticks = {:.3} s | {cpu:.6} s | {:.4} % | {} / {} |",
                s.ticks - first.ticks,
                (s.ticks - first.ticks) as f64 / hz as f64,
                100.0 * cpu / wall,
                s.csw.0 - first.csw.0,
                s.csw.1 - first.csw.1,
            );
        }
        let t = Instant::now();
        let reason = sup.shutdown().await;
        println!(
            "shutdown of {n} processes: {:.2} s, root ended with {reason}",
            t.elapsed().as_secs_f64()
        );
    });
}

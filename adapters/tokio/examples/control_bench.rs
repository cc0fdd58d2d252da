//! The control server under load: `status` of a 10,000-child tree, and
//! 1,000 requests/s sustained from 50 clients.
//!
//! ```sh
//! cargo run --release -p vigil-tokio --example control_bench
//! cargo run --release -p vigil-tokio --example control_bench -- 10000 10
//! ```
//!
//! The optional arguments are the number of children of the big tree
//! (default 10 000) and the seconds of the sustained-rate run (default 10).
//!
//! 1. **status**: a root with N idle task workers, served on a socket in a
//!    temporary directory; once all are running, one client asks for
//!    `status` 50 times (after 5 dropped warm-up requests) on a raw
//!    connection. Each sample is from writing the request to having read the
//!    whole answer line (every node with its counters). Also printed: the
//!    process's CPU time per request (server and client together, all
//!    threads: robust against other load on the machine), and the time to
//!    parse one answer into a `serde_json::Value`, as `vigil ctl` does.
//! 2. **sustained**: a root with 10 idle task workers; 50 clients, each on
//!    its own connection, send `which_children` of the root on a fixed
//!    schedule of 20 per second (one every 50 ms, start times spread over
//!    the first 50 ms), so 1,000 requests/s in total, open loop: a late
//!    answer does not delay the next request. Each sample is the round trip
//!    of one request, from its scheduled send time to its answer. A second
//!    pass mixes the ops: `status`, `count_children`, `workers`,
//!    `which_children` in turn.
//!
//! Both runs share one tokio runtime with 2 worker threads (as `vigil run`),
//! clients and server alike.

use std::time::{Duration, Instant};

use vigil_core::{ChildSpec, SupervisorSpec};
use vigil_tokio::control::client::Client;
use vigil_tokio::control::protocol::Op;
use vigil_tokio::control::{ControlOptions, ControlServer};
use vigil_tokio::{Tree, TreeHandle};

fn main() {
    let mut args = std::env::args().skip(1);
    let children: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        status_of_a_big_tree(children).await;
        sustained(seconds, false).await;
        sustained(seconds, true).await;
    });
}

fn idle_tree(children: usize) -> Tree {
    let mut tree = Tree::new(SupervisorSpec::new().intensity(1_000));
    for i in 0..children {
        tree = tree.task(ChildSpec::worker(format!("w{i}")), |ctx| async move {
            ctx.stopped().await;
            Ok::<(), String>(())
        });
    }
    tree
}

async fn serve(children: usize) -> (tempfile::TempDir, ControlServer, TreeHandle) {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = ControlServer::bind(ControlOptions::new(dir.path().join("bench.sock"))).expect("bind");
    let sup = idle_tree(children).control(server.clone()).start().expect("tree");
    let mut c = Client::connect(server.path()).await.expect("connect");
    loop {
        let counts = c
            .request(&Op::CountChildren { path: String::new() })
            .await
            .expect("count");
        if counts["active"].as_u64() == Some(children as u64) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (dir, server, sup)
}

async fn status_of_a_big_tree(children: usize) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (_dir, server, sup) = serve(children).await;
    let stream = tokio::net::UnixStream::connect(server.path()).await.expect("connect");
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::with_capacity(1 << 20, read);
    let mut answered = Vec::new();
    let mut line = Vec::new();
    for _ in 0..5 {
        line.clear();
        write.write_all(b"{\"id\":1,\"op\":\"status\"}\n").await.expect("write");
        read.read_until(b'\n', &mut line).await.expect("read");
    }
    let cpu = cpu_time();
    for _ in 0..50 {
        line.clear();
        let t = Instant::now();
        write.write_all(b"{\"id\":1,\"op\":\"status\"}\n").await.expect("write");
        read.read_until(b'\n', &mut line).await.expect("read");
        answered.push(t.elapsed());
    }
    let cpu = (cpu_time() - cpu) / 50;
    let mut parsed = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let s: serde_json::Value = serde_json::from_slice(&line).expect("JSON");
        parsed.push(t.elapsed());
        assert_eq!(s["result"]["nodes"].as_array().map(Vec::len), Some(children));
    }
    let kib = line.len() / 1024;
    report(
        &format!("status of {children} children, whole answer read ({kib} KiB)"),
        &mut answered,
    );
    println!(
        "  CPU time per status (every thread of the process, server and client): {:.3} ms",
        cpu.as_secs_f64() * 1e3
    );
    report(
        "  parsing that answer into a serde_json::Value (as vigil ctl does)",
        &mut parsed,
    );
    sup.shutdown().await;
    server.close();
}

async fn sustained(seconds: u64, mixed: bool) {
    const CLIENTS: usize = 50;
    const PERIOD: Duration = Duration::from_millis(50);
    let (_dir, server, sup) = serve(10).await;
    let start = tokio::time::Instant::now() + Duration::from_millis(100);
    let cpu = cpu_time();
    let end = start + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|k| {
            let path = server.path().to_owned();
            tokio::spawn(async move {
                let mut c = Client::connect(&path).await.expect("connect");
                let mut samples = Vec::new();
                let mut next = start + PERIOD * k as u32 / CLIENTS as u32;
                let mut n = k;
                while next < end {
                    tokio::time::sleep_until(next).await;
                    let op = match (mixed, n % 4) {
                        (true, 0) => Op::Status {},
                        (true, 1) => Op::CountChildren { path: String::new() },
                        (true, 2) => Op::Workers {},
                        _ => Op::WhichChildren { path: String::new() },
                    };
                    c.request(&op).await.expect("answer");
                    samples.push(next.elapsed());
                    next += PERIOD;
                    n += 1;
                }
                samples
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client"));
    }
    let cpu = cpu_time() - cpu;
    let rate = all.len() as f64 / seconds as f64;
    let what = if mixed { "mixed ops" } else { "which_children" };
    report(
        &format!("{CLIENTS} clients, {rate:.0} requests/s for {seconds} s, {what}"),
        &mut all,
    );
    println!(
        "  CPU time: {:.1} % of one core, {:.1} µs per request (server and clients together)",
        cpu.as_secs_f64() / seconds as f64 * 100.0,
        cpu.as_secs_f64() * 1e6 / all.len() as f64
    );
    sup.shutdown().await;
    server.close();
}

/// User + system CPU time of this process so far (all threads), from
/// `/proc/self/stat` (clock ticks of 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // After `comm`: state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt,
    // cminflt, majflt, cmajflt, utime, stime.
    let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    let ticks = field(11) + field(12);
    Duration::from_millis(ticks * 10)
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let q = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{what}: n={} min {:.3} ms, p50 {:.3} ms, p90 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        samples.len(),
        ms(samples[0]),
        ms(q(0.5)),
        ms(q(0.9)),
        ms(q(0.99)),
        ms(samples[samples.len() - 1])
    );
}

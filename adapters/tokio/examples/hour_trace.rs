//! A production-like trace of one virtual hour, recorded through the real
//! driver, for the replay benchmark (docs/BENCHMARKS.md, "Replay of a
//! production trace"):
//!
//! ```sh
//! cargo run --release -p vigil-tokio --example hour_trace -- 3600 20 /tmp/hour
//! vigil sim /tmp/hour/hour.toml --replay /tmp/hour/hour.jsonl
//! ```
//!
//! Arguments: virtual seconds (default 3600), workers (default 20), the
//! directory to write `hour.toml` and `hour.jsonl` to (default: a
//! `vigil-hour-trace` directory in the system's temporary directory).
//!
//! The tree: `workers` task workers under a one_for_one root, each crashing
//! every 2 to 6 s (a different period each) with a jittered backoff before
//! its restart, and a one_for_all group whose first worker crashes every
//! 11 s and takes its idle sibling down with it. It runs on a current_thread
//! runtime with tokio's clock paused, so an hour takes a fraction of a
//! second; every line comes from `TreeHandle::trace()`, the driver's own
//! rendering, after a meta line like `vigil run --trace`'s. `hour.toml`
//! describes the same tree, so the trace replays against it.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use vigil_core::{Backoff, ChildSpec, Strategy, SupervisorSpec};
use vigil_tokio::{Children, RunContext, Tree};

/// How long worker `i` lives before it crashes.
fn lifetime(i: usize) -> Duration {
    Duration::from_millis(2_000 + (i as u64 % 5) * 1_000 + i as u64 * 7)
}

/// A run that crashes after `life`, unless stopped first.
async fn crasher(ctx: RunContext, life: Duration) -> Result<(), String> {
    tokio::select! {
        _ = ctx.stopped() => Ok(()),
        _ = tokio::time::sleep(life) => Err("crash".to_owned()),
    }
}

fn backoff() -> Backoff {
    Backoff {
        jitter: 0.3,
        ..Backoff::exponential(Duration::from_millis(100), Duration::from_secs(2))
    }
}

/// The tree config with the same specs (what the trace replays against).
fn config(workers: usize) -> String {
    let mut toml = String::from("[supervisor]\nintensity = 1000\nperiod = \"10s\"\n\n");
    for i in 0..workers {
        let _ = write!(
            toml,
            "[[child]]\nname = \"w{i:02}\"\ncommand = [\"true\"]\n\
             backoff = {{ initial = \"100ms\", max = \"2s\", jitter = 0.3 }}\n\n"
        );
    }
    toml.push_str(
        "[[child]]\nname = \"grp\"\nsupervisor = { strategy = \"one_for_all\", intensity = 100, period = \"60s\" }\n\
         \x20 [[child.child]]\n  name = \"g1\"\n  command = [\"true\"]\n\
         \x20 [[child.child]]\n  name = \"g2\"\n  command = [\"true\"]\n",
    );
    toml
}

fn tree(workers: usize) -> Tree {
    let mut tree = Tree::new(SupervisorSpec::new().intensity(1000).period(Duration::from_secs(10)));
    for i in 0..workers {
        let life = lifetime(i);
        tree = tree.task(ChildSpec::worker(format!("w{i:02}")).backoff(backoff()), move |ctx| {
            crasher(ctx, life)
        });
    }
    let group = Children::new()
        .task(ChildSpec::worker("g1"), |ctx| crasher(ctx, Duration::from_secs(11)))
        .task(ChildSpec::worker("g2"), |ctx| async move {
            ctx.stopped().await;
            Ok::<(), String>(())
        });
    let spec = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .intensity(100)
        .period(Duration::from_secs(60));
    tree.supervisor(ChildSpec::supervisor("grp", spec), group)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map_or(3600, |a| a.parse().expect("virtual seconds"));
    let workers: usize = args.next().map_or(20, |a| a.parse().expect("the number of workers"));
    let dir = args
        .next()
        .map_or_else(|| std::env::temp_dir().join("vigil-hour-trace"), PathBuf::from);
    std::fs::create_dir_all(&dir).expect("the output directory");
    let toml = config(workers);
    let config_path = dir.join("hour.toml");
    std::fs::write(&config_path, &toml).expect("write the config");
    let digest = vigil_config::parse_tree(&toml, &config_path.display().to_string())
        .expect("a valid config")
        .digest;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("a runtime");
    let started = std::time::Instant::now();
    let lines = rt.block_on(async {
        let meta = vigil_trace::RunMeta {
            seed: 0,
            config: config_path.display().to_string(),
            digest: digest.map(|d| d.to_string()),
            t0: SystemTime::now(),
        };
        let handle = tree(workers).start().expect("a valid tree");
        // Subscribed before the driver's first step: every line.
        let mut rx = handle.trace();
        let collect = tokio::spawn(async move {
            let mut lines = vec![meta.line()];
            loop {
                match rx.recv().await {
                    Ok(line) => lines.push(line.to_string()),
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return lines,
                    Err(e) => panic!("the trace fell behind: {e}"),
                }
            }
        });
        tokio::time::sleep(Duration::from_secs(seconds)).await;
        handle.shutdown().await;
        collect.await.expect("the collector")
    });
    let wall = started.elapsed();
    let trace_path = dir.join("hour.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&trace_path).expect("create the trace"));
    for line in &lines {
        writeln!(out, "{line}").expect("write the trace");
    }
    out.flush().expect("write the trace");
    println!(
        "{} lines for {seconds} virtual seconds in {:.2} s: {} and {}",
        lines.len(),
        wall.as_secs_f64(),
        config_path.display(),
        trace_path.display()
    );
}

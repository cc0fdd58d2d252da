//! The replay of a real run's trace against its floor, in one process
//! (docs/BENCHMARKS.md, "Replay of a production trace"):
//!
//! ```sh
//! cargo run --release -p vigil-tokio --example hour_trace -- 3600 20 /tmp/hour
//! cargo run --release -p vigil-sim --example replay_bench -- /tmp/hour/hour.toml /tmp/hour/hour.jsonl 10
//! ```
//!
//! Arguments: the config, the trace (a `vigil run --trace` file), and how
//! many times to measure each (default 10; the median is printed). The
//! floor is reading the file and parsing every line as JSON
//! (`serde_json::Value`), which any replay must do at least; the replay is
//! `vigil_sim::replay_run` on the text read (its check of every line
//! included). Both are timed from the file on disk (in the page cache
//! after the first read), alternately.

use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Read the file and parse every line: the floor.
fn floor(path: &str) -> usize {
    let text = std::fs::read_to_string(path).expect("read the trace");
    let mut parsed = 0;
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        parsed += usize::from(v.is_object());
    }
    parsed
}

/// Read the file and replay it.
fn replay(spec: &vigil_core::SupervisorSpec, seed: u64, path: &str) -> usize {
    let text = std::fs::read_to_string(path).expect("read the trace");
    vigil_sim::replay_run(spec, seed, &text)
        .expect("the trace replays")
        .lines
}

fn main() {
    let mut args = std::env::args().skip(1);
    let config = args.next().expect("usage: replay_bench CONFIG TRACE [REPEATS]");
    let trace = args.next().expect("usage: replay_bench CONFIG TRACE [REPEATS]");
    let repeats: usize = args.next().map_or(10, |a| a.parse().expect("repeats"));
    let cfg = vigil_config::load_tree(std::path::Path::new(&config)).expect("a valid config");
    let text = std::fs::read_to_string(&trace).expect("read the trace");
    let seed = match vigil_sim::parse_recorded_meta(text.lines().next().unwrap_or_default()) {
        Ok(vigil_sim::RecordedMeta::Run(m)) => m.seed,
        other => panic!("not a real run's trace: {other:?}"),
    };
    let (mut floors, mut replays) = (Vec::new(), Vec::new());
    let mut lines = 0;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        let parsed = floor(&trace);
        floors.push(t.elapsed());
        let t = Instant::now();
        lines = replay(&cfg.spec, seed, &trace);
        replays.push(t.elapsed());
        assert_eq!(parsed, lines, "every line parsed and replayed");
    }
    let (f, r) = (median(floors), median(replays));
    let per_s = |d: Duration| lines as f64 / d.as_secs_f64().max(1e-9);
    println!(
        "{lines} lines: floor (read + parse) {:.1} ms, {:.2} M lines/s; replay {:.1} ms, {:.2} M lines/s; replay / floor = {:.2}",
        f.as_secs_f64() * 1e3,
        per_s(f) / 1e6,
        r.as_secs_f64() * 1e3,
        per_s(r) / 1e6,
        r.as_secs_f64() / f.as_secs_f64().max(1e-9)
    );
}

//! The floor: `tokio::spawn(async {}).await`, timed from before the spawn to
//! after the join (the least any restart can cost: a new task, scheduled once).

use std::time::Instant;

pub async fn run(warmup: usize, want: usize) -> Vec<u64> {
    let mut out = Vec::with_capacity(want);
    for i in 0..warmup + want {
        let t = Instant::now();
        tokio::spawn(async {}).await.expect("the empty task ends");
        let ns = t.elapsed().as_nanos() as u64;
        if i >= warmup {
            out.push(ns);
        }
    }
    out
}

//! Simulated events per second on one core, per example config.
//!
//! Each iteration simulates one seed for one hour of virtual time without
//! rendering a trace (as `vigil sim --seeds` does); criterion's throughput is
//! the number of world events and engine timeouts processed.

use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vigil_sim::{run_seed, SimOptions, SimTree, TraceWriter};

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("simulate");
    g.measurement_time(Duration::from_secs(5));
    let opts = SimOptions::default();
    for name in ["web-stack", "flaky-pool", "nested"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../examples/{name}.toml"));
        let cfg = vigil_config::load_tree(&path).expect("example config");
        let cfg = SimTree::from_config(&cfg).expect("a config's tree");
        // Average events per seed over a fixed sample, so throughput is per event.
        let sample = 200u64;
        let events: u64 = (0..sample)
            .map(|s| run_seed(&cfg, s, &opts, TraceWriter::off()).events)
            .sum();
        g.throughput(Throughput::Elements(events));
        g.bench_function(format!("{name}/200_seeds_1h"), |b| {
            b.iter(|| {
                for s in 0..sample {
                    std::hint::black_box(run_seed(&cfg, s, &opts, TraceWriter::off()));
                }
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Properties of whole simulated runs: the oracle holds for random trees
//! under random faults and scripts, and every run is deterministic.
//!
//! `VIGIL_PROPTEST_CASES` scales the number of cases (default 256). A failing
//! case writes its trace to the temporary directory and names the file.

use proptest::prelude::*;
use vigil_sim::strategies::{script_for, sim_options, sim_tree};
use vigil_sim::{run_seed, run_seed_checked, SeedReport, SimOptions, SimTree, TraceWriter};

fn cases() -> u32 {
    std::env::var("VIGIL_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Re-run a failing case with its trace written to a file; the message names it.
fn explain(cfg: &SimTree, seed: u64, opts: &SimOptions, report: &SeedReport) -> String {
    let path = std::env::temp_dir().join(format!("vigil-failure-{seed}.jsonl"));
    let _ = std::fs::write(path.with_extension("config.txt"), format!("{cfg:#?}\n{opts:#?}"));
    if let Ok(file) = std::fs::File::create(&path) {
        run_seed(
            cfg,
            seed,
            opts,
            TraceWriter::to_sink(Box::new(std::io::BufWriter::new(file))),
        );
    }
    format!(
        "seed {seed}: {} (trace: {})",
        report.violation.as_ref().map(|v| v.to_string()).unwrap_or_default(),
        path.display()
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn oracle_holds_for_random_trees_under_random_faults(cfg in sim_tree(), opts in sim_options(), seed in any::<u64>()) {
        let report = run_seed(&cfg, seed, &opts, TraceWriter::hashing());
        prop_assert!(report.violation.is_none(), "{}", explain(&cfg, seed, &opts, &report));
    }

    #[test]
    fn oracle_holds_for_random_trees_under_random_scripts(
        (cfg, script) in sim_tree().prop_flat_map(|c| { let s = script_for(&c); (Just(c), s) }),
        seed in any::<u64>(),
    ) {
        let opts = SimOptions { script: Some(script), duration: std::time::Duration::from_secs(900), ..Default::default() };
        let report = run_seed(&cfg, seed, &opts, TraceWriter::hashing());
        prop_assert!(report.violation.is_none(), "{}", explain(&cfg, seed, &opts, &report));
    }

    #[test]
    fn the_same_seed_gives_the_same_trace(cfg in sim_tree(), opts in sim_options(), seed in any::<u64>()) {
        let report = run_seed_checked(&cfg, seed, &opts, TraceWriter::hashing());
        prop_assert!(report.violation.is_none(), "{}", explain(&cfg, seed, &opts, &report));
    }
}

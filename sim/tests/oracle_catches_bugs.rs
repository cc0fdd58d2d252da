//! The oracle is not a test that cannot fail: with a deliberately broken
//! engine (feature `bug-injection`), it reports the broken rule.
#![cfg(feature = "bug-injection")]

use std::time::Duration;

use vigil_core::InjectedBug;
use vigil_sim::{run_seed, Rule, SimOptions, TraceWriter};

fn config(text: &str) -> vigil_config::TreeConfig {
    vigil_config::parse_tree(text, "test.toml").expect("valid config")
}

/// The first violation over a few seeds, with the bug switched on.
fn first_violation(cfg: &vigil_config::TreeConfig, bug: InjectedBug) -> Option<Rule> {
    let opts = SimOptions {
        duration: Duration::from_secs(600),
        inject_bug: Some(bug),
        ..SimOptions::default()
    };
    (0..50).find_map(|seed| {
        run_seed(cfg, seed, &opts, TraceWriter::hashing())
            .violation
            .map(|v| v.rule)
    })
}

#[test]
fn skipping_the_intensity_check_is_caught() {
    let cfg = config(
        r#"
        [supervisor]
        intensity = 1
        period = "10s"
        [[child]]
        name = "flaky"
        command = ["x"]
        sim = { lifetime = "1s", exit = "error" }
        "#,
    );
    assert_eq!(first_violation(&cfg, InjectedBug::SkipIntensity), Some(Rule::Intensity));
}

#[test]
fn an_early_kill_is_caught() {
    let cfg = config(
        r#"
        [supervisor]
        strategy = "one_for_all"
        intensity = 100
        [[child]]
        name = "a"
        command = ["x"]
        shutdown = "2s"
        sim = { stop_latency = "1500ms", lifetime = "exp(20s)" }
        [[child]]
        name = "b"
        command = ["x"]
        sim = { lifetime = "exp(20s)" }
        "#,
    );
    assert_eq!(first_violation(&cfg, InjectedBug::EarlyKill), Some(Rule::KillDeadline));
}

#[test]
fn restarting_a_transient_child_after_a_normal_exit_is_caught() {
    let cfg = config(
        r#"
        [supervisor]
        intensity = 100
        [[child]]
        name = "job"
        command = ["x"]
        restart = "transient"
        sim = { lifetime = "5s", exit = "normal" }
        "#,
    );
    assert_eq!(
        first_violation(&cfg, InjectedBug::RestartTransientAlways),
        Some(Rule::RestartTable)
    );
}

#[test]
fn the_correct_engine_passes_the_same_configs() {
    let cfg = config(
        r#"
        [supervisor]
        intensity = 1
        period = "10s"
        [[child]]
        name = "flaky"
        command = ["x"]
        sim = { lifetime = "1s", exit = "error" }
        "#,
    );
    let opts = SimOptions {
        duration: Duration::from_secs(600),
        ..SimOptions::default()
    };
    for seed in 0..50 {
        let r = run_seed(&cfg, seed, &opts, TraceWriter::hashing());
        assert!(r.violation.is_none(), "seed {seed}: {:?}", r.violation);
    }
}

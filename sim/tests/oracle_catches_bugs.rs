//! The oracle is not a test that cannot fail: with a deliberately broken
//! engine (feature `bug-injection`), it reports the broken rule.
#![cfg(feature = "bug-injection")]

use std::time::Duration;

use vigil_core::InjectedBug;
use vigil_sim::{run_seed, Rule, SimOptions, SimTree, TraceWriter};

fn config(text: &str) -> SimTree {
    SimTree::from_config(&vigil_config::parse_tree(text, "test.toml").expect("valid config")).expect("a config's tree")
}

/// The first violation over a few seeds, with the bug switched on.
fn first_violation(cfg: &SimTree, bug: InjectedBug) -> Option<Rule> {
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

/// The tree and script of issue 10's class 12: a temporary `t` whose start
/// fails during `restart_all`, then `restart_child "t"`.
fn temporary_scenario(bug: Option<InjectedBug>) -> Option<vigil_sim::Violation> {
    let cfg = config(
        r#"
        [[child]]
        name = "t"
        command = ["x"]
        restart = "temporary"
        [[child]]
        name = "w"
        command = ["x"]
        "#,
    );
    let script = vigil_config::parse_script(
        r#"
        [[at]]
        time = "1s"
        fail_starts = "t"
        [[at]]
        time = "2s"
        request = "restart_all"
        path = ""
        [[at]]
        time = "3s"
        request = "restart_child"
        path = "t"
        "#,
        "script.toml",
    )
    .expect("valid script");
    let opts = SimOptions {
        duration: Duration::from_secs(10),
        random_faults: false,
        script: Some(script),
        inject_bug: bug,
        ..SimOptions::default()
    };
    run_seed(&cfg, 0, &opts, TraceWriter::hashing()).violation
}

#[test]
fn a_temporary_child_kept_after_a_failed_start_is_caught() {
    let v = temporary_scenario(Some(InjectedBug::KeepFailedTemporary)).expect("a violation");
    assert_eq!(v.rule, Rule::TemporaryRemoved, "{v}");
    assert!(v.detail.contains("temporary child t"), "{v}");
    assert_eq!(v.at, vigil_core::Instant::from_nanos(2_000_000_000), "{v}");
    assert_eq!(temporary_scenario(None), None, "the engine removes it");
}

/// An engine whose own record is wrong (it holds a transient child as
/// permanent, and acts on it) is caught: the oracle takes restart types from
/// the specs it was given, not from the engine it judges. Asking the engine,
/// as the oracle once did, the restart after a normal exit looked legal.
#[test]
fn an_engine_that_misrecords_a_restart_type_is_caught() {
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
        first_violation(&cfg, InjectedBug::TransientRecordedPermanent),
        Some(Rule::RestartTable)
    );
}

/// A one_for_all pool with the parallel shutdown order, crashing often:
/// its ends may stop everything at once, its restart rounds may not.
const PARALLEL_POOL: &str = r#"
[supervisor]
strategy = "one_for_all"
shutdown_order = "parallel"
intensity = 100
[[child]]
name = "a"
command = ["x"]
sim = { lifetime = "exp(5s)", stop_latency = "200ms" }
[[child]]
name = "b"
command = ["x"]
sim = { lifetime = "exp(5s)", stop_latency = "200ms" }
[[child]]
name = "c"
command = ["x"]
sim = { lifetime = "exp(5s)", stop_latency = "200ms" }
"#;

#[test]
fn a_parallel_supervisor_that_stops_a_restart_round_at_once_is_caught() {
    let cfg = config(PARALLEL_POOL);
    assert_eq!(
        first_violation(&cfg, InjectedBug::ParallelRoundStops),
        Some(Rule::StopOrder)
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

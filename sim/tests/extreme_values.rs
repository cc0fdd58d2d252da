//! Property: for random tree configs whose numbers are extreme (0, 1 ns,
//! `u32::MAX` intensity, `u64::MAX` ns durations, backoff multipliers up to
//! 1e308, jitter 0 to 1, lifetimes and latencies of 0 or 1 ns, health
//! timeouts from 2 ns), every
//! simulated run finishes within its step budget: it returns, it took at most
//! `max_steps` steps, and the only way it may stop early is the budget itself
//! (`SeedOutcome::StepBudget`), never a broken invariant or a panic.
//!
//! `VIGIL_PROPTEST_CASES` scales the number of cases (default 256).

use std::time::Duration;

use proptest::prelude::*;
use vigil_core::Outcome;
use vigil_sim::{run_seed, Rule, SeedOutcome, SimOptions, SimTree, TraceWriter};

fn cases() -> u32 {
    std::env::var("VIGIL_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// A duration at the edges, as config text.
fn duration() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("1ns"),
        Just("2ns"),
        Just("1ms"),
        Just("5s"),
        Just("18446744073709551615ns")
    ]
}

/// A health (and startup) timeout the simulated world can meet: from 2 ns.
/// (At 1 ns its heartbeat lands on the deadline, which fires first: such a
/// worker never stays up, and the liveness rule rightly says so;
/// docs/SIMULATION.md, "Progress and the step budget".)
fn health() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("2ns"),
        Just("3ns"),
        Just("1ms"),
        Just("5s"),
        Just("18446744073709551615ns")
    ]
}

fn maybe_zero_duration() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("0ns"), duration()]
}

/// A backoff's initial delay and maximum (initial <= max), at the edges: a
/// zero initial delay never grows, so the maximum is only reached from 1 ns.
fn backoff_bounds() -> impl Strategy<Value = (&'static str, &'static str)> {
    (
        prop_oneof![Just("0ns"), Just("1ns")],
        prop_oneof![Just("1ns"), Just("1ms"), Just("5s"), Just("18446744073709551615ns")],
    )
}

fn worker(i: usize) -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("permanent"), Just("transient"), Just("temporary")],
        proptest::option::of(duration()),
        proptest::option::of(health()),
        proptest::option::of((
            backoff_bounds(),
            prop_oneof![Just("1e20"), Just("1e308"), Just("1.0"), Just("2")],
            prop_oneof![Just("0.0"), Just("0.5"), Just("1.0")],
        )),
        prop_oneof![Just("never"), Just("0ns"), Just("1ns"), Just("exp(1ms)"), Just("uniform(0ns, 2ns)")],
        maybe_zero_duration(),
        prop_oneof![Just("0.0"), Just("0.5"), Just("1.0")],
    )
        .prop_map(
            move |(restart, shutdown, health, backoff, lifetime, latency, start_fail)| {
                let mut text = format!("[[child]]\nname = \"w{i}\"\ncommand = [\"x\"]\nrestart = \"{restart}\"\n");
                if let Some(s) = shutdown {
                    text.push_str(&format!("shutdown = \"{s}\"\n"));
                }
                if let Some(h) = health {
                    text.push_str(&format!(
                        "readiness = \"notify\"\nstartup_timeout = \"{h}\"\nhealth_timeout = \"{h}\"\n"
                    ));
                }
                if let Some(((initial, max), multiplier, jitter)) = backoff {
                    text.push_str(&format!(
                        "backoff = {{ initial = \"{initial}\", max = \"{max}\", multiplier = {multiplier}, jitter = {jitter} }}\n"
                    ));
                }
                text.push_str(&format!(
                    "sim = {{ lifetime = \"{lifetime}\", start_latency = \"{latency}\", stop_latency = \"{latency}\", start_fail = {start_fail} }}\n"
                ));
                text
            },
        )
}

fn tree() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("one_for_one"), Just("one_for_all"), Just("rest_for_one")],
        prop_oneof![Just(0u32), Just(1), Just(4095), Just(u32::MAX)],
        duration(),
        1usize..4,
    )
        .prop_flat_map(|(strategy, intensity, period, n)| {
            let workers: Vec<_> = (0..n).map(worker).collect();
            workers.prop_map(move |children| {
                let mut text = format!(
                    "[supervisor]\nstrategy = \"{strategy}\"\nintensity = {intensity}\nperiod = \"{period}\"\n"
                );
                for c in children {
                    text.push_str(&c);
                }
                text
            })
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn every_run_of_an_extreme_tree_finishes_within_its_step_budget(
        text in tree(),
        seed in any::<u64>(),
        random_faults in any::<bool>(),
        millis in 1u64..2000,
    ) {
        let cfg = vigil_config::parse_tree(&text, "extreme.toml").map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let cfg = SimTree::from_config(&cfg).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let opts = SimOptions {
            duration: Duration::from_millis(millis),
            random_faults,
            max_steps: 20_000,
            ..SimOptions::default()
        };
        let report = run_seed(&cfg, seed, &opts, TraceWriter::hashing());
        prop_assert!(report.events <= opts.max_steps, "{} steps\n{text}", report.events);
        match &report.violation {
            None => prop_assert_ne!(report.outcome, SeedOutcome::StepBudget),
            Some(v) => {
                prop_assert_eq!(v.rule, Rule::StepBudget, "seed {}: {}\n{}", seed, v, text);
                prop_assert_eq!(report.outcome, SeedOutcome::StepBudget);
            }
        }
    }
}

#[test]
fn a_run_stuck_at_one_instant_stops_at_its_budget_with_a_clear_report() {
    let cfg = vigil_config::parse_tree(
        "[supervisor]\nintensity = 4294967295\n[[child]]\nname = \"w\"\ncommand = [\"x\"]\nsim = { lifetime = \"0ns\" }\n",
        "stuck.toml",
    )
    .expect("valid");
    let opts = SimOptions {
        duration: Duration::from_millis(100),
        random_faults: false,
        max_steps: 5_000,
        ..SimOptions::default()
    };
    let report = run_seed(
        &SimTree::from_config(&cfg).expect("a config's tree"),
        0,
        &opts,
        TraceWriter::hashing(),
    );
    assert_eq!(report.outcome, SeedOutcome::StepBudget);
    assert_eq!(report.events, 5_000);
    let v = report.violation.expect("the budget is reported");
    assert_eq!(v.rule, Rule::StepBudget);
    assert!(v.detail.contains("virtual time never advanced"), "{v}");
    assert!(v.detail.contains("--max-steps"), "{v}");
}

#[test]
fn a_health_timeout_under_three_nanoseconds_makes_progress() {
    // Heartbeats every third of 1 ns used to re-arm at the same instant for ever.
    let cfg = vigil_config::parse_tree(
        "[[child]]\nname = \"n\"\ncommand = [\"x\"]\nreadiness = \"notify\"\nhealth_timeout = \"1ns\"\n\
         [[child]]\nname = \"m\"\ncommand = [\"x\"]\nhealth_timeout = \"2ns\"\n",
        "hb.toml",
    )
    .expect("valid");
    let opts = SimOptions {
        duration: Duration::from_millis(100),
        random_faults: false,
        max_steps: 1_000_000,
        ..SimOptions::default()
    };
    let report = run_seed(
        &SimTree::from_config(&cfg).expect("a config's tree"),
        0,
        &opts,
        TraceWriter::hashing(),
    );
    assert_eq!(report.violation, None);
    assert!(report.virtual_time > Duration::ZERO, "virtual time advanced");
    assert_ne!(report.outcome, SeedOutcome::StepBudget);
}

#[test]
fn a_backoff_of_centuries_is_not_a_liveness_failure() {
    // The backoff reaches its maximum of 584 years at once: the restart waits
    // at the end of virtual time, where deadlines never fire. The liveness
    // bound reaches there too, so liveness cannot be judged, and is not.
    let cfg = vigil_config::parse_tree(
        "[supervisor]\nintensity = 1\nperiod = \"1ns\"\n[[child]]\nname = \"w0\"\ncommand = [\"x\"]\n\
         backoff = { initial = \"1ns\", max = \"18446744073709551615ns\", multiplier = 1e20 }\n\
         sim = { lifetime = \"0ns\", start_latency = \"1ns\", stop_latency = \"1ns\" }\n",
        "centuries.toml",
    )
    .expect("valid");
    let opts = SimOptions {
        duration: Duration::from_millis(1),
        random_faults: false,
        max_steps: 20_000,
        ..SimOptions::default()
    };
    let report = run_seed(
        &SimTree::from_config(&cfg).expect("a config's tree"),
        0,
        &opts,
        TraceWriter::hashing(),
    );
    assert_eq!(report.violation, None);
    assert_eq!(report.outcome, SeedOutcome::Tree(Outcome::Up));
}

//! Proptest strategies for supervision trees, behaviours and scenarios, so
//! that users can property-test their own trees and the engine's semantics.
//!
//! "For every script of faults, property P holds", for a tree of your own
//! (a [`SimTree`], here from a spec and models; with vigil-tokio's feature
//! `sim`, `Tree::simulation` gives one from the tree you run for real):
//!
//! ```
//! use proptest::prelude::*;
//! use vigil_core::{ChildSpec, SupervisorSpec};
//! use vigil_sim::strategies::{check, script_for};
//! use vigil_sim::{SimBehaviour, SimModels, SimOptions, SimTree};
//!
//! let spec = SupervisorSpec::new().intensity(3).child(ChildSpec::worker("db")).child(ChildSpec::worker("web"));
//! let tree = SimTree::new("shop", spec, &SimModels::new().default(SimBehaviour::new())).unwrap();
//! # let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(16));
//! # runner.run(&(script_for(&tree), any::<u64>()), |(script, seed)| {
//! // In a test: proptest! { #[test] fn holds(script in script_for(&tree), seed in any::<u64>()) { ... } }
//! let report = check(&tree, seed, &SimOptions::default().with_script(script))?;
//! prop_assert!(report.stats.give_ups <= 1, "the root gives up at most once");
//! # Ok(()) }).unwrap();
//! ```
//!
//! [`check`] fails the case at a broken rule with one line: the seed, the
//! rule, and how to replay it. [`sim_tree`] generates whole trees with
//! random models, for properties of the engine itself.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use vigil_config::{Action, Lifetime, Script, SimBehaviour, TimedAction, TreeConfig, WorkerConfig};
use vigil_core::{
    AutoShutdown, Backoff, ChildKind, ChildSpec, ExitReason, Lifespan, Readiness, Request, Restart, Shutdown,
    ShutdownOrder, Strategy as Strat, SupervisorSpec,
};

use crate::options::SimOptions;
use crate::report::SeedReport;
use crate::sim_tree::SimTree;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A worker's simulated behaviour: lifetimes from seconds to hours, small
/// latencies, some start failures and ignored stops.
pub fn sim_behaviour() -> impl Strategy<Value = SimBehaviour> {
    (
        prop_oneof![
            Just(Lifetime::Never),
            (1u64..600).prop_map(|s| Lifetime::Exp {
                mean: Duration::from_secs(s)
            }),
            (1u64..120).prop_map(|s| Lifetime::Fixed(Duration::from_secs(s))),
        ],
        prop_oneof![
            Just(ExitReason::Error("crash".into())),
            Just(ExitReason::Normal),
            Just(ExitReason::Panic("boom".into())),
        ],
        prop_oneof![Just(0.0), Just(0.1), Just(0.5)],
        0u64..200,
        0u64..500,
        0u64..200,
        prop_oneof![Just(0.0), Just(0.2)],
    )
        .prop_map(
            |(lifetime, exit, start_fail, start, ready, stop, ignore_stop)| SimBehaviour {
                lifetime,
                exit,
                start_fail,
                start_latency: ms(start),
                ready_latency: ms(ready),
                stop_latency: ms(stop),
                ignore_stop,
            },
        )
}

/// The shape of a generated child, before names and tags are given.
#[derive(Clone, Debug)]
enum Gen {
    Worker(ChildSpec, SimBehaviour),
    Sup(ChildSpec, SupervisorSpec, Vec<Gen>),
}

fn worker_spec() -> impl Strategy<Value = ChildSpec> {
    (
        prop_oneof![
            Just(Restart::Permanent),
            Just(Restart::Transient),
            Just(Restart::Temporary)
        ],
        prop_oneof![
            Just(Shutdown::Brutal),
            Just(Shutdown::Infinity),
            (1u64..2000).prop_map(|m| Shutdown::Timeout(ms(m)))
        ],
        any::<bool>(),
        prop::option::of(500u64..5000),
        prop::option::of(1000u64..10_000),
        prop::option::of((10u64..1000, 1u64..20, 0.0f64..=1.0)),
    )
        .prop_map(|(restart, shutdown, notify, startup, health, backoff)| {
            let mut c = ChildSpec::worker("w").restart(restart).shutdown(shutdown);
            if notify {
                c = c.readiness(Readiness::Notify);
                if let Some(t) = startup {
                    c = c.startup_timeout(ms(t));
                }
            }
            if let Some(h) = health {
                c = c.health_timeout(ms(h));
            }
            if let Some((initial, factor, jitter)) = backoff {
                c = c.backoff(Backoff {
                    initial: ms(initial),
                    max: ms(initial * factor),
                    multiplier: 2.0,
                    jitter,
                    reset_after: Some(Duration::from_secs(30)),
                });
            }
            c
        })
}

fn sup_attrs() -> impl Strategy<Value = (ChildSpec, SupervisorSpec)> {
    (
        prop_oneof![
            Just(Strat::OneForOne),
            Just(Strat::OneForAll),
            Just(Strat::RestForOne),
            Just(Strat::OneTerminateAll)
        ],
        0u32..6,
        1u64..60,
        prop_oneof![
            Just(AutoShutdown::Never),
            Just(AutoShutdown::AnySignificant),
            Just(AutoShutdown::AllSignificant)
        ],
        prop_oneof![Just(Lifespan::Permanent), Just(Lifespan::Transient)],
        prop_oneof![Just(Restart::Permanent), Just(Restart::Transient)],
        prop_oneof![
            Just(Shutdown::Infinity),
            (100u64..5000).prop_map(|m| Shutdown::Timeout(ms(m)))
        ],
        prop_oneof![3 => Just(ShutdownOrder::Reverse), 1 => Just(ShutdownOrder::Parallel)],
    )
        .prop_map(
            |(strategy, intensity, period, auto, lifespan, restart, shutdown, order)| {
                let spec = SupervisorSpec::new()
                    .strategy(strategy)
                    .intensity(intensity)
                    .period(Duration::from_secs(period))
                    .auto_shutdown(auto)
                    .lifespan(lifespan)
                    .shutdown_order(order);
                let child = ChildSpec::supervisor("s", SupervisorSpec::new())
                    .restart(restart)
                    .shutdown(shutdown);
                (child, spec)
            },
        )
}

fn gen_tree() -> impl Strategy<Value = Vec<Gen>> {
    let leaf = (worker_spec(), sim_behaviour()).prop_map(|(c, b)| Gen::Worker(c, b));
    let node = leaf.prop_recursive(3, 24, 5, |inner| {
        (sup_attrs(), prop::collection::vec(inner, 1..5)).prop_map(|((c, s), kids)| Gen::Sup(c, s, kids))
    });
    prop::collection::vec(node, 1..6)
}

/// A whole tree to simulate (as [`tree_config`]), each worker with its
/// config's random behaviour.
pub fn sim_tree() -> impl Strategy<Value = SimTree> {
    tree_config().prop_map(|cfg| match SimTree::from_config(&cfg) {
        Ok(tree) => tree,
        // `tree_config` gives every worker a model: a refusal is a bug here.
        Err(e) => panic!("a generated config was refused: {e}"),
    })
}

/// A whole tree config (up to 3 levels, up to about 24 nodes): every strategy,
/// restart type, shutdown policy, shutdown order (parallel one supervisor in
/// four), readiness, health and backoff setting, and auto_shutdown with
/// significant children, each worker with a random behaviour.
/// Always valid.
pub fn tree_config() -> impl Strategy<Value = TreeConfig> {
    (sup_attrs(), gen_tree()).prop_map(|((_, root), kids)| build(root, kids))
}

fn build(root: SupervisorSpec, kids: Vec<Gen>) -> TreeConfig {
    let mut workers = Vec::new();
    let spec = fill(root, kids, "", &mut workers);
    TreeConfig {
        source: "<generated>".into(),
        name: "generated".into(),
        digest: None,
        spec,
        control: Default::default(),
        monitor: Default::default(),
        http: Default::default(),
        run: Default::default(),
        workers,
        templates: Vec::new(),
    }
}

fn fill(mut sup: SupervisorSpec, kids: Vec<Gen>, path: &str, workers: &mut Vec<WorkerConfig>) -> SupervisorSpec {
    let allow_significant = sup.auto_shutdown != AutoShutdown::Never;
    for (i, g) in kids.into_iter().enumerate() {
        let name = format!("c{i}");
        let child_path = if path.is_empty() {
            name.clone()
        } else {
            format!("{path}/{name}")
        };
        let mut child = match g {
            Gen::Worker(mut c, b) => {
                c.name = name;
                c.tag = workers.len() as u64;
                workers.push(WorkerConfig {
                    path: child_path,
                    command: vec!["true".into()],
                    env: BTreeMap::new(),
                    cwd: None,
                    memory_limit: None,
                    sim: b,
                    health: None,
                    identity: Default::default(),
                    log: None,
                    lifecycle: Default::default(),
                });
                c
            }
            Gen::Sup(mut c, s, grandkids) => {
                let inner = fill(s, grandkids, &child_path, workers);
                c.name = name;
                c.tag = u64::MAX;
                c.kind = ChildKind::Supervisor(std::sync::Arc::new(inner));
                c
            }
        };
        // Every other non-permanent child is significant where that is allowed.
        child.significant = allow_significant && child.restart != Restart::Permanent && i % 2 == 0;
        sup.children.push(child);
    }
    sup
}

/// A scenario for `tree`: up to 12 timed actions over the first 10 minutes
/// (exits, failing starts, hung stops, operator requests) on its workers' paths.
pub fn script_for(tree: &SimTree) -> impl Strategy<Value = Script> {
    let workers: Vec<String> = tree.workers().iter().map(|w| w.path().to_owned()).collect();
    let n = workers.len().max(1);
    prop::collection::vec((0u64..600_000, 0usize..n, 0u8..8, 1u32..4), 0..12).prop_map(move |raw| {
        let mut actions: Vec<TimedAction> = raw
            .into_iter()
            .enumerate()
            .map(|(line, (t, w, kind, count))| {
                let path = workers.get(w).cloned().unwrap_or_default();
                let action = match kind {
                    0 | 1 => Action::Exit {
                        path,
                        reason: ExitReason::Error("scripted".into()),
                    },
                    2 => Action::Exit {
                        path,
                        reason: ExitReason::Normal,
                    },
                    3 => Action::FailStarts { path, count },
                    4 => Action::HangOnStop { path },
                    5 => Action::Request(Request::TerminateChild { path }),
                    6 => Action::Request(Request::RestartChild { path }),
                    _ => Action::Request(Request::RestartAll {
                        path: String::new(),
                        mode: vigil_core::RestartAllMode::Rolling,
                    }),
                };
                TimedAction {
                    time: ms(t),
                    line: line + 1,
                    action,
                }
            })
            .collect();
        actions.sort_by_key(|a| a.time);
        Script {
            source: "<generated>".into(),
            actions,
        }
    })
}

/// Simulation options: 1 minute to 2 hours, random faults on or off, liveness on.
pub fn sim_options() -> impl Strategy<Value = SimOptions> {
    (60u64..7200, any::<bool>()).prop_map(|(secs, random_faults)| SimOptions {
        duration: Duration::from_secs(secs),
        random_faults,
        script: None,
        liveness: true,
        max_steps: crate::options::DEFAULT_MAX_STEPS,
        inject_bug: None,
    })
}

/// Run `seed` of `tree` and fail the case at a broken rule (the step budget
/// included) with one line: the seed, the rule and what happened, and the
/// command that replays it ([`crate::replay_command`]; for a tree built in
/// Rust, `run_seed(&tree, seed, &opts, ..)` with the options proptest prints).
/// The report otherwise, for properties of your own.
pub fn check(tree: &SimTree, seed: u64, opts: &SimOptions) -> Result<SeedReport, TestCaseError> {
    let report = crate::run::run_seed(tree, seed, opts, crate::TraceWriter::hashing());
    match &report.violation {
        None => Ok(report),
        Some(v) => Err(TestCaseError::fail(format!(
            "seed {seed}: {v}; replay: {}",
            crate::run::replay_command(tree, seed, opts)
        ))),
    }
}

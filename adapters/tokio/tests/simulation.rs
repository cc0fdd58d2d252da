//! One tree, two worlds (feature `sim`): the `Tree` a program starts for
//! real is what the simulator simulates, with models attached by path or
//! glob; a config is one way to build that `Tree`.

use std::path::Path;
use std::time::Duration;

use proptest::prelude::*;
use vigil_core::{Backoff, ChildSpec, ExitReason, Readiness, Restart, Shutdown, Strategy as Strat, SupervisorSpec};
use vigil_sim::strategies::{check, script_for};
use vigil_sim::{run_seed, AttachError, Lifetime, SimBehaviour, SimModels, SimOptions, SimTree, TraceWriter};
use vigil_tokio::{BuildError, Children, Pool, RunContext, SimulationError, Tree};

fn traced(tree: &SimTree, seed: u64, opts: &SimOptions) -> String {
    let buf = vigil_trace::SharedBuffer::default();
    run_seed(tree, seed, opts, TraceWriter::to_sink(Box::new(buf.clone())));
    String::from_utf8(buf.bytes()).expect("UTF-8")
}

fn repo_file(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel)
}

/// An example config, its source the repository-relative path.
fn example(name: &str) -> vigil_config::TreeConfig {
    let rel = format!("examples/{name}");
    let mut cfg = vigil_config::load_tree(&repo_file(&rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    cfg.source = rel;
    cfg
}

async fn serve(ctx: RunContext) -> Result<(), String> {
    ctx.stopped().await;
    Ok(())
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// examples/web-stack.toml, written with the builder: the same specs, and
/// task closures where the config has commands.
fn web_stack_in_rust() -> Tree {
    let http = |name: &str| ChildSpec::worker(name).shutdown(Shutdown::Timeout(secs(5)));
    Tree::new(
        SupervisorSpec::new()
            .strategy(Strat::OneForOne)
            .intensity(5)
            .period(secs(60)),
    )
    .task(
        ChildSpec::worker("db")
            .restart(Restart::Permanent)
            .shutdown(Shutdown::Timeout(secs(10)))
            .readiness(Readiness::Notify)
            .startup_timeout(secs(30))
            .health_timeout(secs(10))
            .backoff(Backoff {
                initial: ms(200),
                max: secs(30),
                multiplier: 2.0,
                jitter: 0.1,
                reset_after: Some(secs(120)),
            }),
        serve,
    )
    .task(ChildSpec::worker("cache").shutdown(Shutdown::Timeout(secs(2))), serve)
    .task(
        ChildSpec::worker("migrate")
            .restart(Restart::Transient)
            .shutdown(Shutdown::Timeout(secs(30)))
            .backoff(Backoff::exponential(secs(1), secs(60))),
        serve,
    )
    .supervisor(
        ChildSpec::supervisor(
            "web",
            SupervisorSpec::new()
                .strategy(Strat::RestForOne)
                .intensity(3)
                .period(secs(10)),
        ),
        Children::new()
            .task(http("router"), serve)
            .task(http("http-1"), serve)
            .task(http("http-2"), serve)
            .task(http("http-3"), serve),
    )
}

/// web-stack.toml's `sim` tables, attached by path and glob.
fn web_stack_models() -> SimModels {
    let exp = |mean: Duration| Lifetime::Exp { mean };
    SimModels::new()
        .path(
            "db",
            SimBehaviour::new()
                .lifetime(exp(secs(7200)))
                .start_fail(0.01)
                .start_latency(ms(300))
                .ready_latency(secs(2))
                .stop_latency(secs(2))
                .ignore_stop(0.01),
        )
        .path(
            "cache",
            SimBehaviour::new()
                .lifetime(exp(secs(2700)))
                .start_latency(ms(50))
                .stop_latency(ms(10)),
        )
        .path(
            "migrate",
            SimBehaviour::new()
                .lifetime(Lifetime::Fixed(secs(3)))
                .exit(ExitReason::Normal)
                .start_latency(ms(100))
                .stop_latency(secs(1)),
        )
        .path(
            "web/router",
            SimBehaviour::new()
                .lifetime(exp(secs(3 * 3600)))
                .exit(ExitReason::Panic(String::new()))
                .start_latency(ms(20))
                .stop_latency(ms(100)),
        )
        .glob(
            "web/http-*",
            SimBehaviour::new()
                .lifetime(exp(secs(1800)))
                .start_latency(ms(20))
                .stop_latency(ms(300)),
        )
}

#[test]
fn the_rust_built_tree_simulates_exactly_as_the_same_toml_tree() {
    let cfg = example("web-stack.toml");
    let from_toml = SimTree::from_config(&cfg).expect("the config's tree");
    let from_rust = web_stack_in_rust()
        .simulation("examples/web-stack.toml", &web_stack_models())
        .expect("every model attached");
    assert_eq!(
        from_rust.spec(),
        from_toml.spec(),
        "the same engine spec, tags included"
    );
    let opts = SimOptions {
        duration: secs(1800),
        ..SimOptions::default()
    };
    let mut lines = 0;
    // The meta lines differ in one key only: the TOML tree records the
    // digest of the text it was parsed from, the Rust tree has none.
    let digest = format!(r#","digest":"{}""#, cfg.digest.expect("parsed from text"));
    for seed in 0..8 {
        let (a, b) = (traced(&from_rust, seed, &opts), traced(&from_toml, seed, &opts));
        lines += a.lines().count();
        let (meta_a, rest_a) = a.split_once('\n').expect("a meta line");
        let (meta_b, rest_b) = b.split_once('\n').expect("a meta line");
        assert_eq!(meta_a.replace(r#","digest":null"#, &digest), meta_b, "seed {seed}");
        assert!(rest_a == rest_b, "seed {seed}: the traces differ");
    }
    assert!(lines > 1000, "eight busy half hours, not empty runs: {lines} lines");
}

#[test]
fn a_config_built_tree_simulates_as_the_config_always_did() {
    for name in ["web-stack.toml", "flaky-pool.toml", "nested.toml", "demo.toml"] {
        let cfg = example(name);
        // As `vigil sim` builds it: the tree, then the digest of its text.
        let via_tree = Tree::from_config(&cfg)
            .simulation(&cfg.source, &SimModels::from_config(&cfg))
            .expect("a config's tree")
            .with_digest(cfg.digest);
        assert_eq!(via_tree, SimTree::from_config(&cfg).unwrap(), "{name}");
        // The engine sees the config's own spec: same names, attributes and tags.
        assert_eq!(via_tree.spec(), &cfg.spec, "{name}");
    }
}

#[test]
fn simulating_a_tree_takes_nothing_from_it() {
    let tree = web_stack_in_rust();
    let sim = tree
        .simulation("shop", &SimModels::new().default(SimBehaviour::new()))
        .expect("a default for all");
    assert_eq!(sim.workers().len(), 7);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let handle = tree.start().expect("the same value starts for real");
        let mut names: Vec<String> = handle
            .request(vigil_core::Request::WhichChildren { path: String::new() })
            .await
            .map(|r| match r {
                vigil_core::Reply::Children(c) => c.into_iter().map(|c| c.name).collect(),
                other => panic!("{other:?}"),
            })
            .expect("the root answers");
        names.sort();
        assert_eq!(names, ["cache", "db", "migrate", "web"]);
        assert!(handle.shutdown().await.is_normal());
    });
}

#[test]
fn a_pool_simulates_as_a_supervisor_with_no_static_children() {
    let pool = Pool::new(ChildSpec::worker("job"), 4, |ctx: RunContext, _: u32| async move {
        ctx.stopped().await;
        Ok::<(), String>(())
    });
    let tree = Tree::new(SupervisorSpec::new())
        .task(ChildSpec::worker("api"), serve)
        .pool(ChildSpec::supervisor("jobs", SupervisorSpec::new()), pool);
    let sim = tree
        .simulation("pooled", &SimModels::new().path("api", SimBehaviour::new()))
        .expect("the pool needs no model");
    assert_eq!(sim.workers().iter().map(|w| w.path()).collect::<Vec<_>>(), ["api"]);
    let jobs = &sim.spec().children[1];
    let vigil_core::ChildKind::Supervisor(s) = &jobs.kind else {
        panic!("a supervisor")
    };
    assert!(s.children.is_empty());
    // A model for the pool itself is a model for a supervisor.
    let err = tree
        .simulation(
            "pooled",
            &SimModels::new()
                .path("api", SimBehaviour::new())
                .path("jobs", SimBehaviour::new()),
        )
        .unwrap_err();
    assert_eq!(
        err,
        SimulationError::Attach(AttachError::NotAWorker { path: "jobs".into() })
    );
}

#[test]
fn a_tree_start_would_refuse_is_refused_by_simulation_too() {
    let tree = Tree::new(SupervisorSpec::new()).supervisor(ChildSpec::worker("grp"), Children::new());
    let err = tree.simulation("t", &SimModels::new()).unwrap_err();
    assert_eq!(
        err,
        SimulationError::Build(BuildError::NotASupervisor { path: "grp".into() })
    );
    assert_eq!(err.to_string(), tree.start().unwrap_err().to_string());
    let dup = Tree::new(SupervisorSpec::new())
        .task(ChildSpec::worker("a"), serve)
        .task(ChildSpec::worker("a"), serve);
    assert!(matches!(
        dup.simulation("t", &SimModels::new().default(SimBehaviour::new())),
        Err(SimulationError::Build(BuildError::Spec(_)) | SimulationError::Attach(AttachError::Spec(_)))
    ));
    let missing = Tree::new(SupervisorSpec::new()).task(ChildSpec::worker("a"), serve);
    assert_eq!(
        missing.simulation("t", &SimModels::new()).unwrap_err().to_string(),
        "the worker `a` has no model: attach one by path or glob, or give a default"
    );
}

#[test]
fn from_config_refuses_a_hand_built_config_that_is_too_deep_at_start() {
    // Deeper than the engine accepts (a parsed config never is): refused at
    // start with the engine's error, without recursing for ever.
    let mut spec = SupervisorSpec::new().child(ChildSpec::worker("leaf"));
    for i in 0..200 {
        spec = SupervisorSpec::new().child(ChildSpec::supervisor(format!("s{i}"), spec));
    }
    let cfg = vigil_config::TreeConfig {
        source: "deep.toml".into(),
        name: "deep".into(),
        spec,
        control: Default::default(),
        monitor: Default::default(),
        http: Default::default(),
        run: Default::default(),
        workers: Vec::new(),
        digest: None,
        templates: Vec::new(),
    };
    let tree = Tree::from_config(&cfg);
    let err = tree.simulation("deep", &SimModels::new()).unwrap_err();
    assert!(
        matches!(&err, SimulationError::Build(BuildError::Spec(e)) if matches!(e.kind, vigil_core::SpecErrorKind::TooDeep { .. })),
        "{err}"
    );
}

/// The tree the property below runs over.
fn shop() -> SimTree {
    let flaky = SimBehaviour::new().lifetime(Lifetime::Exp { mean: secs(300) });
    Tree::new(SupervisorSpec::new().intensity(10).period(secs(60)))
        .task(ChildSpec::worker("db"), serve)
        .supervisor(
            ChildSpec::supervisor("web", SupervisorSpec::new().strategy(Strat::OneForAll)),
            Children::new()
                .task(ChildSpec::worker("w1"), serve)
                .task(ChildSpec::worker("w2"), serve),
        )
        .simulation(
            "shop",
            &SimModels::new().glob("web/*", flaky).default(SimBehaviour::new()),
        )
        .expect("every model attached")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// For every script of faults, every rule holds and a temporary fault
    /// never leaves the permanent db down at the end.
    #[test]
    fn every_script_of_faults_keeps_the_rules(script in script_for(&shop()), seed in any::<u64>()) {
        let tree = shop();
        let opts = SimOptions { duration: secs(900), ..SimOptions::default() }.with_script(script);
        let report = check(&tree, seed, &opts)?;
        prop_assert!(report.events > 0);
    }
}

#[test]
fn a_failing_case_prints_one_line_that_replays_it() {
    let tree = shop();
    let opts = SimOptions {
        max_steps: 3,
        ..SimOptions::default()
    };
    let err = check(&tree, 42, &opts).unwrap_err().to_string();
    assert!(!err.trim_end().contains('\n'), "one line: {err}");
    assert!(err.contains("seed 42: "), "{err}");
    assert!(
        err.contains("replay: vigil sim shop --seed 42 --duration 1h --max-steps 3"),
        "{err}"
    );
}

#[test]
fn a_hostile_nesting_is_refused_without_recursing_through_it() {
    let mut children = Children::new().task(ChildSpec::worker("leaf"), serve);
    for i in 0..10_000 {
        children = Children::new().supervisor(ChildSpec::supervisor(format!("s{i}"), SupervisorSpec::new()), children);
    }
    let tree =
        Tree::new(SupervisorSpec::new()).supervisor(ChildSpec::supervisor("top", SupervisorSpec::new()), children);
    let err = tree
        .simulation("deep", &SimModels::new().default(SimBehaviour::new()))
        .unwrap_err();
    assert!(
        matches!(&err, SimulationError::Build(BuildError::Spec(e)) if matches!(e.kind, vigil_core::SpecErrorKind::TooDeep { .. })),
        "{err}"
    );
}

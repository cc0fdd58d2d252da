//! Own-code simulation (`vigil_tokio::dst`, feature `sim`): the shipped
//! example's bug is found by a seed and replayed, its fix passes the same
//! seeds; traces are byte-identical across runs and thread counts; each
//! fault does what it says; what cannot be simulated is refused or
//! detected.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use proptest::prelude::*;
use vigil_core::{ChildSpec, Outcome, Readiness, Shutdown, Strategy, SupervisorSpec};
use vigil_sim::{Rule, SeedOutcome};
use vigil_tokio::dst::{Dst, DstError, DstFaults, SEED_VARIABLE};
use vigil_tokio::{BlockingContext, ProcessSpec, RunContext, Tree};

/// `Dst::run` reads `VIGIL_DST_SEED`: the test that sets it and every test
/// that sweeps take this lock.
static ENV: Mutex<()> = Mutex::new(());

fn env_lock() -> std::sync::MutexGuard<'static, ()> {
    ENV.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn serve(ctx: &RunContext) {
    loop {
        tokio::select! {
            biased;
            _ = ctx.stopped() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => ctx.checkpoint().await,
        }
    }
}

/// The example's service (adapters/tokio/examples/dst_shared_state.rs):
/// `fixed` holds the flag in a guard, the buggy one clears it only on the
/// clean path.
fn service(fixed: bool) -> Tree {
    struct Connection(Arc<AtomicBool>);
    impl Drop for Connection {
        fn drop(&mut self) {
            self.0.store(false, Ordering::SeqCst);
        }
    }
    let connected = Arc::new(AtomicBool::new(false));
    Tree::new(SupervisorSpec::new().intensity(20).period(Duration::from_secs(10))).task(
        ChildSpec::worker("client").readiness(Readiness::Notify),
        move |ctx| {
            let connected = Arc::clone(&connected);
            async move {
                if connected.swap(true, Ordering::SeqCst) {
                    return Err("already connected".to_owned());
                }
                let guard = fixed.then(|| Connection(Arc::clone(&connected)));
                ctx.ready();
                serve(&ctx).await;
                drop(guard);
                connected.store(false, Ordering::SeqCst);
                Ok(())
            }
        },
    )
}

fn crashes() -> DstFaults {
    DstFaults {
        checkpoint_crash: 0.01,
        start_delay: 0.2,
        ready_delay: 0.2,
        max_delay: Duration::from_millis(500),
        ..DstFaults::none()
    }
}

fn sim<F: Fn() -> Tree + Sync>(f: F) -> Dst<F> {
    Dst::new(f)
        .duration(Duration::from_secs(60))
        .faults(crashes())
        .require_up(true)
}

#[test]
fn the_shared_state_bug_is_found_by_a_seed_replayed_and_its_fix_passes() {
    let _env = env_lock();
    let buggy = sim(|| service(false)).run(0..40).unwrap();
    let found = buggy.first_failure().expect("a seed finds the bug");
    assert_eq!(found.went_down.map(|(o, _)| o), Some(Outcome::RootGaveUp), "{found}");
    assert!(
        found
            .reproduction
            .starts_with(&format!("{SEED_VARIABLE}={} cargo test -p vigil-tokio ", found.seed)),
        "{}",
        found.reproduction
    );
    // Not every seed crashes the client in its minute: the bug needs a crash.
    assert!(buggy.reports.iter().any(|r| r.passed() && r.injected.crashes == 0));
    assert!(buggy
        .failures()
        .all(|r| r.injected.crashes + r.injected.panics + r.injected.kills > 0));
    // Replayed alone: the same trace.
    let again = sim(|| service(false)).run_seed(found.seed).unwrap();
    assert_eq!(
        (again.trace_hash, again.trace_lines),
        (found.trace_hash, found.trace_lines)
    );
    assert!(!again.passed());
    let fixed = sim(|| service(true)).run(0..40).unwrap();
    fixed.assert_ok();
}

#[test]
fn the_same_seed_gives_a_byte_identical_trace() {
    // Swarm faults: every fault class, per seed.
    let dst = Dst::new(|| service(true)).duration(Duration::from_secs(120));
    for seed in 0..6 {
        let (a, text_a) = dst.trace_seed(seed).unwrap();
        let (b, text_b) = dst.trace_seed(seed).unwrap();
        assert_eq!(text_a, text_b, "seed {seed}");
        assert_eq!(a.trace_hash, b.trace_hash);
        assert!(text_a.starts_with(&format!(
            "{{\"t\":0,\"ev\":\"meta\",\"sim\":\"own_code\",\"seed\":{seed},"
        )));
        assert_eq!(text_a.lines().count() as u64, a.trace_lines);
        // Its origin says what it is: `vigil sim --replay` refuses it, saying why.
        let meta = text_a.lines().next().unwrap_or_default();
        assert!(meta.ends_with(r#","origin":"own_code"}"#), "{meta}");
        let refused = vigil_sim::parse_recorded_meta(meta).unwrap_err().to_string();
        assert!(refused.contains("own-code simulation"), "{refused}");
    }
}

#[test]
fn one_thread_and_two_give_the_same_result_per_seed() {
    let _env = env_lock();
    let dst = |jobs| Dst::new(|| service(true)).duration(Duration::from_secs(120)).jobs(jobs);
    let one = dst(1).run(0..24).unwrap();
    let two = dst(2).run(0..24).unwrap();
    let key = |r: &vigil_tokio::dst::DstReport| (r.seed, r.trace_hash, r.trace_lines, r.outcome, r.injected);
    assert_eq!(one.reports.len(), 24);
    assert_eq!(
        one.reports.iter().map(key).collect::<Vec<_>>(),
        two.reports.iter().map(key).collect::<Vec<_>>()
    );
}

#[test]
fn the_seed_variable_runs_that_seed_alone() {
    let _env = env_lock();
    std::env::set_var(SEED_VARIABLE, "17");
    let one = Dst::new(|| service(true)).run(0..1000);
    std::env::set_var(SEED_VARIABLE, "seventeen");
    let bad = Dst::new(|| service(true)).run(0..1000);
    std::env::remove_var(SEED_VARIABLE);
    let one = one.unwrap();
    assert_eq!(one.reports.iter().map(|r| r.seed).collect::<Vec<_>>(), vec![17]);
    assert!(matches!(bad, Err(DstError::BadSeedVariable { value }) if value == "seventeen"));
}

fn only(faults: DstFaults) -> DstFaults {
    faults
}

/// The trace of seed 0 of `tree` under `faults`, 30 s of virtual time.
fn trace_of(tree: fn() -> Tree, faults: DstFaults) -> (vigil_tokio::dst::DstReport, String) {
    Dst::new(tree)
        .duration(Duration::from_secs(30))
        .faults(faults)
        .trace_seed(0)
        .unwrap()
}

fn one_worker() -> Tree {
    Tree::new(SupervisorSpec::new().intensity(1000)).task(ChildSpec::worker("w"), |ctx| async move {
        serve(&ctx).await;
        Ok::<(), String>(())
    })
}

#[test]
fn a_checkpoint_crashes_or_panics_its_run_with_a_reason_of_its_own() {
    let (crashed, trace) = trace_of(
        one_worker,
        only(DstFaults {
            checkpoint_crash: 1.0,
            ..DstFaults::none()
        }),
    );
    assert!(trace.contains(r#""ev":"exited","path":"w","gen":"#), "{trace}");
    assert!(trace.contains(r#""reason":"error(injected at checkpoint)""#), "{trace}");
    assert!(crashed.injected.crashes >= 20, "{:?}", crashed.injected);
    assert!(crashed.passed(), "{crashed}");
    let (panicked, trace) = trace_of(
        one_worker,
        only(DstFaults {
            checkpoint_panic: 1.0,
            ..DstFaults::none()
        }),
    );
    assert!(
        trace.contains(r#""reason":"panic(injected panic at checkpoint)""#),
        "{trace}"
    );
    assert!(panicked.injected.panics >= 20 && panicked.injected.crashes == 0);
}

/// The `t` of the first line with `ev` for the child at `path`.
fn time_of(trace: &str, ev: &str, path: &str) -> Option<u64> {
    trace
        .lines()
        .find(|l| l.contains(&format!(r#""ev":"{ev}","path":"{path}","#)))
        .and_then(|l| l.strip_prefix(r#"{"t":"#)?.split(',').next()?.parse().ok())
}

#[test]
fn starts_and_readiness_are_delayed_before_the_closure_runs() {
    let ran = || {
        Tree::new(SupervisorSpec::new()).task(ChildSpec::worker("w").readiness(Readiness::Notify), |ctx| async move {
            ctx.ready();
            serve(&ctx).await;
            Ok::<(), String>(())
        })
    };
    let faults = DstFaults {
        start_delay: 1.0,
        ready_delay: 1.0,
        max_delay: Duration::from_secs(5),
        ..DstFaults::none()
    };
    let (report, trace) = Dst::new(ran)
        .duration(Duration::from_secs(10))
        .faults(faults)
        .trace_seed(3)
        .unwrap();
    let (spawn, started, ready) = (
        time_of(&trace, "spawn", "w").unwrap(),
        time_of(&trace, "started", "w").unwrap(),
        time_of(&trace, "ready", "w").unwrap(),
    );
    assert!(spawn < started && started < ready, "{trace}");
    assert!(ready - spawn <= 10_000_000_000, "{trace}");
    assert_eq!(
        (report.injected.delayed_starts, report.injected.delayed_readies),
        (1, 1)
    );
    assert!(report.passed(), "{report}");
}

#[test]
fn an_ignored_stop_ends_only_at_the_kill_deadline() {
    // One crashing sibling makes one_for_all stop the other.
    let tree = || {
        Tree::new(SupervisorSpec::new().strategy(Strategy::OneForAll).intensity(1000))
            .task(
                ChildSpec::worker("steady").shutdown(Shutdown::Timeout(Duration::from_secs(3))),
                |ctx| async move {
                    ctx.stopped().await;
                    Ok::<(), String>(())
                },
            )
            .task(ChildSpec::worker("flaky"), |_ctx| async move {
                tokio::time::sleep(Duration::from_secs(7)).await;
                Err::<(), _>("flaky")
            })
    };
    let faults = DstFaults {
        ignore_stop: 1.0,
        ..DstFaults::none()
    };
    let (report, trace) = Dst::new(tree)
        .duration(Duration::from_secs(20))
        .faults(faults)
        .trace_seed(0)
        .unwrap();
    let (stop, kill) = (
        time_of(&trace, "stop", "steady").unwrap(),
        time_of(&trace, "kill", "steady").unwrap(),
    );
    assert_eq!(kill - stop, 3_000_000_000, "{trace}");
    assert!(report.injected.ignored_stops >= 1);
    assert!(report.passed(), "{report}");
}

#[test]
fn random_kills_end_running_runs_with_killed() {
    let faults = DstFaults {
        kill_every: Some(Duration::from_secs(2)),
        ..DstFaults::none()
    };
    let (report, trace) = trace_of(one_worker, faults);
    assert!(report.injected.kills >= 5, "{:?}", report.injected);
    let killed = trace.lines().filter(|l| l.contains(r#""reason":"killed""#)).count() as u64;
    assert_eq!(killed, report.injected.kills, "{trace}");
}

#[test]
fn start_failures_are_injected_after_boot_only_unless_asked() {
    let faults = DstFaults {
        start_fail: 1.0,
        ..DstFaults::none()
    };
    let (report, _) = trace_of(one_worker, faults.clone());
    assert_eq!(
        (report.injected.failed_starts, report.outcome),
        (0, SeedOutcome::Tree(Outcome::Up))
    );
    let boot = DstFaults {
        boot_faults: true,
        ..faults
    };
    let (report, trace) = trace_of(one_worker, boot);
    assert_eq!(report.outcome, SeedOutcome::Tree(Outcome::StartFailed), "{trace}");
    assert!(trace.contains("injected start failure"), "{trace}");
}

#[test]
fn a_permanent_child_that_never_comes_back_breaks_liveness() {
    // The second run never reports ready.
    let tree = || {
        let runs = Arc::new(AtomicU64::new(0));
        Tree::new(SupervisorSpec::new()).task(ChildSpec::worker("w").readiness(Readiness::Notify), move |ctx| {
            let n = runs.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    ctx.ready();
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    return Err("first run ends".to_owned());
                }
                ctx.stopped().await;
                Ok(())
            }
        })
    };
    let report = Dst::new(tree).faults(DstFaults::none()).run_seed(0).unwrap();
    let v = report.violation.as_ref().expect("liveness");
    assert_eq!(v.rule, Rule::Liveness, "{report}");
    assert!(v.detail.starts_with("w is permanent"), "{}", v.detail);
}

#[test]
fn state_shared_across_runs_of_a_seed_is_a_determinism_violation() {
    // A static survives the factory: the second run of the seed differs.
    static RUNS: AtomicU64 = AtomicU64::new(0);
    let tree = || {
        let n = RUNS.fetch_add(1, Ordering::SeqCst);
        Tree::new(SupervisorSpec::new().intensity(1000)).task(ChildSpec::worker("w"), move |_ctx| async move {
            tokio::time::sleep(Duration::from_millis(100 + n)).await;
            Err::<(), _>("tick")
        })
    };
    let report = Dst::new(tree)
        .duration(Duration::from_secs(5))
        .faults(DstFaults::none())
        .check_determinism(9)
        .unwrap();
    let v = report.violation.expect("two different traces");
    assert_eq!(v.rule, Rule::Determinism);
    assert!(v.detail.contains("first difference at line 6"), "{}", v.detail);
}

#[test]
fn processes_blocking_children_and_control_servers_are_refused() {
    let process = || Tree::new(SupervisorSpec::new()).process(ChildSpec::worker("p"), ProcessSpec::new(["true"]));
    assert!(matches!(Dst::new(process).run_seed(0), Err(DstError::ProcessChild { path }) if path == "p"));
    let blocking = || {
        Tree::new(SupervisorSpec::new()).supervisor(
            ChildSpec::supervisor("s", SupervisorSpec::new()),
            vigil_tokio::Children::new().blocking(ChildSpec::worker("b"), |_ctx: BlockingContext| Ok::<(), String>(())),
        )
    };
    let err = Dst::new(blocking).run_seed(0).unwrap_err();
    assert!(
        matches!(&err, DstError::BlockingChild { path } if path == "s/b"),
        "{err}"
    );
}

#[test]
fn a_task_that_blocks_the_thread_is_warned_about() {
    let tree = || {
        Tree::new(SupervisorSpec::new()).task(ChildSpec::worker("sleepy"), |ctx| async move {
            std::thread::sleep(Duration::from_millis(600)); // blocks the simulation's only thread
            ctx.stopped().await;
            Ok::<(), String>(())
        })
    };
    let report = Dst::new(tree)
        .duration(Duration::from_secs(1))
        .faults(DstFaults::none())
        .stall_warning(Some(Duration::from_millis(100)))
        .run_seed(0)
        .unwrap();
    assert!(
        report.warnings.iter().any(|w| w.contains("no supervision step")),
        "{report}"
    );
}

#[test]
fn a_checkpoint_outside_a_simulation_does_nothing() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let tree = Tree::new(SupervisorSpec::new().intensity(0))
            .task(
                ChildSpec::worker("w").restart(vigil_core::Restart::Transient),
                |ctx| async move {
                    for _ in 0..10_000 {
                        // Ready at its first poll: it never yields.
                        assert!(futures_util::FutureExt::now_or_never(ctx.checkpoint()).is_some());
                        ctx.checkpoint().await;
                    }
                    Ok::<(), String>(())
                },
            )
            .start()
            .unwrap();
        let mut events = tree.events();
        while let Some(e) = events.recv().await {
            if let vigil_tokio::EventKind::Exited { reason, .. } = e.unwrap().kind {
                assert!(reason.is_normal(), "{reason}");
                break;
            }
        }
        tree.shutdown().await;
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// For every seed and crash rate, the fixed service stays up.
    #[test]
    fn the_fixed_service_survives_any_seed_and_crash_rate(seed in any::<u64>(), crash in 0.0f64..0.05) {
        let faults = DstFaults { checkpoint_crash: crash, ..crashes() };
        let report = Dst::new(|| service(true)).duration(Duration::from_secs(60)).faults(faults)
            .require_up(true).run_seed(seed).unwrap();
        prop_assert!(report.passed(), "{}", report);
    }
}

#[test]
fn real_io_in_a_task_panics_its_run_with_tokios_message() {
    let tree = || {
        Tree::new(SupervisorSpec::new().intensity(1000)).task(ChildSpec::worker("net"), |_ctx| async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| e.to_string())?;
            drop(listener);
            Ok::<(), String>(())
        })
    };
    let (report, trace) = Dst::new(tree)
        .duration(Duration::from_secs(1))
        .faults(DstFaults::none())
        .trace_seed(0)
        .unwrap();
    let exit = trace
        .lines()
        .find(|l| l.contains(r#""ev":"exited","path":"net""#))
        .expect("the run ended");
    assert!(
        exit.contains(r#""reason":"panic("#) && exit.contains("IO is disabled"),
        "{exit}"
    );
    assert!(report.passed(), "{report}");
}

#[test]
fn hostile_settings_end_and_say_why() {
    // Kills every nanosecond: the step budget ends the run.
    let faults = DstFaults {
        kill_every: Some(Duration::ZERO),
        ..DstFaults::none()
    };
    let report = Dst::new(one_worker)
        .faults(faults)
        .max_steps(1_000)
        .run_seed(1)
        .unwrap();
    assert_eq!(report.outcome, SeedOutcome::StepBudget, "{report}");
    assert_eq!(report.violation.as_ref().map(|v| v.rule), Some(Rule::StepBudget));
    // Faults for 584 years, delays of as long, impossible probabilities.
    let wild = DstFaults {
        start_delay: 7.0,
        ready_delay: f64::NAN,
        ignore_stop: -1.0,
        max_delay: Duration::MAX,
        ..DstFaults::none()
    };
    let quiet = || {
        Tree::new(SupervisorSpec::new()).task(ChildSpec::worker("w"), |ctx| async move {
            ctx.stopped().await;
            Ok::<(), String>(())
        })
    };
    let report = Dst::new(quiet)
        .duration(Duration::MAX)
        .faults(wild)
        .run_seed(2)
        .unwrap();
    assert!(report.passed(), "{report}");
    assert_eq!(report.injected.delayed_starts, 1);
    assert_eq!(report.injected.delayed_readies + report.injected.ignored_stops, 0);
    // An empty range, a reversed one, no threads.
    let _env = env_lock();
    let none = Dst::new(one_worker).jobs(0).run(5..5).unwrap();
    assert!(none.reports.is_empty());
    #[allow(clippy::reversed_empty_ranges)]
    let reversed = Dst::new(one_worker).run(9..3).unwrap();
    assert!(reversed.reports.is_empty());
    // The last seed there is, alone.
    std::env::set_var(SEED_VARIABLE, u64::MAX.to_string());
    let last = Dst::new(one_worker).duration(Duration::from_secs(5)).run(0..10);
    std::env::remove_var(SEED_VARIABLE);
    assert_eq!(
        last.unwrap().reports.iter().map(|r| r.seed).collect::<Vec<_>>(),
        vec![u64::MAX]
    );
}

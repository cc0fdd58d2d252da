//! Chaos on a real run (`vigil_tokio::chaos`, feature `sim`), here over
//! task children on a paused clock: each fault acts and shows in the
//! trace as the brief says; the trace replays in the simulator; the same
//! seed gives the same trace; nothing is injected once shutdown began, and
//! a start still being delayed then is carried out at once; hostile seeds
//! and plans work. The same over real processes, through `vigil run
//! --chaos`: adapters/cli/tests/chaos.rs.

use std::time::Duration;

use vigil_core::{ChildSpec, Readiness, SupervisorSpec};
use vigil_tokio::chaos::{Chaos, ChaosFaults};
use vigil_tokio::{RunContext, Tree};

use vigil_trace::SharedBuffer as Buffer;

/// The trace's lines so far.
fn lines(trace: &Buffer) -> Vec<String> {
    trace.text().lines().map(str::to_owned).collect()
}

async fn idle(ctx: RunContext) -> Result<(), String> {
    ctx.stopped().await;
    Ok(())
}

/// A notify worker: ready at once, then idle.
async fn ready_then_idle(ctx: RunContext) -> Result<(), String> {
    ctx.ready();
    ctx.stopped().await;
    Ok(())
}

fn root() -> SupervisorSpec {
    SupervisorSpec::new().intensity(10_000).period(Duration::from_secs(1))
}

/// The engine spec of [`tree`], as the simulator replays it.
fn spec() -> SupervisorSpec {
    root()
        .child(ChildSpec::worker("a"))
        .child(ChildSpec::worker("b"))
        .child(ChildSpec::worker("n").readiness(Readiness::Notify))
}

fn tree(chaos: Chaos, trace: &Buffer) -> Tree {
    Tree::new(root())
        .task(ChildSpec::worker("a"), idle)
        .task(ChildSpec::worker("b"), idle)
        .task(ChildSpec::worker("n").readiness(Readiness::Notify), ready_then_idle)
        .trace(Box::new(trace.clone()))
        .chaos(chaos)
}

/// Run `chaos` over the tree for `run_for` of paused time, then shut it
/// down; the trace, and what the control counted.
fn run(chaos: Chaos, run_for: Duration) -> (Vec<String>, vigil_tokio::dst::Injected) {
    let trace = Buffer::default();
    let control = chaos.control();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let handle = tree(chaos, &trace).start().expect("a valid tree");
        tokio::time::sleep(run_for).await;
        let reason = handle.shutdown().await;
        assert!(reason.is_normal(), "{reason}");
    });
    (lines(&trace), control.injected())
}

fn gen_of(line: &str) -> Option<String> {
    let at = line.find("\"gen\":")? + 6;
    Some(line[at..].chars().take_while(char::is_ascii_digit).collect())
}

fn is(line: &str, ev: &str) -> bool {
    line.contains(&format!("\"ev\":\"{ev}\""))
}

/// A meta line for the simulator's replay (`Tree::trace` writes none).
fn with_meta(lines: &[String]) -> String {
    let meta = vigil_trace::RunMeta {
        seed: 0,
        config: "chaos test".into(),
        digest: None,
        t0: std::time::SystemTime::now(),
    };
    let mut text = meta.line();
    text.push('\n');
    for l in lines {
        text.push_str(l);
        text.push('\n');
    }
    text
}

fn every_fault() -> ChaosFaults {
    ChaosFaults {
        kill_every: Some(Duration::from_millis(500)),
        start_fail: 0.2,
        start_delay: 0.3,
        ready_delay: 0.5,
        max_delay: Duration::from_millis(200),
    }
}

#[test]
fn each_fault_acts_and_the_trace_replays_exactly() {
    let (lines, injected) = run(Chaos::new(7).faults(every_fault()), Duration::from_secs(60));
    assert!(injected.kills > 10, "{injected:?}");
    assert!(injected.failed_starts > 0, "{injected:?}");
    assert!(injected.delayed_starts > 0, "{injected:?}");
    assert!(injected.delayed_readies > 0, "{injected:?}");
    let failed: Vec<&String> = lines.iter().filter(|l| is(l, "start_failed")).collect();
    assert_eq!(failed.len() as u64, injected.failed_starts, "{failed:?}");
    assert!(failed
        .iter()
        .all(|l| l.contains(r#""error":"injected start failure (chaos seed 7)""#)));
    // A random kill: `exited ... killed` with no `kill` command before it
    // for that run (the engine ordered none; no operator asked).
    let killed: Vec<&String> = lines
        .iter()
        .filter(|l| is(l, "exited") && l.contains(r#""reason":"killed""#))
        .collect();
    assert_eq!(killed.len() as u64, injected.kills, "{killed:?}");
    for k in &killed {
        let gen = gen_of(k);
        assert!(
            !lines.iter().any(|l| is(l, "kill") && gen_of(l) == gen),
            "a kill command for {k}"
        );
    }
    // A delayed start: the task's `started` comes later than its `spawn`.
    let time = |l: &str| vigil_sim_time(l);
    let late = lines.iter().filter(|l| is(l, "started")).any(|s| {
        let spawn = lines
            .iter()
            .find(|l| is(l, "spawn") && gen_of(l) == gen_of(s))
            .expect("its spawn");
        time(s) > time(spawn)
    });
    assert!(late, "no start was delayed");
    // Nothing injected after the shutdown request.
    let shutdown = lines
        .iter()
        .position(|l| l.contains(r#""op":"shutdown""#))
        .expect("the request");
    assert!(!lines[shutdown..]
        .iter()
        .any(|l| l.contains("injected") || (is(l, "exited") && l.contains(r#""reason":"killed""#))));
    assert!(lines.last().is_some_and(|l| is(l, "reply")), "{:?}", lines.last());

    let replayed = vigil_sim::replay_run(&spec(), 0, &with_meta(&lines)).expect("the trace replays exactly");
    assert_eq!(replayed.lines, lines.len() + 1);
}

/// The `t` of a trace line.
fn vigil_sim_time(line: &str) -> u64 {
    let digits: String = line["{\"t\":".len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().expect("a time")
}

#[test]
fn a_tampered_chaos_trace_is_reported_at_its_line() {
    let (lines, _) = run(Chaos::new(3).faults(every_fault()), Duration::from_secs(20));
    // The restart that follows a random kill: a decision of the engine's.
    let kill = lines
        .iter()
        .position(|l| is(l, "exited") && l.contains(r#""reason":"killed""#))
        .expect("a random kill");
    let at = kill + 1;
    assert!(is(&lines[at], "restart"), "{}", lines[at]);
    let mut tampered = lines.clone();
    tampered[at] = tampered[at].replace("one_for_one", "rest_for_one");
    let err = vigil_sim::replay_run(&spec(), 0, &with_meta(&tampered)).expect_err("a changed line");
    // Line numbers count the meta line.
    assert!(err.to_string().contains(&format!("line {}:", at + 2)), "{err}");
}

#[test]
fn on_a_paused_clock_the_same_seed_gives_the_same_trace() {
    let (a, _) = run(Chaos::new(11).faults(every_fault()), Duration::from_secs(30));
    let (b, _) = run(Chaos::new(11).faults(every_fault()), Duration::from_secs(30));
    assert_eq!(a, b);
    let (c, _) = run(Chaos::new(12).faults(every_fault()), Duration::from_secs(30));
    assert_ne!(a, c, "another seed, other faults");
}

#[test]
fn a_start_delayed_at_shutdown_is_carried_out_at_once() {
    // Every start waits up to a day: the first child's is still waiting
    // when the shutdown comes (and the root, starting its children in
    // order, waits for it).
    let faults = ChaosFaults {
        kill_every: Some(Duration::from_secs(1)),
        start_delay: 1.0,
        max_delay: Duration::from_secs(86_400),
        ..ChaosFaults::none()
    };
    let (lines, injected) = run(Chaos::new(5).faults(faults), Duration::from_secs(120));
    assert_eq!(injected.delayed_starts, 1, "{injected:?}");
    assert_eq!(injected.kills, 0, "nothing was up to kill: {injected:?}");
    let shutdown = lines
        .iter()
        .position(|l| l.contains(r#""op":"shutdown""#))
        .expect("the request");
    let down = lines.iter().position(|l| is(l, "tree_down")).expect("the end");
    let (t0, t1) = (vigil_sim_time(&lines[shutdown]), vigil_sim_time(&lines[down]));
    // The delayed run started when the shutdown came (not a day later),
    // and was then stopped as any other.
    assert_eq!(t1, t0, "{}", lines[shutdown..].join("\n"));
    assert!(
        lines[shutdown..].iter().any(|l| is(l, "started")),
        "{}",
        lines[shutdown..].join("\n")
    );
    vigil_sim::replay_run(&spec(), 0, &with_meta(&lines)).expect("the trace replays exactly");
}

#[test]
fn chaos_stopped_by_its_control_injects_nothing_more() {
    let trace = Buffer::default();
    let chaos = Chaos::new(9).faults(every_fault());
    let control = chaos.control();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let handle = tree(chaos, &trace).start().expect("a valid tree");
        tokio::time::sleep(Duration::from_secs(20)).await;
        control.stop();
        let before = control.injected();
        let lines_before = lines(&trace).len();
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_eq!(control.injected(), before);
        assert!(!control.is_on());
        // Whatever was being delayed came; nothing else happened.
        let after = lines(&trace);
        assert!(
            !after[lines_before..].iter().any(|l| is(l, "exited")),
            "{:?}",
            &after[lines_before..]
        );
        assert!(handle.shutdown().await.is_normal());
    });
}

#[test]
fn hostile_seeds_pick_a_plan_that_injects_something() {
    for seed in [0, 1, u64::MAX, u64::MAX - 1, 1 << 63] {
        let chaos = Chaos::new(seed);
        assert!(!chaos.plan().is_none(), "seed {seed}: {:?}", chaos.plan());
        assert_eq!(chaos.plan(), Chaos::new(seed).plan(), "seed {seed}");
        let (lines, _) = run(chaos, Duration::from_secs(600));
        vigil_sim::replay_run(&spec(), 0, &with_meta(&lines)).expect("the trace replays exactly");
    }
    let plans: std::collections::BTreeSet<String> = (0..64).map(|s| Chaos::new(s).plan().to_string()).collect();
    assert!(plans.len() > 10, "seeds pick different mixes: {plans:?}");
}

#[test]
fn hostile_plans_are_survived() {
    // Kills a nanosecond apart on average (at least a millisecond apart),
    // probabilities that are not: vigil neither panics nor spins.
    let faults = ChaosFaults {
        kill_every: Some(Duration::from_nanos(1)),
        start_fail: f64::NAN,
        ready_delay: -1.0,
        ..ChaosFaults::none()
    };
    let (lines, injected) = run(Chaos::new(1).faults(faults), Duration::from_secs(5));
    assert!(injected.kills > 100 && injected.kills <= 5_000, "{injected:?}");
    assert_eq!(injected.failed_starts + injected.delayed_readies, 0, "{injected:?}");
    vigil_sim::replay_run(&spec(), 0, &with_meta(&lines)).expect("the trace replays exactly");
    // Every start delayed by up to the longest duration: the first child
    // never comes up (the root starts its children in order), and the
    // shutdown still ends the tree at once.
    let faults = ChaosFaults {
        start_delay: 7.0,
        max_delay: Duration::MAX,
        ..ChaosFaults::none()
    };
    let (lines, injected) = run(Chaos::new(u64::MAX).faults(faults), Duration::from_secs(5));
    assert_eq!(injected.delayed_starts, 1, "{injected:?}");
    assert!(lines.last().is_some_and(|l| is(l, "reply")), "{:?}", lines.last());
    vigil_sim::replay_run(&spec(), 0, &with_meta(&lines)).expect("the trace replays exactly");
}

#[test]
fn a_root_that_gives_up_under_chaos_ends_it_and_nothing_more_is_injected() {
    let trace = Buffer::default();
    let chaos = Chaos::new(2).faults(ChaosFaults {
        kill_every: Some(Duration::from_millis(100)),
        ..ChaosFaults::none()
    });
    let control = chaos.control();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let handle = Tree::new(SupervisorSpec::new().intensity(2).period(Duration::from_secs(10)))
            .task(ChildSpec::worker("a"), idle)
            .task(ChildSpec::worker("b"), idle)
            .trace(Box::new(trace.clone()))
            .chaos(chaos)
            .start()
            .expect("a valid tree");
        handle.wait().await;
        assert_eq!(handle.outcome(), vigil_core::Outcome::RootGaveUp);
    });
    assert!(!control.is_on(), "the root's end switched chaos off");
    let lines = lines(&trace);
    assert_eq!(control.injected().kills, 3, "{}", lines.join("\n"));
    let ending = lines.iter().position(|l| is(l, "sup_ending")).expect("the root's end");
    // The root stops what is left: `stop` then `exited ... shutdown`, no kill of chaos's.
    assert!(!lines[ending..]
        .iter()
        .any(|l| is(l, "exited") && l.contains(r#""reason":"killed""#)));
    let spec = SupervisorSpec::new()
        .intensity(2)
        .period(Duration::from_secs(10))
        .child(ChildSpec::worker("a"))
        .child(ChildSpec::worker("b"));
    vigil_sim::replay_run(&spec, 0, &with_meta(&lines)).expect("the trace replays exactly");
}

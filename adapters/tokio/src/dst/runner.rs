//! One seed: a fresh tree from the factory, a fresh single-threaded runtime
//! with a paused clock, the real driver on it with the world's hooks, until
//! the world says the run is over (or the tree is down); then the report.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use vigil_core::{ChildKind, Instant, SupervisorSpec};
use vigil_sim::{Oracle, Rule, SeedOutcome, TraceWriter};

use super::error::DstError;
use super::faults::DstFaults;
use super::injector::FaultInjector;
use super::report::DstReport;
use super::watchdog::Watchdog;
use super::world::{Setup, Shared, World};
use super::Settings;
use crate::builder::Tree;
use crate::payloads::Payload;
use crate::sim_hooks::Hooks;

/// Where a seed's trace is written, read back by the caller.
pub(crate) type TraceText = vigil_trace::SharedBuffer;

/// Run `seed` once on a fresh runtime; `trace` receives the meta line and
/// every notice.
pub(crate) fn run_one(
    factory: &(dyn Fn() -> Tree + Sync),
    seed: u64,
    settings: &Settings,
    reproduction: String,
    mut trace: TraceWriter,
) -> Result<DstReport, DstError> {
    let wall = std::time::Instant::now();
    let (spec, payloads, mut options) = factory().into_parts()?;
    refuse_what_cannot_be_simulated(&spec, &payloads, options.control.is_some())?;
    let injector = match &settings.faults {
        Some(faults) => FaultInjector::with_faults(seed, faults.clone()),
        None => FaultInjector::swarm(seed),
    };
    let setup = Setup {
        duration: settings.duration,
        liveness: settings
            .liveness
            .unwrap_or_else(|| liveness_bound(&spec, injector.faults())),
        max_steps: settings.max_steps,
    };
    trace.raw_line(&meta_line(seed, &setup, injector.faults()));
    let world = World::new(Oracle::new(&spec), trace, injector, &setup);
    let (done, progress) = (world.done(), Arc::clone(&world.progress));
    let shared = Arc::new(Shared(Mutex::new(world)));
    options.seed = seed;
    options.hooks = Hooks::new(Box::new(Arc::clone(&shared)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()?;
    let watchdog = Watchdog::start(seed, progress, settings.stall_warning);
    let ran = runtime.block_on(async move {
        let origin = tokio::time::Instant::now();
        let tree = crate::driver::spawn(spec, &payloads, options).map_err(crate::builder::BuildError::from)?;
        tokio::select! {
            biased;
            () = done.notified() => {}
            _ = tree.wait() => {}
        }
        Ok::<_, DstError>((tree.outcome(), origin.elapsed()))
    });
    // Every task (the runs' futures, the driver) is dropped with the runtime.
    drop(runtime);
    let warnings = watchdog.stop();
    let (outcome, elapsed) = ran?;
    let mut world = shared.lock();
    let _ = world.trace.finish();
    let violation = vigil_sim::Observer::violation(&world.oracle).cloned();
    let virtual_time = if world.finished {
        world.end - Instant::ZERO
    } else {
        elapsed
    };
    let seed_outcome = match &violation {
        Some(v) if v.rule == Rule::StepBudget => SeedOutcome::StepBudget,
        Some(_) => SeedOutcome::Violation,
        None => SeedOutcome::Tree(outcome),
    };
    Ok(DstReport {
        seed,
        went_down: (settings.require_up && violation.is_none() && outcome.is_down()).then_some((outcome, virtual_time)),
        outcome: seed_outcome,
        violation,
        trace_hash: world.trace.hash(),
        trace_lines: world.trace.lines(),
        virtual_time,
        wall_time: wall.elapsed(),
        faults: world.injector.faults().clone(),
        injected: world.injected,
        warnings,
        reproduction,
    })
}

/// The trace's first line: an own-code simulation, its seed, its phases and faults.
fn meta_line(seed: u64, setup: &Setup, faults: &DstFaults) -> String {
    let text = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    format!(
        "{{\"t\":0,\"ev\":\"meta\",\"sim\":\"own_code\",\"seed\":{seed},\"duration_ns\":{},\"liveness_ns\":{},\"faults\":{},\"vigil\":{},\"origin\":\"own_code\"}}",
        ns(setup.duration),
        ns(setup.liveness),
        text(&faults.to_string()),
        text(env!("CARGO_PKG_VERSION")),
    )
}

/// Processes, blocking children and a control server run outside virtual
/// time: refused, with the first such child's path.
fn refuse_what_cannot_be_simulated(spec: &SupervisorSpec, payloads: &[Payload], control: bool) -> Result<(), DstError> {
    if control {
        return Err(DstError::ControlServer);
    }
    let mut stack: Vec<(String, &SupervisorSpec)> = vec![(String::new(), spec)];
    while let Some((prefix, sup)) = stack.pop() {
        for c in &sup.children {
            let path = if prefix.is_empty() {
                c.name.clone()
            } else {
                format!("{prefix}/{}", c.name)
            };
            match &c.kind {
                ChildKind::Supervisor(s) => stack.push((path, s)),
                ChildKind::Worker => match usize::try_from(c.tag).ok().and_then(|t| payloads.get(t)) {
                    Some(Payload::Process(_)) => return Err(DstError::ProcessChild { path }),
                    Some(Payload::Blocking(_)) => return Err(DstError::BlockingChild { path }),
                    _ => {}
                },
            }
        }
    }
    Ok(())
}

/// How long the faults stay off before liveness is judged: one minute plus
/// twice every backoff maximum, startup timeout and shutdown timeout in the
/// tree, plus twice the longest injected delay (as the simulator's bound,
/// docs/SIMULATION.md, "The oracle": the liveness phase).
fn liveness_bound(spec: &SupervisorSpec, faults: &DstFaults) -> Duration {
    let twice = |d: Duration| d.saturating_mul(2);
    let mut total = Duration::from_secs(60).saturating_add(twice(faults.max_delay));
    let mut stack = vec![spec];
    while let Some(sup) = stack.pop() {
        for c in &sup.children {
            if let Some(b) = &c.backoff {
                total = total.saturating_add(twice(b.max));
            }
            if let Some(t) = c.startup_timeout {
                total = total.saturating_add(twice(t));
            }
            if let vigil_core::Shutdown::Timeout(t) = c.shutdown_policy() {
                total = total.saturating_add(twice(t));
            }
            if let ChildKind::Supervisor(s) = &c.kind {
                stack.push(s);
            }
        }
    }
    total
}

//! One simulated run: the one [`World`](crate::World) around the engine,
//! watched by the oracle and the trace, with the [`Scenario`] as its policy,
//! driven through virtual time until the run ends, then judged for liveness.
//!
//! The loop takes whichever comes first, the engine's next deadline
//! (deadlines fire before queued happenings at the same instant) or the next
//! event of the scenario, and stops at the first broken rule, at the step
//! budget, when the tree is down, or at the end of the liveness phase.

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;
use vigil_core::{ChildState, Engine, Instant, Restart, SupervisorSpec};
use vigil_trace::TraceWriter;

use crate::fault_plan::FaultPlan;
use crate::observer::Observer;
use crate::options::SimOptions;
use crate::oracle::Rule;
use crate::report::{SeedOutcome, SeedReport};
use crate::scenario::{Scenario, SimWorld};
use crate::sim_tree::SimTree;
use crate::watch::Watch;
use crate::world::World;

/// One simulation run.
pub(crate) struct Simulation<'a> {
    tree: &'a SimTree,
    opts: &'a SimOptions,
    world: SimWorld,
    scenario: Scenario<'a>,
    /// Steps taken: world events plus engine timeouts.
    events: u64,
}

impl<'a> Simulation<'a> {
    pub(crate) fn new(tree: &'a SimTree, seed: u64, opts: &'a SimOptions, trace: TraceWriter) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let faults = if opts.random_faults {
            FaultPlan::pick(&mut rng)
        } else {
            FaultPlan::none()
        };
        // A SimTree is validated when it is built; the engine can still
        // refuse what validation does not see (more nodes than an arena
        // holds). Simulate an empty tree rather than panic. The oracle is
        // given the spec the engine was built from.
        let (mut engine, given) = match Engine::new(tree.spec().clone(), seed) {
            Ok(engine) => (engine, Watch::new(trace, tree.spec())),
            Err(_) => {
                let empty = SupervisorSpec::new();
                let engine = Engine::new(empty.clone(), seed).expect("an empty tree is valid");
                (engine, Watch::new(trace, &empty))
            }
        };
        if let Some(bug) = opts.injected_bug() {
            engine.inject_bug(bug);
        }
        Simulation {
            tree,
            opts,
            world: World::new(engine, given),
            scenario: Scenario::new(tree, opts, rng, faults),
            events: 0,
        }
    }

    /// The run's report. Runs the whole simulation.
    pub(crate) fn run(mut self, seed: u64) -> SeedReport {
        let trace = &mut self.world.observer_mut().trace;
        if !trace.is_off() {
            trace.raw_line(&crate::meta_line::meta_line(self.tree, seed, self.opts));
        }
        self.scenario.schedule_initial();
        self.world.start(&mut self.scenario);
        while !self.scenario.finished && self.world.observer().violation().is_none() {
            if self.events >= self.opts.max_steps {
                self.over_budget();
                break;
            }
            let next_event = self.scenario.queue.next_at();
            let next_timer = self.world.next_deadline();
            match (next_timer, next_event) {
                (Some(t), e) if e.is_none_or(|e| t <= e) => {
                    self.events += 1;
                    self.world.fire_at(t, &mut self.scenario);
                }
                _ => {
                    let Some((at, kind)) = self.scenario.queue.pop() else {
                        break;
                    };
                    self.events += 1;
                    self.world.set_clock(at);
                    self.scenario.apply(&mut self.world, kind);
                }
            }
            if self.world.engine().is_down() {
                break;
            }
        }
        let judged = self.scenario.liveness && !self.world.engine().is_down();
        if judged && self.world.observer().violation().is_none() {
            self.check_liveness();
        }
        self.report(seed)
    }

    fn report(mut self, seed: u64) -> SeedReport {
        let watch = self.world.observer_mut();
        let _ = watch.trace.finish();
        let violation = watch.oracle.violation().cloned();
        let outcome = match &violation {
            Some(v) if v.rule == Rule::StepBudget => SeedOutcome::StepBudget,
            Some(_) => SeedOutcome::Violation,
            None => SeedOutcome::Tree(self.world.engine().outcome()),
        };
        let watch = self.world.observer();
        SeedReport {
            seed,
            outcome,
            violation,
            events: self.events,
            virtual_time: self.world.now() - Instant::ZERO,
            trace_hash: watch.trace.hash(),
            trace_lines: watch.trace.lines(),
            stats: self.world.engine().stats(),
            faults: self.scenario.faults.clone(),
        }
    }

    /// The run used up its step budget: stop it with a clear report of where
    /// virtual time stood (a run stuck at one instant is the usual cause).
    fn over_budget(&mut self) {
        let now = self.world.now();
        let stuck = if now == Instant::ZERO {
            "virtual time never advanced".to_owned()
        } else {
            format!(
                "virtual time reached {}",
                vigil_config::format_duration(now - Instant::ZERO)
            )
        };
        let detail = format!(
            "the run took {} steps, its budget ({stuck}, of {} faulty and a liveness phase); \
             raise it with --max-steps if the tree is this busy",
            self.events,
            vigil_config::format_duration(self.opts.duration)
        );
        self.world.observer_mut().flag(now, Rule::StepBudget, detail);
    }

    /// Faults have been off for the liveness bound: every permanent child of a
    /// running supervisor must be running (except what an operator stopped).
    fn check_liveness(&mut self) {
        if let Some(detail) = self.first_child_down() {
            let now = self.world.now();
            self.world.observer_mut().flag(now, Rule::Liveness, detail);
        }
    }

    /// The first permanent child of a running supervisor that is not running
    /// and that no operator stopped, described.
    fn first_child_down(&self) -> Option<String> {
        let engine = self.world.engine();
        let stopped = &self.world.observer().operator_stopped;
        let mut stack = vec![engine.root()];
        while let Some(sup) = stack.pop() {
            for c in engine.children(sup) {
                let path = engine.path(c).unwrap_or_else(|| c.to_string());
                // Exempt what an operator stopped, and its siblings: OTP's retry
                // semantics leave the rest of a one_for_all / rest_for_one round
                // stopped when the operator terminates the child being retried.
                let parent_path = path.rsplit_once('/').map_or("", |(p, _)| p);
                let touched = stopped.iter().any(|p| {
                    path == *p
                        || path.starts_with(&format!("{p}/"))
                        || p.rsplit_once('/').map_or("", |(pp, _)| pp) == parent_path
                });
                if touched {
                    continue;
                }
                let state = engine.state(c);
                let running = state == Some(ChildState::Running);
                if engine.restart_type(c) == Some(Restart::Permanent) && !running {
                    return Some(format!(
                        "{path} is permanent but {:?} after faults were off for {:?}",
                        state,
                        self.tree.liveness_bound()
                    ));
                }
                if running && engine.is_supervisor(c) {
                    stack.push(c);
                }
            }
        }
        None
    }
}

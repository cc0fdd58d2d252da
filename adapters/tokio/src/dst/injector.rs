//! The seeded fault injector: every decision to inject a fault, drawn from
//! one `ChaCha8Rng` seeded from the seed alone. It knows nothing of the
//! oracle, the trace or the runtime, so a real run can use it as it is
//! (`vigil run --chaos SEED`: docs/SIMULATION.md, "Simulating your own task
//! code").

use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use super::draw;
use super::faults::DstFaults;

/// What happens to a start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartFault {
    /// It starts now.
    None,
    /// It starts after this delay (the task's closure runs only then).
    Delay(Duration),
    /// It fails (the closure never runs).
    Fail,
}

/// What a checkpoint does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointFault {
    /// Nothing: the run goes on.
    None,
    /// The run ends with `error(injected at checkpoint)`.
    Crash,
    /// The run panics.
    Panic,
}

/// The seeded fault injector. Its plan is picked from the seed first (swarm
/// testing) unless one is given; every later draw comes from the same
/// generator, in the order the decisions are asked for, so the same seed
/// and the same sequence of questions give the same faults.
///
/// ```
/// use vigil_tokio::dst::{FaultInjector, StartFault};
///
/// let mut a = FaultInjector::swarm(42);
/// let mut b = FaultInjector::swarm(42);
/// assert_eq!(a.faults(), b.faults());
/// let starts: Vec<StartFault> = (0..20).map(|_| a.start(true)).collect();
/// assert_eq!(starts, (0..20).map(|_| b.start(true)).collect::<Vec<_>>());
/// // Switched off, it injects nothing (and draws nothing).
/// a.set_active(false);
/// assert_eq!(a.start(true), StartFault::None);
/// ```
#[derive(Clone, Debug)]
pub struct FaultInjector {
    rng: ChaCha8Rng,
    faults: DstFaults,
    active: bool,
}

impl FaultInjector {
    /// An injector whose plan the seed picks (each fault on or off, its rate
    /// from a menu).
    #[must_use]
    pub fn swarm(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let faults = DstFaults::pick(&mut rng);
        FaultInjector {
            rng,
            faults,
            active: true,
        }
    }

    /// An injector with the plan `faults`, drawing from the seed.
    #[must_use]
    pub fn with_faults(seed: u64, faults: DstFaults) -> Self {
        FaultInjector {
            rng: ChaCha8Rng::seed_from_u64(seed),
            faults,
            active: true,
        }
    }

    /// An injector with the plan `faults`, drawing from `rng` as it is (a
    /// chaos run picks its plan from the seed's generator first, then
    /// injects from the same one: `src/chaos.rs`).
    pub(crate) fn from_rng(rng: ChaCha8Rng, faults: DstFaults) -> Self {
        FaultInjector {
            rng,
            faults,
            active: true,
        }
    }

    /// The plan.
    #[must_use]
    pub fn faults(&self) -> &DstFaults {
        &self.faults
    }

    /// Whether faults are injected now.
    #[must_use]
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Switch injection on or off (off: the liveness phase).
    pub fn set_active(&mut self, on: bool) {
        self.active = on;
    }

    /// A start: delayed, failed, or neither. `booted`: the tree has
    /// finished its first start (before that, a failure needs the plan's
    /// `boot_faults`).
    pub fn start(&mut self, booted: bool) -> StartFault {
        if !self.active {
            return StartFault::None;
        }
        if (booted || self.faults.boot_faults) && draw::chance(&mut self.rng, self.faults.start_fail) {
            return StartFault::Fail;
        }
        match self.delay(self.faults.start_delay) {
            Some(d) => StartFault::Delay(d),
            None => StartFault::None,
        }
    }

    /// A `ready`: how late it reaches the engine, if at all.
    pub fn ready(&mut self) -> Option<Duration> {
        if !self.active {
            return None;
        }
        self.delay(self.faults.ready_delay)
    }

    /// A `Stop`: whether the run ignores it.
    pub fn ignores_stop(&mut self) -> bool {
        self.active && draw::chance(&mut self.rng, self.faults.ignore_stop)
    }

    /// A checkpoint.
    pub fn checkpoint(&mut self) -> CheckpointFault {
        if !self.active {
            return CheckpointFault::None;
        }
        if draw::chance(&mut self.rng, self.faults.checkpoint_crash) {
            CheckpointFault::Crash
        } else if draw::chance(&mut self.rng, self.faults.checkpoint_panic) {
            CheckpointFault::Panic
        } else {
            CheckpointFault::None
        }
    }

    /// The gap until the next random kill, if kills are on.
    pub fn next_kill(&mut self) -> Option<Duration> {
        let mean = self.faults.kill_every.filter(|_| self.active)?;
        Some(draw::exponential(&mut self.rng, mean))
    }

    /// Which of `n` candidates (a random kill's victim): an index below `n`.
    pub fn choose(&mut self, n: usize) -> usize {
        draw::index(&mut self.rng, n)
    }

    fn delay(&mut self, p: f64) -> Option<Duration> {
        let max = self.faults.max_delay;
        if max.is_zero() || !draw::chance(&mut self.rng, p) {
            return None;
        }
        Some(draw::up_to(&mut self.rng, max))
    }
}

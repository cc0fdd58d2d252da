//! # Chaos on a real run (feature `sim`)
//!
//! [`Chaos`] injects the own-code simulation's faults into a tree that runs
//! for real, on the real clock: random kills of running children (a
//! process's whole group gets SIGKILL, as a `Kill` command does), delayed
//! starts, failing starts (reported `StartFailed` without forking, with an
//! error text that says it was injected) and late readiness. Every decision
//! comes from one generator seeded from the seed alone: the same
//! [`FaultInjector`] that
//! `Dst` (feature `dst`) uses, asked through the same driver hooks
//! (`adapters/tokio/src/chaos_hooks.rs` is their real-time
//! implementation). The run's trace is an ordinary trace of a real run, so
//! `vigil sim CONFIG --replay` replays it: this is how a user checks that
//! the simulator's model of their processes is faithful
//! (docs/SIMULATION.md, "Chaos on a real run").
//!
//! Chaos acts only on live runs of the tree's own children, and never once
//! shutdown has begun: a `shutdown` request, the root's end, or
//! [`ChaosControl::stop`] switches it off for good, and the starts it was
//! still delaying are carried out at once, so the ordered shutdown is the
//! ordinary one.
//!
//! ```
//! use std::time::Duration;
//! use vigil_core::{ChildSpec, SupervisorSpec};
//! use vigil_tokio::chaos::{Chaos, ChaosFaults};
//! use vigil_tokio::Tree;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap().block_on(async {
//! // One start in five fails, and a running child is killed every ~2 s.
//! let chaos = Chaos::new(7).faults(ChaosFaults {
//!     start_fail: 0.2,
//!     kill_every: Some(Duration::from_secs(2)),
//!     ..ChaosFaults::none()
//! });
//! let control = chaos.control();
//! let idle = |ctx: vigil_tokio::RunContext| async move {
//!     ctx.stopped().await;
//!     Ok::<(), String>(())
//! };
//! let tree = Tree::new(SupervisorSpec::new().intensity(1000))
//!     .task(ChildSpec::worker("a"), idle)
//!     .task(ChildSpec::worker("b"), idle)
//!     .chaos(chaos)
//!     .start()
//!     .expect("a valid tree");
//! tokio::time::sleep(Duration::from_secs(60)).await;
//! control.stop(); // no fault from here on
//! assert!(tree.shutdown().await.is_normal());
//! assert!(control.injected().kills > 0);
//! # });
//! ```

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::SeedableRng;

use crate::dst::draw;
use crate::dst::{DstFaults, FaultInjector, Injected};

/// The faults a chaos run injects. Every probability is per occasion (per
/// start, per `ready`) and is clamped to `0..=1`; 0 switches the fault off.
///
/// ```
/// use std::time::Duration;
/// use vigil_tokio::chaos::ChaosFaults;
///
/// let faults = ChaosFaults {
///     start_fail: 0.2,
///     kill_every: Some(Duration::from_secs(30)),
///     ..ChaosFaults::none()
/// };
/// assert_eq!(faults.to_string(), "20% of starts fail, a kill every ~30s");
/// assert_eq!(ChaosFaults::none().to_string(), "none");
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChaosFaults {
    /// Mean time between random kills of a running child (exponential
    /// gaps, each at least [`MIN_KILL_GAP`]); `None`: no kills.
    pub kill_every: Option<Duration>,
    /// Probability that a start fails (nothing is forked or spawned).
    pub start_fail: f64,
    /// Probability that a start is delayed (uniform up to `max_delay`).
    pub start_delay: f64,
    /// Probability that a child's readiness reaches the engine late
    /// (uniform up to `max_delay`).
    pub ready_delay: f64,
    /// The longest delay of a start or a readiness.
    pub max_delay: Duration,
}

/// The shortest gap between two random kills, whatever the mean: a mean
/// of a nanosecond must not make the driver spin.
pub const MIN_KILL_GAP: Duration = Duration::from_millis(1);

fn pick<T: Copy>(rng: &mut ChaCha8Rng, menu: &[T]) -> T {
    menu[draw::index(rng, menu.len())]
}

impl ChaosFaults {
    /// No faults at all.
    #[must_use]
    pub fn none() -> Self {
        ChaosFaults::default()
    }

    /// Whether the plan injects nothing.
    #[must_use]
    pub fn is_none(&self) -> bool {
        self.to_injector_plan().is_none()
    }

    /// The seed's plan (swarm testing, with the own-code simulation's
    /// menus: `src/dst/faults.rs`): each fault on or off by a coin, its
    /// rate from a short menu; a plan that would inject nothing kills
    /// instead (a chaos run was asked for).
    pub(crate) fn pick(rng: &mut ChaCha8Rng) -> Self {
        let s = Duration::from_secs;
        let on = |rng: &mut ChaCha8Rng| draw::chance(rng, 0.5);
        let mut plan = ChaosFaults {
            kill_every: on(rng).then(|| pick(rng, &[s(5), s(60), s(600)])),
            start_fail: if on(rng) { pick(rng, &[0.05, 0.2]) } else { 0.0 },
            start_delay: if on(rng) { pick(rng, &[0.1, 0.5]) } else { 0.0 },
            ready_delay: if on(rng) { pick(rng, &[0.1, 0.5]) } else { 0.0 },
            max_delay: pick(rng, &[Duration::from_millis(10), s(1), s(10)]),
        };
        if plan.is_none() {
            plan.kill_every = Some(pick(rng, &[s(5), s(60), s(600)]));
        }
        plan
    }

    /// The injector's plan: what a real run cannot do (checkpoint faults,
    /// ignored stops, failures of the first start) stays off.
    pub(crate) fn to_injector_plan(&self) -> DstFaults {
        DstFaults {
            start_delay: self.start_delay,
            ready_delay: self.ready_delay,
            max_delay: self.max_delay,
            start_fail: self.start_fail,
            kill_every: self.kill_every,
            ..DstFaults::none()
        }
    }
}

impl fmt::Display for ChaosFaults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_injector_plan(), f)
    }
}

/// Chaos for one real run: the seed and the plan it picked (or was given).
/// Give it to [`Tree::chaos`](crate::Tree::chaos); keep its
/// [`control`](Chaos::control) to switch it off and to read what it did.
#[must_use = "chaos does nothing until given to Tree::chaos"]
pub struct Chaos {
    seed: u64,
    plan: ChaosFaults,
    rng: ChaCha8Rng,
    control: ChaosControl,
}

impl fmt::Debug for Chaos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chaos")
            .field("seed", &self.seed)
            .field("plan", &self.plan)
            .finish_non_exhaustive()
    }
}

impl Chaos {
    /// Chaos seeded from `seed` alone: the seed picks the plan (each fault
    /// on or off, its rate from a menu, as the simulator's swarm testing
    /// does), then every fault is drawn from the same generator.
    pub fn new(seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let plan = ChaosFaults::pick(&mut rng);
        Chaos {
            seed,
            plan,
            rng,
            control: ChaosControl::default(),
        }
    }

    /// Inject `plan` instead of the seed's (the faults are still drawn
    /// from the seed's generator, as they would be after its own pick).
    pub fn faults(mut self, plan: ChaosFaults) -> Self {
        self.plan = plan;
        self
    }

    /// The seed.
    #[must_use]
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The plan.
    #[must_use]
    pub fn plan(&self) -> &ChaosFaults {
        &self.plan
    }

    /// A handle that switches the chaos off and counts what it injected.
    #[must_use]
    pub fn control(&self) -> ChaosControl {
        self.control.clone()
    }

    /// The seed, the control and the injector, for the driver's hooks.
    pub(crate) fn into_parts(self) -> (u64, FaultInjector, ChaosControl) {
        let injector = FaultInjector::from_rng(self.rng, self.plan.to_injector_plan());
        (self.seed, injector, self.control)
    }
}

/// Switches a chaos run off and reads what it injected. Cheap to clone;
/// every clone is the same switch.
#[derive(Clone, Debug, Default)]
pub struct ChaosControl(Arc<ControlState>);

#[derive(Debug, Default)]
struct ControlState {
    off: AtomicBool,
    injected: Mutex<Injected>,
}

impl ChaosControl {
    /// Inject nothing more, for good (`vigil run` calls it at the first
    /// SIGTERM or SIGINT, before it asks the tree to shut down). Starts
    /// being delayed are carried out at the driver's next step.
    pub fn stop(&self) {
        self.0.off.store(true, Ordering::SeqCst);
    }

    /// Whether chaos is still on.
    #[must_use]
    pub fn is_on(&self) -> bool {
        !self.0.off.load(Ordering::SeqCst)
    }

    /// How many of each fault were injected so far (kills, failed and
    /// delayed starts, delayed readies; the others stay 0).
    #[must_use]
    pub fn injected(&self) -> Injected {
        *self.0.injected.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Count one injection.
    pub(crate) fn count(&self, add: impl FnOnce(&mut Injected)) {
        add(&mut self.0.injected.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

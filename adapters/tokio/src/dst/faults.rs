//! Which faults one own-code simulation injects, and how often: picked per
//! seed (swarm testing, as the simulator's `sim/src/fault_plan.rs` does) or
//! set by the user.

use std::fmt;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;

use super::draw;

/// The faults one seed injects into your task code. Every probability is
/// per occasion (per checkpoint, per start, per `ready`, per stop) and is
/// clamped to `0..=1`; 0 switches the fault off and draws nothing.
///
/// ```
/// use std::time::Duration;
/// use vigil_tokio::dst::DstFaults;
///
/// // Crash one checkpoint in a hundred, and kill a run every minute or so.
/// let faults = DstFaults {
///     checkpoint_crash: 0.01,
///     kill_every: Some(Duration::from_secs(60)),
///     ..DstFaults::none()
/// };
/// assert!(!faults.is_none());
/// assert_eq!(faults.to_string(), "crash at 1% of checkpoints, a kill every ~60s");
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DstFaults {
    /// Probability that a checkpoint ends its run with
    /// `error(injected at checkpoint)`.
    pub checkpoint_crash: f64,
    /// Probability that a checkpoint panics its run.
    pub checkpoint_panic: f64,
    /// Probability that a start is delayed (before the task's closure runs).
    pub start_delay: f64,
    /// Probability that a `ctx.ready()` reaches the engine late.
    pub ready_delay: f64,
    /// The longest delay of a start or a `ready` (each is uniform up to it).
    pub max_delay: Duration,
    /// Probability that a start fails (the closure never runs).
    pub start_fail: f64,
    /// Probability that a run ignores its `Stop` (its stop token is not
    /// cancelled: only the kill at its shutdown deadline ends it).
    pub ignore_stop: f64,
    /// Mean time between random kills of a running run (exponential gaps).
    pub kill_every: Option<Duration>,
    /// Whether start faults (delays excepted) also hit the tree's first
    /// start, which, as in OTP, ends the whole tree when a child fails it.
    pub boot_faults: bool,
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, menu: &[T]) -> T {
    menu[draw::index(rng, menu.len())]
}

impl DstFaults {
    /// No faults at all.
    #[must_use]
    pub fn none() -> Self {
        DstFaults::default()
    }

    /// Pick a plan from the seed's generator: each fault on or off (a coin
    /// each), its rate from a short menu (docs/SIMULATION.md, "Simulating
    /// your own task code").
    pub(crate) fn pick(rng: &mut ChaCha8Rng) -> Self {
        let s = Duration::from_secs;
        let on = |rng: &mut ChaCha8Rng| draw::chance(rng, 0.5);
        DstFaults {
            checkpoint_crash: if on(rng) { pick(rng, &[0.001, 0.01, 0.05]) } else { 0.0 },
            checkpoint_panic: if on(rng) { pick(rng, &[0.001, 0.01, 0.05]) } else { 0.0 },
            start_delay: if on(rng) { pick(rng, &[0.1, 0.5]) } else { 0.0 },
            ready_delay: if on(rng) { pick(rng, &[0.1, 0.5]) } else { 0.0 },
            max_delay: pick(rng, &[Duration::from_millis(10), s(1), s(10)]),
            start_fail: if on(rng) { pick(rng, &[0.05, 0.2]) } else { 0.0 },
            ignore_stop: if on(rng) { pick(rng, &[0.1, 0.5]) } else { 0.0 },
            kill_every: on(rng).then(|| pick(rng, &[s(5), s(60), s(600)])),
            boot_faults: draw::chance(rng, 0.25),
        }
    }

    /// Whether the plan injects nothing.
    #[must_use]
    pub fn is_none(&self) -> bool {
        let delays = (self.start_delay > 0.0 || self.ready_delay > 0.0) && !self.max_delay.is_zero();
        !delays
            && self.checkpoint_crash <= 0.0
            && self.checkpoint_panic <= 0.0
            && self.start_fail <= 0.0
            && self.ignore_stop <= 0.0
            && self.kill_every.is_none()
    }
}

fn percent(p: f64) -> String {
    format!("{}%", (p.clamp(0.0, 1.0) * 1000.0).round() / 10.0)
}

impl fmt::Display for DstFaults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_none() {
            return f.write_str("none");
        }
        let mut parts: Vec<String> = Vec::new();
        let mut rate = |p: f64, what: &str| {
            if p > 0.0 {
                parts.push(format!("{what} {}", percent(p)));
            }
        };
        rate(self.checkpoint_crash, "crash at");
        rate(self.checkpoint_panic, "panic at");
        if let Some(last) = parts.last_mut() {
            last.push_str(" of checkpoints");
        }
        let mut more: Vec<String> = Vec::new();
        let max = self.max_delay;
        for (p, what) in [(self.start_delay, "starts"), (self.ready_delay, "readies")] {
            if p > 0.0 && !max.is_zero() {
                more.push(format!("{} of {what} delayed up to {max:?}", percent(p)));
            }
        }
        for (p, what) in [(self.start_fail, "starts fail"), (self.ignore_stop, "stops ignored")] {
            if p > 0.0 {
                more.push(format!("{} of {what}", percent(p)));
            }
        }
        if let Some(d) = self.kill_every {
            more.push(format!("a kill every ~{d:?}"));
        }
        if self.boot_faults && self.start_fail > 0.0 {
            more.push("start faults during boot".to_owned());
        }
        parts.extend(more);
        f.write_str(&parts.join(", "))
    }
}

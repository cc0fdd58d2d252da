//! Swarm testing: each seed picks which faults to inject and how hard.
//!
//! Rather than every fault at a fixed rate, each seed switches every kind of
//! fault on or off and picks its rate from a short menu, so that some runs are
//! quiet, some hammer one mechanism, and some combine several (the swarm
//! testing approach, which finds more bugs than uniform fault mixes).

use std::fmt;
use std::time::Duration;

use rand_chacha::ChaCha8Rng;

use crate::behaviour::{chance, index};

/// The faults one run injects, chosen from its seed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultPlan {
    /// Mean time between random crashes of a running worker.
    pub crash_every: Option<Duration>,
    /// Crash storms: that many bursts in which several workers crash within milliseconds.
    pub storms: u32,
    /// Groups of workers exiting at exactly the same instant.
    pub simultaneous: u32,
    /// Extra probability that a start fails.
    pub start_fail: f64,
    /// Probability that a run exits before it reports `Started`.
    pub early_exit: f64,
    /// Extra probability that a run ignores `Stop`.
    pub hang_on_stop: f64,
    /// Probability that a run stops sending heartbeats at some point.
    pub missed_heartbeats: f64,
    /// Mean time between injected stale inputs (old generations, unknown nodes).
    pub stale_every: Option<Duration>,
    /// Mean time between random operator requests.
    pub requests_every: Option<Duration>,
    /// Whether injected start faults also hit the tree's first start (which,
    /// as in OTP, aborts the whole tree). Off in most plans, so that most runs
    /// exercise a running tree.
    pub boot_faults: bool,
}

fn pick<T: Copy>(rng: &mut ChaCha8Rng, menu: &[T]) -> T {
    menu[index(rng, menu.len())]
}

impl FaultPlan {
    /// No faults at all (`--no-random-faults`).
    pub fn none() -> Self {
        FaultPlan::default()
    }

    /// Pick a plan from the seed's generator.
    pub fn pick(rng: &mut ChaCha8Rng) -> Self {
        let s = Duration::from_secs;
        let on = |rng: &mut ChaCha8Rng| chance(rng, 0.5);
        FaultPlan {
            crash_every: on(rng).then(|| pick(rng, &[s(5), s(60), s(600), s(3600)])),
            storms: if on(rng) { pick(rng, &[1, 3, 10]) } else { 0 },
            simultaneous: if on(rng) { pick(rng, &[1, 5, 20]) } else { 0 },
            start_fail: if on(rng) { pick(rng, &[0.05, 0.2, 0.5]) } else { 0.0 },
            early_exit: if on(rng) { pick(rng, &[0.02, 0.1]) } else { 0.0 },
            hang_on_stop: if on(rng) { pick(rng, &[0.1, 0.5]) } else { 0.0 },
            missed_heartbeats: if on(rng) { pick(rng, &[0.05, 0.3]) } else { 0.0 },
            stale_every: on(rng).then(|| pick(rng, &[s(1), s(30), s(300)])),
            requests_every: on(rng).then(|| pick(rng, &[s(10), s(120), s(900)])),
            boot_faults: chance(rng, 0.25),
        }
    }

    /// Whether the plan injects nothing.
    pub fn is_none(&self) -> bool {
        FaultPlan {
            boot_faults: false,
            ..self.clone()
        } == FaultPlan::none()
    }
}

impl fmt::Display for FaultPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_none() {
            return f.write_str("none");
        }
        let mut parts: Vec<String> = Vec::new();
        if let Some(d) = self.crash_every {
            parts.push(format!("crash every ~{d:?}"));
        }
        if self.storms > 0 {
            parts.push(format!("{} crash storms", self.storms));
        }
        if self.simultaneous > 0 {
            parts.push(format!("{} simultaneous exits", self.simultaneous));
        }
        if self.start_fail > 0.0 {
            parts.push(format!("start_fail {}", self.start_fail));
        }
        if self.early_exit > 0.0 {
            parts.push(format!("early_exit {}", self.early_exit));
        }
        if self.hang_on_stop > 0.0 {
            parts.push(format!("hang_on_stop {}", self.hang_on_stop));
        }
        if self.missed_heartbeats > 0.0 {
            parts.push(format!("missed_heartbeats {}", self.missed_heartbeats));
        }
        if let Some(d) = self.stale_every {
            parts.push(format!("stale input every ~{d:?}"));
        }
        if let Some(d) = self.requests_every {
            parts.push(format!("operator request every ~{d:?}"));
        }
        if self.boot_faults && (self.start_fail > 0.0 || self.early_exit > 0.0) {
            parts.push("start faults during boot".to_owned());
        }
        f.write_str(&parts.join(", "))
    }
}

//! Draws from a seeded generator: probabilities, indices, durations. A
//! probability of 0 (and an empty range) draws nothing, so a fault switched
//! off changes no other draw.

use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;

/// A uniform number in `[0, 1)`, from 53 random bits.
fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// `true` with probability `p` (clamped to `0..=1`); draws only for `p > 0`.
pub(crate) fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    p > 0.0 && unit(rng) < p
}

/// A uniform index below `n` (0 without a draw when `n <= 1`).
pub(crate) fn index(rng: &mut ChaCha8Rng, n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    // `n` fits in u64 on every target; the bias of the modulo is below 2^-40
    // for any realistic `n`.
    (rng.next_u64() % n as u64) as usize
}

/// A uniform duration in `[0, max]`, in whole nanoseconds.
pub(crate) fn up_to(rng: &mut ChaCha8Rng, max: Duration) -> Duration {
    let max = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
    if max == 0 {
        return Duration::ZERO;
    }
    Duration::from_nanos(rng.next_u64() % max.saturating_add(1).max(1))
}

/// An exponential gap with mean `mean`, at least 1 ns (so that a chain of
/// gaps always moves time), saturating.
pub(crate) fn exponential(rng: &mut ChaCha8Rng, mean: Duration) -> Duration {
    let u = unit(rng);
    let gap = -mean.as_secs_f64() * (1.0 - u).ln();
    Duration::try_from_secs_f64(gap)
        .unwrap_or(Duration::MAX)
        .max(Duration::from_nanos(1))
}

//! Sampling the random parts of the world from the seeded generator.

use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use vigil_config::Lifetime;

/// A uniform fraction in [0, 1) (53 random bits).
pub(crate) fn unit(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// `true` with probability `p`; draws nothing when `p` is 0 (so adding a
/// zero-probability knob does not change other draws).
pub(crate) fn chance(rng: &mut ChaCha8Rng, p: f64) -> bool {
    p > 0.0 && unit(rng) < p
}

/// An index in `0..n` (`n > 0`).
pub(crate) fn index(rng: &mut ChaCha8Rng, n: usize) -> usize {
    (rng.next_u64() % n as u64) as usize
}

/// `d * factor` in whole nanoseconds (`Duration::mul_f64` rounds carefully
/// and costs several times more; simulated times need no such care).
fn scale(d: Duration, factor: f64) -> Duration {
    Duration::from_nanos((d.as_nanos() as f64 * factor) as u64)
}

/// An exponentially distributed duration with the given mean.
pub(crate) fn exponential(rng: &mut ChaCha8Rng, mean: Duration) -> Duration {
    let u = unit(rng);
    // 1 - u is in (0, 1], so the logarithm is finite and not negative.
    scale(mean, -(1.0 - u).ln())
}

/// A duration uniform in [min, max].
pub(crate) fn uniform(rng: &mut ChaCha8Rng, min: Duration, max: Duration) -> Duration {
    if max <= min {
        return min;
    }
    min + scale(max - min, unit(rng))
}

/// How long a run lives once up; `None`: for ever.
pub(crate) fn lifetime(rng: &mut ChaCha8Rng, l: &Lifetime) -> Option<Duration> {
    match *l {
        Lifetime::Never => None,
        Lifetime::Fixed(d) => Some(d),
        Lifetime::Exp { mean } => Some(exponential(rng, mean)),
        Lifetime::Uniform { min, max } => Some(uniform(rng, min, max)),
    }
}

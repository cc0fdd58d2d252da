//! \[ext\] Restart backoff: growing delays with seeded jitter.

use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;

use crate::time::duration_nanos;
use crate::Backoff;

/// The backoff state of one child: its spec and the next delay to use.
#[derive(Clone, Debug)]
pub(crate) struct BackoffState {
    pub(crate) spec: Backoff,
    next: Duration,
}

impl BackoffState {
    pub(crate) fn new(spec: Backoff) -> Self {
        BackoffState {
            spec,
            next: spec.initial,
        }
    }

    /// The delay before the restart decided now. `lived` is how long the run
    /// that just ended had been up (`None` after a failed start): a run that
    /// lived at least `reset_after` resets the delay first.
    pub(crate) fn next_delay(&mut self, lived: Option<Duration>, rng: &mut ChaCha8Rng) -> Duration {
        if let (Some(reset), Some(lived)) = (self.spec.reset_after, lived) {
            if lived >= reset {
                self.next = self.spec.initial;
            }
        }
        let base = self.next;
        self.next = grow(base, self.spec.multiplier, self.spec.max);
        if self.spec.jitter > 0.0 && !base.is_zero() {
            // 53 random bits -> a uniform fraction in [0, 1).
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let cut = (duration_nanos(base) as f64 * self.spec.jitter * u) as u64;
            Duration::from_nanos(duration_nanos(base) - cut.min(duration_nanos(base)))
        } else {
            base
        }
    }
}

/// `base * multiplier`, saturating at `max`. Never panics, whatever the
/// multiplier: a product beyond `max` (1e20 times a second is beyond any
/// `Duration`), an infinite one, or NaN is `max`; a negative one (which
/// validation refuses) is `max` too, so a delay never shrinks by growing.
/// Below `max` the result is exactly `Duration::mul_f64`'s.
pub(crate) fn grow(base: Duration, multiplier: f64, max: Duration) -> Duration {
    let scaled = multiplier * base.as_secs_f64();
    // NaN compares as `None`: it saturates too.
    if scaled.partial_cmp(&max.as_secs_f64()) != Some(std::cmp::Ordering::Less) {
        return max;
    }
    Duration::try_from_secs_f64(scaled).map_or(max, |d| d.min(max))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn delays_grow_by_the_multiplier_up_to_max() {
        let mut b = BackoffState::new(Backoff::exponential(ms(100), ms(350)));
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let got: Vec<_> = (0..4).map(|_| b.next_delay(None, &mut rng)).collect();
        assert_eq!(got, vec![ms(100), ms(200), ms(350), ms(350)]);
    }

    #[test]
    fn a_run_that_lived_reset_after_resets_the_delay() {
        let spec = Backoff {
            reset_after: Some(ms(1000)),
            ..Backoff::exponential(ms(100), ms(10_000))
        };
        let mut b = BackoffState::new(spec);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(b.next_delay(Some(ms(5)), &mut rng), ms(100));
        assert_eq!(b.next_delay(Some(ms(999)), &mut rng), ms(200));
        assert_eq!(b.next_delay(Some(ms(1000)), &mut rng), ms(100));
    }

    #[test]
    fn jitter_only_shortens_and_stays_within_its_fraction() {
        let spec = Backoff {
            jitter: 0.5,
            multiplier: 1.0,
            ..Backoff::exponential(ms(1000), ms(1000))
        };
        let mut b = BackoffState::new(spec);
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..1000 {
            let d = b.next_delay(None, &mut rng);
            assert!(d <= ms(1000) && d >= ms(500), "{d:?}");
        }
    }

    #[test]
    fn huge_multipliers_saturate_at_max_instead_of_panicking() {
        for multiplier in [1e20, 1e308, f64::MAX] {
            let spec = Backoff {
                multiplier,
                ..Backoff::exponential(ms(100), ms(1000))
            };
            let mut b = BackoffState::new(spec);
            let mut rng = ChaCha8Rng::seed_from_u64(1);
            let got: Vec<_> = (0..4).map(|_| b.next_delay(None, &mut rng)).collect();
            assert_eq!(
                got,
                vec![ms(100), ms(1000), ms(1000), ms(1000)],
                "multiplier {multiplier}"
            );
        }
    }

    #[test]
    fn growth_saturates_at_the_largest_durations() {
        assert_eq!(grow(Duration::MAX, 2.0, Duration::MAX), Duration::MAX);
        assert_eq!(grow(Duration::MAX, 1.0, Duration::MAX), Duration::MAX);
        assert_eq!(grow(ms(1), 1e308, Duration::MAX), Duration::MAX);
        assert_eq!(grow(ms(1), f64::NAN, ms(7)), ms(7));
        assert_eq!(grow(ms(1), -2.0, ms(7)), ms(7));
        assert_eq!(grow(ms(3), 2.0, Duration::MAX), ms(6));
        assert_eq!(grow(Duration::ZERO, 1e308, ms(7)), Duration::ZERO);
        let jittered = Backoff {
            jitter: 1.0,
            multiplier: 1e308,
            ..Backoff::exponential(Duration::MAX, Duration::MAX)
        };
        let mut b = BackoffState::new(jittered);
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for _ in 0..100 {
            assert!(b.next_delay(Some(Duration::MAX), &mut rng) <= Duration::MAX);
        }
    }

    #[test]
    fn jitter_is_a_function_of_the_seed() {
        let spec = Backoff {
            jitter: 1.0,
            ..Backoff::exponential(ms(1000), ms(1000))
        };
        let draw = |seed| {
            let mut b = BackoffState::new(spec);
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..8).map(|_| b.next_delay(None, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }
}

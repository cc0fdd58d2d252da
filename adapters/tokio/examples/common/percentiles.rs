//! Nearest-rank percentiles of latency samples taken in nanoseconds,
//! reported in microseconds.

/// Samples, sorted once, to read percentiles from.
pub struct Percentiles {
    sorted: Vec<u64>,
}

impl Percentiles {
    /// The percentiles of `samples` (nanoseconds; at least one).
    pub fn of(mut samples: Vec<u64>) -> Percentiles {
        assert!(!samples.is_empty(), "no samples");
        samples.sort_unstable();
        Percentiles { sorted: samples }
    }

    /// How many samples there are.
    pub fn n(&self) -> usize {
        self.sorted.len()
    }

    /// The nearest-rank `q` quantile (`0.99` for p99), in µs.
    pub fn at(&self, q: f64) -> f64 {
        let v = &self.sorted;
        let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
        v[i] as f64 / 1000.0
    }

    /// The largest sample, in µs.
    pub fn max(&self) -> f64 {
        self.at(1.0)
    }
}

//! What every contender shares: the crash and arrival timestamps, and the samples.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

/// Shared between a crashing child's runs and the benchmark.
pub struct Probe {
    base: Instant,
    /// When the last crash happened (ns since `base`); 0: none pending.
    crash: AtomicU64,
    /// crash -> replacement running, in ns.
    samples: Mutex<Vec<u64>>,
    warmup: usize,
    want: usize,
    /// Told once enough samples are in.
    pub done: Notify,
}

impl Probe {
    pub fn new(warmup: usize, want: usize) -> Arc<Self> {
        Arc::new(Probe {
            base: Instant::now(),
            crash: AtomicU64::new(0),
            samples: Mutex::new(Vec::with_capacity(warmup + want + 16)),
            warmup,
            want,
            done: Notify::new(),
        })
    }

    fn now(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64 + 1
    }

    /// The first statement of a (replacement) run; returns whether it should
    /// crash again (false once enough samples are in).
    pub fn arrived(&self) -> bool {
        let at = self.now();
        let crash = self.crash.swap(0, Ordering::Relaxed);
        let mut s = self.samples.lock().unwrap();
        if crash != 0 {
            s.push(at - crash);
        }
        if s.len() >= self.warmup + self.want {
            self.done.notify_one();
            return false;
        }
        true
    }

    /// Right before the run fails.
    pub fn crash_now(&self) {
        self.crash.store(self.now(), Ordering::Relaxed);
    }

    /// The samples after the warm-up, in ns.
    pub fn results(&self) -> Vec<u64> {
        let s = self.samples.lock().unwrap();
        s[self.warmup.min(s.len())..].to_vec()
    }
}

/// Nearest-rank percentiles of a sample, in µs.
pub struct Percentiles(Vec<u64>);

impl Percentiles {
    pub fn new(mut ns: Vec<u64>) -> Self {
        ns.sort_unstable();
        Percentiles(ns)
    }

    /// The `q` quantile in µs (nearest rank).
    pub fn at(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let rank = ((q * self.0.len() as f64).ceil() as usize).clamp(1, self.0.len());
        self.0[rank - 1] as f64 / 1000.0
    }

    pub fn n(&self) -> usize {
        self.0.len()
    }
}

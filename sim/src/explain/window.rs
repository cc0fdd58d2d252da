//! The intensity window of one supervisor, rebuilt from a trace's decisions
//! by the engine's rule (core/src/restart_window.rs): a decision at `t`
//! keeps the decisions at `t - period` or later (inclusive, exact
//! nanoseconds), adds itself, keeps at most `intensity + 1`, and exceeds the
//! intensity when more than `intensity` remain. Unlike the engine's, this
//! one remembers which child each decision was for, and is exact at every
//! intensity (above `MAX_EXACT_INTENSITY` the engine may give up a little
//! early: docs/SEMANTICS.md, "Saturation and bounds").

use std::collections::VecDeque;
use std::time::Duration;

/// One decision: when, for which child.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Nanoseconds since the trace's origin.
    pub t: u64,
    /// The child's path (the failed child; for a give-up, the child whose
    /// failure the explainer attributes it to, if any).
    pub child: Option<String>,
}

/// A supervisor's recent decisions.
#[derive(Clone, Debug, Default)]
pub(crate) struct Window {
    decisions: VecDeque<Decision>,
}

impl Window {
    /// Record a decision; `true` when the intensity is now exceeded.
    pub fn record(&mut self, d: Decision, intensity: u32, period: Duration) -> bool {
        let period_ns = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX);
        let oldest_kept = d.t.saturating_sub(period_ns);
        while self.decisions.front().is_some_and(|x| x.t < oldest_kept) {
            self.decisions.pop_front();
        }
        self.decisions.push_back(d);
        let cap = usize::try_from(u64::from(intensity) + 1).unwrap_or(usize::MAX);
        while self.decisions.len() > cap {
            self.decisions.pop_front();
        }
        self.decisions.len() as u64 > u64::from(intensity)
    }

    /// The decisions the window holds now, oldest first.
    pub fn decisions(&self) -> Vec<Decision> {
        self.decisions.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Decision {
        Decision {
            t: ms * 1_000_000,
            child: None,
        }
    }

    #[test]
    fn the_engines_rule_inclusive_boundary_and_cap() {
        let p = Duration::from_secs(5);
        let mut w = Window::default();
        assert!(!w.record(at(0), 1, p));
        assert!(w.record(at(5000), 1, p), "exactly `period` later: still inside");
        let mut w = Window::default();
        assert!(!w.record(at(0), 1, p));
        assert!(!w.record(
            Decision {
                t: 5_000_000_001,
                child: None
            },
            1,
            p
        ));
        let mut w = Window::default();
        for i in 0..10 {
            w.record(at(i), 2, p);
        }
        assert_eq!(w.decisions().len(), 3, "at most intensity + 1 kept");
        assert!(Window::default().record(at(0), 0, p), "intensity 0 gives up at once");
    }
}

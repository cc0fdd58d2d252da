//! Restart intensity: the sliding window of automatic restart decisions.

use std::collections::VecDeque;
use std::time::Duration;

use crate::Instant;

/// The times of a supervisor's recent automatic restart decisions.
///
/// A new decision at `now` keeps the entries with `t >= now - period`
/// (inclusive, exact nanoseconds), adds `now`, and reports whether there are
/// now more than `intensity` entries, in which case the supervisor gives up.
/// The deque never holds more than `intensity + 1` entries, and its capacity is
/// reused, so a steady stream of decisions allocates nothing.
#[derive(Clone, Debug)]
pub(crate) struct RestartWindow {
    times: VecDeque<Instant>,
}

impl RestartWindow {
    pub(crate) fn new() -> Self {
        RestartWindow { times: VecDeque::new() }
    }

    /// Record a decision at `now`; returns `true` when the intensity is exceeded.
    pub(crate) fn record(&mut self, now: Instant, intensity: u32, period: Duration) -> bool {
        let oldest_kept = now.saturating_sub(period);
        while self.times.front().is_some_and(|&t| t < oldest_kept) {
            self.times.pop_front();
        }
        self.times.push_back(now);
        // Keep at most intensity + 1 entries: older ones can never matter again.
        let cap = intensity as usize + 1;
        while self.times.len() > cap {
            self.times.pop_front();
        }
        self.times.len() > intensity as usize
    }

    /// Forget every decision (a supervisor restarted by its parent starts afresh).
    pub(crate) fn clear(&mut self) {
        self.times.clear();
    }

    /// Number of decisions currently remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.times.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_nanos(ms * 1_000_000)
    }

    #[test]
    fn exactly_intensity_decisions_are_allowed_and_one_more_gives_up() {
        let mut w = RestartWindow::new();
        let p = Duration::from_secs(5);
        assert!(!w.record(at(0), 3, p));
        assert!(!w.record(at(1), 3, p));
        assert!(!w.record(at(2), 3, p));
        assert!(w.record(at(3), 3, p));
    }

    #[test]
    fn window_boundary_is_inclusive() {
        let mut w = RestartWindow::new();
        let p = Duration::from_secs(5);
        assert!(!w.record(at(0), 1, p));
        // exactly `period` later: the entry at 0 is still inside the window
        assert!(w.record(at(5000), 1, p));
    }

    #[test]
    fn entries_older_than_period_expire() {
        let mut w = RestartWindow::new();
        let p = Duration::from_secs(5);
        assert!(!w.record(at(0), 1, p));
        assert!(!w.record(Instant::from_nanos(5_000_000_001), 1, p));
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn intensity_zero_gives_up_on_first_decision() {
        let mut w = RestartWindow::new();
        assert!(w.record(at(0), 0, Duration::from_secs(1)));
    }
}

//! Restart intensity: the sliding window of automatic restart decisions.

use std::collections::VecDeque;
use std::time::Duration;

use crate::Instant;

/// The most groups a window keeps (16 bytes each: 64 KiB at most per supervisor).
pub(crate) const MAX_GROUPS: usize = 4096;

/// The largest intensity whose window is exact. Above it the window never
/// holds more than 4096 groups of decisions and may count a decision for a
/// little longer than `period` (so a supervisor may give up a little early,
/// never late). See docs/SEMANTICS.md, "Saturation and bounds".
pub const MAX_EXACT_INTENSITY: u32 = MAX_GROUPS as u32 - 2;

/// The times of a supervisor's recent automatic restart decisions.
///
/// A new decision at `now` keeps the decisions with `t >= now - period`
/// (inclusive, exact nanoseconds), adds `now`, and reports whether there are
/// now more than `intensity` of them, in which case the supervisor gives up.
///
/// Decisions are kept as groups of equal times, and never more than
/// `intensity + 1` decisions in all (older ones can never matter again), so
/// for every intensity up to [`MAX_EXACT_INTENSITY`] the window is exact. A larger
/// intensity (up to `u32::MAX`) could otherwise grow the window without bound:
/// there, when `MAX_GROUPS` groups are full, the two oldest are merged under
/// the later time. A merged decision is remembered a little longer than
/// `period`, so the count can only be over, never under: a supervisor never
/// tolerates more than `intensity` decisions inside `period`
/// (docs/SEMANTICS.md, "Saturation and bounds"). The capacity is reused, so
/// a steady stream of decisions allocates nothing.
#[derive(Clone, Debug)]
pub(crate) struct RestartWindow {
    groups: VecDeque<Group>,
    /// Decisions in all the groups.
    total: u64,
}

/// `count` decisions at `at`.
#[derive(Clone, Copy, Debug)]
struct Group {
    at: Instant,
    count: u64,
}

impl RestartWindow {
    pub(crate) fn new() -> Self {
        RestartWindow {
            groups: VecDeque::new(),
            total: 0,
        }
    }

    /// Record a decision at `now`; returns `true` when the intensity is exceeded.
    ///
    /// The counts cannot overflow: `total` is the sum of the groups' counts
    /// and never more than `intensity + 2 <= 2^32 + 1` here, so the `wrapping_`
    /// operations below (plain machine arithmetic, on the restart hot path)
    /// never wrap.
    pub(crate) fn record(&mut self, now: Instant, intensity: u32, period: Duration) -> bool {
        let oldest_kept = now.saturating_sub(period);
        if self.groups.back().is_some_and(|g| g.at < oldest_kept) {
            // Every decision has left the window (restarts further apart than
            // `period`): forget them all at once.
            self.clear();
        }
        while let Some(g) = self.groups.front().filter(|g| g.at < oldest_kept) {
            self.total = self.total.wrapping_sub(g.count);
            self.groups.pop_front();
        }
        match self.groups.back_mut() {
            // Time never goes backwards in the engine; `>=` also absorbs a caller that lies.
            Some(g) if g.at >= now => g.count = g.count.wrapping_add(1),
            _ => {
                if self.groups.len() >= MAX_GROUPS {
                    self.merge_oldest();
                }
                self.groups.push_back(Group { at: now, count: 1 });
            }
        }
        self.total = self.total.wrapping_add(1);
        // Keep at most intensity + 1 decisions: older ones can never matter again.
        let cap = u64::from(intensity) + 1;
        if self.total > cap {
            self.drop_oldest(self.total - cap);
        }
        self.total > u64::from(intensity)
    }

    /// Forget the `excess` oldest decisions.
    fn drop_oldest(&mut self, mut excess: u64) {
        while excess > 0 {
            let Some(front) = self.groups.front_mut() else { break };
            let dropped = front.count.min(excess);
            front.count -= dropped;
            excess -= dropped;
            self.total -= dropped;
            if front.count == 0 {
                self.groups.pop_front();
            }
        }
    }

    /// Merge the two oldest groups under the later time (the count can only grow).
    fn merge_oldest(&mut self) {
        if let Some(oldest) = self.groups.pop_front() {
            match self.groups.front_mut() {
                Some(next) => next.count = next.count.saturating_add(oldest.count),
                None => self.groups.push_front(oldest),
            }
        }
    }

    /// Forget every decision (a supervisor restarted by its parent starts afresh).
    pub(crate) fn clear(&mut self) {
        self.groups.clear();
        self.total = 0;
    }

    /// Number of decisions currently remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> u64 {
        self.total
    }

    /// Number of groups currently kept.
    #[cfg(test)]
    pub(crate) fn groups(&self) -> usize {
        self.groups.len()
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

    #[test]
    fn decisions_at_one_instant_share_a_group_and_stay_exact() {
        let mut w = RestartWindow::new();
        let p = Duration::from_secs(5);
        for _ in 0..10 {
            assert!(!w.record(at(1), 10, p));
        }
        assert!(w.record(at(1), 10, p));
        assert_eq!(w.groups(), 1);
        assert_eq!(w.len(), 11);
    }

    #[test]
    fn the_largest_intensity_keeps_memory_bounded_and_never_undercounts() {
        let mut w = RestartWindow::new();
        let forever = Duration::MAX;
        let n = 3 * MAX_GROUPS as u64;
        for i in 0..n {
            assert!(!w.record(Instant::from_nanos(i), u32::MAX, forever));
        }
        assert!(w.groups() <= MAX_GROUPS);
        assert_eq!(w.len(), n, "every decision still counts");
        // A decision far in the future under a short period: everything expires.
        assert!(!w.record(Instant::MAX, u32::MAX, Duration::from_nanos(1)));
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn merged_groups_are_remembered_until_their_later_time_leaves_the_window() {
        let mut w = RestartWindow::new();
        let p_ns = 10 * MAX_GROUPS as u64;
        let p = Duration::from_nanos(p_ns);
        for i in 0..=MAX_GROUPS as u64 {
            assert!(!w.record(Instant::from_nanos(i), u32::MAX, p));
        }
        // The window was full at the last decision: the decisions at 0 and 1 were merged at 1.
        assert_eq!(w.groups(), MAX_GROUPS);
        let before = w.len();
        assert_eq!(before, MAX_GROUPS as u64 + 1);
        // At p + 1 an exact window would drop the decision at 0; the merged one keeps it (over, never under).
        w.record(Instant::from_nanos(p_ns + 1), u32::MAX, p);
        assert_eq!(w.len(), before + 1);
        // Once the later time has left the window too, the whole group goes.
        w.record(Instant::from_nanos(p_ns + MAX_GROUPS as u64 + 5), u32::MAX, p);
        assert!(w.len() < before, "{} decisions kept", w.len());
    }
}

//! Counters of what the engine did and ignored.

/// Running totals since the engine was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Inputs ignored: unknown node, old generation, or wrong state.
    pub stale_inputs: u64,
    /// Automatic restart decisions, all supervisors.
    pub restart_decisions: u64,
    /// Supervisors that gave up.
    pub give_ups: u64,
    /// `Spawn` commands emitted.
    pub spawns: u64,
    /// `Stop` commands emitted.
    pub stops: u64,
    /// `Kill` commands emitted.
    pub kills: u64,
    /// Operator requests received.
    pub requests: u64,
}

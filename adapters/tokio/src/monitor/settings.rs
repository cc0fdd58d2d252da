//! How the built-in monitors watch the tree's process children.

use std::time::Duration;

use super::memory::LeakDetection;

/// How the built-in `process` and `memory` monitors watch the tree's process
/// children ([`Tree::monitor_settings`](crate::Tree::monitor_settings);
/// `vigil run` takes them from the config's `[monitor]` table). Each
/// child's own limit is its [`ProcessSpec::memory_limit`](crate::ProcessSpec).
///
/// ```
/// use std::time::Duration;
/// use vigil_tokio::monitor::{LeakDetection, MonitorSettings};
///
/// let settings = MonitorSettings {
///     interval: Duration::from_secs(2),
///     tree_memory_limit: Some(8 << 30),
///     leak: Some(LeakDetection { growth: 64 << 20, count: 5 }),
///     ..MonitorSettings::default()
/// };
/// assert_eq!(MonitorSettings::default().interval, Duration::from_secs(5));
/// assert_eq!(MonitorSettings::default().min_sample_age, Duration::from_secs(1));
/// # let _ = settings;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonitorSettings {
    /// How often the memory monitor samples `/proc` while it enforces a
    /// limit on at least one process run (default 5 s; at least
    /// [`MIN_INTERVAL`](super::MIN_INTERVAL)).
    pub interval: Duration,
    /// Asked for the resources ([`TreeHandle::resources`](crate::TreeHandle::resources)),
    /// the process monitor samples anew unless its last sample is younger
    /// than this (default 1 s).
    pub min_sample_age: Duration,
    /// A limit on the memory of all process children together, in bytes
    /// (default none).
    pub tree_memory_limit: Option<u64>,
    /// Leak detection for every process child (default none).
    pub leak: Option<LeakDetection>,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        MonitorSettings {
            interval: Duration::from_secs(5),
            min_sample_age: Duration::from_secs(1),
            tree_memory_limit: None,
            leak: None,
        }
    }
}

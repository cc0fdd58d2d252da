//! One reading of the resources of every watched run.

use std::collections::BTreeMap;

use vigil_core::RunId;

/// The resources of one run's process group at one instant: the sums over
/// every living process of the group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct GroupUsage {
    /// Resident set size, in bytes.
    pub(crate) rss_bytes: u64,
    /// Proportional set size, in bytes (shared pages divided among their
    /// users); `None` when it was not read or `/proc/<pid>/smaps_rollup` is
    /// unreadable (kernels before 4.14, or permissions).
    pub(crate) pss_bytes: Option<u64>,
    /// CPU time used (user + system), in nanoseconds, by the processes alive now.
    pub(crate) cpu_ns: u64,
    /// How many processes the group has.
    pub(crate) processes: u32,
}

impl GroupUsage {
    /// The memory a limit is compared with: PSS when known (it does not
    /// count pages shared with other processes several times), else RSS.
    pub(crate) fn memory(&self) -> u64 {
        self.pss_bytes.unwrap_or(self.rss_bytes)
    }
}

/// One sample: when, and the usage of every watched run found alive.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Sample {
    /// When it was taken.
    pub(crate) at: tokio::time::Instant,
    /// Usage by run; a watched run whose group has no process left is absent.
    pub(crate) usage: BTreeMap<RunId, GroupUsage>,
}

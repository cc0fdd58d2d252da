//! Test-only deliberate bugs (feature `bug-injection`), to prove that the
//! simulator's oracle notices a broken engine.
//!
//! Without the feature [`Bugs`] has no field, [`Bugs::has`] is the constant
//! `false` and [`Bugs::with`] switches nothing on: a release engine carries
//! neither the switch nor the checks (they compile away), as quinn-proto
//! gates its `deterministic_packet_numbers` at the field. The API itself is
//! always there ([`InjectedBug::ENABLED`] says whether it does anything), so
//! that callers need no `cfg` of their own.

/// A deliberate defect the engine can be told to have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum InjectedBug {
    /// Never give up: the intensity check is skipped.
    SkipIntensity,
    /// Kill stopped workers at half their shutdown timeout.
    EarlyKill,
    /// Restart transient children after a normal exit too.
    RestartTransientAlways,
    /// Keep a temporary child whose start failed, stopped, instead of removing it.
    KeepFailedTemporary,
    /// Record the root's transient children as permanent: the engine's own
    /// view of their restart type is wrong, and it acts on it (an oracle
    /// that asked the engine for restart types would not notice).
    TransientRecordedPermanent,
    /// A supervisor with the parallel shutdown order stops all the children
    /// of a one_for_all or rest_for_one round at once too, instead of in
    /// reverse order, one at a time.
    ParallelRoundStops,
}

impl InjectedBug {
    /// Whether this build can have deliberate bugs (the feature
    /// `bug-injection`); without it an engine told to have one does not.
    pub const ENABLED: bool = cfg!(feature = "bug-injection");

    /// The name used on command lines.
    pub fn name(self) -> &'static str {
        match self {
            InjectedBug::SkipIntensity => "skip_intensity",
            InjectedBug::EarlyKill => "early_kill",
            InjectedBug::RestartTransientAlways => "restart_transient_always",
            InjectedBug::KeepFailedTemporary => "keep_failed_temporary",
            InjectedBug::TransientRecordedPermanent => "transient_recorded_permanent",
            InjectedBug::ParallelRoundStops => "parallel_round_stops",
        }
    }

    /// Parse the name used on command lines (`skip_intensity`, `early_kill`,
    /// `restart_transient_always`, `keep_failed_temporary`,
    /// `transient_recorded_permanent`, `parallel_round_stops`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "skip_intensity" => Some(InjectedBug::SkipIntensity),
            "early_kill" => Some(InjectedBug::EarlyKill),
            "restart_transient_always" => Some(InjectedBug::RestartTransientAlways),
            "keep_failed_temporary" => Some(InjectedBug::KeepFailedTemporary),
            "transient_recorded_permanent" => Some(InjectedBug::TransientRecordedPermanent),
            "parallel_round_stops" => Some(InjectedBug::ParallelRoundStops),
            _ => None,
        }
    }
}

/// The deliberate bug an engine has, if any: empty without the feature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Bugs {
    #[cfg(feature = "bug-injection")]
    on: Option<InjectedBug>,
}

impl Bugs {
    /// Switch `bug` on (the only one).
    #[cfg(feature = "bug-injection")]
    pub(crate) fn with(bug: InjectedBug) -> Bugs {
        Bugs { on: Some(bug) }
    }

    /// Nothing to switch on without the feature.
    #[cfg(not(feature = "bug-injection"))]
    pub(crate) fn with(_bug: InjectedBug) -> Bugs {
        Bugs {}
    }

    /// Whether `bug` is switched on.
    #[cfg(feature = "bug-injection")]
    pub(crate) fn has(self, bug: InjectedBug) -> bool {
        self.on == Some(bug)
    }

    /// Always `false` without the feature (the check compiles away).
    #[cfg(not(feature = "bug-injection"))]
    #[inline(always)]
    pub(crate) fn has(self, _bug: InjectedBug) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_engine_carries_no_bug_switch() {
        if cfg!(not(feature = "bug-injection")) {
            assert_eq!(std::mem::size_of::<Bugs>(), 0);
        }
        assert!(!Bugs::default().has(InjectedBug::SkipIntensity));
        let asked = Bugs::with(InjectedBug::SkipIntensity);
        assert_eq!(asked.has(InjectedBug::SkipIntensity), InjectedBug::ENABLED);
    }

    #[test]
    fn every_bug_is_found_by_its_name() {
        for bug in [
            InjectedBug::SkipIntensity,
            InjectedBug::EarlyKill,
            InjectedBug::RestartTransientAlways,
            InjectedBug::KeepFailedTemporary,
            InjectedBug::TransientRecordedPermanent,
            InjectedBug::ParallelRoundStops,
        ] {
            assert_eq!(InjectedBug::from_name(bug.name()), Some(bug));
        }
        assert_eq!(InjectedBug::from_name("no_such_bug"), None);
    }
}

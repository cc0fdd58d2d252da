//! Test-only deliberate bugs (feature `bug-injection`), to prove that the
//! simulator's oracle notices a broken engine.

/// A deliberate defect the engine can be told to have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(not(feature = "bug-injection"), allow(dead_code))]
pub enum InjectedBug {
    /// Never give up: the intensity check is skipped.
    SkipIntensity,
    /// Kill stopped workers at half their shutdown timeout.
    EarlyKill,
    /// Restart transient children after a normal exit too.
    RestartTransientAlways,
    /// Keep a temporary child whose start failed, stopped, instead of removing it.
    KeepFailedTemporary,
}

#[cfg_attr(not(feature = "bug-injection"), allow(dead_code))]
impl InjectedBug {
    /// The name used on command lines.
    pub fn name(self) -> &'static str {
        match self {
            InjectedBug::SkipIntensity => "skip_intensity",
            InjectedBug::EarlyKill => "early_kill",
            InjectedBug::RestartTransientAlways => "restart_transient_always",
            InjectedBug::KeepFailedTemporary => "keep_failed_temporary",
        }
    }

    /// Parse the name used on command lines (`skip_intensity`, `early_kill`,
    /// `restart_transient_always`, `keep_failed_temporary`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "skip_intensity" => Some(InjectedBug::SkipIntensity),
            "early_kill" => Some(InjectedBug::EarlyKill),
            "restart_transient_always" => Some(InjectedBug::RestartTransientAlways),
            "keep_failed_temporary" => Some(InjectedBug::KeepFailedTemporary),
            _ => None,
        }
    }
}

//! `vigil run --init`, and vigil as PID 1: reap the orphans of the tree
//! (and of anything else in the container) that are reparented to vigil.
//!
//! As PID 1, vigil is init already; with `--init` elsewhere, it makes
//! itself a child subreaper first, so that the orphans of its descendants
//! come to it rather than to the system's init. Either way a
//! [`vigil_tokio::reaper::Reaper`] reaps every child that is not one vigil
//! spawned itself. SIGTERM and SIGINT need nothing more: `vigil run`
//! installs handlers for both (the kernel ignores only the signals PID 1
//! leaves at their default action), so they start the ordered shutdown
//! as anywhere else. docs/OPERATING.md, "Containers and PID 1".

use vigil_tokio::reaper::{self, Reaper};

/// Why vigil reaps orphans, if it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitMode {
    /// vigil is PID 1 of its PID namespace.
    Pid1,
    /// `--init`: vigil made itself a child subreaper.
    Subreaper,
}

/// Become init for the tree when `asked` (`--init`) or when PID 1, and
/// start reaping; `None` when neither. A failure is logged, not fatal:
/// supervision goes on without reaping.
pub fn start(asked: bool) -> Option<(InitMode, Reaper)> {
    let mode = if reaper::is_pid1() {
        InitMode::Pid1
    } else if asked {
        if let Err(e) = reaper::become_subreaper() {
            tracing::error!(error = %e, "--init: cannot become a child subreaper; orphans will not be reaped by vigil");
            return None;
        }
        InitMode::Subreaper
    } else {
        return None;
    };
    match Reaper::start() {
        Ok(r) => {
            tracing::info!(mode = ?mode, "acting as init: reaping orphaned processes");
            Some((mode, r))
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for SIGCHLD; orphans will not be reaped");
            None
        }
    }
}

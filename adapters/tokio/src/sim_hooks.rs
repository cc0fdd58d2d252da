//! The driver's simulation hooks: where an own-code simulation
//! (`adapters/tokio/src/dst/`, feature `sim`) watches the driver and injects
//! its faults. Without the feature, [`Hooks`] is an empty struct whose
//! methods do nothing and compile to nothing; with it, a tree started
//! normally has no hooks, and each hook point costs one branch on a `None`.
//!
//! The driver calls, in order: [`Hooks::input`] right before every input
//! it hands the engine, [`Hooks::request`] before every request,
//! [`Hooks::notice`] for every notice, [`Hooks::command`] for every command
//! (which may delay or fail a spawn, or ignore a stop), [`Hooks::settled`]
//! when a call has settled, [`Hooks::deadlines_fired`] after the engine's
//! timers fired; it sleeps until [`Hooks::next_due`] as well as the engine's
//! next deadline, and then carries out what [`Hooks::due`] hands it.

use vigil_core::{Command, Engine, Input, Instant, Notice, Request, RunId};

use crate::context::FaultLink;
use crate::report::RunnerReport;

/// What the driver does with a command the hooks saw.
#[cfg_attr(not(feature = "sim"), allow(dead_code))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    /// Carry it out now.
    Carry,
    /// A `Stop`: do nothing (the run's stop token is not cancelled).
    Ignore,
    /// A `Spawn`: do nothing now; the hooks hand it back as
    /// [`HookAction::Spawn`] when it is due.
    Delay,
    /// A `Spawn`: the start fails with this error.
    Fail(String),
}

/// Something the hooks ask the driver to do when it is due.
#[cfg_attr(not(feature = "sim"), allow(dead_code))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HookAction {
    /// Carry out a delayed spawn now.
    Spawn(RunId),
    /// Carry out a stop the hooks had the driver ignore.
    Stop(RunId),
    /// Kill the run, as a `Kill` command would.
    Kill(RunId),
    /// A report the hooks held back, handed to the engine now.
    Deliver(RunId, RunnerReport),
}

/// What the hooks implement (feature `sim`).
#[cfg(feature = "sim")]
pub(crate) trait DriverHooks: Send {
    fn input(&mut self, engine: &Engine, input: &Input, now: Instant);
    /// Whether to hold `report` back (the hooks deliver it later).
    fn hold(&mut self, run: RunId, report: &RunnerReport, now: Instant) -> bool;
    fn request(&mut self, request: &Request);
    fn notice(&mut self, engine: &Engine, notice: &Notice, now: Instant);
    fn command(&mut self, engine: &Engine, cmd: Command, now: Instant) -> Fate;
    fn settled(&mut self, engine: &Engine, now: Instant);
    fn deadlines_fired(&mut self, now: Instant, next: Option<Instant>);
    fn next_due(&self) -> Option<Instant>;
    fn due(&mut self, engine: &Engine, now: Instant, actions: &mut Vec<HookAction>);
    fn fault_link(&self) -> FaultLink;
}

/// The driver's hooks: none unless an own-code simulation installed them.
#[derive(Default)]
pub(crate) struct Hooks {
    #[cfg(feature = "sim")]
    pub(crate) hooks: Option<Box<dyn DriverHooks>>,
}

#[cfg(feature = "sim")]
impl Hooks {
    pub(crate) fn new(hooks: Box<dyn DriverHooks>) -> Self {
        Hooks { hooks: Some(hooks) }
    }
}

/// Each method: nothing at all without the feature, one branch with it and
/// no hooks installed.
#[allow(unused_variables, clippy::unused_self, clippy::ptr_arg)]
impl Hooks {
    #[inline]
    pub(crate) fn input(&mut self, engine: &Engine, input: &Input, now: Instant) {
        #[cfg(feature = "sim")]
        if let Some(h) = self.hooks.as_mut() {
            h.input(engine, input, now);
        }
    }

    #[inline]
    pub(crate) fn hold(&mut self, run: RunId, report: &RunnerReport, now: Instant) -> bool {
        #[cfg(feature = "sim")]
        if let Some(h) = self.hooks.as_mut() {
            return h.hold(run, report, now);
        }
        false
    }

    #[inline]
    pub(crate) fn request(&mut self, request: &Request) {
        #[cfg(feature = "sim")]
        if let Some(h) = self.hooks.as_mut() {
            h.request(request);
        }
    }

    #[inline]
    pub(crate) fn notice(&mut self, engine: &Engine, notice: &Notice, now: Instant) {
        #[cfg(feature = "sim")]
        if let Some(h) = self.hooks.as_mut() {
            h.notice(engine, notice, now);
        }
    }

    #[inline]
    pub(crate) fn command(&mut self, engine: &Engine, cmd: Command, now: Instant) -> Fate {
        #[cfg(feature = "sim")]
        if let Some(h) = self.hooks.as_mut() {
            return h.command(engine, cmd, now);
        }
        Fate::Carry
    }

    #[inline]
    pub(crate) fn settled(&mut self, engine: &Engine, now: Instant) {
        #[cfg(feature = "sim")]
        if let Some(h) = self.hooks.as_mut() {
            h.settled(engine, now);
        }
    }

    #[inline]
    pub(crate) fn deadlines_fired(&mut self, engine: &Engine, now: Instant) {
        #[cfg(feature = "sim")]
        if let Some(h) = self.hooks.as_mut() {
            h.deadlines_fired(now, engine.poll_timeout());
        }
    }

    #[inline]
    pub(crate) fn next_due(&self) -> Option<Instant> {
        #[cfg(feature = "sim")]
        if let Some(h) = self.hooks.as_ref() {
            return h.next_due();
        }
        None
    }

    /// What is due at `now`, appended to `actions`.
    #[inline]
    pub(crate) fn due(&mut self, engine: &Engine, now: Instant, actions: &mut Vec<HookAction>) {
        #[cfg(feature = "sim")]
        if let Some(h) = self.hooks.as_mut() {
            h.due(engine, now, actions);
        }
    }

    #[inline]
    pub(crate) fn fault_link(&self) -> FaultLink {
        #[cfg(feature = "sim")]
        if let Some(h) = self.hooks.as_ref() {
            return h.fault_link();
        }
        FaultLink::default()
    }
}

//! A process child's signals and exit-code policy ([`Lifecycle`]): the
//! signal that stops it, the signal that reloads it, the exit codes that
//! count as `normal`, and the exit codes after which it is not restarted
//! (docs/ADAPTER.md, "Signals and exit codes").

use std::fmt;
use std::str::FromStr;

use nix::sys::signal::Signal;
use vigil_core::ExitReason;

use crate::process::ProcessSpec;

/// A signal vigil sends to a process child (`stop_signal`, `reload_signal`,
/// `vigil ctl signal`). Written `SIGHUP` or `HUP`.
///
/// ```
/// use vigil_tokio::ChildSignal;
/// let s: ChildSignal = "QUIT".parse().unwrap();
/// assert_eq!(s, ChildSignal::Quit);
/// assert_eq!(s.to_string(), "SIGQUIT");
/// assert!("SIGBOGUS".parse::<ChildSignal>().is_err());
/// assert!(!ChildSignal::Kill.is_catchable());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChildSignal {
    /// `SIGHUP`: reload, by convention (gunicorn, uwsgi, nginx).
    Hup,
    /// `SIGINT`.
    Int,
    /// `SIGQUIT`: nginx's graceful stop.
    Quit,
    /// `SIGABRT`.
    Abrt,
    /// `SIGUSR1`.
    Usr1,
    /// `SIGUSR2`.
    Usr2,
    /// `SIGALRM`.
    Alrm,
    /// `SIGTERM`: the default stop signal.
    Term,
    /// `SIGCONT`.
    Cont,
    /// `SIGTSTP`.
    Tstp,
    /// `SIGTTIN` (gunicorn: one more worker).
    Ttin,
    /// `SIGTTOU` (gunicorn: one worker less).
    Ttou,
    /// `SIGWINCH`.
    Winch,
    /// `SIGKILL`: cannot be caught (never a stop or reload signal from a config).
    Kill,
    /// `SIGSTOP`: cannot be caught (never a stop or reload signal from a config).
    Stop,
}

const ALL: [(ChildSignal, Signal); 15] = [
    (ChildSignal::Hup, Signal::SIGHUP),
    (ChildSignal::Int, Signal::SIGINT),
    (ChildSignal::Quit, Signal::SIGQUIT),
    (ChildSignal::Abrt, Signal::SIGABRT),
    (ChildSignal::Usr1, Signal::SIGUSR1),
    (ChildSignal::Usr2, Signal::SIGUSR2),
    (ChildSignal::Alrm, Signal::SIGALRM),
    (ChildSignal::Term, Signal::SIGTERM),
    (ChildSignal::Cont, Signal::SIGCONT),
    (ChildSignal::Tstp, Signal::SIGTSTP),
    (ChildSignal::Ttin, Signal::SIGTTIN),
    (ChildSignal::Ttou, Signal::SIGTTOU),
    (ChildSignal::Winch, Signal::SIGWINCH),
    (ChildSignal::Kill, Signal::SIGKILL),
    (ChildSignal::Stop, Signal::SIGSTOP),
];

impl ChildSignal {
    /// The operating system's signal.
    pub(crate) fn os(self) -> Signal {
        ALL.iter()
            .find(|(s, _)| *s == self)
            .map_or(Signal::SIGTERM, |(_, os)| *os)
    }

    /// Whether a program can catch or ignore it (all but `SIGKILL` and `SIGSTOP`).
    #[must_use]
    pub fn is_catchable(self) -> bool {
        !matches!(self, ChildSignal::Kill | ChildSignal::Stop)
    }

    /// Its name, `SIGHUP`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        self.os().as_str()
    }
}

impl fmt::Display for ChildSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text is not a signal vigil sends.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown signal `{0}`: expected SIGHUP, SIGINT, SIGQUIT, SIGABRT, SIGUSR1, SIGUSR2, SIGALRM, SIGTERM, SIGCONT, SIGTSTP, SIGTTIN, SIGTTOU, SIGWINCH, SIGKILL or SIGSTOP (the `SIG` prefix may be left out)")]
pub struct ParseSignalError(pub String);

impl FromStr for ChildSignal {
    type Err = ParseSignalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bare = s.strip_prefix("SIG").unwrap_or(s);
        ALL.iter()
            .find(|(_, os)| &os.as_str()[3..] == bare)
            .map(|(sig, _)| *sig)
            .ok_or_else(|| ParseSignalError(s.to_owned()))
    }
}

/// A process child's signals and exit-code policy (see the module docs);
/// [`ProcessSpec::lifecycle`](crate::ProcessSpec#structfield.lifecycle).
///
/// ```
/// use vigil_tokio::{ChildSignal, Lifecycle};
/// let l = Lifecycle::default();
/// assert_eq!(l.stop_signal, ChildSignal::Term);
/// assert_eq!(l.reload_signal, None);
/// assert!(l.success_exit_codes.is_empty() && l.restart_prevent_exit_codes.is_empty());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lifecycle {
    /// Sent to the run's process group to stop it; after the shutdown
    /// timeout the group is SIGKILLed as always. Default `SIGTERM`.
    /// `SIGKILL` kills at once; `SIGSTOP` freezes the program until the
    /// shutdown timeout kills it (a config refuses both).
    pub stop_signal: ChildSignal,
    /// Sent to the program's main process by
    /// [`TreeHandle::reload_child`](crate::TreeHandle::reload_child)
    /// (`vigil ctl reload PATH`). Default: none (the reload is refused).
    pub reload_signal: Option<ChildSignal>,
    /// Exit codes that count as `normal`, besides 0 (which always does).
    pub success_exit_codes: Vec<u8>,
    /// Exit codes after which the child is not restarted: it is stopped,
    /// as by `terminate_child`, and started again only on request.
    pub restart_prevent_exit_codes: Vec<u8>,
    /// How long each start waits before the program is started (every
    /// start: the first, restarts, and starts on request). The run counts
    /// as starting meanwhile: the next sibling waits, `startup_timeout`
    /// counts from the program's start. Default: none.
    pub start_delay: Option<std::time::Duration>,
}

impl Default for Lifecycle {
    fn default() -> Self {
        Lifecycle {
            stop_signal: ChildSignal::Term,
            reload_signal: None,
            success_exit_codes: Vec::new(),
            restart_prevent_exit_codes: Vec::new(),
            start_delay: None,
        }
    }
}

/// What the exit-code policy makes of a run's exit.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ClassifiedExit {
    /// The reason the engine is given.
    pub(crate) reason: ExitReason,
    /// The exit code is in `restart_prevent_exit_codes`.
    pub(crate) prevented: Option<u8>,
}

impl Lifecycle {
    /// The policy applied to a run's `reason` (as `process.rs` words it:
    /// `error(exit code N)`, `error(signal SIGINT)`): a success code reads
    /// `normal`; the stop signal reads `shutdown`, as SIGTERM always did.
    pub(crate) fn classify(&self, reason: ExitReason) -> ClassifiedExit {
        let code = exit_code(&reason);
        let prevented = code.filter(|c| self.restart_prevent_exit_codes.contains(c));
        let reason = match &reason {
            ExitReason::Error(_) if code.is_some_and(|c| self.success_exit_codes.contains(&c)) => ExitReason::Normal,
            ExitReason::Error(d)
                if self.stop_signal != ChildSignal::Term
                    && d.strip_prefix("signal ") == Some(self.stop_signal.as_str()) =>
            {
                ExitReason::Shutdown(String::new())
            }
            _ => reason,
        };
        let prevented = prevented
            .or_else(|| (reason == ExitReason::Normal && self.restart_prevent_exit_codes.contains(&0)).then_some(0));
        ClassifiedExit { reason, prevented }
    }

    /// Whether [`classify`](Self::classify) may change anything (the common
    /// case, the default policy, skips it).
    pub(crate) fn is_default_policy(&self) -> bool {
        self.success_exit_codes.is_empty()
            && self.restart_prevent_exit_codes.is_empty()
            && self.stop_signal == ChildSignal::Term
    }
}

/// The exit code of a reason worded by `process.rs` (`error(exit code N)`;
/// `normal` is 0).
fn exit_code(reason: &ExitReason) -> Option<u8> {
    match reason {
        ExitReason::Normal => Some(0),
        ExitReason::Error(d) => d.strip_prefix("exit code ")?.parse().ok(),
        _ => None,
    }
}

impl ProcessSpec {
    /// Stop each run with `signal` (sent to its process group) instead of
    /// SIGTERM; the shutdown timeout then SIGKILLs it as always.
    ///
    /// ```
    /// use vigil_tokio::{ChildSignal, ProcessSpec};
    /// let nginx = ProcessSpec::new(["nginx", "-g", "daemon off;"])
    ///     .stop_signal(ChildSignal::Quit)
    ///     .reload_signal(ChildSignal::Hup);
    /// assert_eq!(nginx.lifecycle.stop_signal, ChildSignal::Quit);
    /// ```
    #[must_use]
    pub fn stop_signal(mut self, signal: ChildSignal) -> Self {
        self.lifecycle.stop_signal = signal;
        self
    }

    /// The signal a reload sends to the program's main process
    /// ([`TreeHandle::reload_child`](crate::TreeHandle::reload_child)).
    #[must_use]
    pub fn reload_signal(mut self, signal: ChildSignal) -> Self {
        self.lifecycle.reload_signal = Some(signal);
        self
    }

    /// Exit codes that count as `normal` besides 0 (a transient child that
    /// exits with one is not restarted).
    ///
    /// ```
    /// use vigil_tokio::ProcessSpec;
    /// let s = ProcessSpec::new(["job"]).success_exit_codes([3]).restart_prevent_exit_codes([2]);
    /// assert_eq!(s.lifecycle.success_exit_codes, [3]);
    /// assert_eq!(s.lifecycle.restart_prevent_exit_codes, [2]);
    /// ```
    #[must_use]
    pub fn success_exit_codes(mut self, codes: impl IntoIterator<Item = u8>) -> Self {
        self.lifecycle.success_exit_codes = codes.into_iter().collect();
        self
    }

    /// Wait `delay` before each start of the program (see
    /// [`Lifecycle::start_delay`](crate::Lifecycle#structfield.start_delay)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use vigil_tokio::ProcessSpec;
    /// let s = ProcessSpec::new(["worker"]).start_delay(Duration::from_secs(2));
    /// assert_eq!(s.lifecycle.start_delay, Some(Duration::from_secs(2)));
    /// ```
    #[must_use]
    pub fn start_delay(mut self, delay: std::time::Duration) -> Self {
        self.lifecycle.start_delay = Some(delay);
        self
    }

    /// Exit codes after which the child is not restarted, whatever its
    /// restart type: it is stopped as by `terminate_child` (its spec kept;
    /// `restart_child` starts it again), and the driver logs why.
    #[must_use]
    pub fn restart_prevent_exit_codes(mut self, codes: impl IntoIterator<Item = u8>) -> Self {
        self.lifecycle.restart_prevent_exit_codes = codes.into_iter().collect();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_reads_codes_and_the_stop_signal() {
        let l = Lifecycle {
            stop_signal: ChildSignal::Int,
            success_exit_codes: vec![3],
            restart_prevent_exit_codes: vec![2, 3],
            ..Lifecycle::default()
        };
        let c = l.classify(ExitReason::Error("exit code 3".into()));
        assert_eq!((c.reason, c.prevented), (ExitReason::Normal, Some(3)));
        let c = l.classify(ExitReason::Error("exit code 2".into()));
        assert_eq!(
            (c.reason, c.prevented),
            (ExitReason::Error("exit code 2".into()), Some(2))
        );
        let c = l.classify(ExitReason::Error("exit code 4".into()));
        assert_eq!(c.prevented, None);
        let c = l.classify(ExitReason::Error("signal SIGINT".into()));
        assert_eq!(c.reason, ExitReason::Shutdown(String::new()));
        let c = l.classify(ExitReason::Error("signal SIGQUIT".into()));
        assert_eq!(c.reason, ExitReason::Error("signal SIGQUIT".into()));
        // Not a code at all.
        assert_eq!(l.classify(ExitReason::Error("exit code 300".into())).prevented, None);
        assert_eq!(l.classify(ExitReason::Killed).reason, ExitReason::Killed);
        assert!(Lifecycle::default().is_default_policy());
        let zero = Lifecycle {
            restart_prevent_exit_codes: vec![0],
            ..Lifecycle::default()
        };
        assert_eq!(zero.classify(ExitReason::Normal).prevented, Some(0));
    }

    #[test]
    fn every_config_signal_parses_here() {
        for name in vigil_config::ANY_SIGNALS {
            let s: ChildSignal = name.parse().unwrap();
            assert_eq!(s.as_str(), *name);
            assert_eq!(
                s.is_catchable(),
                vigil_config::CATCHABLE_SIGNALS.contains(name),
                "{name}"
            );
        }
        assert_eq!(ALL.len(), vigil_config::ANY_SIGNALS.len());
    }
}

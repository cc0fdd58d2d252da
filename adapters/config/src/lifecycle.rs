//! A worker's lifecycle keys: `stop_signal`, `reload_signal`,
//! `success_exit_codes` and `restart_prevent_exit_codes` (docs/CONFIG.md,
//! "signals" and "exit codes"), read from its `[[child]]` table and checked.

use toml::Spanned;

use crate::error::ConfigError;
use crate::position::Doc;
use crate::raw::RawChild;

/// The signals a child may be given as its `stop_signal` or `reload_signal`:
/// the ones a program can catch (or ignore) and that do not stop it cold.
/// `vigil ctl signal` also sends `SIGKILL` and `SIGSTOP` ([`ANY_SIGNALS`]).
pub const CATCHABLE_SIGNALS: &[&str] = &[
    "SIGHUP", "SIGINT", "SIGQUIT", "SIGABRT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGTERM", "SIGCONT", "SIGTSTP",
    "SIGTTIN", "SIGTTOU", "SIGWINCH",
];

/// Every signal `vigil ctl signal` sends: [`CATCHABLE_SIGNALS`], `SIGKILL` and `SIGSTOP`.
pub const ANY_SIGNALS: &[&str] = &[
    "SIGHUP", "SIGINT", "SIGQUIT", "SIGABRT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGTERM", "SIGCONT", "SIGTSTP",
    "SIGTTIN", "SIGTTOU", "SIGWINCH", "SIGKILL", "SIGSTOP",
];

/// The canonical name (`SIGINT`) of a signal written `SIGINT` or `INT`, if
/// it is one of `allowed`. Names are upper case, as `kill -l` prints them.
///
/// ```
/// use vigil_config::{signal_name, ANY_SIGNALS, CATCHABLE_SIGNALS};
/// assert_eq!(signal_name("INT", CATCHABLE_SIGNALS), Some("SIGINT"));
/// assert_eq!(signal_name("SIGHUP", CATCHABLE_SIGNALS), Some("SIGHUP"));
/// assert_eq!(signal_name("KILL", CATCHABLE_SIGNALS), None);
/// assert_eq!(signal_name("KILL", ANY_SIGNALS), Some("SIGKILL"));
/// assert_eq!(signal_name("sigint", ANY_SIGNALS), None);
/// ```
#[must_use]
pub fn signal_name(text: &str, allowed: &'static [&'static str]) -> Option<&'static str> {
    let bare = text.strip_prefix("SIG").unwrap_or(text);
    allowed.iter().copied().find(|name| &name[3..] == bare)
}

/// A worker's signals and exit-code policy, as its config gives them.
///
/// ```
/// let cfg = vigil_config::parse_tree(r#"
///     [[child]]
///     name = "nginx"
///     command = ["nginx", "-g", "daemon off;"]
///     stop_signal = "SIGQUIT"
///     reload_signal = "HUP"
///     success_exit_codes = [0, 3]
///     restart_prevent_exit_codes = [2]
/// "#, "t.toml").unwrap();
/// let l = &cfg.workers[0].lifecycle;
/// assert_eq!(l.stop_signal, "SIGQUIT");
/// assert_eq!(l.reload_signal, Some("SIGHUP"));
/// assert_eq!(l.success_exit_codes, [0, 3]);
/// assert_eq!(l.restart_prevent_exit_codes, [2]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LifecycleConfig {
    /// Sent to the run's process group to stop it (default `SIGTERM`); one
    /// of [`CATCHABLE_SIGNALS`].
    pub stop_signal: &'static str,
    /// Sent to the program's main process by `vigil ctl reload PATH`; none
    /// by default (the command then fails).
    pub reload_signal: Option<&'static str>,
    /// Exit codes read as `normal` besides 0 (sorted, without repeats).
    pub success_exit_codes: Vec<u8>,
    /// Exit codes after which the child is not restarted (sorted, without repeats).
    pub restart_prevent_exit_codes: Vec<u8>,
    /// How long each start waits before the program is started.
    pub start_delay: Option<std::time::Duration>,
}

impl Default for LifecycleConfig {
    fn default() -> Self {
        LifecycleConfig {
            stop_signal: "SIGTERM",
            reload_signal: None,
            success_exit_codes: Vec::new(),
            restart_prevent_exit_codes: Vec::new(),
            start_delay: None,
        }
    }
}

/// The lifecycle keys of the worker table `c`, checked; each key found is
/// pushed on `keys` with its span.
pub(crate) fn lifecycle(
    doc: &Doc<'_>,
    c: &RawChild,
    keys: &mut Vec<(&'static str, std::ops::Range<usize>)>,
) -> Result<LifecycleConfig, ConfigError> {
    let mut l = LifecycleConfig::default();
    if let Some(v) = &c.stop_signal {
        l.stop_signal = signal(doc, v, "stop_signal")?;
        keys.push(("stop_signal", v.span()));
    }
    if let Some(v) = &c.reload_signal {
        l.reload_signal = Some(signal(doc, v, "reload_signal")?);
        keys.push(("reload_signal", v.span()));
    }
    if let Some(v) = &c.success_exit_codes {
        l.success_exit_codes = codes(doc, v, "success_exit_codes")?;
        keys.push(("success_exit_codes", v.span()));
    }
    if let Some(v) = &c.restart_prevent_exit_codes {
        l.restart_prevent_exit_codes = codes(doc, v, "restart_prevent_exit_codes")?;
        keys.push(("restart_prevent_exit_codes", v.span()));
    }
    if let Some(v) = &c.start_delay {
        let delay =
            crate::parse_duration(&v.get_ref().0).map_err(|e| doc.bad_value(&v.span(), "start_delay", e.message()))?;
        l.start_delay = Some(delay);
        keys.push(("start_delay", v.span()));
    }
    Ok(l)
}

fn signal(doc: &Doc<'_>, v: &Spanned<String>, key: &str) -> Result<&'static str, ConfigError> {
    let text = v.get_ref();
    if let Some(name) = signal_name(text, CATCHABLE_SIGNALS) {
        return Ok(name);
    }
    let why = match signal_name(text, ANY_SIGNALS) {
        Some("SIGKILL") if key == "stop_signal" => {
            "SIGKILL cannot be caught, so the program could not stop cleanly: for a stop without grace write \
             `shutdown = \"brutal\"`"
                .to_owned()
        }
        Some("SIGSTOP") if key == "stop_signal" => {
            "SIGSTOP freezes the program instead of stopping it: every stop would wait for the shutdown timeout"
                .to_owned()
        }
        Some(name) => format!("{name} cannot be caught by the program"),
        None => format!("unknown signal `{text}`"),
    };
    Err(doc.bad_value(
        &v.span(),
        key,
        format!(
            "{why}; expected one of {} (the `SIG` prefix may be left out)",
            CATCHABLE_SIGNALS.join(", ")
        ),
    ))
}

fn codes(doc: &Doc<'_>, v: &Spanned<Vec<Spanned<i64>>>, key: &str) -> Result<Vec<u8>, ConfigError> {
    let mut out = Vec::with_capacity(v.get_ref().len());
    for code in v.get_ref() {
        let Ok(c) = u8::try_from(*code.get_ref()) else {
            return Err(doc.bad_value(
                &code.span(),
                key,
                format!(
                    "exit code {} is out of range: a program's exit code is 0 to 255",
                    code.get_ref()
                ),
            ));
        };
        if out.contains(&c) {
            return Err(doc.bad_value(&code.span(), key, format!("exit code {c} is listed twice")));
        }
        out.push(c);
    }
    out.sort_unstable();
    Ok(out)
}

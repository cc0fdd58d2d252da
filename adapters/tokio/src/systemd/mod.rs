//! vigil's own side of the systemd notify protocol (`sd_notify(3)`): what a
//! supervisor run as a `Type=notify` service tells its service manager. The
//! receiving side, for children, is a different thing (`src/notify.rs`).
//!
//! - [`SystemdNotify::from_env`] reads `NOTIFY_SOCKET` (a path, or `@name`
//!   for the abstract namespace), `WATCHDOG_USEC` and `WATCHDOG_PID`;
//!   [`SystemdNotify::remove_env`] takes them out of the environment
//!   children inherit (they get their own notify sockets).
//! - [`SystemdNotify::ready`], [`status`](SystemdNotify::status),
//!   [`stopping`](SystemdNotify::stopping),
//!   [`reloading`](SystemdNotify::reloading) and
//!   [`watchdog`](SystemdNotify::watchdog) send one datagram each, never
//!   blocking: a service manager that does not keep up loses a message, it
//!   never stalls vigil.
//! - [`SystemdNotify::report`] follows a tree: `READY=1` once its root has
//!   started, `STATUS=` one-line summaries on change (at most one a second),
//!   and `WATCHDOG=1` every half `WATCHDOG_USEC`, sent only when the tree's
//!   driver answered a request since the last one (a hung driver gets
//!   vigil restarted).
//!
//! ```
//! use std::os::unix::net::UnixDatagram;
//! use vigil_tokio::systemd::SystemdNotify;
//!
//! let dir = std::env::temp_dir().join(format!("vigil-sd-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).unwrap();
//! let manager = UnixDatagram::bind(dir.join("notify")).unwrap();
//! let notify = SystemdNotify::from_vars(Some(dir.join("notify").as_os_str()), None, None)
//!     .expect("valid")
//!     .expect("NOTIFY_SOCKET given");
//! notify.status("3 children running, 0 restarting").unwrap();
//! let mut buf = [0u8; 128];
//! let n = manager.recv(&mut buf).unwrap();
//! assert_eq!(&buf[..n], b"STATUS=3 children running, 0 restarting");
//! # let _ = std::fs::remove_dir_all(&dir);
//! ```

mod report;

use std::ffi::OsStr;
use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

pub use report::Reporter;

/// The environment variables of the protocol, which children must not
/// inherit from vigil.
pub const ENV_VARS: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/// The shortest interval between two `WATCHDOG=1` (a `WATCHDOG_USEC` of a
/// few microseconds would otherwise make vigil spin).
pub const MIN_WATCHDOG_INTERVAL: Duration = Duration::from_millis(1);

/// Why the notify environment could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SystemdError {
    /// `NOTIFY_SOCKET` is neither an absolute path nor `@name`.
    #[error("NOTIFY_SOCKET={0:?} is neither an absolute socket path nor an abstract name (@name)")]
    BadSocket(String),
    /// `WATCHDOG_USEC` is not a positive number.
    #[error("WATCHDOG_USEC={0:?} is not a positive number of microseconds")]
    BadWatchdog(String),
    /// The sending socket could not be created.
    #[error("cannot create a socket to notify systemd: {0}")]
    Io(#[from] io::Error),
}

/// A connection to the service manager's notify socket.
#[derive(Debug)]
pub struct SystemdNotify {
    socket: UnixDatagram,
    target: SocketAddr,
    watchdog: Option<Duration>,
}

impl SystemdNotify {
    /// From this process's environment: `Ok(None)` when `NOTIFY_SOCKET` is
    /// unset or empty (not run by a service manager that listens).
    pub fn from_env() -> Result<Option<SystemdNotify>, SystemdError> {
        let socket = std::env::var_os("NOTIFY_SOCKET");
        let usec = std::env::var("WATCHDOG_USEC").ok();
        let pid = std::env::var("WATCHDOG_PID").ok();
        SystemdNotify::from_vars(socket.as_deref(), usec.as_deref(), pid.as_deref())
    }

    /// From given values of `NOTIFY_SOCKET`, `WATCHDOG_USEC` and
    /// `WATCHDOG_PID` (the last compared with this process's id).
    pub fn from_vars(
        notify_socket: Option<&OsStr>,
        watchdog_usec: Option<&str>,
        watchdog_pid: Option<&str>,
    ) -> Result<Option<SystemdNotify>, SystemdError> {
        let Some(value) = notify_socket.filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let target = target(value)?;
        // WATCHDOG_PID names the process the watchdog is for: another one's
        // watchdog is not ours to feed.
        let mine = std::process::id().to_string();
        let watchdog = match watchdog_usec.filter(|_| watchdog_pid.is_none_or(|p| p.trim() == mine)) {
            None => None,
            Some(text) => match text.trim().parse::<u64>() {
                Ok(usec) if usec > 0 => Some(Duration::from_micros(usec)),
                _ => return Err(SystemdError::BadWatchdog(text.to_owned())),
            },
        };
        let socket = UnixDatagram::unbound()?;
        socket.set_nonblocking(true)?;
        Ok(Some(SystemdNotify {
            socket,
            target,
            watchdog,
        }))
    }

    /// Remove [`ENV_VARS`] from this process's environment, so that
    /// children do not inherit them. Call it before any thread starts (at
    /// the top of `main`): changing the environment races with threads
    /// that read it.
    pub fn remove_env() {
        for var in ENV_VARS {
            std::env::remove_var(var);
        }
    }

    /// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, if set for
    /// this process, and at least [`MIN_WATCHDOG_INTERVAL`].
    #[must_use]
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog.map(|d| (d / 2).max(MIN_WATCHDOG_INTERVAL))
    }

    /// Send one message (`KEY=value` lines), without waiting.
    pub fn send(&self, state: &str) -> io::Result<()> {
        self.socket.send_to_addr(state.as_bytes(), &self.target).map(drop)
    }

    /// `READY=1`: started (or reloaded).
    pub fn ready(&self) -> io::Result<()> {
        self.send("READY=1")
    }

    /// `STATUS=line` (line breaks become spaces).
    pub fn status(&self, line: &str) -> io::Result<()> {
        self.send(&format!("STATUS={}", line.replace(['\n', '\r'], " ")))
    }

    /// `STOPPING=1`: shutting down.
    pub fn stopping(&self) -> io::Result<()> {
        self.send("STOPPING=1")
    }

    /// `RELOADING=1` with `MONOTONIC_USEC=` (what `Type=notify-reload`
    /// expects); send [`ready`](Self::ready) when the reload is applied.
    pub fn reloading(&self) -> io::Result<()> {
        self.send(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()))
    }

    /// `WATCHDOG=1`: alive.
    pub fn watchdog(&self) -> io::Result<()> {
        self.send("WATCHDOG=1")
    }
}

/// The address `NOTIFY_SOCKET` names.
fn target(value: &OsStr) -> Result<SocketAddr, SystemdError> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = value.as_bytes();
    let bad = || SystemdError::BadSocket(value.to_string_lossy().into_owned());
    match bytes.first() {
        Some(b'/') => SocketAddr::from_pathname(std::path::Path::new(value)).map_err(|_| bad()),
        Some(b'@') => abstract_addr(&bytes[1..]).map_err(|_| bad()),
        _ => Err(bad()),
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn abstract_addr(name: &[u8]) -> io::Result<SocketAddr> {
    use std::os::linux::net::SocketAddrExt;
    SocketAddr::from_abstract_name(name)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn abstract_addr(_: &[u8]) -> io::Result<SocketAddr> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "abstract sockets are Linux's",
    ))
}

/// `CLOCK_MONOTONIC` in microseconds, as systemd reads it.
fn monotonic_usec() -> u64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(t) => u64::try_from(t.tv_sec())
            .unwrap_or(0)
            .saturating_mul(1_000_000)
            .saturating_add(u64::try_from(t.tv_nsec()).unwrap_or(0) / 1_000),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(socket: &str, usec: Option<&str>, pid: Option<&str>) -> Result<Option<SystemdNotify>, SystemdError> {
        SystemdNotify::from_vars(Some(OsStr::new(socket)), usec, pid)
    }

    #[test]
    fn no_socket_means_no_notifying() {
        assert!(SystemdNotify::from_vars(None, Some("1000"), None).unwrap().is_none());
        assert!(vars("", Some("1000"), None).unwrap().is_none());
    }

    #[test]
    fn a_socket_must_be_absolute_or_abstract() {
        for bad in ["relative/path", "notify", "./x"] {
            assert!(
                matches!(vars(bad, None, None), Err(SystemdError::BadSocket(v)) if v == bad),
                "{bad}"
            );
        }
        assert!(vars("/run/systemd/notify", None, None).unwrap().is_some());
        assert!(vars("@vigil-test", None, None).unwrap().is_some());
        // Longer than a socket address holds.
        let long = format!("/{}", "x".repeat(200));
        assert!(matches!(vars(&long, None, None), Err(SystemdError::BadSocket(_))));
    }

    #[test]
    fn the_watchdog_is_half_its_period_for_this_pid_only() {
        let me = std::process::id().to_string();
        let n = vars("/run/n", Some("30000000"), None).unwrap().unwrap();
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(15)));
        let n = vars("/run/n", Some("30000000"), Some(&me)).unwrap().unwrap();
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(15)));
        let other = (std::process::id() + 1).to_string();
        let n = vars("/run/n", Some("30000000"), Some(&other)).unwrap().unwrap();
        assert_eq!(n.watchdog_interval(), None, "another process's watchdog");
        // Extremes: clamped, never zero; the largest value does not overflow.
        let n = vars("/run/n", Some("1"), None).unwrap().unwrap();
        assert_eq!(n.watchdog_interval(), Some(MIN_WATCHDOG_INTERVAL));
        let n = vars("/run/n", Some(&u64::MAX.to_string()), None).unwrap().unwrap();
        assert_eq!(n.watchdog_interval(), Some(Duration::from_micros(u64::MAX) / 2));
        for bad in ["0", "-5", "soon", "", "1.5"] {
            assert!(
                matches!(vars("/run/n", Some(bad), None), Err(SystemdError::BadWatchdog(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_manager_that_is_gone_is_an_error_not_a_hang() {
        let dir = std::env::temp_dir().join(format!("vigil-sd-gone-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let n = vars(path.to_str().unwrap(), None, None).unwrap().unwrap();
        assert!(n.ready().is_err(), "nobody listens");
        let manager = UnixDatagram::bind(&path).unwrap();
        n.status("two\nlines").unwrap();
        n.reloading().unwrap();
        let mut buf = [0u8; 256];
        let got = manager.recv(&mut buf).unwrap();
        assert_eq!(&buf[..got], b"STATUS=two lines");
        let got = manager.recv(&mut buf).unwrap();
        let text = std::str::from_utf8(&buf[..got]).unwrap();
        let usec = text.strip_prefix("RELOADING=1\nMONOTONIC_USEC=").unwrap();
        assert!(usec.parse::<u64>().unwrap() > 0, "{text}");
        // A full socket buffer loses a message, it never blocks.
        let mut full = false;
        for _ in 0..100_000 {
            if n.watchdog().is_err() {
                full = true;
                break;
            }
        }
        assert!(full, "the manager never read, so the buffer filled");
        let _ = std::fs::remove_dir_all(&dir);
    }
}

//! The settings of a control server.

use std::path::PathBuf;
use std::time::Duration;

/// Settings of a control server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ControlOptions {
    /// The socket path (see [`super::default_socket_path`]).
    pub path: PathBuf,
    /// Connections open at once, at most; one more gets a
    /// `too_many_connections` error line and is closed. Default 1024. The
    /// descriptor budget may allow fewer (see [`crate::descriptors`]).
    pub max_connections: usize,
    /// How long a `call` waits for the worker's final answer when the
    /// request gives no `timeout_ms`. Default 30 s.
    pub call_timeout: Duration,
    /// Calls in flight at once over all connections; one more gets a
    /// `too_many_calls` error. Default 1024.
    pub max_calls: usize,
    /// Calls in flight at once on one connection; one more gets a
    /// `too_many_calls` error. Default 64.
    pub max_calls_per_connection: usize,
    /// A connection that has sent no complete request line for this long,
    /// and has nothing in progress (no call, no subscription, no
    /// registration), gets an `idle_timeout` error line and is closed.
    /// `None`: never. Default 5 minutes.
    pub idle_timeout: Option<Duration>,
    /// Budget descriptors against this open-files limit instead of the
    /// process's soft `RLIMIT_NOFILE` (tests; or to keep connections below
    /// a limit of your own). Default `None`.
    pub descriptor_limit: Option<u64>,
    /// A group whose members may connect too (`[control] group`): the
    /// socket file is given to it with mode 0660, the directories vigil
    /// creates for it with mode 0710 (enter, not list), and a peer whose
    /// primary or supplementary groups include it is admitted with every
    /// right of vigil's own user. `None` (the default): only vigil's user
    /// and root, socket 0600, directories 0700.
    ///
    /// ```
    /// use vigil_tokio::control::{ControlOptions, ControlServer};
    ///
    /// let dir = std::env::temp_dir().join(format!("vigil-doc-group-{}", std::process::id()));
    /// let mut options = ControlOptions::new(dir.join("run/ctl.sock"));
    /// // Vigil's own primary group: no privilege needed to give it the socket.
    /// options.group = Some(nix::unistd::getegid().as_raw());
    /// let server = ControlServer::bind(options).expect("bind");
    /// # drop(server);
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// ```
    pub group: Option<u32>,
}

impl ControlOptions {
    /// The defaults, at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ControlOptions {
            path: path.into(),
            max_connections: 1024,
            call_timeout: Duration::from_secs(30),
            max_calls: 1024,
            max_calls_per_connection: 64,
            idle_timeout: Some(Duration::from_secs(300)),
            descriptor_limit: None,
            group: None,
        }
    }
}

//! The messages between vigil and its process spawner (see
//! [`crate::spawner`]): one message per `SOCK_SEQPACKET` packet, text, in
//! UTF-8.
//!
//! vigil → spawner:
//!
//! | message | descriptors | meaning |
//! |---|---|---|
//! | `spawn <key> <json SpawnRequest>` | one per [`Stream::Passed`] stream, stdout first | hand the run `key` to the guard parked for its slot (`crate::guard_park`), or fork a guard for it, and start the program |
//! | `kill <key> <guard>` | none | end the run `key`, whose guard is `guard` (vigil's Kill: a queued signal to that guard, `crate::guard_kill`; nothing if that guard no longer serves that run) |
//!
//! spawner → vigil, each line of a guard (`crate::guard`'s protocol) tagged
//! with the run's key and its guard's pid (the run's process group; 0 if no
//! guard was forked):
//!
//! | message | meaning |
//! |---|---|
//! | `<key> <guard> started <program pid>` | the program runs |
//! | `<key> <guard> exec-failed <errno>` | `posix_spawnp` failed; the guard is reaped |
//! | `<key> <guard> status <raw wait status>` | the program ended, every descendant is killed and reaped, and so is the guard (or it is parked for the child's next run) |
//! | `<key> <guard> failed <message>` | the guard failed (a system call), or the spawner could not fork it; it is reaped |
//! | `<key> <guard> guard-died <raw wait status of the guard>` | the guard ended without saying why (killed); its process group was SIGKILLed, and it is reaped |
//!
//! Every run gets exactly one of the last four, after `started` or instead
//! of it. The key is vigil's: a number of its own per run, sent in
//! increasing order (the spawner refuses a key not above the last one), so
//! never reused while the spawner lives.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The largest message either side sends or accepts: a request with a
/// larger command line or environment is refused by vigil before it is
/// sent (a failed start).
pub(crate) const MAX_MESSAGE: usize = 128 * 1024;

/// The smallest run key: 0 and 1 name the spawner's own event sources.
pub(crate) const FIRST_KEY: u64 = 2;

/// What the guard of one run starts, and how. New per-run settings of the
/// process (user, group, umask, resource limits, cgroup, a cleared
/// environment) go here, and are applied by the forked guard between its
/// fork and its `posix_spawnp` (`crate::spawner_process`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SpawnRequest {
    /// The program (looked up in `PATH` when it has no `/`) and its arguments.
    pub(crate) argv: Vec<String>,
    /// Variables set over the spawner's environment (which is vigil's at
    /// the spawner's start), in this order.
    pub(crate) env: Vec<(String, String)>,
    /// Variables removed from the spawner's environment (before `env`).
    pub(crate) env_remove: Vec<String>,
    /// The working directory; the spawner's (vigil's) if `None`.
    pub(crate) cwd: Option<PathBuf>,
    /// The program's stdout.
    pub(crate) stdout: Stream,
    /// The program's stderr.
    pub(crate) stderr: Stream,
    /// The child this run is of (vigil's path of it): the guard of a run
    /// with a slot parks after the run and is handed that slot's next run
    /// (`crate::guard_park`); `None`: the guard exits after its run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) slot: Option<String>,
    /// User, group, umask, limits, cgroup, cleared environment
    /// (`crate::spawn_setup`); the default changes nothing.
    #[serde(default, skip_serializing_if = "crate::spawn_setup::SpawnSetup::is_default")]
    pub(crate) setup: Box<crate::spawn_setup::SpawnSetup>,
}

/// Where one output stream of the program goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Stream {
    /// The spawner's own (vigil's stdout or stderr, inherited at its start).
    #[default]
    Inherit,
    /// `/dev/null`.
    Null,
    /// The next descriptor passed with the request (a pipe to vigil, a log file).
    Passed,
}

/// One message from vigil to the spawner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// `spawn <key> <json>`
    Spawn(u64, SpawnRequest),
    /// `kill <key> <guard>`
    Kill(u64, u32),
}

impl Request {
    /// The message's bytes.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, serde_json::Error> {
        Ok(match self {
            Request::Spawn(key, request) => {
                let mut out = format!("spawn {key} ").into_bytes();
                serde_json::to_writer(&mut out, request)?;
                out
            }
            Request::Kill(key, guard) => format!("kill {key} {guard}").into_bytes(),
        })
    }

    /// Parse a message; `None` if it is not one.
    pub(crate) fn decode(message: &[u8]) -> Option<Request> {
        let text = std::str::from_utf8(message).ok()?;
        let (word, rest) = text.split_once(' ')?;
        match word {
            "spawn" => {
                let (key, json) = rest.split_once(' ')?;
                Some(Request::Spawn(key.parse().ok()?, serde_json::from_str(json).ok()?))
            }
            "kill" => {
                let (key, guard) = rest.split_once(' ')?;
                Some(Request::Kill(key.parse().ok()?, guard.parse().ok()?))
            }
            _ => None,
        }
    }
}

/// One reply of the spawner about one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Reply {
    /// `started <program pid>`
    Started(u32),
    /// `exec-failed <errno>`
    ExecFailed(i32),
    /// `status <raw wait status>`
    Status(i32),
    /// `failed <message>`
    Failed(String),
    /// `guard-died <raw wait status of the guard>`
    GuardDied(i32),
}

impl Reply {
    /// The message's text for the run `key` whose guard is `guard` (a
    /// message's newlines become spaces).
    #[cfg(test)]
    pub(crate) fn encode(&self, key: u64, guard: u32) -> String {
        let mut out = Vec::new();
        // Writing to a `Vec` does not fail.
        let _ = self.write(key, guard, &mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Write the message's text for the run `key` whose guard is `guard`
    /// to `out` (a message's newlines become spaces): the spawner formats
    /// it without allocating (`crate::spawner_process`).
    pub(crate) fn write(&self, key: u64, guard: u32, out: &mut impl std::io::Write) -> std::io::Result<()> {
        match self {
            Reply::Started(program) => write!(out, "{key} {guard} started {program}"),
            Reply::ExecFailed(errno) => write!(out, "{key} {guard} exec-failed {errno}"),
            Reply::Status(raw) => write!(out, "{key} {guard} status {raw}"),
            Reply::Failed(message) => {
                write!(out, "{key} {guard} failed ")?;
                for (i, part) in message.split('\n').enumerate() {
                    write!(out, "{}{part}", if i == 0 { "" } else { " " })?;
                }
                Ok(())
            }
            Reply::GuardDied(raw) => write!(out, "{key} {guard} guard-died {raw}"),
        }
    }

    /// Parse a message: the run's key, its guard's pid and the reply;
    /// `None` if it is not one.
    pub(crate) fn decode(message: &[u8]) -> Option<(u64, u32, Reply)> {
        let text = std::str::from_utf8(message).ok()?;
        let (key, rest) = text.split_once(' ')?;
        let (guard, rest) = rest.split_once(' ')?;
        let (word, rest) = rest.split_once(' ')?;
        let reply = match word {
            "started" => Reply::Started(rest.parse().ok()?),
            "exec-failed" => Reply::ExecFailed(rest.parse().ok()?),
            "status" => Reply::Status(rest.parse().ok()?),
            "failed" => Reply::Failed(rest.to_owned()),
            "guard-died" => Reply::GuardDied(rest.parse().ok()?),
            _ => return None,
        };
        Some((key.parse().ok()?, guard.parse().ok()?, reply))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_replies_read_back_as_written() {
        let request = SpawnRequest {
            argv: vec!["sh".into(), "-c".into(), "echo 'a b'\n".into()],
            env: vec![("K".into(), "v=w".into())],
            env_remove: vec!["NOTIFY_SOCKET".into()],
            cwd: Some("/tmp".into()),
            stdout: Stream::Passed,
            stderr: Stream::Null,
            slot: Some("a/b".into()),
            setup: Box::new(crate::spawn_setup::SpawnSetup {
                uid: Some(65534),
                rlimits: vec![(7, 4096, 4096)],
                clear_env: true,
                ..Default::default()
            }),
        };
        for r in [Request::Spawn(7, request), Request::Kill(u64::MAX, 9)] {
            assert_eq!(Request::decode(&r.encode().unwrap()), Some(r));
        }
        for r in [
            Reply::Started(2),
            Reply::ExecFailed(2),
            Reply::Status(-1),
            Reply::Failed("a b".into()),
            Reply::GuardDied(9),
        ] {
            assert_eq!(Reply::decode(r.encode(3, 1).as_bytes()), Some((3, 1, r)));
        }
        assert_eq!(
            Reply::decode(Reply::Failed("x\ny".into()).encode(4, 0).as_bytes()),
            Some((4, 0, Reply::Failed("x y".into())))
        );
    }

    #[test]
    fn garbage_is_no_message() {
        for bad in [
            &b""[..],
            b"spawn",
            b"spawn 1 {",
            b"kill x",
            b"kill 1",
            b"\xff kill 1 2",
            b"run 1",
        ] {
            assert_eq!(Request::decode(bad), None);
        }
        for bad in [
            &b""[..],
            b"1 2 started",
            b"x 1 status 0",
            b"1 1 status",
            b"1 1 what 2",
            b"1 status 0",
        ] {
            assert_eq!(Reply::decode(bad), None);
        }
    }
}

//! The `exec` health probe: one run of a command, in a process group of its
//! own, bounded by the probe's timeout, leaving no process behind.
//!
//! The command gets the child's environment and working directory
//! ([`ProcessSpec::env`](crate::ProcessSpec::env), `cwd`, `VIGIL_PATH` and
//! `VIGIL_GENERATION`), but not the child's control-socket token, notify
//! socket or watchdog variables: a probe can neither act on the tree nor
//! notify for the child. It is forked directly (not through a process guard:
//! it is short-lived), stdin `/dev/null`, stdout and stderr into one pipe of
//! which only the last [`KEEP_OUTPUT`] bytes are kept, for the failure's
//! detail.
//!
//! When the command exits, whatever is left of its group is SIGKILLed. At
//! the timeout the whole group is SIGKILLed and the command reaped. When the
//! probe is abandoned (its run stops, vigil shuts down), the group is
//! SIGKILLed on drop and tokio reaps the command. What this cannot cover: a
//! probe running when vigil itself is SIGKILLed lives on until it ends by
//! itself (no `PR_SET_PDEATHSIG`: it would make every probe a full `fork`
//! of vigil instead of a `posix_spawn`), and a descendant that leaves the
//! group (`setsid`).

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;

/// The most output of a probe kept for its failure's detail (its end).
pub(crate) const KEEP_OUTPUT: usize = 512;

/// Variables of the child's environment a probe does not get.
const NOT_FOR_PROBES: [&str; 5] = [
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "VIGIL_SOCKET",
    "VIGIL_TOKEN",
];

/// How to run one exec probe of a run.
#[derive(Clone, Debug)]
pub(crate) struct ExecProbe {
    pub(crate) argv: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) cwd: Option<PathBuf>,
}

impl ExecProbe {
    /// The probe `argv` of a run whose program has the environment `env`
    /// (over vigil's) and working directory `cwd`.
    pub(crate) fn new(
        argv: &[String],
        env: impl IntoIterator<Item = (String, String)>,
        cwd: Option<PathBuf>,
    ) -> ExecProbe {
        let env = env
            .into_iter()
            .filter(|(k, _)| !NOT_FOR_PROBES.contains(&k.as_str()))
            .collect();
        ExecProbe {
            argv: argv.to_vec(),
            env,
            cwd,
        }
    }

    /// Run the command once: `Ok` if it exits with code 0 within `timeout`,
    /// else why not (with the end of its output).
    pub(crate) async fn run(&self, timeout: Duration) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        let (reader, mut child, own) = self.spawn()?;
        let _own = own;
        // Killed on every way out, the drop of this future included.
        let group = GroupKill(child.id().map_or(0, |p| p as i32));
        let mut reader = reader;
        let mut tail = Vec::with_capacity(KEEP_OUTPUT);
        let mut buf = [0u8; 512];
        let mut open = true;
        let status = loop {
            tokio::select! {
                status = child.wait() => break Some(status),
                n = reader.read(&mut buf), if open => match n {
                    Ok(0) | Err(_) => open = false,
                    Ok(n) => keep_tail(&mut tail, &buf[..n]),
                },
                () = tokio::time::sleep_until(deadline) => break None,
            }
        };
        group.kill();
        let Some(status) = status else {
            // Timed out: the group is SIGKILLed; reap the command.
            let _ = child.wait().await;
            return Err(failure(
                format!("timed out after {}", crate::probe::humantime(timeout)),
                &tail,
            ));
        };
        // The group is gone: the rest of the output is already in the pipe.
        while open {
            match tokio::time::timeout_at(deadline, reader.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => keep_tail(&mut tail, &buf[..n]),
                _ => open = false,
            }
        }
        match status {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(failure(crate::process::exit_reason(s).to_string(), &tail)),
            Err(e) => Err(format!("cannot wait for the probe: {e}")),
        }
    }

    fn spawn(&self) -> Result<(pipe::Receiver, tokio::process::Child, crate::own_children::OwnChild), String> {
        let Some((program, args)) = self.argv.split_first() else {
            return Err("the probe's command is empty".to_owned());
        };
        let cannot = |e: std::io::Error| format!("cannot start the probe `{program}`: {e}");
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| cannot(e.into()))?;
        let write2: OwnedFd = write.try_clone().map_err(cannot)?;
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(write))
            .stderr(Stdio::from(write2))
            .process_group(0)
            .kill_on_drop(true);
        for k in NOT_FOR_PROBES {
            command.env_remove(k);
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        if let Some(cwd) = &self.cwd {
            command.current_dir(cwd);
        }
        let spawned = crate::own_children::spawn_registered(|| command.spawn(), |c| c.id().unwrap_or(0));
        // The write ends live in `command`: close vigil's copies now, so that
        // the pipe ends when the probe's group does.
        drop(command);
        let (child, own) = spawned.map_err(cannot)?;
        let reader = pipe::Receiver::from_owned_fd(read).map_err(cannot)?;
        Ok((reader, child, own))
    }
}

/// Keep the last [`KEEP_OUTPUT`] bytes of the output.
fn keep_tail(tail: &mut Vec<u8>, more: &[u8]) {
    tail.extend_from_slice(more);
    if tail.len() > KEEP_OUTPUT {
        let cut = tail.len() - KEEP_OUTPUT;
        tail.drain(..cut);
    }
}

/// A failure's detail: `why`, and the end of the output, on one line.
fn failure(why: String, tail: &[u8]) -> String {
    let text = String::from_utf8_lossy(tail);
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if text.is_empty() {
        why
    } else {
        format!("{why}: {text}")
    }
}

/// SIGKILLs a probe's process group, once: at [`GroupKill::kill`] or on drop.
struct GroupKill(i32);

impl GroupKill {
    fn kill(mut self) {
        self.send();
        self.0 = 0;
    }

    fn send(&self) {
        if self.0 > 0 {
            // ESRCH: nobody is left in the group.
            let _ = killpg(Pid::from_raw(self.0), Signal::SIGKILL);
        }
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.send();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_end_of_the_output_is_kept() {
        let mut tail = Vec::new();
        keep_tail(&mut tail, &[b'a'; 400]);
        keep_tail(&mut tail, &[b'b'; 400]);
        assert_eq!(tail.len(), KEEP_OUTPUT);
        assert!(tail.ends_with(&[b'b'; 400]) && tail.starts_with(b"aaa"));
        assert_eq!(
            failure("exit code 1".into(), b"  no\nroute \n"),
            "exit code 1: no route"
        );
        assert_eq!(failure("exit code 1".into(), b" \n"), "exit code 1");
    }

    #[tokio::test]
    async fn an_exec_probe_passes_fails_and_times_out() {
        let env = [
            ("PROBE_WORD".to_owned(), "hello".to_owned()),
            ("VIGIL_TOKEN".to_owned(), "secret".to_owned()),
        ];
        let probe = |script: &str| ExecProbe::new(&["sh".into(), "-c".into(), script.into()], env.clone(), None);
        assert_eq!(probe("exit 0").run(Duration::from_secs(30)).await, Ok(()));
        let e = probe("echo \"$PROBE_WORD ${VIGIL_TOKEN:-none}\"; exit 3")
            .run(Duration::from_secs(30))
            .await;
        assert_eq!(e, Err("error(exit code 3): hello none".to_owned()));
        let e = probe("echo slow; exec sleep 60").run(Duration::from_millis(200)).await;
        assert_eq!(e, Err("timed out after 200ms: slow".to_owned()));
        let e = ExecProbe::new(&["/nonexistent/probe".into()], [], None)
            .run(Duration::from_secs(30))
            .await;
        assert!(
            e.as_ref()
                .is_err_and(|e| e.starts_with("cannot start the probe `/nonexistent/probe`")),
            "{e:?}"
        );
    }
}

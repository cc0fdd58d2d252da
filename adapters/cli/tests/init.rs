//! `vigil run` as PID 1 of a PID namespace (`unshare --pid --fork
//! --mount-proc`), as in a container: orphans reparented to it are reaped
//! (no zombie accumulates), SIGTERM starts the ordered shutdown, and vigil
//! exits with the tree's code. Skipped, with the reason printed, where
//! `unshare` is missing or not permitted (it needs root or a user namespace).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

mod support;

use support::poll;

/// Why the namespace tests cannot run here, if they cannot.
fn unshare_unavailable() -> Option<String> {
    for tool in ["unshare", "nsenter"] {
        match Command::new(tool).arg("--version").output() {
            Ok(o) if o.status.success() => {}
            _ => return Some(format!("`{tool} --version` failed: util-linux is not installed")),
        }
    }
    match Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .output()
    {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "`unshare --pid --fork --mount-proc true` is not permitted here: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("cannot run unshare: {e}")),
    }
}

/// The pids of `pid`'s children (every thread's), as the host sees them.
fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("children")).ok())
        .flat_map(|text| {
            text.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect()
}

/// The state letter of `pid` (`Z` for a zombie).
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.split_whitespace().next()?.chars().next()
}

/// vigil as PID 1 of a new PID namespace, on `config`; its log in `dir`.
struct Pid1 {
    unshare: Child,
    /// vigil's pid as the host sees it.
    vigil: u32,
    log: PathBuf,
}

impl Pid1 {
    fn start(dir: &Path, config: &Path) -> Pid1 {
        let log = dir.join("vigil.log");
        let unshare = Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "--kill-child"])
            .arg(env!("CARGO_BIN_EXE_vigil"))
            .arg("run")
            .arg(config)
            .env_remove("XDG_RUNTIME_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("unshare runs");
        let mut vigil = 0;
        assert!(
            poll(|| {
                vigil = children(unshare.id()).first().copied().unwrap_or(0);
                vigil != 0
            }),
            "unshare never started vigil"
        );
        let run = Pid1 { unshare, vigil, log };
        assert!(
            poll(|| run.log().contains("supervising")),
            "vigil never started supervising: {}",
            run.log()
        );
        run
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `sh -c SCRIPT` entered into vigil's namespaces from outside (as
    /// `docker exec` does): what it leaves behind is reparented to vigil.
    fn exec(&self, script: &str) {
        let status = Command::new("nsenter")
            .args(["-t", &self.vigil.to_string(), "-p", "-m", "sh", "-c", script])
            .status()
            .expect("nsenter runs");
        assert!(status.success(), "nsenter sh -c {script:?}: {status}");
    }

    fn zombies(&self) -> Vec<u32> {
        children(self.vigil)
            .into_iter()
            .filter(|&p| state(p) == Some('Z'))
            .collect()
    }

    /// SIGTERM to vigil; its exit code (unshare passes it on).
    fn terminate(mut self) -> (Option<i32>, String) {
        // SAFETY: kill(2) on a pid this test started and has not reaped.
        #[allow(unsafe_code)]
        let sent = unsafe { libc::kill(self.vigil as libc::pid_t, libc::SIGTERM) };
        assert_eq!(sent, 0, "SIGTERM to vigil");
        self.wait()
    }

    fn wait(&mut self) -> (Option<i32>, String) {
        let mut status = None;
        assert!(
            poll(|| {
                status = self.unshare.try_wait().unwrap();
                status.is_some()
            }),
            "vigil did not exit: {}",
            self.log()
        );
        (status.and_then(|s| s.code()), self.log())
    }
}

impl Drop for Pid1 {
    fn drop(&mut self) {
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
    }
}

fn scratch(config: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pid1.toml");
    let socket = dir.path().join("pid1.sock");
    std::fs::write(
        &path,
        format!("[control]\nsocket = \"{}\"\n\n{config}", socket.display()),
    )
    .unwrap();
    (dir, path)
}

/// A child that leaves two orphans every 50 ms, and a double-forking
/// daemon; the tree's own orphans go to each run's guard (a subreaper, a
/// child of the tree's process spawner).
const ORPHANS: &str = r#"
[[child]]
name = "orphans"
command = ["sh", "-c", "while true; do sh -c 'sleep 0.01 & sleep 0.01 & exit 0'; sleep 0.05; done"]
shutdown = "2s"

[[child]]
name = "daemon"
command = ["sh", "-c", "(sh -c 'sleep 0.01 &' &); exec sleep 1000"]
"#;

#[test]
fn as_pid1_vigil_reaps_every_orphan_and_shuts_down_in_order_on_sigterm() {
    if let Some(why) = unshare_unavailable() {
        println!("SKIPPED: {why}");
        return;
    }
    let (dir, config) = scratch(ORPHANS);
    let run = Pid1::start(dir.path(), &config);
    assert!(run.log().contains("acting as init"), "{}", run.log());
    // Orphans of processes entered from outside (`docker exec`): 40 of
    // them reparented to vigil, the last 20 of a double fork.
    for _ in 0..20 {
        run.exec("sleep 0.01 & sleep 0.01 & exit 0");
    }
    for _ in 0..10 {
        run.exec("(sleep 0.01 &); (sleep 0.01 &); exit 0");
    }
    // Every one has ended (10 ms) and been reaped: none is left as a
    // zombie, and vigil's one child is the tree's process spawner again
    // (the runs' guards are the spawner's children).
    let spawner_only = || {
        let c = children(run.vigil);
        c.len() == 1
            && std::fs::read_to_string(format!("/proc/{}/comm", c[0])).is_ok_and(|n| n.trim() == "vigil-spawner")
    };
    assert!(
        poll(|| run.zombies().is_empty() && spawner_only()),
        "zombies of vigil: {:?}, children: {:?}",
        run.zombies(),
        children(run.vigil)
    );
    let (code, log) = run.terminate();
    assert_eq!(code, Some(0), "an ordered shutdown exits 0: {log}");
    assert!(
        log.contains("shutting the tree down in order") && log.contains("signal=\"SIGTERM\""),
        "{log}"
    );
    assert!(log.contains("the tree is down"), "{log}");
}

#[test]
fn as_pid1_vigil_exits_with_the_trees_code_when_the_root_gives_up() {
    if let Some(why) = unshare_unavailable() {
        println!("SKIPPED: {why}");
        return;
    }
    let (dir, config) = scratch(
        r#"[supervisor]
intensity = 1
period = "1m"

[[child]]
name = "crasher"
command = ["sh", "-c", "sleep 0.01 & exit 3"]
"#,
    );
    let mut run = Pid1::start(dir.path(), &config);
    let (code, log) = run.wait();
    assert_eq!(code, Some(1), "a root give-up exits 1: {log}");
    assert!(log.contains("the root supervisor gave up"), "{log}");
    assert!(log.contains("exit code 3"), "the crasher's status reached vigil: {log}");
}

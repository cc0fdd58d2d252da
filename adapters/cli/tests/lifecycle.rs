//! A child's lifecycle against a real `vigil run`: `stop_signal`,
//! `reload_signal` with `vigil ctl reload PATH`, `vigil ctl signal`,
//! `success_exit_codes`, `restart_prevent_exit_codes`, the pids and health
//! of `vigil ctl status`, and `vigil check`'s errors for each key. The
//! children are shell scripts that trap a signal and write a file; every
//! wait polls for that file or state, with a safety net only.

use std::path::PathBuf;
use std::process::{Child, Output};

use serde_json::Value;

mod support;

use support::poll;

struct Run {
    dir: tempfile::TempDir,
    vigil: Child,
}

impl Run {
    /// `vigil run` on `children` (config text; `DIR` stands for the scratch
    /// directory), waiting until `ready` holds.
    fn start(children: &str, ready: impl Fn(&Run) -> bool) -> Run {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = format!(
            "[control]\nsocket = \"{}\"\n\n{}",
            dir.path().join("ctl.sock").display(),
            children.replace("DIR", &dir.path().display().to_string())
        );
        std::fs::write(dir.path().join("tree.toml"), text).unwrap();
        let vigil = support::run_tree_in(dir.path(), &[]);
        let run = Run { dir, vigil };
        assert!(poll(|| ready(&run)), "the tree never got ready: {}", run.log());
        run
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(name)).unwrap_or_default()
    }

    fn log(&self) -> String {
        self.read("vigil.log")
    }

    fn ctl(&self, args: &[&str]) -> Output {
        support::ctl(&self.path("ctl.sock"), args)
    }

    fn ok(&self, args: &[&str]) -> String {
        support::ctl_ok(&self.path("ctl.sock"), args, || self.log())
    }

    /// `vigil ctl --json ARGS`, which must fail: its error kind.
    fn fails(&self, args: &[&str]) -> String {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ctl(&all);
        assert!(!out.status.success(), "vigil ctl {args:?} succeeded");
        let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
        let v: Value = text
            .lines()
            .find_map(|l| serde_json::from_str(l).ok())
            .unwrap_or_else(|| panic!("no JSON error: {text}"));
        v["error"]["kind"].as_str().unwrap_or_default().to_owned()
    }

    /// The `--json status` node at `path`.
    fn node(&self, path: &str) -> Value {
        let out = self.ctl(&["--json", "status"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        v["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["path"] == path)
            .cloned()
            .unwrap_or(Value::Null)
    }

    fn state(&self, path: &str) -> String {
        self.node(path)["state"].as_str().unwrap_or_default().to_owned()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.vigil.kill();
        let _ = self.vigil.wait();
    }
}

/// A process child `name` running `script` in `sh -c`.
fn child(name: &str, script: &str, extra: &str) -> String {
    format!("[[child]]\nname = \"{name}\"\ncommand = [\"sh\", \"-c\", '''{script}''']\n{extra}\n\n")
}

/// A script that writes its pid to `DIR/<name>.pid`, appends the name of
/// each trapped signal to `DIR/<name>.got`, and runs until stopped.
fn trapping(name: &str, signals: &[&str]) -> String {
    let traps: String = signals
        .iter()
        .map(|s| format!("trap 'echo {s} >> DIR/{name}.got' {s}; "))
        .collect();
    format!("{traps}echo $$ > DIR/{name}.pid; while :; do sleep 0.05; done")
}

fn has_pid(run: &Run, name: &str) -> bool {
    run.read(&format!("{name}.pid")).ends_with('\n')
}

#[test]
fn stop_signal_is_what_a_stop_sends() {
    let script = "trap 'echo INT > DIR/c.got; exit 0' INT; trap 'echo TERM > DIR/c.got; exit 0' TERM; \
                  echo $$ > DIR/c.pid; while :; do sleep 0.05; done";
    let run = Run::start(
        &child("c", script, "stop_signal = \"SIGINT\"\nshutdown = \"20s\""),
        |r| has_pid(r, "c"),
    );
    run.ok(&["stop", "c"]);
    assert_eq!(run.read("c.got"), "INT\n", "{}", run.log());
    assert_eq!(run.state("c"), "stopped");
    // Dying of its own stop signal reads `shutdown`, as SIGTERM always did.
    let script = "echo $$ > DIR/d.pid; exec sleep 1000";
    let run = Run::start(&child("d", script, "stop_signal = \"INT\"\nshutdown = \"20s\""), |r| {
        has_pid(r, "d")
    });
    run.ok(&["stop", "d"]);
    assert_eq!(run.node("d")["last_exit"], "shutdown", "{}", run.log());
}

#[test]
fn ctl_reload_path_and_ctl_signal_reach_the_main_process() {
    let children = format!(
        "{}{}[[child]]\nname = \"sup\"\nsupervisor = {{}}\n\n  [[child.child]]\n  name = \"inner\"\n  command = [\"sleep\", \"1000\"]\n\n",
        child("c", &trapping("c", &["HUP", "USR1", "USR2"]), "reload_signal = \"SIGHUP\""),
        child("plain", &trapping("plain", &[]), ""),
    );
    let run = Run::start(&children, |r| has_pid(r, "c") && has_pid(r, "plain"));
    let pid: u32 = run.read("c.pid").trim().parse().unwrap();

    let text = run.ok(&["reload", "c"]);
    assert_eq!(text, format!("sent SIGHUP to c (pid {pid})\n"));
    assert!(poll(|| run.read("c.got") == "HUP\n"), "{:?}", run.read("c.got"));
    run.ok(&["signal", "c", "USR1"]);
    assert!(poll(|| run.read("c.got") == "HUP\nUSR1\n"), "{:?}", run.read("c.got"));
    // --all: the whole group (the script and its `sleep`); the script traps it.
    let v: Value = serde_json::from_str(&run.ok(&["--json", "signal", "--all", "c", "SIGUSR2"])).unwrap();
    assert_eq!(v["signal"], "SIGUSR2");
    assert!(v["process_group"].as_u64().is_some(), "{v}");
    assert!(
        poll(|| run.read("c.got") == "HUP\nUSR1\nUSR2\n"),
        "{:?}",
        run.read("c.got")
    );
    // Nothing of it was a restart: the same program runs.
    assert_eq!(run.node("c")["restarts"], 0);
    assert_eq!(run.node("c")["pid"], pid);

    assert_eq!(run.fails(&["reload", "nobody"]), "not_found");
    assert_eq!(run.fails(&["reload", "plain"]), "no_reload_signal");
    assert_eq!(run.fails(&["signal", "sup", "HUP"]), "not_a_worker");
    assert_eq!(run.fails(&["signal", "c", "SIGBOGUS"]), "bad_request");
    assert_eq!(run.fails(&["reload", "--dry-run", "c"]), "bad_input");
    run.ok(&["stop", "plain"]);
    assert_eq!(run.fails(&["signal", "plain", "HUP"]), "not_running");
    // The config's reload is still `ctl reload` without a path.
    assert!(run.ok(&["reload"]).starts_with("reloaded "));
}

#[test]
fn status_shows_the_programs_pid_its_guard_and_health() {
    let children = format!(
        "{}[[child]]\nname = \"web\"\nsupervisor = {{}}\n\n  [[child.child]]\n  name = \"w\"\n  command = [\"sleep\", \"1000\"]\n\n",
        child("c", &trapping("c", &[]), "")
    );
    let run = Run::start(&children, |r| has_pid(r, "c") && r.state("web/w") == "running");
    let pid: u64 = run.read("c.pid").trim().parse().unwrap();
    let c = run.node("c");
    assert_eq!(c["pid"], pid, "{c}");
    // Under a guard (the default where the binary can be one).
    let guard = c["guard_pid"].as_u64().expect("a guard pid");
    assert_ne!(guard, pid);
    assert!(c["uptime_secs"].as_f64().is_some(), "{c}");
    // No health_timeout: no health.
    assert!(c.get("health").is_none(), "{c}");
    // A supervisor has its own restart count (0 so far) and uptime.
    let web = run.node("web");
    assert_eq!(web["restarts"], 0, "{web}");
    assert!(web["uptime_secs"].as_f64().is_some(), "{web}");
    // The table shows the program's pid and the health column.
    let table = run.ok(&["status"]);
    assert!(table.lines().next().unwrap().contains("HEALTH"), "{table}");
    let row = table.lines().find(|l| l.starts_with("c ")).unwrap();
    assert!(row.split_whitespace().any(|w| w == pid.to_string()), "{row}");
    assert!(!row.split_whitespace().any(|w| w == guard.to_string()), "{row}");
}

#[test]
fn a_heartbeating_child_is_healthy_in_status() {
    // Just up, its heartbeat deadline is a whole `health_timeout` away.
    let run = Run::start(&child("h", &trapping("h", &[]), "health_timeout = \"1h\""), |r| {
        has_pid(r, "h") && r.state("h") == "running"
    });
    assert_eq!(run.node("h")["health"], "healthy", "{}", run.node("h"));
}

#[test]
fn a_success_exit_code_is_normal_and_a_transient_child_stays_ended() {
    let script = "echo run >> DIR/t.runs; exit 3";
    let run = Run::start(
        &format!(
            "{}{}",
            child("t", script, "restart = \"transient\"\nsuccess_exit_codes = [0, 3]"),
            child("keep", &trapping("keep", &[]), "")
        ),
        |r| r.state("t") == "stopped",
    );
    assert_eq!(run.read("t.runs"), "run\n");
    assert_eq!(run.node("t")["last_exit"], "normal", "{}", run.node("t"));
}

#[test]
fn a_restart_prevent_exit_code_stops_a_permanent_child_until_started() {
    let script = "echo run >> DIR/p.runs; exit 2";
    let children = format!(
        "{}{}",
        child("p", script, "restart_prevent_exit_codes = [2]"),
        child("keep", &trapping("keep", &[]), "")
    );
    let run = Run::start(&children, |r| r.state("p") == "stopped" && has_pid(r, "keep"));
    assert_eq!(run.read("p.runs"), "run\n", "{}", run.log());
    let p = run.node("p");
    assert_eq!(p["last_exit"], "error(exit code 2)", "{p}");
    assert!(run.log().contains("restart_prevent_exit_codes"), "{}", run.log());
    // The sibling was not touched, and no intensity was spent: `ctl start`
    // starts it again (and it stops again the same way).
    run.ok(&["start", "p"]);
    assert!(poll(
        || run.read("p.runs") == "run\nrun\n" && run.state("p") == "stopped"
    ));
    assert_eq!(run.state("keep"), "running");
}

#[test]
fn vigil_check_names_each_bad_lifecycle_key_at_its_place() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, message) in [
        (
            "stop_signal = \"SIGKILL\"",
            "4:15: bad value for `stop_signal`: SIGKILL cannot be caught",
        ),
        (
            "stop_signal = \"STOP\"",
            "4:15: bad value for `stop_signal`: SIGSTOP freezes the program",
        ),
        (
            "stop_signal = \"sigint\"",
            "4:15: bad value for `stop_signal`: unknown signal `sigint`",
        ),
        (
            "reload_signal = \"KILL\"",
            "4:17: bad value for `reload_signal`: SIGKILL cannot be caught",
        ),
        (
            "success_exit_codes = [3, -1]",
            "4:26: bad value for `success_exit_codes`: exit code -1 is out of range",
        ),
        (
            "restart_prevent_exit_codes = [2, 2]",
            "4:34: bad value for `restart_prevent_exit_codes`: exit code 2 is listed twice",
        ),
    ] {
        let file = dir.path().join("t.toml");
        std::fs::write(
            &file,
            format!("[[child]]\nname = \"a\"\ncommand = [\"true\"]\n{extra}\n"),
        )
        .unwrap();
        let out = support::vigil_output(&["check", file.to_str().expect("UTF-8")]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra}");
        assert!(err.contains(&format!("t.toml:{message}")), "{extra}: {err}");
    }
    let file = dir.path().join("s.toml");
    std::fs::write(
        &file,
        "[[child]]\nname = \"s\"\nsupervisor = {}\nstop_signal = \"INT\"\n",
    )
    .unwrap();
    let out = support::vigil_output(&["check", file.to_str().expect("UTF-8")]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("`stop_signal` applies to workers only"));
}

#[test]
fn autostart_false_defines_a_child_that_ctl_start_starts() {
    let children = format!(
        "{}{}{}",
        child("first", &trapping("first", &[]), ""),
        child("lazy", &trapping("lazy", &[]), "autostart = false"),
        child("last", &trapping("last", &[]), "")
    );
    // The start goes on past it: `last` runs.
    let run = Run::start(&children, |r| has_pid(r, "first") && has_pid(r, "last"));
    let lazy = run.node("lazy");
    assert_eq!(lazy["state"], "defined", "{lazy}");
    assert_eq!(lazy["generation"], 0, "{lazy}");
    assert!(!run.path("lazy.pid").exists());
    run.ok(&["start", "lazy"]);
    assert!(poll(|| has_pid(&run, "lazy")), "{}", run.log());
    assert_eq!(run.state("lazy"), "running");
    // Stopped after a run, it reads `stopped`, not `defined`.
    run.ok(&["stop", "lazy"]);
    assert_eq!(run.state("lazy"), "stopped");
}

#[test]
fn vigil_check_refuses_an_autostart_that_is_not_a_bool() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.toml");
    std::fs::write(
        &file,
        "[[child]]\nname = \"a\"\ncommand = [\"true\"]\nautostart = \"no\"\n",
    )
    .unwrap();
    let out = support::vigil_output(&["check", file.to_str().expect("UTF-8")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("t.toml:4:13: invalid type: string \"no\", expected true or false"),
        "{err}"
    );
}

#[test]
fn start_delay_holds_every_start_in_order() {
    // `b` looks for `a`'s pid file when it starts: the next sibling waits
    // for the delayed start, as for any start.
    let children = format!(
        "[supervisor]\nintensity = 1000\n\n{}{}{}",
        child("a", &trapping("a", &[]), "start_delay = \"300ms\""),
        child(
            "b",
            "if test -f DIR/a.pid; then echo after > DIR/b.order; else echo before > DIR/b.order; fi; exec sleep 1000",
            ""
        ),
        child("r", "echo run >> DIR/r.runs; exit 1", "start_delay = \"200ms\"")
    );
    let run = Run::start(&children, |r| r.read("b.order").ends_with('\n'));
    assert_eq!(run.read("b.order"), "after\n");
    // Restarts wait too: a later run of `r` is seen in its delay.
    assert!(
        poll(|| {
            let r = run.node("r");
            r["start_delayed"] == true && r["generation"].as_u64().unwrap_or(0) > 1 && run.read("r.runs").len() > 4
        }),
        "{}",
        run.log()
    );
    assert!(poll(|| run.ok(&["status"]).contains("starting (delay)")));
}

#[test]
fn a_shutdown_does_not_wait_for_a_start_delay() {
    let mut run = Run::start(&child("slow", &trapping("slow", &[]), "start_delay = \"1h\""), |r| {
        r.node("slow")["start_delayed"] == true
    });
    run.ok(&["shutdown"]);
    // The safety net of `poll`, not an hour.
    assert!(poll(|| run.vigil.try_wait().ok().flatten().is_some()), "{}", run.log());
    assert!(!run.path("slow.pid").exists());
}

#[test]
fn vigil_check_refuses_a_bad_start_delay() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, message) in [
        (
            "start_delay = \"2 fortnights\"",
            "t.toml:4:15: bad value for `start_delay`",
        ),
        ("start_delay = \"-1s\"", "t.toml:4:15: bad value for `start_delay`"),
    ] {
        let file = dir.path().join("t.toml");
        std::fs::write(
            &file,
            format!("[[child]]\nname = \"a\"\ncommand = [\"true\"]\n{extra}\n"),
        )
        .unwrap();
        let out = support::vigil_output(&["check", file.to_str().expect("UTF-8")]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(message), "{extra}: {err}");
    }
}

//! Replicas with real processes (docs/CONFIG.md "replicas", docs/CLI.md
//! "vigil ctl scale" and "restart-all --surge"): `count` runs N processes
//! that each see their index; `vigil ctl scale` adds and removes them; a
//! reload that changes `count` scales and one that changes the command
//! replaces; a surge restart keeps every replica up, and stops where a
//! replacement fails. Each replica appends `start I PID` and `stop I PID`
//! lines to one event file; assertions read the order of those lines, never
//! timing. Waits poll with a safety net.

use std::path::{Path, PathBuf};
use std::process::{Child, Output};

use serde_json::Value;

mod support;

use support::{poll, sh};

struct Run {
    dir: tempfile::TempDir,
    vigil: Child,
}

impl Run {
    fn p(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }

    fn rewrite(&self, children: &str) {
        std::fs::write(self.dir.path().join("tree.toml"), config(self.dir.path(), children)).unwrap();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("vigil.log")).unwrap_or_default()
    }

    fn ctl(&self, args: &[&str]) -> Output {
        support::ctl(&self.dir.path().join("ctl.sock"), args)
    }

    fn json(&self, args: &[&str]) -> Value {
        support::ctl_json(&self.dir.path().join("ctl.sock"), args, || self.log())
    }

    fn nodes(&self) -> Vec<(String, String)> {
        self.json(&["status"])["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["path"].as_str().unwrap().to_owned(),
                    n["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    }

    fn paths(&self) -> Vec<String> {
        self.nodes().into_iter().map(|n| n.0).collect()
    }

    fn all_running(&self) -> bool {
        let out = self.ctl(&["--json", "status"]);
        let Ok(json) = serde_json::from_slice::<Value>(&out.stdout) else {
            return false;
        };
        let nodes = json["nodes"].as_array().cloned().unwrap_or_default();
        out.status.success() && nodes.iter().all(|n| n["state"] == "running")
    }

    /// The lines of the event file, once it has at least `n`.
    fn events(&self, n: usize) -> Vec<(String, u32, u32)> {
        let path = self.dir.path().join("events");
        let read = || -> Vec<(String, u32, u32)> {
            std::fs::read_to_string(&path)
                .unwrap_or_default()
                .lines()
                .map(|l| {
                    let f: Vec<&str> = l.split(' ').collect();
                    (f[0].to_owned(), f[1].parse().unwrap(), f[2].parse().unwrap())
                })
                .collect()
        };
        assert!(poll(|| read().len() >= n), "{n} events: {:?}\n{}", read(), self.log());
        read()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.vigil.kill();
        let _ = self.vigil.wait();
    }
}

fn config(dir: &Path, children: &str) -> String {
    format!(
        "[control]\nsocket = \"{}\"\n\n{children}",
        dir.join("ctl.sock").display()
    )
}

/// A replica script: refuses to start while `DIR/broken` exists; writes
/// its environment's index and its expanded argument to `DIR/out-{replica}`
/// and `start I PID` to `DIR/events`; reports ready (sd_notify); on SIGTERM
/// writes `stop I PID` and exits.
fn replica_script(dir: &Path) -> String {
    let d = dir.to_str().unwrap();
    format!(
        "[ -e {d}/broken ] && exit 3; \
         if [ -e {d}/arm ]; then rm {d}/arm; touch {d}/broken; fi; \
         echo \"$VIGIL_REPLICA {{replica}} $$\" > {d}/out-{{replica}}; \
         echo \"start {{replica}} $$\" >> {d}/events; \
         trap 'echo \"stop {{replica}} $$\" >> {d}/events; exit 0' TERM; \
         systemd-notify --ready; sleep 1000 & wait"
    )
}

fn web(dir: &Path, count: u32, extra: &str) -> String {
    format!(
        "[[child]]\nname = \"db\"\ncommand = [\"sleep\", \"1000\"]\nshutdown = \"brutal\"\n\n\
         [[child]]\nname = \"web\"\ncount = {count}\nreadiness = \"notify\"\nshutdown = \"5s\"\ncommand = {}\n{extra}\n\n\
         [[child]]\nname = \"tail\"\ncommand = [\"sleep\", \"1000\"]\nshutdown = \"brutal\"\n",
        sh(&replica_script(dir))
    )
}

/// The pid of replica `i` as its out file says, once the file names `i` twice.
fn out(run: &Run, i: u32) -> u32 {
    let path = PathBuf::from(run.p(&format!("out-{i}")));
    let read = || std::fs::read_to_string(&path).unwrap_or_default();
    assert!(poll(|| read().ends_with('\n')), "out-{i}: {}", run.log());
    let text = read();
    let f: Vec<&str> = text.split_whitespace().collect();
    assert_eq!(&f[..2], [i.to_string(), i.to_string()], "VIGIL_REPLICA and {{replica}}");
    f[2].parse().unwrap()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            !matches!(
                s.rsplit_once(')').and_then(|(_, r)| r.trim_start().chars().next()),
                Some('Z' | 'X')
            )
        })
        .unwrap_or(false)
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect()
}

#[test]
fn count_runs_replicas_that_scale_up_at_the_end_and_down_from_the_highest() {
    let run = Run::start_in(|p| web(p, 3, ""));
    let pids: Vec<u32> = (0..3).map(|i| out(&run, i)).collect();
    assert_eq!(run.paths(), ["db", "web-0", "web-1", "web-2", "tail"]);

    let up = run.json(&["scale", "web", "5"]);
    assert_eq!(strs(&up["started"]), ["web-3", "web-4"]);
    assert!(out(&run, 4) > 0 && out(&run, 3) > 0);
    assert_eq!(run.paths(), ["db", "web-0", "web-1", "web-2", "tail", "web-3", "web-4"]);

    let down = run.json(&["scale", "web", "1"]);
    assert_eq!(strs(&down["stopped"]), ["web-4", "web-3", "web-2", "web-1"]);
    assert_eq!(run.paths(), ["db", "web-0", "tail"]);
    assert!(alive(pids[0]) && !alive(pids[1]) && !alive(pids[2]));
    // The stops, in the event file: highest index first.
    let stops: Vec<u32> = run
        .events(9)
        .into_iter()
        .filter(|e| e.0 == "stop")
        .map(|e| e.1)
        .collect();
    assert_eq!(stops, [4, 3, 2, 1]);

    // From 0 and back: the template is kept.
    run.json(&["scale", "web", "0"]);
    assert_eq!(run.paths(), ["db", "tail"]);
    run.json(&["scale", "web", "2"]);
    assert_eq!(run.paths(), ["db", "tail", "web-0", "web-1"]);
}

impl Run {
    /// [`Run::start`] with children that need the run's own directory.
    fn start_in(children: impl Fn(&Path) -> String) -> Run {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = children(dir.path());
        std::fs::write(dir.path().join("tree.toml"), config(dir.path(), &text)).unwrap();
        let vigil = support::run_tree_in(dir.path(), &[]);
        let run = Run { dir, vigil };
        assert!(poll(|| run.all_running()), "the tree never ran: {}", run.log());
        run
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }
}

#[test]
fn scale_errors_are_precise() {
    let run = Run::start_in(|p| web(p, 1, ""));
    let fail = |args: &[&str], code: i32, text: &str| {
        let o = run.ctl(args);
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(text), "{args:?}: {err}");
    };
    fail(
        &["scale", "nope", "2"],
        2,
        "no replica template at `nope` (templates: web)",
    );
    fail(
        &["scale", "web-0", "2"],
        2,
        "`web-0` is a replica of `web`: name the template",
    );
    fail(&["scale", "web", "10001"], 2, "at most 10000 replicas");
    fail(&["scale", "web", "-1"], 2, "");
    fail(&["restart-all", "--surge", "1", "web"], 2, "--surge 1 needs --rolling");
    fail(
        &["restart-all", "--rolling", "--surge", "0", "web"],
        2,
        "--surge must be at least 1",
    );
    fail(
        &["restart-all", "--rolling", "--surge", "1", ""],
        2,
        "the root is a supervisor, not a replica template; the templates under it: web",
    );
    let snippet = run.dir().join("snippet.toml");
    std::fs::write(&snippet, "[[child]]\nname = \"x\"\ncount = 2\ncommand = [\"true\"]\n").unwrap();
    fail(
        &["start-child", "", "--config-snippet", snippet.to_str().unwrap()],
        2,
        "`x` has `count`: replicas come from the config file",
    );
}

#[test]
fn a_reload_scales_on_a_new_count_and_replaces_on_a_new_command() {
    let run = Run::start_in(|p| web(p, 3, ""));
    let pids: Vec<u32> = (0..3).map(|i| out(&run, i)).collect();
    run.rewrite(&web(run.dir(), 2, ""));
    let dry = run.json(&["reload", "--dry-run"]);
    assert_eq!(strs(&dry["removed"]), ["web-2"]);
    assert!(strs(&dry["added"]).is_empty() && dry["changed"].as_array().unwrap().is_empty());
    let applied = run.json(&["reload"]);
    assert_eq!(strs(&applied["removed"]), ["web-2"], "{applied}");
    assert_eq!(run.paths(), ["db", "web-0", "web-1", "tail"]);
    assert!(
        alive(pids[0]) && alive(pids[1]) && !alive(pids[2]),
        "the others are not replaced"
    );

    run.rewrite(&web(run.dir(), 4, ""));
    assert_eq!(strs(&run.json(&["reload"])["added"]), ["web-2", "web-3"]);
    assert_eq!(run.paths(), ["db", "web-0", "web-1", "tail", "web-2", "web-3"]);

    // A new setting of the template: every replica replaced, in place.
    run.rewrite(&web(run.dir(), 4, "env = { X = \"{replica}\" }"));
    let changed = run.json(&["reload"]);
    let replaced: Vec<&str> = changed["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(replaced, ["web-0", "web-1", "web-2", "web-3"]);
    assert!(!alive(pids[0]) && !alive(pids[1]));
    assert_eq!(run.paths(), ["db", "web-0", "web-1", "tail", "web-2", "web-3"]);
}

/// How many replicas run after each event (the first `n` starts excluded),
/// and per index, whether one always ran.
fn always_up(events: &[(String, u32, u32)], n: u32) {
    let mut live: std::collections::BTreeMap<u32, i32> = Default::default();
    for (k, e) in events.iter().enumerate() {
        *live.entry(e.1).or_default() += if e.0 == "start" { 1 } else { -1 };
        if k + 1 >= n as usize {
            assert_eq!(live.len(), n as usize, "{events:?}");
            assert!(
                live.values().all(|v| *v >= 1),
                "a replica was down after event {k}: {events:?}"
            );
        }
    }
}

#[test]
fn a_surge_restart_keeps_every_replica_up_and_keeps_the_names() {
    let run = Run::start_in(|p| web(p, 3, ""));
    let before: Vec<u32> = (0..3).map(|i| out(&run, i)).collect();
    let rolled = run.json(&["restart-all", "--rolling", "--surge", "1", "web"]);
    assert_eq!(strs(&rolled["rolled"]), ["web-0", "web-1", "web-2"]);
    // Each replica: its copy starts, the old run stops, the replica starts
    // again, the copy stops: 3 + 3 × 4 events.
    let events = run.events(15);
    always_up(&events, 3);
    for i in 0..3u32 {
        let mine: Vec<&str> = events
            .iter()
            .skip(3)
            .filter(|e| e.1 == i)
            .map(|e| e.0.as_str())
            .collect();
        assert_eq!(mine, ["start", "stop", "start", "stop"], "replica {i}: {events:?}");
    }
    assert_eq!(
        run.paths(),
        ["db", "web-0", "web-1", "web-2", "tail"],
        "the copies are gone"
    );
    let after: Vec<u32> = (0..3).map(|i| out(&run, i)).collect();
    assert!(before
        .iter()
        .zip(&after)
        .all(|(b, a)| b != a && !alive(*b) && alive(*a)));

    // Surge 2: two copies at a time, still every replica up.
    run.json(&["restart-all", "--rolling", "--surge", "2", "web"]);
    always_up(&run.events(27), 3);
}

#[test]
fn a_failed_replacement_leaves_the_old_run_and_stops_the_roll() {
    let run = Run::start_in(|p| web(p, 3, ""));
    let before: Vec<u32> = (0..3).map(|i| out(&run, i)).collect();
    std::fs::write(run.dir().join("broken"), "").unwrap();
    let o = run.ctl(&["restart-all", "--rolling", "--surge", "1", "web"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("the replacement of `web-0` failed"), "{err}");
    assert!(err.contains("`web-0` keeps its old run"), "{err}");
    assert!(err.contains("rolled so far: none"), "{err}");
    assert!(before.iter().all(|p| alive(*p)), "nothing was stopped");
    assert_eq!(run.paths(), ["db", "web-0", "web-1", "web-2", "tail"]);

    // The replica itself fails after its copy took over: the copy stays.
    std::fs::remove_file(run.dir().join("broken")).unwrap();
    std::fs::write(run.dir().join("arm"), "").unwrap();
    let o = run.ctl(&["restart-all", "--rolling", "--surge", "1", "web"]);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("`web-0` failed to start again after its copy took over"),
        "{err}"
    );
    assert!(err.contains("`web-0~surge` keeps running in its place"), "{err}");
    let nodes = run.nodes();
    assert!(
        nodes.iter().any(|(p, s)| p == "web-0~surge" && s == "running"),
        "{nodes:?}"
    );
}

#[test]
fn check_prints_the_replicas_and_each_template_and_refuses_a_typo() {
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("ok.toml");
    std::fs::write(
        &ok,
        "[[child]]\nname = \"web\"\ncount = 2\ncommand = [\"./web\", \"80{replica}\"]\n\
         [[child]]\nname = \"idle\"\ncount = 0\ncommand = [\"x\"]\n",
    )
    .unwrap();
    let out = support::vigil_output(&["check", ok.to_str().expect("UTF-8")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("├── web-0  worker permanent shutdown=5s env:VIGIL_REPLICA=0  [./web 800]"),
        "{text}"
    );
    assert!(text.contains("replicas: web count=2 (web-0 … web-1)\n"), "{text}");
    assert!(
        text.contains("replicas: idle count=0 (none running; `vigil ctl scale` starts them)\n"),
        "{text}"
    );
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[child]]\nname = \"web\"\ncount = 2\ncommand = [\"./web\", \"{replic}\"]\n",
    )
    .unwrap();
    let out = support::vigil_output(&["check", bad.to_str().expect("UTF-8")]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("bad.toml:4:11: bad value for `command`: unknown placeholder `{replic}`"),
        "{err}"
    );
}

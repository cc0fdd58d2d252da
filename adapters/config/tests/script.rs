//! The scenario script of docs/CONFIG.md ("The scenario script").

use std::time::Duration;

use vigil_config::{load_script, parse_script, Action, ConfigError, ConfigErrorKind, TimedAction};
use vigil_core::{ChildSpec, ExitReason, Request, RestartAllMode};

/// The example of docs/CONFIG.md ("The scenario script"), verbatim.
const CONFIG_MD_SCRIPT: &str = r#"
[[at]]
time = "1s"
exit = "web/w1"          # the current run of that worker exits by itself
reason = "error"         # normal | shutdown | error | panic | killed

[[at]]
time = "1s"
fail_starts = "web/w1"   # its next `count` starts fail
count = 2

[[at]]
time = "2s"
hang_on_stop = "db"      # its current run ignores Stop (only Kill ends it)

[[at]]
time = "3s"
request = "terminate_child"   # start_child | terminate_child | restart_child | delete_child | restart_all | shutdown
path = "web/w1"

[[at]]
time = "9s"
request = "shutdown"          # the whole tree; no path
"#;

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn at(time: Duration, line: usize, action: Action) -> TimedAction {
    TimedAction { time, line, action }
}

#[test]
fn the_config_md_script_example() {
    let script = parse_script(CONFIG_MD_SCRIPT, "scenario.toml").unwrap();
    assert_eq!(script.source, "scenario.toml");
    assert_eq!(
        script.actions,
        [
            at(
                secs(1),
                2,
                Action::Exit {
                    path: "web/w1".into(),
                    reason: ExitReason::Error(String::new()),
                },
            ),
            at(
                secs(1),
                7,
                Action::FailStarts {
                    path: "web/w1".into(),
                    count: 2,
                },
            ),
            at(secs(2), 12, Action::HangOnStop { path: "db".into() }),
            at(
                secs(3),
                16,
                Action::Request(Request::TerminateChild { path: "web/w1".into() }),
            ),
            at(secs(9), 21, Action::Request(Request::Shutdown)),
        ]
    );
}

#[test]
fn sorted_by_time_stable_within_one_time() {
    let text = r#"
[[at]]
time = "2s"
hang_on_stop = "a"

[[at]]
time = "500ms"
hang_on_stop = "b"

[[at]]
time = "2s"
hang_on_stop = "c"

[[at]]
time = "0.5s"
hang_on_stop = "d"

[[at]]
time = "2000ms"
hang_on_stop = "e"

[[at]]
time = "0s"
hang_on_stop = "f"
"#;
    let script = parse_script(text, "s").unwrap();
    let order: Vec<(String, usize)> = script
        .actions
        .iter()
        .map(|a| match &a.action {
            Action::HangOnStop { path } => (path.clone(), a.line),
            other => panic!("{other:?}"),
        })
        .collect();
    let expected = [("f", 22), ("b", 6), ("d", 14), ("a", 2), ("c", 10), ("e", 18)];
    let expected: Vec<(String, usize)> = expected.iter().map(|(p, l)| ((*p).to_owned(), *l)).collect();
    assert_eq!(order, expected);
}

#[test]
fn defaults_and_every_request() {
    let text = r#"
[[at]]
time = "1s"
exit = "w"

[[at]]
time = "1s"
fail_starts = "w"

[[at]]
time = "2s"
exit = "w"
reason = "shutdown(bye)"

[[at]]
time = "3s"
request = "start_child"
path = "web"
name = "w9"

[[at]]
time = "3s"
request = "start_child"
path = ""
name = "top"

[[at]]
time = "4s"
request = "restart_child"
path = "web/w9"

[[at]]
time = "5s"
request = "delete_child"
path = "web/w9"

[[at]]
time = "6s"
request = "restart_all"
path = "web"

[[at]]
time = "7s"
request = "restart_all"
path = ""
rolling = true

[[at]]
time = "8s"
request = "restart_all"
path = "web"
rolling = false
"#;
    let actions: Vec<Action> = parse_script(text, "s")
        .unwrap()
        .actions
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(
        actions,
        [
            Action::Exit {
                path: "w".into(),
                reason: ExitReason::Error(String::new())
            },
            Action::FailStarts {
                path: "w".into(),
                count: 1
            },
            Action::Exit {
                path: "w".into(),
                reason: ExitReason::Shutdown("bye".into())
            },
            Action::Request(Request::StartChild {
                parent: "web".into(),
                spec: ChildSpec::worker("w9")
            }),
            Action::Request(Request::StartChild {
                parent: String::new(),
                spec: ChildSpec::worker("top")
            }),
            Action::Request(Request::RestartChild { path: "web/w9".into() }),
            Action::Request(Request::DeleteChild { path: "web/w9".into() }),
            Action::Request(Request::RestartAll {
                path: "web".into(),
                mode: RestartAllMode::AllAtOnce
            }),
            Action::Request(Request::RestartAll {
                path: String::new(),
                mode: RestartAllMode::Rolling
            }),
            Action::Request(Request::RestartAll {
                path: "web".into(),
                mode: RestartAllMode::AllAtOnce
            }),
        ]
    );
}

#[test]
fn an_empty_script_has_no_actions() {
    assert!(parse_script("", "s").unwrap().actions.is_empty());
    assert!(parse_script("# nothing\n", "s").unwrap().actions.is_empty());
}

fn err(text: &str) -> ConfigError {
    match parse_script(text, "s.toml") {
        Ok(script) => panic!("accepted:\n{text}\n{script:?}"),
        Err(e) => e,
    }
}

fn check(text: &str, line: usize, key: Option<&str>, message: &str) -> ConfigError {
    let e = err(text);
    assert_eq!(e.line, Some(line), "{e}");
    assert_eq!(e.key.as_deref(), key, "{e}");
    assert_eq!(e.to_string(), message);
    e
}

#[test]
fn unknown_keys() {
    check(
        "[[at]]\ntime = \"1s\"\nexit = \"w\"\nresaon = \"error\"\n",
        4,
        Some("resaon"),
        "s.toml:4:1: unknown key `resaon` in [[at]] (did you mean `reason`? expected one of `time`, `exit`, `reason`, `fail_starts`, `count`, `hang_on_stop`, `request`, `path`, `name`, `rolling`)",
    );
    check(
        "[[after]]\ntime = \"1s\"\n",
        1,
        Some("after"),
        "s.toml:1:3: unknown key `after` in the top-level table (expected `at`)",
    );
}

#[test]
fn not_exactly_one_action() {
    let e = check(
        "[[at]]\ntime = \"1s\"\nexit = \"w\"\n\n[[at]]\ntime = \"2s\"\n",
        5,
        None,
        "s.toml:5:1: an [[at]] entry needs exactly one of `exit`, `fail_starts`, `hang_on_stop` or `request`, found none",
    );
    assert!(matches!(*e.kind, ConfigErrorKind::NotExactlyOne { .. }));
    check(
        "[[at]]\ntime = \"1s\"\nexit = \"w\"\nhang_on_stop = \"w\"\n",
        4,
        None,
        "s.toml:4:16: an [[at]] entry needs exactly one of `exit`, `fail_starts`, `hang_on_stop` or `request`, found `exit` and `hang_on_stop`",
    );
}

#[test]
fn wrong_combinations() {
    check(
        "[[at]]\ntime = \"1s\"\nhang_on_stop = \"w\"\nreason = \"error\"\n",
        4,
        Some("reason"),
        "s.toml:4:10: `reason` only goes with `exit`",
    );
    check(
        "[[at]]\ntime = \"1s\"\nexit = \"w\"\ncount = 2\n",
        4,
        Some("count"),
        "s.toml:4:9: `count` only goes with `fail_starts`",
    );
    check(
        "[[at]]\ntime = \"1s\"\nexit = \"w\"\npath = \"w\"\n",
        4,
        Some("path"),
        "s.toml:4:8: `path` only goes with `request`",
    );
    check(
        "[[at]]\ntime = \"1s\"\nrequest = \"shutdown\"\npath = \"\"\n",
        4,
        Some("path"),
        "s.toml:4:8: `path` does not go with `request = \"shutdown\"` (it shuts the whole tree down)",
    );
    check(
        "[[at]]\ntime = \"1s\"\nrequest = \"terminate_child\"\npath = \"w\"\nname = \"x\"\n",
        5,
        Some("name"),
        "s.toml:5:8: `name` only goes with `request = \"start_child\"`",
    );
    check(
        "[[at]]\ntime = \"1s\"\nrequest = \"restart_child\"\npath = \"w\"\nrolling = true\n",
        5,
        Some("rolling"),
        "s.toml:5:11: `rolling` only goes with `request = \"restart_all\"`",
    );
}

#[test]
fn missing_keys() {
    check(
        "[[at]]\nexit = \"w\"\n",
        1,
        Some("time"),
        "s.toml:1:1: missing key `time` in [[at]]",
    );
    check(
        "[[at]]\ntime = \"1s\"\nrequest = \"terminate_child\"\n",
        1,
        Some("path"),
        "s.toml:1:1: missing key `path` in [[at]]",
    );
    check(
        "[[at]]\ntime = \"1s\"\nrequest = \"start_child\"\npath = \"web\"\n",
        1,
        Some("name"),
        "s.toml:1:1: missing key `name` in [[at]]",
    );
}

#[test]
fn bad_values() {
    check(
        "[[at]]\ntime = \"1\"\nexit = \"w\"\n",
        2,
        Some("time"),
        "s.toml:2:8: bad value for `time`: `1` has no unit: write for example \"1s\" or \"1ms\" (units: ns, us, ms, s, m, h or d)",
    );
    check(
        "[[at]]\ntime = \"1s\"\nexit = \"w\"\nreason = \"oops\"\n",
        4,
        Some("reason"),
        "s.toml:4:10: bad value for `reason`: unknown exit reason `oops` (expected normal, shutdown, shutdown(..), error, error(..), panic, panic(..), killed, health, memory, evicted, evicted(..) or start_timeout)",
    );
    check(
        "[[at]]\ntime = \"1s\"\nrequest = \"which_children\"\npath = \"\"\n",
        3,
        Some("request"),
        "s.toml:3:11: bad value for `request`: unknown request `which_children` (expected start_child, terminate_child, restart_child, delete_child, restart_all or shutdown)",
    );
    check(
        "[[at]]\ntime = \"1s\"\nfail_starts = \"w\"\ncount = 0\n",
        4,
        Some("count"),
        "s.toml:4:9: bad value for `count`: the count must be at least 1",
    );
    let e = err("[[at]]\ntime = \"1s\"\nfail_starts = \"w\"\ncount = -1\n");
    assert_eq!((e.line, e.key.as_deref()), (Some(4), Some("count")));
    check(
        "[[at]]\ntime = \"1s\"\nexit = \"\"\n",
        3,
        Some("exit"),
        "s.toml:3:8: bad value for `exit`: the path is empty (the root supervisor is not a worker)",
    );
    check(
        "[[at]]\ntime = \"1s\"\nhang_on_stop = \"web//w1\"\n",
        3,
        Some("hang_on_stop"),
        "s.toml:3:16: bad value for `hang_on_stop`: `web//w1` has an empty name in it (a path is names joined with `/`, like \"web/w1\")",
    );
    let e = err("[[at]]\ntime = \"1s\"\nrequest = \"restart_all\"\npath = \"/web\"\n");
    assert_eq!((e.line, e.key.as_deref()), (Some(4), Some("path")));
    let e = check(
        "[[at]]\ntime = \"1s\"\nrequest = \"start_child\"\npath = \"web\"\nname = \"a b\"\n",
        5,
        Some("name"),
        "s.toml:5:8: invalid spec at `web`: child name \"a b\" contains whitespace, control or invisible formatting characters",
    );
    assert!(matches!(*e.kind, ConfigErrorKind::Spec(_)));
    let e = err("[[at]]\ntime = 1\nexit = \"w\"\n");
    assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("time")));
    assert!(e.to_string().contains("a duration is a string with a unit"), "{e}");
}

#[test]
fn files_are_loaded() {
    let dir = std::env::temp_dir().join(format!("vigil-config-script-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("scenario.toml");
    std::fs::write(&path, CONFIG_MD_SCRIPT).unwrap();
    let script = load_script(&path).unwrap();
    assert_eq!(script.source, path.display().to_string());
    assert_eq!(script.actions.len(), 5);
    let e = load_script(&dir.join("nope.toml")).unwrap_err();
    assert!(matches!(*e.kind, ConfigErrorKind::Io(_)));
    std::fs::remove_dir_all(&dir).unwrap();
}

//! A worker's `health = { .. }` probe and `readiness = "probe"`: what they
//! parse to, every error with its position, and `vigil check`'s warnings.

use std::time::Duration;

use vigil_config::{health_warnings, parse_tree, HealthProbe, ProbeCheck};
use vigil_core::Readiness;

fn child(keys: &str) -> String {
    format!("[[child]]\nname = \"w\"\ncommand = [\"w\"]\n{keys}\n")
}

/// The error's line, column, key and full message.
fn error_at(keys: &str, line: usize, column: usize, key: &str, message: &str) {
    let text = child(keys);
    let e = parse_tree(&text, "t.toml").expect_err(&text);
    assert_eq!(
        (e.line, e.column, e.key.as_deref()),
        (Some(line), Some(column), Some(key)),
        "{e}"
    );
    assert_eq!(e.to_string(), message);
}

#[test]
fn each_check_parses_with_the_defaults() {
    let cfg = parse_tree(
        &child("health = { exec = [\"curl\", \"-fsS\", \"localhost:8080/health\"] }"),
        "t",
    )
    .unwrap();
    let p = cfg.workers[0].health.clone().unwrap();
    assert_eq!(
        p,
        HealthProbe {
            check: ProbeCheck::Exec(vec!["curl".into(), "-fsS".into(), "localhost:8080/health".into()]),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            retries: 3,
            start_period: Duration::ZERO,
            ready: false,
        }
    );
    let cfg = parse_tree(&child("health = { tcp = \"127.0.0.1:5432\", retries = 1 }"), "t").unwrap();
    let p = cfg.workers[0].health.clone().unwrap();
    assert_eq!((p.check, p.retries), (ProbeCheck::Tcp("127.0.0.1:5432".into()), 1));
    let cfg = parse_tree(
        &child("readiness = \"probe\"\nstartup_timeout = \"30s\"\nhealth = { http = \"http://[::1]/h\", interval = \"1s\", timeout = \"500ms\", start_period = \"1m\" }"),
        "t",
    )
    .unwrap();
    let p = cfg.workers[0].health.clone().unwrap();
    let ProbeCheck::Http(t) = &p.check else { panic!("{p:?}") };
    assert_eq!((t.host.as_str(), t.port, t.path.as_str()), ("[::1]", 80, "/h"));
    assert_eq!(
        (p.interval, p.timeout, p.start_period),
        (
            Duration::from_secs(1),
            Duration::from_millis(500),
            Duration::from_secs(60)
        )
    );
    assert!(p.ready);
    // The engine sees a probe-ready child as one that awaits readiness.
    assert_eq!(cfg.spec.children[0].readiness, Readiness::Notify);
    assert!(health_warnings(&cfg).is_empty(), "{:?}", health_warnings(&cfg));
}

#[test]
fn exactly_one_check() {
    error_at(
        "health = { interval = \"1s\" }",
        4,
        10,
        "health",
        "t.toml:4:10: the health probe of child `w` needs exactly one of `exec`, `http` or `tcp`, found none",
    );
    error_at(
        "health = { tcp = \"h:1\", http = \"http://h/\" }",
        4,
        10,
        "health",
        "t.toml:4:10: the health probe of child `w` needs exactly one of `exec`, `http` or `tcp`, found `http` and `tcp`",
    );
}

#[test]
fn bad_values_point_at_the_value() {
    error_at(
        "health = { exec = [] }",
        4,
        19,
        "exec",
        "t.toml:4:19: bad value for `exec`: the command is empty: give at least the program, like [\"curl\", \"-fsS\", \"...\"]",
    );
    error_at(
        "health = { http = \"https://x/h\" }",
        4,
        19,
        "http",
        "t.toml:4:19: bad value for `http`: https is not supported: probes speak plain HTTP only (no TLS); probe a plain-HTTP port, or use `exec = [\"curl\", \"-fsS\", \"https://...\"]`",
    );
    error_at(
        "health = { http = \"http://h:99999/\" }",
        4,
        19,
        "http",
        "t.toml:4:19: bad value for `http`: \"http://h:99999/\": the port \"99999\" is not a number from 1 to 65535",
    );
    error_at(
        "health = { tcp = \"localhost\" }",
        4,
        18,
        "tcp",
        "t.toml:4:18: bad value for `tcp`: \"localhost\" has no port; write a host and a port, like \"127.0.0.1:5432\"",
    );
    error_at(
        "health = { tcp = \"h:1\", interval = \"0s\" }",
        4,
        36,
        "interval",
        "t.toml:4:36: bad value for `interval`: must be greater than zero",
    );
    error_at(
        "health = { tcp = \"h:1\", timeout = \"5\" }",
        4,
        35,
        "timeout",
        "t.toml:4:35: bad value for `timeout`: `5` has no unit: write for example \"5s\" or \"5ms\" (units: ns, us, ms, s, m, h or d)",
    );
    error_at(
        "health = { tcp = \"h:1\", retries = 0 }",
        4,
        35,
        "retries",
        "t.toml:4:35: bad value for `retries`: must be at least 1 (the consecutive failures that make the child unhealthy)",
    );
}

#[test]
fn unknown_keys_and_misplaced_tables() {
    error_at(
        "health = { tcp = \"h:1\", intervl = \"1s\" }",
        4,
        25,
        "intervl",
        "t.toml:4:25: unknown key `intervl` in `health` (did you mean `interval`? expected one of `exec`, `http`, `tcp`, `interval`, `timeout`, `retries`, `start_period`)",
    );
    let text = "[[child]]\nname = \"s\"\nsupervisor = {}\nhealth = { tcp = \"h:1\" }\n";
    let e = parse_tree(text, "t.toml").unwrap_err();
    assert_eq!((e.line, e.key.as_deref()), (Some(4), Some("health")), "{e}");
    assert!(e.to_string().contains("applies to workers only"), "{e}");
}

#[test]
fn probe_readiness_needs_a_probe() {
    error_at(
        "readiness = \"probe\"",
        4,
        13,
        "readiness",
        "t.toml:4:13: bad value for `readiness`: \"probe\" needs a health probe, and child `w` has none: add `health = { exec = [..] }` (or `http`, `tcp`), or use \"immediate\" or \"notify\"",
    );
    let e = parse_tree(&child("readiness = \"probes\""), "t.toml").unwrap_err();
    assert!(e.to_string().contains("(expected immediate, notify or probe)"), "{e}");
}

#[test]
fn settings_that_cannot_work_are_warned_about() {
    let cfg = parse_tree(
        &child(
            "readiness = \"probe\"\nstartup_timeout = \"1s\"\nhealth = { exec = [\"true\"], interval = \"2s\", timeout = \"2s\" }",
        ),
        "t",
    )
    .unwrap();
    let warnings = health_warnings(&cfg);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(
        warnings[0].starts_with("child `w`: the health probe's timeout (2s) is not shorter than its interval (2s)"),
        "{}",
        warnings[0]
    );
    assert!(
        warnings[1].starts_with("child `w`: its startup_timeout (1s) is not longer than one probe may take (2s)"),
        "{}",
        warnings[1]
    );
}

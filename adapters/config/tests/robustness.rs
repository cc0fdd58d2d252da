//! Parsing never panics, whatever the input, and every error has a sane position.

use proptest::prelude::*;
use vigil_config::{parse_script, parse_tree, ConfigError};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("VIGIL_PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        ..ProptestConfig::default()
    }
}

const TREE: &str = r#"
[supervisor]
strategy = "one_for_one"
intensity = 3
period = "5s"
auto_shutdown = "any_significant"

[control]
socket = "vigil.sock"

[[child]]
name = "db"
command = ["postgres", "-D", "data"]
env = { PGPORT = "5433" }
restart = "transient"
shutdown = "10s"
significant = true
readiness = "notify"
startup_timeout = "30s"
backoff = { initial = "100ms", max = "30s", multiplier = 2.0, jitter = 0.1, reset_after = "60s" }
memory_limit = "512MiB"
sim = { lifetime = "exp(10m)", exit = "error", start_fail = 0.01, start_latency = "20ms", stop_latency = "50ms", ignore_stop = 0.0 }

[[child]]
name = "web"
supervisor = { strategy = "one_for_all", intensity = 1, period = "5s" }
  [[child.child]]
  name = "w1"
  command = ["./web", "--port", "8080"]
"#;

const SCRIPT: &str = r#"
[[at]]
time = "1s"
exit = "web/w1"
reason = "error"

[[at]]
time = "1s"
fail_starts = "web/w1"
count = 2

[[at]]
time = "3s"
request = "start_child"
path = "web"
name = "w2"

[[at]]
time = "4s"
request = "restart_all"
path = "web"
rolling = true
"#;

/// The error's position is inside the text (or just past its end).
fn check_position(text: &str, err: &ConfigError) -> Result<(), TestCaseError> {
    let lines = text.split('\n').count();
    if let Some(line) = err.line {
        prop_assert!(line >= 1 && line <= lines, "line {} of {}: {}", line, lines, err);
        prop_assert!(err.column.is_some_and(|c| c >= 1));
    }
    prop_assert!(!err.to_string().is_empty());
    Ok(())
}

/// Text edits: delete, insert or replace a few characters of a valid file.
fn mutate(base: &'static str) -> impl Strategy<Value = String> {
    let edit = (
        any::<prop::sample::Index>(),
        0usize..4,
        "\\PC{0,3}|[\\[\\]{}=\",.#\n0-9a-z_]{0,3}",
    );
    prop::collection::vec(edit, 1..4).prop_map(move |edits| {
        let mut chars: Vec<char> = base.chars().collect();
        for (at, delete, insert) in edits {
            let start = at.index(chars.len() + 1);
            let end = (start + delete).min(chars.len());
            chars.splice(start..end, insert.chars());
        }
        chars.into_iter().collect()
    })
}

/// Lines of plausible config text, in any order.
fn toml_ish() -> impl Strategy<Value = String> {
    let line = prop_oneof![
        Just("[supervisor]".to_owned()),
        Just("[control]".to_owned()),
        Just("[[child]]".to_owned()),
        Just("[[child.child]]".to_owned()),
        Just("[[child.child.child]]".to_owned()),
        Just("[child.sim]".to_owned()),
        Just("[[at]]".to_owned()),
        Just("supervisor = {}".to_owned()),
        (
            prop::sample::select(vec![
                "name",
                "command",
                "supervisor",
                "restart",
                "shutdown",
                "significant",
                "readiness",
                "period",
                "intensity",
                "strategy",
                "auto_shutdown",
                "lifespan",
                "shutdown_order",
                "backoff",
                "sim",
                "memory_limit",
                "env",
                "cwd",
                "startup_timeout",
                "health_timeout",
                "time",
                "exit",
                "reason",
                "request",
                "path",
                "count",
                "rolling",
                "fail_starts",
                "hang_on_stop",
                "child",
                "lifetime",
                "socket",
            ]),
            prop::sample::select(vec![
                "\"a\"",
                "\"b\"",
                "\"\"",
                "\"5s\"",
                "\"0s\"",
                "\"5\"",
                "5",
                "-1",
                "1.5",
                "true",
                "[\"x\"]",
                "[]",
                "{}",
                "\"brutal\"",
                "\"infinity\"",
                "\"transient\"",
                "\"permanent\"",
                "\"notify\"",
                "\"exp(1s)\"",
                "\"uniform(2s, 1s)\"",
                "\"512MiB\"",
                "{ initial = \"1s\", max = \"2s\" }",
                "{ start_fail = 2 }",
                "\"any_significant\"",
                "\"start_child\"",
                "\"shutdown\"",
                "\"error(x)\"",
                "nan",
                "inf",
                "\"a/b\"",
                "[{ name = \"n\", command = [\"c\"] }]",
            ]),
        )
            .prop_map(|(k, v)| format!("{k} = {v}")),
    ];
    prop::collection::vec(line, 0..16).prop_map(|lines| lines.join("\n"))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn parse_tree_never_panics_on_arbitrary_strings(text in "\\PC*|.*") {
        if let Err(e) = parse_tree(&text, "fuzz.toml") {
            check_position(&text, &e)?;
        }
        if let Err(e) = parse_script(&text, "fuzz.toml") {
            check_position(&text, &e)?;
        }
    }

    #[test]
    fn parse_tree_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = parse_tree(&text, "fuzz.toml") {
            check_position(&text, &e)?;
        }
    }

    #[test]
    fn parse_tree_never_panics_on_config_like_text(text in toml_ish()) {
        match parse_tree(&text, "fuzz.toml") {
            Ok(config) => {
                // Whatever is accepted is valid for the engine and renders.
                prop_assert!(config.spec.validate().is_ok());
                prop_assert!(config.render().starts_with("/  "));
            }
            Err(e) => check_position(&text, &e)?,
        }
        if let Err(e) = parse_script(&text, "fuzz.toml") {
            check_position(&text, &e)?;
        }
    }

    #[test]
    fn parse_tree_never_panics_on_edited_configs(text in mutate(TREE)) {
        match parse_tree(&text, "fuzz.toml") {
            Ok(config) => prop_assert!(config.spec.validate().is_ok()),
            Err(e) => check_position(&text, &e)?,
        }
    }

    #[test]
    fn parse_script_never_panics_on_edited_scripts(text in mutate(SCRIPT)) {
        match parse_script(&text, "fuzz.toml") {
            Ok(script) => prop_assert!(script.actions.windows(2).all(|w| w[0].time <= w[1].time)),
            Err(e) => check_position(&text, &e)?,
        }
    }
}

#[test]
fn the_unedited_inputs_parse() {
    assert!(parse_tree(TREE, "t.toml").is_ok());
    assert_eq!(parse_script(SCRIPT, "s.toml").unwrap().actions.len(), 4);
}

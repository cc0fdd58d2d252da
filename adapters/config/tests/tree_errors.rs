//! Every way a tree config is rejected names the file, the line and the key.

use vigil_config::{parse_tree, ConfigError, ConfigErrorKind};
use vigil_core::SpecErrorKind;

fn err(text: &str) -> ConfigError {
    match parse_tree(text, "examples/web.toml") {
        Ok(config) => panic!("accepted:\n{text}\n{config:?}"),
        Err(e) => e,
    }
}

/// The error's line, key and full message.
fn check(text: &str, line: usize, key: Option<&str>, message: &str) -> ConfigError {
    let e = err(text);
    assert_eq!(e.line, Some(line), "{e}");
    assert!(e.column.is_some(), "{e}");
    assert_eq!(e.key.as_deref(), key, "{e}");
    assert_eq!(e.to_string(), message);
    e
}

const W: &str = "[[child]]\nname = \"w\"\ncommand = [\"w\"]\n";

#[test]
fn unknown_key_at_top_level() {
    let e = check(
        "[supervisor]\nintensity = 3\n\nname = 1\n",
        4,
        Some("name"),
        "examples/web.toml:4:1: unknown key `name` in [supervisor] (expected one of `strategy`, `intensity`, `period`, `auto_shutdown`, `lifespan`, `shutdown_order`)",
    );
    assert!(matches!(&*e.kind, ConfigErrorKind::UnknownKey { key, .. } if key == "name"));
    check(
        "childs = 1\n",
        1,
        Some("childs"),
        "examples/web.toml:1:1: unknown key `childs` in the top-level table (did you mean `child`? expected one of `supervisor`, `control`, `monitor`, `child`, `http`, `run`, `log`)",
    );
    check(
        "[contrl]\n",
        1,
        Some("contrl"),
        "examples/web.toml:1:2: unknown key `contrl` in the top-level table (did you mean `control`? expected one of `supervisor`, `control`, `monitor`, `child`, `http`, `run`, `log`)",
    );
    check(
        "[control]\nsock = \"x\"\n",
        2,
        Some("sock"),
        "examples/web.toml:2:1: unknown key `sock` in [control] (expected one of `socket`, `logs_lines`, `logs_bytes`, `group`)",
    );
}

#[test]
fn unknown_key_in_a_child() {
    let e = check(
        "[[child]]\nname = \"db\"\n    comand = [\"postgres\"]\n",
        3,
        Some("comand"),
        "examples/web.toml:3:5: unknown key `comand` in [[child]] (did you mean `command`? expected one of `name`, `command`, `supervisor`, `child`, `env`, `cwd`, `restart`, `shutdown`, `significant`, `readiness`, `startup_timeout`, `health_timeout`, `backoff`, `memory_limit`, `sim`, `health`, `count`, `user`, `group`, `umask`, `limits`, `cgroup`, `environment_file`, `clear_env`, `log`, `stop_signal`, `reload_signal`, `success_exit_codes`, `restart_prevent_exit_codes`, `autostart`, `start_delay`)",
    );
    let ConfigErrorKind::UnknownKey {
        suggestion,
        expected,
        table,
        ..
    } = &*e.kind
    else {
        panic!("{e:?}")
    };
    assert_eq!(
        (suggestion.as_deref(), table.as_str(), expected.len()),
        (Some("command"), "[[child]]", 31)
    );
}

#[test]
fn unknown_key_in_a_nested_child() {
    let text = "[[child]]\nname = \"web\"\nsupervisor = {}\n  [[child.child]]\n  name = \"w1\"\n  command = [\"w\"]\n  restrat = \"transient\"\n";
    let e = err(text);
    assert_eq!(
        (e.line, e.column, e.key.as_deref()),
        (Some(7), Some(3), Some("restrat"))
    );
    assert!(
        e.to_string().starts_with(
            "examples/web.toml:7:3: unknown key `restrat` in [[child.child]] (did you mean `restart`? expected one of `name`,"
        ),
        "{e}"
    );
}

#[test]
fn unknown_key_in_a_nested_supervisor_table() {
    let text = "[[child]]\nname = \"web\"\nsupervisor = { strategy = \"one_for_all\", intensty = 1 }\n";
    check(
        text,
        3,
        Some("intensty"),
        "examples/web.toml:3:42: unknown key `intensty` in `supervisor` (did you mean `intensity`? expected one of `strategy`, `intensity`, `period`, `auto_shutdown`, `lifespan`, `shutdown_order`)",
    );
}

#[test]
fn unknown_key_in_sim() {
    check(
        &format!("{W}sim = {{ lifetime = \"5s\", start_fial = 0.5 }}\n"),
        4,
        Some("start_fial"),
        "examples/web.toml:4:26: unknown key `start_fial` in `sim` (did you mean `start_fail`? expected one of `lifetime`, `exit`, `start_fail`, `start_latency`, `ready_latency`, `stop_latency`, `ignore_stop`)",
    );
    // A `sim` sub-table written with a header is named the same way.
    let e = err(&format!("{W}[child.sim]\nlifetime = \"5s\"\nexit_reason = \"error\"\n"));
    assert_eq!((e.line, e.key.as_deref()), (Some(6), Some("exit_reason")));
    assert!(e.to_string().contains("unknown key `exit_reason` in `sim`"), "{e}");
}

#[test]
fn unknown_key_in_backoff() {
    check(
        &format!("{W}backoff = {{ initial = \"1s\", max = \"5s\", jiter = 0.5 }}\n"),
        4,
        Some("jiter"),
        "examples/web.toml:4:41: unknown key `jiter` in `backoff` (did you mean `jitter`? expected one of `initial`, `max`, `multiplier`, `jitter`, `reset_after`)",
    );
}

#[test]
fn bad_durations() {
    check(
        "[supervisor]\nperiod = \"5\"\n",
        2,
        Some("period"),
        "examples/web.toml:2:10: bad value for `period`: `5` has no unit: write for example \"5s\" or \"5ms\" (units: ns, us, ms, s, m, h or d)",
    );
    check(
        "[supervisor]\nperiod = 5\n",
        2,
        Some("period"),
        "examples/web.toml:2:10: a duration is a string with a unit: write \"5s\" or \"5ms\", not 5",
    );
    check(
        &format!("{W}startup_timeout = \"-3s\"\n"),
        4,
        Some("startup_timeout"),
        "examples/web.toml:4:19: bad value for `startup_timeout`: `-3s`: a duration cannot be negative",
    );
    check(
        &format!("{W}health_timeout = \"soon\"\n"),
        4,
        Some("health_timeout"),
        "examples/web.toml:4:18: bad value for `health_timeout`: `soon` is not a duration: write a number and a unit (ns, us, ms, s, m, h or d), like \"250ms\", \"1.5s\" or \"2m\"",
    );
    let e = err(&format!("{W}shutdown = \"10 s\"\n"));
    assert_eq!((e.line, e.key.as_deref()), (Some(4), Some("shutdown")));
    assert!(e.to_string().contains("unknown unit ` s`"), "{e}");
    let e = err(&format!("{W}shutdown = \"forever\"\n"));
    assert!(e.to_string().contains("unknown shutdown `forever`"), "{e}");
    let e = err(&format!("{W}backoff = {{ initial = \"1x\", max = \"5s\" }}\n"));
    assert_eq!((e.line, e.key.as_deref()), (Some(4), Some("initial")));
    let e = err(&format!("{W}sim = {{ stop_latency = \"0.1ns\" }}\n"));
    assert_eq!((e.line, e.key.as_deref()), (Some(4), Some("stop_latency")));
    assert!(e.to_string().contains("finer than a nanosecond"), "{e}");
    let e = err(&format!("{W}sim = {{ lifetime = \"exp(5)\" }}\n"));
    assert_eq!((e.line, e.key.as_deref()), (Some(4), Some("lifetime")));
    assert!(
        e.to_string().contains("the mean is not a duration: `5` has no unit"),
        "{e}"
    );
}

#[test]
fn bad_keywords() {
    check(
        "[supervisor]\nstrategy = \"one_for_none\"\n",
        2,
        Some("strategy"),
        "examples/web.toml:2:12: bad value for `strategy`: unknown strategy `one_for_none` (expected one_for_one, one_for_all, rest_for_one or one_terminate_all)",
    );
    let e = err(&format!("{W}restart = \"always\"\n"));
    assert_eq!((e.line, e.key.as_deref()), (Some(4), Some("restart")));
    assert!(e
        .to_string()
        .contains("unknown restart `always` (expected permanent, transient or temporary)"));
    let e = err(&format!("{W}readiness = \"ready\"\n"));
    assert_eq!(e.key.as_deref(), Some("readiness"));
    let e = err("[supervisor]\nauto_shutdown = \"yes\"\n");
    assert_eq!(e.key.as_deref(), Some("auto_shutdown"));
    let e = err("[supervisor]\nlifespan = \"forever\"\n");
    assert_eq!(e.key.as_deref(), Some("lifespan"));
    let e = err("[supervisor]\nshutdown_order = \"paralel\"\n");
    assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("shutdown_order")));
    assert!(
        e.to_string()
            .contains("unknown shutdown_order `paralel` (expected reverse or parallel)"),
        "{e}"
    );
}

#[test]
fn bad_reason() {
    check(
        &format!("{W}sim = {{ exit = \"crash\" }}\n"),
        4,
        Some("exit"),
        "examples/web.toml:4:16: bad value for `exit`: unknown exit reason `crash` (expected normal, shutdown, shutdown(..), error, error(..), panic, panic(..), killed, health, memory, evicted, evicted(..) or start_timeout)",
    );
}

#[test]
fn bad_probabilities_sizes_and_types() {
    let e = check(
        &format!("{W}sim = {{ start_fail = 1.5 }}\n"),
        4,
        Some("start_fail"),
        "examples/web.toml:4:22: bad value for `start_fail`: a probability must be within [0, 1], got 1.5",
    );
    assert!(matches!(*e.kind, ConfigErrorKind::BadValue { .. }));
    let e = err(&format!("{W}sim = {{ ignore_stop = -0.1 }}\n"));
    assert_eq!(e.key.as_deref(), Some("ignore_stop"));
    let e = err(&format!("{W}sim = {{ ignore_stop = nan }}\n"));
    assert_eq!(e.key.as_deref(), Some("ignore_stop"));
    let e = err(&format!("{W}memory_limit = \"12mb\"\n"));
    assert_eq!((e.line, e.key.as_deref()), (Some(4), Some("memory_limit")));
    assert!(e.to_string().contains("unknown unit `mb`"), "{e}");
    let e = err(&format!("{W}memory_limit = 0\n"));
    assert!(e.to_string().contains("greater than zero"), "{e}");
    let e = err(&format!("{W}memory_limit = -5\n"));
    assert!(e.to_string().contains("cannot be negative"), "{e}");
    // Type errors come from the TOML parser, still with line and key.
    let e = check(
        "[supervisor]\nintensity = -1\n",
        2,
        Some("intensity"),
        "examples/web.toml:2:13: invalid value: integer `-1`, expected a whole number from 0 to 4294967295",
    );
    assert!(matches!(*e.kind, ConfigErrorKind::Toml(_)));
    let e = err(&format!("{W}significant = \"yes\"\n"));
    assert_eq!((e.line, e.key.as_deref()), (Some(4), Some("significant")));
    let e = err("[[child]]\nname = \"w\"\ncommand = \"w --flag\"\n");
    assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("command")));
    let e = err("[[child]]\nname = 5\ncommand = [\"w\"]\n");
    assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("name")));
}

#[test]
fn bad_commands_and_paths() {
    check(
        "[[child]]\nname = \"w\"\ncommand = []\n",
        3,
        Some("command"),
        "examples/web.toml:3:11: bad value for `command`: the command is empty: give at least the program, like [\"./server\"]",
    );
    let e = err("[[child]]\nname = \"w\"\ncommand = [\"\", \"x\"]\n");
    assert!(
        e.to_string().contains("the program (the first element) is empty"),
        "{e}"
    );
    let e = err(&format!("{W}cwd = \"\"\n"));
    assert_eq!(e.key.as_deref(), Some("cwd"));
    let e = err(&format!("{W}env = {{ \"A=B\" = \"x\" }}\n"));
    assert_eq!((e.line, e.key.as_deref()), (Some(4), Some("env")));
    let e = err(&format!("{W}[control]\nsocket = \"\"\n"));
    assert_eq!((e.line, e.key.as_deref()), (Some(5), Some("socket")));
}

#[test]
fn missing_command_and_supervisor() {
    let e = check(
        "[[child]]\nname = \"w\"\ncommand = [\"w\"]\n\n[[child]]\nname = \"db\"\nrestart = \"transient\"\n",
        5,
        None,
        "examples/web.toml:5:1: child `db` needs exactly one of `command` or `supervisor`, found none",
    );
    assert!(matches!(&*e.kind, ConfigErrorKind::NotExactlyOne { found, .. } if found.is_empty()));
    // Nested, indented: the position is the nested header's.
    check(
        "[[child]]\nname = \"web\"\nsupervisor = {}\n  [[child.child]]\n  name = \"w1\"\n",
        4,
        None,
        "examples/web.toml:4:3: child `web/w1` needs exactly one of `command` or `supervisor`, found none",
    );
}

#[test]
fn both_command_and_supervisor() {
    let e = check(
        "[[child]]\nname = \"web\"\ncommand = [\"w\"]\nsupervisor = { strategy = \"one_for_all\" }\n",
        1,
        None,
        "examples/web.toml:1:1: child `web` needs exactly one of `command` or `supervisor`, found `command` and `supervisor`",
    );
    assert!(matches!(&*e.kind, ConfigErrorKind::NotExactlyOne { found, .. } if found.len() == 2));
}

#[test]
fn missing_name() {
    check(
        "[[child]]\ncommand = [\"w\"]\n",
        1,
        Some("name"),
        "examples/web.toml:1:1: missing key `name` in [[child]]",
    );
    check(
        "[[child]]\nname = \"s\"\nsupervisor = {}\n[[child.child]]\ncommand = [\"w\"]\n",
        4,
        Some("name"),
        "examples/web.toml:4:1: missing key `name` in [[child.child]]",
    );
    let e = err(&format!("{W}backoff = {{ initial = \"1s\" }}\n"));
    assert_eq!(e.to_string(), "examples/web.toml:4:11: missing key `max` in `backoff`");
}

#[test]
fn misplaced_keys() {
    check(
        "[[child]]\nname = \"s\"\nsupervisor = {}\nsim = { lifetime = \"5s\" }\n",
        4,
        Some("sim"),
        "examples/web.toml:4:7: `sim` applies to workers only, and child `s` is a supervisor",
    );
    for key in ["env = {}", "cwd = \".\"", "memory_limit = \"1GiB\""] {
        let e = err(&format!("[[child]]\nname = \"s\"\nsupervisor = {{}}\n{key}\n"));
        assert!(matches!(*e.kind, ConfigErrorKind::Misplaced { .. }), "{e}");
        assert_eq!(e.line, Some(4));
    }
    check(
        "[[child]]\nname = \"w\"\ncommand = [\"w\"]\n  [[child.child]]\n  name = \"x\"\n  command = [\"x\"]\n",
        4,
        Some("child"),
        "examples/web.toml:4:3: `child` (a nested child) needs a supervisor, and child `w` is a worker (it has `command`)",
    );
}

#[test]
fn significant_permanent_points_at_the_child() {
    let text = "[supervisor]\nauto_shutdown = \"any_significant\"\n\n[[child]]\nname = \"w\"\ncommand = [\"w\"]\n\n[[child]]\nname = \"db\"\ncommand = [\"postgres\"]\nsignificant = true\n";
    let e = check(
        text,
        11,
        Some("significant"),
        "examples/web.toml:11:15: invalid spec at `db`: a significant child must be transient or temporary",
    );
    let ConfigErrorKind::Spec(spec) = &*e.kind else {
        panic!("{e:?}")
    };
    assert_eq!(
        (spec.path.as_str(), &spec.kind),
        ("db", &SpecErrorKind::SignificantPermanent)
    );
}

#[test]
fn spec_errors_in_nested_children_point_at_them() {
    let text = "[[child]]\nname = \"web\"\nsupervisor = {}\n  [[child.child]]\n  name = \"w1\"\n  command = [\"w\"]\n  restart = \"transient\"\n  significant = true\n";
    check(
        text,
        8,
        Some("significant"),
        "examples/web.toml:8:17: invalid spec at `web/w1`: a significant child needs a supervisor with auto_shutdown other than never",
    );
    let text = "[[child]]\nname = \"web\"\nsupervisor = { period = \"0s\" }\n";
    check(
        text,
        3,
        Some("period"),
        "examples/web.toml:3:25: invalid spec at `web`: period must be greater than zero",
    );
    check(
        "[supervisor]\nperiod = \"0s\"\n",
        2,
        Some("period"),
        "examples/web.toml:2:10: invalid spec at `/`: period must be greater than zero",
    );
    let e = err(&format!("{W}shutdown = \"0s\"\n"));
    assert_eq!((e.line, e.key.as_deref()), (Some(4), Some("shutdown")));
    let e = err(&format!("{W}startup_timeout = \"5s\"\n"));
    assert_eq!((e.line, e.key.as_deref()), (Some(4), Some("startup_timeout")));
    assert!(
        e.to_string().contains("startup_timeout needs readiness = notify"),
        "{e}"
    );
    let e = err("[[child]]\nname = \"s\"\nsupervisor = {}\nreadiness = \"notify\"\n");
    assert_eq!((e.line, e.key.as_deref()), (Some(4), Some("readiness")));
    assert!(e.to_string().contains("`readiness` applies to workers only"), "{e}");
    let e = err(&format!(
        "{W}backoff = {{ initial = \"1s\", max = \"5s\", multiplier = 0.5 }}\n"
    ));
    assert_eq!((e.line, e.key.as_deref()), (Some(4), Some("multiplier")));
    let e = err(&format!(
        "{W}backoff = {{ initial = \"1s\", max = \"5s\", jitter = 2 }}\n"
    ));
    assert_eq!(e.key.as_deref(), Some("jitter"));
    let e = err(&format!("{W}backoff = {{ initial = \"10s\", max = \"5s\" }}\n"));
    assert_eq!(e.key.as_deref(), Some("initial"));
    let e = err(&format!(
        "{W}backoff = {{ initial = \"1s\", max = \"5s\", reset_after = \"0s\" }}\n"
    ));
    assert_eq!(e.key.as_deref(), Some("reset_after"));
}

#[test]
fn duplicate_names_point_at_the_second() {
    let text = "[[child]]\nname = \"w\"\ncommand = [\"a\"]\n\n[[child]]\nname = \"w\"\ncommand = [\"b\"]\n";
    let e = check(
        text,
        6,
        Some("name"),
        "examples/web.toml:6:8: invalid spec at `/`: two children are named `w`",
    );
    assert!(
        matches!(&*e.kind, ConfigErrorKind::Spec(s) if s.kind == SpecErrorKind::DuplicateName { name: "w".into() })
    );
    // Nested: same name under different parents is fine, twice under one is not.
    let ok = "[[child]]\nname = \"a\"\nsupervisor = {}\n[[child.child]]\nname = \"w\"\ncommand = [\"w\"]\n[[child]]\nname = \"w\"\ncommand = [\"w\"]\n";
    assert!(parse_tree(ok, "x").is_ok());
    let dup = "[[child]]\nname = \"a\"\nsupervisor = {}\n[[child.child]]\nname = \"w\"\ncommand = [\"w\"]\n[[child.child]]\nname = \"w\"\ncommand = [\"w\"]\n";
    let e = err(dup);
    assert_eq!((e.line, e.key.as_deref()), (Some(8), Some("name")));
    assert!(
        e.to_string()
            .contains("invalid spec at `a`: two children are named `w`"),
        "{e}"
    );
}

#[test]
fn bad_names_point_at_the_name() {
    for (name, message) in [
        ("", "a child name is empty"),
        ("a/b", "contains `/`"),
        ("a b", "contains whitespace"),
        ("a\\u200Bb", "invisible"),
    ] {
        let e = err(&format!("{W}\n[[child]]\nname = \"{name}\"\ncommand = [\"x\"]\n"));
        assert_eq!((e.line, e.key.as_deref()), (Some(6), Some("name")), "{e}");
        assert!(e.to_string().contains(message), "{e}");
        assert!(matches!(*e.kind, ConfigErrorKind::Spec(_)));
    }
}

fn nested(levels: usize) -> String {
    let mut text = String::new();
    let mut header = String::from("child");
    for depth in 0..levels {
        text.push_str(&format!("[[{header}]]\nname = \"n{depth}\"\nsupervisor = {{}}\n"));
        header.push_str(".child");
    }
    text
}

fn nested_inline(levels: usize) -> String {
    let mut text = String::from("child = ");
    for depth in 0..levels {
        text.push_str(&format!("[{{ name = \"n{depth}\", supervisor = {{}}, child = "));
    }
    text.push_str("[]");
    text.push_str(&"}]".repeat(levels));
    text.push('\n');
    text
}

#[test]
fn the_deepest_valid_tree_parses() {
    // MAX_DEPTH levels of children, on a test thread's (2 MiB) stack.
    let config = parse_tree(&nested(vigil_core::MAX_DEPTH), "deep.toml").unwrap();
    assert_eq!(config.workers.len(), 0);
    let inline = parse_tree(&nested_inline(vigil_core::MAX_DEPTH), "deep.toml").unwrap();
    assert_eq!(inline.spec, config.spec);
}

#[test]
fn too_deep_trees_are_rejected_without_exhausting_the_stack() {
    let depth = vigil_core::MAX_DEPTH + 1;
    let e = err(&nested(depth));
    let header_line = 3 * (depth - 1) + 1;
    assert_eq!(e.line, Some(header_line), "{e}");
    assert_eq!(
        e.to_string(),
        format!("examples/web.toml:{header_line}:1: the tree is nested deeper than 32 levels")
    );
    for levels in [depth, 40, 60, 99, 150, 1000] {
        assert!(parse_tree(&nested(levels), "x").is_err());
        assert!(parse_tree(&nested_inline(levels), "x").is_err());
    }
}

#[test]
fn toml_syntax_errors_have_positions() {
    let e = check(
        "[[child]\nname = \"w\"\n",
        1,
        None,
        "examples/web.toml:1:8: invalid table header: expected `.`, `]]`",
    );
    assert!(matches!(*e.kind, ConfigErrorKind::Toml(_)));
    let e = err("[supervisor]\nintensity = 1\nintensity = 2\n");
    assert_eq!(e.line, Some(3));
    assert!(e.to_string().contains("duplicate key"), "{e}");
    let e = err("[[child]]\nname = \"unterminated\n");
    assert_eq!(e.line, Some(2));
}

#[test]
fn bad_monitor_values_name_their_key_and_line() {
    let e = check(
        "[monitor]\ninterval = \"0s\"\n",
        2,
        Some("interval"),
        "examples/web.toml:2:12: bad value for `interval`: the interval must be greater than zero",
    );
    assert!(matches!(*e.kind, ConfigErrorKind::BadValue { .. }));
    let e = err("[monitor]\n\nmemory_limit = \"3 apples\"\n");
    assert_eq!((e.line, e.key.as_deref()), (Some(3), Some("memory_limit")));
    let e = err("[monitor]\nleak_growth = 0\n");
    assert!(e.to_string().contains("greater than zero"), "{e}");
    let e = err("[monitor]\nleak_count = 0\n");
    assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("leak_count")));
    let e = err("[monitor]\nleak_cont = 2\n");
    assert!(e.to_string().contains("did you mean `leak_count`?"), "{e}");
}

/// Found by the `config` fuzz target: the TOML parser rejects a control
/// character in a comment with an empty message; the error names it instead.
#[test]
fn control_character_in_a_comment_is_named() {
    check(
        "# a\u{b}b\n",
        1,
        None,
        "examples/web.toml:1:4: invalid character '\\u{b}' (U+000B)",
    );
    let script = vigil_config::parse_script("[[at]]\n# x\u{1}\n", "s.toml").unwrap_err();
    assert_eq!(script.to_string(), "s.toml:2:4: invalid character '\\u{1}' (U+0001)");
}

#[test]
fn the_recent_output_limits_are_at_least_one() {
    check(
        &format!("{W}[control]\nlogs_lines = 0\n"),
        5,
        Some("logs_lines"),
        "examples/web.toml:5:14: bad value for `logs_lines`: the count must be at least 1",
    );
    let e = err(&format!("{W}[control]\nlogs_bytes = \"0KiB\"\n"));
    assert_eq!(e.line, Some(5), "{e}");
    assert!(e.to_string().contains("logs_bytes"), "{e}");
    let ok = parse_tree(
        &format!("{W}[control]\nlogs_lines = 3\nlogs_bytes = \"1KiB\"\n"),
        "t.toml",
    )
    .unwrap();
    assert_eq!((ok.control.logs_lines, ok.control.logs_bytes), (Some(3), Some(1024)));
    let none = parse_tree(W, "t.toml").unwrap();
    assert_eq!((none.control.logs_lines, none.control.logs_bytes), (None, None));
}

#[test]
fn the_control_group_is_a_name_or_an_id() {
    check(
        &format!("{W}[control]\ngroup = \"\"\n"),
        5,
        Some("group"),
        "examples/web.toml:5:9: bad value for `group`: the group name is empty",
    );
    check(
        &format!("{W}[control]\ngroup = -1\n"),
        5,
        Some("group"),
        "examples/web.toml:5:9: bad value for `group`: a group id is from 0 to 4294967294, not -1",
    );
    check(
        &format!("{W}[control]\ngroup = \"a:b\"\n"),
        5,
        Some("group"),
        "examples/web.toml:5:9: bad value for `group`: \"a:b\" is not a group name",
    );
    check(
        &format!("{W}[control]\ngroup = true\n"),
        5,
        Some("group"),
        "examples/web.toml:5:9: bad value for `group`: a group is a name or a numeric id, not boolean",
    );
}

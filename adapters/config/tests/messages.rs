//! Errors speak the config's language: what the user wrote and what is
//! expected, never the parser's internal types (`struct RawSupervisor`,
//! `u32`, `a sequence`...) or nonsense advice (`write "infs"`). Extreme but
//! meaningful values are accepted; meaningless ones are refused at their key.

use vigil_config::{parse_script, parse_tree, ConfigError};

fn tree_err(text: &str) -> ConfigError {
    match parse_tree(text, "t.toml") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e,
    }
}

const W: &str = "[[child]]\nname = \"w\"\ncommand = [\"w\"]\n";

/// Words that belong to Rust or serde, not to the config.
const INTERNAL: [&str; 12] = [
    "Raw",
    "struct",
    "u32",
    "u64",
    "i64",
    "f64",
    "usize",
    "sequence",
    "a map",
    "infs",
    "nans",
    "recursion limit",
];

fn assert_plain(message: &str) {
    for word in INTERNAL {
        assert!(!message.contains(word), "`{word}` in: {message}");
    }
}

#[test]
fn wrong_types_are_described_in_config_terms() {
    let cases: &[(&str, &str)] = &[
        (
            "supervisor = 5\n",
            "t.toml:1:14: invalid type: integer `5`, expected a table of supervisor settings, like { strategy = \"one_for_all\", intensity = 3 }",
        ),
        (
            "[supervisor]\nintensity = -1\n",
            "t.toml:2:13: invalid value: integer `-1`, expected a whole number from 0 to 4294967295",
        ),
        (
            "[supervisor]\nintensity = 4294967296\n",
            "t.toml:2:13: invalid value: integer `4294967296`, expected a whole number from 0 to 4294967295",
        ),
        (
            "[supervisor]\nintensity = 1.5\n",
            "t.toml:2:13: invalid type: number `1.5`, expected a whole number from 0 to 4294967295",
        ),
        (
            "[supervisor]\nperiod = inf\n",
            "t.toml:2:10: a duration is a string with a unit, like \"5s\"; inf is not a duration",
        ),
        (
            "[supervisor]\nperiod = nan\n",
            "t.toml:2:10: a duration is a string with a unit, like \"5s\"; NaN is not a duration",
        ),
        (
            "[supervisor]\nperiod = -5\n",
            "t.toml:2:10: a duration is a string with a unit, like \"5s\", and cannot be negative (-5)",
        ),
        (
            "[[child]]\nname = \"a\"\ncommand = \"./server --port 80\"\n",
            "t.toml:3:11: a command is a list of strings, never run through a shell: write [\"./server --port 80\"] (or split the arguments: [\"prog\", \"arg\"])",
        ),
        (
            "child = 5\n",
            "t.toml:1:9: invalid type: integer `5`, expected children: [[child]] tables, or a list of { name = .., command = .. } tables",
        ),
        (
            "[[child]]\nname = \"a\"\ncommand = [\"x\"]\nsim = 3\n",
            "t.toml:4:7: invalid type: integer `3`, expected a table of simulated behaviour, like { lifetime = \"exp(10m)\" }",
        ),
        (
            "[[child]]\nname = \"a\"\ncommand = [\"x\"]\nbackoff = { initial = \"1s\", max = \"2s\", multiplier = \"2\" }\n",
            "t.toml:4:54: invalid type: string \"2\", expected a number, like 2 or 0.5",
        ),
        (
            "[[child]]\nname = \"a\"\ncommand = [\"x\"]\nsignificant = \"yes\"\n",
            "t.toml:4:15: invalid type: string \"yes\", expected true or false",
        ),
        (
            "[[child]]\nname = \"a\"\ncommand = [\"x\"]\nenv = 3\n",
            "t.toml:4:7: invalid type: integer `3`, expected a table, like { key = \"value\" }",
        ),
        (
            "[monitor]\nleak_count = -3\n",
            "t.toml:2:14: invalid value: integer `-3`, expected a whole number from 0 to 4294967295",
        ),
    ];
    for (text, message) in cases {
        let e = tree_err(text);
        assert_eq!(e.to_string(), *message);
        assert_plain(&e.to_string());
    }
}

#[test]
fn no_rejection_names_an_internal_type() {
    let texts = [
        "control = 1\n",
        "monitor = 1\n",
        "[[child]]\nname = \"a\"\ncommand = [1]\n",
        "[[child]]\nname = \"a\"\nsupervisor = 1\n",
        "[[child]]\nname = \"a\"\ncommand = [\"x\"]\nbackoff = 1\n",
        "[[child]]\nname = \"a\"\ncommand = [\"x\"]\nbackoff = { initial = \"1s\", max = \"2s\", jitter = [1] }\n",
        "[[child]]\nname = \"a\"\ncommand = [\"x\"]\nsim = { start_fail = \"half\" }\n",
        "[[child]]\nname = \"a\"\ncommand = [\"x\"]\ncwd = 5\n",
        "[[child]]\nname = \"a\"\ncommand = [\"x\"]\nmemory_limit = 1.5\n",
        "[supervisor]\nperiod = 1e400\n",
        "[supervisor]\nperiod = -inf\n",
        "[[child]]\nname = \"a\"\ncommand = [\"x\"]\nshutdown = -1.5\n",
    ];
    for text in texts {
        assert_plain(&tree_err(text).to_string());
    }
    let script_texts = [
        "at = 1\n",
        "[[at]]\ntime = inf\nexit = \"w\"\n",
        "[[at]]\ntime = \"1s\"\nfail_starts = \"w\"\ncount = -1\n",
        "[[at]]\ntime = \"1s\"\nfail_starts = \"w\"\ncount = 4294967296\n",
        "[[at]]\ntime = \"1s\"\nrequest = \"restart_all\"\npath = \"\"\nrolling = 1\n",
    ];
    for text in script_texts {
        let e = parse_script(text, "s.toml").expect_err(text);
        assert_plain(&e.to_string());
    }
}

/// A tree nested `levels` deep with `[[child.child...]]` headers.
fn deep_headers(levels: usize) -> String {
    let mut text = String::new();
    for depth in 1..=levels {
        let header = vec!["child"; depth].join(".");
        text.push_str(&format!("[[{header}]]\nname = \"s{depth}\"\nsupervisor = {{}}\n"));
    }
    text
}

/// A tree nested `levels` deep with inline `child = [...]` lists.
fn deep_inline(levels: usize) -> String {
    let mut inner = "{ name = \"leaf\", command = [\"x\"] }".to_owned();
    for depth in 1..levels {
        inner = format!("{{ name = \"s{depth}\", supervisor = {{}}, child = [{inner}] }}");
    }
    format!("child = [{inner}]\n")
}

#[test]
fn any_tree_deeper_than_32_levels_gets_the_depth_message() {
    for levels in [33, 40, 100, 300] {
        for text in [deep_headers(levels), deep_inline(levels)] {
            let e = tree_err(&text);
            let message = e.to_string();
            assert!(
                message.ends_with("the tree is nested deeper than 32 levels"),
                "{levels} levels: {message}"
            );
            assert!(e.line.is_some(), "{message}");
            assert_plain(&message);
        }
    }
    assert!(parse_tree(&deep_headers(32), "t.toml").is_ok());
}

#[test]
fn lists_nested_too_deeply_outside_the_tree_get_a_plain_message() {
    let text = format!("{W}env = {{ A = {}{} }}\n", "[".repeat(300), "]".repeat(300));
    let message = tree_err(&text).to_string();
    assert!(
        message.ends_with("tables and lists are nested too deeply to be read"),
        "{message}"
    );
}

#[test]
fn extreme_but_meaningful_values_are_accepted() {
    let text = "[supervisor]\nintensity = 4294967295\nperiod = \"18446744073709551615ns\"\n\
                [[child]]\nname = \"a\"\ncommand = [\"x\"]\nshutdown = \"18446744073709551615ns\"\n\
                health_timeout = \"1ns\"\n\
                backoff = { initial = \"1ns\", max = \"18446744073709551615ns\", multiplier = 1e308, jitter = 1.0, reset_after = \"1ns\" }\n\
                [[child]]\nname = \"b\"\ncommand = [\"x\"]\nbackoff = { initial = \"0ns\", max = \"0ns\", multiplier = 1e20, jitter = 0.0 }\n";
    let config = parse_tree(text, "t.toml").expect("valid");
    assert_eq!(config.spec.intensity, u32::MAX);
    let b = config.spec.children[0].backoff.expect("backoff");
    assert_eq!(b.multiplier, 1e308);
}

#[test]
fn meaningless_numbers_are_refused_at_their_key() {
    let backoff = |entry: &str| {
        format!("[[child]]\nname = \"a\"\ncommand = [\"x\"]\nbackoff = {{ initial = \"1s\", max = \"2s\", {entry} }}\n")
    };
    let cases = [
        (
            "multiplier = nan",
            "multiplier",
            "backoff multiplier must be a finite number >= 1, got NaN",
        ),
        (
            "multiplier = inf",
            "multiplier",
            "backoff multiplier must be a finite number >= 1, got inf",
        ),
        (
            "multiplier = -2.0",
            "multiplier",
            "backoff multiplier must be a finite number >= 1, got -2",
        ),
        (
            "multiplier = 0.5",
            "multiplier",
            "backoff multiplier must be a finite number >= 1, got 0.5",
        ),
        (
            "jitter = 1.5",
            "jitter",
            "backoff jitter must be within [0, 1], got 1.5",
        ),
        (
            "jitter = -0.1",
            "jitter",
            "backoff jitter must be within [0, 1], got -0.1",
        ),
        (
            "jitter = nan",
            "jitter",
            "backoff jitter must be within [0, 1], got NaN",
        ),
    ];
    for (entry, key, message) in cases {
        let e = tree_err(&backoff(entry));
        assert_eq!(e.line, Some(4), "{e}");
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert!(e.to_string().ends_with(message), "{e}");
    }
    let probability = tree_err("[[child]]\nname = \"a\"\ncommand = [\"x\"]\nsim = { start_fail = nan }\n");
    assert_eq!(probability.key.as_deref(), Some("start_fail"));
    assert!(
        probability
            .to_string()
            .ends_with("a probability must be within [0, 1], got NaN"),
        "{probability}"
    );
}

#[test]
fn a_big_script_is_read_with_every_line_right() {
    let n = 20_000;
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!("# entry {i}\n[[at]]\ntime = \"{}ms\"\nexit = \"w\"\n", n - i));
    }
    let script = parse_script(&text, "big.toml").expect("valid");
    assert_eq!(script.actions.len(), n);
    // Sorted by time: the last entry of the file comes first; each keeps its header's line.
    assert_eq!(script.actions[0].line, 4 * (n - 1) + 2);
    assert_eq!(script.actions[n - 1].line, 2);
    assert!(script.actions.windows(2).all(|w| w[0].time <= w[1].time));
}

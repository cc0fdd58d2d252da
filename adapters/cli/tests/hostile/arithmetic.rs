//! Class 1: extreme numbers. A backoff multiplier of 1e20 used to pass
//! `vigil check` and then panic the engine at a child's second exit: `vigil
//! run` killed a healthy sibling and exited 0, `vigil sim` exited 101. Every
//! arithmetic path now saturates or is refused by validation
//! (docs/SEMANTICS.md, "Saturation and bounds"; docs/CONFIG.md, "Values").

use crate::support::{exit_code, q, sh, vigil_output, Scratch, Vigil};

fn text(out: &std::process::Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A tree whose numbers are at their edges; `crasher` ends every 100 ms so
/// that backoffs, intensity windows and deadlines are all exercised.
fn extreme(multiplier: &str, intensity: &str, max: &str) -> String {
    format!(
        "[supervisor]\nintensity = {intensity}\nperiod = \"18446744073709551615ns\"\n\n\
         [[child]]\nname = \"crasher\"\ncommand = [\"x\"]\nshutdown = \"18446744073709551615ns\"\n\
         backoff = {{ initial = \"100ms\", max = \"{max}\", multiplier = {multiplier}, jitter = 1.0, reset_after = \"1ns\" }}\n\
         sim = {{ lifetime = \"100ms\" }}\n\n\
         [[child]]\nname = \"beating\"\ncommand = [\"x\"]\nhealth_timeout = \"18446744073709551615ns\"\n\n\
         [[child]]\nname = \"zero\"\ncommand = [\"x\"]\nbackoff = {{ initial = \"0ns\", max = \"0ns\" }}\n\
         sim = {{ lifetime = \"exp(1s)\" }}\n"
    )
}

#[test]
fn check_and_sim_take_extreme_values_and_never_panic() {
    let s = Scratch::new("arith-extreme");
    let cases = [
        ("1e20", "1000", "1s"),
        ("1e308", "1000", "18446744073709551615ns"),
        ("1.7976931348623157e308", "4294967295", "1s"),
        ("1e20", "4294967295", "18446744073709551615ns"),
        ("1.0", "0", "100ms"),
    ];
    for (i, (multiplier, intensity, max)) in cases.into_iter().enumerate() {
        let config = s.write(&format!("extreme{i}.toml"), &extreme(multiplier, intensity, max));
        let config = config.to_str().expect("utf-8");
        let check = vigil_output(&["check", config]);
        assert_eq!(exit_code(&check), 0, "{multiplier} {intensity} {max}: {}", text(&check));
        let sim = vigil_output(&["sim", config, "--seeds", "0..4", "--duration", "1m", "-q"]);
        let code = exit_code(&sim);
        assert_eq!(code, 0, "{multiplier} {intensity} {max}: {}", text(&sim));
        assert!(String::from_utf8_lossy(&sim.stdout).contains("ok: every invariant held in every run"));
        assert!(
            !String::from_utf8_lossy(&sim.stderr).contains("panicked"),
            "{}",
            text(&sim)
        );
    }
}

#[test]
fn check_refuses_meaningless_numbers_at_their_key_with_exit_2() {
    let s = Scratch::new("arith-refused");
    let cases = [
        (
            "multiplier = nan",
            4,
            "multiplier",
            "backoff multiplier must be a finite number >= 1, got NaN",
        ),
        (
            "multiplier = inf",
            4,
            "multiplier",
            "backoff multiplier must be a finite number >= 1, got inf",
        ),
        (
            "multiplier = -2.0",
            4,
            "multiplier",
            "backoff multiplier must be a finite number >= 1, got -2",
        ),
        (
            "jitter = 1.5",
            4,
            "jitter",
            "backoff jitter must be within [0, 1], got 1.5",
        ),
        (
            "jitter = -0.5",
            4,
            "jitter",
            "backoff jitter must be within [0, 1], got -0.5",
        ),
    ];
    for (entry, line, key, message) in cases {
        let config = s.write(
            "bad.toml",
            &format!(
                "[[child]]\nname = \"a\"\ncommand = [\"x\"]\nbackoff = {{ initial = \"1s\", max = \"2s\", {entry} }}\n"
            ),
        );
        let config = config.to_str().expect("utf-8");
        for cmd in ["check", "sim"] {
            let out = vigil_output(&[cmd, config]);
            assert_eq!(exit_code(&out), 2, "{cmd} {entry}: {}", text(&out));
            let err = String::from_utf8_lossy(&out.stderr);
            let at = format!("bad.toml:{line}:");
            assert!(
                err.contains(&at) && err.contains(message),
                "{cmd} {entry} ({key}): {err}"
            );
        }
    }
    let intensity = s.write("intensity.toml", "[supervisor]\nintensity = 4294967296\n");
    let out = vigil_output(&["check", intensity.to_str().expect("utf-8")]);
    assert_eq!(exit_code(&out), 2, "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "intensity.toml:2:13: invalid value: integer `4294967296`, expected a whole number from 0 to 4294967295"
        ),
        "{}",
        text(&out)
    );
}

/// The issue's own config, for real: `crasher` exits soon after each start
/// with a backoff of multiplier 1e20 (its second delay is 1e20 × 100 ms,
/// beyond any `Duration`). It keeps being restarted at the 1 s maximum, and
/// its healthy sibling keeps its PID throughout.
#[test]
fn run_keeps_restarting_a_crasher_with_multiplier_1e20_and_its_sibling_keeps_its_pid() {
    let s = Scratch::new("arith-run");
    let crasher = sh(&format!("echo $$ >> {}; sleep 0.05; exit 3", q(&s.p("crasher.pids"))));
    let calm = sh(&format!("echo $$ > {}; exec sleep 1000", q(&s.p("calm.pid"))));
    let config = s.write(
        "tree.toml",
        &format!(
            "[supervisor]\nintensity = 100\nperiod = \"60s\"\n\n\
             [[child]]\nname = \"calm\"\ncommand = {calm}\n\n\
             [[child]]\nname = \"crasher\"\ncommand = {crasher}\n\
             backoff = {{ initial = \"100ms\", max = \"1s\", multiplier = 1e20 }}\n"
        ),
    );
    let mut vigil = Vigil::start_supervising(&s, &config);
    let calm_pid = s.wait_pid(&vigil, "calm.pid");
    // Four starts: past the second exit, where the engine used to panic.
    let pids = s.wait_lines(&vigil, "crasher.pids", 4);
    assert_eq!(pids.len(), pids.iter().collect::<std::collections::BTreeSet<_>>().len());
    assert!(vigil.alive(calm_pid), "the healthy sibling was killed");
    assert_eq!(
        s.wait_pid(&vigil, "calm.pid"),
        calm_pid,
        "the healthy sibling was restarted"
    );
    assert!(vigil.child.try_wait().expect("wait").is_none(), "vigil exited");
    vigil.signal("TERM");
    assert_eq!(vigil.wait_code(), 0);
    vigil.wait_nothing_left();
    let trace = vigil.trace();
    let delays: Vec<u64> = trace
        .all("backoff", "crasher")
        .iter()
        .map(|l| crate::support::number_field(&l.raw, "delay_ns").expect("delay_ns"))
        .collect();
    assert!(delays.len() >= 3, "{trace}");
    assert_eq!(delays[0], 100_000_000, "{trace}");
    assert!(
        delays[1..].iter().all(|&d| d == 1_000_000_000),
        "saturated at max: {delays:?}"
    );
    assert_eq!(trace.count("spawn", "calm"), 1, "{trace}");
    assert_eq!(trace.count("give_up", ""), 0, "{trace}");
}
